/*
 * agent/main.c — the command line: run, plan, status, reset; signals; exit codes.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/format.h"
#include "ferry/run.h"

/*
 * jemalloc reads this at start-up. Dirty pages are handed back to the OS
 * after a second and muzzy pages at once, so memory freed after a wide batch
 * leaves RSS instead of lingering; few arenas keep per-thread caches small.
 */
const char *malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:4,tcache_max:16384";

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_requested) {
        /* A second signal: leave now. The state holds only committed checkpoints. */
        static const char msg[] = "ferry: second signal, exiting at once\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(FERRY_EXIT_RESUME);
    }
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const char usage_text[] =
    "usage: ferry COMMAND -c FILE [options]\n"
    "\n"
    "Copy tables out of PostgreSQL into a sink, in memory-bounded batches, resuming\n"
    "from the last checkpoint after any failure.\n"
    "\n"
    "commands:\n"
    "  run    -c FILE             copy every configured table; resumes unfinished work\n"
    "  plan   -c FILE             show tables, keys, estimated rows and width, partitions\n"
    "                             and batch sizes; changes nothing\n"
    "  status -c FILE [--json]    progress per table: partitions, rows, bytes, attempts,\n"
    "                             last error; and the latest runs\n"
    "  verify -c FILE             per partition, compare the source's row count and keys\n"
    "                             with what the sink holds; exit 1 on any mismatch\n"
    "  reset  -c FILE [TABLE]     forget the progress of one table (schema.name) or of all;\n"
    "                             the next run plans it again and rewrites its output\n"
    "\n"
    "options:\n"
    "  -c, --config FILE          the configuration file (INI; see README.md)\n"
    "      --json                 status: print JSON\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n"
    "\n"
    "exit codes:\n"
    "   0  every table is complete\n"
    "   1  a table failed (see `ferry status`); the other tables were copied;\n"
    "      verify: a partition differs\n"
    "   2  bad command line\n"
    "  70  internal error (a bug)\n"
    "  74  the state file cannot be read or written\n"
    "  75  stopped with work left (signal, lost connection): run again to resume\n"
    "  76  another ferry run is using the same state file\n"
    "  78  bad configuration, or a configuration that conflicts with the state\n";

/* ---- plan ---- */

