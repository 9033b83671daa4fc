/*
 * agent/source.c — the source: a session in its dialect, and a cursor read in bounded batches.
 *
 * Design notes
 *  (1) Connecting, bounded waits and the classing of failures are the
 *      session's (core/pg.c); the statements that differ between servers are
 *      the dialect's (dialect.h). This file is the reading.
 *  (2) A COPY is asked for only where the dialect has one.
 *  (3) The cursor lives in a READ ONLY, REPEATABLE READ transaction: one
 *      snapshot for the whole partition, and no way to change the source.
 *  (4) Rows arrive in single-row mode and are copied into the batch arena at
 *      once, so memory is bounded by the batch limit plus one row whatever
 *      FETCH size is asked for (see source.h).
 *  (5) The dialect is the server's: [source] dialect = auto takes the one
 *      version() names (Redshift says so in it); a configured dialect that
 *      is not the server's is a configuration error, not a guess.
 *  (6) A FETCH asks for at most the server's limit (a single-node Redshift:
 *      1,000 rows); a batch of more rows takes several FETCHes.
 *  (7) whole_keys: a batch at its limit reads on, taking the rows that share
 *      its last row's key, and ends before the first row of another key
 *      (kept as pending_row; a FETCH is sent to see it when the last one
 *      ended exactly at the limit).
 *  (8) Values of the dialect's hex_bytes_type (Redshift's VARBYTE, written
 *      as bare hex) get bytea's "\x", so every sink reads them as bytea.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/dialect.h"
#include "ferry/fault.h"
#include "ferry/physical.h"
#include "ferry/source.h"
#include "ferry/sql.h"

struct SourceConn {
    PgSession session;
    const Dialect *dialect;
    long fetch_limit;         /* the most rows a FETCH may ask for; 0: no limit */
    uint64_t cursor_result_limit; /* from the settings; used where the dialect has no COPY */
    pthread_mutex_t cancel_lock;
    PGcancel *cancel;         /* owned; guarded by cancel_lock */
};

bool source_error(SourceConn *conn, const PGresult *result, const char *what, FerryError *err)
{
    return pg_session_error(conn != NULL ? &conn->session : NULL, result, what, err);
}

/* (5) The configured dialect, or the one version() names; a configured one must be the server's. */
static bool choose_dialect(SourceConn *conn, int configured, FerryError *err)
{
    PGresult *res;
    if (!source_query(conn, "SELECT version()", 0, NULL, &res, err))
        return false;
    bool redshift = PQntuples(res) == 1 && strstr(PQgetvalue(res, 0, 0), "Redshift") != NULL;
    PQclear(res);
    const Dialect *server = redshift ? &dialect_redshift : &dialect_postgresql;
    const Dialect *chosen = configured == DIALECT_REDSHIFT     ? &dialect_redshift
                            : configured == DIALECT_POSTGRESQL ? &dialect_postgresql
                                                               : server;
    if (chosen != server)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "[source] dialect = %s, but the server is %s (its version() says so): "
                           "set dialect = auto or %s",
                           chosen->name, server->name, server->name);
    conn->dialect = chosen;
    return true;
}

bool source_connect(const SourceSettings *settings, SourceConn **out, FerryError *err)
{
    *out = NULL;
    SourceConn *conn = xcalloc(1, sizeof *conn);
    pthread_mutex_init(&conn->cancel_lock, NULL);
    conn->cursor_result_limit = settings->cursor_result_limit;
    if (!pg_session_open(&conn->session, settings->conninfo, settings->password, settings->connect_timeout,
                         settings->read_timeout, FERRY_ERR_SOURCE, "source", err)) {
        source_close(conn);
        return false;
    }
    PGresult *res = NULL;
    bool ok = choose_dialect(conn, settings->dialect, err);
    if (ok) {
        res = pg_exec(&conn->session, conn->dialect->session_setup, 0, NULL, err);
        ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok && res != NULL)
            source_error(conn, res, "session setup", err);
        PQclear(res);
        res = NULL;
    }
    /* A SQL_ASCII database's text would be refused whole by the server's conversion to UTF8, naming
     * no row: it is read as the bytes it is, and checked by ferry, which names the row (batch.h, note 1). */
    if (ok && source_text_unchecked(conn))
        ok = pg_command(&conn->session, "SET client_encoding = 'SQL_ASCII'", err);
    if (ok && conn->dialect->fetch_limit_sql != NULL &&
        (ok = source_query(conn, conn->dialect->fetch_limit_sql, 0, NULL, &res, err)))
        conn->fetch_limit = PQntuples(res) == 1 ? atol(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    if (!ok) {
        source_close(conn);
        return false;
    }
    conn->cancel = PQgetCancel(conn->session.pg);
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
    pg_session_close(&conn->session);
    pthread_mutex_destroy(&conn->cancel_lock);
    free(conn);
}

