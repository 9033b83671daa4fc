/*
 * agent/dialect_redshift.c — Amazon Redshift's catalog, sampling and read path (dialect.h).
 *
 * Design notes
 *  (1) Only what Redshift documents: pg_class and pg_namespace find the
 *      relation, svv_columns gives its columns by Redshift's type names
 *      (mapped here to the PostgreSQL types whose text Redshift writes),
 *      information_schema the declared key, svv_table_info the rows. No
 *      LATERAL, no WITH ORDINALITY, no TABLESAMPLE: the leader node speaks
 *      PostgreSQL 8.0.
 *  (2) Redshift has no domains and no arrays; it compares text by its bytes
 *      (a CASE_INSENSITIVE collation is not bytewise, but svv_columns does
 *      not say which columns have one: declare such a key's order yourself).
 *  (3) No COPY TO STDOUT: rows come by cursor, one cursor per session in a
 *      transaction, DECLARE without options; a single-node cluster takes at
 *      most 1,000 rows a FETCH (fetch_limit_sql).
 *  (4) Sampling is a random() filter (Redshift has no TABLESAMPLE): the rows
 *      differ from one plan to the next, the bounds stay even.
 *  (5) The session sets query_group = 'ferry', so an administrator can route
 *      ferry's queries to a WLM queue of their own and see them in the system
 *      tables; application_name is ferry's from the connection itself.
 *  (6) Connections: 500 a cluster (AWS's quota for most node types), less
 *      those open (stv_sessions); the user's CONNECTION LIMIT (pg_user_info).
 *  (7) No row constructors, no FILTER, no arrays, no ONLY: what planning
 *      asks is written in what the leader node takes.
 *  (8) Redshift's own types: SUPER is read as JSON (embedded in NDJSON, a
 *      document in MongoDB), VARBYTE as bytea (its bare hex made bytea's
 *      text by the source: hex_bytes_type), GEOMETRY and GEOGRAPHY as the
 *      EWKB hex Redshift writes, HLLSKETCH as its text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/dialect.h"
#include "ferry/sql.h"

static void sample_clause(char relkind, double percent, char *clause, size_t clause_cap, char *filter,
                          size_t filter_cap)
{
    (void)relkind;
    (void)clause_cap;
    clause[0] = filter[0] = '\0';
    if (percent < 100.0)
        snprintf(filter, filter_cap, " AND random() < %.8f", percent / 100.0);
}

/*
 * (7) No row values: the width is the sum of the columns' text, and a
 * separator each. (8) Each type measured as Redshift can: SUPER by
 * JSON_SIZE, VARBYTE and spatial values by their bytes (written as hex,
 * twice as many), the rest as varchar.
 */
static void row_width(StrBuf *sql, const TableShape *shape, const char *cols)
{
    (void)cols;
    strbuf_add(sql, "(%d", shape->ncols);
    for (int c = 0; c < shape->ncols; c++) {
        const Column *col = &shape->cols[c];
        char *name = sql_quote_ident(col->name);
        if (col->type == OID_JSON)
            strbuf_add(sql, " + coalesce(json_size(%s), 0)", name);
        else if (col->type == OID_BYTEA)
            strbuf_add(sql, " + coalesce(2 + 2 * octet_length(%s), 0)", name);
        else if (strncmp(col->type_name, "geometry", 8) == 0 || strncmp(col->type_name, "geography", 9) == 0)
            strbuf_add(sql, " + coalesce(2 * octet_length(st_asewkb(%s)), 0)", name);
        else
            strbuf_add(sql, " + coalesce(octet_length(CAST(%s AS varchar(65535))), 0)", name);
        free(name);
    }
    strbuf_add(sql, ")");
}

/*
 * svv_columns' data_type to the PostgreSQL type (oid) whose text Redshift
 * writes for it, or (8) the one ferry takes it as: SUPER's text is JSON,
 * VARBYTE's is bytea's once the source adds "\\x"; GEOMETRY, GEOGRAPHY
 * (EWKB in hex) and HLLSKETCH (its JSON or base64 form) are text.
 */
