/*
 * agent/worker.c — a worker: claims partitions and copies each, batch by batch, checkpointing as it goes.
 *
 * Design notes
 *  (1) The order within a batch is fixed: read rows → sink write → sink commit
 *      (durable) → state checkpoint. A crash at any point replays at most the
 *      batch after the last checkpoint, and the sink's contract makes that
 *      replay harmless (sink.h).
 *  (2) The last batch of a partition and the partition's `done` are one
 *      checkpoint transaction.
 *  (3) Each worker owns its source connection, sink handle and batch; the
 *      only shared things are the state store (thread-safe) and counters.
 *  (4) A stop request is honoured between batches; a FETCH in flight is
 *      cancelled by the main thread, and its batch dropped (never checkpointed).
 *  (5) The retry budget (retry_attempts, retry_max_seconds) counts failures
 *      without progress: a partition whose checkpoint moved since its last
 *      failure starts counting afresh, so a source that kills every query
 *      after a while slows a copy down but cannot stop one that advances.
 *  (6) Every batch is looked at for repeated keys before it is written
 *      (duplicates.c). A table that keeps them, and every table of a server
 *      that does not enforce keys, is read by cursor with whole_keys, so a
 *      batch, and so a checkpoint, ends only between keys: a resume after
 *      the checkpoint neither loses nor doubles a key's rows, and a table
 *      that fails over a repeat has written no row of that key.
 *  (7) A Redshift table read through UNLOAD (unload.c) goes the same way
 *      from a batch on: each staged object is one batch and one segment.
 *  (8) A sink that records its segments in the target (SinkOps.recorded)
 *      is asked, before a partition is read on from its checkpoint, for the
 *      segments it holds past it: each is checkpointed as if just committed
 *      (what a crash between the two commits left), so none is written twice.
 *  (9) Reading and writing overlap: a worker's writer thread writes,
 *      commits and checkpoints one batch while the worker reads the next
 *      into its other batch (FERRY_BATCHES_IN_FLIGHT, each half the
 *      worker's batch bytes, so memory is what one batch took). One batch is
 *      handed over at a time, and the one before must be done first, so
 *      segments and checkpoints keep their order and note 1 holds: a batch
 *      read after a failed write is dropped, never checkpointed. The sink
 *      handle is the writer's while a partition is read; the source
 *      connection the worker's. A partition read through UNLOAD is not
 *      overlapped (an object is a batch).
 * (10) A read imports the run's snapshot when that snapshot captured its
 *      generation's bound (run_snapshot_for), so a run's partitions see one
 *      state of the table. A generation that must be one view (physical
 *      order, or a catch-up: physical.h, note 4) read under another snapshot
 *      is first recorded mixed, then keeps only the row versions its bound
 *      saw; a snapshot that can no longer be imported is given up for the
 *      run, and the read tried again without it.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fault.h"
#include "ferry/physical.h"
#include "ferry/retry.h"
#include "ferry/run.h"
#include "ferry/sql.h"
#include "ferry/unload.h"

typedef enum {
    PART_DONE,      /* every row is durable and checkpointed */
    PART_STOPPED,   /* a stop was requested; the partition goes back to pending */
    PART_RETRY,     /* a failure that may pass: retried in this run, or left for the next */
    PART_FAILED,    /* a failure that will not pass: the table stops in this run */
} PartOutcome;

/* The key what is left of the partition starts after: its checkpoint, else its lower bound. */
static const char *resume_after(const PartitionWork *work)
{
    return work->last_key ? work->last_key : work->lo;
}

/* The shape a partition is read and checkpointed by: the table's, or its physical read shape (physical.h). */
static const TableShape *read_shape(const RunTable *table)
{
    return table->planned.physical ? &table->read_shape : &table->shape;
}

/*
 * SELECT cols FROM t WHERE (filter) AND (window) AND key > lower AND key <= upper ORDER BY key, of
 * `shape`'s first ncols columns and its key; in physical order the key is ctid, selected or not, and
 * no ORDER BY is needed (physical.h).
 */
static bool build_query(const RunTable *table, const TableShape *shape, int ncols, const char *window,
                        const char *lower, const char *upper, char **out, FerryError *err)
{
    char *cols = sql_column_list(shape, ncols);
    bool ok = plan_range_query(table->config, shape, window, cols, lower, upper, !table->planned.physical, out, err);
    free(cols);
    return ok;
}

static void note_memory(RunContext *run)
{
    uint64_t allocated, resident;
    if (!budget_allocator_stats(&allocated, &resident))
        return;
    unsigned long long seen = atomic_load(&run->peak_allocated);
    while (allocated > seen && !atomic_compare_exchange_weak(&run->peak_allocated, &seen, allocated))
        ;
}

/*
 * A SQL_ASCII database's rows (TableShape.text_unchecked) are UTF-8 before a
 * sink sees them: every sink writes UTF-8 (BSON, JSON, a UTF8 database), and
 * ferry does not guess which encoding the bytes were meant in.
 */
