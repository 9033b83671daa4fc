/*
 * sinks/postgres.c — the PostgreSQL sink: each segment COPYed into the target in one transaction with its ledger row.
 *
 * Design notes
 *  (1) Exactly once (copyload.h): a segment's rows and its ledger row
 *      commit together; a worker asks the ledger before it reads a
 *      partition on (recorded), so no segment is loaded twice, with or
 *      without a key on the target. A COMMIT whose answer is lost is
 *      settled the same way: the retry finds it recorded, or not.
 *  (2) How rows go in:
 *        - a table whose plan began on an empty target, and every load =
 *          append: COPY straight into the table (no segment's key range can
 *          hold a row before it: partitions are disjoint, and a segment is
 *          never loaded twice);
 *        - load = upsert into a table that held rows when the plan began:
 *          COPY into a temporary staging table, then DELETE USING + INSERT
 *          by key (copy_merge), in the segment's transaction.
 *  (3) Rows are streamed as COPY text through one buffer of COPY_BUFFER
 *      bytes: a value of any width goes out in pieces, so the handle holds
 *      the buffer and libpq's copy of it, and wide rows cost nothing more.
 *  (4) A bad row (the server refuses a value or a constraint) names the
 *      COPY line it stopped at. on_reject = fail fails the table naming the
 *      key; skip sets the row aside in a reject file (one per segment, as
 *      the mongo sink does) and loads the segment again without it, under a
 *      savepoint. A merge that breaks a constraint the staging table does
 *      not have (a unique index other than the key, a foreign key) cannot
 *      name its row: it fails the table with the server's message.
 *  (5) A prepare_table (a new plan) forgets the table's ledger rows and
 *      records whether the table is empty. A table the previous plan filled
 *      from empty holds ferry's rows alone: it is emptied. One that held
 *      other rows first keeps them: load = upsert rewrites ferry's by key,
 *      and load = append, which cannot tell them apart, refuses the plan.
 *  (6) Sessions run with synchronous_commit on (a commit is durable before
 *      it is acknowledged, whatever the server's default) and with the
 *      source's settings for values (batch.h, note 1). A lost connection is
 *      reopened at the next begin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/copyload.h"
#include "ferry/fault.h"
#include "ferry/files.h"
#include "ferry/keytuple.h"
#include "ferry/segment.h"
#include "ferry/sink.h"
#include "ferry/sql.h"

#define WHO "postgres sink"
#define COPY_BUFFER (256u * 1024u)

typedef struct PostgresSettings {
    char *conninfo;
    int connect_timeout;
    int read_timeout;
    char *ledger;
    int load;
    bool create_table;
    int on_reject;
    char *reject_dir;
} PostgresSettings;

enum { LOAD_UPSERT = 0, LOAD_APPEND = 1 };
enum { REJECT_FAIL = 0, REJECT_SKIP = 1 };

static const char *const load_names[] = {"upsert", "append", NULL};
static const char *const reject_names[] = {"fail", "skip", NULL};

static const ConfigOption postgres_options[] = {
    CONFIG_OPTION(PostgresSettings, conninfo, OPT_STRING, .required = true, .secret = true,
                  .help = "the target: libpq conninfo or URI, as for [source] (PG* variables apply); a secret"),
    CONFIG_OPTION(PostgresSettings, connect_timeout, OPT_INT, .default_value = "10", .min = 1, .max = 3600,
                  .help = "seconds to wait for a connection"),
    CONFIG_OPTION(PostgresSettings, read_timeout, OPT_INT, .default_value = "300", .min = 1, .max = 86400,
                  .help = "seconds without an answer from the target before the connection is dropped"),
    CONFIG_OPTION(PostgresSettings, ledger, OPT_STRING, .default_value = "public.ferry_ledger", .setup = true,
                  .help = "the table in the target where ferry records each segment it loaded"),
    CONFIG_OPTION(PostgresSettings, load, OPT_ENUM, .default_value = "upsert", .choices = load_names,
                  .setup = true,
                  .help = "upsert: rows replace the target's rows of their key; append: rows are added "
                          "(no key needed on the target)"),
    CONFIG_OPTION(PostgresSettings, create_table, OPT_BOOL, .default_value = "false",
                  .help = "create a missing target table with the source's column types and key"),
    CONFIG_OPTION(PostgresSettings, on_reject, OPT_ENUM, .default_value = "fail", .choices = reject_names,
                  .help = "a row the target refuses: fail the table, or skip it into reject_dir"),
    CONFIG_OPTION(PostgresSettings, reject_dir, OPT_STRING, .default_value = "rejects", .is_path = true, .writes = true,
                  .help = "where skipped rows are written, one file per segment"),
    {0},
};

struct Sink {
    PostgresSettings settings;    /* copied; strings borrowed from the configuration */
    PgSession pg;                 /* pg.pg NULL: not connected */
    CopyTable ledger;
    /* the table in use */
    const TableShape *shape;      /* borrowed */
    char *target;                 /* owned: the shape's target, as the ledger names it */
    CopyTable table;
    int64_t generation;           /* the generation it was set up for (direct depends on it) */
    bool direct;                  /* (2) COPY straight into the table */
    char *copy_sql;               /* owned: COPY … FROM STDIN into the table or the stage */
    /* the segment */
    SinkSegment segment;
    bool in_transaction;
    int64_t rows;
    char *last_key;               /* owned: the key of the last row written */
    DurableFile rejects;          /* fd -1: no reject file open */
    int64_t rejected;
    OutBuf out;                   /* the COPY data being sent */
};

