/*
 * agent/unload.c — Redshift's UNLOAD: a partition's rows staged in S3 by the cluster, then read back an object a batch.
 *
 * Design notes
 *  (1) One UNLOAD per partition and starting point: UNLOAD ('<the range
 *      query>') TO '<store>/<target>/p<part>-s<seq>/' … PARALLEL OFF, so the
 *      objects hold the rows in key order, as a cursor would give them.
 *      MANIFEST VERBOSE is written last: its presence says the UNLOAD is
 *      complete, and it counts each object's rows.
 *  (2) Each object is one batch, one segment and one checkpoint. A stage
 *      starts at the partition's sequence s, so after a crash the
 *      checkpoint's next_seq names the next object (next_seq - s): a stage
 *      whose manifest is there is read on without unloading again.
 *  (3) NULL and '' are both written as nothing (NULL AS '' is the default;
 *      a NULL AS string and ESCAPE together are not settled by the
 *      documentation), so the query carries one more column: a '1' for each
 *      column that is NULL, a '0' for each that is not.
 *  (4) The text is Redshift's ESCAPE form: fields split by '|', a backslash
 *      before each linefeed, carriage return, '|', backslash and quote that
 *      belongs to a value. Values are written as a SELECT writes them;
 *      VARBYTE's bare hex gets bytea's "\x", as the cursor path gives it.
 *  (5) An object's rows are counted against the manifest's record_count: a
 *      short or long object fails the partition rather than lose a row.
 *  (6) An object is read whole before its rows are cut: MAXFILESIZE keeps it
 *      to half a batch (5 MB at least), and it is paid from the pool.
 *  (7) A partition's stages are removed once it is done in the sink; a
 *      table's, once the table is complete (what a crash after the last
 *      checkpoint left) and when it is planned afresh (what a plan that
 *      was reset left: its partitions' numbers come back with other bounds).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/dialect.h"
#include "ferry/run.h"
#include "ferry/sql.h"
#include "ferry/unload.h"

struct Unloader {
    const UnloadSettings *settings; /* borrowed from the configuration */
    Store *store;
    uint64_t max_file;              /* MAXFILESIZE, bytes */
};

bool unloader_open(const UnloadSettings *settings, uint64_t batch_bytes, Unloader **out, FerryError *err)
{
    *out = NULL;
    Store *store;
    if (!store_s3.open(&settings->store, "unload", &store, err))
        return false;
    uint64_t max_file = settings->max_file_size;
    if (max_file == 0)
        max_file = batch_bytes / 2 < FERRY_UNLOAD_FILE_MIN ? FERRY_UNLOAD_FILE_MIN : batch_bytes / 2;
    else if (max_file > batch_bytes / 2) { /* (6) an object and its rows wait for the pool together */
        char want[32], half[32];
        store_s3.close(store);
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "[unload] max_file_size = %s is more than half a batch (%s) in this memory budget: "
                           "a staged object and its rows must fit in one; set max_file_size = auto, or give "
                           "ferry more memory",
                           format_size(max_file, want, sizeof want), format_size(batch_bytes / 2, half, sizeof half));
    }
    Unloader *u = xcalloc(1, sizeof *u);
    u->settings = settings;
    u->store = store;
    u->max_file = max_file;
    *out = u;
    return true;
}

void unloader_close(Unloader *u)
{
    if (u == NULL)
        return;
    store_s3.close(u->store);
    free(u);
}

bool unload_wanted(const FerryConfig *config, const Dialect *dialect, double est_bytes)
{
    if (dialect != &dialect_redshift || !config->has_unload)
        return false;
    if (config->source.read_method == READ_UNLOAD)
        return true;
    return config->source.read_method == READ_AUTO && est_bytes >= (double)config->unload.min_table_size;
}

/* "<target>/p000012-" : every stage of a partition; with a sequence, one stage's folder. */
static void stage_name(const TableShape *shape, int64_t part, int64_t seq, char *out, size_t cap)
{
    if (seq < 0)
        snprintf(out, cap, "%s/p%06" PRId64 "-", shape->target, part);
    else
        snprintf(out, cap, "%s/p%06" PRId64 "-s%08" PRId64 "/", shape->target, part, seq);
}

/* Bytes read from the store, whole. */
typedef struct Bytes {
    char *data;
    size_t len, cap;
    RowBatch *payer;          /* (6) pays for them; NULL: nobody */
} Bytes;