static bool text_is_utf8(const RowBatch *batch, const RunTable *table, FerryError *err)
{
    int row, col;
    size_t at;
    if (batch_text_valid(batch, &row, &col, &at))
        return true;
    const TableShape *shape = &table->shape;
    const char *name = shape->cols[col].name;
    char key[256];
    batch_describe_key(shape, batch, row, key, sizeof key);
    size_t len = 0;
    const unsigned char *value = (const unsigned char *)batch_value(batch, row, col, &len);
    return ferry_error(err, FERRY_ERR_SOURCE, 0,
                       "table %s, key %s: column \"%s\" holds bytes that are not UTF-8 (0x%02x at byte %zu); the "
                       "database's encoding is SQL_ASCII, which keeps any bytes. Correct the value, or read the "
                       "column through a view that converts it: for Latin-1 convert_from(convert(textsend(\"%s\"), 'LATIN1', 'UTF8'), 'SQL_ASCII')",
                       table->config->qualified, key, name, value[at], at + 1, name);
}

/*
 * One batch read: its repeated keys dealt with (note 6), written as one
 * segment, committed and checkpointed (note 1), and `work` kept in step. A
 * batch without rows writes nothing and checkpoints only `last`, unless
 * `always_segment` (an UNLOAD's object: each one has a sequence of its own).
 * A physical chunk's batch (note 11) is checkpointed at `chunk_end`, the
 * chunk's upper bound; otherwise at the key of its last row.
 */
static bool write_batch(Worker *w, Sink *sink, RowBatch *batch, RunTable *table, PartitionWork *work,
                        bool last, bool always_segment, const char *chunk_end, FerryError *err)
{
    RunContext *run = w->run;
    const SinkOps *ops = run->config->sink;
    const TableShape *shape = &table->shape;
    long repeats = 0;
    if (chunk_end != NULL) { /* whole blocks, read by one statement: in order by construction */
    } else if (table->planned.physical) { /* a key the server keeps unique cannot repeat (physical_choose) */
        if (!physical_check_order(batch, table->read_shape.ncols - 1, resume_after(work), table->config->qualified,
                                  work->part, err))
            return false;
    } else if (!duplicates_apply(table->config, shape, work->last_key, batch, &repeats, err)) {
        return false;
    }
    if (repeats > 0)
        atomic_fetch_add(&table->repeats, repeats);
    if (shape->text_unchecked && !text_is_utf8(batch, table, err))
        return false;
    Checkpoint cp = {.table_id = work->table_id, .part = work->part, .next_seq = work->next_seq,
                     .done = last, .run_id = run->run_id};
    char *key = NULL;
    if (batch->nrows > 0) {
        SinkSegment segment = {.shape = shape, .partition = work->part, .sequence = work->next_seq,
                               .generation = table->planned.generation, .last = last};
        bool written = ops->begin(sink, &segment, err);
        if (written && fault_hit(FAULT_SINK_WRITE, work->part)) {
            written = ferry_error(err, FERRY_ERR_SINK, 28, "injected fault: sink write failed");
            err->retryable = true;
        }
        written = written && ops->write(sink, batch, err) && ops->commit(sink, err);
        if (!written) {
            ops->abort(sink);
            ferry_error_prefix(err, "segment %lld", (long long)work->next_seq);
            return false;
        }
        key = chunk_end != NULL ? xstrdup(chunk_end) : key_tuple_from_batch(batch, batch->nrows - 1, read_shape(table));
        cp.last_key = key;
        cp.rows_added = batch->nrows;
        cp.rejected_added = ops->rejected != NULL ? ops->rejected(sink) : 0;
        cp.bytes_added = (int64_t)(batch->bytes - (uint64_t)batch->nrows * (uint64_t)batch->ncols *
                                                      FERRY_VALUE_OVERHEAD);
    }
    if (batch->nrows > 0 || always_segment)
        cp.next_seq = work->next_seq + 1;
    if (!state_checkpoint(run->state, &cp, err)) {
        free(key);
        return false;
    }
    batch_release(batch); /* the rows are durable: their bytes go back to the pool */
    work->next_seq = cp.next_seq;
    if (batch->nrows > 0) {
        free(work->last_key);
        work->last_key = key;
        work->rows += cp.rows_added;
        atomic_fetch_add(&run->rows, batch->nrows);
        atomic_fetch_add(&run->bytes, cp.bytes_added);
        note_memory(run);
    }
    return true;
}

/*
 * (9) The writer: one batch at a time, handed over by the worker and
 * written by write_batch on the writer's thread.
 */
typedef struct Writer {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
    bool busy;                /* a batch is handed over and not yet done */
    bool quit;
    bool failed;              /* the last batch's write failed: err says why */
    FerryError err;
    /* the batch handed over */
    Worker *w;
    Sink *sink;
    RowBatch *batch;
    RunTable *table;
    PartitionWork *work;
    bool last;
    char *chunk_end;          /* owned: the physical chunk's upper bound (write_batch); NULL: none */
} Writer;

