/*
 * include/ferry/delta.h — incremental tables: the rows that changed since the last run, by a watermark.
 *
 * A table with mode = incremental is copied in generations (segment.h). The
 * first is the full copy; each later one reads the rows of a window,
 *
 *     mark - lookback < column <= bound                    (watermark = COLUMN)
 *     written by a transaction the mark's snapshot did not see  (watermark = xmin)
 *
 * where `bound` is captured on the source as the generation begins — its
 * clock less watermark_lag, or max(column) for an integer; the snapshot for
 * xmin — and `mark` is the bound of the last complete generation. The mark
 * moves up only when every partition of a generation is durable
 * (state_mark_raise), so a run killed anywhere reads its window again.
 *
 * Every plan captures the source's clock and snapshot, watermark or not: a
 * table copied in full that becomes incremental starts from its copy's
 * (delta_since).
 */
#ifndef FERRY_DELTA_H
#define FERRY_DELTA_H

#include "ferry/batch.h"
#include "ferry/common.h"
#include "ferry/config.h"
#include "ferry/sink.h"
#include "ferry/source.h"
#include "ferry/state.h"

typedef enum {
    MARK_NONE = 0,            /* no watermark (mode = full) */
    MARK_TIMESTAMPTZ,
    MARK_TIMESTAMP,           /* without time zone: read in the table's source_timezone */
    MARK_DATE,                /* read as the day's start in source_timezone */
    MARK_INTEGER,             /* smallint, integer, bigint */
    MARK_XMIN,                /* PostgreSQL's xmin: the transaction that wrote the row version */
} MarkKind;

/*
 * The table's watermark read against the source: the column's type (or the
 * server's row versions, for xmin) as a kind, MARK_NONE for mode = full;
 * and its deletes = soft column marked in the shape (TableShape.has_deleted).
 * A watermark or a column ferry cannot follow is a configuration error
 * naming `file`, the line and the key.
 */
bool delta_kind(SourceConn *conn, const char *file, const TableConfig *table, TableShape *shape,
                MarkKind *kind, FerryError *err);


/*
 * What a generation captures as it begins: the source's clock and
 * snapshot, and, for a watermark, the bound and the count of rows whose
 * watermark is NULL. *out is owned (mark_capture_clear).
 */
bool delta_capture(SourceConn *conn, const TableConfig *table, const TableShape *shape, MarkKind kind,
                   MarkCapture *out, FerryError *err);

/*
 * The mark the table's next generation reads after: the recorded one when
 * it is of this watermark; else one derived from its clock or snapshot (a
 * table copied in full, or under another watermark); else none (value NULL:
 * every row is read again, an integer watermark having no clock). Owned.
 */
bool delta_since(SourceConn *conn, const TableConfig *table, MarkKind kind, const MarkCapture *recorded,
                 MarkCapture *out, FerryError *err);

/* SQL that keeps the rows after `mark` up to `bound` (NULL: that side open); NULL when it keeps every row. Owned. */
char *delta_window(const TableConfig *table, MarkKind kind, const char *mark, const char *bound);

/*
 * The next generation of a complete incremental table whose last bound has
 * become its mark: its window captured and counted, and, when it holds
 * rows, planned into partitions and begun (state_generation_begin). When it
 * holds none, the mark moves to the new bound: a run with nothing new costs
 * the capture and one count.
 */
bool delta_next(SourceConn *conn, StateStore *state, const TableConfig *table, const TableShape *shape,
                MarkKind kind, const PlannedTable *planned, FerryError *err);

/*
 * `ferry run --full`: the complete table's next generation reads every row,
 * planned like a first copy, its bound captured now (so the mark follows
 * when it is done).
 */
bool delta_full(SourceConn *conn, StateStore *state, const TableConfig *table, MarkKind kind,
                const PlannedTable *planned, FerryError *err);

/*
 * The catch-up of a complete generation read under more than one snapshot
 * (physical.h, note 4): the next generation reads, in key order, the row
 * versions the generation's bound did not see, and its bound is captured
 * on `capture` (the run's snapshot session, or conn). With none of them, the
 * mark moves to the new bound and nothing is begun. *begun says which.
 */
bool delta_catch_up(SourceConn *conn, SourceConn *capture, StateStore *state, const TableConfig *table,
                    const TableShape *shape, MarkKind kind, const PlannedTable *planned, bool *begun,
                    FerryError *err);

/* The rows a catch-up generation reads (owned): versions its mark's snapshot did not see. */
char *delta_catch_up_window(const TableConfig *table, const PlannedTable *planned);

/*
 * `ferry reset --since VALUE`: VALUE as a mark of the table's watermark, as
 * the source writes one (a value it cannot read as the watermark's type is
 * a usage error naming it). *out is owned.
 */
bool delta_mark_from(SourceConn *conn, const TableConfig *table, MarkKind kind, const char *value, MarkCapture *out,
                     FerryError *err);

/* What a reconcile (agent/reconcile.c) did. */
typedef struct ReconcileResult {
    int ranges;               /* key ranges compared */
    int differed;             /* of those, where the sink held other keys than the source */
    int64_t removed;          /* keys removed from the sink (tombstones written, in files) */
    int64_t generation;       /* > 0: the generation of tombstones a sink that keeps generations wrote, to record */
} ReconcileResult;

/*
 * deletes = reconcile: remove from the sink every key of the table the
 * source no longer has, comparing key ranges of about partition_rows
 * (the plan's est_rows in all) by count and key hash and walking only
 * those that differ, in memory of 8 bytes a key of one range
 * (SinkOps.prune). A sink that keeps generations (sink_flags) is asked a
 * bucket of keys at a time and writes tombstones instead, as generation
 * planned->generation + 1 (out->generation), which the caller records.
 */
bool reconcile_table(SourceConn *conn, const SinkOps *ops, Sink *sink, const TableConfig *table,
                     const TableShape *shape, const PlannedTable *planned, unsigned sink_flags,
                     ReconcileResult *out, FerryError *err);

/* "updated_at timestamptz", "xmin": what a capture's bound is of (MarkCapture.of), into out[cap]. */
void delta_describe(const TableConfig *table, MarkKind kind, char *out, size_t cap);

#endif
