/*
 * include/ferry/sql.h — quoted identifiers and literals for the SQL ferry writes (core/sql.c).
 */
#ifndef FERRY_SQL_H
#define FERRY_SQL_H

#include <stddef.h>

/* "name" with inner double quotes doubled; owned. Never fails. */
char *sql_quote_ident(const char *name);
/* E'value' with quotes and backslashes doubled, standard_conforming_strings either way; owned. */
char *sql_quote_literal(const char *value, size_t len);

#endif
