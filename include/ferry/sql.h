/*
 * include/ferry/sql.h — quoted identifiers and literals for the SQL ferry writes (core/sql.c).
 */
#ifndef FERRY_SQL_H
#define FERRY_SQL_H

#include <stddef.h>

#include "ferry/batch.h"
#include "ferry/common.h"

/* "name" with inner double quotes doubled; owned. Never fails. */
char *sql_quote_ident(const char *name);
/* E'value' with quotes and backslashes doubled, standard_conforming_strings either way; owned. */
char *sql_quote_literal(const char *value, size_t len);

/* The shape's first `count` columns (ncols: all, nout: the sink's), quoted and comma-separated; owned. */
char *sql_column_list(const TableShape *shape, int count);
/* The key columns, quoted, in key order; owned. */
char *sql_key_list(const TableShape *shape);
/*
 * Append " AND key > lower AND key <= upper" for encoded key tuples
 * (keytuple.h; a NULL bound is left out), each bound's values cast to the
 * key columns' types (note 3 of core/sql.c).
 */
bool sql_key_range(const TableShape *shape, const char *lower, const char *upper, StrBuf *sql, FerryError *err);
/*
 * SQL that keeps the rows a soft-deleting table still holds ("deleted" IS
 * NOT TRUE, "deleted_at" IS NULL; TableShape.has_deleted): what a whole read
 * copies and what a merge inserts. NULL without deletes = soft. Owned.
 */
char *sql_live_rows(const TableShape *shape);
/* False, with an error that says why, when a statement outgrew StrBuf's limit. */
bool sql_statement_whole(const StrBuf *sql, FerryError *err);

#endif
