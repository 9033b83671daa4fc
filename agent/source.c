/*
 * agent/source.c — libpq: connecting, classifying failures, and reading a cursor in bounded batches.
 *
 * Design notes
 *  (1) The conninfo is a secret: it is passed to libpq and nowhere else; errors
 *      carry libpq's message, which never holds the password.
 *  (2) Keepalives and a TCP user timeout are set on every connection so a
 *      dead network is noticed; the conninfo can override them.
 *  (3) The cursor lives in a READ ONLY, REPEATABLE READ transaction: one
 *      snapshot for the whole partition, and no way to change the source.
 *  (4) Rows arrive in single-row mode and are copied into the batch arena at
 *      once, so memory is bounded by the batch limit plus one row whatever
 *      FETCH size is asked for (see source.h).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fault.h"
#include "ferry/source.h"

struct SourceConn {
    PGconn *pg;
    int read_timeout_ms;
    pthread_mutex_t cancel_lock;
    PGcancel *cancel;         /* owned; guarded by cancel_lock */
};

/*
 * Every setting that changes the text of a value is pinned, whatever the
 * server, database or role defaults are (batch.h, note 1): the sinks parse
 * exactly these forms, and a resume reads keys back in the form it stored.
 */
static const char *const session_setup =
    "SET client_encoding = 'UTF8';"
    "SET DateStyle = 'ISO, YMD';"
    "SET IntervalStyle = 'postgres';"
    "SET lc_monetary = 'C';"
    "SET TimeZone = 'UTC';"
    "SET extra_float_digits = 1;"
    "SET bytea_output = 'hex';"
    "SET application_name = 'ferry'";

bool source_sqlstate_retryable(const char *sqlstate)
{
    if (sqlstate == NULL || sqlstate[0] == '\0')
        return true; /* no SQLSTATE: the connection itself failed */
    static const char *const retryable[] = {
        "57P01", /* admin_shutdown, pg_terminate_backend */
        "57P02", /* crash_shutdown */
        "57P03", /* cannot_connect_now */
        "57014", /* query_canceled, statement_timeout */
        "40001", /* serialization_failure, replica recovery conflicts */
        "40P01", /* deadlock_detected */
        "55P03", /* lock_not_available */
        "25P03", /* idle_in_transaction_session_timeout */
    };
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0)
        return true; /* connection exceptions; insufficient resources */
    for (size_t i = 0; i < sizeof retryable / sizeof retryable[0]; i++)
        if (strcmp(sqlstate, retryable[i]) == 0)
            return true;
    return false;
}

bool source_error_is_timeout(const FerryError *err)
{
    return err->domain == FERRY_ERR_SOURCE && strcmp(err->sqlstate, "57014") == 0;
}

bool source_error(SourceConn *conn, const PGresult *result, const char *what, FerryError *err)
{
    const char *message = result ? PQresultErrorMessage(result) : NULL;
    if (message == NULL || *message == '\0')
        message = conn && conn->pg ? PQerrorMessage(conn->pg) : "no connection";
    const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    char text[FERRY_ERROR_MAX];
    snprintf(text, sizeof text, "%s", message);
    /* libpq's messages end in a newline and may span lines: keep one line. */
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = (p[1] == '\0') ? '\0' : ' ';
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == ' ')
        text[--len] = '\0';
    ferry_error(err, FERRY_ERR_SOURCE, 0, "%s: %s%s%s%s", what, text, sqlstate ? " (SQLSTATE " : "",
                sqlstate ? sqlstate : "", sqlstate ? ")" : "");
    if (err != NULL) {
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", sqlstate ? sqlstate : "");
        bool broken = conn == NULL || conn->pg == NULL || PQstatus(conn->pg) != CONNECTION_OK;
        /* Redshift's workload manager aborts queries with a message, not a class-57 SQLSTATE. */
        bool wlm = strstr(text, "cancelled by WLM") != NULL || strstr(text, "WLM abort") != NULL;
        err->retryable = broken || wlm || source_sqlstate_retryable(sqlstate);
    }
    return false;
}

/*
 * Wait for bytes from the server and take them in. A server that sends
 * nothing for read_timeout is given up on: a frozen server or a silent
 * network would otherwise hold ferry forever.
 */
