/*
 * include/ferry/plan.h — what ferry learns about a table before copying it,
 * how it cuts the table into key ranges, and how it sizes batches.
 */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <pthread.h>
#include <stdint.h>

#include "ferry/batch.h"
#include "ferry/common.h"
#include "ferry/config.h"
#include "ferry/keytuple.h"

/* ---- partitions (agent/partition.c) ---- */

/*
 * Choose partition upper bounds from `nsamples` sorted, distinct sampled keys:
 * writes up to nparts - 1 ascending sample indexes into `bounds` and returns
 * how many it wrote. Partition i holds keys in (bound[i-1], bound[i]]; the
 * first is open below and the last open above, so no row falls outside.
 */
int partition_choose_bounds(int nsamples, int nparts, int *bounds);

/* How many partitions a table of est_rows rows gets. */
int partition_count(double est_rows, int partition_rows);

/* ---- memory budget (agent/budget.c) ---- */

typedef struct MemoryBudget {
    uint64_t mem_available;   /* /proc/meminfo MemAvailable; 0: unknown */
    uint64_t cgroup_room;     /* cgroup limit minus usage; 0: no limit found */
    uint64_t configured_cap;  /* memory_limit; 0: none */
    double fraction;
    uint64_t base;            /* the smallest of the three that are known */
    const char *base_from;    /* "MemAvailable", "cgroup", "memory_limit" */
    uint64_t total;           /* fraction * base: what ferry's batches may hold */
} MemoryBudget;

/* Pure arithmetic, for tests: choose the base and the total. */
bool budget_from(double fraction, uint64_t mem_available, uint64_t cgroup_room, uint64_t cap,
                 MemoryBudget *out, FerryError *err);
/* Read the machine (root: "" normally, a fake /proc and /sys root in tests). */
bool budget_measure(const char *root, double fraction, uint64_t cap, MemoryBudget *out,
                    FerryError *err);

/*
 * Bytes one worker's batch arena may hold: its share of what the sinks'
 * buffers (sink_bytes a worker) leave of the budget, over FERRY_BATCH_OVERHEAD.
 */
uint64_t budget_batch_bytes(const MemoryBudget *budget, int workers, uint64_t sink_bytes);
/* CPUs this process may use: its affinity mask, lowered by a cgroup CPU quota (rounded up). */
int budget_cpu_count(const char *root);

/*
 * The memory all workers' batches and sink buffers draw from (note 5 in
 * budget.c). A worker takes bytes for each row before copying it; when they
 * do not fit it ends its batch (and gives its bytes back after the commit),
 * and only a worker holding nothing waits. So workers that meet wide rows at
 * once take turns instead of overshooting together, and no worker waits while
 * holding bytes another needs: no deadlock.
 */
typedef struct MemoryPool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    uint64_t total, used;
    uint64_t fixed;           /* part of used held for a whole run (sink buffers): never waited for */
    uint64_t waits;           /* times a worker had to wait (for the log) */
} MemoryPool;

void pool_init(MemoryPool *pool, uint64_t total);
void pool_destroy(MemoryPool *pool);
/* Take bytes if they fit now. */
bool pool_try_take(MemoryPool *pool, uint64_t bytes);
/* Take bytes, waiting until they fit; a request larger than what is left
 * once others' batches are given back waits for those, then goes through. */
void pool_take(MemoryPool *pool, uint64_t bytes);
void pool_give(MemoryPool *pool, uint64_t bytes);
/* The pool as a batch pays into it (BatchPayer, batch.h). */
BatchPayer pool_payer(MemoryPool *pool);
/* Bytes held for a whole run (a sink's buffers): taken at once, never waited on. */
void pool_take_fixed(MemoryPool *pool, uint64_t bytes);
void pool_give_fixed(MemoryPool *pool, uint64_t bytes);

/* jemalloc's view of the process: bytes allocated and resident. False without jemalloc. */
bool budget_allocator_stats(uint64_t *allocated, uint64_t *resident);

