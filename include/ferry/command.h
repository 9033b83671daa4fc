/*
 * include/ferry/command.h — ferry's commands: one file each (agent/cmd_*.c), found by name in one
 * table (agent/main.c), so a new command is one file and one line.
 */
#ifndef FERRY_COMMAND_H
#define FERRY_COMMAND_H

#include <signal.h>
#include <stdbool.h>

#include "ferry/config.h"

typedef struct CommandArgs {
    const FerryConfig *config;       /* borrowed: loaded and checked */
    const char *table;               /* the command's TABLE argument (reset, run --full, run --take-over), or NULL */
    bool json;                       /* --json (status) */
    bool full;                       /* --full (run): TABLE is read whole into a new generation */
    bool take_over;                  /* --take-over (run): TABLE's output, another job's, becomes this one's */
    const char *since;               /* --since VALUE (reset): TABLE's mark becomes VALUE; or NULL */
    volatile sig_atomic_t *stop;     /* set by the first SIGINT or SIGTERM */
} CommandArgs;

enum {
    COMMAND_TAKES_TABLE = 1u << 0,   /* an optional TABLE argument */
    COMMAND_TAKES_JSON = 1u << 1,    /* --json */
    COMMAND_TAKES_FULL = 1u << 2,    /* --full TABLE */
    COMMAND_TAKES_SINCE = 1u << 3,   /* --since VALUE TABLE */
    COMMAND_TAKES_TAKE_OVER = 1u << 4, /* --take-over TABLE */
};

typedef struct Command {
    const char *name;
    unsigned flags;
    /* Returns the exit code (common.h); prints what the user asked for, errors once. */
    int (*run)(const CommandArgs *args);
} Command;

extern const Command command_run, command_plan, command_status, command_verify, command_reset;

#endif