bool source_idle(SourceConn *conn)
{
    return conn != NULL && PQstatus(conn->session.pg) == CONNECTION_OK &&
           PQtransactionStatus(conn->session.pg) == PQTRANS_IDLE;
}

const Dialect *source_dialect(const SourceConn *conn)
{
    return conn->dialect;
}

int source_server_version(const SourceConn *conn)
{
    return PQserverVersion(conn->session.pg);
}

bool source_text_unchecked(const SourceConn *conn)
{
    const char *encoding = PQparameterStatus(conn->session.pg, "server_encoding");
    return encoding != NULL && strcmp(encoding, "SQL_ASCII") == 0;
}

long source_fetch_limit(const SourceConn *conn)
{
    return conn->fetch_limit;
}

uint64_t source_cursor_result_limit(const SourceConn *conn)
{
    return conn->dialect->copy_out ? 0 : conn->cursor_result_limit;
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
    return pg_query(&conn->session, sql, nparams, params, out, err);
}

bool source_connection_room(SourceConn *conn, int *room, const char **limit, FerryError *err)
{
    static const char *const names[] = {"max_connections", "the role's CONNECTION LIMIT",
                                        "the database's CONNECTION LIMIT"};
    PGresult *res;
    if (!source_query(conn, conn->dialect->connection_room_sql, 0, NULL, &res, err))
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
    if (!pg_await_result(&conn->session, err))
        return false;
    PGresult *res = PQgetResult(conn->session.pg);
    bool ok = PQresultStatus(res) == want;
    if (!ok)
        source_error(conn, res, what, err);
    PQclear(res);
    return ok;
}

static bool copy_open(SourceConn *conn, const char *query, SourceCursor *cursor, FerryError *err)
{
    StrBuf sql = {.max = strlen(query) + 32}; /* the query is whole (plan_range_query) */
    strbuf_add(&sql, "COPY (%s) TO STDOUT", query);
    int sent = PQsendQuery(conn->session.pg, sql.text);
    free(sql.text);
    if (!sent)
        return source_error(conn, NULL, "COPY", err);
    bool ok = next_result_is(conn, PGRES_COPY_OUT, "COPY", err);
    cursor->open = cursor->in_fetch = ok;
    return ok;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Undo COPY text escapes (\b \f \n \r \t \v \\, octal, \x and hex, and any
 * other escaped byte standing for itself, as COPY FROM reads them) in place;
 * returns the new length, never more than `len`.
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
            case 'x': /* one or two hex digits; without one, an 'x' */
                if (q + 1 < stop && hex_digit(q[1]) >= 0) {
                    int v = hex_digit(*++q);
                    if (q + 1 < stop && hex_digit(q[1]) >= 0)
                        v = v * 16 + hex_digit(*++q);
                    c = (char)v;
                }
                break;
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
bool source_copy_row(RowBatch *batch, const char *line, size_t len, FerryError *err)
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
        if (col + 1 == batch->ncols && stop < end)
            return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: COPY row has more fields than the plan's %d",
                               batch->ncols);
        p = stop + 1;
    }
    batch_row_commit(batch, len + 1, value_bytes);
    return true;
}

/*
 * The COPY's next line into *line (PQfreemem it): its length; 0 once the
 * COPY is over and ended well (the cursor is then exhausted); -1 on a
 * failure (err). Waits for the server within read_timeout.
 */