static void *writer_main(void *arg)
{
    Writer *wr = arg;
    pthread_mutex_lock(&wr->lock);
    for (;;) {
        while (!wr->busy && !wr->quit)
            pthread_cond_wait(&wr->changed, &wr->lock);
        if (!wr->busy)
            break;
        pthread_mutex_unlock(&wr->lock);
        FerryError err = {0};
        bool ok = write_batch(wr->w, wr->sink, wr->batch, wr->table, wr->work, wr->last, false, wr->chunk_end, &err);
        pthread_mutex_lock(&wr->lock);
        free(wr->chunk_end);
        wr->chunk_end = NULL;
        wr->failed = !ok;
        wr->err = err;
        wr->busy = false;
        pthread_cond_broadcast(&wr->changed);
    }
    pthread_mutex_unlock(&wr->lock);
    return NULL;
}

static bool writer_start(Writer *wr, Worker *w, FerryError *err)
{
    memset(wr, 0, sizeof *wr);
    wr->w = w;
    pthread_mutex_init(&wr->lock, NULL);
    pthread_cond_init(&wr->changed, NULL);
    if (pthread_create(&wr->thread, NULL, writer_main, wr) == 0) /* signals stay blocked, as the worker's */
        return true;
    pthread_cond_destroy(&wr->changed);
    pthread_mutex_destroy(&wr->lock);
    return ferry_error(err, FERRY_ERR_SYSTEM, 0, "worker %d: cannot start its writer thread", w->index);
}

static void writer_stop(Writer *wr)
{
    pthread_mutex_lock(&wr->lock);
    wr->quit = true;
    pthread_cond_broadcast(&wr->changed);
    pthread_mutex_unlock(&wr->lock);
    pthread_join(wr->thread, NULL);
    pthread_cond_destroy(&wr->changed);
    pthread_mutex_destroy(&wr->lock);
}

/* Hand a batch over; the one before must be done (writer_wait). */
static void writer_submit(Writer *wr, Sink *sink, RowBatch *batch, RunTable *table, PartitionWork *work,
                          bool last, char *chunk_end)
{
    pthread_mutex_lock(&wr->lock);
    wr->chunk_end = chunk_end; /* the writer's now */
    wr->sink = sink;
    wr->batch = batch;
    wr->table = table;
    wr->work = work;
    wr->last = last;
    wr->busy = true;
    pthread_cond_broadcast(&wr->changed);
    pthread_mutex_unlock(&wr->lock);
}

/* Wait until the batch handed over is done: false, with its error, when its write failed. */
static bool writer_wait(Writer *wr, FerryError *err)
{
    pthread_mutex_lock(&wr->lock);
    while (wr->busy)
        pthread_cond_wait(&wr->changed, &wr->lock);
    bool ok = !wr->failed;
    if (!ok)
        *err = wr->err;
    wr->failed = false;
    pthread_mutex_unlock(&wr->lock);
    return ok;
}

/*
 * The worker stops reading with `outcome`: the batch it handed over last
 * is finished first, and its failure decides where it is worse (a failure
 * no retry helps, or a partition that would otherwise be done).
 */
static PartOutcome writer_settle(Writer *wr, bool pending, PartOutcome outcome, FerryError *err)
{
    FerryError write_err;
    if (!pending || writer_wait(wr, &write_err) || outcome == PART_STOPPED)
        return outcome;
    if (outcome == PART_DONE || !write_err.retryable) {
        *err = write_err;
        return write_err.retryable ? PART_RETRY : PART_FAILED;
    }
    return outcome;
}

/*
 * (8) Checkpoint the segments the sink recorded past the partition's
 * checkpoint. *done: the last of them was the partition's last.
 */
static bool catch_up(Worker *w, Sink *sink, RunTable *table, PartitionWork *work, bool *done, FerryError *err)
{
    const SinkOps *ops = w->run->config->sink;
    *done = false;
    while (ops->recorded != NULL && !*done) {
        SinkSegment segment = {.shape = &table->shape, .partition = work->part, .sequence = work->next_seq,
                               .generation = table->planned.generation};
        SinkRecord record = {0};
        bool found = false;
        if (!ops->recorded(sink, &segment, &record, &found, err))
            return false;
        if (!found)
            return true;
        Checkpoint cp = {.table_id = work->table_id, .part = work->part, .next_seq = work->next_seq + 1,
                         .done = record.last, .last_key = record.last_key, .rows_added = record.rows,
                         .rejected_added = record.rejected, .run_id = w->run->run_id};
        if (!state_checkpoint(w->run->state, &cp, err)) {
            free(record.last_key);
            return false;
        }
        log_info("table %s partition %lld: segment %lld was committed by the sink before ferry stopped; "
                 "taken as done", table->config->qualified, (long long)work->part, (long long)work->next_seq);
        free(work->last_key);
        work->last_key = record.last_key;
        work->next_seq = cp.next_seq;
        work->rows += record.rows;
        *done = record.last;
    }
    return true;
}

/*
 * (7) A partition read through UNLOAD: its stage found or made, then an
 * object a batch, from the one after the checkpoint; the stage removed once
 * the partition is done.
 */
