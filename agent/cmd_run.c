/*
 * agent/cmd_run.c — `ferry run`: lock the state, plan what is new, start the workers, end with a clear exit code.
 *
 * Design notes
 *  (1) One run per state file: an exclusive lock on "<state>.lock", taken
 *      before the state is opened and held to the end.
 *  (2) A table is planned once; its plan (partitions) lives in the state and
 *      every later run resumes it. The sink's prepare_table runs before the
 *      plan is recorded, so a crash between the two only repeats both.
 *  (3) Signals are taken by the main thread alone (workers block them): on the
 *      first, it sets the stop flag and cancels every worker's query; workers
 *      drop their batch in flight and return their partition to pending.
 *  (4) The exit code is decided from the state, not from what the run
 *      remembers: 0 only when every partition of every configured table is done.
 *  (5) A table found complete at the end of a run is finished by its sink
 *      (sink.h, finish_table): a blob store's manifest is written then.
 *  (6) Then its generation's bound becomes its mark (delta.h): only once
 *      every partition is durable and the sink has finished it. An
 *      incremental table found complete as a run begins starts its next
 *      generation; a kill anywhere in between repeats only what is not done.
 *  (7) A complete generation that had to be one view and was read under
 *      more than one snapshot (physical.h, note 4) is not done: its catch-up
 *      generation is begun as soon as it is complete — after the workers, in
 *      the same run (they start again for it, FERRY_CATCH_UP_ROUNDS times at
 *      most), or as the next run begins — and until that is read the run
 *      does not exit 0.
 *  (8) The run's snapshot is exported by a session of its own, opened as
 *      planning begins and anew for each round of catch-ups; new generations'
 *      bounds are captured in it, so their reads can import it (worker.c,
 *      note 10). It holds back the source's vacuum horizon for the run, as
 *      one long read would; where it cannot be had, each read takes its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ferry/command.h"
#include "ferry/delta.h"
#include "ferry/dialect.h"
#include "ferry/physical.h"
#include "ferry/progress.h"
#include "ferry/run.h"
#include "ferry/sql.h"
#include "ferry/unload.h"

int run_lock_state(const char *state_path, FerryError *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.lock", state_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ferry_error(err, FERRY_ERR_STATE, errno, "cannot open lock file %s: %s", path, strerror(errno));
        return -2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int code = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (code == EWOULDBLOCK) {
            ferry_error(err, FERRY_ERR_STATE, code,
                        "another ferry run (pid %s) is using state file %s; wait for it to finish",
                        *pid ? pid : "unknown", state_path);
            return -1;
        }
        ferry_error(err, FERRY_ERR_STATE, code, "cannot lock %s: %s", path, strerror(code));
        return -2;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        log_warn("cannot write pid into %s", path);
    return fd;
}

/*
 * No staged UNLOAD objects outlive their use: a complete table's (what a
 * crash after a partition's last checkpoint left) are removed at every
 * run's end, and a table planned afresh starts with none (what a reset plan
 * left would pass for its new partitions' stages).
 */
static bool sweep_unloaded(RunContext *run, const TableConfig *tc, const TableShape *shape, FerryError *err)
{
    if (!run->config->has_unload || *run->stop)
        return true;
    if (unload_sweep(&run->config->unload, shape, err))
        return true;
    ferry_error_prefix(err, "table %s: its staged UNLOAD objects could not be removed", tc->qualified);
    return false;
}

static bool finish_table(RunContext *run, RunTable *table, FerryError *err);

/* The table's record read again, after the state moved it on. */
static bool reload_planned(RunContext *run, RunTable *table, FerryError *err)
{
    bool found = false;
    planned_table_clear(&table->planned);
    if (!state_table_find(run->state, table->config->qualified, &table->planned, &found, err))
        return false;
    return found || ferry_error(err, FERRY_ERR_BUG, 0, "BUG: table %s left the state while planned",
                                table->config->qualified);
}

/* (6) A generation complete in the state raises the table's mark (and the record is read again); idempotent. */
static bool raise_mark(RunContext *run, RunTable *table, FerryError *err)
{
    bool raised = false;
    if (!state_mark_raise(run->state, table->planned.id, table->planned.generation, &raised, err))
        return false;
    if (raised && !reload_planned(run, table, err))
        return false;
    if (raised && table->mark_kind != MARK_NONE) {
        const MarkCapture *mark = &table->planned.mark;
        log_info("table %s: generation %lld is complete; the mark is now %s (%s)", table->config->qualified,
                 (long long)table->planned.generation, mark->value ? mark->value : "none",
                 mark->of ? mark->of : "no watermark");
    }
    return true;
}

/*
 * deletes = reconcile, over a table whose generation is complete: the keys
 * the source lost leave the sink. Files get a generation of tombstones
 * (reconcile.c, note 4), recorded here, then finished and raised like any.
 */
