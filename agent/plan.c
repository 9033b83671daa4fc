/*
 * agent/plan.c — discovers a table's columns and key, samples its rows and cuts it into partitions.
 *
 * Design notes
 *  (1) A key must be unique and never NULL, or `key > last_key` would skip
 *      rows: the primary key is; a declared key is accepted when a unique
 *      index covers it and its columns are NOT NULL, and otherwise checked
 *      against the data (and refused, with the offending value's table).
 *  (2) The catalog statements and the sampling clause are the source's
 *      dialect's (dialect.h); the PostgreSQL one samples the same blocks each
 *      time, so planning the same data twice gives the same plan.
 *  (3) Partition bounds are picked in two queries: the first counts the sample,
 *      the second returns only the sampled keys at the chosen ranks, ordered
 *      by the source. ferry never holds the sample itself.
 *  (4) A table means its own rows: it is read ONLY itself, because the rows
 *      of inheritance children are not covered by the parent's keys (a child
 *      may repeat a parent's key, and `key > last_key` would then skip one).
 *      children = include reads them too, and the key is then checked over
 *      the data that is read. A partitioned table is read whole: its key
 *      covers every partition.
 *  (5) Repeated keys are looked for here only where on_duplicate_key = fail
 *      and the server enforces keys (a declared key without a unique index):
 *      they fail the plan before anything is written. Redshift's keys are
 *      informational, and a full GROUP BY of a large table at every run is
 *      what its workload manager kills, so there, and wherever repeats are
 *      kept, the worker finds them as it reads (duplicates.c). NULL keys are
 *      refused at plan time always.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/dialect.h"
#include "ferry/plan.h"
#include "ferry/source.h"
#include "ferry/sql.h"

/* A statement built from input (keys, a filter) is run only whole (StrBuf's ceiling, common.h). */

static bool query_built(SourceConn *conn, const StrBuf *sql, int nparams, const char *const *params,
                        PGresult **out, FerryError *err)
{
    *out = NULL;
    return sql_statement_whole(sql, err) && source_query(conn, sql->text, nparams, params, out, err);
}

char *plan_table_name(const TableShape *shape)
{
    char *s = sql_quote_ident(shape->schema);
    char *n = sql_quote_ident(shape->name);
    StrBuf sql = {0};
    strbuf_add(&sql, "%s.%s", s, n);
    free(s);
    free(n);
    return sql.text;
}

char *plan_from_clause(const TableShape *shape)
{
    char *name = plan_table_name(shape);
    StrBuf sql = {0};
    strbuf_add(&sql, "%s%s", shape->with_children || shape->no_only ? "" : "ONLY ", name);
    free(name);
    return sql.text;
}

bool plan_range_query(const TableConfig *table, const TableShape *shape, const char *window,
                      const char *select_list, const char *lower, const char *upper, bool ordered,
                      char **out, FerryError *err)
{
    char *from = plan_from_clause(shape);
    const char *where = table->settings.where;
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT %s FROM %s WHERE (%s)", select_list, from, where ? where : "true");
    if (window != NULL)
        strbuf_add(&sql, " AND (%s)", window);
    free(from);
    if (!sql_key_range(shape, lower, upper, &sql, err)) {
        free(sql.text);
        return false;
    }
    if (ordered) {
        char *keys = sql_key_list(shape);
        strbuf_add(&sql, " ORDER BY %s", keys);
        free(keys);
    }
    if (!sql_statement_whole(&sql, err)) {
        free(sql.text);
        return false;
    }
    *out = sql.text;
    return true;
}

typedef struct CatalogColumn {
    char *name, *type_name;
    FerryOid type, elem;
    char delim;
    bool not_null;
    bool bytewise;
} CatalogColumn;

static int catalog_find(const CatalogColumn *cols, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return i;
    return -1;
}

static void shape_add_column(TableShape *shape, const CatalogColumn *col)
{
    Column *c = &shape->cols[shape->ncols++];
    c->name = xstrdup(col->name);
    c->type_name = xstrdup(col->type_name);
    c->type = col->type;
    c->elem_type = col->elem;
    c->elem_delim = col->delim;
    c->bytewise = col->bytewise;
}

