/*
 * agent/util.c — errors, logging, allocation and small parsing helpers used everywhere.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/common.h"

/* ---- errors ---- */

bool ferry_error(FerryError *err, FerryErrorDomain domain, int code, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    err->domain = domain;
    err->code = code;
    err->retryable = false;
    err->sqlstate[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

void ferry_error_prefix(FerryError *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[FERRY_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[FERRY_ERROR_MAX];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->message);
    memcpy(err->message, joined, sizeof err->message);
}

const char *ferry_error_domain_name(FerryErrorDomain domain)
{
    switch (domain) {
    case FERRY_ERR_NONE: return "none";
    case FERRY_ERR_CONFIG: return "config";
    case FERRY_ERR_SOURCE: return "source";
    case FERRY_ERR_SINK: return "sink";
    case FERRY_ERR_STATE: return "state";
    case FERRY_ERR_DATA: return "data";
    case FERRY_ERR_SYSTEM: return "system";
    case FERRY_ERR_STOPPED: return "stopped";
    case FERRY_ERR_BUG: return "bug";
    }
    return "unknown";
}

/* ---- logging ---- */

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

/* ---- allocation ---- */

static void out_of_memory(size_t size)
{
    /* Nothing can be done safely without memory: say so and stop. The state
     * file only ever holds committed checkpoints, so a rerun resumes. */
    fprintf(stderr, "ferry: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void xgrow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t grown = *cap ? *cap : 256;
    while (grown < need)
        grown *= 2;
    *buf = xrealloc(*buf, grown);
    *cap = grown;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void strbuf_add(StrBuf *buf, const char *fmt, ...)
{
    for (;;) {
        size_t room = buf->cap - buf->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf->text ? buf->text + buf->len : NULL, buf->text ? room : 0, fmt, ap);
        va_end(ap);
        if (buf->text != NULL && (size_t)n < room) {
            buf->len += (size_t)n;
            return;
        }
        buf->cap = (buf->cap ? buf->cap * 2 : 256) + (size_t)n;
        buf->text = xrealloc(buf->text, buf->cap);
        buf->text[buf->len] = '\0';
    }
}

/* ---- sizes and time ---- */

bool parse_size(const char *text, uint64_t *out)
{
    static const struct {
        const char *suffix;
        double factor;
    } units[] = {
        {"", 1},           {"b", 1},
        {"k", 1024.0},     {"kb", 1024.0},     {"kib", 1024.0},
        {"m", 1048576.0},  {"mb", 1048576.0},  {"mib", 1048576.0},
        {"g", 1073741824.0}, {"gb", 1073741824.0}, {"gib", 1073741824.0},
        {"t", 1099511627776.0}, {"tb", 1099511627776.0}, {"tib", 1099511627776.0},
    };
    char *end;
    double number = strtod(text, &end);
    if (end == text || !isfinite(number) || number < 0)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            double bytes = number * units[i].factor;
            if (bytes >= 18446744073709551615.0)
                return false;
            *out = (uint64_t)bytes;
            return true;
        }
    }
    return false;
}

const char *format_size(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

void utc_now_iso(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