static bool reconcile(RunContext *run, SourceConn *conn, Sink *sink, RunTable *table, FerryError *err)
{
    ReconcileResult result;
    double started = monotonic_seconds();
    unsigned flags = sink_flags(run->config->sink, run->config->sink_settings);
    if (!reconcile_table(conn, run->config->sink, sink, table->config, &table->shape, &table->planned, flags,
                         &result, err))
        return false;
    if (result.generation > 0) {
        GenerationRecord tombstones = {.generation = result.generation, .since = &table->planned.mark,
                                       .bound = &table->planned.mark, .nparts = 1, .written = true,
                                       .written_rows = result.removed};
        if (!state_generation_begin(run->state, table->planned.id, &tombstones, err) ||
            !reload_planned(run, table, err) || !finish_table(run, table, err) || !raise_mark(run, table, err))
            return false;
    }
    if (!state_reconciled(run->state, table->planned.id, result.removed, err))
        return false;
    log_info("table %s: reconciled in %.1f s: %d key %s compared, %d of them held keys the source no longer "
             "has: %lld %s",
             table->config->qualified, monotonic_seconds() - started, result.ranges,
             flags & SINK_KEEPS_GENERATIONS ? "bucket(s)" : "range(s)", result.differed, (long long)result.removed,
             result.generation > 0 ? "tombstoned in a generation of their own" : "removed");
    return true;
}

/* (8) The run's snapshot: a session of its own exports it (physical.h, note 4); none where the server has none. */
static void snapshot_close(RunContext *run)
{
    source_close(run->snapshot.conn);
    free(run->snapshot.id);
    free(run->snapshot.text);
    run->snapshot.conn = NULL;
    run->snapshot.id = run->snapshot.text = NULL;
}

/* On `planning` (a session of the run's): a session for the snapshot, where the source has one to spare. */
static void snapshot_open(RunContext *run, SourceConn *planning)
{
    snapshot_close(run);
    atomic_store(&run->snapshot.lost, true);
    if (!source_dialect(planning)->heap_tids)
        return;
    FerryError err;
    int room = 0;
    const char *limit = NULL;
    bool asked = source_connection_room(planning, &room, &limit, &err);
    if (!asked || room < 2) {
        /* Workers before the snapshot: it takes a connection only when one is left for a second worker. */
        log_debug("no snapshot is shared by this run's reads: %s",
                  asked ? "the source has no connection to spare for it" : err.message);
        return;
    }
    SourceConn *conn = NULL;
    if (!source_connect(&run->config->source, &conn, &err) ||
        !source_snapshot_export(conn, &run->snapshot.id, &run->snapshot.text, &err)) {
        log_warn("no snapshot could be exported for this run's reads (%s): each read takes its own", err.message);
        source_close(conn);
        snapshot_close(run);
        return;
    }
    run->snapshot.conn = conn;
    atomic_store(&run->snapshot.lost, false);
    log_debug("the run's reads share snapshot %s", run->snapshot.id);
}

const char *run_snapshot_for(RunContext *run, const RunTable *table)
{
    const char *bound = table->planned.bound.snapshot;
    if (run->snapshot.conn == NULL || atomic_load(&run->snapshot.lost) || bound == NULL)
        return NULL;
    return strcmp(run->snapshot.text, bound) == 0 ? run->snapshot.id : NULL;
}

/* Where a new generation's bound is captured: in the run's snapshot while it lasts, so its reads share it. */
static SourceConn *run_capture_conn(RunContext *run, SourceConn *conn)
{
    return run->snapshot.conn != NULL && !atomic_load(&run->snapshot.lost) ? run->snapshot.conn : conn;
}

/* delta_capture in the run's snapshot; a failure there loses the snapshot, and conn captures instead. */
static bool run_capture(RunContext *run, SourceConn *conn, const TableConfig *tc, const TableShape *shape,
                        MarkKind kind, MarkCapture *out, FerryError *err)
{
    SourceConn *at = run_capture_conn(run, conn);
    if (at != conn) {
        if (delta_capture(at, tc, shape, kind, out, err))
            return true;
        log_warn("the run's snapshot is gone (%s): each read takes its own", err->message);
        atomic_store(&run->snapshot.lost, true);
    }
    return delta_capture(conn, tc, shape, kind, out, err);
}

/* A physical generation's reads select ctid after the table's columns and lock the table by name. */
static void set_read_shape(RunTable *table)
{
    physical_read_shape_free(&table->read_shape);
    free(table->heap_name);
    table->heap_name = NULL;
    if (!table->planned.physical)
        return;
    physical_read_shape(&table->shape, &table->read_shape);
    table->heap_name = plan_table_name(&table->shape);
}

/*
 * (6) An incremental table (or the table of run --full) whose generation is
 * complete is finished, its mark raised, its deletes reconciled, and its
 * next generation begun when its window holds rows (delta_next, delta_full);
 * either way the rows its partitions read are set (table->window).
 */
