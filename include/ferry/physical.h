/*
 * include/ferry/physical.h — reading a table in the order its rows are stored (read_order = physical).
 *
 * Design notes
 *  (1) A physical partition is a range of heap blocks: its bounds are tids
 *      '(b,0)', and it holds the rows whose ctid is above its lower bound
 *      and at or below its upper one — blocks lo … hi − 1, no row sitting
 *      at offset 0. The first is open below and the last above, so blocks
 *      the table gains after the plan are read too. PostgreSQL reads such a
 *      range by a TID range scan (14 and later): each block once, in order.
 *  (2) Rows are read with their ctid as one more column after the shape's
 *      (the read shape, physical_read_shape), and that column is the
 *      partition's key: a checkpoint holds the ctid of the last durable row,
 *      and a resume reads from the row after it. Sinks are given the table's
 *      own shape and never see the column. A batch may end anywhere, so rows
 *      stream by COPY as in key order.
 *  (3) A TID range scan returns rows in ctid order; the worker checks every
 *      batch (physical_check_order) rather than trust it, and a partition
 *      whose rows come otherwise fails instead of checkpointing a wrong place.
 *  (4) One snapshot per generation. A run exports a snapshot from a session
 *      it keeps open (run.h, RunSnapshot), captures each new generation's
 *      bound in it, and every read imports it: a generation whose partitions
 *      were all read under the snapshot its bound captured is one consistent
 *      view of the table. A partition read under another snapshot (a run
 *      that resumes, or an export lost with its session) keeps only the
 *      row versions the bound's snapshot saw (physical_seen_filter), and
 *      the generation is marked mixed before the read. A mixed generation,
 *      once complete, is followed by a catch-up generation that reads, in
 *      key order, the row versions its bound's snapshot did not see
 *      (delta_catch_up). So each version of a row is read once: one the bound
 *      saw by the block range that holds it, whichever snapshot reads that
 *      range, as long as it lives; a newer one by the catch-up. A catch-up
 *      read under more than one snapshot gets a catch-up of its own.
 *  (5) ctids move only when a table is rewritten (VACUUM FULL, CLUSTER,
 *      TRUNCATE, some ALTER TABLEs): the plan records the heap's file node,
 *      and every read checks it in the read's own transaction, after taking
 *      the table's lock, so a rewritten table stops the copy with the way
 *      out named instead of reading rows at places they no longer are.
 *  (6) Rows carry no ctid where they need not: a partition is read a chunk
 *      of blocks at a time, each chunk one COPY and one batch, so that its
 *      checkpoint is the chunk's upper bound (worker.c, note 11). Only a
 *      chunk of one block that no batch holds (rows of many TOASTed
 *      megabytes) has the rest of its partition read with each row's ctid
 *      (note 2). The ctid's text costs the server 12–20% more CPU a row,
 *      and the client as much to carry, so chunks are the common path.
 */
#ifndef FERRY_PHYSICAL_H
#define FERRY_PHYSICAL_H

#include "ferry/batch.h"
#include "ferry/common.h"
#include "ferry/config.h"
#include "ferry/source.h"

/* Below this |correlation| of the key's first column with the heap order, auto reads physically. */
#define FERRY_PHYSICAL_CORRELATION 0.9

/*
 * Decide how a table is read as it is planned: *physical, and why in `why`
 * (for the log and `ferry plan`). A table that asks for physical order and
 * cannot have it is a configuration error naming file, line and key, and why.
 */
bool physical_choose(SourceConn *conn, const FerryConfig *config, const TableConfig *table,
                     const TableShape *shape, bool *physical, char *why, size_t why_cap, FerryError *err);

/*
 * Cut the table's heap into up to nparts block ranges: *bounds gets *nbounds
 * ascending tids (owned), and *heap_file the heap's file node (note 5).
 */
bool physical_bounds(SourceConn *conn, const TableShape *shape, int nparts, char ***bounds, int *nbounds,
                     int64_t *heap_file, FerryError *err);

/*
 * Cut what is left of a partition, after `lower` and up to `upper` (encoded
 * tids; NULL: open), into up to `pieces` block ranges: *bounds gets *nbounds
 * inner bounds (owned); 0 when fewer than two blocks, or fewer than
 * FERRY_SPLIT_MIN_ROWS rows (*est_rows: the blocks' share of table_rows, the
 * plan's estimate of the rows it reads), are left. An open upper end is cut
 * up to the heap's size now.
 */
bool physical_split(SourceConn *conn, const TableShape *shape, double table_rows, const char *lower,
                    const char *upper, int pieces, char ***bounds, int *nbounds, double *est_rows, FerryError *err);

/*
 * The shape a physical read selects and checkpoints by: the table's columns
 * and then ctid, which is its only key. It borrows the table's names; free
 * it with physical_read_shape_free, never table_shape_free.
 */
void physical_read_shape(const TableShape *shape, TableShape *out);
void physical_read_shape_free(TableShape *read);

/* (4) SQL keeping the row versions the snapshot (pg_snapshot text) saw (owned). */
char *physical_seen_filter(const TableConfig *table, const char *snapshot);

/*
 * (3) The batch's ctids (column `col`) ascend, from after prev (an encoded
 * tid, NULL: none); else a source error naming the table and partition.
 */
bool physical_check_order(const RowBatch *batch, int col, const char *prev, const char *table, int64_t part,
                          FerryError *err);

/*
 * (6) The blocks a partition's rest spans: from the block of `lower` (an
 * encoded tid; NULL: 0) to that of `upper` (NULL: the heap's size now); and
 * the rows a block holds as the statistics say (0 where they say nothing).
 */
bool physical_blocks(SourceConn *conn, const TableShape *shape, const char *lower, const char *upper, int64_t *from,
                     int64_t *to, double *rows_per_block, FerryError *err);
/* The encoded bound '(block,0)' (owned). */
char *physical_block_bound(int64_t block);

/* (5) The SQL a read runs, after its lock, for the heap's file node ($1: the table, qualified and quoted). */
extern const char physical_heap_file_sql[];

#endif
