/*
 * sinks/copyload.c — the ledger, the target table's checks, merges and COPY text for the COPY sinks.
 *
 * Design notes
 *  (1) The ledger's rows are keyed by (target, generation, partition,
 *      sequence). A plan row has partition -1 and sequence -1; its
 *      started_empty says whether the table held no row when the plan began.
 *      Segment rows keep what the worker would have checkpointed: the last
 *      key (a key tuple, keytuple.h), the rows and the rejected rows, and
 *      whether it was the partition's last segment.
 *  (2) Every statement with a value from outside (a key, a target name)
 *      passes it as a parameter; names are quoted (sql.h).
 *  (3) A merge is DELETE … USING stage + INSERT … SELECT from the stage: it
 *      needs no unique index on the target and reads the same on PostgreSQL
 *      and on Redshift; the stage holds one segment, so the DELETE's join is
 *      as small as a segment (with an index on the key, a lookup a row).
 *  (4) Keys are compared as text of their type, read back with the same
 *      session settings as the source (batch.h, note 1): a key hashes alike
 *      on both sides exactly when the target stores it unchanged.
 *  (5) The owner row (partition -2, sequence -2) holds the owner marker
 *      (owner.h) in last_key; a new plan keeps it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/copyload.h"
#include "ferry/keytuple.h"
#include "ferry/owner.h"
#include "ferry/segment.h"
#include "ferry/sql.h"

const CopyDialect copy_dialect_postgresql = {
    .text_type = "text",
    .timestamp_type = "timestamptz",
    .now = "now()",
    .advisory_locks = true,
    .columns_sql = "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef "
                   "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped "
                   "ORDER BY a.attnum",
};

/* ---- names ---- */

/* One name of "a.b" from *p: quoted ("x""y") or bare up to the next dot; NULL when malformed. */
static char *take_name(const char **p)
{
    const char *s = *p;
    StrBuf name = {0};
    strbuf_add(&name, "%s", "");
    if (*s == '"') {
        for (s++;; s++) {
            if (*s == '\0')
                goto bad;
            if (*s == '"' && s[1] == '"')
                strbuf_add(&name, "\""), s++;
            else if (*s == '"')
                break;
            else
                strbuf_add(&name, "%c", *s);
        }
        s++;
    } else {
        const char *end = s + strcspn(s, ".\"");
        if (end == s)
            goto bad;
        strbuf_add(&name, "%.*s", (int)(end - s), s);
        s = end;
    }
    if (name.len == 0 || name.failed)
        goto bad;
    *p = s;
    return name.text;
bad:
    free(name.text);
    return NULL;
}

bool copy_table_parse(const char *text, const char *default_schema, CopyTable *out, const char *who,
                      const char *what, FerryError *err)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    char *first = take_name(&p);
    char *second = NULL;
    if (first != NULL && *p == '.') {
        p++;
        second = take_name(&p);
    }
    if (first == NULL || *p != '\0' || (second == NULL && p[-1] == '.')) {
        free(first);
        free(second);
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s: %s \"%s\" is not a table name: write schema.name, with double quotes around a "
                           "name that holds a dot or a quote (\"my.schema\".\"t\")", who, what, text);
    }
    out->schema = second ? first : xstrdup(default_schema);
    out->name = second ? second : first;
    char *s = sql_quote_ident(out->schema), *n = sql_quote_ident(out->name);
    StrBuf sql = {0};
    strbuf_add(&sql, "%s.%s", s, n);
    free(s);
    free(n);
    out->sql = sql.text;
    return true;
}

void copy_table_free(CopyTable *table)
{
    free(table->schema);
    free(table->name);
    free(table->sql);
    memset(table, 0, sizeof *table);
}

/* ---- statements ---- */