static PartOutcome copy_unloaded(Worker *w, SourceConn *conn, Sink *sink, RowBatch *batch, RunTable *table,
                                 PartitionWork *work, bool *drop_conn, FerryError *err)
{
    RunContext *run = w->run;
    if (w->unloader == NULL && !unloader_open(&run->config->unload, run->batch_bytes, &w->unloader, err))
        return err->retryable ? PART_RETRY : PART_FAILED;
    UnloadRead r;
    if (!unload_begin(w->unloader, conn, table, work, &r, err)) {
        *drop_conn = err->domain == FERRY_ERR_SOURCE;
        return err->retryable ? PART_RETRY : PART_FAILED;
    }
    PartOutcome outcome = PART_DONE;
    for (bool last = false; !last;) {
        if (*run->stop) {
            outcome = PART_STOPPED;
            break;
        }
        batch_reset(batch, table->shape.ncols);
        if (!unload_exhausted(&r) && !unload_next(&r, &table->shape, batch, table->config->qualified, err)) {
            outcome = err->retryable ? PART_RETRY : PART_FAILED;
            break;
        }
        last = unload_exhausted(&r);
        if (!write_batch(w, sink, batch, table, work, last, true, NULL, err)) {
            outcome = err->retryable ? PART_RETRY : PART_FAILED;
            break;
        }
    }
    unload_end(&r);
    FerryError remove_err;
    if (outcome == PART_DONE && !unload_remove(w->unloader, &table->shape, work->part, &remove_err))
        log_warn("table %s partition %lld: its staged objects stay (the table's are removed when it is "
                 "complete): %s", table->config->qualified, (long long)work->part, remove_err.message);
    return outcome;
}

/*
 * (10) Open the partition's read from its checkpoint: in the run's snapshot
 * where it captured the generation's bound; else, for a generation that must
 * be one view, only what the bound saw, the generation recorded mixed first.
 * A snapshot that cannot be imported (its session is gone) is given up for
 * the run and the read opened again at once without it: not a failure of
 * the partition, so no retry is spent on it.
 */
static bool open_read(Worker *w, SourceConn *conn, RunTable *table, const PartitionWork *work,
                      const TableShape *read, int ncols, const char *lower, const char *upper, SourceCursor *cursor,
                      FerryError *err)
{
    RunContext *run = w->run;
    const TableShape *shape = &table->shape;
    for (;;) {
        SourceRead in = {.snapshot = run_snapshot_for(run, table)};
        bool one_view = planned_one_view(&table->planned);
        char *window = table->window ? xstrdup(table->window) : NULL;
        if (one_view && in.snapshot == NULL) {
            if (!atomic_load(&table->mixed)) {
                if (!state_mixed(run->state, work->table_id, table->planned.generation, err)) {
                    free(window);
                    return false;
                }
                atomic_store(&table->mixed, true);
                log_info("table %s: generation %lld is read under more than one snapshot; a catch-up follows it",
                         table->config->qualified, (long long)table->planned.generation);
            }
            char *seen = physical_seen_filter(table->config, table->planned.bound.snapshot);
            if (window != NULL) {
                StrBuf both = {0};
                strbuf_add(&both, "(%s) AND %s", window, seen);
                free(window);
                free(seen);
                window = both.text;
            } else {
                window = seen;
            }
        }
        if (table->planned.physical) {
            in.table = table->heap_name;
            in.heap_file = table->planned.heap_file;
        }
        char *query = NULL;
        bool built = build_query(table, read, ncols, window, lower, upper, &query, err);
        free(window);
        if (!built) {
            err->retryable = false;
            return false;
        }
        /* (6) Where repeats are kept, or where nothing but the read can find them (a server that does
         * not enforce keys), batches end between keys, which only a cursor can tell. */
        bool whole_keys = !table->planned.physical && (table->config->settings.on_duplicate_key != DUPLICATES_FAIL ||
                                                       !source_dialect(conn)->keys_enforced);
        bool opened = source_cursor_open(conn, query, !whole_keys && !atomic_load(&table->use_cursor), &in, cursor,
                                         err);
        free(query);
        cursor->partition = work->part;
        cursor->whole_keys = whole_keys ? shape : NULL;
        if (opened || !cursor->snapshot_refused || !source_idle(conn))
            return opened;
        if (!atomic_exchange(&run->snapshot.lost, true))
            log_warn("the run's snapshot is gone (%s): reads go on under their own, and a table read in physical "
                     "order gets a catch-up for what changed meanwhile", err->message);
    }
}

/*
 * (11) A physical partition read a chunk of heap blocks at a time: each
 * chunk, (lower, lower + n blocks], is one COPY read into one batch and
 * checkpointed at its upper bound, so a checkpoint falls between blocks and
 * rows need not carry their ctid (physical.h, note 6). Each chunk's bytes a
 * block size the next to fill about 70% of a batch (at most 4 times more or
 * less), and a chunk whose rows do not all fit (the rest of the COPY is read
 * and dropped, so the connection goes on) is read again at a quarter of its
 * blocks. One block that does not fit
 * sets w->by_ctid: the caller reads the rest of the partition row by row.
 */