static unsigned postgres_settings_flags(const void *settings)
{
    return ((const PostgresSettings *)settings)->load == LOAD_UPSERT ? SINK_UPSERTS_BY_KEY : 0;
}

/* (3) The send buffer and libpq's copy of it as a message. */
static uint64_t postgres_memory(const void *settings)
{
    (void)settings;
    return 2 * (uint64_t)COPY_BUFFER;
}

/* The target's types are the source's. */
static const char **same_types(const TableShape *shape)
{
    const char **types = xcalloc((size_t)shape->nout + 1, sizeof *types);
    for (int c = 0; c < shape->nout; c++)
        types[c] = shape->cols[c].type_name;
    return types;
}

/* ---- sessions ---- */

static bool drain_copy(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sink *sink = ctx;
    if (PQputCopyData(sink->pg.pg, data, (int)len) == 1)
        return true;
    pg_session_error(&sink->pg, NULL, "sending rows", err);
    ferry_error_prefix(err, WHO);
    return false;
}

static void disconnect(Sink *sink)
{
    if (sink->pg.pg != NULL)
        pg_session_close(&sink->pg);
    sink->in_transaction = false;
    sink->shape = NULL; /* the staging table went with the session */
}

/* (6) Connected, with a session fit for loading; reconnects after a lost connection. */
static bool connected(Sink *sink, FerryError *err)
{
    if (sink->pg.pg != NULL && PQstatus(sink->pg.pg) == CONNECTION_OK)
        return true;
    disconnect(sink);
    const PostgresSettings *s = &sink->settings;
    if (!pg_session_open(&sink->pg, s->conninfo, NULL, s->connect_timeout, s->read_timeout, FERRY_ERR_SINK, "target",
                         err)) {
        ferry_error_prefix(err, WHO);
        return false;
    }
    if (!pg_command(&sink->pg,
                    "SET synchronous_commit = on; SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; "
                    "SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; "
                    "SET bytea_output = 'hex'; SET lc_monetary = 'C'; SET client_min_messages = warning",
                    err)) {
        ferry_error_prefix(err, WHO);
        disconnect(sink);
        return false;
    }
    return true;
}

static void postgres_close(Sink *sink);

static bool postgres_open(const void *settings, Sink **out, FerryError *err)
{
    Sink *sink = xcalloc(1, sizeof *sink);
    sink->settings = *(const PostgresSettings *)settings;
    sink->rejects.fd = -1;
    outbuf_init(&sink->out, COPY_BUFFER, drain_copy, sink);
    *out = sink;
    if (copy_table_parse(sink->settings.ledger, "public", &sink->ledger, WHO, "ledger", err) &&
        connected(sink, err) && ledger_ensure(&sink->pg, &copy_dialect_postgresql, &sink->ledger, WHO, err))
        return true;
    postgres_close(sink);
    *out = NULL;
    return false;
}

static void forget_table(Sink *sink)
{
    sink->shape = NULL;
    free(sink->target);
    sink->target = NULL;
    copy_table_free(&sink->table);
    free(sink->copy_sql);
    sink->copy_sql = NULL;
}