static bool wait_readable(SourceConn *conn, FerryError *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = PQsocket(conn->pg), .events = POLLIN};
        int rc = poll(&pfd, 1, conn->read_timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0) {
            ferry_error(err, FERRY_ERR_SOURCE, ETIMEDOUT,
                        "no data from the source for %d s: dropping the connection",
                        conn->read_timeout_ms / 1000);
            err->retryable = true;
            return false;
        }
        if (rc < 0 || !PQconsumeInput(conn->pg))
            return source_error(conn, NULL, "receive", err);
        return true;
    }
}

/* Wait until a whole result (or row) can be taken without blocking. */
static bool await_result(SourceConn *conn, FerryError *err)
{
    while (PQisBusy(conn->pg))
        if (!wait_readable(conn, err))
            return false;
    return true;
}

/*
 * Send a statement and wait for its results within read_timeout (PQexec would
 * wait forever on a frozen server). Returns the last result; NULL with err
 * set when the wait failed.
 */
static PGresult *exec_wait(SourceConn *conn, const char *sql, int nparams, const char *const *params,
                           FerryError *err)
{
    /* Without parameters the simple protocol, which allows several statements in one string. */
    int sent = nparams == 0 ? PQsendQuery(conn->pg, sql)
                            : PQsendQueryParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!sent) {
        source_error(conn, NULL, "send", err);
        return NULL;
    }
    PGresult *last = NULL;
    for (;;) {
        if (!await_result(conn, err)) {
            PQclear(last);
            return NULL;
        }
        PGresult *res = PQgetResult(conn->pg);
        if (res == NULL)
            break;
        PQclear(last);
        last = res;
    }
    if (last == NULL)
        source_error(conn, NULL, "query", err);
    return last;
}

bool source_connect(const SourceSettings *settings, SourceConn **out, FerryError *err)
{
    *out = NULL;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", settings->connect_timeout);
    /* Earlier keywords are defaults the conninfo (expanded from dbname) may override. */
    const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "fallback_application_name",
                          "dbname", NULL};
    const char *values[] = {timeout, "1", "30", "10", "3", "60000", "ferry",
                            settings->conninfo && *settings->conninfo ? settings->conninfo : NULL, NULL};
    SourceConn *conn = xcalloc(1, sizeof *conn);
    conn->read_timeout_ms = settings->read_timeout * 1000;
    pthread_mutex_init(&conn->cancel_lock, NULL);
    conn->pg = PQconnectdbParams(keys, values, 1);
    if (conn->pg == NULL) {
        source_close(conn);
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "connect: out of memory");
    }
    if (PQstatus(conn->pg) != CONNECTION_OK) {
        source_error(conn, NULL, "cannot connect to the source", err);
        /* libpq gives no SQLSTATE for a failed connection: refusals that a
         * retry cannot cure are told by their message. */
        static const char *const fatal[] = {"password authentication failed", "no pg_hba.conf entry",
                                            "does not exist", "password is required",
                                            "authentication method", "permission denied"};
        err->retryable = true;
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
            if (strstr(err->message, fatal[i]) != NULL)
                err->retryable = false;
        source_close(conn);
        return false;
    }
    PGresult *res = exec_wait(conn, session_setup, 0, NULL, err);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        if (res != NULL)
            source_error(conn, res, "session setup", err);
        PQclear(res);
        source_close(conn);
        return false;
    }
    PQclear(res);
    conn->cancel = PQgetCancel(conn->pg);
    *out = conn;
    return true;
}

void source_close(SourceConn *conn)
{
    if (conn == NULL)
        return;
    pthread_mutex_lock(&conn->cancel_lock);
    if (conn->cancel != NULL)
        PQfreeCancel(conn->cancel);
    conn->cancel = NULL;
    pthread_mutex_unlock(&conn->cancel_lock);
    PQfinish(conn->pg);
    pthread_mutex_destroy(&conn->cancel_lock);
    free(conn);
}

bool source_idle(SourceConn *conn)
{
    return conn != NULL && PQstatus(conn->pg) == CONNECTION_OK &&
           PQtransactionStatus(conn->pg) == PQTRANS_IDLE;
}

void source_cancel(SourceConn *conn)
{
    char buf[256];
    pthread_mutex_lock(&conn->cancel_lock);
    if (conn->cancel != NULL)
        PQcancel(conn->cancel, buf, sizeof buf);
    pthread_mutex_unlock(&conn->cancel_lock);
}