/*
 * Sizes FETCH by the bytes rows really take. Starts from the sampled width;
 * after each batch a wider observation replaces the estimate at once (so a
 * stretch of wide rows shrinks the next FETCH), a narrower one is blended in
 * gently.
 */
typedef struct BatchSizer {
    uint64_t batch_bytes;     /* the batch arena's limit */
    double row_bytes;         /* estimated bytes per row, value overhead included */
    long max_rows;            /* a cap after statement timeouts; 0: none */
} BatchSizer;

void batch_sizer_init(BatchSizer *sizer, uint64_t batch_bytes, double sampled_width, int ncols);
long batch_sizer_rows(const BatchSizer *sizer);
void batch_sizer_observe(BatchSizer *sizer, long rows, uint64_t bytes);

/* ---- planning (agent/plan.c) ---- */

typedef struct SourceConn SourceConn;

typedef struct TablePlan {
    TableShape shape;
    double est_rows;
    double width_avg;         /* bytes per row in text form, sampled */
    double width_max;
    int nparts;
    bool cut_for_cursor;      /* partitions made smaller than partition_rows to fit cursor_result_limit */
    char **bounds;            /* owned: nparts - 1 encoded upper bounds */
} TablePlan;

/* Discover the table's columns, types and key (no sampling). */
bool plan_discover(SourceConn *conn, const TableConfig *table, TableShape *shape, FerryError *err);
/* Discover, estimate and sample rows, and cut partitions. */
bool plan_table(SourceConn *conn, const TableConfig *table, TablePlan *plan, FerryError *err);
void plan_free(TablePlan *plan);

/*
 * Cut the key range (lower, upper] — of the rows within `window` (SQL, delta.h; NULL: every row) —
 * into up to `pieces` ranges at sampled keys:
 * *bounds gets *nbounds ascending inner bounds (owned). *nbounds is 0 when the
 * range holds fewer than FERRY_SPLIT_MIN_ROWS rows or too few sampled keys.
 */
bool plan_split_range(SourceConn *conn, const TableConfig *table, const TableShape *shape, const char *window,
                      const char *lower, const char *upper, int pieces, char ***bounds, int *nbounds,
                      double *est_rows, FerryError *err);

/*
 * The one statement every read of a table's rows uses (workers, verify):
 * SELECT select_list FROM [ONLY] t WHERE (filter) [AND (window)] AND key > lower AND key <= upper
 * [ORDER BY key]. A NULL window or bound is left out; *out is owned.
 */
bool plan_range_query(const TableConfig *table, const TableShape *shape, const char *window,
                      const char *select_list, const char *lower, const char *upper, bool ordered,
                      char **out, FerryError *err);

/*
 * Upper bounds for nparts partitions of the rows within `window` (an
 * incremental generation's, delta.h), drawn from all of them: *bounds gets
 * *nbounds encoded keys (owned).
 */
bool plan_window_bounds(SourceConn *conn, const TableConfig *table, const TableShape *shape, const char *window,
                        int nparts, char ***bounds, int *nbounds, FerryError *err);

/*
 * The key columns of the table's rows in (lower, upper] (those a soft-deleting
 * table still holds), in key order when `ordered`, a batch at a time: fn gets
 * each batch of key columns alone; its false stops the read with its err.
 * What verify and reconcile compare with the sink.
 */
bool plan_read_keys(SourceConn *conn, const TableConfig *table, const TableShape *shape, const char *lower,
                    const char *upper, bool ordered, bool (*fn)(void *ctx, const RowBatch *keys, FerryError *err),
                    void *ctx, FerryError *err);

/* "ONLY schema.name", quoted, or without ONLY when the shape reads its children (owned). */
char *plan_from_clause(const TableShape *shape);
/* "schema"."name", quoted, alone: what LOCK TABLE and a regclass take (owned). */
char *plan_table_name(const TableShape *shape);


#endif