static bool run(PgSession *pg, const char *sql, int nparams, const char *const *params, PGresult **out,
                const char *who, const char *what, FerryError *err)
{
    PGresult *res = NULL;
    if (!pg_query(pg, sql, nparams, params, &res, err)) {
        ferry_error_prefix(err, "%s: %s", who, what);
        return false;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return true;
}

/* ---- the ledger (note 1) ---- */

bool ledger_ensure(PgSession *pg, const CopyDialect *dialect, const CopyTable *ledger, const char *who,
                   FerryError *err)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "BEGIN; ");
    if (dialect->advisory_locks) /* CREATE … IF NOT EXISTS races with itself: one at a time */
        strbuf_add(&sql, "SELECT pg_advisory_xact_lock(hashtext('ferry ledger')); ");
    strbuf_add(&sql,
               "CREATE TABLE IF NOT EXISTS %s (target %s NOT NULL, generation bigint NOT NULL, "
               "\"partition\" bigint NOT NULL, sequence bigint NOT NULL, last_key %s, rows bigint NOT NULL, "
               "rejected bigint NOT NULL, last boolean NOT NULL, started_empty boolean, "
               "loaded_at %s NOT NULL DEFAULT %s, "
               "PRIMARY KEY (target, generation, \"partition\", sequence)); COMMIT",
               ledger->sql, dialect->text_type, dialect->text_type, dialect->timestamp_type, dialect->now);
    bool ok = !sql.failed && run(pg, sql.text, 0, NULL, NULL, who, "cannot create the ledger", err);
    if (!ok)
        pg_command(pg, "ROLLBACK", NULL);
    free(sql.text);
    return ok;
}

bool ledger_find(PgSession *pg, const CopyTable *ledger, const char *target, const SinkSegment *segment,
                 SinkRecord *out, bool *found, const char *who, FerryError *err)
{
    memset(out, 0, sizeof *out);
    *found = false;
    char gen[24], part[24], seq[24];
    snprintf(gen, sizeof gen, "%lld", (long long)segment->generation);
    snprintf(part, sizeof part, "%lld", (long long)segment->partition);
    snprintf(seq, sizeof seq, "%lld", (long long)segment->sequence);
    const char *params[] = {target, gen, part, seq};
    StrBuf sql = {0};
    strbuf_add(&sql,
               "SELECT last_key, rows, rejected, last FROM %s WHERE target = $1 AND generation = $2 AND "
               "\"partition\" = $3 AND sequence = $4", ledger->sql);
    PGresult *res = NULL;
    bool ok = run(pg, sql.text, 4, params, &res, who, "reading the ledger", err);
    free(sql.text);
    if (ok && PQntuples(res) == 1) {
        *found = true;
        out->last_key = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0));
        out->rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        out->rejected = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->last = PQgetvalue(res, 0, 3)[0] == 't';
    }
    PQclear(res);
    return ok;
}

bool ledger_add(PgSession *pg, const CopyTable *ledger, const char *target, const SinkSegment *segment,
                const SinkRecord *record, const char *who, FerryError *err)
{
    char gen[24], part[24], seq[24], rows[24], rejected[24];
    snprintf(gen, sizeof gen, "%lld", (long long)segment->generation);
    snprintf(part, sizeof part, "%lld", (long long)segment->partition);
    snprintf(seq, sizeof seq, "%lld", (long long)segment->sequence);
    snprintf(rows, sizeof rows, "%lld", (long long)record->rows);
    snprintf(rejected, sizeof rejected, "%lld", (long long)record->rejected);
    const char *params[] = {target, gen, part, seq, record->last_key, rows, rejected,
                            record->last ? "true" : "false"};
    StrBuf sql = {0};
    strbuf_add(&sql,
               "INSERT INTO %s (target, generation, \"partition\", sequence, last_key, rows, rejected, last) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", ledger->sql);
    bool ok = run(pg, sql.text, 8, params, NULL, who, "recording the segment in the ledger", err);
    free(sql.text);
    return ok;
}