bool source_query(SourceConn *conn, const char *sql, int nparams, const char *const *params,
                  PGresult **out, FerryError *err)
{
    PGresult *res = exec_wait(conn, sql, nparams, params, err);
    if (res == NULL) {
        *out = NULL;
        return false;
    }
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        source_error(conn, res, "query", err);
        PQclear(res);
        *out = NULL;
        return false;
    }
    *out = res;
    return true;
}

bool source_connection_room(SourceConn *conn, int *room, const char **limit, FerryError *err)
{
    /* NULL where there is no limit; pg_stat_activity shows every session's user and database. */
    static const char sql[] =
        "SELECT current_setting('max_connections')::int"
        "     - current_setting('superuser_reserved_connections')::int"
        "     - coalesce(current_setting('reserved_connections', true)::int, 0)"
        "     - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,"
        "  (SELECT rolconnlimit - (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user)::int"
        "     FROM pg_roles WHERE rolname = current_user AND rolconnlimit >= 0),"
        "  (SELECT datconnlimit - (SELECT count(*) FROM pg_stat_activity"
        "                          WHERE datname = current_database())::int"
        "     FROM pg_database WHERE datname = current_database() AND datconnlimit >= 0)";
    static const char *const names[] = {"max_connections", "the role's CONNECTION LIMIT",
                                        "the database's CONNECTION LIMIT"};
    PGresult *res;
    if (!source_query(conn, sql, 0, NULL, &res, err))
        return false;
    *room = INT_MAX;
    *limit = NULL;
    for (int i = 0; i < 3 && PQntuples(res) == 1; i++) {
        if (PQgetisnull(res, 0, i))
            continue;
        int value = atoi(PQgetvalue(res, 0, i));
        if (value < *room) {
            *room = value < 0 ? 0 : value;
            *limit = names[i];
        }
    }
    PQclear(res);
    return true;
}

static bool command(SourceConn *conn, const char *sql, FerryError *err)
{
    PGresult *res = exec_wait(conn, sql, 0, NULL, err);
    if (res == NULL)
        return false;
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        source_error(conn, res, sql, err);
    PQclear(res);
    return ok;
}

/* Drain what is left of a FETCH so the connection can be used or closed cleanly (within read_timeout). */
static void drain(SourceConn *conn)
{
    FerryError ignored;
    PGresult *res;
    while (await_result(conn, &ignored) && (res = PQgetResult(conn->pg)) != NULL)
        PQclear(res);
}

/*
 * Pay the batch's pool for a row of `bytes` before copying it: a batch that
 * has rows ends when the pool cannot pay; an empty one waits for the pool.
 * A row wider than the sink's buffer is paid again for each copy the sink
 * makes of it while writing (batch.h, wide_copies).
 */
static bool row_paid_for(RowBatch *batch, uint64_t bytes)
{
    uint64_t wide = bytes > FERRY_SINK_BUFFER ? (bytes - FERRY_SINK_BUFFER) * batch->wide_copies : 0;
    return batch_reserve(batch, bytes + wide + (uint64_t)batch->ncols * FERRY_VALUE_OVERHEAD,
                         batch->nrows == 0);
}

/* Take the next result within read_timeout and check that it has the status wanted. */
static bool next_result_is(SourceConn *conn, ExecStatusType want, const char *what, FerryError *err)
{
    if (!await_result(conn, err))
        return false;
    PGresult *res = PQgetResult(conn->pg);
    bool ok = PQresultStatus(res) == want;
    if (!ok)
        source_error(conn, res, what, err);
    PQclear(res);
    return ok;
}

static bool copy_open(SourceConn *conn, const char *query, SourceCursor *cursor, FerryError *err)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "COPY (%s) TO STDOUT", query);
    int sent = PQsendQuery(conn->pg, sql.text);
    free(sql.text);
    if (!sent)
        return source_error(conn, NULL, "COPY", err);
    bool ok = next_result_is(conn, PGRES_COPY_OUT, "COPY", err);
    cursor->open = cursor->in_fetch = ok;
    return ok;
}

/*
 * Undo COPY text escapes (\b \f \n \r \t \v \\, octal, and any other escaped
 * byte standing for itself) in place; returns the new length, never more
 * than `len`.
 */
