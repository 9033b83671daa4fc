/*
 * agent/duplicates.c — rows whose key repeats, as on_duplicate_key says (config.h, DuplicateKeys).
 *
 * Design notes
 *  (1) Rows are read in key order, so the rows of one key are next to each
 *      other: a repeat is a row whose key equals the row before it, in the
 *      batch or, for a batch's first row, the partition's last checkpoint.
 *      Every batch is looked at unless the server itself keeps the key
 *      unique (TableShape.key_enforced): a key the plan found unique by
 *      scanning the data may have gained a repeat since.
 *  (2) fail names the key and a repeated value (the worker adds the table
 *      and the partition), before anything of the batch is written.
 *      keep_last drops each row that a row of the same key follows; keep_all
 *      keeps them all. Both, and fail on a server that does not enforce keys,
 *      read with whole_keys (source.h), so a batch holds every row of each
 *      of its keys and no checkpoint falls between two of them.
 *  (3) Keys are compared by their text as read; two keys that the server
 *      calls equal but writes differently are two keys here.
 *  (4) UNLOAD's objects end where their size says, not between keys (they
 *      are read by object, not by key, so no row is lost): under keep_last
 *      the rows that open a batch with the key the batch before wrote are
 *      dropped, and that key keeps the earlier row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/keytuple.h"
#include "ferry/run.h"

typedef struct KeepLast {
    const TableShape *shape;
    const char *prev_key;     /* the key written last before the batch; NULL: none */
    bool leading;             /* still among the batch's first rows, which may repeat prev_key */
} KeepLast;

/*
 * keep_last: a row stays unless the next row has its key, or (4) it repeats
 * the key a batch before wrote.
 */
static bool last_of_its_key(const RowBatch *batch, int row, void *ctx)
{
    KeepLast *k = ctx;
    if (k->leading && key_row_is(batch, row, k->shape, k->prev_key))
        return false;
    k->leading = false;
    return row + 1 == batch->nrows || !key_rows_equal(batch, row, batch, row + 1, k->shape);
}

/* The first row (from 0) whose key equals the row before it (-1 before the first row: prev_key); -1: none. */
static int first_repeat(const RowBatch *batch, const TableShape *shape, const char *prev_key)
{
    if (batch->nrows > 0 && key_row_is(batch, 0, shape, prev_key))
        return 0;
    for (int r = 1; r < batch->nrows; r++)
        if (key_rows_equal(batch, r - 1, batch, r, shape))
            return r;
    return -1;
}

static long count_repeats(const RowBatch *batch, const TableShape *shape)
{
    long n = 0;
    for (int r = 1; r < batch->nrows; r++)
        n += key_rows_equal(batch, r - 1, batch, r, shape);
    return n;
}

bool duplicates_apply(const TableConfig *table, const TableShape *shape, const char *prev_key,
                      RowBatch *batch, long *repeats, FerryError *err)
{
    *repeats = 0;
    switch ((DuplicateKeys)table->settings.on_duplicate_key) {
    case DUPLICATES_KEEP_ALL:
        *repeats = count_repeats(batch, shape);
        return true;
    case DUPLICATES_KEEP_LAST: {
        KeepLast k = {.shape = shape, .prev_key = prev_key, .leading = true};
        *repeats = batch_filter(batch, last_of_its_key, &k);
        return true;
    }
    case DUPLICATES_FAIL:
        if (shape->key_enforced)
            return true;
        break;
    }
    int r = first_repeat(batch, shape, prev_key);
    if (r < 0)
        return true;
    StrBuf names = {0}, values = {0};
    for (int k = 0; k < shape->nkeys; k++) {
        int col = shape->key_col[k];
        strbuf_add(&names, "%s", k ? ", " : "");
        config_add_name(&names, shape->cols[col].name);
        const char *v = batch_value(batch, r, col, NULL);
        strbuf_add(&values, "%s%s = %.64s", k ? ", " : "", shape->cols[col].name, v ? v : "NULL");
    }
    ferry_error(err, FERRY_ERR_SOURCE, 0,
                "key (%s) is not unique: rows would be lost (%s appears more than once); set "
                "on_duplicate_key = keep_last or keep_all for table %s, or declare a key that is unique "
                "(key = col1, col2)",
                names.text, values.text, table->qualified);
    free(names.text);
    free(values.text);
    return false;
}