static PartOutcome copy_chunks(Worker *w, SourceConn *conn, Sink *sink, Writer *writer, RowBatch *batches,
                               RunTable *table, PartitionWork *work, bool *drop_conn, FerryError *err)
{
    RunContext *run = w->run;
    uint64_t batch_bytes = run->batch_bytes / FERRY_BATCHES_IN_FLIGHT;
    int64_t from = 0, to = 0;
    double per_block = 0;
    if (!physical_blocks(conn, &table->shape, resume_after(work), work->hi, &from, &to, &per_block, err)) {
        *drop_conn = err->domain == FERRY_ERR_SOURCE;
        return err->retryable ? PART_RETRY : PART_FAILED;
    }
    char *lower = resume_after(work) ? xstrdup(resume_after(work)) : NULL;
    /* The first chunk from the plan's width and the statistics' rows a block; later ones from the last. */
    double guess = 0.7 * (double)batch_bytes / (per_block * (double)(table->planned.row_width + 1) + 1);
    int64_t n = w->chunk_blocks > 0                  ? w->chunk_blocks
                : guess >= FERRY_CHUNK_BLOCKS_MAX     ? FERRY_CHUNK_BLOCKS_MAX
                : per_block > 0 && guess >= 1        ? (int64_t)guess
                                                     : FERRY_CHUNK_BLOCKS_FIRST;
    bool pending = false; /* (9) a batch is with the writer */
    PartOutcome outcome = PART_DONE;
    for (int cur = 0;; cur ^= 1) {
        if (*run->stop) {
            outcome = PART_STOPPED;
            break;
        }
        bool last = from + n >= to;
        /* The last chunk keeps the partition's own upper bound: open above, it reads blocks added since. */
        char *upper = last ? (work->hi ? xstrdup(work->hi) : NULL) : physical_block_bound(from + n);
        RowBatch *batch = &batches[cur];
        batch_reset(batch, table->shape.ncols);
        SourceCursor cursor;
        long skipped = 0;
        /* ctid bounds the chunk, and is not selected */
        bool read = open_read(w, conn, table, work, &table->read_shape, table->shape.ncols, lower, upper, &cursor, err);
        if (read) {
            read = source_cursor_next(&cursor, batch, LONG_MAX, batch_bytes, err) &&
                   source_cursor_skip(&cursor, &skipped, err) && source_cursor_close(&cursor, err);
            if (!read)
                source_cursor_close(&cursor, NULL);
        }
        if (!read) {
            free(upper);
            *drop_conn = true;
            outcome = *run->stop ? PART_STOPPED : err->retryable ? PART_RETRY : PART_FAILED;
            break;
        }
        if (skipped > 0) { /* the chunk did not fit: read it again smaller, or row by row */
            free(upper);
            batch_release(batch);
            if (n == 1) {
                w->by_ctid = true;
                log_info("table %s partition %lld: one block's rows do not fit a batch; the rest of the partition "
                         "is read row by row", table->config->qualified, (long long)work->part);
                break;
            }
            n = n / 4 > 0 ? n / 4 : 1;
            w->chunk_blocks = n;
            cur ^= 1; /* the same batch again */
            continue;
        }
        free(lower);
        lower = upper != NULL ? xstrdup(upper) : NULL;
        size_t got = batch->bytes; /* read before the batch is the writer's */
        if (batch->nrows > 0 || last) {
            if (pending && !writer_wait(writer, err)) { /* the batch before failed: this one is dropped */
                free(upper);
                free(lower);
                return err->retryable ? PART_RETRY : PART_FAILED;
            }
            /* The checkpoint: the chunk's upper bound; the last open chunk's, the heap's end as measured. */
            writer_submit(writer, sink, batch, table, work, last, upper != NULL ? upper : physical_block_bound(to));
            pending = true;
        } else {
            free(upper); /* an empty chunk: nothing to write, and a resume reads it again at no cost */
            cur ^= 1;
        }
        if (last)
            break;
        from += n;
        /* The next chunk sized from this one's bytes a block, to fill about 70% of a batch. */
        double fit = got > 0 ? 0.7 * (double)batch_bytes / (double)got * (double)n : 4.0 * (double)n;
        n = fit > 4.0 * (double)n ? 4 * n : fit < (double)n / 4 ? n / 4 : (int64_t)fit;
        n = n < 1 ? 1 : n > FERRY_CHUNK_BLOCKS_MAX ? FERRY_CHUNK_BLOCKS_MAX : n;
        w->chunk_blocks = n;
    }
    free(lower);
    return writer_settle(writer, pending, outcome, err);
}

/*
 * Copy one partition from its checkpoint to its end, batch by batch (note 1).
 * Keeps `work` in step with each checkpoint, so a retry starts where this
 * attempt stopped. *drop_conn is set when the connection cannot be reused.
 */