static size_t copy_unescape(char *value, size_t len)
{
    char *out = value, *q = value, *stop = value + len;
    while (q < stop) {
        /* Move the run up to the next backslash whole. */
        char *bs = memchr(q, '\\', (size_t)(stop - q));
        char *run_end = bs != NULL ? bs : stop;
        if (out != q)
            memmove(out, q, (size_t)(run_end - q));
        out += run_end - q;
        q = run_end;
        if (q == stop)
            break;
        char c = '\\';
        if (q + 1 < stop) {
            c = *++q;
            switch (c) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'v': c = '\v'; break;
            default:
                if (c >= '0' && c <= '7') {
                    int v = c - '0';
                    for (int d = 0; d < 2 && q + 1 < stop && q[1] >= '0' && q[1] <= '7'; d++)
                        v = v * 8 + (*++q - '0');
                    c = (char)v;
                }
                break;
            }
        }
        *out++ = c;
        q++;
    }
    return (size_t)(out - value);
}

/*
 * One row of COPY text format into the batch. The line is copied into the
 * arena whole and cut there: each tab becomes its value's terminator, "\N"
 * is NULL, and only a line holding a backslash has its values unescaped in
 * place (an escape only ever shortens a value).
 */
static bool copy_parse_row(RowBatch *batch, const char *line, size_t len, FerryError *err)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    size_t base;
    struct BatchCell *cells;
    char *row = batch_row_reserve(batch, len + 1, &base, &cells);
    memcpy(row, line, len);
    bool escaped = memchr(row, '\\', len) != NULL;
    char *p = row, *end = row + len;
    size_t value_bytes = 0;
    for (int col = 0; col < batch->ncols; col++) {
        char *stop = memchr(p, '\t', (size_t)(end - p));
        if (stop == NULL) {
            if (col + 1 < batch->ncols)
                return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: COPY row has %d fields, the plan has %d",
                                   col + 1, batch->ncols);
            stop = end;
        }
        size_t n = (size_t)(stop - p);
        if (escaped && memchr(p, '\\', n) != NULL) {
            if (n == 2 && p[1] == 'N') {
                cells[col] = (struct BatchCell){.offset = 0, .length = -1};
                p = stop + 1;
                continue;
            }
            n = copy_unescape(p, n);
        }
        p[n] = '\0';
        cells[col] = (struct BatchCell){.offset = base + (size_t)(p - row), .length = (int64_t)n};
        value_bytes += n;
        p = stop + 1;
    }
    batch_row_commit(batch, len + 1, value_bytes);
    return true;
}

static bool copy_next(SourceCursor *cursor, RowBatch *batch, long max_rows, uint64_t max_bytes,
                      FerryError *err)
{
    SourceConn *conn = cursor->conn;
    while (cursor->in_fetch) {
        char *line = cursor->pending_line;
        int n = line != NULL ? cursor->pending_len : PQgetCopyData(conn->pg, &line, 1);
        cursor->pending_line = NULL;
        if (n > 0) {
            if (!row_paid_for(batch, (uint64_t)n)) {
                cursor->pending_line = line; /* it opens the next batch */
                cursor->pending_len = n;
                return true;
            }
            bool ok = copy_parse_row(batch, line, (size_t)n, err);
            PQfreemem(line);
            if (!ok)
                return false;
            if (batch->nrows >= max_rows || batch->bytes >= max_bytes)
                return true;
            continue;
        }
        if (n == 0) { /* nothing complete yet: wait for the server, within read_timeout */
            if (!wait_readable(conn, err))
                return false;
            continue;
        }
        /* -1: the COPY is over; its result says how it ended. -2: the connection failed. */
        cursor->in_fetch = false;
        if (n == -2)
            return source_error(conn, NULL, "COPY", err);
        bool ok = next_result_is(conn, PGRES_COMMAND_OK, "COPY", err);
        drain(conn);
        if (!ok)
            return false;
        cursor->exhausted = true;
        cursor->open = false;
    }
    return true;
}

