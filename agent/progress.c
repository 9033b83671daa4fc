/*
 * agent/progress.c — progress while a run copies, and the metrics file (progress.h).
 *
 * Design notes
 *  (1) Every figure comes from the state file, as `ferry status` reads it:
 *      the rows, bytes and partitions checkpointed, so what progress says
 *      is durable, and a run killed later has said nothing it did not keep.
 *      Only the speed is this run's own (its rows over its time).
 *  (2) The ETA is the rows the plans estimate and the state does not hold
 *      yet, at this run's speed; there is none before the first rows, nor
 *      once the estimate is passed (estimates are the planner's, not counts).
 *  (3) The metrics file follows node_exporter's textfile collector: written
 *      under a temporary name in the same folder, fsynced, renamed over the
 *      file (file_write_atomic), so a scrape reads one whole version. Counters are counted in the
 *      state (every run's rows, killed runs' too), so they survive restarts.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/files.h"
#include "ferry/progress.h"

typedef struct Figures {
    int64_t rows, bytes, est_rows, rejected;
    int parts_done, parts_total, parts_failed;
} Figures;

static void add_table(void *ctx, const TableStatus *t)
{
    Figures *f = ctx;
    f->rows += t->rows;
    f->bytes += t->bytes;
    f->est_rows += t->est_rows;
    f->rejected += t->rejected;
    f->parts_done += t->parts_done;
    f->parts_total += t->parts_total;
    f->parts_failed += t->parts_failed;
}

/* "1,234,567" */
static const char *grouped(int64_t n, char *buf, size_t cap)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? 0 : n));
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* "1h02m", "3m05s", "12s" */
static const char *duration(double seconds, char *buf, size_t cap)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%lds", s);
    return buf;
}

/* The progress line: rows (of the estimate), bytes, speed, partitions, ETA, memory against the budget. */
static void describe(const Progress *p, const RunContext *run, const Figures *f, char *out, size_t cap)
{
    double elapsed = monotonic_seconds() - p->started;
    double rate = elapsed > 0 ? (double)atomic_load(&run->rows) / elapsed : 0;
    char rows[32], est[32], bytes[32], speed[32], eta[32], used[32], budget[32];
    uint64_t allocated = 0, resident = 0;
    budget_allocator_stats(&allocated, &resident);
    size_t n = (size_t)snprintf(out, cap, "%s rows", grouped(f->rows, rows, sizeof rows));
    if (f->est_rows > 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, " of about %s (%d%%)", grouped(f->est_rows, est, sizeof est),
                              (int)fmin(100.0, 100.0 * (double)f->rows / (double)f->est_rows));
    if (n < cap)
        n += (size_t)snprintf(out + n, cap - n, ", %s, %s rows/s, partitions %d/%d", format_size((uint64_t)f->bytes, bytes, sizeof bytes),
                              grouped((int64_t)rate, speed, sizeof speed), f->parts_done, f->parts_total);
    if (f->parts_failed > 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, " (%d failed)", f->parts_failed);
    if (n < cap) {
        bool known = rate > 0 && f->est_rows > f->rows;
        n += (size_t)snprintf(out + n, cap - n, ", ETA %s",
                              known ? duration((double)(f->est_rows - f->rows) / rate, eta, sizeof eta) : "-");
    }
    if (n < cap)
        snprintf(out + n, cap - n, "; memory %s of %s", format_size(allocated, used, sizeof used),
                 format_size(run->budget.total, budget, sizeof budget));
}

/* ---- the metrics file (note 3) ---- */

typedef struct Totals {
    int64_t rows, bytes;
    time_t last_success;      /* 0: none */
} Totals;

static time_t parse_utc(const char *iso)
{
    struct tm tm = {0};
    if (iso == NULL || sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                              &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

static void add_run(void *ctx, const RunRecord *r)
{
    Totals *t = ctx;
    t->rows += r->rows;
    t->bytes += r->bytes;
    if (r->status != NULL && strcmp(r->status, "complete") == 0) {
        time_t ended = parse_utc(r->ended_at);
        if (ended > t->last_success)
            t->last_success = ended;
    }
}

/* A label value: backslash, double quote and newline escaped, as the text format asks. */
static void label(StrBuf *out, const char *value)
{
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == '\\' || *c == '"')
            strbuf_add(out, "\\%c", *c);
        else if (*c == '\n')
            strbuf_add(out, "\\n");
        else
            strbuf_add(out, "%c", *c);
    }
}