static PartOutcome copy_partition(Worker *w, SourceConn *conn, Sink *sink, Writer *writer, RowBatch *batches,
                                  BatchSizer *sizer, RunTable *table, PartitionWork *work,
                                  bool *drop_conn, FerryError *err)
{
    RunContext *run = w->run;
    *drop_conn = false;
    bool done = false;
    if (!catch_up(w, sink, table, work, &done, err))
        return err->retryable ? PART_RETRY : PART_FAILED;
    if (done)
        return PART_DONE;
    if (unload_wanted(run->config, source_dialect(conn),
                      (double)table->planned.est_rows * (double)table->planned.row_width))
        return copy_unloaded(w, conn, sink, &batches[0], table, work, drop_conn, err);
    if (table->planned.physical && !w->by_ctid && !atomic_load(&table->use_cursor)) {
        PartOutcome outcome = copy_chunks(w, conn, sink, writer, batches, table, work, drop_conn, err);
        if (!w->by_ctid || outcome != PART_DONE)
            return outcome;
        /* a chunk of one block did not fit a batch: the rest is read row by row, with each row's ctid */
    }
    SourceCursor cursor;
    if (!open_read(w, conn, table, work, read_shape(table), read_shape(table)->ncols, resume_after(work), work->hi,
                   &cursor, err)) {
        *drop_conn = true;
        return err->retryable ? PART_RETRY : PART_FAILED;
    }
    uint64_t batch_bytes = run->batch_bytes / FERRY_BATCHES_IN_FLIGHT;
    bool pending = false; /* (9) a batch is with the writer */
    for (int cur = 0;; cur ^= 1) {
        if (*run->stop) {
            *drop_conn = !source_cursor_close(&cursor, NULL);
            return writer_settle(writer, pending, PART_STOPPED, err);
        }
        RowBatch *batch = &batches[cur];
        batch_reset(batch, read_shape(table)->ncols);
        if (!source_cursor_next(&cursor, batch, batch_sizer_rows(sizer), batch_bytes, err)) {
            *drop_conn = true;
            PartOutcome outcome = *run->stop ? PART_STOPPED : err->retryable ? PART_RETRY : PART_FAILED;
            return writer_settle(writer, pending, outcome, err);
        }
        bool last = cursor.exhausted && !cursor.in_fetch;
        if (batch->nrows > 0)
            batch_sizer_observe(sizer, batch->nrows, batch->bytes);
        if (pending && !writer_wait(writer, err)) { /* the batch before failed: this one is dropped */
            *drop_conn = !source_cursor_close(&cursor, NULL);
            return err->retryable ? PART_RETRY : PART_FAILED;
        }
        writer_submit(writer, sink, batch, table, work, last, NULL);
        pending = true;
        if (last) {
            /* The partition is done and recorded once the writer is; a failed COMMIT of the
             * read-only transaction only means the connection is not fit for more. */
            FerryError close_err;
            *drop_conn = !source_cursor_close(&cursor, &close_err);
            if (*drop_conn)
                log_warn("table %s partition %lld: read whole, but its connection is dropped: %s",
                         table->config->qualified, (long long)work->part, close_err.message);
            return writer_settle(writer, true, PART_DONE, err);
        }
    }
}

static void register_conn(RunContext *run, int index, SourceConn *conn)
{
    pthread_mutex_lock(&run->conns_lock);
    run->conns[index] = conn;
    pthread_mutex_unlock(&run->conns_lock);
}

typedef enum {
    SPLIT_DONE,     /* the rest of the range is now several partitions; this one keeps the first */
    SPLIT_NONE,     /* too few rows are left to cut (or none): read the range whole */
    SPLIT_FAILED,   /* the split's own queries failed: *failed says how */
} SplitOutcome;

/* A partition that keeps being killed: cut what is left of it into smaller ranges (kept in the state). */
static SplitOutcome split_partition(Worker *w, SourceConn *conn, RunTable *table, PartitionWork *work,
                                    int kills, PartOutcome *failed, FerryError *err)
{
    char **bounds = NULL;
    int nbounds = 0;
    double est = 0;
    const char *lower = resume_after(work);
    bool split = table->planned.physical
                     ? physical_split(conn, &table->shape, (double)table->planned.est_rows, lower, work->hi,
                                      FERRY_SPLIT_PIECES, &bounds, &nbounds, &est, err)
                     : plan_split_range(conn, table->config, &table->shape, table->window, lower, work->hi,
                                        FERRY_SPLIT_PIECES, &bounds, &nbounds, &est, err);
    if (!split) {
        *failed = err->retryable ? PART_RETRY : PART_FAILED;
        return SPLIT_FAILED;
    }
    if (nbounds == 0) {
        free(bounds);
        char range[256];
        key_range_describe(read_shape(table), lower, work->hi, range, sizeof range);
        log_info("table %s partition %lld: its remaining key range %s (about %.0f rows) is too small to "
                 "split; reading it whole", table->config->qualified, (long long)work->part, range, est);
        return SPLIT_NONE;
    }
    int64_t first_new = 0;
    bool ok = state_partition_split(w->run->state, work->table_id, work->part, bounds, nbounds, &first_new, err);
    if (ok) {
        log_info("table %s partition %lld: killed %d time(s), split its remaining ~%.0f rows into "
                 "%d partitions (new: %lld..%lld)",
                 table->config->qualified, (long long)work->part, kills, est,
                 nbounds + 1, (long long)first_new, (long long)(first_new + nbounds - 1));
        free(work->hi);
        work->hi = xstrdup(bounds[0]);
    }
    for (int i = 0; i < nbounds; i++)
        free(bounds[i]);
    free(bounds);
    if (!ok)
        *failed = err->retryable ? PART_RETRY : PART_FAILED;
    return ok ? SPLIT_DONE : SPLIT_FAILED;
}

