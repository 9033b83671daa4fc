/*
 * agent/main.c — the command line: options, the command table, signals, exit codes.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/command.h"
#include "ferry/manual.h"
#include "ferry/run.h"

/* Every command, found by name (one file each: agent/cmd_*.c). */
static const Command *const commands[] = {&command_run, &command_plan, &command_status, &command_verify,
                                          &command_reset};

/*
 * jemalloc reads this at start-up. Dirty pages are handed back to the OS
 * after a second and muzzy pages at once, so memory freed after a wide batch
 * leaves RSS instead of lingering. One arena: a worker and its writer thread
 * take turns with the same wide rows (libpq's buffer, a batch's arena, a
 * sink's document), and what one frees the other reuses at once; with an
 * arena each, two workers' wide rows at 64MB peaked at 76–82 MiB, with one
 * at 65–71 MiB. Large allocations are few, so the one lock costs nothing
 * measurable; small ones come from per-thread caches.
 */
const char *malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:1,tcache_max:16384";

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
    "  run    -c FILE             copy every configured table; resumes unfinished work;\n"
    "                             incremental tables: copy what changed since the last run\n"
    "  run    -c FILE --full TABLE  and copy TABLE whole again, as a new generation\n"
    "  run    -c FILE --take-over TABLE\n"
    "                             and make TABLE's output this job's, though another job\n"
    "                             (another state file) wrote it: its files are replaced\n"
    "  plan   -c FILE             show tables, keys, estimated rows and width, partitions\n"
    "                             and batch sizes; changes nothing\n"
    "  status -c FILE [--json]    progress per table: partitions, rows, bytes, attempts,\n"
    "                             last error; and the latest runs\n"
    "  verify -c FILE             per partition, compare the source's row count and keys\n"
    "                             with what the sink holds; exit 1 on any mismatch\n"
    "  reset  -c FILE [TABLE]     forget the progress of one table (schema.name) or of all;\n"
    "                             the next run plans it again and rewrites its output\n"
    "  reset  -c FILE --since VALUE TABLE\n"
    "                             an incremental TABLE's mark becomes VALUE: the next run\n"
    "                             copies the rows changed since VALUE\n"
    "\n"
    "options:\n"
    "  -c, --config FILE          the configuration file (INI; see README.md)\n"
    "      --json                 status: print JSON\n"
    "      --full                 run: TABLE is copied whole (see above)\n"
    "      --take-over            run: TABLE's output becomes this job's (see above)\n"
    "      --since VALUE          reset: the mark TABLE's next run reads after\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n"
    "      --man                  the manual page, in roff (man -l <(ferry --man))\n"
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

/* ---- main ---- */

/*
 * Before any secret is read: no core file (it would hold the process's
 * memory, secrets with it), and the process not dumpable, so that other
 * processes of the same user cannot read its memory or /proc/PID/environ
 * (a PGPASSWORD in it) either. ferry reads its own /proc/self files as before.
 */
static void keep_secrets_in(void)
{
    const struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"full", no_argument, NULL, 'F'},
        {"take-over", no_argument, NULL, 'T'},
        {"since", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"man", no_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    bool json = false, full = false, take_over = false;
    const char *since = NULL;
    /* Options may stand before the command or after it: ferry -c FILE run, ferry run -c FILE. */
    const char *command = NULL;
    for (int pass = 0; pass < 2; pass++) {
        int opt;
        while ((opt = getopt_long(argc, argv, pass == 0 ? "+c:hV" : "c:hV", options, NULL)) != -1) {
            switch (opt) {
            case 'c': config_path = optarg; break;
            case 'j': json = true; break;
            case 'F': full = true; break;
            case 'T': take_over = true; break;
            case 'S': since = optarg; break;
            case 'h': fputs(usage_text, stdout); return FERRY_EXIT_OK;
            case 'V': printf("ferry %s\n", FERRY_VERSION); return FERRY_EXIT_OK;
            case 'M': manual_write(stdout, usage_text, FERRY_VERSION); return FERRY_EXIT_OK;
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
    const Command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i]->name, command) == 0)
            cmd = commands[i];
    if (cmd == NULL) {
        fprintf(stderr, "ferry: unknown command \"%s\"\n\n%s", command, usage_text);
        return FERRY_EXIT_USAGE;
    }
    if (config_path == NULL) {
        fprintf(stderr, "ferry: %s needs a configuration file: ferry %s -c FILE\n", command, command);
        return FERRY_EXIT_USAGE;
    }
    bool takes_table = (cmd->flags & COMMAND_TAKES_TABLE) || (full && (cmd->flags & COMMAND_TAKES_FULL)) ||
                       (take_over && (cmd->flags & COMMAND_TAKES_TAKE_OVER));
    if (optind < argc || (argument != NULL && !takes_table)) {
        fprintf(stderr, "ferry: unexpected argument \"%s\"\n", optind < argc ? argv[optind] : argument);
        return FERRY_EXIT_USAGE;
    }
    if (json && !(cmd->flags & COMMAND_TAKES_JSON)) {
        fprintf(stderr, "ferry: --json applies to status only\n");
        return FERRY_EXIT_USAGE;
    }
    if (full && (!(cmd->flags & COMMAND_TAKES_FULL) || argument == NULL)) {
        fprintf(stderr, "ferry: --full applies to run, with the table to copy whole: ferry run -c FILE --full "
                        "schema.name\n");
        return FERRY_EXIT_USAGE;
    }
    if (take_over && (!(cmd->flags & COMMAND_TAKES_TAKE_OVER) || argument == NULL)) {
        fprintf(stderr, "ferry: --take-over applies to run, with the table whose output becomes this job's: ferry "
                        "run -c FILE --take-over schema.name\n");
        return FERRY_EXIT_USAGE;
    }
    if (since != NULL && (!(cmd->flags & COMMAND_TAKES_SINCE) || argument == NULL)) {
        fprintf(stderr, "ferry: --since applies to reset, with the table whose mark it sets: ferry reset -c FILE "
                        "--since VALUE schema.name\n");
        return FERRY_EXIT_USAGE;
    }

    keep_secrets_in();
    FerryConfig *config;
    FerryError err;
    if (!config_load(config_path, &config, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_CONFIG;
    }
    install_signals();
    const CommandArgs args = {
        .config = config,
        .table = argument,
        .json = json,
        .full = full,
        .take_over = take_over,
        .since = since,
        .stop = &stop_requested,
    };
    int code = cmd->run(&args);
    config_free(config);
    return code;
}