static bool append_bytes(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    Bytes *b = ctx;
    if (b->payer != NULL)
        batch_reserve(b->payer, len, true);
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return true;
}

typedef struct StageFind {
    const char *prefix;       /* the partition's stages */
    int64_t next_seq;         /* the checkpoint's */
    int64_t best;             /* the latest complete stage's sequence at or before it; -1: none */
} StageFind;

static bool stage_seen(void *ctx, const char *key, uint64_t size, FerryError *err)
{
    (void)size;
    (void)err;
    StageFind *find = ctx;
    size_t n = strlen(find->prefix);
    const char *rest = key + n;
    char *end;
    if (strncmp(key, find->prefix, n) != 0 || rest[0] != 's')
        return true;
    long long seq = strtoll(rest + 1, &end, 10);
    if (strcmp(end, "/manifest") == 0 && seq <= find->next_seq && seq > find->best)
        find->best = seq;
    return true;
}

/* The value of the JSON string at *p (just after its opening quote), up to its closing quote. */
static char *json_string(const char **p)
{
    StrBuf out = {0};
    strbuf_add(&out, "%s", "");
    const char *s = *p;
    for (; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1] != '\0')
            s++; /* the manifest's URLs hold no escapes but \/ */
        strbuf_add(&out, "%c", *s);
    }
    *p = *s ? s + 1 : s;
    return out.text;
}

/* Past the member name at p (its closing quote just read): spaces, ':', spaces. NULL: no colon. */
static const char *member_value(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p++ != ':')
        return NULL;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

void unload_manifest_free(UnloadManifest *m)
{
    for (int i = 0; i < m->count; i++)
        free(m->names[i]);
    free(m->names);
    free(m->records);
    memset(m, 0, sizeof *m);
}

bool unload_manifest_parse(const char *text, const char *base, const char *what, UnloadManifest *out,
                           FerryError *err)
{
    memset(out, 0, sizeof *out);
    size_t blen = strlen(base);
    for (const char *p = strstr(text, "\"url\""); p != NULL; p = strstr(p, "\"url\"")) {
        const char *v = member_value(p + 5);
        if (v == NULL || *v != '"') {
            p += 5; /* "url" as a value, not a member: not an entry */
            continue;
        }
        p = v + 1;
        char *url = json_string(&p);
        const char *count = strstr(p, "\"record_count\"");
        const char *next = strstr(p, "\"url\"");
        const char *n = count != NULL && (next == NULL || count < next) ? member_value(count + 14) : NULL;
        char *end = NULL;
        long long records = n != NULL && *n >= '0' && *n <= '9' ? strtoll(n, &end, 10) : -1;
        if (strncmp(url, base, blen) != 0 || url[blen] == '\0' || records < 0 || records == LLONG_MAX ||
            (end != NULL && *end != ',' && *end != '}' && *end != ' ' && *end != '\n' && *end != '\r' &&
             *end != '\t')) {
            ferry_error(err, FERRY_ERR_SOURCE, 0,
                        "UNLOAD manifest %s: an entry (%.200s) outside %s or without a record_count it can read",
                        what, url, base);
            free(url);
            unload_manifest_free(out);
            return false;
        }
        out->names = xrealloc(out->names, (size_t)(out->count + 1) * sizeof *out->names);
        out->records = xrealloc(out->records, (size_t)(out->count + 1) * sizeof *out->records);
        out->names[out->count] = xstrdup(url + blen);
        out->records[out->count] = records;
        out->count++;
        free(url);
    }
    return true;
}

/* (1), (5) The manifest's objects, as store keys (each under the stage), with their row counts. */
static bool read_manifest(Unloader *u, UnloadRead *r, const char *stage, FerryError *err)
{
    char key[FERRY_NAME_MAX + 128];
    snprintf(key, sizeof key, "%smanifest", stage);
    Bytes text = {0};
    StrBuf base = {0};
    UnloadManifest m = {0};
    bool ok = store_s3.read(u->store, key, append_bytes, &text, err) && store_s3.url(u->store, stage, &base) &&
              unload_manifest_parse(text.data ? text.data : "", base.text, key, &m, err);
    for (int i = 0; ok && i < m.count; i++) {
        r->keys = xrealloc(r->keys, (size_t)(r->nobjects + 1) * sizeof *r->keys);
        r->records = xrealloc(r->records, (size_t)(r->nobjects + 1) * sizeof *r->records);
        StrBuf object = {0};
        strbuf_add(&object, "%s%s", stage, m.names[i]);
        r->keys[r->nobjects] = object.text;
        r->records[r->nobjects] = m.records[i];
        r->nobjects++;
    }
    unload_manifest_free(&m);
    free(text.data);
    free(base.text);
    return ok;
}