static void end_segment(Sink *sink)
{
    free(sink->last_key);
    sink->last_key = NULL;
    sink->rows = 0;
    sink->rejected = 0;
    file_durable_abort(&sink->rejects);
}

static void postgres_abort(Sink *sink)
{
    if (sink->in_transaction && sink->pg.pg != NULL) {
        if (PQtransactionStatus(sink->pg.pg) == PQTRANS_ACTIVE || !pg_command(&sink->pg, "ROLLBACK", NULL))
            disconnect(sink); /* mid-COPY or unanswered: a new session is cleaner than a rescue */
    }
    sink->in_transaction = false;
    end_segment(sink);
}

static void postgres_close(Sink *sink)
{
    if (sink == NULL)
        return;
    postgres_abort(sink);
    forget_table(sink);
    disconnect(sink);
    copy_table_free(&sink->ledger);
    outbuf_free(&sink->out);
    free(sink);
}

/* ---- tables ---- */

static bool postgres_check_table(const void *settings, const TableShape *shape, FerryError *err)
{
    const PostgresSettings *s = settings;
    CopyTable table;
    char what[FERRY_NAME_MAX + 32];
    snprintf(what, sizeof what, "the target of table %s.%s", shape->schema, shape->name);
    if (!copy_table_parse(shape->target, "public", &table, WHO, what, err))
        return false;
    copy_table_free(&table);
    if (s->load != LOAD_UPSERT)
        return true;
    for (int k = 0; k < shape->nkeys; k++)
        if (shape->key_col[k] >= shape->nout)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s: table %s.%s: load = upsert replaces rows by their key, but key column %s is "
                               "not among the columns copied: add it to columns, or set load = append",
                               WHO, shape->schema, shape->name, shape->cols[shape->key_col[k]].name);
    return true;
}

/* The target table exists (made if create_table asks) and matches the shape. */
static bool ensure_table(Sink *sink, const TableShape *shape, const CopyTable *table, FerryError *err)
{
    bool missing = false;
    const char **types = same_types(shape);
    bool ok = copy_check_columns(&sink->pg, &copy_dialect_postgresql, table, shape, types, &missing, WHO, err);
    if (!ok || !missing) {
        free(types);
        return ok;
    }
    if (!sink->settings.create_table) {
        free(types);
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s: target table %s.%s does not exist: create it, or set create_table = true in [sink]",
                           WHO, table->schema, table->name);
    }
    char *create = copy_create_sql(table, shape, types, shape->key_enforced);
    StrBuf sql = {0};
    strbuf_add(&sql, "BEGIN; SELECT pg_advisory_xact_lock(hashtext(%s)); %s; COMMIT", "'ferry create table'",
               create);
    free(create);
    ok = sql_statement_whole(&sql, err) && pg_command(&sink->pg, sql.text, err);
    free(sql.text);
    if (!ok) {
        free(types);
        pg_command(&sink->pg, "ROLLBACK", NULL);
        ferry_error_prefix(err, "%s: cannot create target table %s.%s", WHO, table->schema, table->name);
        return false;
    }
    log_info("%s: created table %s.%s", WHO, table->schema, table->name);
    ok = copy_check_columns(&sink->pg, &copy_dialect_postgresql, table, shape, types, &missing, WHO, err);
    free(types);
    return ok;
}

/* Point the handle at a table: it exists and matches, and how its rows go in is known (note 2). */
static bool use_table(Sink *sink, const TableShape *shape, int64_t generation, FerryError *err)
{
    if (sink->shape == shape && sink->target != NULL && strcmp(sink->target, shape->target) == 0 &&
        sink->generation == generation)
        return true;
    forget_table(sink);
    if (!connected(sink, err) || !copy_table_parse(shape->target, "public", &sink->table, WHO, "target", err))
        return false;
    bool found, started_empty;
    if (!ensure_table(sink, shape, &sink->table, err) ||
        !ledger_plan_find(&sink->pg, &sink->ledger, shape->target, &found, &started_empty, WHO, err))
        return false;
    /* An incremental run's rows (a later generation) are in the table already: they are merged. */
    sink->direct = sink->settings.load == LOAD_APPEND || (found && started_empty && generation == 0);
    sink->generation = generation;
    char *cols = sql_column_list(shape, shape->nout);
    StrBuf sql = {0};
    if (sink->direct) {
        strbuf_add(&sql, "COPY %s (%s) FROM STDIN", sink->table.sql, cols);
    } else {
        /* A temporary table lives as long as the session; each commit empties it. */
        StrBuf create = {0};
        strbuf_add(&create,
                   "CREATE TEMPORARY TABLE IF NOT EXISTS ferry_stage (LIKE %s INCLUDING DEFAULTS "
                   "INCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS",
                   sink->table.sql);
        bool made = pg_command(&sink->pg, "DROP TABLE IF EXISTS pg_temp.ferry_stage", err) &&
                    pg_command(&sink->pg, create.text, err);
        free(create.text);
        if (!made) {
            free(cols);
            ferry_error_prefix(err, "%s: cannot make the staging table", WHO);
            return false;
        }
        strbuf_add(&sql, "COPY pg_temp.ferry_stage (%s) FROM STDIN", cols);
    }
    free(cols);
    sink->copy_sql = sql.text;
    sink->target = xstrdup(shape->target);
    sink->shape = shape;
    return true;
}

