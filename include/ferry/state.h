/*
 * include/ferry/state.h — the checkpoint store: plans, partitions, progress and runs.
 *
 * The store is reached only through this interface so that it can move from
 * the embedded SQLite file (state/state.c) to a shared database later. Every
 * function is safe to call from several workers at once.
 *
 * Key tuples (partition bounds, last keys) are stored encoded by
 * key_tuple_encode (core/keytuple.c): the store never looks inside them.
 */
#ifndef FERRY_STATE_H
#define FERRY_STATE_H

#include <stdint.h>

#include "ferry/common.h"
#include "ferry/config.h"

typedef struct StateStore StateStore;

/* The schema version this build writes; a newer file is refused. */
#define STATE_SCHEMA_VERSION 4

/*
 * What a generation of a table captured on the source as it began (delta.h):
 * the high-water mark the table reaches when the generation is complete.
 * Strings are owned where the struct is owned (PlannedTable), borrowed where
 * it is handed in.
 */
typedef struct MarkCapture {
    char *value;              /* the bound in the watermark's own terms; NULL: none */
    char *of;                 /* what value is a bound of ("updated_at timestamptz", "xmin"); NULL: nothing */
    char *clock;              /* the source's clock (timestamptz, UTC) */
    char *snapshot;           /* the source's snapshot (PostgreSQL's pg_snapshot text); NULL where it has none */
    int64_t nulls;            /* rows whose watermark was NULL (they cannot be followed) */
} MarkCapture;

void mark_capture_clear(MarkCapture *mark);

typedef struct TablePlanRecord {
    const char *name;         /* "schema.name" */
    const char *target;
    const char *key_columns;  /* comma-separated, for status */
    int64_t est_rows;
    int64_t row_width;
    int nparts;
    char *const *bounds;      /* nparts - 1 encoded upper bounds, ascending */
    const MarkCapture *bound; /* the source as the plan began (generation 0's capture) */
    bool physical;            /* the partitions are block ranges of the heap (physical.h), not key ranges */
    int64_t heap_file;        /* physical: the heap's file node as planned */
} TablePlanRecord;

/* A new generation of a planned table (an incremental run): it replaces the table's partitions. */
typedef struct GenerationRecord {
    int64_t generation;
    const MarkCapture *since; /* the mark its rows are read after (it stays the mark until it is done); NULL: none */
    const MarkCapture *bound; /* what the mark becomes when it is done */
    int nparts;
    char *const *bounds;      /* nparts - 1 encoded key bounds, ascending */
    bool whole;               /* it reads every row (run --full): it becomes the table's base */
    bool catch_up;            /* it reads the rows the last generation's snapshot did not see (physical.h) */
    /*
     * Its rows are durable already (a reconcile's tombstones in files,
     * written_rows of them): it is begun complete, its one partition done,
     * to be finished and its mark (since = bound) raised like any other.
     */
    bool written;
    int64_t written_rows;
} GenerationRecord;

/* A claimed partition. All strings are owned; free with state_work_clear. */
typedef struct PartitionWork {
    int64_t table_id;
    int64_t part;
    char *lo;                 /* encoded; NULL: unbounded below */
    char *hi;                 /* encoded; NULL: unbounded above */
    char *last_key;           /* encoded; NULL: nothing written yet */
    int64_t next_seq;
    int64_t rows, bytes;
    int attempts;             /* including this one */
} PartitionWork;

typedef struct Checkpoint {
    int64_t table_id;
    int64_t part;
    const char *last_key;     /* encoded key of the last row now durable */
    int64_t next_seq;         /* the sequence number the next segment takes */
    int64_t rows_added, bytes_added;
    int64_t rejected_added;   /* bad rows the sink set aside in this segment */
    bool done;                /* the partition is complete */
    int64_t run_id;           /* the run whose rows and bytes these are counted in (0: none), in the same transaction */
} Checkpoint;