/* Text inside a literal: each quote doubled, each backslash too (Redshift reads escapes in literals). */
static void add_literal(StrBuf *sql, const char *text)
{
    for (const char *q = text; *q; q++)
        strbuf_add(sql, "%s%c", *q == '\'' ? "'" : *q == '\\' ? "\\" : "", *q);
}

/* (1), (3) UNLOAD ('SELECT cols, nulls FROM … range … ORDER BY key') TO '<stage>' … */
static bool run_unload(Unloader *u, SourceConn *conn, const RunTable *table, const char *lower,
                       const char *upper, const char *stage, FerryError *err)
{
    const TableShape *shape = &table->shape;
    char *cols = sql_column_list(shape, shape->ncols);
    StrBuf select = {0};
    strbuf_add(&select, "%s, (''", cols);
    free(cols);
    for (int c = 0; c < shape->ncols; c++) {
        char *name = sql_quote_ident(shape->cols[c].name);
        strbuf_add(&select, " || CASE WHEN %s IS NULL THEN '1' ELSE '0' END", name);
        free(name);
    }
    strbuf_add(&select, ")");
    char *query = NULL;
    bool ok = plan_range_query(table->config, shape, table->window, select.text, lower, upper, true, &query, err);
    free(select.text);
    if (!ok)
        return false;
    StrBuf url = {0};
    store_s3.url(u->store, stage, &url);
    StrBuf sql = {0};
    strbuf_add(&sql, "UNLOAD ('");
    add_literal(&sql, query);
    strbuf_add(&sql, "') TO '%s' IAM_ROLE '", url.text);
    add_literal(&sql, u->settings->iam_role);
    strbuf_add(&sql, "' MANIFEST VERBOSE ALLOWOVERWRITE PARALLEL OFF ESCAPE MAXFILESIZE %" PRIu64 " MB",
               u->max_file >> 20);
    free(url.text);
    free(query);
    log_debug("table %s: %s", table->config->qualified, sql.text);
    PGresult *res = NULL;
    ok = !sql.failed && source_query(conn, sql.text, 0, NULL, &res, err);
    if (sql.failed)
        ferry_error(err, FERRY_ERR_CONFIG, 0, "an UNLOAD statement would be longer than %u MiB",
                    FERRY_STRBUF_MAX >> 20);
    PQclear(res);
    free(sql.text);
    return ok;
}

bool unload_begin(Unloader *u, SourceConn *conn, const RunTable *table, const PartitionWork *work,
                  UnloadRead *r, FerryError *err)
{
    memset(r, 0, sizeof *r);
    r->u = u;
    const TableShape *shape = &table->shape;
    char prefix[FERRY_NAME_MAX + 64], stage[FERRY_NAME_MAX + 64];
    stage_name(shape, work->part, -1, prefix, sizeof prefix);
    StageFind find = {.prefix = prefix, .next_seq = work->next_seq, .best = -1};
    if (!store_s3.list(u->store, prefix, stage_seen, &find, err))
        return false;
    if (find.best < 0) {
        find.best = work->next_seq;
        stage_name(shape, work->part, find.best, stage, sizeof stage);
        if (!run_unload(u, conn, table, work->last_key ? work->last_key : work->lo, work->hi, stage, err))
            return false;
        log_info("table %s partition %lld: unloaded to %s", table->config->qualified, (long long)work->part, stage);
    } else {
        stage_name(shape, work->part, find.best, stage, sizeof stage);
        log_info("table %s partition %lld: reading on from %s, unloaded before", table->config->qualified,
                 (long long)work->part, stage);
    }
    if (!read_manifest(u, r, stage, err)) {
        unload_end(r);
        return false;
    }
    r->next = (int)(work->next_seq - find.best);
    if (r->next > r->nobjects) {
        ferry_error(err, FERRY_ERR_SOURCE, 0, "%s lists %d objects, but the checkpoint is past %d of them",
                    stage, r->nobjects, r->next);
        unload_end(r);
        return false;
    }
    return true;
}