static int plan_command(const FerryConfig *config)
{
    FerryError err;
    MemoryBudget budget;
    if (!budget_measure("", config->ferry.memory_fraction, config->ferry.memory_limit, &budget, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_CONFIG;
    }
    SourceConn *conn;
    if (!source_connect(&config->source, &conn, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_RESUME;
    }
    char why[160];
    int workers = run_workers(config, conn, budget.total, why, sizeof why);
    uint64_t batch_bytes = budget_batch_bytes(&budget, workers);
    char b1[32], b2[32], b3[32];
    printf("memory budget: %s (%.2f of %s, from %s); %d worker(s) (%s); batches up to %s\n",
           format_size(budget.total, b1, sizeof b1), budget.fraction,
           format_size(budget.base, b2, sizeof b2), budget.base_from, workers, why,
           format_size(batch_bytes, b3, sizeof b3));
    int exit_code = FERRY_EXIT_OK;
    for (int t = 0; t < config->ntables; t++) {
        const TableConfig *tc = &config->tables[t];
        TablePlan plan;
        bool planned = plan_table(conn, tc, &plan, &err);
        if (planned && !sink_check_table(config->sink, config->sink_settings, &plan.shape, &err)) {
            plan_free(&plan);
            planned = false;
        }
        if (!planned) {
            fprintf(stderr, "ferry: %s\n", err.message);
            exit_code = err.domain == FERRY_ERR_CONFIG ? FERRY_EXIT_CONFIG : FERRY_EXIT_FAILED;
            continue;
        }
        printf("\ntable %s -> %s\n", tc->qualified, plan.shape.target);
        printf("  key:        ");
        for (int k = 0; k < plan.shape.nkeys; k++)
            printf("%s%s", k ? ", " : "", plan.shape.cols[plan.shape.key_col[k]].name);
        printf(" (%s)\n", tc->settings.key ? "declared" : "primary key");
        printf("  columns:    ");
        for (int c = 0; c < plan.shape.nout; c++)
            printf("%s%s %s", c ? ", " : "", plan.shape.cols[c].name, plan.shape.cols[c].type_name);
        printf("\n  rows:       about %.0f\n", plan.est_rows);
        printf("  row width:  %.0f B average, %.0f B largest sampled (text form)\n", plan.width_avg,
               plan.width_max);
        printf("  partitions: %d (about %.0f rows each, bounds from sampled key quantiles)\n",
               plan.nparts, plan.est_rows / plan.nparts);
        BatchSizer sizer;
        batch_sizer_init(&sizer, batch_bytes, plan.width_avg, plan.shape.ncols);
        printf("  batches:    FETCH %ld rows, at most %s each\n", batch_sizer_rows(&sizer),
               format_size(batch_bytes, b1, sizeof b1));
        plan_free(&plan);
    }
    source_close(conn);
    return exit_code;
}

/* ---- status ---- */

typedef struct StatusPrinter {
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

static void print_table_status(void *ctx, const TableStatus *s)
{
    StatusPrinter *p = ctx;
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

static int status_command(const FerryConfig *config, bool json)
{
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
    StatusPrinter p = {.json = json};
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

static int reset_command(const FerryConfig *config, const char *table)
{
    if (table != NULL && config_find_table(config, table) == NULL)
        fprintf(stderr, "ferry: note: table %s is not in %s\n", table, config->path);
    /* The same lock as `run`: never reset under a running copy. */
    StateStore *state;
    FerryError err;
    int lock_fd = run_lock_state(config->ferry.state, &err);
    if (lock_fd < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return lock_fd == -1 ? FERRY_EXIT_LOCKED : FERRY_EXIT_STATE;
    }
    int removed = 0;
    bool ok = state_open(config->ferry.state, &state, &err);
    if (ok) {
        ok = state_reset(state, table, &removed, &err);
        state_close(state);
    }
    close(lock_fd);
    if (!ok) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_STATE;
    }
    if (table != NULL)
        printf("reset %s: %s\n", table,
               removed ? "its plan and progress are forgotten; the next run copies it again"
                       : "it had no plan");
    else
        printf("reset: %d table(s) forgotten; the next run copies everything again\n", removed);
    return FERRY_EXIT_OK;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    bool json = false;
    /* Options may stand before the command or after it: ferry -c FILE run, ferry run -c FILE. */
    const char *command = NULL;
    for (int pass = 0; pass < 2; pass++) {
        int opt;
        while ((opt = getopt_long(argc, argv, pass == 0 ? "+c:hV" : "c:hV", options, NULL)) != -1) {
            switch (opt) {
            case 'c': config_path = optarg; break;
            case 'j': json = true; break;
            case 'h': fputs(usage_text, stdout); return FERRY_EXIT_OK;
            case 'V': printf("ferry %s\n", FERRY_VERSION); return FERRY_EXIT_OK;
            default: fputs(usage_text, stderr); return FERRY_EXIT_USAGE;
            }
        }
        if (pass == 0) {
            if (optind >= argc) {
                fputs(usage_text, stderr);
                return FERRY_EXIT_USAGE;
            }
            command = argv[optind++];
        }
    }
    const char *argument = optind < argc ? argv[optind++] : NULL;
    bool known = strcmp(command, "run") == 0 || strcmp(command, "plan") == 0 ||
                 strcmp(command, "status") == 0 || strcmp(command, "reset") == 0 ||
                 strcmp(command, "verify") == 0;
    if (!known) {
        fprintf(stderr, "ferry: unknown command \"%s\"\n\n%s", command, usage_text);
        return FERRY_EXIT_USAGE;
    }
    if (config_path == NULL) {
        fprintf(stderr, "ferry: %s needs a configuration file: ferry %s -c FILE\n", command, command);
        return FERRY_EXIT_USAGE;
    }
    if (optind < argc || (argument != NULL && strcmp(command, "reset") != 0)) {
        fprintf(stderr, "ferry: unexpected argument \"%s\"\n", optind < argc ? argv[optind] : argument);
        return FERRY_EXIT_USAGE;
    }
    if (json && strcmp(command, "status") != 0) {
        fprintf(stderr, "ferry: --json applies to status only\n");
        return FERRY_EXIT_USAGE;
    }

    FerryConfig *config;
    FerryError err;
    if (!config_load(config_path, &config, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_CONFIG;
    }
    install_signals();
    int code;
    if (strcmp(command, "run") == 0)
        code = run_command(config, &stop_requested);
    else if (strcmp(command, "plan") == 0)
        code = plan_command(config);
    else if (strcmp(command, "status") == 0)
        code = status_command(config, json);
    else if (strcmp(command, "verify") == 0)
        code = verify_command(config);
    else
        code = reset_command(config, argument);
    config_free(config);
    return code;
}
