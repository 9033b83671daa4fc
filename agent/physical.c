/*
 * agent/physical.c — read_order: the choice, block-range partitions and their splits, the read shape, the checks.
 *
 * The notes are in physical.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/delta.h"
#include "ferry/dialect.h"
#include "ferry/keytuple.h"
#include "ferry/physical.h"
#include "ferry/plan.h"
#include "ferry/sql.h"

const char physical_heap_file_sql[] = "SELECT pg_relation_filenode($1::regclass)::text";

/* Why the table cannot be read by block ranges, in `why`; false when it can. */
static bool physical_refused(SourceConn *conn, const FerryConfig *config, const TableConfig *table,
                             const TableShape *shape, char relkind, char *why, size_t why_cap)
{
    const Dialect *dialect = source_dialect(conn);
    if (!dialect->heap_tids)
        snprintf(why, why_cap, "a %s source has no row addresses to read by", dialect->name);
    else if (source_server_version(conn) < 140000)
        snprintf(why, why_cap, "the server is PostgreSQL %d, and ranges of row addresses are read by PostgreSQL 14 "
                 "and later", source_server_version(conn) / 10000);
    else if (relkind != 'r')
        snprintf(why, why_cap, "it is not a plain table (relkind '%c')", relkind);
    else if (shape->with_children)
        snprintf(why, why_cap, "its inheritance children are read with it (children = include)");
    else if (!shape->key_enforced || table->settings.on_duplicate_key != DUPLICATES_FAIL)
        snprintf(why, why_cap, "its key is not one the server keeps unique (repeats are looked for in key order)");
    else if (config->source.read_method == READ_UNLOAD)
        snprintf(why, why_cap, "it is read through UNLOAD");
    else
        return false;
    return true;
}