/* (1) A unique, non-partial index on a subset of the key columns, all of them NOT NULL. */
static bool key_has_unique_index(SourceConn *conn, const char *oid, const TableShape *shape,
                                 const CatalogColumn *cat, int ncat, bool *unique, FerryError *err)
{
    *unique = false;
    bool not_null = true;
    for (int k = 0; k < shape->nkeys; k++)
        not_null &= cat[catalog_find(cat, ncat, shape->cols[shape->key_col[k]].name)].not_null;
    if (!not_null)
        return true;
    PGresult *res;
    const char *params[1] = {oid};
    if (!source_query(conn, source_dialect(conn)->unique_indexes_sql, 1, params, &res, err))
        return false;
    for (int r = 0; r < PQntuples(res) && !*unique; r++) {
        char *names[FERRY_COLUMNS_MAX];
        int n = config_split_list(PQgetvalue(res, r, 0), names, FERRY_COLUMNS_MAX);
        bool subset = n > 0;
        for (int i = 0; i < n; i++) {
            bool in_key = false;
            for (int k = 0; k < shape->nkeys; k++)
                in_key |= strcmp(names[i], shape->cols[shape->key_col[k]].name) == 0;
            subset &= in_key;
            free(names[i]);
        }
        *unique = subset;
    }
    PQclear(res);
    return true;
}

/*
 * One key of the table that repeats, as " (id = 42 appears 3 times)" into out;
 * *found false when no key repeats. The only scan that looks for duplicates.
 */
static bool find_duplicate(SourceConn *conn, const TableShape *shape, const char *from, const char *keys,
                           bool *found, StrBuf *out, FerryError *err)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT %s, count(*) FROM %s GROUP BY %s HAVING count(*) > 1 LIMIT 1", keys, from, keys);
    PGresult *res;
    bool ok = query_built(conn, &sql, 0, NULL, &res, err);
    free(sql.text);
    if (!ok)
        return false;
    *found = PQntuples(res) == 1;
    if (*found) {
        strbuf_add(out, " (");
        for (int k = 0; k < shape->nkeys; k++)
            strbuf_add(out, "%s%s = %.64s", k ? ", " : "", shape->cols[shape->key_col[k]].name,
                       PQgetisnull(res, 0, k) ? "NULL" : PQgetvalue(res, 0, k));
        strbuf_add(out, " appears %s times)", PQgetvalue(res, 0, shape->nkeys));
    }
    PQclear(res);
    return true;
}

/*
 * (1), (4), (5) Make sure the key is unique and never NULL over exactly the rows
 * that are read: by an index where one covers them, otherwise by the data.
 */
