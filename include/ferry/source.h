/*
 * include/ferry/source.h — a connection to the source database, and a cursor over one key range.
 */
#ifndef FERRY_SOURCE_H
#define FERRY_SOURCE_H

#include <libpq-fe.h>

#include "ferry/batch.h"
#include "ferry/common.h"
#include "ferry/config.h"
#include "ferry/dialect.h"
#include "ferry/pg.h"

typedef struct SourceConn SourceConn;

/* Connect and set the session up for text output ferry can parse (batch.h, note 1). */
bool source_connect(const SourceSettings *settings, SourceConn **out, FerryError *err);
void source_close(SourceConn *conn);

/* Connected, outside any transaction and with nothing in flight: fit to be handed on. */
bool source_idle(SourceConn *conn);

/* The server's dialect: its catalog statements, sampling and read path. */
const Dialect *source_dialect(const SourceConn *conn);
/* The server's version as PQserverVersion gives it (150004 for 15.4). */
int source_server_version(const SourceConn *conn);
/*
 * The database keeps text as any bytes (its encoding is SQL_ASCII, which
 * PostgreSQL neither checks nor converts): what it sends may not be UTF-8.
 */
bool source_text_unchecked(const SourceConn *conn);
/* The most rows one FETCH may ask for (a single-node Redshift: 1000); 0: no limit. */
long source_fetch_limit(const SourceConn *conn);
/* The bytes a partition's cursor result may hold where rows come by cursor alone (Redshift); 0: no limit. */
uint64_t source_cursor_result_limit(const SourceConn *conn);

/* Ask the server to cancel what this connection runs now. Safe from any thread. */
void source_cancel(SourceConn *conn);

/* Run a small query (catalog, sampling) with text parameters; the whole result is returned. */
bool source_query(SourceConn *conn, const char *sql, int nparams, const char *const *params,
                  PGresult **out, FerryError *err);

/*
 * How many more connections the server would take from this user on this
 * database: the least of max_connections less the reserved ones, the role's
 * and the database's CONNECTION LIMIT, each less the sessions open now
 * (this one among them). *limit names the limit that decides.
 */
bool source_connection_room(SourceConn *conn, int *room, const char **limit, FerryError *err);

/*
 * One line of COPY's text format (a trailing newline allowed) into the batch
 * as a row of its ncols values: fields cut at tabs, \N NULL, backslash
 * escapes undone. Another count of fields is refused. The COPY read's own
 * parser, here for its tests.
 */
bool source_copy_row(RowBatch *batch, const char *line, size_t len, FerryError *err);

/* Fill err from the connection's or the result's failure (pg.h, pg_session_error). */
bool source_error(SourceConn *conn, const PGresult *result, const char *what, FerryError *err);

/*
 * A server-side cursor over one query, read in batches.
 *
 * Rows are received one at a time (libpq single-row mode) and copied into the
 * caller's batch, so no FETCH, however wide its rows, is ever held whole in
 * memory: a batch ends when it holds fetch_rows rows of one FETCH, or reaches
 * max_bytes, or the cursor is exhausted, or the batch's memory pool cannot pay
 * for the next row (that row then starts the next batch, whose first row is
 * waited for); the rest of a FETCH cut short starts the next batch.
 *
 * With whole_keys set (a cursor, not a COPY), a batch ends only before a row
 * whose key differs from its last row's: the rows of one key are never split
 * between two batches, so no checkpoint falls inside them. The rows of one
 * key are taken past the limits; those the pool cannot pay for fail the read
 * (a retry may find the memory free).
 */
typedef struct SourceCursor {
    SourceConn *conn;         /* borrowed */
    bool open;
    bool copy;                /* rows come from COPY (query) TO STDOUT, not a cursor */
    bool in_fetch;            /* a FETCH (or the COPY) is being received */
    long fetch_asked, fetch_got;
    bool exhausted;           /* the last FETCH returned fewer rows than asked */
    char *pending_line;       /* owned (PQfreemem): a COPY row received but not yet paid for */
    int pending_len;
    PGresult *pending_row;    /* owned: a FETCH row received but not yet paid for */
    int64_t partition;        /* the partition read, for fault points (fault.h); FAULT_ANY_PARTITION */
    const TableShape *whole_keys; /* borrowed: batches end only where this key changes; NULL: anywhere */
    bool in_txn;              /* the COPY runs in a transaction of its own (SourceRead), committed at its end */
    bool snapshot_refused;    /* the open failed because the snapshot could not be imported (its session is gone) */
} SourceCursor;

/*
 * What a read's transaction begins with (physical.h, notes 4 and 5); all
 * NULL or 0: nothing, and a COPY then runs on its own.
 */
typedef struct SourceRead {
    const char *snapshot;     /* a snapshot exported by another session (RunSnapshot.id), read in; NULL: the read's own */
    const char *table;        /* "schema"."name", quoted: locked, and its heap's file node checked; NULL: neither */
    int64_t heap_file;        /* the file node the table's heap must still have */
} SourceRead;

/*
 * With `copy`, the rows stream from one COPY (query) TO STDOUT instead of a
 * cursor: the same batches, bounded the same way, but no FETCH round trips
 * and no per-row result objects in libpq. Asked of a dialect without COPY
 * TO STDOUT (Redshift), the cursor is used instead. Being one statement, it is subject to statement_timeout as a whole.
 */
bool source_cursor_open(SourceConn *conn, const char *query, bool copy, const SourceRead *read,
                        SourceCursor *cursor, FerryError *err);

/*
 * Begin a REPEATABLE READ transaction on `conn` and export its snapshot
 * (physical.h, note 4): *id is what other sessions import (SourceRead),
 * *text the snapshot as pg_current_snapshot() writes it (both owned). The
 * session must then stay open and idle in that transaction.
 */
bool source_snapshot_export(SourceConn *conn, char **id, char **text, FerryError *err);
bool source_cursor_next(SourceCursor *cursor, RowBatch *batch, long fetch_rows, uint64_t max_bytes,
                        FerryError *err);
/*
 * Read a COPY's remaining rows to its end without keeping them (a batch that
 * could not hold them all is read again another way): *skipped counts them,
 * 0 when the batch had them all. The connection stays fit for more.
 */
bool source_cursor_skip(SourceCursor *cursor, long *skipped, FerryError *err);
/* Close the cursor and end its transaction; after a failure, discard the connection instead. */
bool source_cursor_close(SourceCursor *cursor, FerryError *err);

#endif