static int copy_line(SourceCursor *cursor, char **line, FerryError *err)
{
    SourceConn *conn = cursor->conn;
    for (;;) {
        int n = PQgetCopyData(conn->session.pg, line, 1);
        if (n > 0)
            return n;
        if (n == 0) { /* nothing complete yet */
            if (!pg_wait_readable(&conn->session, err))
                return -1;
            continue;
        }
        /* -1: the COPY is over; its result says how it ended. -2: the connection failed. */
        cursor->in_fetch = false;
        if (n == -2)
            return source_error(conn, NULL, "COPY", err), -1;
        bool ok = next_result_is(conn, PGRES_COMMAND_OK, "COPY", err);
        pg_drain(&conn->session);
        if (!ok)
            return -1;
        cursor->exhausted = true;
        cursor->open = false;
        return 0;
    }
}

static bool copy_next(SourceCursor *cursor, RowBatch *batch, long max_rows, uint64_t max_bytes,
                      FerryError *err)
{
    while (cursor->in_fetch) {
        char *line = cursor->pending_line;
        int n = line != NULL ? cursor->pending_len : copy_line(cursor, &line, err);
        cursor->pending_line = NULL;
        if (n <= 0)
            return n == 0;
        if (!row_paid_for(batch, (uint64_t)n)) {
            cursor->pending_line = line; /* it opens the next batch */
            cursor->pending_len = n;
            return true;
        }
        bool ok = source_copy_row(batch, line, (size_t)n, err);
        PQfreemem(line);
        if (!ok)
            return false;
        if (batch->nrows >= max_rows || batch->bytes >= max_bytes)
            return true;
    }
    return true;
}

/*
 * The start of a read's transaction (SourceRead): the snapshot imported
 * first, as PostgreSQL requires, then the table locked and its heap's file
 * node checked while the lock holds it still.
 */
static bool read_prelude(SourceConn *conn, const SourceRead *read, SourceCursor *cursor, FerryError *err)
{
    if (read->snapshot != NULL) {
        char *literal = sql_quote_literal(read->snapshot, strlen(read->snapshot));
        StrBuf sql = {0};
        strbuf_add(&sql, "SET TRANSACTION SNAPSHOT %s", literal);
        free(literal);
        bool ok = pg_command(&conn->session, sql.text, err);
        free(sql.text);
        if (!ok) {
            cursor->snapshot_refused = true;
            ferry_error_prefix(err, "importing the run's snapshot");
            err->retryable = true;
            return false;
        }
    }
    if (read->table == NULL)
        return true;
    StrBuf sql = {0};
    strbuf_add(&sql, "LOCK TABLE ONLY %s IN ACCESS SHARE MODE", read->table);
    bool ok = pg_command(&conn->session, sql.text, err);
    free(sql.text);
    PGresult *res = NULL;
    const char *params[1] = {read->table};
    if (!ok || !source_query(conn, physical_heap_file_sql, 1, params, &res, err))
        return false;
    long long now = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (now == read->heap_file)
        return true;
    return ferry_error(err, FERRY_ERR_SOURCE, 0,
                       "table %s was rewritten since its physical-order copy was planned (VACUUM FULL, CLUSTER, "
                       "TRUNCATE or an ALTER TABLE that rewrites it: its heap is file %lld, not %lld), so its rows "
                       "are no longer where the checkpoints say; `ferry reset` the table to copy it again",
                       read->table, now, (long long)read->heap_file);
}

bool source_cursor_open(SourceConn *conn, const char *query, bool copy, const SourceRead *read,
                        SourceCursor *cursor, FerryError *err)
{
    static const SourceRead plain = {0};
    if (read == NULL)
        read = &plain;
    memset(cursor, 0, sizeof *cursor);
    cursor->conn = conn;
    cursor->copy = copy && conn->dialect->copy_out;
    cursor->partition = FAULT_ANY_PARTITION;
    bool prelude = read->snapshot != NULL || read->table != NULL;
    if (cursor->copy && !prelude)
        return copy_open(conn, query, cursor, err);
    if (!pg_command(&conn->session, conn->dialect->begin_read, err))
        return false;
    if (prelude && !read_prelude(conn, read, cursor, err)) {
        FerryError ignored;
        pg_command(&conn->session, "ROLLBACK", &ignored); /* the connection is dropped if this fails too */
        return false;
    }
    if (cursor->copy) {
        cursor->in_txn = true;
        return copy_open(conn, query, cursor, err);
    }
    size_t len = strlen(conn->dialect->declare_cursor) + strlen(query) + 1;
    char *declare = xmalloc(len);
    snprintf(declare, len, "%s%s", conn->dialect->declare_cursor, query);
    bool ok = pg_command(&conn->session, declare, err);
    free(declare);
    cursor->open = ok;
    return ok;
}