static bool check_key_unique(SourceConn *conn, const TableConfig *table, const char *oid,
                             bool with_children, const TableShape *shape, const CatalogColumn *cat,
                             int ncat, bool *by_index, FerryError *err)
{
    bool unique = false;
    if (!with_children && !key_has_unique_index(conn, oid, shape, cat, ncat, &unique, err))
        return false;
    *by_index = unique;
    if (unique)
        return true;

    /* Otherwise ask the data: one NULL or duplicate key would lose rows. (5) Repeats that
     * on_duplicate_key keeps, or that a server which does not enforce keys may hold, are
     * dealt with as rows are read; a NULL key never is, and NOT NULL columns hold none. */
    bool scan_repeats = table->settings.on_duplicate_key == DUPLICATES_FAIL && source_dialect(conn)->keys_enforced;
    bool nullable = false;
    for (int k = 0; k < shape->nkeys; k++) {
        int at = catalog_find(cat, ncat, shape->cols[shape->key_col[k]].name);
        nullable |= at < 0 || !cat[at].not_null;
    }
    StrBuf names = {0}; /* the key as the configuration would name it */
    for (int k = 0; k < shape->nkeys; k++) {
        strbuf_add(&names, "%s", k ? ", " : "");
        config_add_name(&names, shape->cols[shape->key_col[k]].name);
    }
    if (!scan_repeats) {
        log_info("table %s: key (%s) is %s; repeated keys are looked for as rows are read "
                 "(on_duplicate_key = %s)%s",
                 table->qualified, names.text,
                 source_dialect(conn)->keys_enforced ? "not backed by a unique index" : "not enforced by the server",
                 table->settings.on_duplicate_key == DUPLICATES_KEEP_LAST  ? "keep_last"
                 : table->settings.on_duplicate_key == DUPLICATES_KEEP_ALL ? "keep_all"
                                                                            : "fail",
                 nullable ? "; checking the data for NULL keys" : "");
        if (!nullable) {
            free(names.text);
            return true;
        }
    } else {
        log_info("table %s: key (%s) is %s; checking the data for NULL and duplicate keys (a full scan)",
                 table->qualified, names.text,
                 with_children ? "read with inheritance children, which no index of the table covers"
                               : "not backed by a unique index on NOT NULL columns");
    }
    char *keys = sql_key_list(shape);
    char *from = plan_from_clause(shape);
    StrBuf sql = {0};
    StrBuf any_null = {0};
    for (int k = 0; k < shape->nkeys; k++) {
        char *name = sql_quote_ident(shape->cols[shape->key_col[k]].name);
        strbuf_add(&any_null, "%s%s IS NULL", k ? " OR " : "", name);
        free(name);
    }
    strbuf_add(&sql, "SELECT count(*) FROM %s WHERE %s", from, any_null.text);
    free(any_null.text);
    PGresult *res;
    bool ok = query_built(conn, &sql, 0, NULL, &res, err);
    free(sql.text);
    long nulls = 0;
    bool dups = false;
    StrBuf which = {0}; /* one key that repeats, for the message */
    if (ok) {
        nulls = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (ok && nulls == 0 && scan_repeats)
        ok = find_duplicate(conn, shape, from, keys, &dups, &which, err);
    free(from);
    if (ok && (nulls > 0 || dups))
        ok = ferry_error(err, FERRY_ERR_CONFIG, 0,
                         "table %s: key (%s) %s%s: rows would be lost%s; declare a key that is "
                         "unique and NOT NULL (key = col1, col2)%s",
                         table->qualified, names.text, nulls > 0 ? "has NULL values" : "is not unique",
                         with_children ? " over the table and its inheritance children" : "",
                         which.text ? which.text : "",
                         with_children ? ", or read the table alone (children = exclude)" : "");
    free(which.text);
    free(keys);
    free(names.text);
    return ok;
}

bool plan_discover(SourceConn *conn, const TableConfig *table, TableShape *shape, FerryError *err)
{
    memset(shape, 0, sizeof *shape);
    PGresult *res = NULL;
    CatalogColumn *cat = NULL;
    int ncat = 0;
    bool ok = false;
    char oid[32];

    const char *params[2] = {table->schema, table->name};
    if (!source_query(conn, source_dialect(conn)->relation_sql, 2, params, &res, err))
        goto out;
    if (PQntuples(res) != 1) {
        ferry_error(err, FERRY_ERR_CONFIG, 0,
                    "table %s (line %d) does not exist in the source, or this user cannot see it",
                    table->qualified, table->line);
        goto out;
    }
    snprintf(oid, sizeof oid, "%s", PQgetvalue(res, 0, 0));
    /* (4) What the table's rows are: a partitioned table's are its partitions'. */
    char relkind = PQgetvalue(res, 0, 1)[0];
    bool inherited = relkind != 'p' && PQgetvalue(res, 0, 2)[0] == 't';
    shape->with_children = relkind == 'p' || (inherited && table->settings.children == CHILDREN_INCLUDE);
    shape->no_only = !source_dialect(conn)->inheritance;
    if (inherited && !shape->with_children)
        log_info("table %s has inheritance children; they are not read (children = include reads "
                 "them, under a key checked over all their rows)", table->qualified);
    PQclear(res);
    res = NULL;

    const char *oid_param[1] = {oid};
    /* Domains are read as their base type; see the dialect for which text orders bytewise. */
    if (!source_query(conn, source_dialect(conn)->columns_sql, 1, oid_param, &res, err))
        goto out;
    ncat = PQntuples(res);
    cat = xcalloc((size_t)ncat, sizeof *cat);
    for (int i = 0; i < ncat; i++) {
        cat[i].name = xstrdup(PQgetvalue(res, i, 0));
        cat[i].type = (FerryOid)strtoul(PQgetvalue(res, i, 1), NULL, 10);
        cat[i].type_name = xstrdup(PQgetvalue(res, i, 2));
        cat[i].elem = (FerryOid)strtoul(PQgetvalue(res, i, 3), NULL, 10);
        cat[i].delim = PQgetvalue(res, i, 4)[0];
        cat[i].not_null = PQgetvalue(res, i, 5)[0] == 't';
        cat[i].bytewise = PQgetvalue(res, i, 6)[0] == 't';
    }
    PQclear(res);
    res = NULL;

    /* The key: declared, or the primary key. */
    char *keys[FERRY_KEY_COLUMNS_MAX];
    int nkeys = 0;
    if (table->settings.key != NULL) {
        nkeys = config_split_list(table->settings.key, keys, FERRY_KEY_COLUMNS_MAX);
    } else {
        if (!source_query(conn, source_dialect(conn)->primary_key_sql, 1, oid_param, &res, err))
            goto out;
        nkeys = PQntuples(res);
        if (nkeys == 0) {
            ferry_error(err, FERRY_ERR_CONFIG, 0,
                        "table %s has no primary key: declare a unique, NOT NULL key in its "
                        "section, e.g. \"key = id\" or \"key = col1, col2\" under [table %s]",
                        table->qualified, table->qualified);
            goto out;
        }
        if (nkeys > FERRY_KEY_COLUMNS_MAX) {
            ferry_error(err, FERRY_ERR_CONFIG, 0,
                        "table %s: its primary key has %d columns, more than ferry's %d",
                        table->qualified, nkeys, FERRY_KEY_COLUMNS_MAX);
            goto out;
        }
        for (int k = 0; k < nkeys; k++)
            keys[k] = xstrdup(PQgetvalue(res, k, 0));
        PQclear(res);
        res = NULL;
    }

    /* Output columns: the configured list, or all; then key columns not among them. */
    shape->schema = xstrdup(table->schema);
    shape->name = xstrdup(table->name);
    shape->target = xstrdup(table->settings.target);
    shape->cols = xcalloc((size_t)ncat + FERRY_KEY_COLUMNS_MAX, sizeof(Column));
    bool columns_ok = true;
    if (table->settings.columns != NULL) {
        char *names[FERRY_COLUMNS_MAX];
        int n = config_split_list(table->settings.columns, names, FERRY_COLUMNS_MAX);
        for (int i = 0; i < n; i++) {
            int at = catalog_find(cat, ncat, names[i]);
            if (at < 0 && columns_ok) {
                ferry_error(err, FERRY_ERR_CONFIG, 0,
                            "table %s: column \"%s\" (key 'columns') does not exist", table->qualified,
                            names[i]);
                columns_ok = false;
            } else if (at >= 0 && columns_ok) {
                for (int j = 0; j < shape->ncols; j++)
                    if (strcmp(shape->cols[j].name, names[i]) == 0 && columns_ok) {
                        ferry_error(err, FERRY_ERR_CONFIG, 0, "table %s: column \"%s\" is listed twice",
                                    table->qualified, names[i]);
                        columns_ok = false;
                    }
                if (columns_ok)
                    shape_add_column(shape, &cat[at]);
            }
            free(names[i]);
        }
    } else {
        for (int i = 0; i < ncat; i++)
            shape_add_column(shape, &cat[i]);
    }
    shape->nout = shape->ncols;
    for (int k = 0; k < nkeys; k++) {
        int at = catalog_find(cat, ncat, keys[k]);
        if (at < 0 && columns_ok) {
            ferry_error(err, FERRY_ERR_CONFIG, 0, "table %s: key column \"%s\" does not exist",
                        table->qualified, keys[k]);
            columns_ok = false;
        }
        if (columns_ok) {
            int found = -1;
            for (int j = 0; j < shape->ncols; j++)
                if (strcmp(shape->cols[j].name, keys[k]) == 0)
                    found = j;
            if (found < 0) {
                found = shape->ncols;
                shape_add_column(shape, &cat[at]);
            }
            shape->key_col[shape->nkeys++] = found;
        }
        free(keys[k]);
    }
    if (!columns_ok)
        goto out;
    /* Values of a SQL_ASCII database are checked as they are read; names are checked here. */
    shape->text_unchecked = source_text_unchecked(conn);
    for (int c = 0; c < shape->ncols; c++)
        if (utf8_valid_prefix(shape->cols[c].name, strlen(shape->cols[c].name)) < strlen(shape->cols[c].name)) {
            ferry_error(err, FERRY_ERR_CONFIG, 0,
                        "table %s: a column's name is not UTF-8 (its database's encoding is SQL_ASCII, which keeps "
                        "any bytes): rename it, or read the table through a view that names it in UTF-8",
                        table->qualified);
            goto out;
        }
    /* (1), (4): a key declared, a primary key the server does not enforce, or one asked to
     * cover children it does not cover. */
    bool checked = table->settings.key != NULL || !source_dialect(conn)->keys_enforced ||
                   (inherited && shape->with_children);
    shape->key_enforced = !checked; /* an enforced primary key over exactly the rows read */
    if (checked && !check_key_unique(conn, table, oid, inherited && shape->with_children, shape, cat, ncat,
                                     &shape->key_enforced, err))
        goto out;
    ok = true;
out:
    PQclear(res);
    for (int i = 0; i < ncat; i++) {
        free(cat[i].name);
        free(cat[i].type_name);
    }
    free(cat);
    if (!ok)
        table_shape_free(shape);
    return ok;
}

/*
 * (3) Count the keys a sample holds, choose the ranks of nparts - 1 bounds,
 * and fetch only the keys at those ranks, in the source's order. `where` is
 * SQL that may hold a key range. *bounds gets *nbounds encoded keys.
 */
static bool sample_bounds_once(SourceConn *conn, const TableShape *shape, const char *from, const char *keys,
                               const char *clause, const char *filter, const char *where, int nparts,
                               char ***bounds, int *nbounds, int *nsamples_out, FerryError *err);
static void take_bounds(const TableShape *shape, PGresult *res, char ***bounds, int *nbounds);

static bool sample_bounds(SourceConn *conn, const TableShape *shape, const char *from, const char *keys,
                          const char *clause, const char *filter, const char *where, int nparts,
                          char ***bounds, int *nbounds, int *nsamples_out, FerryError *err)
{
    if (!source_dialect(conn)->sample_repeatable)
        return sample_bounds_once(conn, shape, from, keys, clause, filter, where, nparts, bounds, nbounds,
                                  nsamples_out, err);
    PGresult *res;
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT count(*) FROM %s%s WHERE (%s)%s", from, clause, where, filter);
    bool ok = query_built(conn, &sql, 0, NULL, &res, err);
    free(sql.text);
    if (!ok)
        return false;
    int nsamples = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (nsamples_out != NULL)
        *nsamples_out = nsamples;

    int *ranks = xcalloc((size_t)nparts, sizeof(int));
    int nranks = partition_choose_bounds(nsamples, nparts, ranks);
    StrBuf array = {0};
    strbuf_add(&array, "{");
    for (int i = 0; i < nranks; i++)
        strbuf_add(&array, "%s%d", i ? "," : "", ranks[i] + 1);
    strbuf_add(&array, "}");
    free(ranks);
    sql = (StrBuf){0};
    strbuf_add(&sql,
               "SELECT %s FROM (SELECT %s, row_number() OVER (ORDER BY %s) AS ferry_rank"
               " FROM %s%s WHERE (%s)%s) s WHERE ferry_rank = ANY ($1::bigint[]) ORDER BY ferry_rank",
               keys, keys, keys, from, clause, where, filter);
    const char *rank_param[1] = {array.text};
    ok = query_built(conn, &sql, 1, rank_param, &res, err);
    free(array.text);
    free(sql.text);
    if (!ok)
        return false;
    take_bounds(shape, res, bounds, nbounds);
    return true;
}

/*
 * The bounds of a sample the server cannot draw twice the same (a random()
 * filter): counted and ranked in one statement. A bound is the first key of
 * each nparts-th share of the sample, as partition_choose_bounds places them.
 */
static bool sample_bounds_once(SourceConn *conn, const TableShape *shape, const char *from, const char *keys,
                               const char *clause, const char *filter, const char *where, int nparts,
                               char ***bounds, int *nbounds, int *nsamples_out, FerryError *err)
{
    PGresult *res;
    StrBuf sql = {0};
    strbuf_add(&sql,
               "SELECT %s, ferry_n FROM (SELECT %s, row_number() OVER (ORDER BY %s) AS ferry_rank,"
               " count(*) OVER () AS ferry_n FROM %s%s WHERE (%s)%s) s"
               " WHERE ferry_rank < ferry_n AND (ferry_rank * %d) / ferry_n <> ((ferry_rank - 1) * %d) / ferry_n"
               " ORDER BY ferry_rank",
               keys, keys, keys, from, clause, where, filter, nparts, nparts);
    bool ok = query_built(conn, &sql, 0, NULL, &res, err);
    free(sql.text);
    if (!ok)
        return false;
    if (nsamples_out != NULL)
        *nsamples_out = PQntuples(res) > 0 ? atoi(PQgetvalue(res, 0, shape->nkeys)) : 0;
    take_bounds(shape, res, bounds, nbounds);
    return true;
}

/* The encoded keys of a result's rows, its first nkeys columns (the result is cleared). */
static void take_bounds(const TableShape *shape, PGresult *res, char ***bounds, int *nbounds)
{
    int n = PQntuples(res);
    *bounds = xcalloc((size_t)n + 1, sizeof(char *));
    for (int r = 0; r < n; r++) {
        const char *values[FERRY_KEY_COLUMNS_MAX];
        size_t lengths[FERRY_KEY_COLUMNS_MAX];
        for (int k = 0; k < shape->nkeys; k++) {
            values[k] = PQgetvalue(res, r, k);
            lengths[k] = (size_t)PQgetlength(res, r, k);
        }
        (*bounds)[r] = key_tuple_encode(values, lengths, shape->nkeys);
    }
    PQclear(res);
    *nbounds = n;
}

/*
 * A sample that hit the source's statement_timeout is tried again on a
 * quarter of the rows, a few times: sources that kill long queries must
 * still be plannable. False (err kept) when that cannot help.
 */
static bool sample_smaller(const TableConfig *table, const char *what, double *percent, int shrinks,
                           FerryError *err)
{
    if (!pg_error_is_kill(err))
        return false;
    if (shrinks >= FERRY_SAMPLE_SHRINKS || *percent < 1e-6) {
        /* Retrying the same plan would time out the same way: this table cannot be planned. */
        ferry_error_prefix(err, "the %s keeps timing out even at %.4f%% of the table: raise the "
                                "source's statement_timeout for ferry's user",
                           what, *percent);
        err->retryable = false;
        return false;
    }
    log_info("table %s: the %s of %.4f%% timed out; trying %.4f%%", table->qualified, what, *percent,
             *percent / 4);
    *percent /= 4;
    return true;
}

/* The statistics' row and page counts and the relation's kind. */
static bool table_stats(SourceConn *conn, const TableShape *shape, double *reltuples, char *relkind,
                        double *relpages, FerryError *err)
{
    PGresult *res;
    const char *params[2] = {shape->schema, shape->name};
    if (!source_query(conn, source_dialect(conn)->stats_sql, 2, params, &res, err))
        return false;
    *reltuples = atof(PQgetvalue(res, 0, 0));
    *relkind = PQgetvalue(res, 0, 1)[0];
    *relpages = atof(PQgetvalue(res, 0, 2));
    PQclear(res);
    return true;
}

/* The share of a table to sample so that nparts bounds each rest on enough keys and blocks. */
static double key_sample_percent(double reltuples, double relpages, int nparts)
{
    double key_samples = (double)nparts * FERRY_SAMPLE_KEYS_PER_PARTITION;
    if (key_samples > FERRY_SAMPLE_KEYS_MAX)
        key_samples = FERRY_SAMPLE_KEYS_MAX;
    double percent = 100.0 * key_samples / (reltuples > 0 ? reltuples : 1);
    /* SYSTEM sampling takes whole blocks, and neighbouring rows often have
     * neighbouring keys: every bound must rest on many blocks, not a few. */
    double block_percent = relpages > 0 ? 100.0 * FERRY_SAMPLE_BLOCKS_PER_PARTITION * nparts / relpages : 100.0;
    if (block_percent > percent)
        percent = block_percent;
    if (reltuples > 0 && percent * reltuples / 100.0 > FERRY_SAMPLE_KEYS_HARD_MAX)
        percent = 100.0 * FERRY_SAMPLE_KEYS_HARD_MAX / reltuples;
    return percent > 100 ? 100 : percent;
}

bool plan_table(SourceConn *conn, const TableConfig *table, TablePlan *plan, FerryError *err)
{
    memset(plan, 0, sizeof *plan);
    if (!plan_discover(conn, table, &plan->shape, err))
        return false;
    TableShape *shape = &plan->shape;
    bool ok = false;
    PGresult *res = NULL;
    char *from = plan_from_clause(shape);
    char *cols = sql_column_list(shape, shape->ncols);
    char *keys = sql_key_list(shape);
    const char *where = table->settings.where ? table->settings.where : "true";
    StrBuf sql = {0};

    /* Size: the statistics' row count, or a count when there are none. */
    double reltuples, relpages;
    char relkind;
    if (!table_stats(conn, shape, &reltuples, &relkind, &relpages, err))
        goto out;
    if (reltuples <= 0 && relkind != 'v') {
        /* Never analyzed (or empty): statistics cannot size it, a count can. */
        strbuf_add(&sql, "SELECT count(*) FROM %s", from);
        if (!query_built(conn, &sql, 0, NULL, &res, err))
            goto out;
        reltuples = atof(PQgetvalue(res, 0, 0));
        PQclear(res);
        res = NULL;
        sql.len = 0;
    }

    /* Width, and the share of rows the filter keeps. */
    double percent = reltuples > 0 ? 100.0 * FERRY_SAMPLE_ROWS / reltuples : 100.0;
    if (percent > 100.0 || relkind == 'v')
        percent = 100.0;
    char clause[96], filter[64];
    for (int shrinks = 0;; shrinks++) {
        source_dialect(conn)->sample_clause(relkind, percent, clause, sizeof clause, filter, sizeof filter);
        sql.len = 0;
        strbuf_add(&sql,
                   "SELECT count(*), sum(CASE WHEN kept THEN 1 ELSE 0 END),"
                   " coalesce(avg(CASE WHEN kept THEN w END), 0), coalesce(max(CASE WHEN kept THEN w END), 0)"
                   " FROM (SELECT ");
        source_dialect(conn)->row_width(&sql, shape, cols);
        strbuf_add(&sql, " AS w, coalesce((%s), false) AS kept FROM %s%s WHERE true%s LIMIT %d) s", where,
                   from, clause, filter, relkind == 'v' ? FERRY_SAMPLE_ROWS : 2000000000);
        if (query_built(conn, &sql, 0, NULL, &res, err))
            break;
        if (!sample_smaller(table, "row sample", &percent, shrinks, err)) {
            ferry_error_prefix(err, "table %s: sampling", table->qualified);
            goto out;
        }
    }
    double sampled = atof(PQgetvalue(res, 0, 0));
    double kept = atof(PQgetvalue(res, 0, 1));
    plan->width_avg = atof(PQgetvalue(res, 0, 2));
    plan->width_max = atof(PQgetvalue(res, 0, 3));
    PQclear(res);
    res = NULL;
    sql.len = 0;
    if (relkind == 'v')
        plan->est_rows = kept; /* a view's estimate is its first rows; no better is cheap */
    else if (sampled > 0)
        plan->est_rows = reltuples * (kept / sampled);
    else
        plan->est_rows = reltuples;

    /* A server that keeps a cursor's result whole gets partitions whose result fits its limit. */
    int partition_rows = table->settings.partition_rows;
    uint64_t cursor_limit = source_cursor_result_limit(conn);
    if (cursor_limit > 0 && plan->width_avg > 0) {
        double fit = (double)cursor_limit / plan->width_avg;
        if (fit < partition_rows) {
            partition_rows = fit >= 1 ? (int)fit : 1;
            plan->cut_for_cursor = true;
        }
    }
    plan->nparts = partition_count(plan->est_rows, partition_rows);
    if (plan->nparts > 1) {
        double kpercent = key_sample_percent(reltuples, relpages, plan->nparts);
        int n = 0;
        for (int shrinks = 0;; shrinks++) {
            source_dialect(conn)->sample_clause(relkind, kpercent, clause, sizeof clause, filter, sizeof filter);
            if (sample_bounds(conn, shape, from, keys, clause, filter, where, plan->nparts,
                              &plan->bounds, &n, NULL, err))
                break;
            if (!sample_smaller(table, "key sample", &kpercent, shrinks, err))
                goto out;
        }
        plan->nparts = n + 1;
    }
    ok = true;
out:
    PQclear(res);
    free(sql.text);
    free(from);
    free(cols);
    free(keys);
    if (!ok)
        plan_free(plan);
    return ok;
}

bool plan_split_range(SourceConn *conn, const TableConfig *table, const TableShape *shape, const char *window,
                      const char *lower, const char *upper, int pieces, char ***bounds, int *nbounds,
                      double *est_rows, FerryError *err)
{
    *bounds = NULL;
    *nbounds = 0;
    *est_rows = 0;
    double reltuples, relpages;
    char relkind;
    if (!table_stats(conn, shape, &reltuples, &relkind, &relpages, err))
        return false;
    /* A small sample: the range keeps timing out, so the split must be cheap. */
    double percent = key_sample_percent(reltuples, relpages, pieces);
    char clause[96], filter[64];
    StrBuf where = {0};
    strbuf_add(&where, "(%s)", table->settings.where ? table->settings.where : "true");
    if (window != NULL)
        strbuf_add(&where, " AND (%s)", window);
    if (!sql_key_range(shape, lower, upper, &where, err)) {
        free(where.text);
        return false;
    }
    char *from = plan_from_clause(shape);
    char *keys = sql_key_list(shape);
    int nsamples = 0;
    bool ok;
    for (int shrinks = 0;; shrinks++) {
        source_dialect(conn)->sample_clause(relkind, percent, clause, sizeof clause, filter, sizeof filter);
        ok = sample_bounds(conn, shape, from, keys, clause, filter, where.text, pieces, bounds, nbounds,
                           &nsamples, err);
        if (ok || !sample_smaller(table, "split sample", &percent, shrinks, err))
            break;
    }
    free(where.text);
    free(from);
    free(keys);
    if (!ok)
        return false;
    *est_rows = nsamples * 100.0 / percent;
    if (*est_rows < FERRY_SPLIT_MIN_ROWS) { /* the floor: too small to be worth cutting */
        for (int i = 0; i < *nbounds; i++)
            free((*bounds)[i]);
        *nbounds = 0;
    }
    return true;
}

bool plan_read_keys(SourceConn *conn, const TableConfig *table, const TableShape *shape, const char *lower,
                    const char *upper, bool ordered, bool (*fn)(void *ctx, const RowBatch *keys, FerryError *err),
                    void *ctx, FerryError *err)
{
    char *keys = sql_key_list(shape);
    char *live = sql_live_rows(shape); /* soft-deleted rows are not the sink's */
    char *sql = NULL;
    bool ok = plan_range_query(table, shape, live, keys, lower, upper, ordered, &sql, err);
    free(live);
    free(keys);
    SourceCursor cursor;
    ok = ok && source_cursor_open(conn, sql, false, NULL, &cursor, err);
    free(sql);
    if (!ok)
        return false;
    RowBatch batch;
    batch_init(&batch, shape->nkeys);
    do {
        batch_reset(&batch, shape->nkeys);
        ok = source_cursor_next(&cursor, &batch, 50000, 8u << 20, err) && fn(ctx, &batch, err);
    } while (ok && !(cursor.exhausted && !cursor.in_fetch));
    batch_free(&batch);
    return source_cursor_close(&cursor, ok ? err : NULL) && ok;
}

bool plan_window_bounds(SourceConn *conn, const TableConfig *table, const TableShape *shape, const char *window,
                        int nparts, char ***bounds, int *nbounds, FerryError *err)
{
    /* The window's rows are few beside the table's, or they would be a full copy: all of them are the sample. */
    StrBuf where = {0};
    strbuf_add(&where, "(%s) AND (%s)", table->settings.where ? table->settings.where : "true",
               window ? window : "true");
    char *from = plan_from_clause(shape);
    char *keys = sql_key_list(shape);
    bool ok = sample_bounds(conn, shape, from, keys, "", "", where.text, nparts, bounds, nbounds, NULL, err);
    free(where.text);
    free(from);
    free(keys);
    if (!ok)
        ferry_error_prefix(err, "table %s: cutting the changed rows into partitions", table->qualified);
    return ok;
}

void plan_free(TablePlan *plan)
{
    if (plan->bounds != NULL)
        for (int i = 0; i < plan->nparts - 1; i++)
            free(plan->bounds[i]);
    free(plan->bounds);
    table_shape_free(&plan->shape);
    memset(plan, 0, sizeof *plan);
}
