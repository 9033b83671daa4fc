/*
 * agent/cmd_status.c — `ferry status`: progress per table and the latest runs, as text or JSON.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ferry/command.h"
#include "ferry/format.h"
#include "ferry/run.h"

typedef struct StatusPrinter {
    const FerryConfig *config;
    bool json;
    int count;
    OutBuf out;
} StatusPrinter;

static bool stdout_drain(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)ctx;
    if (fwrite(data, 1, len, stdout) != len)
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot write to standard output");
    return true;
}

static void json_field(OutBuf *out, const char *name, const char *value, bool comma)
{
    outbuf_write(out, comma ? ",\"" : "\"", comma ? 2 : 1);
    outbuf_write(out, name, strlen(name));
    outbuf_write(out, "\":", 2);
    if (value == NULL)
        outbuf_write(out, "null", 4);
    else
        format_json_string(out, value, strlen(value));
}

static void json_number(OutBuf *out, const char *name, long long value)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, ",\"%s\":%lld", name, value);
    outbuf_write(out, buf, (size_t)n);
}

/* "incremental", "full", or NULL for a table no longer configured. */
static const char *table_mode(const FerryConfig *config, const char *name)
{
    for (int t = 0; t < config->ntables; t++)
        if (strcmp(config->tables[t].qualified, name) == 0)
            return config->tables[t].settings.mode == MODE_INCREMENTAL ? "incremental" : "full";
    return NULL;
}