bool physical_choose(SourceConn *conn, const FerryConfig *config, const TableConfig *table,
                     const TableShape *shape, bool *physical, char *why, size_t why_cap, FerryError *err)
{
    *physical = false;
    ReadOrder order = config_read_order(config, table);
    if (order == READ_ORDER_KEY) {
        snprintf(why, why_cap, "read_order = key");
        return true;
    }
    char relkind = 'r';
    double correlation = NAN;
    if (source_dialect(conn)->heap_tids) {
        /* The key's first column as the planner's statistics see it laid out on disk. */
        const char *params[3] = {shape->schema, shape->name, shape->cols[shape->key_col[0]].name};
        PGresult *res = NULL;
        if (!source_query(conn,
                          "SELECT c.relkind, (SELECT s.correlation FROM pg_stats s WHERE s.schemaname = $1 AND"
                          " s.tablename = $2 AND s.attname = $3 AND NOT s.inherited) FROM pg_class c JOIN pg_namespace"
                          " n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                          3, params, &res, err))
            return false;
        if (PQntuples(res) == 1) {
            relkind = PQgetvalue(res, 0, 0)[0];
            if (!PQgetisnull(res, 0, 1))
                correlation = atof(PQgetvalue(res, 0, 1));
        }
        PQclear(res);
    }
    char refused[160];
    if (physical_refused(conn, config, table, shape, relkind, refused, sizeof refused)) {
        if (order == READ_ORDER_PHYSICAL)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key 'read_order': table %s cannot be read in physical order: %s; set "
                               "read_order = key or auto",
                               config->path, table->read_order_line, table->qualified, refused);
        snprintf(why, why_cap, "key order: %s", refused);
        return true;
    }
    if (order == READ_ORDER_PHYSICAL) {
        *physical = true;
        snprintf(why, why_cap, "read_order = physical");
    } else if (isnan(correlation)) {
        snprintf(why, why_cap, "key order: no statistics say how its rows lie on disk (ANALYZE the table, or set "
                 "read_order = physical)");
    } else if (fabs(correlation) < FERRY_PHYSICAL_CORRELATION) {
        *physical = true;
        snprintf(why, why_cap, "physical order: its rows lie on disk out of key order (correlation %.2f)",
                 correlation);
    } else {
        snprintf(why, why_cap, "key order: its rows lie on disk in key order (correlation %.2f)", correlation);
    }
    return true;
}

/* The heap's size in blocks and its file node, now, and the rows a block holds as the statistics say. */
static bool heap_blocks(SourceConn *conn, const TableShape *shape, int64_t *blocks, int64_t *heap_file,
                        double *rows_per_block, FerryError *err)
{
    char *name = plan_table_name(shape);
    const char *params[1] = {name};
    PGresult *res = NULL;
    bool ok = source_query(conn,
                           "SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint,"
                           " pg_relation_filenode(c.oid), greatest(c.reltuples, 0) / greatest(c.relpages, 1)"
                           " FROM pg_class c WHERE c.oid = $1::regclass",
                           1, params, &res, err);
    free(name);
    if (!ok)
        return false;
    *blocks = atoll(PQgetvalue(res, 0, 0));
    if (heap_file != NULL)
        *heap_file = atoll(PQgetvalue(res, 0, 1));
    if (rows_per_block != NULL)
        *rows_per_block = atof(PQgetvalue(res, 0, 2));
    PQclear(res);
    return true;
}

char *physical_block_bound(int64_t block)
{
    char tid[32];
    int n = snprintf(tid, sizeof tid, "(%lld,0)", (long long)block);
    const char *values[1] = {tid};
    size_t lengths[1] = {(size_t)n};
    return key_tuple_encode(values, lengths, 1);
}

/* Inner bounds cutting blocks [from, to) into up to `pieces` ranges of whole blocks. */
static void cut_blocks(int64_t from, int64_t to, int pieces, char ***bounds, int *nbounds)
{
    int64_t blocks = to - from;
    if (pieces > blocks)
        pieces = (int)(blocks > 0 ? blocks : 1);
    *bounds = xcalloc((size_t)(pieces > 1 ? pieces : 1), sizeof(char *));
    *nbounds = 0;
    for (int i = 1; i < pieces; i++)
        (*bounds)[(*nbounds)++] = physical_block_bound(from + blocks * i / pieces);
}

bool physical_bounds(SourceConn *conn, const TableShape *shape, int nparts, char ***bounds, int *nbounds,
                     int64_t *heap_file, FerryError *err)
{
    int64_t blocks = 0;
    if (!heap_blocks(conn, shape, &blocks, heap_file, NULL, err))
        return false;
    cut_blocks(0, blocks, nparts, bounds, nbounds);
    return true;
}

/* A tid's text "(block,offset)" into its numbers (by hand: it is parsed for every row read). */
static bool tid_parse(const char *text, size_t len, int64_t *block, int64_t *offset)
{
    const char *p = text, *end = text + len;
    int64_t parts[2] = {0, 0};
    if (p == end || *p++ != '(')
        return false;
    for (int i = 0; i < 2; i++) {
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9' && p - digits < 12)
            parts[i] = parts[i] * 10 + (*p++ - '0');
        if (p == digits || p == end || *p++ != (i == 0 ? ',' : ')'))
            return false;
    }
    *block = parts[0];
    *offset = parts[1];
    return p == end;
}

static bool encoded_tid(const char *encoded, int64_t *block, int64_t *offset)
{
    char *values[1] = {NULL};
    if (!key_tuple_decode(encoded, 1, values))
        return false;
    bool ok = tid_parse(values[0], strlen(values[0]), block, offset);
    free(values[0]);
    return ok;
}

bool physical_split(SourceConn *conn, const TableShape *shape, double table_rows, const char *lower,
                    const char *upper, int pieces, char ***bounds, int *nbounds, double *est_rows, FerryError *err)
{
    *bounds = NULL;
    *nbounds = 0;
    *est_rows = 0;
    int64_t from = 0, to = 0, offset = 0, upper_offset = 0, heap = 0;
    double per_block = 0;
    const char *bad = lower != NULL && !encoded_tid(lower, &from, &offset)       ? lower
                      : upper != NULL && !encoded_tid(upper, &to, &upper_offset) ? upper
                                                                                 : NULL;
    if (bad != NULL)
        return ferry_error(err, FERRY_ERR_STATE, 0, "state holds a malformed row address \"%.64s\"", bad);
    if (!heap_blocks(conn, shape, &heap, NULL, NULL, err))
        return false;
    per_block = heap > 0 ? table_rows / (double)heap : 0;
    if (upper == NULL)
        to = heap; /* open above: cut up to the heap as it is now */
    if (offset > 0)
        from++; /* the rest of the checkpoint's block stays with the partition as it is */
    *est_rows = (double)(to > from ? to - from : 0) * per_block;
    if (to - from < 2 || *est_rows < FERRY_SPLIT_MIN_ROWS) /* the floor, as for key ranges */
        return true;
    cut_blocks(from, to, pieces, bounds, nbounds);
    return true;
}

bool physical_blocks(SourceConn *conn, const TableShape *shape, const char *lower, const char *upper, int64_t *from,
                     int64_t *to, double *rows_per_block, FerryError *err)
{
    int64_t offset = 0, heap = 0;
    *from = *to = 0;
    const char *bad = lower != NULL && !encoded_tid(lower, from, &offset)  ? lower
                      : upper != NULL && !encoded_tid(upper, to, &offset) ? upper
                                                                          : NULL;
    if (bad != NULL)
        return ferry_error(err, FERRY_ERR_STATE, 0, "state holds a malformed row address \"%.64s\"", bad);
    if (!heap_blocks(conn, shape, &heap, NULL, rows_per_block, err))
        return false;
    if (upper == NULL)
        *to = heap;
    return true;
}

void physical_read_shape(const TableShape *shape, TableShape *out)
{
    *out = *shape;
    out->cols = xcalloc((size_t)shape->ncols + 1, sizeof(Column));
    memcpy(out->cols, shape->cols, sizeof(Column) * (size_t)shape->ncols);
    out->cols[shape->ncols] = (Column){.name = (char *)"ctid", .type_name = (char *)"tid", .type = OID_TID, .bytewise = true};
    out->ncols = shape->ncols + 1;
    out->nkeys = 1;
    out->key_col[0] = shape->ncols;
    out->key_enforced = true;
    out->has_deleted = shape->has_deleted;
}

void physical_read_shape_free(TableShape *read)
{
    free(read->cols); /* the names are the table shape's */
    memset(read, 0, sizeof *read);
}

char *physical_seen_filter(const TableConfig *table, const char *snapshot)
{
    char *unseen = delta_window(table, MARK_XMIN, snapshot, NULL);
    StrBuf sql = {0};
    strbuf_add(&sql, "NOT (%s)", unseen);
    free(unseen);
    return sql.text;
}

bool physical_check_order(const RowBatch *batch, int col, const char *prev, const char *table, int64_t part,
                          FerryError *err)
{
    int64_t last_block = -1, last_offset = -1;
    if (prev != NULL && !encoded_tid(prev, &last_block, &last_offset))
        return ferry_error(err, FERRY_ERR_STATE, 0, "state holds a malformed row address \"%.64s\"", prev);
    for (int r = 0; r < batch->nrows; r++) {
        size_t len = 0;
        const char *text = batch_value(batch, r, col, &len);
        int64_t block, offset;
        if (text == NULL || !tid_parse(text, len, &block, &offset))
            return ferry_error(err, FERRY_ERR_SOURCE, 0, "table %s partition %lld: a row came without a row address",
                               table, (long long)part);
        if (block < last_block || (block == last_block && offset <= last_offset))
            return ferry_error(err, FERRY_ERR_SOURCE, 0,
                               "table %s partition %lld: the server returned rows out of their physical order "
                               "(%.*s after (%lld,%lld)), so no checkpoint can say where the read stopped; set "
                               "read_order = key for this table and `ferry reset` it",
                               table, (long long)part, (int)len, text, (long long)last_block, (long long)last_offset);
        last_block = block;
        last_offset = offset;
    }
    return true;
}