static bool next_generation(RunContext *run, SourceConn *conn, Sink *sink, RunTable *table, FerryError *err)
{
    const TableConfig *tc = table->config;
    bool full = run->full == tc;
    /* (7) A generation that had to be one view and was not is followed by its catch-up first. */
    bool catch_up = planned_one_view(&table->planned) && table->planned.mixed;
    bool moves_on = full || catch_up || table->mark_kind != MARK_NONE; /* a table copied once in full stays */
    int left = 0;
    if (moves_on && !state_table_remaining(run->state, table->planned.id, &left, err))
        return false;
    if (full && left > 0)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "table %s: --full: its generation %lld is not complete (%d partition(s) left); run "
                           "ferry without --full to finish it first, or `ferry reset` the table to plan it anew",
                           tc->qualified, (long long)table->planned.generation, left);
    if (moves_on && left == 0) {
        /* A run stopped between the last checkpoint and its end: the sink finishes the table first (5). */
        if (table->planned.marked < table->planned.generation && !finish_table(run, table, err))
            return false;
        if (!raise_mark(run, table, err) || !sweep_unloaded(run, tc, &table->shape, err) ||
            ((tc->watermark.reconcile || (full && run->config->sink->prune != NULL &&
                                           !(sink_flags(run->config->sink, run->config->sink_settings) &
                                             SINK_KEEPS_GENERATIONS))) &&
             !reconcile(run, conn, sink, table, err)))
            return false;
        bool begun = false;
        if (catch_up ? !delta_catch_up(conn, run_capture_conn(run, conn), run->state, tc, &table->shape,
                                       table->mark_kind, &table->planned, &begun, err)
            : full   ? !delta_full(conn, run->state, tc, table->mark_kind, &table->planned, err)
                     : !delta_next(conn, run->state, tc, &table->shape, table->mark_kind, &table->planned, err))
            return false;
        if (!reload_planned(run, table, err))
            return false;
    }
    atomic_store(&table->mixed, table->planned.mixed);
    if (table->planned.catch_up) {
        table->window = delta_catch_up_window(tc, &table->planned);
        return true;
    }
    if (table->planned.generation == 0 || table->planned.mark.value == NULL) {
        table->window = sql_live_rows(&table->shape); /* the first copy, or a whole one: every row held */
        return true;
    }
    char of[FERRY_NAME_MAX + 32];
    delta_describe(tc, table->mark_kind, of, sizeof of);
    if (table->planned.bound.of == NULL || strcmp(table->planned.bound.of, of) != 0) {
        log_warn("table %s: generation %lld was begun under watermark %s, now %s: its rest is read whole",
                 tc->qualified, (long long)table->planned.generation,
                 table->planned.bound.of ? table->planned.bound.of : "(none)", *of ? of : "(none)");
        return true;
    }
    table->window = delta_window(tc, table->mark_kind, table->planned.mark.value, table->planned.bound.value);
    return true;
}

/* Discover a table's shape; plan it (and prepare the sink) if the state has no plan yet. */
static bool prepare_table(RunContext *run, SourceConn *conn, Sink *sink, RunTable *table,
                          FerryError *err)
{
    const TableConfig *tc = table->config;
    bool found;
    /* A retry after a source failure starts the table over. */
    planned_table_clear(&table->planned);
    physical_read_shape_free(&table->read_shape);
    table_shape_free(&table->shape);
    free(table->window);
    table->window = NULL;
    if (!state_table_find(run->state, tc->qualified, &table->planned, &found, err))
        return false;
    bool taken = false;
    SinkOwner owner = {.job = run->job, .table = tc->qualified, .take_over = run->take_over == tc, .taken = &taken};
    if (found) {
        if (!plan_discover(conn, tc, &table->shape, err) ||
            !sink_claim(run->config->sink, sink, &table->shape, &owner, err))
            return false;
    }
    if (found && taken) {
        /* The output is another job's plan, not the one this state records: the table is planned afresh. */
        int removed = 0;
        log_info("table %s: its output was another job's; planned again, so what it holds is this job's copy",
                 tc->qualified);
        planned_table_clear(&table->planned);
        table_shape_free(&table->shape);
        if (!state_reset(run->state, tc->qualified, &removed, err))
            return false;
        found = false;
    }
    if (found) {
        char *keys[FERRY_KEY_COLUMNS_MAX];
        int n = config_split_list(table->planned.key_columns, keys, FERRY_KEY_COLUMNS_MAX);
        bool same = n == table->shape.nkeys;
        for (int k = 0; k < n; k++) {
            same = same && strcmp(keys[k], table->shape.cols[table->shape.key_col[k]].name) == 0;
            free(keys[k]);
        }
        if (!same)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "table %s: its key is now (%s…) but it was planned with key (%s): "
                               "run `ferry reset -c FILE %s` to copy it again",
                               tc->qualified, table->shape.cols[table->shape.key_col[0]].name,
                               table->planned.key_columns, tc->qualified);
        return delta_kind(conn, run->config->path, tc, &table->shape, &table->mark_kind, err) &&
               sink_check_table(run->config->sink, run->config->sink_settings, &table->shape, err) &&
               next_generation(run, conn, sink, table, err);
    }

    if (run->config->source.read_method == READ_UNLOAD && source_dialect(conn) != &dialect_redshift)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "[source] read_method = unload: the server is %s, and UNLOAD is Redshift's; set "
                           "read_method = auto", source_dialect(conn)->name);
    TablePlan plan;
    if (!plan_table(conn, tc, &plan, err))
        return false;
    /* (6) The source as the first copy begins: its bound becomes the mark when the copy is complete. */
    MarkCapture capture = {0};
    bool physical = false;
    char why[256];
    int64_t heap_file = 0;
    if (!delta_kind(conn, run->config->path, tc, &plan.shape, &table->mark_kind, err) ||
        !sink_check_table(run->config->sink, run->config->sink_settings, &plan.shape, err) ||
        !physical_choose(conn, run->config, tc, &plan.shape, &physical, why, sizeof why, err)) {
        plan_free(&plan);
        return false;
    }
    if (physical) { /* block ranges instead of the sampled keys */
        for (int i = 0; i < plan.nparts - 1; i++)
            free(plan.bounds[i]);
        free(plan.bounds);
        plan.bounds = NULL;
        int nbounds = 0;
        if (!physical_bounds(conn, &plan.shape, partition_count(plan.est_rows, tc->settings.partition_rows),
                             &plan.bounds, &nbounds, &heap_file, err)) {
            plan_free(&plan);
            return false;
        }
        plan.nparts = nbounds + 1;
    }
    if (!run_capture(run, conn, tc, &plan.shape, table->mark_kind, &capture, err)) {
        /* A full copy needs none: what it captures only lets the table become incremental later. */
        if (table->mark_kind != MARK_NONE || err->domain != FERRY_ERR_SOURCE || err->retryable) {
            plan_free(&plan);
            return false;
        }
        log_warn("%s (the table is copied in full; made incremental later, its first incremental run reads every "
                 "row again)",
                 err->message);
    }
    StrBuf keys = {0};
    for (int k = 0; k < plan.shape.nkeys; k++) {
        strbuf_add(&keys, "%s", k ? "," : "");
        config_add_name(&keys, plan.shape.cols[plan.shape.key_col[k]].name);
    }
    char *key_columns = keys.text;
    TablePlanRecord record = {
        .name = tc->qualified,
        .target = plan.shape.target,
        .key_columns = key_columns,
        .est_rows = (int64_t)plan.est_rows,
        .row_width = (int64_t)(plan.width_avg + 0.5),
        .nparts = plan.nparts,
        .bounds = plan.bounds,
        .bound = &capture,
        .physical = physical && capture.snapshot != NULL,
        .heap_file = heap_file,
    };
    if (physical && capture.snapshot == NULL) { /* no snapshot to make one view of it: key ranges, sampled again */
        plan_free(&plan);
        mark_capture_clear(&capture);
        free(key_columns);
        return ferry_error(err, FERRY_ERR_SOURCE, 0, "table %s: no snapshot could be captured to read it in "
                           "physical order by; set read_order = key", tc->qualified);
    }
    bool ok = sink_claim(run->config->sink, sink, &plan.shape, &owner, err) &&
              sweep_unloaded(run, tc, &plan.shape, err) &&
              sink_prepare_table(run->config->sink, sink, &plan.shape, err) &&
              state_table_plan(run->state, &record, &table->planned.id, err);
    if (ok) {
        log_info("table %s: planned %d partitions, about %.0f rows of %.0f bytes (key %s); %s",
                 tc->qualified, plan.nparts, plan.est_rows, plan.width_avg, key_columns, why);
        table->shape = plan.shape; /* the shape moves into the run */
        memset(&plan.shape, 0, sizeof plan.shape);
        table->window = sql_live_rows(&table->shape);
        ok = reload_planned(run, table, err);
    }
    free(key_columns);
    mark_capture_clear(&capture);
    plan_free(&plan);
    return ok;
}

