/*
 * agent/dialect_postgresql.c — PostgreSQL's catalog, sampling and read path (dialect.h).
 *
 * Design notes
 *  (1) Domains (and domains over domains) are read as their base type, arrays
 *      of domains as arrays of the base type; only true arrays get an
 *      element type.
 *  (2) A text column orders bytewise when its collation is C, POSIX or
 *      ucs_basic, or the database default is C or POSIX.
 *  (3) Sampling reads TABLESAMPLE SYSTEM … REPEATABLE, so planning the same
 *      data twice gives the same plan; views, which cannot be sampled, are
 *      read with a random() filter instead.
 */
#include <stdio.h>

#include "ferry/dialect.h"

/* The base type of type `oid`, through any number of domains: a subquery giving column o. */
#define BASE_TYPE(oid)                                                                               \
    "WITH RECURSIVE b(o, d) AS (SELECT " oid ", 0 UNION ALL SELECT t.typbasetype, b.d + 1"            \
    " FROM b JOIN pg_type t ON t.oid = b.o AND t.typtype = 'd') SELECT o FROM b ORDER BY d DESC LIMIT 1"

static void sample_clause(char relkind, double percent, char *clause, size_t clause_cap, char *filter,
                          size_t filter_cap)
{
    clause[0] = filter[0] = '\0';
    if (percent >= 100.0)
        return;
    if (relkind == 'r' || relkind == 'm' || relkind == 'p')
        snprintf(clause, clause_cap, " TABLESAMPLE SYSTEM (%.6f) REPEATABLE (7)", percent);
    else
        snprintf(filter, filter_cap, " AND random() < %.8f", percent / 100.0);
}

static void row_width(StrBuf *sql, const TableShape *shape, const char *cols)
{
    (void)shape;
    strbuf_add(sql, "octet_length(ROW(%s)::text)", cols);
}

const Dialect dialect_postgresql = {
    .name = "postgresql",
    .session_setup = "SET client_encoding = 'UTF8';"
                     "SET DateStyle = 'ISO, YMD';"
                     "SET IntervalStyle = 'postgres';"
                     "SET lc_monetary = 'C';"
                     "SET TimeZone = 'UTC';"
                     "SET extra_float_digits = 1;"
                     "SET bytea_output = 'hex';"
                     "SET application_name = 'ferry'",
    .copy_out = true,
    .begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    .declare_cursor = "DECLARE ferry_cursor NO SCROLL CURSOR FOR ",
    .relation_sql = "SELECT c.oid, c.relkind, EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = c.oid)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')",
    .columns_sql = "SELECT a.attname, bt.oid, format_type(a.atttypid, a.atttypmod),"
                   "  CASE WHEN bt.typcategory = 'A' THEN eb.o ELSE 0 END,"
                   "  coalesce(et.typdelim, ','), a.attnotnull,"
                   "  coalesce(co.collname IN ('C', 'POSIX', 'ucs_basic') OR (co.collname = 'default'"
                   "    AND (SELECT datcollate IN ('C', 'POSIX') FROM pg_database"
                   "         WHERE datname = current_database())), false)"
                   " FROM pg_attribute a"
                   " CROSS JOIN LATERAL (" BASE_TYPE("a.atttypid") ") base"
                   " JOIN pg_type bt ON bt.oid = base.o"
                   " LEFT JOIN LATERAL (" BASE_TYPE("bt.typelem") ") eb ON bt.typcategory = 'A'"
                   " LEFT JOIN pg_type et ON et.oid = eb.o"
                   " LEFT JOIN pg_collation co ON co.oid = a.attcollation"
                   " WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped"
                   " ORDER BY a.attnum",
    .primary_key_sql = "SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(n, ord)"
                       " JOIN pg_attribute a ON a.attnum = k.n"
                       " WHERE i.indrelid = $1::oid AND i.indisprimary AND a.attrelid = i.indrelid"
                       " ORDER BY k.ord",
    .unique_indexes_sql = "SELECT array_to_string(ARRAY(SELECT quote_ident(a.attname) FROM unnest(i.indkey) k(n)"
                          "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n), ',')"
                          " FROM pg_index i WHERE i.indrelid = $1::oid AND i.indisunique"
                          " AND i.indpred IS NULL AND i.indexprs IS NULL",
    .stats_sql = "SELECT c.reltuples::float8, c.relkind, c.relpages FROM pg_class c"
                 " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
    /* pg_stat_activity shows every session's user and database. */
    .connection_room_sql =
        "SELECT current_setting('max_connections')::int"
        "     - current_setting('superuser_reserved_connections')::int"
        "     - coalesce(current_setting('reserved_connections', true)::int, 0)"
        "     - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,"
        "  (SELECT rolconnlimit - (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user)::int"
        "     FROM pg_roles WHERE rolname = current_user AND rolconnlimit >= 0),"
        "  (SELECT datconnlimit - (SELECT count(*) FROM pg_stat_activity"
        "                          WHERE datname = current_database())::int"
        "     FROM pg_database WHERE datname = current_database() AND datconnlimit >= 0)",
    .clock_sql = "now()",
    .snapshot_sql = "pg_current_snapshot()::text",
    .row_versions = true,
    .heap_tids = true,
    .inheritance = true,
    .keys_enforced = true,
    .sample_repeatable = true,
    .row_width = row_width,
    .sample_clause = sample_clause,
};