/*
 * (5) A new plan of the table: its earlier ledger rows go, and its rows too
 * where ferry's earlier plan filled it from empty.
 */
static bool postgres_prepare_table(Sink *sink, const TableShape *shape, FerryError *err)
{
    if (!use_table(sink, shape, 0, err))
        return false;
    bool found, started_empty, empty;
    bool ok = pg_command(&sink->pg, "BEGIN", err);
    StrBuf lock = {0};
    strbuf_add(&lock, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", sink->table.sql);
    ok = ok && pg_command(&sink->pg, lock.text, err) &&
         ledger_plan_find(&sink->pg, &sink->ledger, shape->target, &found, &started_empty, WHO, err) &&
         copy_table_empty(&sink->pg, &sink->table, &empty, WHO, err);
    free(lock.text);
    if (ok && found && !empty && started_empty) {
        StrBuf truncate = {0};
        strbuf_add(&truncate, "TRUNCATE %s", sink->table.sql);
        ok = pg_command(&sink->pg, truncate.text, err);
        free(truncate.text);
        empty = true;
        if (ok)
            log_info("%s: table %s emptied of the earlier plan's rows (it was empty before that plan)", WHO,
                     sink->table.sql);
    } else if (ok && found && !empty && sink->settings.load == LOAD_APPEND) {
        ok = ferry_error(err, FERRY_ERR_CONFIG, 0,
                         "%s: table %s is planned again, and with load = append its earlier load would be "
                         "doubled; it held other rows before that load, which ferry cannot tell from its own: "
                         "empty the target table, or set load = upsert",
                         WHO, sink->table.sql);
    }
    ok = ok && ledger_plan_start(&sink->pg, &sink->ledger, shape->target, empty, WHO, err) &&
         pg_command(&sink->pg, "COMMIT", err);
    if (!ok) {
        pg_command(&sink->pg, "ROLLBACK", NULL);
        ferry_error_prefix(err, WHO);
    }
    forget_table(sink); /* how rows go in follows the new plan row */
    return ok;
}

/* ---- segments ---- */

static bool postgres_claim(Sink *sink, const TableShape *shape, const SinkOwner *owner, FerryError *err)
{
    return connected(sink, err) && ledger_claim(&sink->pg, &sink->ledger, shape->target, owner, WHO, err);
}

static bool postgres_recorded(Sink *sink, const SinkSegment *segment, SinkRecord *out, bool *found,
                              FerryError *err)
{
    return connected(sink, err) &&
           ledger_find(&sink->pg, &sink->ledger, segment->shape->target, segment, out, found, WHO, err);
}

static bool postgres_begin(Sink *sink, const SinkSegment *segment, FerryError *err)
{
    end_segment(sink);
    sink->segment = *segment;
    SinkRecord record;
    bool found = false;
    if (!use_table(sink, segment->shape, segment->generation, err) ||
        !ledger_find(&sink->pg, &sink->ledger, sink->target, segment, &record, &found, WHO, err))
        return false;
    free(record.last_key);
    if (found)
        return ferry_error(err, FERRY_ERR_BUG, 0,
                           "BUG: %s: segment %lld of partition %lld of %s is in the ledger already", WHO,
                           (long long)segment->sequence, (long long)segment->partition, sink->target);
    if (!pg_command(&sink->pg, "BEGIN", err)) {
        ferry_error_prefix(err, WHO);
        return false;
    }
    sink->in_transaction = true;
    return true;
}

/* Send the rows of the batch not in `skip` as one COPY; *result is the server's answer (owned). */
static bool copy_rows(Sink *sink, const RowBatch *batch, const bool *skip, PGresult **result, FerryError *err)
{
    *result = NULL;
    if (!PQsendQuery(sink->pg.pg, sink->copy_sql))
        return pg_session_error(&sink->pg, NULL, WHO ": COPY", err);
    if (!pg_await_result(&sink->pg, err)) {
        ferry_error_prefix(err, WHO ": COPY");
        return false;
    }
    PGresult *res = PQgetResult(sink->pg.pg);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        pg_session_error(&sink->pg, res, WHO ": COPY", err);
        PQclear(res);
        pg_drain(&sink->pg);
        return false;
    }
    PQclear(res);
    const TableShape *shape = sink->shape;
    sink->out.len = 0; /* what a failed COPY left unsent is not this one's */
    sink->out.failed = false;
    for (int r = 0; r < batch->nrows && !sink->out.failed; r++) {
        if (skip == NULL || !skip[r])
            copy_text_row(&sink->out, batch, r, shape->nout);
        if (r == batch->nrows / 2 && fault_hit(FAULT_SINK_MID_WRITE, sink->segment.partition)) {
            PQputCopyEnd(sink->pg.pg, "injected fault");
            pg_drain(&sink->pg);
            ferry_error(err, FERRY_ERR_SINK, 0, "%s: injected fault: a COPY failed half way", WHO);
            err->retryable = true;
            return false;
        }
    }
    if (!outbuf_flush(&sink->out) || sink->out.failed) {
        *err = sink->out.error;
        return false;
    }
    if (PQputCopyEnd(sink->pg.pg, NULL) != 1)
        return pg_session_error(&sink->pg, NULL, WHO ": COPY", err);
    if (!pg_await_result(&sink->pg, err)) {
        ferry_error_prefix(err, WHO ": COPY");
        return false;
    }
    *result = PQgetResult(sink->pg.pg);
    pg_drain(&sink->pg);
    return true;
}