char *run_job_identity(const char *state_path)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    char *path = realpath(state_path, NULL);
    StrBuf job = {0};
    strbuf_add(&job, "%s:%s", host, path ? path : state_path);
    free(path);
    return job.text;
}

int run_workers(const FerryConfig *config, SourceConn *conn, uint64_t budget_total, char *why,
                size_t why_cap)
{
    if (config->ferry.workers > 0) {
        snprintf(why, why_cap, "configured");
        return config->ferry.workers;
    }
    int cpus = budget_cpu_count("");
    int n = cpus;
    snprintf(why, why_cap, "auto: %d CPU(s)", cpus);
    /* Each worker's sink buffers and a batch of FERRY_WORKER_BATCH_MIN, out of the pool's share. */
    uint64_t per_worker = sink_buffer_bytes(config->sink, config->sink_settings) + FERRY_WORKER_BATCH_MIN;
    uint64_t fit = (uint64_t)((double)budget_total / FERRY_BATCH_OVERHEAD) / per_worker;
    if (fit < (uint64_t)n) {
        n = fit > 0 ? (int)fit : 1;
        char size[32];
        snprintf(why, why_cap, "auto: %d CPU(s), but the memory budget of %s has room for %d", cpus,
                 format_size(budget_total, size, sizeof size), n);
    }
    int room;
    const char *limit;
    FerryError err;
    if (conn != NULL && source_connection_room(conn, &room, &limit, &err)) {
        /* The room counts this (planning) connection as taken: its slot stays free for others. */
        if (room < n) {
            n = room;
            snprintf(why, why_cap, "auto: %d CPU(s), but %s leaves room for %d more connection(s)",
                     cpus, limit, room);
        }
    } else if (conn != NULL) {
        log_info("cannot tell how many connections the source has room for (%s): %d worker(s), one per CPU",
                 err.message, cpus);
    }
    if (n > FERRY_WORKERS_MAX)
        n = FERRY_WORKERS_MAX;
    return n > 0 ? n : 1;
}

RetryPolicy run_retry_policy(const FerryConfig *config)
{
    return (RetryPolicy){
        .max_attempts = config->ferry.retry_attempts,
        .base_s = config->ferry.retry_base_ms / 1000.0,
        .cap_s = config->ferry.retry_cap_ms / 1000.0,
        .max_total_s = config->ferry.retry_max_seconds,
    };
}