typedef struct TableStatus {
    const char *name;
    const char *target;
    const char *key_columns;
    int64_t est_rows;
    int parts_total, parts_done, parts_failed, parts_running;
    int64_t rows, bytes;
    int64_t rejected;         /* bad rows set aside by the sink */
    int attempts;             /* sum over partitions */
    const char *last_error;   /* most recent, or NULL */
    int64_t generation;       /* 0: the first copy; each incremental run that found rows adds one */
    const char *mark;         /* the high-water mark reached; NULL: none */
    const char *mark_of;      /* what it is a bound of */
    const char *mark_clock;   /* the source's clock when it was captured */
    const char *marked_at;    /* when it was reached (this machine's clock) */
    int64_t last_rows;        /* rows of the last complete generation; -1: none yet */
    int64_t nulls;            /* rows whose watermark was NULL, at the last capture */
    const char *reconciled_at; /* deletes = reconcile: when it last ran; NULL: never */
    int64_t reconciled_removed; /* and the keys it removed then */
    bool physical;            /* its generation is read in block ranges (physical.h) */
    int64_t catch_ups;        /* catch-up generations it has had (physical.h) */
} TableStatus;

typedef struct RunRecord {
    int64_t id;
    const char *started_at, *ended_at, *status;
    int64_t rows, bytes;
    int exit_code;
} RunRecord;

/* A planned table, as recorded. Free with planned_table_clear. */
typedef struct PlannedTable {
    int64_t id;
    int64_t est_rows;
    int64_t row_width;
    char key_columns[1024];   /* comma-separated, as planned */
    int64_t generation;       /* the generation its partitions are of */
    int64_t marked;           /* the last generation whose bound became the mark; -1: none */
    MarkCapture mark;         /* the high-water mark (value NULL: none yet) */
    MarkCapture bound;        /* captured as `generation` began */
    int64_t base;             /* the latest generation that holds every row (0, or the last run --full) */
    bool physical;            /* its partitions are block ranges of the heap (physical.h) */
    int64_t heap_file;        /* and the heap's file node they are ranges of */
    bool catch_up;            /* its generation reads the rows the one before's snapshot did not see */
    bool mixed;               /* a partition of its generation was read under another snapshot than the bound's */
    int64_t catch_ups;        /* catch-up generations it has had */
} PlannedTable;

void planned_table_clear(PlannedTable *table);

/* Must the table's generation be read as one view (physical.h, note 4): physical order, or a catch-up? */
static inline bool planned_one_view(const PlannedTable *table)
{
    return table->physical || table->catch_up;
}

/*
 * The first generation a reader of files (SINK_KEEPS_GENERATIONS) applies:
 * the base, once it is complete (the generations before it are superseded,
 * and may still be there until its end removed them); before, every one.
 */
static inline int64_t planned_view_base(const PlannedTable *table)
{
    return table->marked >= table->base ? table->base : 0;
}

/* The buckets such a reader's view is asked for in (SinkPartition.buckets): about FERRY_BUCKET_KEYS keys each. */
static inline uint32_t planned_view_buckets(const PlannedTable *table)
{
    return (uint32_t)((table->est_rows > 0 ? table->est_rows : 0) / FERRY_BUCKET_KEYS) + 1;
}

/* A partition as recorded (verify). Strings are borrowed for the callback's duration. */
typedef struct PartitionRecord {
    int64_t part;
    const char *lo, *hi;      /* encoded; NULL: unbounded */
    const char *status;
    int64_t rows;
} PartitionRecord;

/*
 * A state store is a struct of these operations (state/store.c finds one by
 * the state's location; SQLite, state/state.c, is the first). Every store
 * keeps the contract written beside each wrapper below: a checkpoint is one
 * transaction, a claim hands a partition to one worker, and so on. Callers
 * use the state_* wrappers and never the operations themselves.
 */
