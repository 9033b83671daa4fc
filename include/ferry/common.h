/*
 * include/ferry/common.h — errors, logging and exit codes shared by every part of ferry.
 *
 * Errors follow one rule: the layer that knows what failed fills a FerryError
 * (fixed size, no allocation) and returns false; callers that only pass it up
 * write nothing; the agent logs it once, with its context.
 */
#ifndef FERRY_COMMON_H
#define FERRY_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/limits.h"

#define FERRY_VERSION "0.1.0"

/* Exit codes: documented in README.md and `ferry --help`; keep the three in step. */
enum {
    FERRY_EXIT_OK = 0,        /* every table is complete */
    FERRY_EXIT_FAILED = 1,    /* a table failed for good; the others went on */
    FERRY_EXIT_USAGE = 2,     /* bad command line */
    FERRY_EXIT_INTERNAL = 70, /* a bug: an impossible state was reached */
    FERRY_EXIT_STATE = 74,    /* the state file cannot be read or written */
    FERRY_EXIT_RESUME = 75,   /* stopped with work left; running again resumes */
    FERRY_EXIT_LOCKED = 76,   /* another ferry run holds this state file */
    FERRY_EXIT_CONFIG = 78,   /* bad configuration, or a plan that conflicts with the state */
};

typedef enum {
    FERRY_ERR_NONE = 0,
    FERRY_ERR_CONFIG,  /* the configuration is wrong: fix it and rerun */
    FERRY_ERR_SOURCE,  /* the source database failed or refused */
    FERRY_ERR_SINK,    /* the sink failed */
    FERRY_ERR_STATE,   /* the state file failed */
    FERRY_ERR_DATA,    /* a row cannot be encoded */
    FERRY_ERR_SYSTEM,  /* the operating system refused (memory, files) */
    FERRY_ERR_STOPPED, /* a stop was requested */
    FERRY_ERR_BUG,     /* an impossible state */
} FerryErrorDomain;

typedef struct FerryError {
    FerryErrorDomain domain;
    int code;            /* errno, SQLite code, or 0 */
    bool retryable;      /* would trying again (later or now) help? */
    char sqlstate[6];    /* source errors: the SQLSTATE, or "" */
    int retry_after_s;   /* the server asked for at least this long before a retry (Retry-After); 0: no ask */
    char message[FERRY_ERROR_MAX];
} FerryError;

/* Fill err (if not NULL) and return false, so callers can `return ferry_error(...)`. */
bool ferry_error(FerryError *err, FerryErrorDomain domain, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix err->message with context ("table x: ..."), keeping domain and code. */
void ferry_error_prefix(FerryError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *ferry_error_domain_name(FerryErrorDomain domain);

/* ---- logging (core/log.c) ---- */

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } LogLevel;

typedef enum { LOG_TEXT = 0, LOG_JSON } LogFormat;

void log_set_level(LogLevel level);
void log_set_format(LogFormat format);
/*
 * A live status line on standard error when it is a terminal (progress):
 * drawn in place, cleared before any log line and redrawn after it; NULL
 * clears it. Does nothing when standard error is not a terminal.
 */
void log_status_line(const char *text);
bool log_is_terminal(void);
bool log_level_parse(const char *name, LogLevel *out);
void log_write(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

/* ---- allocation and growing strings (core/mem.c); sizes and clocks (core/util.c) ---- */

/* Allocation that cannot fail quietly: on exhaustion the process stops with a message. */
void *xmalloc(size_t size);
/* size bytes at an address that is a multiple of align (a power of two, at least a pointer's size). */
void *xmalloc_aligned(size_t align, size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
/*
 * Grow *buf (doubling from 256) until it holds `need` bytes; *cap follows.
 * False, the buffer untouched, when `need` is above the ceiling `max`.
 */
bool xgrow(char **buf, size_t *cap, size_t need, size_t max);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/*
 * A growing string for SQL and names built once per table or partition
 * (never per row), up to a ceiling: `max` bytes, or FERRY_STRBUF_MAX when 0.
 * An addition that would pass it fails, and so does every later one: the
 * text keeps what it had, and `failed` says it is not whole. Whoever uses
 * a text built from input (a key value, a filter) checks `failed` first.
 */
typedef struct StrBuf {
    char *text;               /* owned; "" once anything was added */
    size_t len, cap;
    size_t max;               /* the ceiling; 0: FERRY_STRBUF_MAX */
    bool failed;              /* an addition did not fit: the text is incomplete */
} StrBuf;

bool strbuf_add(StrBuf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool strbuf_vadd(StrBuf *buf, const char *fmt, va_list args);

/* Parse "64MB", "1.5GiB", "4096" (bytes) into bytes. */
bool parse_size(const char *text, uint64_t *out);
/* Format bytes as "12.3 MiB" into buf. */
const char *format_size(uint64_t bytes, char *buf, size_t cap);

/* Current UTC time as "2026-01-02T03:04:05Z". */
void utc_now_iso(char out[32]);

/*
 * A secret kept in a file (a key, a token, a password, a conninfo): its
 * first line, less trailing blanks, into out. A file others may read is
 * refused, naming the chmod that fixes it (or, after secret_files_policy
 * (false), warned of), as libpq does with .pgpass. Errors (FERRY_ERR_CONFIG)
 * name the file; the caller names what.
 */
bool secret_file_read(const char *path, char *out, size_t cap, FerryError *err);
/*
 * A file that holds a secret and whose mode is `mode`: false, with the
 * error, where others may read it and such files are refused; a warning
 * where they are only warned of. `what` leads the message (the file, or
 * "FILE:LINE: key 'K' holds a secret, and FILE").
 */
bool secret_file_mode_ok(const char *path, unsigned mode, const char *what, FerryError *err);
/* [ferry] secret_files: refuse (true, the default) or only warn of secret files others may read. */
void secret_files_policy(bool refuse);
/* A host name or address that is this machine: localhost, 127.x.y.z or ::1. */
bool host_is_loopback(const char *host);
/* Monotonic seconds. */
double monotonic_seconds(void);
/*
 * How many bytes at the start of `text` are well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF): len when all are.
 */
size_t utf8_valid_prefix(const char *text, size_t len);

#endif
