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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/run.h"

typedef enum { PART_DONE, PART_STOPPED, PART_RETRY, PART_FAILED } PartOutcome;

/* Append " AND (k1, k2) > ('a'::t1, 'b'::t2)" for one encoded key bound. */
static bool add_bound(SourceConn *conn, const TableShape *shape, const char *keys, const char *encoded,
                      const char *op, StrBuf *sql, FerryError *err)
{
    char *values[FERRY_KEY_COLUMNS_MAX];
    if (!key_tuple_decode(encoded, shape->nkeys, values))
        return ferry_error(err, FERRY_ERR_STATE, 0, "state holds a malformed key \"%.64s\"", encoded);
    bool many = shape->nkeys > 1;
    strbuf_add(sql, " AND %s%s%s %s %s", many ? "(" : "", keys, many ? ")" : "", op, many ? "(" : "");
    for (int k = 0; k < shape->nkeys; k++) {
        char *literal = source_quote_literal(conn, values[k], strlen(values[k]));
        strbuf_add(sql, "%s%s::%s", k ? ", " : "", literal, shape->cols[shape->key_col[k]].type_name);
        free(literal);
        free(values[k]);
    }
    strbuf_add(sql, "%s", many ? ")" : "");
    return true;
}

/* SELECT cols FROM t WHERE (filter) AND key > resume AND key <= hi ORDER BY key */
static bool build_query(SourceConn *conn, const RunTable *table, const PartitionWork *work, char **out,
                        FerryError *err)
{
    const TableShape *shape = &table->shape;
    char *cols = plan_select_list(conn, shape);
    char *keys = plan_key_list(conn, shape);
    char *schema = source_quote_ident(conn, shape->schema);
    char *name = source_quote_ident(conn, shape->name);
    const char *where = table->config->settings.where;
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT %s FROM %s.%s WHERE (%s)", cols, schema, name, where ? where : "true");
    const char *lower = work->last_key ? work->last_key : work->lo;
    bool ok = (lower == NULL || add_bound(conn, shape, keys, lower, ">", &sql, err)) &&
              (work->hi == NULL || add_bound(conn, shape, keys, work->hi, "<=", &sql, err));
    strbuf_add(&sql, " ORDER BY %s", keys);
    free(cols);
    free(keys);
    free(schema);
    free(name);
    if (!ok) {
        free(sql.text);
        return false;
    }
    *out = sql.text;
    return true;
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

static PartOutcome copy_partition(Worker *w, SourceConn *conn, const SinkOps *ops, Sink *sink,
                                  RowBatch *batch, RunTable *table, PartitionWork *work, FerryError *err)
{
    RunContext *run = w->run;
    const TableShape *shape = &table->shape;
    char *query = NULL;
    if (!build_query(conn, table, work, &query, err))
        return PART_FAILED;
    SourceCursor cursor;
    bool opened = source_cursor_open(conn, query, &cursor, err);
    free(query);
    if (!opened)
        return err->retryable ? PART_RETRY : PART_FAILED;

    BatchSizer sizer;
    batch_sizer_init(&sizer, run->batch_bytes, (double)table->planned.row_width, shape->ncols);
    int64_t seq = work->next_seq;
    for (;;) {
        if (*run->stop) {
            source_cursor_close(&cursor, NULL);
            return PART_STOPPED;
        }
        batch_reset(batch, shape->ncols);
        long fetch_rows = batch_sizer_rows(&sizer);
        if (!source_cursor_next(&cursor, batch, fetch_rows, run->batch_bytes, err)) {
            if (*run->stop)
                return PART_STOPPED;
            return err->retryable ? PART_RETRY : PART_FAILED;
        }
        bool last = cursor.exhausted && !cursor.in_fetch;
        Checkpoint cp = {.table_id = work->table_id, .part = work->part, .next_seq = seq, .done = last};
        char *key = NULL;
        if (batch->nrows > 0) {
            SinkSegment segment = {.shape = shape, .partition = work->part, .sequence = seq};
            if (!ops->begin(sink, &segment, err) || !ops->write(sink, batch, err) ||
                !ops->commit(sink, err)) {
                ops->abort(sink);
                ferry_error_prefix(err, "segment %lld", (long long)seq);
                source_cursor_close(&cursor, NULL);
                return err->retryable ? PART_RETRY : PART_FAILED;
            }
            key = key_tuple_from_batch(batch, batch->nrows - 1, shape);
            uint64_t value_bytes = batch->bytes - (uint64_t)batch->nrows * (uint64_t)batch->ncols *
                                                      FERRY_VALUE_OVERHEAD;
            cp.last_key = key;
            cp.next_seq = seq + 1;
            cp.rows_added = batch->nrows;
            cp.bytes_added = (int64_t)value_bytes;
        }
        bool saved = state_checkpoint(run->state, &cp, err);
        free(key);
        if (!saved) {
            source_cursor_close(&cursor, NULL);
            return PART_RETRY; /* the state file failed: nothing more can be recorded */
        }
        if (batch->nrows > 0) {
            atomic_fetch_add(&run->rows, batch->nrows);
            atomic_fetch_add(&run->bytes, cp.bytes_added);
            batch_sizer_observe(&sizer, batch->nrows, batch->bytes);
            note_memory(run);
            seq++;
        }
        if (last) {
            if (!source_cursor_close(&cursor, err))
                return err->retryable ? PART_RETRY : PART_FAILED; /* the data is durable; only the
                                                                     * read transaction's end failed */
            return PART_DONE;
        }
    }
}

static void register_conn(RunContext *run, int index, SourceConn *conn)
{
    pthread_mutex_lock(&run->conns_lock);
    run->conns[index] = conn;
    pthread_mutex_unlock(&run->conns_lock);
}

void *worker_main(void *arg)
{
    Worker *w = arg;
    RunContext *run = w->run;
    const FerryConfig *config = run->config;
    FerryError err = {0};
    SourceConn *conn = NULL;
    Sink *sink = NULL;
    RowBatch batch;
    batch_init(&batch, 0);

    if (!source_connect(&config->source, &conn, &err)) {
        log_error("worker %d: %s", w->index, err.message);
        atomic_store(&run->retry_later, true);
        goto out;
    }
    register_conn(run, w->index, conn);
    if (!config->sink->open(config->sink_settings, &sink, &err)) {
        log_error("worker %d: %s", w->index, err.message);
        atomic_store(&run->retry_later, true);
        goto out;
    }

    for (int t = 0; t < run->ntables && !*run->stop; t++) {
        RunTable *table = &run->tables[t];
        while (!*run->stop && !atomic_load(&table->failed)) {
            PartitionWork work;
            bool found;
            if (!state_claim(run->state, table->planned.id, &work, &found, &err)) {
                log_error("%s", err.message);
                atomic_store(&run->retry_later, true);
                goto out;
            }
            if (!found)
                break;
            log_debug("worker %d: table %s partition %lld (attempt %d)", w->index,
                      table->config->qualified, (long long)work.part, work.attempts);
            PartOutcome outcome = copy_partition(w, conn, config->sink, sink, &batch, table, &work, &err);
            FerryError state_err;
            bool recorded = true;
            switch (outcome) {
            case PART_DONE:
                log_debug("worker %d: table %s partition %lld done", w->index,
                          table->config->qualified, (long long)work.part);
                break;
            case PART_STOPPED:
                recorded = state_partition_error(run->state, work.table_id, work.part, NULL, false,
                                                 &state_err);
                break;
            case PART_RETRY:
            case PART_FAILED:
                log_error("table %s partition %lld: %s", table->config->qualified,
                          (long long)work.part, err.message);
                recorded = state_partition_error(run->state, work.table_id, work.part, err.message,
                                                 outcome == PART_FAILED, &state_err);
                if (outcome == PART_FAILED)
                    atomic_store(&table->failed, true);
                else
                    atomic_store(&run->retry_later, true);
                break;
            }
            state_work_clear(&work);
            if (!recorded)
                log_error("%s", state_err.message);
            if (outcome == PART_RETRY)
                goto out; /* the connection or the sink may be gone; a rerun resumes */
        }
    }
out:
    register_conn(run, w->index, NULL);
    if (sink != NULL)
        config->sink->close(sink);
    source_close(conn);
    batch_free(&batch);
    atomic_store(&w->finished, true);
    return NULL;
}