typedef struct StateOps {
    const char *name;
    /* Open (or create) the store at `location`; *out is the store's handle. */
    bool (*open)(const char *location, StateStore **out, FerryError *err);
    void (*close)(StateStore *state);
    bool (*setup_check)(StateStore *state, const SetupEntry *entries, int count, FerryError *err);
    bool (*table_find)(StateStore *state, const char *name, PlannedTable *out, bool *found, FerryError *err);
    bool (*table_plan)(StateStore *state, const TablePlanRecord *plan, int64_t *table_id, FerryError *err);
    bool (*requeue)(StateStore *state, FerryError *err);
    bool (*claim)(StateStore *state, int64_t table_id, PartitionWork *out, bool *found, FerryError *err);
    bool (*checkpoint)(StateStore *state, const Checkpoint *checkpoint, FerryError *err);
    bool (*partition_error)(StateStore *state, int64_t table_id, int64_t part, const char *message,
                            bool failed, FerryError *err);
    bool (*partition_attempt)(StateStore *state, int64_t table_id, int64_t part, const char *message,
                              FerryError *err);
    bool (*partition_split)(StateStore *state, int64_t table_id, int64_t part, char *const *bounds,
                            int count, int64_t *first_new, FerryError *err);
    bool (*table_remaining)(StateStore *state, int64_t table_id, int *parts_left, FerryError *err);
    bool (*partitions_each)(StateStore *state, int64_t table_id, void (*fn)(void *ctx,
                            const PartitionRecord *record), void *ctx, FerryError *err);
    bool (*run_begin)(StateStore *state, int64_t *run_id, FerryError *err);
    bool (*run_end)(StateStore *state, int64_t run_id, int64_t rows, int64_t bytes, const char *status,
                    int exit_code, FerryError *err);
    bool (*status_each)(StateStore *state, void (*fn)(void *ctx, const TableStatus *status), void *ctx,
                        FerryError *err);
    bool (*runs_each)(StateStore *state, int limit, void (*fn)(void *ctx, const RunRecord *run), void *ctx,
                      FerryError *err);
    bool (*reset)(StateStore *state, const char *name, int *tables_removed, FerryError *err);
    bool (*generation_begin)(StateStore *state, int64_t table_id, const GenerationRecord *generation,
                             FerryError *err);
    bool (*mark_raise)(StateStore *state, int64_t table_id, int64_t generation, bool *raised, FerryError *err);
    bool (*mark_set)(StateStore *state, int64_t table_id, const MarkCapture *mark, FerryError *err);
    bool (*reconciled)(StateStore *state, int64_t table_id, int64_t removed, FerryError *err);
    bool (*mixed)(StateStore *state, int64_t table_id, int64_t generation, FerryError *err);
} StateOps;

/* What every store's handle starts with. */
struct StateStore {
    const StateOps *ops;      /* borrowed: the store's table */
};

/* Open the state at `path` (a SQLite file), creating it and its schema if need be. */
bool state_open(const char *path, StateStore **out, FerryError *err);
static inline void state_close(StateStore *state)
{
    if (state != NULL)
        state->ops->close(state);
}

/*
 * Compare the setup entries with those recorded; record the ones not yet
 * there. A differing value is refused with a CONFIG error that names it,
 * unless the recorded one is the entry's `open` value: it is then replaced.
 */
static inline bool state_setup_check(StateStore *state, const SetupEntry *entries, int count, FerryError *err)
{
    return state->ops->setup_check(state, entries, count, err);
}

/* The table's plan record if it has been planned; *found false otherwise. */
static inline bool state_table_find(StateStore *state, const char *name, PlannedTable *out, bool *found,
                                    FerryError *err)
{
    return state->ops->table_find(state, name, out, found, err);
}

/* Record a table's plan and its partitions in one transaction. */
static inline bool state_table_plan(StateStore *state, const TablePlanRecord *plan, int64_t *table_id,
                                    FerryError *err)
{
    return state->ops->table_plan(state, plan, table_id, err);
}

/* At the start of a run: partitions left running or failed by an earlier run become pending. */
static inline bool state_requeue(StateStore *state, FerryError *err)
{
    return state->ops->requeue(state, err);
}

/* Claim the next pending partition of a table; *found false when none is left. */
static inline bool state_claim(StateStore *state, int64_t table_id, PartitionWork *out, bool *found,
                               FerryError *err)
{
    return state->ops->claim(state, table_id, out, found, err);
}
void state_work_clear(PartitionWork *work);

/* Record a durable segment, in one transaction. */
static inline bool state_checkpoint(StateStore *state, const Checkpoint *checkpoint, FerryError *err)
{
    return state->ops->checkpoint(state, checkpoint, err);
}

/* Record an error on a partition; it becomes `failed` (for good in this run) or `pending`. */
static inline bool state_partition_error(StateStore *state, int64_t table_id, int64_t part,
                                         const char *message, bool failed, FerryError *err)
{
    return state->ops->partition_error(state, table_id, part, message, failed, err);
}

/* A failed attempt that will be retried now: count it and keep its error; the partition stays running. */
static inline bool state_partition_attempt(StateStore *state, int64_t table_id, int64_t part,
                                           const char *message, FerryError *err)
{
    return state->ops->partition_attempt(state, table_id, part, message, err);
}