bool ledger_plan_find(PgSession *pg, const CopyTable *ledger, const char *target, bool *found,
                      bool *started_empty, const char *who, FerryError *err)
{
    *found = *started_empty = false;
    const char *params[] = {target};
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT started_empty FROM %s WHERE target = $1 AND \"partition\" = -1 AND sequence = -1",
               ledger->sql);
    PGresult *res = NULL;
    bool ok = run(pg, sql.text, 1, params, &res, who, "reading the ledger", err);
    free(sql.text);
    if (ok && PQntuples(res) > 0) {
        *found = true;
        *started_empty = PQgetvalue(res, 0, 0)[0] == 't';
    }
    PQclear(res);
    return ok;
}

bool ledger_plan_start(PgSession *pg, const CopyTable *ledger, const char *target, bool started_empty,
                       const char *who, FerryError *err)
{
    const char *params[] = {target, started_empty ? "true" : "false"};
    StrBuf del = {0}, ins = {0};
    strbuf_add(&del, "DELETE FROM %s WHERE target = $1 AND \"partition\" <> -2", ledger->sql);
    strbuf_add(&ins,
               "INSERT INTO %s (target, generation, \"partition\", sequence, rows, rejected, last, started_empty) "
               "VALUES ($1, 0, -1, -1, 0, 0, false, $2)", ledger->sql);
    bool ok = run(pg, del.text, 1, params, NULL, who, "clearing the ledger", err) &&
              run(pg, ins.text, 2, params, NULL, who, "recording the plan in the ledger", err);
    free(del.text);
    free(ins.text);
    return ok;
}

bool ledger_claim(PgSession *pg, const CopyTable *ledger, const char *target, const SinkOwner *owner,
                  const char *who, FerryError *err)
{
    const char *params[] = {target, NULL};
    StrBuf find = {0}, where = {0}, marker = {0};
    strbuf_add(&find, "SELECT last_key FROM %s WHERE target = $1 AND \"partition\" = -2 AND sequence = -2",
               ledger->sql);
    strbuf_add(&where, "table %s (its owner row in %s)", target, ledger->sql);
    PGresult *res = NULL;
    bool write = false;
    bool ok = run(pg, find.text, 1, params, &res, who, "reading the ledger", err) &&
              owner_check(PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : NULL, owner, who, where.text, &write, err);
    PQclear(res);
    if (ok && write) {
        owner_marker(owner, &marker);
        params[1] = marker.text;
        StrBuf del = {0}, ins = {0};
        strbuf_add(&del, "DELETE FROM %s WHERE target = $1 AND \"partition\" = -2", ledger->sql);
        strbuf_add(&ins,
                   "INSERT INTO %s (target, generation, \"partition\", sequence, last_key, rows, rejected, last) "
                   "VALUES ($1, 0, -2, -2, $2, 0, 0, false)", ledger->sql);
        ok = pg_command(pg, "BEGIN", err) && run(pg, del.text, 1, params, NULL, who, "claiming the table", err) &&
             run(pg, ins.text, 2, params, NULL, who, "claiming the table", err) && pg_command(pg, "COMMIT", err);
        if (!ok)
            pg_command(pg, "ROLLBACK", NULL);
        free(del.text);
        free(ins.text);
    }
    free(find.text);
    free(where.text);
    free(marker.text);
    return ok;
}

/* ---- the target table ---- */