bool run_fit_sink(const FerryConfig *config, uint64_t budget_total, FerryError *err)
{
    sink_fit(config->sink, config->sink_settings, budget_total); /* the settings, not the config, change */
    int fewest = config->ferry.workers > 0 ? config->ferry.workers : 1;
    uint64_t sink_fixed = sink_buffer_bytes(config->sink, config->sink_settings) * (uint64_t)fewest;
    /* Before planning, what run_reserve will find is estimated: what is held now, what planning adds (the
     * planning connection, the sink opened to prepare tables) and each further worker's reserve. */
    uint64_t held = 0, resident = 0;
    budget_allocator_stats(&held, &resident);
    uint64_t reserve = held + FERRY_PLAN_RESERVE + (uint64_t)(fewest - 1) * FERRY_WORKER_RESERVE;
    log_debug("memory held before planning: %llu bytes allocated", (unsigned long long)held);
    uint64_t need = reserve + sink_fixed + (uint64_t)FERRY_WORKER_BATCH_FLOOR * (uint64_t)fewest;
    if (need <= budget_total)
        return true;
    double fraction = config->ferry.memory_fraction;
    unsigned long long floor_mib = (unsigned long long)((double)need / fraction / (1u << 20)) + 1;
    char buffers[32], have[32], floor[32];
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "%s: the sink's buffers (%s for %d worker(s): its output buffer, compression and any part "
                       "or block buffer) leave less than %s a worker for batches in the memory budget of %s: the "
                       "smallest memory_limit for this job is %lluMB (or lower workers, or the sink's part_size / "
                       "block_size)",
                       config->path, format_size(sink_fixed, buffers, sizeof buffers), fewest,
                       format_size(FERRY_WORKER_BATCH_FLOOR, floor, sizeof floor),
                       format_size(budget_total, have, sizeof have), floor_mib);
}

bool run_reserve(const FerryConfig *config, const MemoryBudget *budget, int workers, uint64_t *reserve,
                 FerryError *err)
{
    uint64_t held = 0, resident = 0;
    budget_allocator_stats(&held, &resident);
    /* The first worker takes over the planning connection, which `held` counts. */
    *reserve = held + (uint64_t)(workers > 1 ? workers - 1 : 0) * FERRY_WORKER_RESERVE;
    log_debug("memory held before the workers start: %llu bytes allocated, %llu resident",
              (unsigned long long)held, (unsigned long long)resident);
    uint64_t per_worker = sink_buffer_bytes(config->sink, config->sink_settings) + FERRY_WORKER_BATCH_FLOOR;
    uint64_t need = *reserve + per_worker * (uint64_t)workers;
    if (need <= budget->total)
        return true;
    /* The budget is memory_fraction of the base: the base that gives `need`, rounded up to a MiB. */
    uint64_t floor_mib = (uint64_t)((double)need / budget->fraction / (1u << 20)) + 1;
    char have[32], kept[32], wants[32], base[32];
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "%s: the memory budget of %s (%.2f of %s from %s) cannot be kept: ferry holds %s before it "
                       "copies (its libraries, the state, the connections), and %d worker(s) need %s more for their "
                       "sink buffers and batches; the smallest memory_limit for this job is %lluMB (or lower "
                       "workers)",
                       config->path, format_size(budget->total, have, sizeof have), budget->fraction,
                       format_size(budget->base, base, sizeof base), budget->base_from,
                       format_size(*reserve, kept, sizeof kept), workers,
                       format_size(per_worker * (uint64_t)workers, wants, sizeof wants),
                       (unsigned long long)floor_mib);
}

static void set_planning_conn(RunContext *run, SourceConn *conn)
{
    pthread_mutex_lock(&run->conns_lock);
    run->conns[0] = conn; /* cancelled like a worker's on a stop; workers start later */
    pthread_mutex_unlock(&run->conns_lock);
}

/* (5) A complete table: the sink writes what describes it whole (a manifest), once its last segment is in. */
static bool finish_table(RunContext *run, RunTable *table, FerryError *err)
{
    FerryError sweep_err;
    if (!sweep_unloaded(run, table->config, &table->shape, &sweep_err))
        log_warn("%s (the next run tries again)", sweep_err.message);
    const SinkOps *ops = run->config->sink;
    if (ops->finish_table == NULL || *run->stop)
        return true;
    RetryState retry;
    retry_begin(&retry, &run->retry, (unsigned)getpid());
    for (;;) {
        Sink *sink = NULL;
        bool ok = ops->open(run->config->sink_settings, &sink, err) &&
                  sink_finish_table(ops, sink, &table->shape, table->planned.generation, table->planned.base, err);
        if (sink != NULL)
            ops->close(sink);
        double pause;
        if (ok || !err->retryable || !retry_next(&retry, monotonic_seconds(), &pause))
            return ok;
        if (err->retry_after_s > pause)
            pause = err->retry_after_s < run->retry.cap_s ? err->retry_after_s : run->retry.cap_s;
        log_warn("table %s: %s; retry %d in %.1f s", table->config->qualified, err->message, retry.attempts, pause);
        run_count_retry(run, err);
        if (!retry_sleep(pause, run->stop))
            return false;
    }
}

/*
 * Plan every configured table, on one connection, before the workers start.
 * Source failures that may pass (a lost connection, a frozen server) are
 * retried with the run's policy on a new connection; a table that cannot be
 * planned for good fails alone.
 */
