/*
 * core/log.c — one line per event on standard error, under a lock so workers' lines never interleave.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ferry/common.h"

static LogLevel log_threshold = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(LogLevel level) { log_threshold = level; }

bool log_level_parse(const char *name, LogLevel *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (LogLevel)i;
            return true;
        }
    }
    return false;
}

void log_write(LogLevel level, const char *fmt, ...)
{
    static const char *const tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < log_threshold)
        return;
    char stamp[32];
    utc_now_iso(stamp);
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per line under a lock, so workers' lines never interleave. */
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s ferry[%d] %s %s\n", stamp, (int)getpid(), tags[level], line);
    pthread_mutex_unlock(&log_lock);
}