bool copy_check_columns(PgSession *pg, const CopyDialect *dialect, const CopyTable *table,
                        const TableShape *shape, const char *const *types, bool *missing, const char *who,
                        FerryError *err)
{
    *missing = false;
    const char *params[] = {table->schema, table->name};
    PGresult *res = NULL;
    if (!run(pg, dialect->columns_sql, 2, params, &res, who, "reading the target's columns", err))
        return false;
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        *missing = true;
        return true;
    }
    StrBuf why = {.max = 600};
    strbuf_add(&why, "%s", "");
    bool *seen = xcalloc((size_t)n, sizeof *seen);
    for (int c = 0; c < shape->nout; c++) {
        const Column *col = &shape->cols[c];
        int i = 0;
        while (i < n && strcmp(PQgetvalue(res, i, 0), col->name) != 0)
            i++;
        if (i == n) {
            strbuf_add(&why, "%scolumn %s is missing", why.len ? "; " : "", col->name);
            continue;
        }
        seen[i] = true;
        const char *want = types[c];
        if (strcmp(PQgetvalue(res, i, 1), want) != 0)
            strbuf_add(&why, "%scolumn %s is %s there, %s in the source", why.len ? "; " : "", col->name,
                       PQgetvalue(res, i, 1), want);
    }
    for (int i = 0; i < n; i++)
        if (!seen[i] && PQgetvalue(res, i, 2)[0] == 't' && PQgetvalue(res, i, 3)[0] != 't')
            strbuf_add(&why, "%scolumn %s is NOT NULL without a default, and the source has no such column",
                       why.len ? "; " : "", PQgetvalue(res, i, 0));
    free(seen);
    PQclear(res);
    bool ok = why.len == 0;
    if (!ok)
        ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: target table %s.%s does not match table %s.%s: %s%s", who,
                    table->schema, table->name, shape->schema, shape->name, why.text, why.failed ? "…" : "");
    free(why.text);
    return ok;
}

char *copy_create_sql(const CopyTable *table, const TableShape *shape, const char *const *types, bool primary)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "CREATE TABLE IF NOT EXISTS %s (", table->sql);
    for (int c = 0; c < shape->nout; c++) {
        bool key = false;
        for (int k = 0; k < shape->nkeys; k++)
            key |= shape->key_col[k] == c;
        char *name = sql_quote_ident(shape->cols[c].name);
        strbuf_add(&sql, "%s%s %s%s", c ? ", " : "", name, types[c], key ? " NOT NULL" : "");
        free(name);
    }
    if (primary) {
        char *keys = sql_key_list(shape);
        strbuf_add(&sql, ", PRIMARY KEY (%s)", keys);
        free(keys);
    }
    strbuf_add(&sql, ")");
    return sql.text;
}

bool copy_table_empty(PgSession *pg, const CopyTable *table, bool *empty, const char *who, FerryError *err)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT 1 FROM %s LIMIT 1", table->sql);
    PGresult *res = NULL;
    bool ok = run(pg, sql.text, 0, NULL, &res, who, "looking into the target", err);
    free(sql.text);
    if (ok)
        *empty = PQntuples(res) == 0;
    PQclear(res);
    return ok;
}

bool copy_merge(PgSession *pg, const CopyTable *table, const char *stage_sql, const TableShape *shape,
                const char *who, FerryError *err)
{
    StrBuf sql = {0};
    /* No alias for the table: Redshift's DELETE takes none. */
    strbuf_add(&sql, "DELETE FROM %s USING %s WHERE ", table->sql, stage_sql);
    for (int k = 0; k < shape->nkeys; k++) {
        char *q = sql_quote_ident(shape->cols[shape->key_col[k]].name);
        strbuf_add(&sql, "%s%s.%s = %s.%s", k ? " AND " : "", table->sql, q, stage_sql, q);
        free(q);
    }
    char *cols = sql_column_list(shape, shape->nout);
    char *live = sql_live_rows(shape); /* deletes = soft: a deleted row's key is only removed */
    strbuf_add(&sql, "; INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s", table->sql, cols, cols, stage_sql,
               live ? live : "true");
    free(live);
    free(cols);
    bool ok = sql_statement_whole(&sql, err) && run(pg, sql.text, 0, NULL, NULL, who, "merging the segment", err);
    free(sql.text);
    return ok;
}

/* ---- rows ---- */