static bool prepare_tables(RunContext *run, FerryError *err, bool *table_failed)
{
    SourceConn *conn = NULL;
    Sink *sink = NULL;
    RetryState retry;
    retry_begin(&retry, &run->retry, (unsigned)getpid());
    bool snapshot_tried = false;
    bool ok = run->config->sink->open(run->config->sink_settings, &sink, err);
    for (int t = 0; ok && t < run->ntables && !*run->stop;) {
        FerryError table_err;
        bool planned = false;
        if (conn == NULL && source_connect(&run->config->source, &conn, &table_err))
            set_planning_conn(run, conn);
        if (conn != NULL && run->snapshot.id == NULL && !snapshot_tried) {
            snapshot_open(run, conn);
            snapshot_tried = true;
        }
        if (conn != NULL)
            planned = prepare_table(run, conn, sink, &run->tables[t], &table_err);
        if (planned)
            set_read_shape(&run->tables[t]);
        if (planned) { /* progress: the next table's failures are counted afresh */
            t++;
            retry_begin(&retry, &run->retry, retry.seed);
            continue;
        }
        /* A source or a store that failed for a while (the owner marker's write, a new plan's sweep) is retried. */
        if ((table_err.domain == FERRY_ERR_SOURCE || table_err.domain == FERRY_ERR_SINK) && table_err.retryable) {
            double pause;
            if (table_err.domain == FERRY_ERR_SOURCE) {
                set_planning_conn(run, NULL);
                source_close(conn);
                conn = NULL;
            }
            bool again = retry_next(&retry, monotonic_seconds(), &pause);
            if (table_err.retry_after_s > pause) /* as a worker heeds a store's Retry-After */
                pause = table_err.retry_after_s < run->retry.cap_s ? table_err.retry_after_s : run->retry.cap_s;
            if (again) {
                log_warn("%s; retry %d in %.1f s", table_err.message, retry.attempts, pause);
                run_count_retry(run, &table_err);
                again = retry_sleep(pause, run->stop);
            }
            if (!again) {
                *err = table_err; /* it stays unwell: no other table will do better */
                ok = false;
            }
            continue;
        }
        if (table_err.domain == FERRY_ERR_STATE || table_err.domain == FERRY_ERR_SINK || conn == NULL) {
            *err = table_err; /* the state, the sink or the connection itself refuses (a wrong dialect) */
            ok = false;
            break;
        }
        /* This table cannot be copied as configured; the others can. */
        log_error("%s", table_err.message);
        atomic_store(&run->tables[t].failed, true);
        *table_failed = true;
        t++;
    }
    set_planning_conn(run, NULL);
    if (sink != NULL)
        run->config->sink->close(sink);
    run->workers = run_workers(run->config, conn, run->budget.total, run->workers_why,
                               sizeof run->workers_why);
    /* The first worker goes on with this connection: one connect less, and the
     * room run_workers counted (this one taken) holds without waiting for it to close. */
    if (ok && source_idle(conn))
        run->spare_conn = conn;
    else
        source_close(conn);
    return ok;
}

static void cancel_all(RunContext *run)
{
    pthread_mutex_lock(&run->conns_lock);
    for (int i = 0; i < FERRY_WORKERS_MAX; i++)
        if (run->conns[i] != NULL)
            source_cancel(run->conns[i]);
    pthread_mutex_unlock(&run->conns_lock);
}

/* Wait for the workers, cancelling their queries once if a stop is requested (3). */
static void wait_workers(RunContext *run, Progress *progress, Worker *workers, int n)
{
    bool cancelled = false;
    for (;;) {
        int running = 0;
        for (int i = 0; i < n; i++)
            running += !atomic_load(&workers[i].finished);
        if (running == 0)
            break;
        if (*run->stop && !cancelled) {
            log_info("stop requested: dropping the batches in flight; a rerun resumes from the "
                     "last checkpoint (a second signal exits at once)");
            cancel_all(run);
            cancelled = true;
        }
        progress_tick(progress, run);
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < n; i++)
        pthread_join(workers[i].thread, NULL);
}