bool source_cursor_open(SourceConn *conn, const char *query, bool copy, SourceCursor *cursor,
                        FerryError *err)
{
    memset(cursor, 0, sizeof *cursor);
    cursor->conn = conn;
    cursor->copy = copy;
    cursor->partition = FAULT_ANY_PARTITION;
    if (copy)
        return copy_open(conn, query, cursor, err);
    if (!command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return false;
    size_t len = strlen(query) + 64;
    char *declare = xmalloc(len);
    snprintf(declare, len, "DECLARE ferry_cursor NO SCROLL CURSOR FOR %s", query);
    bool ok = command(conn, declare, err);
    free(declare);
    cursor->open = ok;
    return ok;
}

bool source_cursor_next(SourceCursor *cursor, RowBatch *batch, long fetch_rows, uint64_t max_bytes,
                        FerryError *err)
{
    if (!cursor->exhausted && fault_hit(FAULT_SOURCE_FETCH, cursor->partition)) {
        ferry_error(err, FERRY_ERR_SOURCE, 0, "read: injected fault: connection lost");
        err->retryable = true;
        return false;
    }
    if (cursor->copy)
        return copy_next(cursor, batch, fetch_rows, max_bytes, err);
    SourceConn *conn = cursor->conn;
    if (!cursor->in_fetch) {
        if (cursor->exhausted)
            return true;
        char sql[64];
        snprintf(sql, sizeof sql, "FETCH FORWARD %ld FROM ferry_cursor", fetch_rows);
        if (!PQsendQuery(conn->pg, sql))
            return source_error(conn, NULL, "FETCH", err);
        if (!PQsetSingleRowMode(conn->pg)) {
            drain(conn);
            return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: single-row mode refused");
        }
        cursor->in_fetch = true;
        cursor->fetch_asked = fetch_rows;
        cursor->fetch_got = 0;
    }
    for (;;) {
        PGresult *res = cursor->pending_row;
        cursor->pending_row = NULL;
        if (res == NULL && !await_result(conn, err)) {
            cursor->in_fetch = false;
            return false;
        }
        if (res == NULL)
            res = PQgetResult(conn->pg);
        if (res == NULL) {
            /* The FETCH is complete. */
            cursor->in_fetch = false;
            if (cursor->fetch_got < cursor->fetch_asked)
                cursor->exhausted = true;
            return true;
        }
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_SINGLE_TUPLE) {
            int ncols = PQnfields(res);
            if (ncols != batch->ncols) {
                PQclear(res);
                drain(conn);
                cursor->in_fetch = false;
                return ferry_error(err, FERRY_ERR_BUG, 0,
                                   "BUG: cursor returned %d columns, the plan has %d", ncols,
                                   batch->ncols);
            }
            uint64_t bytes = 0;
            for (int c = 0; c < ncols; c++)
                bytes += (uint64_t)PQgetlength(res, 0, c);
            if (!row_paid_for(batch, bytes)) {
                cursor->pending_row = res; /* it opens the next batch */
                return true;
            }
            for (int c = 0; c < ncols; c++)
                batch_add_value(batch, PQgetvalue(res, 0, c), (size_t)PQgetlength(res, 0, c),
                                PQgetisnull(res, 0, c));
            batch_end_row(batch);
            PQclear(res);
            cursor->fetch_got++;
            if (batch->bytes >= max_bytes)
                return true; /* the rest of this FETCH starts the next batch */
            continue;
        }
        if (status == PGRES_TUPLES_OK) {
            PQclear(res); /* the zero-row result that ends a single-row FETCH */
            continue;
        }
        source_error(conn, res, "FETCH", err);
        PQclear(res);
        drain(conn);
        cursor->in_fetch = false;
        return false;
    }
}

bool source_cursor_close(SourceCursor *cursor, FerryError *err)
{
    PQfreemem(cursor->pending_line);
    PQclear(cursor->pending_row);
    cursor->pending_line = NULL;
    cursor->pending_row = NULL;
    if (cursor->copy) {
        /* A finished COPY leaves nothing to close; one cut short leaves the
         * connection mid-stream, fit only to be dropped. */
        if (!cursor->in_fetch)
            return true;
        cursor->in_fetch = cursor->open = false;
        return ferry_error(err, FERRY_ERR_SOURCE, 0, "COPY abandoned part way");
    }
    if (!cursor->open)
        return true;
    cursor->open = false;
    if (cursor->in_fetch)
        drain(cursor->conn);
    cursor->in_fetch = false;
    /* COMMIT of a read-only transaction closes the cursor with it. */
    return command(cursor->conn, "COMMIT", err);
}