/* Why a range that cannot be split keeps failing, and what to change, for the last error. */
static void explain_unsplittable(const RunTable *table, const PartitionWork *work, FerryError *err)
{
    char range[256];
    key_range_describe(read_shape(table), resume_after(work), work->hi, range, sizeof range);
    FerryError why = *err;
    ferry_error(err, FERRY_ERR_SOURCE, why.code,
                "partition %lld keeps being killed and its remaining key range %s is too small to split: "
                "raise the source's statement_timeout (Redshift: the WLM rule's limit) for ferry's user "
                "(last error: %s)", (long long)work->part, range, why.message);
}

/*
 * Work on one claimed partition until it is done, fails for good, or the
 * retry policy gives up: reconnecting after source failures, and after the
 * server kills a read (a timeout, WLM, the cursor cap) asking fewer rows a
 * FETCH where that helps, then splitting the range.
 */
static PartOutcome work_partition(Worker *w, SourceConn **conn, Sink *sink, Writer *writer, RowBatch *batches,
                                  RunTable *table, PartitionWork *work, FerryError *err)
{
    RunContext *run = w->run;
    RetryState retry;
    retry_begin(&retry, &run->retry, (unsigned)(w->index * 7919 + work->part * 104729 + 1));
    BatchSizer sizer;
    batch_sizer_init(&sizer, run->batch_bytes / FERRY_BATCHES_IN_FLIGHT, (double)table->planned.row_width,
                     table->shape.ncols);
    const Dialect *dialect = NULL;  /* the server's, once connected */
    int kills = 0;                  /* since the last split */
    bool splittable = true;         /* false once too few rows were left to cut */
    int64_t seq_at_failure = work->next_seq; /* where the last failure left the partition */
    for (;;) {
        sizer.max_rows = atomic_load(&table->fetch_cap);
        PartOutcome outcome = PART_RETRY;
        bool drop_conn = false;
        if (*conn == NULL) {
            if (source_connect(&run->config->source, conn, err))
                register_conn(run, w->index, *conn);
            else
                outcome = err->retryable ? PART_RETRY : PART_FAILED;
        }
        if (*conn != NULL)
            dialect = source_dialect(*conn);
        /* A server that computes a cursor's whole result at once is cured only by a smaller range. */
        int kills_to_split = dialect != NULL && dialect->cursor_materialised ? 1 : FERRY_SPLIT_AFTER_KILLS;
        bool split_due = splittable && kills >= kills_to_split;
        if (*conn != NULL && split_due) {
            switch (split_partition(w, *conn, table, work, kills, &outcome, err)) {
            case SPLIT_DONE: /* go on with the smaller range at once */
                kills = 0;
                split_due = false;
                break;
            case SPLIT_NONE:
                splittable = false;
                split_due = false;
                break;
            case SPLIT_FAILED:
                drop_conn = true;
                break;
            }
        }
        if (*conn != NULL && outcome == PART_RETRY && !split_due)
            outcome = copy_partition(w, *conn, sink, writer, batches, &sizer, table, work, &drop_conn, err);
        for (int b = 0; b < FERRY_BATCHES_IN_FLIGHT; b++)
            batch_release(&batches[b]); /* never hold pool bytes while waiting or retrying */
        if (drop_conn) {
            register_conn(run, w->index, NULL);
            source_close(*conn);
            *conn = NULL;
        }
        if (outcome != PART_RETRY)
            return outcome;

        if (pg_error_is_kill(err)) {
            /* A COPY is one statement: read this table with a cursor instead.
             * Where rows are computed as they are fetched, ask fewer a FETCH,
             * for every worker on this table. A range too small to split that
             * is killed at a FETCH of one row cannot be read in time. */
            atomic_store(&table->use_cursor, true);
            bool one_row = sizer.max_rows == 1;
            if (dialect == NULL || !dialect->cursor_materialised) {
                long cap = batch_sizer_rows(&sizer) / 2;
                atomic_store(&table->fetch_cap, cap > 0 ? cap : 1);
                log_info("table %s: a read was killed; FETCHes now ask for at most %ld rows",
                         table->config->qualified, cap > 0 ? cap : 1);
            }
            kills++;
            if (!splittable && one_row) {
                explain_unsplittable(table, work, err);
                return PART_FAILED;
            }
        }
        /* (5) A failure after progress starts the count afresh: only failures that
         * follow one another without a checkpoint between them use up the budget. */
        if (work->next_seq != seq_at_failure) {
            retry_begin(&retry, &run->retry, retry.seed);
            seq_at_failure = work->next_seq;
        }
        double pause;
        if (!retry_next(&retry, monotonic_seconds(), &pause)) {
            if (!splittable && pg_error_is_kill(err))
                explain_unsplittable(table, work, err);
            ferry_error_prefix(err, "giving up after %d retries without progress", retry.attempts);
            return PART_RETRY;
        }
        /* A store that said how long to wait (Retry-After) is given that, up to the policy's cap. */
        if (err->retry_after_s > pause)
            pause = err->retry_after_s < run->retry.cap_s ? err->retry_after_s : run->retry.cap_s;
        log_warn("table %s partition %lld: %s; retry %d in %.1f s", table->config->qualified,
                 (long long)work->part, err->message, retry.attempts, pause);
        run_count_retry(run, err);
        FerryError state_err;
        if (!state_partition_attempt(run->state, work->table_id, work->part, err->message, &state_err))
            log_warn("%s", state_err.message); /* the count is lost, the retry is not */
        if (!retry_sleep(pause, run->stop))
            return PART_STOPPED;
    }
}

