/*
 * core/sql.c — SQL text ferry writes itself: quoted identifiers and literals that cannot fail.
 *
 * Design notes
 *  (1) Every session runs with client_encoding UTF8, so quoting is a matter
 *      of bytes: an identifier is wrapped in double quotes with each double
 *      quote doubled; a literal is written E'…' with each quote and backslash
 *      doubled, which reads the same whatever standard_conforming_strings is.
 *  (3) A key range is written one way for every statement that reads or
 *      deletes by it (the source's reads, verify, a sink reading its target
 *      back): each bound a row value of literals cast to the key columns'
 *      types, so the server compares as it orders the key.
 *  (2) Nothing is checked here: bytes that are not UTF-8 are the server's to
 *      refuse, as an error of the statement, never an abort of ferry.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"
#include "ferry/keytuple.h"
#include "ferry/sql.h"

char *sql_quote_ident(const char *name)
{
    size_t len = strlen(name), n = 0;
    char *out = xmalloc(len * 2 + 3);
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '"')
            out[n++] = '"';
        out[n++] = name[i];
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

char *sql_quote_literal(const char *value, size_t len)
{
    size_t n = 0;
    char *out = xmalloc(len * 2 + 4);
    out[n++] = 'E';
    out[n++] = '\'';
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '\'' || value[i] == '\\')
            out[n++] = value[i];
        out[n++] = value[i];
    }
    out[n++] = '\'';
    out[n] = '\0';
    return out;
}

bool sql_statement_whole(const StrBuf *sql, FerryError *err)
{
    if (!sql->failed)
        return true;
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "a statement would be longer than %u MiB: a key value or a filter that long "
                       "cannot be read by range", FERRY_STRBUF_MAX >> 20);
}

static char *quoted_list(const TableShape *shape, const int *indexes, int count)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "%s", "");
    for (int i = 0; i < count; i++) {
        char *q = sql_quote_ident(shape->cols[indexes[i]].name);
        strbuf_add(&sql, "%s%s", i ? ", " : "", q);
        free(q);
    }
    return sql.text;
}

char *sql_column_list(const TableShape *shape, int count)
{
    int indexes[FERRY_COLUMNS_MAX];
    for (int i = 0; i < count; i++)
        indexes[i] = i;
    return quoted_list(shape, indexes, count);
}

char *sql_key_list(const TableShape *shape)
{
    return quoted_list(shape, shape->key_col, shape->nkeys);
}

/* Append " AND (k1, k2) > ('a'::t1, 'b'::t2)" for one encoded key bound. */
static bool add_bound(const TableShape *shape, const char *keys, const char *encoded, const char *op,
                      StrBuf *sql, FerryError *err)
{
    char *values[FERRY_KEY_COLUMNS_MAX];
    if (!key_tuple_decode(encoded, shape->nkeys, values))
        return ferry_error(err, FERRY_ERR_STATE, 0, "state holds a malformed key \"%.64s\"", encoded);
    bool many = shape->nkeys > 1;
    strbuf_add(sql, " AND %s%s%s %s %s", many ? "(" : "", keys, many ? ")" : "", op, many ? "(" : "");
    for (int k = 0; k < shape->nkeys; k++) {
        char *literal = sql_quote_literal(values[k], strlen(values[k]));
        strbuf_add(sql, "%s%s::%s", k ? ", " : "", literal, shape->cols[shape->key_col[k]].type_name);
        free(literal);
        free(values[k]);
    }
    strbuf_add(sql, "%s", many ? ")" : "");
    return true;
}

bool sql_key_range(const TableShape *shape, const char *lower, const char *upper, StrBuf *sql, FerryError *err)
{
    char *keys = sql_key_list(shape);
    bool ok = (lower == NULL || add_bound(shape, keys, lower, ">", sql, err)) &&
              (upper == NULL || add_bound(shape, keys, upper, "<=", sql, err));
    free(keys);
    return ok && sql_statement_whole(sql, err);
}

char *sql_live_rows(const TableShape *shape)
{
    if (!shape->has_deleted)
        return NULL;
    const Column *col = &shape->cols[shape->deleted_col];
    char *name = sql_quote_ident(col->name);
    StrBuf sql = {0};
    strbuf_add(&sql, col->type == OID_BOOL ? "%s IS NOT TRUE" : "%s IS NULL", name);
    free(name);
    return sql.text;
}