bool source_snapshot_export(SourceConn *conn, char **id, char **text, FerryError *err)
{
    *id = *text = NULL;
    PGresult *res = NULL;
    if (!pg_command(&conn->session, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) ||
        !source_query(conn, "SELECT pg_export_snapshot(), pg_current_snapshot()::text", 0, NULL, &res, err))
        return false;
    *id = xstrdup(PQgetvalue(res, 0, 0));
    *text = xstrdup(PQgetvalue(res, 0, 1));
    PQclear(res);
    return true;
}

/* FETCH up to `rows` (within the server's limit) in single-row mode. */
static bool send_fetch(SourceCursor *cursor, long rows, FerryError *err)
{
    SourceConn *conn = cursor->conn;
    if (conn->fetch_limit > 0 && rows > conn->fetch_limit)
        rows = conn->fetch_limit;
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH FORWARD %ld FROM ferry_cursor", rows);
    if (!PQsendQuery(conn->session.pg, sql))
        return source_error(conn, NULL, "FETCH", err);
    if (!PQsetSingleRowMode(conn->session.pg)) {
        pg_drain(&conn->session);
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: single-row mode refused");
    }
    cursor->in_fetch = true;
    cursor->fetch_asked = rows;
    cursor->fetch_got = 0;
    return true;
}

/* (7) The result's row has the same key as the batch's last row, byte for byte. */
static bool row_continues_key(const SourceCursor *cursor, const RowBatch *batch, const PGresult *res)
{
    const TableShape *shape = cursor->whole_keys;
    if (shape == NULL || batch->nrows == 0)
        return false;
    for (int k = 0; k < shape->nkeys; k++) {
        int col = shape->key_col[k];
        size_t len = 0;
        const char *last = batch_value(batch, batch->nrows - 1, col, &len);
        bool null = PQgetisnull(res, 0, col);
        if ((last == NULL) != null)
            return false;
        if (last != NULL && (len != (size_t)PQgetlength(res, 0, col) || memcmp(last, PQgetvalue(res, 0, col), len) != 0))
            return false;
    }
    return true;
}