/* The batch row of a COPY's line (from 1), with the rows in `skip` left out of the count; -1: none. */
static int row_of_line(const RowBatch *batch, const bool *skip, long line)
{
    for (int r = 0; r < batch->nrows; r++)
        if ((skip == NULL || !skip[r]) && --line == 0)
            return r;
    return -1;
}

/* (4) Set one bad row aside: a line of the segment's reject file. */
static bool reject_row(Sink *sink, const RowBatch *batch, int row, const char *reason, FerryError *err)
{
    bool ok = copy_reject_row(&sink->rejects, sink->settings.reject_dir, sink->target, &sink->segment,
                              sink->shape, batch, row, reason, WHO, err);
    sink->rejected += ok;
    return ok;
}

/* A COPY the server refused: a bad row (named, or set aside and the COPY sent again), or a failure. */
static bool copy_refused(Sink *sink, const RowBatch *batch, bool **skip, const PGresult *res, bool *again,
                         FerryError *err)
{
    *again = false;
    long line = 0;
    int row = copy_error_is_row(res, &line) ? row_of_line(batch, *skip, line) : -1;
    pg_session_error(&sink->pg, res, "the target refused a row", err);
    if (row < 0) {
        ferry_error_prefix(err, "%s: table %s: COPY", WHO, sink->table.sql);
        return false;
    }
    char key[512];
    batch_describe_key(sink->shape, batch, row, key, sizeof key);
    if (sink->settings.on_reject == REJECT_FAIL) {
        FerryError why = *err;
        ferry_error(err, FERRY_ERR_SINK, 0, "%s: table %s, key %s: %s (on_reject = skip sets such rows aside)",
                    WHO, sink->target, key, why.message);
        return false;
    }
    char reason[FERRY_ERROR_MAX];
    snprintf(reason, sizeof reason, "%s", err->message);
    if (*skip == NULL)
        *skip = xcalloc((size_t)batch->nrows, sizeof **skip);
    (*skip)[row] = true;
    if (!reject_row(sink, batch, row, reason, err))
        return false;
    *again = pg_command(&sink->pg, "ROLLBACK TO SAVEPOINT ferry_rows", err);
    return *again;
}

