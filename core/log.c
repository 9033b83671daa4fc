/*
 * core/log.c — one line per event on standard error, under a lock so workers' lines never interleave.
 *
 * Design notes
 *  (1) log_format = text is "<time> ferry[<pid>] <LEVEL> <message>"; json is
 *      one object a line, {"time", "pid", "level", "message"}, for log
 *      systems that parse (journald's JSON, Loki, CloudWatch).
 *  (2) On a terminal, progress keeps one live line at the bottom: a log
 *      line first erases it and it is drawn again after, so the two never
 *      mix. Off a terminal there is no live line (progress logs instead).
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
static LogFormat log_format = LOG_TEXT;
static const char *const level_names[] = {"debug", "info", "warn", "error"}; /* as configured, and in JSON */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char status_line[512]; /* (2) what the live line shows; "" when none is drawn */

void log_set_level(LogLevel level) { log_threshold = level; }
void log_set_format(LogFormat format) { log_format = format; }
bool log_is_terminal(void) { return isatty(STDERR_FILENO) == 1; }

void log_status_line(const char *text)
{
    if (!log_is_terminal())
        return;
    pthread_mutex_lock(&log_lock);
    snprintf(status_line, sizeof status_line, "%s", text ? text : "");
    fprintf(stderr, "\r\033[K%s", status_line);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

/* A JSON string's body: quotes, backslashes and control characters escaped; other bytes as they are. */
static void json_escape(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)in; *c != '\0' && n + 7 < cap; c++) {
        if (*c == '"' || *c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*c;
        } else if (*c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *c);
        } else {
            out[n++] = (char)*c;
        }
    }
    out[n] = '\0';
}

bool log_level_parse(const char *name, LogLevel *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
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
    if (status_line[0] != '\0')
        fputs("\r\033[K", stderr);
    if (log_format == LOG_JSON) {
        char escaped[sizeof line * 6 + 1];
        json_escape(line, escaped, sizeof escaped);
        fprintf(stderr, "{\"time\":\"%s\",\"pid\":%d,\"level\":\"%s\",\"message\":\"%s\"}\n", stamp,
                (int)getpid(), level_names[level], escaped);
    } else {
        fprintf(stderr, "%s ferry[%d] %s %s\n", stamp, (int)getpid(), tags[level], line);
    }
    if (status_line[0] != '\0')
        fputs(status_line, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