static int start_workers(RunContext *run, Progress *progress)
{
    int n = run->workers;
    Worker *workers = xcalloc((size_t)n, sizeof *workers);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* threads inherit the mask: signals stay with main */
    int started = 0;
    for (int i = 0; i < n; i++) {
        workers[i] = (Worker){.run = run, .index = i};
        int code = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (code != 0) { /* pthread_create returns its error; errno is not set */
            log_error("cannot start worker %d: %s", i, strerror(code));
            break;
        }
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    wait_workers(run, progress, workers, started);
    free(workers);
    return started;
}

/*
 * (7) After the workers: each complete generation that was read under more
 * than one snapshot gets its catch-up, captured in a snapshot exported anew,
 * and *more says the workers must start again for catch-ups left to read.
 * Each table's record is read afresh first, so a call after one that failed
 * part way finds what that one began.
 */
static bool begin_catch_ups(RunContext *run, bool *more, FerryError *err)
{
    *more = false;
    SourceConn *conn = NULL;
    bool ok = true;
    for (int t = 0; ok && t < run->ntables && !*run->stop; t++) {
        RunTable *table = &run->tables[t];
        int left = 0;
        if (table->planned.id == 0 || atomic_load(&table->failed) ||
            !planned_one_view(&table->planned))
            continue;
        ok = reload_planned(run, table, err) && state_table_remaining(run->state, table->planned.id, &left, err);
        if (ok && left == 0 && table->planned.mixed) {
            if (conn == NULL && (ok = source_connect(&run->config->source, &conn, err)))
                snapshot_open(run, conn);
            bool begun = false;
            ok = ok && finish_table(run, table, err) && raise_mark(run, table, err) &&
                 delta_catch_up(conn, run_capture_conn(run, conn), run->state, table->config, &table->shape,
                                table->mark_kind, &table->planned, &begun, err) &&
                 reload_planned(run, table, err) && state_table_remaining(run->state, table->planned.id, &left, err);
        }
        if (!ok)
            break;
        atomic_store(&table->mixed, table->planned.mixed);
        if (table->planned.catch_up && left > 0) {
            free(table->window);
            table->window = delta_catch_up_window(table->config, &table->planned);
            set_read_shape(table);
            *more = true;
        }
    }
    source_close(conn);
    return ok;
}

/* begin_catch_ups, retried with the run's policy while it fails in ways that may pass. */
static bool begin_catch_ups_retried(RunContext *run, bool *more, FerryError *err)
{
    RetryState retry;
    retry_begin(&retry, &run->retry, (unsigned)getpid());
    for (;;) {
        if (begin_catch_ups(run, more, err))
            return true;
        double pause;
        if (!err->retryable || !retry_next(&retry, monotonic_seconds(), &pause))
            return false;
        log_warn("%s; retry %d in %.1f s", err->message, retry.attempts, pause);
        run_count_retry(run, err);
        if (!retry_sleep(pause, run->stop))
            return false;
    }
}

static void run_free(RunContext *run)
{
    for (int t = 0; t < run->ntables; t++) {
        physical_read_shape_free(&run->tables[t].read_shape);
        free(run->tables[t].heap_name);
        table_shape_free(&run->tables[t].shape);
        planned_table_clear(&run->tables[t].planned);
        free(run->tables[t].window);
    }
    snapshot_close(run);
    free(run->tables);
    free(run->job);
    pthread_mutex_destroy(&run->conns_lock);
}

static int run_command(const CommandArgs *args)
{
    const FerryConfig *config = args->config;
    volatile sig_atomic_t *stop = args->stop;
    FerryError err = {0};
    int exit_code = FERRY_EXIT_INTERNAL;
    StateStore *state = NULL;
    int64_t run_id = 0;
    double started = monotonic_seconds();
    RunContext run = {.config = config, .stop = stop};
    Progress progress;
    bool progressed = false; /* the workers' progress began: its end writes the metrics file */
    if (args->full && (run.full = config_find_table(config, args->table)) == NULL) {
        log_error("--full %s: no such table in %s", args->table, config->path);
        return FERRY_EXIT_USAGE;
    }
    if (args->take_over && (run.take_over = config_find_table(config, args->table)) == NULL) {
        log_error("--take-over %s: no such table in %s", args->table, config->path);
        return FERRY_EXIT_USAGE;
    }
    bool pool_ready = false;
    pthread_mutex_init(&run.conns_lock, NULL);

    int lock_fd = run_lock_state(config->ferry.state, &err);
    if (lock_fd < 0) {
        log_error("%s", err.message);
        run_free(&run);
        return lock_fd == -1 ? FERRY_EXIT_LOCKED : FERRY_EXIT_STATE;
    }
    if (!state_open(config->ferry.state, &state, &err)) {
        log_error("%s", err.message);
        exit_code = FERRY_EXIT_STATE;
        goto out;
    }
    run.job = run_job_identity(config->ferry.state);
    SetupEntry *entries;
    int nentries;
    config_setup_entries(config, &entries, &nentries);
    bool setup_ok = state_setup_check(state, entries, nentries, &err);
    config_setup_entries_free(entries, nentries);
    if (!setup_ok) {
        log_error("%s", err.message);
        exit_code = err.domain == FERRY_ERR_CONFIG ? FERRY_EXIT_CONFIG : FERRY_EXIT_STATE;
        goto out;
    }
    if (!budget_measure("", config->ferry.memory_fraction, config->ferry.memory_limit, &run.budget,
                        &err)) {
        log_error("%s", err.message);
        exit_code = FERRY_EXIT_CONFIG;
        goto out;
    }
    if (!run_fit_sink(config, run.budget.total, &err)) {
        log_error("%s", err.message);
        exit_code = FERRY_EXIT_CONFIG;
        goto out;
    }
    run.retry = run_retry_policy(config);
    char total[32], base[32], batch[32]; /* total: logged when the workers start and when they end */

    if (!state_run_begin(state, &run_id, &err) || !state_requeue(state, &err)) {
        log_error("%s", err.message);
        exit_code = FERRY_EXIT_STATE;
        goto out;
    }
    run.state = state;
    run.run_id = run_id;
    run.ntables = config->ntables;
    run.tables = xcalloc((size_t)run.ntables, sizeof *run.tables);
    for (int t = 0; t < run.ntables; t++) {
        run.tables[t].config = &config->tables[t];
        run.tables[t].use_cursor = config->source.read_method == READ_CURSOR;
    }

    bool table_failed = false;
    if (!prepare_tables(&run, &err, &table_failed)) {
        if (*stop) { /* the stop cancelled a planning query: that is the stop, not a failure of the source */
            log_info("stop requested while planning: no worker was started; a rerun resumes from the "
                     "last checkpoint");
            exit_code = FERRY_EXIT_RESUME;
            goto out;
        }
        log_error("%s", err.message);
        exit_code = err.domain == FERRY_ERR_STATE    ? FERRY_EXIT_STATE
                    : err.domain == FERRY_ERR_CONFIG ? FERRY_EXIT_CONFIG
                    : err.retryable                  ? FERRY_EXIT_RESUME
                                                     : FERRY_EXIT_FAILED;
        goto out;
    }
    /*
     * The pool holds every sink's buffers and the batches' share of what
     * they leave of the budget; the rest of that is for what FERRY_BATCH_OVERHEAD covers.
     */
    uint64_t sink_memory = sink_buffer_bytes(config->sink, config->sink_settings);
    uint64_t reserve = 0;
    if (!run_reserve(config, &run.budget, run.workers, &reserve, &err)) {
        log_error("%s", err.message);
        exit_code = FERRY_EXIT_CONFIG;
        goto out;
    }
    MemoryBudget for_batches = run.budget; /* what the batches and sink buffers may take: the rest */
    for_batches.total -= reserve;
    run.batch_bytes = budget_batch_bytes(&for_batches, run.workers, sink_memory);
    uint64_t pool_total = run.batch_bytes * (uint64_t)run.workers + sink_memory * (uint64_t)run.workers;
    pool_init(&run.pool, pool_total < for_batches.total ? pool_total : for_batches.total);
    pool_ready = true;
    log_info("memory budget %s (%.2f of %s from %s); %d worker(s) (%s), batches up to %s each, two a worker "
             "(one read while the other is written)",
             format_size(run.budget.total, total, sizeof total), run.budget.fraction,
             format_size(run.budget.base, base, sizeof base), run.budget.base_from, run.workers, run.workers_why,
             format_size(run.batch_bytes / FERRY_BATCHES_IN_FLIGHT, batch, sizeof batch));
    progress_begin(&progress, &run);
    progressed = true;
    if (!*stop) {
        /* (7) Catch-ups go on in this run, a few rounds at most (each one's snapshot may be lost too). */
        for (int round = 0; start_workers(&run, &progress) > 0 && !*stop && round < FERRY_CATCH_UP_ROUNDS; round++) {
            bool more = false;
            if (!begin_catch_ups_retried(&run, &more, &err)) {
                log_error("%s (the next run begins the catch-up)", err.message);
                break;
            }
            if (!more)
                break;
        }
    } else /* the signal came while the tables were being planned: say so, as a stop later does */
        log_info("stop requested while planning: no worker was started; a rerun resumes from the "
                 "last checkpoint");
    source_close(run.spare_conn); /* no worker took it (stopped before they started) */
    run.spare_conn = NULL;

    /* (4) What is left decides the exit code. */
    int left = 0;
    for (int t = 0; t < run.ntables; t++) {
        int parts_left = 0;
        if (run.tables[t].planned.id == 0) {
            left++;
            continue;
        }
        if (!state_table_remaining(state, run.tables[t].planned.id, &parts_left, &err)) {
            log_error("%s", err.message);
            exit_code = FERRY_EXIT_STATE;
            goto out;
        }
        if (atomic_load(&run.tables[t].failed)) {
            /* Refused, though its partitions may all be done (a finished table whose output is another job's). */
            table_failed = true;
            left += parts_left > 0 ? parts_left : 1;
            continue;
        }
        long repeats = atomic_load(&run.tables[t].repeats);
        if (repeats > 0)
            log_info("table %s: %ld row(s) read in this run repeated the key of the row before; %s "
                     "(on_duplicate_key)",
                     run.tables[t].config->qualified, repeats,
                     run.tables[t].config->settings.on_duplicate_key == DUPLICATES_KEEP_LAST
                         ? "only the last row of each key was written"
                         : "every row was written");
        left += parts_left;
        RunTable *table = &run.tables[t];
        if (parts_left == 0 && planned_one_view(&table->planned) && atomic_load(&table->mixed)) {
            /* (7) Complete, but not one view until its catch-up is read: not done. */
            log_info("table %s: generation %lld still needs its catch-up: run ferry again", table->config->qualified,
                     (long long)table->planned.generation);
            left++;
            continue;
        }
        if (parts_left == 0 && !finish_table(&run, &run.tables[t], &err)) {
            log_error("table %s: %s", run.tables[t].config->qualified, err.message);
            left++; /* not complete until its sink says so: the next run tries again */
            table_failed |= !err.retryable;
        } else if (parts_left == 0 && !raise_mark(&run, &run.tables[t], &err)) {
            log_error("%s", err.message);
            exit_code = FERRY_EXIT_STATE;
            goto out;
        }
    }
    if (left == 0)
        exit_code = FERRY_EXIT_OK;
    else if (table_failed)
        exit_code = FERRY_EXIT_FAILED;
    else
        exit_code = FERRY_EXIT_RESUME;

    double seconds = monotonic_seconds() - started;
    char copied[32], peak[32];
    long long rows = atomic_load(&run.rows);
    log_info("run %s: %lld rows, %s in %.1f s (%.0f rows/s); jemalloc peak allocated %s, budget %s",
             exit_code == FERRY_EXIT_OK ? "complete" : *stop ? "stopped" : "incomplete", rows,
             format_size((uint64_t)atomic_load(&run.bytes), copied, sizeof copied), seconds,
             seconds > 0 ? (double)rows / seconds : 0.0,
             format_size(atomic_load(&run.peak_allocated), peak, sizeof peak), total);
    if (exit_code == FERRY_EXIT_RESUME)
        log_info("work is left (%d partition(s)): run ferry again to resume", left);
out:
    if (progressed)
        progress_end(&progress, &run, exit_code);
    if (state != NULL && run_id != 0) {
        const char *status = exit_code == FERRY_EXIT_OK       ? "complete"
                             : exit_code == FERRY_EXIT_RESUME ? (*stop ? "stopped" : "incomplete")
                                                              : "failed";
        FerryError end_err;
        if (!state_run_end(state, run_id, atomic_load(&run.rows), atomic_load(&run.bytes), status,
                           exit_code, &end_err))
            log_error("%s", end_err.message);
    }
    if (pool_ready) {
        if (run.pool.waits > 0)
            log_info("workers waited %llu time(s) for memory held by others",
                     (unsigned long long)run.pool.waits);
        pool_destroy(&run.pool);
    }
    state_close(state);
    run_free(&run);
    close(lock_fd);
    return exit_code;
}

const Command command_run = {.name = "run", .flags = COMMAND_TAKES_FULL | COMMAND_TAKES_TAKE_OVER, .run = run_command};
