/*
 * core/pg.c — one libpq session: connecting with ferry's defaults, bounded waits, and failures classified.
 *
 * Design notes
 *  (1) The conninfo is a secret: it is handed to libpq as the expanded
 *      `dbname` and never copied, printed or stored.
 *  (2) Keepalives and a TCP user timeout come first in the keyword list, so
 *      the conninfo (expanded last) can override them.
 *  (3) Every wait is a poll(2) bounded by read_timeout (PQexec would wait for
 *      ever on a frozen server).
 *  (4) libpq gives no SQLSTATE for a failed connection: refusals no retry
 *      can cure are told by their message.
 *  (5) libpq's default, sslmode=prefer, encrypts where the server offers it
 *      and verifies nothing; a connection beyond loopback that does not
 *      require verification is a warning, not an error, since some networks
 *      are private by other means.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ferry/pg.h"

bool pg_sqlstate_retryable(const char *sqlstate)
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

/*
 * What Redshift says when it stops a statement for its time or its size, not
 * with a class-57 SQLSTATE but in words (XX000): its workload manager's
 * aborts (a Query Monitoring Rule, or "abort query … code: 1020 … system
 * requested abort"), the leader node's cap on cursor results, a full disk.
 */
static bool killed_for_size_or_time(const char *text)
{
    static const char *const words[] = {"cancelled by WLM", "WLM abort", "code: 1020",
                                        "system requested abort",
                                        "maximum size allowed for the total set of cursor data", "Disk Full"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(text, words[i]) != NULL)
            return true;
    return false;
}

/* Redshift's error 1023: two transactions touched the same tables in an order no serial run gives. */
static bool serializable_violation(const char *text)
{
    return strstr(text, "Serializable isolation violation") != NULL;
}

bool pg_error_is_conflict(const FerryError *err)
{
    return strcmp(err->sqlstate, "40001") == 0 || serializable_violation(err->message);
}

bool pg_error_is_kill(const FerryError *err)
{
    return strcmp(err->sqlstate, "57014") == 0 || killed_for_size_or_time(err->message);
}

bool pg_session_error(const PgSession *session, const PGresult *result, const char *what, FerryError *err)
{
    PGconn *pg = session != NULL ? session->pg : NULL;
    const char *message = result ? PQresultErrorMessage(result) : NULL;
    if (message == NULL || *message == '\0')
        message = pg != NULL ? PQerrorMessage(pg) : "no connection";
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
    ferry_error(err, session != NULL ? session->domain : FERRY_ERR_SOURCE, 0, "%s: %s%s%s%s", what, text,
                sqlstate ? " (SQLSTATE " : "", sqlstate ? sqlstate : "", sqlstate ? ")" : "");
    if (err != NULL) {
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", sqlstate ? sqlstate : "");
        bool broken = pg == NULL || PQstatus(pg) != CONNECTION_OK;
        err->retryable = broken || killed_for_size_or_time(text) || serializable_violation(text) ||
                         pg_sqlstate_retryable(sqlstate);
    }
    return false;
}

/* A host that is this machine: a Unix socket's folder, localhost, or a loopback address. */
static bool host_is_local(const char *host)
{
    return host == NULL || *host == '\0' || *host == '/' || *host == '@' || host_is_loopback(host);
}

/*
 * (5) A session beyond this machine that does not verify the server it
 * reached (sslmode below verify-ca) is warned of, once a process for each
 * peer: its traffic may be plain text, and a server in the middle unseen.
 */
static void warn_unverified(PGconn *pg, const char *peer)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char warned[4][32];
    const char *host = PQhost(pg);
    if (host_is_local(host))
        return;
    const char *sslmode = NULL;
    PQconninfoOption *info = PQconninfo(pg);
    for (PQconninfoOption *o = info; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "sslmode") == 0)
            sslmode = o->val;
    bool verified = sslmode != NULL && (strcmp(sslmode, "verify-full") == 0 || strcmp(sslmode, "verify-ca") == 0);
    char mode[32];
    snprintf(mode, sizeof mode, "%s", sslmode ? sslmode : "prefer");
    PQconninfoFree(info);
    if (verified)
        return;
    pthread_mutex_lock(&lock);
    bool first = true;
    size_t i = 0;
    for (; i < sizeof warned / sizeof warned[0] && warned[i][0] != '\0' && first; i++)
        first = strcmp(warned[i], peer) != 0;
    if (first && i < sizeof warned / sizeof warned[0])
        snprintf(warned[i], sizeof warned[i], "%s", peer);
    pthread_mutex_unlock(&lock);
    if (first)
        log_warn("the %s at %s is reached with sslmode=%s (%s): the server is not verified%s; add sslmode=verify-full "
                 "(and sslrootcert) to the conninfo to require it",
                 peer, host, mode, PQsslInUse(pg) ? "encrypted" : "not encrypted",
                 PQsslInUse(pg) ? "" : " and the traffic, the password with it, is readable on the way");
}