/* Claim the table's next partition, retrying a state file that fails for a while (disk full, busy). */
static bool claim_next(Worker *w, RunTable *table, PartitionWork *work, bool *found, FerryError *err)
{
    RetryState retry;
    retry_begin(&retry, &w->run->retry, (unsigned)(w->index + 1));
    while (!state_claim(w->run->state, table->planned.id, work, found, err)) {
        double pause;
        if (!err->retryable || !retry_next(&retry, monotonic_seconds(), &pause))
            return false;
        log_warn("%s; retry %d in %.1f s", err->message, retry.attempts, pause);
        run_count_retry(w->run, err);
        if (!retry_sleep(pause, w->run->stop))
            return false;
    }
    return true;
}

void *worker_main(void *arg)
{
    Worker *w = arg;
    RunContext *run = w->run;
    const FerryConfig *config = run->config;
    FerryError err = {0};
    SourceConn *conn = NULL;
    if (w->index == 0) { /* the planning connection, when it was fit to be handed on */
        conn = run->spare_conn;
        run->spare_conn = NULL;
        if (conn != NULL)
            register_conn(run, 0, conn);
    }
    Sink *sink = NULL;
    RowBatch batches[FERRY_BATCHES_IN_FLIGHT];
    const BatchPayer payer = pool_payer(&run->pool);
    for (int b = 0; b < FERRY_BATCHES_IN_FLIGHT; b++) {
        batch_init(&batches[b], 0);
        batches[b].payer = &payer;
        batches[b].wide_copies = config->sink->wide_row_copies;
    }
    Writer writer;
    bool writing = false;
    uint64_t sink_memory = sink_buffer_bytes(config->sink, config->sink_settings);

    pool_take_fixed(&run->pool, sink_memory); /* the sink's buffers count against the budget too */
    if (!config->sink->open(config->sink_settings, &sink, &err)) {
        log_error("worker %d: %s", w->index, err.message);
        atomic_store(&run->retry_later, true);
        goto out;
    }
    writing = writer_start(&writer, w, &err);
    if (!writing) {
        log_error("%s", err.message);
        atomic_store(&run->retry_later, true);
        goto out;
    }
    for (int t = 0; t < run->ntables && !*run->stop; t++) {
        RunTable *table = &run->tables[t];
        while (!*run->stop && !atomic_load(&table->failed)) {
            PartitionWork work;
            bool found;
            if (!claim_next(w, table, &work, &found, &err)) {
                if (!*run->stop)
                    log_error("%s", err.message);
                atomic_store(&run->retry_later, true);
                goto out;
            }
            if (!found)
                break;
            w->by_ctid = false;
            log_debug("worker %d: table %s partition %lld (attempt %d)", w->index,
                      table->config->qualified, (long long)work.part, work.attempts);
            PartOutcome outcome = work_partition(w, &conn, sink, &writer, batches, table, &work, &err);
            FerryError state_err;
            bool recorded = true;
            if (outcome == PART_STOPPED) {
                recorded = state_partition_error(run->state, work.table_id, work.part, NULL, false,
                                                 &state_err);
            } else if (outcome != PART_DONE) {
                log_error("table %s partition %lld: %s", table->config->qualified,
                          (long long)work.part, err.message);
                recorded = state_partition_error(run->state, work.table_id, work.part, err.message,
                                                 outcome == PART_FAILED, &state_err);
                if (outcome == PART_FAILED)
                    atomic_store(&table->failed, true);
                else
                    atomic_store(&run->retry_later, true);
            }
            state_work_clear(&work);
            if (!recorded)
                log_error("%s", state_err.message);
            if (outcome == PART_RETRY)
                goto out; /* retries are spent: the source or sink is unwell; a rerun resumes */
        }
    }
out:
    if (writing) /* idle: every partition's batches were settled */
        writer_stop(&writer);
    register_conn(run, w->index, NULL);
    unloader_close(w->unloader);
    w->unloader = NULL;
    if (sink != NULL)
        config->sink->close(sink);
    source_close(conn);
    for (int b = 0; b < FERRY_BATCHES_IN_FLIGHT; b++)
        batch_free(&batches[b]);
    pool_give_fixed(&run->pool, sink_memory);
    atomic_store(&w->finished, true);
    return NULL;
}