#define TYPE_OID                                                                                     \
    "CASE c.data_type WHEN 'smallint' THEN 21 WHEN 'integer' THEN 23 WHEN 'bigint' THEN 20"          \
    " WHEN 'super' THEN 114 WHEN 'binary varying' THEN 17 WHEN 'varbyte' THEN 17"                    \
    " WHEN 'numeric' THEN 1700 WHEN 'real' THEN 700 WHEN 'double precision' THEN 701"                \
    " WHEN 'boolean' THEN 16 WHEN 'character varying' THEN 1043 WHEN 'character' THEN 1042"          \
    " WHEN 'date' THEN 1082 WHEN 'timestamp without time zone' THEN 1114"                            \
    " WHEN 'timestamp with time zone' THEN 1184 WHEN 'time without time zone' THEN 1083"             \
    " WHEN 'time with time zone' THEN 1266 ELSE 25 END"

/* The type as SQL writes it, with its length or precision. */
#define TYPE_TEXT                                                                                    \
    "CASE WHEN c.character_maximum_length IS NOT NULL"                                               \
    "  THEN c.data_type || '(' || c.character_maximum_length || ')'"                                 \
    " WHEN c.data_type = 'numeric' AND c.numeric_precision IS NOT NULL"                              \
    "  THEN 'numeric(' || c.numeric_precision || ',' || coalesce(c.numeric_scale, 0) || ')'"         \
    " ELSE c.data_type END"

const Dialect dialect_redshift = {
    .name = "redshift",
    .session_setup = "SET DateStyle = 'ISO, YMD';"
                     "SET TimeZone = 'UTC';"
                     "SET extra_float_digits = 1;"
                     "SET query_group = 'ferry'",
    .copy_out = false,
    .begin_read = "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
    .declare_cursor = "DECLARE ferry_cursor CURSOR FOR ",
    .fetch_limit_sql = "SELECT CASE WHEN count(DISTINCT node) = 1 THEN 1000 ELSE 0 END FROM stv_slices",
    .cursor_materialised = true,
    .hex_bytes_type = 6551, /* VARBYTE's oid in a RowDescription */
    .relation_sql = "SELECT c.oid, c.relkind, false"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','v')",
    .columns_sql = "SELECT c.column_name, " TYPE_OID ", " TYPE_TEXT ", 0, ',', c.is_nullable = 'NO',"
                   "  c.data_type IN ('character varying', 'character')"
                   " FROM svv_columns c, pg_class r, pg_namespace n"
                   " WHERE r.oid = $1::oid AND n.oid = r.relnamespace"
                   "  AND c.table_schema = n.nspname AND c.table_name = r.relname"
                   " ORDER BY c.ordinal_position",
    .primary_key_sql = "SELECT k.column_name FROM information_schema.table_constraints t"
                       " JOIN information_schema.key_column_usage k"
                       "  ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema"
                       "  AND k.table_name = t.table_name,"
                       " pg_class r, pg_namespace n"
                       " WHERE r.oid = $1::oid AND n.oid = r.relnamespace AND t.table_schema = n.nspname"
                       "  AND t.table_name = r.relname AND t.constraint_type = 'PRIMARY KEY'"
                       " ORDER BY k.ordinal_position",
    /* No indexes: a key is declared, or it is the informational primary key. */
    .unique_indexes_sql = "SELECT ''::text WHERE $1::oid IS NULL",
    /* svv_table_info has no row for an empty table. */
    .stats_sql = "SELECT coalesce((SELECT tbl_rows::float8 FROM svv_table_info"
                 "                 WHERE schema = $1 AND \"table\" = $2), 0),"
                 "  coalesce((SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                 "            WHERE n.nspname = $1 AND c.relname = $2), 'r'), 0",
    .connection_room_sql =
        "SELECT 500 - (SELECT count(*) FROM stv_sessions)::int,"
        "  (SELECT useconnlimit::int - (SELECT count(*) FROM stv_sessions WHERE user_name = current_user)::int"
        "     FROM pg_user_info WHERE usename = current_user AND useconnlimit <> 'UNLIMITED'),"
        "  NULL::int",
    .clock_sql = "sysdate::timestamptz", /* sysdate: the transaction's start, in the session's zone (UTC) */
    .snapshot_sql = "NULL::text",
    .row_versions = false,
    .inheritance = false,
    .keys_enforced = false,
    .sample_repeatable = false,
    .row_width = row_width,
    .sample_clause = sample_clause,
};