bool pg_session_open(PgSession *session, const char *conninfo, const char *password, int connect_timeout_s,
                     int read_timeout_s, FerryErrorDomain domain, const char *peer, FerryError *err)
{
    *session = (PgSession){.read_timeout_ms = read_timeout_s * 1000, .domain = domain, .peer = peer};
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", connect_timeout_s);
    /* (2) Earlier keywords are defaults the conninfo (expanded from dbname) may override. */
    const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "fallback_application_name",
                          "dbname", NULL, NULL};
    const char *values[] = {timeout, "1", "30", "10", "3", "60000", "ferry",
                            conninfo && *conninfo ? conninfo : NULL, NULL, NULL};
    if (password != NULL && *password != '\0') { /* after dbname: over what the conninfo says */
        keys[8] = "password";
        values[8] = password;
    }
    session->pg = PQconnectdbParams(keys, values, 1);
    if (session->pg == NULL)
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "connect: out of memory");
    if (PQstatus(session->pg) == CONNECTION_OK) {
        warn_unverified(session->pg, peer);
        return true;
    }
    char what[64];
    snprintf(what, sizeof what, "cannot connect to the %s", peer);
    pg_session_error(session, NULL, what, err);
    static const char *const fatal[] = {"password authentication failed", "no pg_hba.conf entry",
                                        "does not exist", "password is required",
                                        "authentication method", "permission denied"};
    err->retryable = true;
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        if (strstr(err->message, fatal[i]) != NULL)
            err->retryable = false;
    pg_session_close(session);
    return false;
}

void pg_session_close(PgSession *session)
{
    PQfinish(session->pg);
    session->pg = NULL;
}

bool pg_wait_readable(PgSession *session, FerryError *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = PQsocket(session->pg), .events = POLLIN};
        int rc = poll(&pfd, 1, session->read_timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0) {
            ferry_error(err, session->domain, ETIMEDOUT,
                        "no data from the %s for %d s: dropping the connection", session->peer,
                        session->read_timeout_ms / 1000);
            err->retryable = true;
            return false;
        }
        if (rc < 0 || !PQconsumeInput(session->pg))
            return pg_session_error(session, NULL, "receive", err);
        return true;
    }
}

bool pg_await_result(PgSession *session, FerryError *err)
{
    while (PQisBusy(session->pg))
        if (!pg_wait_readable(session, err))
            return false;
    return true;
}

void pg_drain(PgSession *session)
{
    FerryError ignored;
    PGresult *res;
    while (pg_await_result(session, &ignored) && (res = PQgetResult(session->pg)) != NULL)
        PQclear(res);
}

PGresult *pg_exec(PgSession *session, const char *sql, int nparams, const char *const *params,
                  FerryError *err)
{
    /* Without parameters the simple protocol, which allows several statements in one string. */
    int sent = nparams == 0 ? PQsendQuery(session->pg, sql)
                            : PQsendQueryParams(session->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!sent) {
        pg_session_error(session, NULL, "send", err);
        return NULL;
    }
    PGresult *last = NULL;
    for (;;) {
        if (!pg_await_result(session, err)) {
            PQclear(last);
            return NULL;
        }
        PGresult *res = PQgetResult(session->pg);
        if (res == NULL)
            break;
        PQclear(last);
        last = res;
    }
    if (last == NULL)
        pg_session_error(session, NULL, "query", err);
    return last;
}

bool pg_query(PgSession *session, const char *sql, int nparams, const char *const *params,
              PGresult **out, FerryError *err)
{
    *out = NULL;
    PGresult *res = pg_exec(session, sql, nparams, params, err);
    if (res == NULL)
        return false;
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        pg_session_error(session, res, "query", err);
        PQclear(res);
        return false;
    }
    *out = res;
    return true;
}

bool pg_command(PgSession *session, const char *sql, FerryError *err)
{
    PGresult *res = pg_exec(session, sql, 0, NULL, err);
    if (res == NULL)
        return false;
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        pg_session_error(session, res, sql, err);
    PQclear(res);
    return ok;
}
