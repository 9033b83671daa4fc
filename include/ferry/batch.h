/*
 * include/ferry/batch.h — a table's shape and a batch of its rows, as sinks see them.
 *
 * Design notes
 *  (1) Values are PostgreSQL's text output (client_encoding UTF8, DateStyle ISO,
 *      IntervalStyle postgres, TimeZone UTC, extra_float_digits 1, bytea_output
 *      hex, lc_monetary C), NUL-terminated, so a sink can parse them in place.
 *      They are UTF-8: a database whose encoding is SQL_ASCII converts
 *      nothing, so its batches are checked before a sink sees them.
 *  (2) A batch owns one arena for all its values and one index of (offset,
 *      length) pairs; both are reused from batch to batch, so a run makes no
 *      per-value allocation.
 *  (3) The arena grows only while the batch is below its byte limit, so it
 *      never holds more than the limit plus one row.
 *  (4) Output columns come first; key columns the user did not ask for follow
 *      them (they give the checkpoint its key) and sinks do not write them.
 */
#ifndef FERRY_BATCH_H
#define FERRY_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/limits.h"

typedef unsigned int FerryOid;

/* PostgreSQL type OIDs that ferry maps specially (pg_type.dat). */
enum {
    OID_BOOL = 16, OID_BYTEA = 17, OID_CHAR = 18, OID_NAME = 19, OID_INT8 = 20, OID_INT2 = 21,
    OID_INT4 = 23, OID_TEXT = 25, OID_OID = 26, OID_TID = 27, OID_JSON = 114, OID_FLOAT4 = 700,
    OID_FLOAT8 = 701, OID_BPCHAR = 1042, OID_VARCHAR = 1043, OID_DATE = 1082, OID_TIME = 1083,
    OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184, OID_NUMERIC = 1700, OID_UUID = 2950,
    OID_JSONB = 3802,
};

typedef struct Column {
    char *name;               /* owned */
    char *type_name;          /* owned: format_type(), e.g. "numeric(12,2)" */
    FerryOid type;            /* the column's type OID */
    FerryOid elem_type;       /* arrays: the element type OID; otherwise 0 */
    char elem_delim;          /* arrays: the element type's delimiter (',' almost always) */
    bool bytewise;            /* its collation orders by bytes (C, POSIX), as sinks order strings */
} Column;

typedef struct TableShape {
    char *schema;             /* owned */
    char *name;               /* owned */
    char *target;             /* owned: the name the sink writes under */
    bool with_children;       /* read without ONLY: a partitioned table's partitions, or
                                 inheritance children asked for with children = include */
    bool no_only;             /* the server has no inheritance and no ONLY (Redshift) */
    bool key_enforced;        /* the server keeps the key unique over the rows read (a primary key or
                                 a unique index on NOT NULL columns): no row can repeat it */
    int ncols;                /* columns read from the source */
    int nout;                 /* columns the sink writes: cols[0..nout) */
    Column *cols;             /* owned */
    int nkeys;
    int key_col[FERRY_KEY_COLUMNS_MAX];           /* indexes into cols, in key order */
    /*
     * deletes = soft COLUMN (delta.h): a row whose cols[deleted_col] is true
     * (a boolean) or not NULL (any other type) is a deletion of its key.
     */
    bool has_deleted;
    int deleted_col;
    bool reconciled;          /* deletes = reconcile: keys the source lost are removed, or tombstoned in files */
    bool text_unchecked;      /* the source keeps text as any bytes (a SQL_ASCII database): each batch is
                                 checked for UTF-8 before a sink sees it (batch_text_valid) */
} TableShape;

typedef struct RowBatch {
    int ncols;
    int nrows;
    int row_fill;             /* values added to the row being built */
    size_t bytes;             /* bytes of value text held, the budget's measure */
    char *arena;              /* owned: values, each NUL-terminated */
    size_t arena_used, arena_cap;
    struct BatchCell {
        size_t offset;
        int64_t length;       /* -1: NULL */
    } *cells;                 /* owned: nrows * ncols */
    size_t cells_cap;
    const struct BatchPayer *payer; /* borrowed: where the rows' bytes are paid from; NULL: nowhere */
    uint64_t reserved;        /* bytes this batch holds from the pool */
    uint64_t unspent;         /* of those, taken ahead and not yet paid for a row */
    unsigned wide_copies;     /* copies the sink makes of a row wider than FERRY_SINK_BUFFER (SinkOps) */
} RowBatch;

