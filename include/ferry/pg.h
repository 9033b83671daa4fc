/*
 * include/ferry/pg.h — one libpq session, as every part that speaks the
 * PostgreSQL protocol uses it: the source now, the PostgreSQL and Redshift
 * COPY sinks next.
 *
 * What it promises:
 *  - the conninfo (which may hold a password) goes to libpq and nowhere else;
 *    messages carry libpq's and the server's text, which never holds it;
 *  - keepalives and a TCP user timeout are on unless the conninfo says
 *    otherwise, and no wait for the server lasts longer than read_timeout,
 *    so a dead network or a frozen server is noticed;
 *  - a failure fills a FerryError of the session's domain with the SQLSTATE,
 *    the server's message on one line, and whether retrying can help.
 */
#ifndef FERRY_PG_H
#define FERRY_PG_H

#include <libpq-fe.h>

#include "ferry/common.h"

typedef struct PgSession {
    PGconn *pg;               /* owned */
    int read_timeout_ms;      /* the longest silence taken from the server */
    FerryErrorDomain domain;  /* whose failures these are: FERRY_ERR_SOURCE or FERRY_ERR_SINK */
    const char *peer;         /* "source", "sink": how messages name the server */
} PgSession;

/*
 * Connect with ferry's defaults (connect_timeout, keepalives,
 * application_name = ferry) under the conninfo, which may override them.
 * A refusal no retry can cure (bad password, no such database, no
 * pg_hba.conf entry) is not retryable; every other failure to connect is.
 * `password` (NULL or "": none) is over the conninfo's.
 */
bool pg_session_open(PgSession *session, const char *conninfo, const char *password, int connect_timeout_s,
                     int read_timeout_s, FerryErrorDomain domain, const char *peer, FerryError *err);
void pg_session_close(PgSession *session);

/* Fill err from the session's or the result's failure; returns false. */
bool pg_session_error(const PgSession *session, const PGresult *result, const char *what, FerryError *err);

/* Wait (within read_timeout) for bytes from the server and take them in. */
bool pg_wait_readable(PgSession *session, FerryError *err);
/* Wait until a whole result (or row) can be taken without blocking. */
bool pg_await_result(PgSession *session, FerryError *err);
/* Take and drop every result left, so the session can be used or closed cleanly. */
void pg_drain(PgSession *session);

/*
 * Send a statement (several, without parameters) and wait for every result
 * within read_timeout. Returns the last result, or NULL with err set.
 */
PGresult *pg_exec(PgSession *session, const char *sql, int nparams, const char *const *params,
                  FerryError *err);
/* pg_exec, and the last result must be rows or a completed command. */
bool pg_query(PgSession *session, const char *sql, int nparams, const char *const *params,
              PGresult **out, FerryError *err);
/* A statement that returns no rows (BEGIN, SET, COMMIT). */
bool pg_command(PgSession *session, const char *sql, FerryError *err);

/* Whether a SQLSTATE (or "" for a broken connection) is worth retrying. */
bool pg_sqlstate_retryable(const char *sqlstate);
/*
 * A statement the server stopped for running too long or holding too much
 * (statement_timeout or another cancel; Redshift's workload manager, its
 * cursor cap, a full disk): the same statement over fewer rows may pass.
 */
bool pg_error_is_kill(const FerryError *err);
/*
 * A transaction that lost a race with another (serialization_failure;
 * Redshift's "1023 … Serializable isolation violation"): run again, it may pass.
 */
bool pg_error_is_conflict(const FerryError *err);

#endif