void copy_text_row(OutBuf *out, const RowBatch *batch, int row, int ncols)
{
    for (int c = 0; c < ncols; c++) {
        if (c > 0)
            outbuf_putc(out, '\t');
        size_t len = 0;
        const char *v = batch_value(batch, row, c, &len);
        if (v == NULL) {
            outbuf_write(out, "\\N", 2);
            continue;
        }
        /* Runs without a special byte go out in one piece. */
        size_t start = 0;
        for (size_t i = 0; i < len; i++) {
            char esc;
            switch (v[i]) {
            case '\\': esc = '\\'; break;
            case '\t': esc = 't'; break;
            case '\n': esc = 'n'; break;
            case '\r': esc = 'r'; break;
            default: continue;
            }
            outbuf_write(out, v + start, i - start);
            outbuf_putc(out, '\\');
            outbuf_putc(out, esc);
            start = i + 1;
        }
        outbuf_write(out, v + start, len - start);
    }
    outbuf_putc(out, '\n');
}

bool copy_error_is_row(const PGresult *result, long *line)
{
    *line = 0;
    const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (state == NULL || (strncmp(state, "22", 2) != 0 && strncmp(state, "23", 2) != 0))
        return false;
    const char *context = PQresultErrorField(result, PG_DIAG_CONTEXT);
    const char *at = context ? strstr(context, ", line ") : NULL;
    if (at != NULL)
        *line = strtol(at + 7, NULL, 10);
    return true;
}

static bool drain_rejects(void *ctx, const char *data, size_t len, FerryError *err)
{
    return file_durable_write(ctx, data, len, "reject file", err);
}

bool copy_reject_row(DurableFile *rejects, const char *dir, const char *target, const SinkSegment *segment,
                     const TableShape *shape, const RowBatch *batch, int row, const char *reason, const char *who,
                     FerryError *err)
{
    if (rejects->fd < 0 &&
        !segment_file_open(rejects, dir, target,
                           (SegmentId){segment->generation, segment->partition, segment->sequence}, "ndjson", who,
                           err))
        return false;
    OutBuf out;
    outbuf_init(&out, 4096, drain_rejects, rejects);
    char head[160];
    int n = snprintf(head, sizeof head, "{\"table\":");
    outbuf_write(&out, head, (size_t)n);
    format_json_string(&out, target, strlen(target));
    n = snprintf(head, sizeof head, ",\"partition\":%lld,\"segment\":%lld,\"key\":{",
                 (long long)segment->partition, (long long)segment->sequence);
    outbuf_write(&out, head, (size_t)n);
    for (int k = 0; k < shape->nkeys; k++) {
        int c = shape->key_col[k];
        size_t len = 0;
        const char *v = batch_value(batch, row, c, &len);
        if (k > 0)
            outbuf_putc(&out, ',');
        format_json_string(&out, shape->cols[c].name, strlen(shape->cols[c].name));
        outbuf_putc(&out, ':');
        if (v != NULL)
            format_json_string(&out, v, len);
        else
            outbuf_write(&out, "null", 4);
    }
    outbuf_write(&out, "},\"reason\":", 11);
    format_json_string(&out, reason, strlen(reason));
    outbuf_write(&out, "}\n", 2);
    bool ok = outbuf_flush(&out) && !out.failed;
    if (!ok)
        *err = out.error;
    outbuf_free(&out);
    return ok;
}

/* ---- verify (note 4) ---- */

static uint64_t hash_value(uint64_t hash, const char *value, size_t len)
{
    uint64_t n = len;
    hash = format_hash(hash, &n, sizeof n);
    return format_hash(hash, value, len);
}

uint64_t copy_key_hash(const TableShape *shape, const RowBatch *keys, int row)
{
    uint64_t hash = FORMAT_HASH_SEED;
    for (int k = 0; k < shape->nkeys; k++) {
        size_t len = 0;
        const char *v = batch_value(keys, row, k, &len);
        hash = hash_value(hash, v ? v : "", v ? len : 0);
    }
    return hash;
}