/*
 * Split a running partition's remaining range at `bounds` (ascending, encoded,
 * all above its last key and below its upper bound): the partition keeps
 * (last key, bounds[0]], and new pending partitions take the rest, the last
 * one up to the old upper bound. One transaction; later runs keep the split.
 * *first_new is the number of the first new partition.
 */
static inline bool state_partition_split(StateStore *state, int64_t table_id, int64_t part,
                                         char *const *bounds, int count, int64_t *first_new, FerryError *err)
{
    return state->ops->partition_split(state, table_id, part, bounds, count, first_new, err);
}

/* Rows and partitions still to do for a table (pending, running or failed). */
static inline bool state_table_remaining(StateStore *state, int64_t table_id, int *parts_left,
                                         FerryError *err)
{
    return state->ops->table_remaining(state, table_id, parts_left, err);
}

/* Record a run's start; runs left `running` by a killed ferry become `killed`. Needs the run lock. */

/* Call fn for every partition of a table, by number. fn must not call the state store. */
static inline bool state_partitions_each(StateStore *state, int64_t table_id, void (*fn)(void *ctx,
                                         const PartitionRecord *record), void *ctx, FerryError *err)
{
    return state->ops->partitions_each(state, table_id, fn, ctx, err);
}

static inline bool state_run_begin(StateStore *state, int64_t *run_id, FerryError *err)
{
    return state->ops->run_begin(state, run_id, err);
}
static inline bool state_run_end(StateStore *state, int64_t run_id, int64_t rows, int64_t bytes,
                                 const char *status, int exit_code, FerryError *err)
{
    return state->ops->run_end(state, run_id, rows, bytes, status, exit_code, err);
}

/* Call fn for every planned table, in name order. */
static inline bool state_status_each(StateStore *state, void (*fn)(void *ctx, const TableStatus *status),
                                     void *ctx, FerryError *err)
{
    return state->ops->status_each(state, fn, ctx, err);
}
/* Call fn for the most recent runs, newest first. */
static inline bool state_runs_each(StateStore *state, int limit, void (*fn)(void *ctx,
                                   const RunRecord *run), void *ctx, FerryError *err)
{
    return state->ops->runs_each(state, limit, fn, ctx, err);
}

/* Forget a table's plan and progress (or every table's, and the setup, when name is NULL). */
static inline bool state_reset(StateStore *state, const char *name, int *tables_removed, FerryError *err)
{
    return state->ops->reset(state, name, tables_removed, err);
}

/*
 * Begin the table's next generation, in one transaction: its partitions
 * replace the last generation's (which must all be done, and their bound
 * raised), the mark becomes `since`, and `bound` waits to become the next.
 */
static inline bool state_generation_begin(StateStore *state, int64_t table_id, const GenerationRecord *generation,
                                          FerryError *err)
{
    return state->ops->generation_begin(state, table_id, generation, err);
}

/*
 * When every partition of `generation` is done: its bound becomes the mark
 * and its rows the last delta's, in one transaction. *raised false when
 * that is already so or not yet possible; calling it again is harmless.
 */
static inline bool state_mark_raise(StateStore *state, int64_t table_id, int64_t generation, bool *raised,
                                    FerryError *err)
{
    return state->ops->mark_raise(state, table_id, generation, raised, err);
}

/*
 * The table's mark becomes `mark` and its generation ends there, in one
 * transaction: a complete table whose next window held no row, or `ferry
 * reset --since` (what its generation had left is read again from the
 * mark). The last delta is empty.
 */
static inline bool state_mark_set(StateStore *state, int64_t table_id, const MarkCapture *mark, FerryError *err)
{
    return state->ops->mark_set(state, table_id, mark, err);
}

/* deletes = reconcile ran over the table now and removed `removed` keys (status shows it). */
static inline bool state_reconciled(StateStore *state, int64_t table_id, int64_t removed, FerryError *err)
{
    return state->ops->reconciled(state, table_id, removed, err);
}

/*
 * A partition of the table's `generation` is about to be read under another
 * snapshot than the one its bound captured (physical.h): recorded before the
 * read, so that a kill after it still leaves the generation its catch-up.
 */
static inline bool state_mixed(StateStore *state, int64_t table_id, int64_t generation, FerryError *err)
{
    return state->ops->mixed(state, table_id, generation, err);
}

#endif
