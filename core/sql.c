/*
 * core/sql.c — SQL text ferry writes itself: quoted identifiers and literals that cannot fail.
 *
 * Design notes
 *  (1) Every session runs with client_encoding UTF8, so quoting is a matter
 *      of bytes: an identifier is wrapped in double quotes with each double
 *      quote doubled; a literal is written E'…' with each quote and backslash
 *      doubled, which reads the same whatever standard_conforming_strings is.
 *  (2) Nothing is checked here: bytes that are not UTF-8 are the server's to
 *      refuse, as an error of the statement, never an abort of ferry.
 */
#include <string.h>

#include "ferry/common.h"
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