/* Stream a query's rows in single-row mode to fn, one result of one row each (the session reads one result). */
static bool stream_rows(PgSession *pg, const char *sql, void (*fn)(void *ctx, const PGresult *row), void *ctx,
                        const char *what, const char *who, FerryError *err)
{
    if (!PQsendQuery(pg->pg, sql) || !PQsetSingleRowMode(pg->pg))
        return pg_session_error(pg, NULL, what, err);
    bool ok = true;
    PGresult *res;
    for (;;) {
        if (!pg_await_result(pg, err)) {
            ferry_error_prefix(err, "%s", who);
            return false;
        }
        if ((res = PQgetResult(pg->pg)) == NULL)
            break;
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_SINGLE_TUPLE && ok) {
            fn(ctx, res);
        } else if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK && ok) {
            ok = pg_session_error(pg, res, what, err);
            ferry_error_prefix(err, "%s", who);
        }
        PQclear(res);
    }
    return ok;
}

/* The key columns are among those the target holds. */
static bool keys_stored(const TableShape *shape)
{
    for (int k = 0; k < shape->nkeys; k++)
        if (shape->key_col[k] >= shape->nout)
            return false;
    return true;
}

/* SELECT key::text, … FROM target WHERE true AND key in (lo, hi]: the target's keys of a partition. */
static bool keys_query(const CopyTable *table, const TableShape *shape, const SinkPartition *part, StrBuf *sql,
                       FerryError *err)
{
    strbuf_add(sql, "SELECT ");
    for (int k = 0; k < shape->nkeys; k++) {
        char *q = sql_quote_ident(shape->cols[shape->key_col[k]].name);
        strbuf_add(sql, "%s%s::text", k ? ", " : "", q);
        free(q);
    }
    strbuf_add(sql, " FROM %s WHERE true", table->sql);
    return sql_key_range(shape, part->lo, part->hi, sql, err);
}

/* A row of keys_query hashed as copy_key_hash hashes the source's. */
static uint64_t row_key_hash(const PGresult *row, int nkeys)
{
    uint64_t hash = FORMAT_HASH_SEED;
    for (int k = 0; k < nkeys; k++)
        hash = hash_value(hash, PQgetvalue(row, 0, k), (size_t)PQgetlength(row, 0, k));
    return hash;
}

typedef struct DigestRows {
    int nkeys;                /* 0: the row is count(*) */
    SinkDigest *out;
} DigestRows;

static void digest_row(void *ctx, const PGresult *row)
{
    DigestRows *d = ctx;
    if (d->nkeys == 0) {
        d->out->rows = strtoll(PQgetvalue(row, 0, 0), NULL, 10);
        return;
    }
    d->out->rows++;
    d->out->key_sum += row_key_hash(row, d->nkeys);
}

bool copy_digest(PgSession *pg, const CopyTable *table, const TableShape *shape, const SinkPartition *part,
                 SinkDigest *out, const char *who, FerryError *err)
{
    memset(out, 0, sizeof *out);
    out->has_keys = keys_stored(shape);
    StrBuf sql = {0};
    if (out->has_keys && !keys_query(table, shape, part, &sql, err)) {
        free(sql.text);
        return false;
    }
    if (!out->has_keys)
        strbuf_add(&sql, "SELECT count(*) FROM %s", table->sql);
    DigestRows d = {.nkeys = out->has_keys ? shape->nkeys : 0, .out = out};
    /* Row by row, a batch of rows at a time: a cursor in single-row mode would do as well. */
    bool ok = stream_rows(pg, sql.text, digest_row, &d, "reading the target back", who, err);
    free(sql.text);
    return ok;
}

/*
 * deletes = reconcile (sink.h, prune): the range's keys streamed back as
 * copy_digest reads them; those whose hash the source no longer has are
 * kept, at most PRUNE_HELD at a time, and removed by key, PRUNE_STATEMENT
 * to a DELETE, once the stream has ended (a session streams one result).
 * A pass that held as many as it may is followed by another, which finds
 * the rest.
 */