/*
 * Where a batch pays for its rows: the run's memory pool (agent/budget.c,
 * pool_payer) behind three calls, so the batch knows no pool.
 */
typedef struct BatchPayer {
    bool (*try_take)(void *ctx, uint64_t bytes);  /* take them if they fit now */
    void (*take)(void *ctx, uint64_t bytes);      /* take them, waiting until they fit */
    void (*give)(void *ctx, uint64_t bytes);
    void *ctx;                                    /* borrowed */
} BatchPayer;

void batch_init(RowBatch *batch, int ncols);
/*
 * Pay for `bytes` more from the batch's pool: waiting if `wait`, else false
 * when they do not fit. The pool is asked for a little more than needed
 * (FERRY_POOL_CHUNK) when it has it, so most rows are paid without taking
 * the pool's lock; what is left over goes back with the batch.
 */
bool batch_reserve(RowBatch *batch, uint64_t bytes, bool wait);
/* Give the batch's bytes back to its pool (batch_reset and batch_free do it too). */
void batch_release(RowBatch *batch);
void batch_reset(RowBatch *batch, int ncols);
void batch_free(RowBatch *batch);

/* Append one value of the row being built; call ncols times, then batch_end_row. */
void batch_add_value(RowBatch *batch, const char *value, size_t length, bool is_null);
void batch_end_row(RowBatch *batch);
/* batch_add_value of a value that is `prefix` followed by `value` (not NULL). */
void batch_add_joined_value(RowBatch *batch, const char *prefix, size_t prefix_length, const char *value,
                            size_t length);

/*
 * Build a whole row in place, for readers that get a row as one line (COPY
 * text format): reserve `arena_bytes` of arena and the row's ncols cells,
 * write the values (each NUL-terminated) into the returned space and fill
 * every cell, with offsets counted from *base_offset; then commit the row
 * with the total length of its values. One call per row, not per value.
 */
char *batch_row_reserve(RowBatch *batch, size_t arena_bytes, size_t *base_offset,
                        struct BatchCell **cells);
void batch_row_commit(RowBatch *batch, size_t arena_bytes, size_t value_bytes);

/*
 * Keep the rows for which keep(batch, row, ctx) is true, in their order, and
 * return how many were dropped. keep is asked of each row in order and may
 * look at that row and the rows after it, never before. The kept values stay
 * where they are in the arena; batch->bytes no longer counts the dropped.
 */
int batch_filter(RowBatch *batch, bool (*keep)(const RowBatch *batch, int row, void *ctx), void *ctx);

/* The value at (row, col): NULL for SQL NULL; *length set when not NULL. */
static inline const char *batch_value(const RowBatch *batch, int row, int col, size_t *length)
{
    const struct BatchCell *cell = &batch->cells[(size_t)row * (size_t)batch->ncols + (size_t)col];
    if (cell->length < 0)
        return NULL;
    if (length != NULL)
        *length = (size_t)cell->length;
    return batch->arena + cell->offset;
}

/* Is the row a deletion of its key (TableShape.has_deleted)? */
static inline bool batch_row_deleted(const TableShape *shape, const RowBatch *batch, int row)
{
    if (!shape->has_deleted)
        return false;
    size_t len = 0;
    const char *value = batch_value(batch, row, shape->deleted_col, &len);
    if (shape->cols[shape->deleted_col].type == OID_BOOL)
        return value != NULL && value[0] == 't';
    return value != NULL;
}

/*
 * "(a, b) = (1, x)": the row's key for messages, each value cut at 64 bytes
 * and at the first byte that is not UTF-8 ("…" where cut), the whole cut to fit.
 */
void batch_describe_key(const TableShape *shape, const RowBatch *batch, int row, char *out, size_t cap);

/*
 * TableShape.text_unchecked: find the first value of the batch that is not
 * UTF-8. False when there is one: *row, *col and *at (its first bad byte's
 * offset in the value) say where.
 */
bool batch_text_valid(const RowBatch *batch, int *row, int *col, size_t *at);

void table_shape_free(TableShape *shape);

#endif