static bool postgres_write(Sink *sink, const RowBatch *batch, FerryError *err)
{
    if (batch->nrows == 0)
        return true;
    bool savepoint = sink->settings.on_reject == REJECT_SKIP;
    if (savepoint && !pg_command(&sink->pg, "SAVEPOINT ferry_rows", err))
        return false;
    bool *skip = NULL;
    bool ok = true;
    for (bool again = true; ok && again;) {
        PGresult *res = NULL;
        ok = copy_rows(sink, batch, skip, &res, err);
        again = false;
        if (ok && PQresultStatus(res) != PGRES_COMMAND_OK)
            ok = copy_refused(sink, batch, &skip, res, &again, err);
        PQclear(res);
    }
    free(skip);
    if (ok && savepoint)
        ok = pg_command(&sink->pg, "RELEASE SAVEPOINT ferry_rows", err);
    if (!ok)
        return false;
    sink->rows += batch->nrows;
    free(sink->last_key);
    sink->last_key = key_tuple_from_batch(batch, batch->nrows - 1, sink->shape);
    return true;
}

static bool postgres_commit(Sink *sink, FerryError *err)
{
    if (fault_hit(FAULT_SINK_COMMIT, sink->segment.partition)) {
        ferry_error(err, FERRY_ERR_SINK, 0, "%s: injected fault: the commit failed", WHO);
        err->retryable = true;
        return false;
    }
    SinkRecord record = {.last_key = sink->last_key, .rows = sink->rows, .rejected = sink->rejected,
                         .last = sink->segment.last};
    /* The reject file is complete before the rows commit: a replay of the segment replaces it. */
    bool rejects = sink->rejects.fd >= 0;
    bool ok = (sink->direct ||
               copy_merge(&sink->pg, &sink->table, "pg_temp.ferry_stage", sink->shape, WHO, err)) &&
              ledger_add(&sink->pg, &sink->ledger, sink->target, &sink->segment, &record, WHO, err) &&
              (!rejects || file_durable_commit(&sink->rejects, WHO, err));
    if (ok && !pg_command(&sink->pg, "COMMIT", err)) {
        ferry_error_prefix(err, WHO);
        ok = false;
    }
    if (!ok)
        return false;
    sink->in_transaction = false;
    if (rejects)
        log_warn("%s: %lld row(s) of %s set aside in %s", WHO, (long long)sink->rejected, sink->target,
                 sink->rejects.path);
    return true;
}

static int64_t postgres_rejected(Sink *sink)
{
    return sink->rejected;
}

/* ---- verify ---- */

static bool postgres_digest(Sink *sink, const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                            FerryError *err)
{
    return use_table(sink, shape, part->generation, err) && copy_digest(&sink->pg, &sink->table, shape, part, out, WHO, err);
}

static uint64_t postgres_key_hash(Sink *sink, const TableShape *shape, const RowBatch *keys, int row)
{
    (void)sink;
    return copy_key_hash(shape, keys, row);
}

static bool postgres_ranges_match(Sink *sink, const TableShape *shape)
{
    (void)sink;
    for (int k = 0; k < shape->nkeys; k++)
        if (shape->key_col[k] >= shape->nout)
            return false; /* the key is not stored: only the whole table can be counted */
    return copy_ranges_match(shape);
}

static bool postgres_prune(Sink *sink, const TableShape *shape, const SinkPartition *part, const uint64_t *live,
                          size_t nlive, int64_t *removed, FerryError *err)
{
    return use_table(sink, shape, part->generation, err) &&
           copy_prune(&sink->pg, &sink->table, shape, part, live, nlive, removed, WHO, err);
}

const SinkOps sink_postgres = {
    .name = "postgres",
    .flags = SINK_REPLACES_SEGMENTS,
    .settings_flags = postgres_settings_flags,
    .options = postgres_options,
    .settings_size = sizeof(PostgresSettings),
    .open = postgres_open,
    .memory = postgres_memory,
    .check_table = postgres_check_table,
    .prepare_table = postgres_prepare_table,
    .claim = postgres_claim,
    .begin = postgres_begin,
    .write = postgres_write,
    .commit = postgres_commit,
    .abort = postgres_abort,
    .close = postgres_close,
    .rejected = postgres_rejected,
    .recorded = postgres_recorded,
    .digest = postgres_digest,
    .prune = postgres_prune,
    .key_hash = postgres_key_hash,
    .ranges_match = postgres_ranges_match,
};
