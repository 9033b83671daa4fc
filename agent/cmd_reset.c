/*
 * agent/cmd_reset.c — `ferry reset`: forget one table's plan and progress, or all; the next run copies again.
 */
#include <stdio.h>
#include <unistd.h>

#include "ferry/command.h"
#include "ferry/run.h"

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

const Command command_reset = {.name = "reset", .flags = COMMAND_TAKES_TABLE, .run = reset_command};