/* (4) One field at *p, unescaped in place: its length; *p is left at the '|' or '\n' that ends it. */
static size_t cut_field(char **p, const char *end, bool *delimited)
{
    char *in = *p, *out = *p;
    while (in < end && *in != '|' && *in != '\n') {
        if (*in == '\\' && in + 1 < end)
            in++;
        *out++ = *in++;
    }
    *delimited = in < end;
    size_t len = (size_t)(out - *p);
    *p = in;
    return len;
}

bool unload_next(UnloadRead *r, const TableShape *shape, RowBatch *batch, const char *table, FerryError *err)
{
    const char *key = r->keys[r->next];
    Bytes o = {.payer = batch};
    if (!store_s3.read(r->u->store, key, append_bytes, &o, err)) {
        free(o.data);
        return false;
    }
    char *p = o.data, *end = p + o.len;
    char **fields = xcalloc((size_t)shape->ncols + 1, sizeof *fields);
    size_t *lengths = xcalloc((size_t)shape->ncols + 1, sizeof *lengths);
    bool ok = true;
    int64_t rows = 0;
    while (ok && p < end) {
        int n = 0;
        for (;;) {
            bool ended;
            char *start = p;
            size_t len = cut_field(&p, end, &ended);
            if (n <= shape->ncols) {
                fields[n] = start;
                lengths[n] = len;
            }
            n++;
            if (!ended || *p == '\n') {
                p++;
                break;
            }
            p++; /* the '|' */
        }
        const char *nulls = fields[shape->ncols];
        if (n != shape->ncols + 1 || lengths[shape->ncols] != (size_t)shape->ncols) {
            ok = ferry_error(err, FERRY_ERR_SOURCE, 0,
                             "table %s: staged object %s, row %" PRId64 ": %d fields, not %d", table, key,
                             rows + 1, n, shape->ncols + 1);
            break;
        }
        batch_reserve(batch, (uint64_t)(p - fields[0]) + (uint64_t)shape->ncols * (FERRY_VALUE_OVERHEAD + 2), true);
        for (int c = 0; c < shape->ncols; c++) {
            if (nulls[c] == '1')
                batch_add_value(batch, NULL, 0, true);
            else if (shape->cols[c].type == OID_BYTEA) /* (4) VARBYTE */
                batch_add_joined_value(batch, "\\x", 2, fields[c], lengths[c]);
            else
                batch_add_value(batch, fields[c], lengths[c], false);
        }
        batch_end_row(batch);
        rows++;
    }
    if (ok && rows != r->records[r->next])
        ok = ferry_error(err, FERRY_ERR_SOURCE, 0,
                         "table %s: staged object %s holds %" PRId64 " rows, its manifest says %" PRId64, table,
                         key, rows, r->records[r->next]);
    free(fields);
    free(lengths);
    free(o.data);
    if (ok)
        r->next++;
    return ok;
}

bool unload_exhausted(const UnloadRead *r)
{
    return r->next >= r->nobjects;
}

void unload_end(UnloadRead *r)
{
    for (int i = 0; i < r->nobjects; i++)
        free(r->keys[i]);
    free(r->keys);
    free(r->records);
    memset(r, 0, sizeof *r);
}

static bool any_key(const char *key, const void *arg)
{
    (void)key;
    (void)arg;
    return true;
}

bool unload_sweep(const UnloadSettings *settings, const TableShape *shape, FerryError *err)
{
    Store *store;
    if (!store_s3.open(&settings->store, "unload", &store, err))
        return false;
    Unloader u = {.settings = settings, .store = store};
    bool ok = unload_remove(&u, shape, -1, err);
    store_s3.close(store);
    return ok;
}

bool unload_remove(Unloader *u, const TableShape *shape, int64_t part, FerryError *err)
{
    char prefix[FERRY_NAME_MAX + 64];
    if (part >= 0)
        stage_name(shape, part, -1, prefix, sizeof prefix);
    else
        snprintf(prefix, sizeof prefix, "%s/", shape->target);
    int removed = 0;
    return store_s3.remove_all(u->store, prefix, any_key, NULL, &removed, err);
}
