/*
 * agent/cmd_reset.c — `ferry reset`: forget one table's plan and progress, or all (the next run copies again);
 * or, with --since, move an incremental table's mark back.
 */
#include <stdio.h>
#include <unistd.h>

#include "ferry/command.h"
#include "ferry/delta.h"
#include "ferry/run.h"

/*
 * --since VALUE: the table's mark becomes VALUE, read on the source as its
 * watermark's type, and its generation ends there; the next run copies the
 * rows changed since VALUE (less lookback).
 */
static int reset_since(const CommandArgs *args, StateStore *state, FerryError *err)
{
    const FerryConfig *config = args->config;
    const TableConfig *tc = config_find_table(config, args->table);
    if (tc == NULL) {
        fprintf(stderr, "ferry: --since: table %s is not in %s\n", args->table, config->path);
        return FERRY_EXIT_USAGE;
    }
    PlannedTable planned = {0};
    bool found = false;
    if (!state_table_find(state, tc->qualified, &planned, &found, err)) {
        fprintf(stderr, "ferry: %s\n", err->message);
        return FERRY_EXIT_STATE;
    }
    if (!found) {
        fprintf(stderr, "ferry: --since: table %s has not been copied yet: its first run copies every row\n",
                tc->qualified);
        return FERRY_EXIT_USAGE;
    }
    SourceConn *conn = NULL;
    TableShape shape = {0};
    MarkKind kind = MARK_NONE;
    MarkCapture mark = {0};
    int code = FERRY_EXIT_OK;
    if (!source_connect(&config->source, &conn, err) || !plan_discover(conn, tc, &shape, err) ||
        !delta_kind(conn, config->path, tc, &shape, &kind, err) ||
        !delta_mark_from(conn, tc, kind, args->since, &mark, err)) {
        fprintf(stderr, "ferry: %s\n", err->message);
        code = err->domain == FERRY_ERR_CONFIG ? FERRY_EXIT_USAGE : FERRY_EXIT_FAILED;
    } else if (!state_mark_set(state, planned.id, &mark, err)) {
        fprintf(stderr, "ferry: %s\n", err->message);
        code = FERRY_EXIT_STATE;
    } else {
        printf("reset %s: its mark is now %s (%s); the next run copies the rows changed since\n", tc->qualified,
               mark.value, mark.of);
    }
    mark_capture_clear(&mark);
    table_shape_free(&shape);
    source_close(conn);
    planned_table_clear(&planned);
    return code;
}

static int reset_command(const CommandArgs *args)
{
    const FerryConfig *config = args->config;
    const char *table = args->table;
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
    if (ok && args->since != NULL) {
        int code = reset_since(args, state, &err);
        state_close(state);
        close(lock_fd);
        return code;
    }
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

const Command command_reset = {.name = "reset", .flags = COMMAND_TAKES_TABLE | COMMAND_TAKES_SINCE, .run = reset_command};