static void metric_head(StrBuf *out, const char *name, const char *type, const char *help)
{
    strbuf_add(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric_value(StrBuf *out, const char *name, const char *state, const char *extra, double value)
{
    strbuf_add(out, "%s{state=\"", name);
    label(out, state);
    strbuf_add(out, "\"%s} %.17g\n", extra ? extra : "", value);
}

/* A per-table gauge: its name, its help, and which figures of the table's status it gives. */
typedef struct TableMetric {
    const char *name, *help;
    int nvalues;
    const char *statuses[4]; /* a status="…" label per value; NULL: none */
    void (*values)(const TableStatus *t, double *out);
} TableMetric;

static void table_rows(const TableStatus *t, double *out) { out[0] = (double)t->rows; }
static void table_estimate(const TableStatus *t, double *out) { out[0] = (double)t->est_rows; }
static void table_rejected(const TableStatus *t, double *out) { out[0] = (double)t->rejected; }
static void table_partitions(const TableStatus *t, double *out)
{
    out[0] = t->parts_done, out[1] = t->parts_failed, out[2] = t->parts_running, out[3] = t->parts_total;
}

static const TableMetric table_metrics[] = {
    {"ferry_table_rows", "Rows of the table's current copy (its plan, or its latest generation) durable in the sink.",
     1, {NULL}, table_rows},
    {"ferry_table_estimated_rows", "Rows the plan of the table's current copy estimated.", 1, {NULL}, table_estimate},
    {"ferry_table_rejected_rows", "Bad rows of the table's current copy set aside by the sink (on_reject = skip).", 1,
     {NULL}, table_rejected},
    {"ferry_table_partitions", "Partitions of the table's current copy, by status.", 4,
     {"done", "failed", "running", "total"}, table_partitions},
};

typedef struct MetricsCtx {
    StrBuf *out;
    const char *state;
    const TableMetric *metric;
} MetricsCtx;

static void table_metric(void *ctx, const TableStatus *t)
{
    MetricsCtx *m = ctx;
    double values[4];
    m->metric->values(t, values);
    for (int i = 0; i < m->metric->nvalues; i++) {
        StrBuf extra = {0};
        strbuf_add(&extra, ",table=\"");
        label(&extra, t->name);
        strbuf_add(&extra, "\"");
        if (m->metric->statuses[i] != NULL)
            strbuf_add(&extra, ",status=\"%s\"", m->metric->statuses[i]);
        metric_value(m->out, m->metric->name, m->state, extra.text, values[i]);
        free(extra.text);
    }
}

static void write_metrics(const Progress *p, const RunContext *run, int exit_code)
{
    const char *path = run->config->ferry.metrics_file;
    if (path == NULL || *path == '\0')
        return;
    FerryError err = {0};
    Totals totals = {0};
    StrBuf out = {.max = 64u << 20};
    const char *state = run->config->ferry.state;
    bool ok = state_runs_each(run->state, 1 << 30, add_run, &totals, &err);
    if (exit_code == FERRY_EXIT_OK)
        totals.last_success = time(NULL);

    metric_head(&out, "ferry_rows_copied_total", "counter",
                "Rows this job has copied, over every run the state file holds (killed runs included).");
    metric_value(&out, "ferry_rows_copied_total", state, NULL, (double)totals.rows);
    metric_head(&out, "ferry_bytes_copied_total", "counter", "Bytes of row text this job has copied, over every run.");
    metric_value(&out, "ferry_bytes_copied_total", state, NULL, (double)totals.bytes);
    for (size_t i = 0; ok && i < sizeof table_metrics / sizeof table_metrics[0]; i++) {
        metric_head(&out, table_metrics[i].name, "gauge", table_metrics[i].help);
        MetricsCtx m = {.out = &out, .state = state, .metric = &table_metrics[i]};
        ok = state_status_each(run->state, table_metric, &m, &err);
    }
    metric_head(&out, "ferry_run_retries", "gauge", "Retries in the latest run, by what failed.");
    static const struct {
        int domain;
        const char *name;
    } classes[] = {{FERRY_ERR_SOURCE, "source"}, {FERRY_ERR_SINK, "sink"}, {FERRY_ERR_STATE, "state"},
                   {FERRY_ERR_SYSTEM, "system"}, {FERRY_ERR_DATA, "data"}};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        char extra[48];
        snprintf(extra, sizeof extra, ",class=\"%s\"", classes[i].name);
        metric_value(&out, "ferry_run_retries", state, extra, (double)atomic_load(&run->retries[classes[i].domain]));
    }
    metric_head(&out, "ferry_run_rows", "gauge", "Rows the latest run copied.");
    metric_value(&out, "ferry_run_rows", state, NULL, (double)atomic_load(&run->rows));
    metric_head(&out, "ferry_run_running", "gauge", "1 while a run is copying, 0 once it has ended.");
    metric_value(&out, "ferry_run_running", state, NULL, exit_code < 0 ? 1 : 0);
    metric_head(&out, "ferry_run_duration_seconds", "gauge", "How long the latest run has copied.");
    metric_value(&out, "ferry_run_duration_seconds", state, NULL, monotonic_seconds() - p->started);
    if (exit_code >= 0) {
        metric_head(&out, "ferry_run_exit_code", "gauge", "The latest run's exit code (0 complete, 75 work left).");
        metric_value(&out, "ferry_run_exit_code", state, NULL, exit_code);
    }
    if (totals.last_success > 0) {
        metric_head(&out, "ferry_last_success_timestamp_seconds", "gauge", "When a run last ended complete.");
        metric_value(&out, "ferry_last_success_timestamp_seconds", state, NULL, (double)totals.last_success);
    }
    metric_head(&out, "ferry_memory_budget_bytes", "gauge", "The run's memory budget.");
    metric_value(&out, "ferry_memory_budget_bytes", state, NULL, (double)run->budget.total);
    metric_head(&out, "ferry_memory_peak_bytes", "gauge", "The most memory jemalloc held allocated in the latest run.");
    metric_value(&out, "ferry_memory_peak_bytes", state, NULL, (double)atomic_load(&run->peak_allocated));

    if (ok && !out.failed) {
        const char *slash = strrchr(path, '/');
        char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
        ok = file_write_atomic(*dir ? dir : "/", slash ? slash + 1 : path, out.text, out.len, "metrics_file", &err);
        free(dir);
    }
    if (!ok)
        log_warn("metrics_file %s not written: %s", path, out.failed ? "too large" : err.message);
    free(out.text);
}

/* ---- the run's progress ---- */

void progress_begin(Progress *p, const RunContext *run)
{
    double now = monotonic_seconds();
    *p = (Progress){.started = now, .next_draw = now + 1, .next_line = now + run->config->ferry.progress_interval};
}

void progress_tick(Progress *p, const RunContext *run)
{
    double now = monotonic_seconds();
    int interval = run->config->ferry.progress_interval;
    bool draw = log_is_terminal() && now >= p->next_draw;
    bool line = interval > 0 && now >= p->next_line;
    if (!draw && !line)
        return;
    Figures f = {0};
    FerryError err;
    if (!state_status_each(run->state, add_table, &f, &err))
        return; /* the next tick tries again; the workers meet the state's trouble themselves */
    char text[400];
    describe(p, run, &f, text, sizeof text);
    if (draw) {
        char live[420];
        snprintf(live, sizeof live, "ferry: %s", text);
        log_status_line(live);
        p->next_draw = now + 1;
    }
    if (line) {
        if (!log_is_terminal())
            log_info("progress: %s", text);
        write_metrics(p, run, -1);
        p->next_line = now + interval;
    }
}

void progress_end(Progress *p, const RunContext *run, int exit_code)
{
    log_status_line(NULL);
    write_metrics(p, run, exit_code);
}