bool source_cursor_next(SourceCursor *cursor, RowBatch *batch, long fetch_rows, uint64_t max_bytes,
                        FerryError *err)
{
    if (!cursor->exhausted && fault_hit(FAULT_SOURCE_FETCH, cursor->partition)) {
        ferry_error(err, FERRY_ERR_SOURCE, 0, "read: injected fault: connection lost");
        err->retryable = true;
        return false;
    }
    if (!cursor->exhausted && fault_hit(FAULT_SOURCE_KILL, cursor->partition)) {
        ferry_error(err, FERRY_ERR_SOURCE, 0, "read: injected fault: canceling statement (SQLSTATE 57014)");
        snprintf(err->sqlstate, sizeof err->sqlstate, "57014");
        err->retryable = true;
        return false;
    }
    if (cursor->copy)
        return copy_next(cursor, batch, fetch_rows, max_bytes, err);
    SourceConn *conn = cursor->conn;
    if (!cursor->in_fetch) {
        if (cursor->exhausted)
            return true;
        if (!send_fetch(cursor, fetch_rows, err))
            return false;
    }
    bool full = false; /* (7) at its limit: the batch ends before the next row of another key */
    for (;;) {
        PGresult *res = cursor->pending_row;
        cursor->pending_row = NULL;
        if (res == NULL && !pg_await_result(&conn->session, err)) {
            cursor->in_fetch = false;
            return false;
        }
        if (res == NULL)
            res = PQgetResult(conn->session.pg);
        if (res == NULL) {
            /* The FETCH is complete. */
            cursor->in_fetch = false;
            if (cursor->fetch_got < cursor->fetch_asked)
                cursor->exhausted = true;
            if (cursor->exhausted)
                return true;
            /* (6) One FETCH within the server's limit did not fill the batch: another.
             * (7) A full batch under whole_keys: another, to see where the key changes. */
            bool room = !full && batch->nrows < fetch_rows && batch->bytes < max_bytes;
            if (!room && cursor->whole_keys == NULL)
                return true;
            if (!send_fetch(cursor, room ? fetch_rows - batch->nrows : fetch_rows, err))
                return false;
            full = !room;
            continue;
        }
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_SINGLE_TUPLE) {
            int ncols = PQnfields(res);
            if (ncols != batch->ncols) {
                PQclear(res);
                pg_drain(&conn->session);
                cursor->in_fetch = false;
                return ferry_error(err, FERRY_ERR_BUG, 0,
                                   "BUG: cursor returned %d columns, the plan has %d", ncols,
                                   batch->ncols);
            }
            bool same_key = row_continues_key(cursor, batch, res);
            if (full && !same_key) {
                cursor->pending_row = res; /* the first row of another key opens the next batch */
                return true;
            }
            uint64_t bytes = 0;
            for (int c = 0; c < ncols; c++)
                bytes += (uint64_t)PQgetlength(res, 0, c) + 2; /* (8) room for a "\x" */
            if (!row_paid_for(batch, bytes)) {
                if (same_key) {
                    PQclear(res);
                    pg_drain(&conn->session);
                    cursor->in_fetch = false;
                    ferry_error(err, FERRY_ERR_SOURCE, 0,
                                "the rows of one key (%d in this batch so far) do not fit in memory now: "
                                "they must be in one batch", batch->nrows);
                    err->retryable = true;
                    return false;
                }
                cursor->pending_row = res; /* it opens the next batch */
                return true;
            }
            FerryOid hex_bytes = conn->dialect->hex_bytes_type;
            for (int c = 0; c < ncols; c++) {
                const char *value = PQgetvalue(res, 0, c);
                size_t length = (size_t)PQgetlength(res, 0, c);
                if (hex_bytes != 0 && PQftype(res, c) == hex_bytes && !PQgetisnull(res, 0, c))
                    batch_add_joined_value(batch, "\\x", 2, value, length); /* (8) */
                else
                    batch_add_value(batch, value, length, PQgetisnull(res, 0, c));
            }
            batch_end_row(batch);
            PQclear(res);
            cursor->fetch_got++;
            if (batch->bytes >= max_bytes) {
                if (cursor->whole_keys == NULL)
                    return true; /* the rest of this FETCH starts the next batch */
                full = true;
            }
            continue;
        }
        if (status == PGRES_TUPLES_OK) {
            PQclear(res); /* the zero-row result that ends a single-row FETCH */
            continue;
        }
        source_error(conn, res, "FETCH", err);
        PQclear(res);
        pg_drain(&conn->session);
        cursor->in_fetch = false;
        return false;
    }
}

bool source_cursor_skip(SourceCursor *cursor, long *skipped, FerryError *err)
{
    *skipped = 0;
    if (cursor->pending_line != NULL) {
        PQfreemem(cursor->pending_line);
        cursor->pending_line = NULL;
        (*skipped)++;
    }
    if (!cursor->copy)
        return cursor->exhausted || ferry_error(err, FERRY_ERR_BUG, 0, "BUG: skipping the rest of a cursor");
    while (cursor->in_fetch) {
        char *line = NULL;
        int n = copy_line(cursor, &line, err);
        if (n < 0)
            return false;
        if (n > 0) {
            PQfreemem(line);
            (*skipped)++;
        }
    }
    return true;
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
        if (!cursor->in_fetch) {
            bool in_txn = cursor->in_txn;
            cursor->in_txn = false;
            return !in_txn || pg_command(&cursor->conn->session, "COMMIT", err);
        }
        cursor->in_fetch = cursor->open = false;
        return ferry_error(err, FERRY_ERR_SOURCE, 0, "COPY abandoned part way");
    }
    if (!cursor->open)
        return true;
    cursor->open = false;
    if (cursor->in_fetch)
        pg_drain(&cursor->conn->session);
    cursor->in_fetch = false;
    /* COMMIT of a read-only transaction closes the cursor with it. */
    return pg_command(&cursor->conn->session, "COMMIT", err);
}