#define PRUNE_HELD 50000
#define PRUNE_STATEMENT 1000

/* DELETE the held keys (text as the target wrote them), a statement at a time. */
static bool prune_delete(PgSession *pg, const CopyTable *table, const TableShape *shape, const RowBatch *held,
                         const char *who, FerryError *err)
{
    bool ok = true;
    for (int first = 0; ok && first < held->nrows; first += PRUNE_STATEMENT) {
        StrBuf sql = {0};
        strbuf_add(&sql, "DELETE FROM %s WHERE ", table->sql);
        for (int r = first; r < held->nrows && r < first + PRUNE_STATEMENT; r++) {
            strbuf_add(&sql, "%s(", r > first ? " OR " : "");
            for (int k = 0; k < shape->nkeys; k++) {
                const Column *col = &shape->cols[shape->key_col[k]];
                size_t len = 0;
                const char *value = batch_value(held, r, k, &len);
                char *name = sql_quote_ident(col->name);
                char *literal = sql_quote_literal(value, len);
                strbuf_add(&sql, "%s%s = %s::%s", k ? " AND " : "", name, literal, col->type_name);
                free(literal);
                free(name);
            }
            strbuf_add(&sql, ")");
        }
        ok = sql_statement_whole(&sql, err) && run(pg, sql.text, 0, NULL, NULL, who, "removing keys the source no "
                                                   "longer has", err);
        free(sql.text);
    }
    return ok;
}

typedef struct PruneRows {
    int nkeys;
    const uint64_t *live;
    size_t nlive;
    RowBatch held;            /* the doomed keys of this pass */
    bool full;                /* held as many as a pass may */
} PruneRows;

static void prune_row(void *ctx, const PGresult *row)
{
    PruneRows *p = ctx;
    if (p->full || sink_live_has(p->live, p->nlive, row_key_hash(row, p->nkeys)))
        return;
    for (int k = 0; k < p->nkeys; k++)
        batch_add_value(&p->held, PQgetvalue(row, 0, k), (size_t)PQgetlength(row, 0, k), false);
    batch_end_row(&p->held);
    p->full = p->held.nrows >= PRUNE_HELD;
}

bool copy_prune(PgSession *pg, const CopyTable *table, const TableShape *shape, const SinkPartition *part,
                const uint64_t *live, size_t nlive, int64_t *removed, const char *who, FerryError *err)
{
    *removed = 0;
    if (!keys_stored(shape))
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: table %s: the key is not copied, so no key can be "
                           "found to remove (deletes = reconcile)", who, table->sql);
    StrBuf sql = {0};
    if (!keys_query(table, shape, part, &sql, err)) {
        free(sql.text);
        return false;
    }
    PruneRows p = {.nkeys = shape->nkeys, .live = live, .nlive = nlive, .full = true};
    batch_init(&p.held, shape->nkeys);
    bool ok = true;
    while (ok && p.full) {
        p.full = false;
        batch_reset(&p.held, shape->nkeys);
        ok = stream_rows(pg, sql.text, prune_row, &p, "reading the target's keys", who, err) &&
             prune_delete(pg, table, shape, &p.held, who, err);
        if (ok)
            *removed += p.held.nrows;
    }
    batch_free(&p.held);
    free(sql.text);
    return ok;
}

bool copy_ranges_match(const TableShape *shape)
{
    for (int k = 0; k < shape->nkeys; k++) {
        switch (shape->cols[shape->key_col[k]].type) {
        case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID: case OID_NUMERIC: case OID_UUID:
        case OID_DATE: case OID_TIMESTAMP: case OID_TIMESTAMPTZ: case OID_BOOL: case OID_BYTEA:
        case OID_FLOAT4: case OID_FLOAT8: case OID_TIME:
            break;
        default:
            return false; /* strings: the target's collation may order them otherwise */
        }
    }
    return true;
}
