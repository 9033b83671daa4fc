/*
 * include/ferry/keytuple.h — a row's key as one text (core/keytuple.c).
 *
 * A key tuple is stored as text: for each column "<length>:<bytes>", so any
 * value (commas, quotes, newlines) survives and the state file stays
 * readable, e.g. "2:42" or "3:abc5:x,y z".
 */
#ifndef FERRY_KEYTUPLE_H
#define FERRY_KEYTUPLE_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/batch.h"

char *key_tuple_encode(const char *const *values, const size_t *lengths, int count);
/* Decode into `count` owned strings; false when the text is not a tuple of `count` values. */
bool key_tuple_decode(const char *text, int count, char **values);
/* The key of one row of a batch, encoded. */
char *key_tuple_from_batch(const RowBatch *batch, int row, const TableShape *shape);
/* The row's key is the key tuple `tuple` (NULL: none is), byte for byte. */
bool key_row_is(const RowBatch *batch, int row, const TableShape *shape, const char *tuple);
/* Row ra of a and row rb of b have the same key, byte for byte (the key's text, as it is read). */
bool key_rows_equal(const RowBatch *a, int ra, const RowBatch *b, int rb, const TableShape *shape);
/*
 * "(lo, hi]" for people: each bound's values joined by commas (each cut at 40
 * bytes), -inf and +inf for open ends; cut to fit `cap`, always terminated.
 */
void key_range_describe(const TableShape *shape, const char *lo, const char *hi, char *out, size_t cap);

#endif