/* Seconds from an ISO 8601 UTC time of this machine's clock to now; -1 when there is none. */
static long long seconds_since(const char *iso)
{
    struct tm tm = {0};
    if (iso == NULL || strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
        return -1;
    return (long long)(time(NULL) - timegm(&tm));
}

/*
 * How far the mark lags the source's clock now, in seconds: the source's
 * clock when the mark was captured ("2026-12-03 14:13:53.39+00", UTC: ferry's
 * sessions run in UTC) is that far behind now, plus watermark_lag for a time
 * watermark (its mark is the clock less that). Read on this machine's clock,
 * so off by any skew between the two; -1 when there is no mark.
 */
static long long mark_lag(const FerryConfig *config, const TableStatus *s)
{
    struct tm tm = {0};
    if (s->mark == NULL || s->mark_clock == NULL || strptime(s->mark_clock, "%Y-%m-%d %H:%M:%S", &tm) == NULL)
        return -1;
    long long lag = (long long)(time(NULL) - timegm(&tm));
    const TableConfig *tc = config_find_table(config, s->name);
    if (tc != NULL && tc->watermark.column != NULL && !tc->watermark.xmin && s->mark_of != NULL &&
        strstr(s->mark_of, " integer") == NULL)
        lag += tc->watermark.lag_s;
    return lag;
}

static void print_table_status(void *ctx, const TableStatus *s)
{
    StatusPrinter *p = ctx;
    const char *mode = table_mode(p->config, s->name);
    long long age = seconds_since(s->marked_at);
    long long lag = mark_lag(p->config, s);
    if (p->json) {
        OutBuf *out = &p->out;
        outbuf_write(out, p->count ? ",{" : "{", p->count ? 2 : 1);
        json_field(out, "table", s->name, false);
        json_field(out, "target", s->target, true);
        json_field(out, "key", s->key_columns, true);
        json_number(out, "partitions_total", s->parts_total);
        json_number(out, "partitions_done", s->parts_done);
        json_number(out, "partitions_failed", s->parts_failed);
        json_number(out, "estimated_rows", s->est_rows);
        json_number(out, "rows", s->rows);
        json_number(out, "bytes", s->bytes);
        json_number(out, "attempts", s->attempts);
        json_number(out, "rejected", s->rejected);
        json_field(out, "last_error", s->last_error, true);
        json_field(out, "mode", mode, true);
        json_number(out, "generation", s->generation);
        json_field(out, "watermark", s->mark_of, true);
        json_field(out, "mark", s->mark, true);
        json_field(out, "mark_source_clock", s->mark_clock, true);
        json_field(out, "marked_at", s->marked_at, true);
        json_number(out, "mark_age_seconds", age);
        json_number(out, "mark_lag_seconds", lag);
        json_number(out, "last_delta_rows", s->last_rows);
        json_number(out, "null_watermarks", s->nulls);
        json_field(out, "reconciled_at", s->reconciled_at, true);
        json_number(out, "reconciled_removed", s->reconciled_removed);
        json_field(out, "read_order", s->physical ? "physical" : "key", true);
        json_number(out, "catch_ups", s->catch_ups);
        outbuf_putc(out, '}');
    } else {
        char bytes[32];
        const char *state = s->parts_done == s->parts_total ? "complete"
                            : s->parts_failed > 0          ? "FAILED"
                                                           : "in progress";
        printf("%-32s %-11s %5d/%-5d %12lld %10s %8d", s->name, state, s->parts_done,
               s->parts_total, (long long)s->rows, format_size((uint64_t)s->bytes, bytes, sizeof bytes),
               s->attempts);
        if (s->rejected > 0)
            printf("  %lld rejected", (long long)s->rejected);
        printf("\n");
        if (s->last_error != NULL)
            printf("    last error: %s\n", s->last_error);
        if (s->physical)
            printf("    generation %lld is read in physical order (ranges of the heap's blocks)\n",
                   (long long)s->generation);
        if (s->catch_ups > 0)
            printf("    %lld catch-up generation(s): rows written while a copy was read under more than one snapshot, "
                   "read again (files: a key may appear again in a later generation; the later one wins)\n",
                   (long long)s->catch_ups);
        if (s->mark_of != NULL || (mode != NULL && strcmp(mode, "incremental") == 0)) {
            printf("    %s, generation %lld: mark %s (%s)", mode ? mode : "no longer configured",
                   (long long)s->generation, s->mark ? s->mark : "none yet", s->mark_of ? s->mark_of : "-");
            if (age >= 0)
                printf(", reached %lld s ago", age);
            if (lag >= 0)
                printf(", %lld s behind the source's clock", lag);
            if (s->last_rows >= 0)
                printf(", last delta %lld row(s)", (long long)s->last_rows);
            printf("\n");
            if (s->reconciled_at != NULL)
                printf("    last reconcile %s: %lld key(s) the source no longer has removed\n", s->reconciled_at,
                       (long long)s->reconciled_removed);
            if (s->nulls > 0)
                printf("    %lld row(s) have a NULL watermark: incremental runs cannot see their changes\n",
                       (long long)s->nulls);
        }
    }
    p->count++;
}

static void print_run(void *ctx, const RunRecord *r)
{
    StatusPrinter *p = ctx;
    if (p->json) {
        OutBuf *out = &p->out;
        outbuf_write(out, p->count ? ",{" : "{", p->count ? 2 : 1);
        json_field(out, "started_at", r->started_at, false);
        json_field(out, "ended_at", r->ended_at, true);
        json_field(out, "status", r->status, true);
        json_number(out, "rows", r->rows);
        json_number(out, "bytes", r->bytes);
        json_number(out, "exit_code", r->exit_code);
        outbuf_putc(out, '}');
    } else {
        printf("run %-5lld %s  %-20s  %-10s %12lld rows  exit %d\n", (long long)r->id, r->started_at,
               r->ended_at ? r->ended_at : "-", r->status, (long long)r->rows,
               r->exit_code);
    }
    p->count++;
}

static int status_command(const CommandArgs *args)
{
    const FerryConfig *config = args->config;
    bool json = args->json;
    struct stat st;
    if (stat(config->ferry.state, &st) != 0) {
        if (json)
            printf("{\"state\":null,\"tables\":[],\"runs\":[]}\n");
        else
            printf("no state file at %s: nothing has run yet\n", config->ferry.state);
        return FERRY_EXIT_OK;
    }
    StateStore *state;
    FerryError err;
    if (!state_open(config->ferry.state, &state, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_STATE;
    }
    StatusPrinter p = {.config = config, .json = json};
    outbuf_init(&p.out, 64 * 1024, stdout_drain, NULL);
    if (json) {
        outbuf_write(&p.out, "{", 1);
        json_field(&p.out, "state", config->ferry.state, false);
        outbuf_write(&p.out, ",\"tables\":[", 11);
    } else {
        printf("%-32s %-11s %11s %12s %10s %8s\n", "table", "state", "partitions", "rows", "bytes",
               "attempts");
    }
    bool ok = state_status_each(state, print_table_status, &p, &err);
    if (json)
        outbuf_write(&p.out, "],\"runs\":[", 10);
    else
        printf("\nlatest runs:\n");
    p.count = 0;
    ok = ok && state_runs_each(state, 5, print_run, &p, &err);
    if (json)
        outbuf_write(&p.out, "]}\n", 3);
    outbuf_flush(&p.out);
    outbuf_free(&p.out);
    fflush(stdout);
    state_close(state);
    if (!ok) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_STATE;
    }
    return FERRY_EXIT_OK;
}

/* ---- reset ---- */

const Command command_status = {.name = "status", .flags = COMMAND_TAKES_JSON, .run = status_command};
