/*
 * include/ferry/run.h — one `ferry run`: its tables, its workers, and how it ends.
 */
#ifndef FERRY_RUN_H
#define FERRY_RUN_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "ferry/config.h"
#include "ferry/delta.h"
#include "ferry/plan.h"
#include "ferry/retry.h"
#include "ferry/sink.h"
#include "ferry/source.h"
#include "ferry/state.h"

/* A table of this run: its shape (discovered at start) and its plan record. */
typedef struct RunTable {
    const TableConfig *config;  /* borrowed */
    TableShape shape;           /* owned */
    PlannedTable planned;       /* owned */
    MarkKind mark_kind;         /* its watermark's kind (MARK_NONE: mode = full) */
    char *window;               /* owned: the rows its generation reads (delta_window); NULL: every row */
    atomic_bool failed;         /* a partition failed for good: the table stops in this run */
    atomic_long fetch_cap;      /* rows a FETCH may ask for after timeouts; 0: no cap */
    atomic_bool use_cursor;     /* read with a cursor, not COPY (configured, or after a timeout) */
    atomic_long repeats;        /* rows read whose key the row before had (on_duplicate_key keep_*) */
    TableShape read_shape;      /* owned (physical_read_shape_free): its physical generation's reads, ctid last */
    char *heap_name;            /* owned: "schema"."name", quoted, that a physical read locks */
    atomic_bool mixed;          /* its generation is recorded as read under more than one snapshot */
} RunTable;

/*
 * The run's snapshot (physical.h, note 4): a session kept idle in the
 * REPEATABLE READ transaction that exported it. Reads of a generation whose
 * bound it captured import it; once lost (its session failed), none does.
 */
typedef struct RunSnapshot {
    SourceConn *conn;           /* owned: the exporting session; NULL: none */
    char *id;                   /* owned: what a read imports */
    char *text;                 /* owned: the snapshot, as a bound's capture records it */
    atomic_bool lost;
} RunSnapshot;

typedef struct RunContext {
    const FerryConfig *config;  /* borrowed */
    const TableConfig *full;    /* borrowed: the table of `run --full`, or NULL */
    const TableConfig *take_over; /* borrowed: the table of `run --take-over`, or NULL */
    char *job;                  /* owned: "<host>:<state file>", what the sink's owner markers name */
    StateStore *state;          /* borrowed */
    int64_t run_id;             /* this run's row in the state (runs) */
    MemoryBudget budget;
    RetryPolicy retry;
    MemoryPool pool;            /* batches and sink buffers of all workers */
    uint64_t batch_bytes;       /* one worker's batch arena limit */
    int workers;                /* how many run (run_workers) */
    SourceConn *spare_conn;     /* owned until worker 0 takes it: the planning connection */
    RunSnapshot snapshot;
    char workers_why[160];
    int ntables;
    RunTable *tables;           /* owned */

    volatile sig_atomic_t *stop;   /* borrowed: set by the signal handler */
    atomic_llong rows, bytes;      /* copied in this run */
    atomic_ullong peak_allocated;  /* jemalloc's stats.allocated, highest seen after a batch */
    atomic_bool retry_later;       /* a retryable failure left work for a rerun */
    atomic_long retries[FERRY_ERR_BUG + 1]; /* retries in this run, by the failure's domain (metrics) */

    pthread_mutex_t conns_lock;
    SourceConn *conns[FERRY_WORKERS_MAX]; /* borrowed: each worker's, for cancelling on stop */
} RunContext;

/* Count a retry of `err`'s kind (metrics). */
static inline void run_count_retry(RunContext *run, const FerryError *err)
{
    if (err->domain >= 0 && err->domain <= FERRY_ERR_BUG)
        atomic_fetch_add(&run->retries[err->domain], 1);
}

/* The job's identity, owner.h: "<host>:<the state file's absolute path>" (it exists: the run opened it). */
char *run_job_identity(const char *state_path);

/* Lock "<state>.lock" (run.c, note 1): the descriptor; -1 when another run holds it (err says
 * who), -2 on failure. */
int run_lock_state(const char *state_path, FerryError *err);

/*
 * How many workers to start: `workers` as configured, or for `auto` one per
 * CPU this process may use (budget_cpu_count), no more than the memory
 * budget has room for (each worker's sink buffers and a batch of at least
 * FERRY_WORKER_BATCH_MIN), nor than the connections the source has room
 * for, asked on `conn` (NULL: not asked). `why` says how the number was
 * reached, for the log.
 */
/*
 * Fit the sink's settings to the memory budget (SinkOps.fit: part sizes),
 * then say whether its buffers, paid for a whole run by each worker, leave
 * every worker at least FERRY_WORKER_BATCH_FLOOR of the budget for its
 * batches; else a configuration error naming what to change (a run of a row
 * an object is refused, not started). Called once, before workers are counted.
 */
bool run_fit_sink(const FerryConfig *config, uint64_t budget_total, FerryError *err);
/*
 * What the budget must keep for what is not batches or sink buffers: what
 * the process holds when the workers are about to start (its libraries,
 * the state, the planning connection: jemalloc's allocated bytes then), and
 * FERRY_WORKER_RESERVE for each further worker's connection, handle and threads.
 * False (FERRY_ERR_CONFIG) when the rest cannot give each of `workers` its
 * sink buffers and FERRY_WORKER_BATCH_FLOOR of batches, with the smallest
 * memory_limit that could named.
 */
bool run_reserve(const FerryConfig *config, const MemoryBudget *budget, int workers, uint64_t *reserve,
                 FerryError *err);
/* The [ferry] retry_* settings as a policy (retry.h), for run and verify alike. */
RetryPolicy run_retry_policy(const FerryConfig *config);
int run_workers(const FerryConfig *config, SourceConn *conn, uint64_t budget_total, char *why,
                size_t why_cap);


/*
 * Apply the table's on_duplicate_key to a batch read in key order
 * (agent/duplicates.c): fail with the key named, or drop all but the last
 * row of each key, or keep them all. prev_key is the key tuple of the row
 * before the batch (the checkpoint), NULL at a range's start. *repeats
 * counts the rows whose key the row before them had.
 */
bool duplicates_apply(const TableConfig *table, const TableShape *shape, const char *prev_key,
                      RowBatch *batch, long *repeats, FerryError *err);

/* The snapshot a read of the table's generation imports: the run's, when it captured the bound; else NULL. */
const char *run_snapshot_for(RunContext *run, const RunTable *table);

/* A worker thread's body: claims and copies partitions until none is left. */
void *worker_main(void *arg);

typedef struct Worker {
    RunContext *run;            /* borrowed */
    struct Unloader *unloader;  /* owned: the UNLOAD staging store, opened at its first use (unload.h) */
    int index;
    pthread_t thread;
    atomic_bool finished;
    bool by_ctid;               /* the partition in hand is read with each row's ctid, not in chunks (physical.h) */
    int64_t chunk_blocks;       /* the blocks a physical chunk spans, as the last ones fitted a batch */
} Worker;

#endif
