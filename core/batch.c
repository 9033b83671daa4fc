/*
 * core/batch.c — the row batch: one arena of values and one index, reused from batch to batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/batch.h"
#include "ferry/common.h"

void batch_init(RowBatch *batch, int ncols)
{
    memset(batch, 0, sizeof *batch);
    batch->ncols = ncols;
}

bool batch_reserve(RowBatch *batch, uint64_t bytes, bool wait)
{
    const BatchPayer *payer = batch->payer;
    if (payer == NULL)
        return true;
    if (bytes <= batch->unspent) {
        batch->unspent -= bytes;
        return true;
    }
    uint64_t need = bytes - batch->unspent;
    uint64_t ahead = 0;
    if (payer->try_take(payer->ctx, need + FERRY_POOL_CHUNK))
        ahead = FERRY_POOL_CHUNK;
    else if (wait)
        payer->take(payer->ctx, need);
    else if (!payer->try_take(payer->ctx, need))
        return false;
    batch->reserved += need + ahead;
    batch->unspent = ahead;
    return true;
}

void batch_release(RowBatch *batch)
{
    if (batch->payer != NULL && batch->reserved > 0)
        batch->payer->give(batch->payer->ctx, batch->reserved);
    batch->reserved = 0;
    batch->unspent = 0;
}

void batch_reset(RowBatch *batch, int ncols)
{
    batch_release(batch);
    batch->ncols = ncols;
    batch->nrows = 0;
    batch->bytes = 0;
    batch->arena_used = 0;
    batch->row_fill = 0;
}

void batch_free(RowBatch *batch)
{
    batch_release(batch);
    free(batch->arena);
    free(batch->cells);
    memset(batch, 0, sizeof *batch);
}

/* Room for `cells` more cells. */
static void cells_ensure(RowBatch *batch, size_t cells)
{
    size_t need = (size_t)batch->nrows * (size_t)batch->ncols + (size_t)batch->row_fill + cells;
    if (need <= batch->cells_cap)
        return;
    size_t cap = batch->cells_cap ? batch->cells_cap * 2 : 1024;
    while (cap < need)
        cap *= 2;
    batch->cells = xrealloc(batch->cells, cap * sizeof *batch->cells);
    batch->cells_cap = cap;
}

/* Room for `bytes` more in the arena. */
static char *arena_ensure(RowBatch *batch, size_t bytes)
{
    size_t need = batch->arena_used + bytes;
    if (need > batch->arena_cap) {
        /* Double, but never past what is needed when that is far off: a
         * one-off wide row must not leave a doubled arena behind it. */
        size_t cap = batch->arena_cap ? batch->arena_cap * 2 : 64 * 1024;
        if (cap < need)
            cap = need + need / 4;
        batch->arena = xrealloc(batch->arena, cap);
        batch->arena_cap = cap;
    }
    return batch->arena + batch->arena_used;
}

void batch_add_joined_value(RowBatch *batch, const char *prefix, size_t prefix_length, const char *value,
                            size_t length)
{
    cells_ensure(batch, 1);
    size_t index = (size_t)batch->nrows * (size_t)batch->ncols + (size_t)batch->row_fill++;
    size_t total = prefix_length + length;
    char *out = arena_ensure(batch, total + 1);
    memcpy(out, prefix, prefix_length);
    memcpy(out + prefix_length, value, length);
    out[total] = '\0';
    batch->cells[index] = (struct BatchCell){.offset = batch->arena_used, .length = (int64_t)total};
    batch->arena_used += total + 1;
    batch->bytes += FERRY_VALUE_OVERHEAD + total;
}

void batch_add_value(RowBatch *batch, const char *value, size_t length, bool is_null)
{
    if (!is_null) {
        batch_add_joined_value(batch, "", 0, value, length);
        return;
    }
    cells_ensure(batch, 1);
    size_t index = (size_t)batch->nrows * (size_t)batch->ncols + (size_t)batch->row_fill++;
    batch->cells[index] = (struct BatchCell){.offset = 0, .length = -1};
    batch->bytes += FERRY_VALUE_OVERHEAD;
}

char *batch_row_reserve(RowBatch *batch, size_t arena_bytes, size_t *base_offset,
                        struct BatchCell **cells)
{
    cells_ensure(batch, (size_t)batch->ncols);
    *cells = &batch->cells[(size_t)batch->nrows * (size_t)batch->ncols];
    *base_offset = batch->arena_used;
    return arena_ensure(batch, arena_bytes);
}

void batch_row_commit(RowBatch *batch, size_t arena_bytes, size_t value_bytes)
{
    batch->arena_used += arena_bytes;
    batch->bytes += value_bytes + (size_t)batch->ncols * FERRY_VALUE_OVERHEAD;
    batch->nrows++;
    batch->row_fill = 0;
}

void batch_end_row(RowBatch *batch)
{
    batch->nrows++;
    batch->row_fill = 0;
}

int batch_filter(RowBatch *batch, bool (*keep)(const RowBatch *batch, int row, void *ctx), void *ctx)
{
    size_t ncols = (size_t)batch->ncols;
    int kept = 0;
    for (int r = 0; r < batch->nrows; r++) {
        struct BatchCell *row = &batch->cells[(size_t)r * ncols];
        if (keep(batch, r, ctx)) {
            if (kept != r)
                memcpy(&batch->cells[(size_t)kept * ncols], row, ncols * sizeof *row);
            kept++;
            continue;
        }
        for (size_t c = 0; c < ncols; c++)
            batch->bytes -= FERRY_VALUE_OVERHEAD + (row[c].length > 0 ? (size_t)row[c].length : 0);
    }
    int dropped = batch->nrows - kept;
    batch->nrows = kept;
    return dropped;
}

void batch_describe_key(const TableShape *shape, const RowBatch *batch, int row, char *out, size_t cap)
{
    StrBuf names = {.max = cap}, values = {.max = cap};
    strbuf_add(&names, "%s", "");
    strbuf_add(&values, "%s", "");
    for (int k = 0; k < shape->nkeys; k++) {
        int c = shape->key_col[k];
        size_t len = 0;
        const char *v = batch_value(batch, row, c, &len);
        size_t shown = v != NULL ? utf8_valid_prefix(v, len > 64 ? 64 : len) : 0;
        strbuf_add(&names, "%s%s", k ? ", " : "", shape->cols[c].name);
        if (v == NULL)
            strbuf_add(&values, "%sNULL", k ? ", " : "");
        else
            strbuf_add(&values, "%s%.*s%s", k ? ", " : "", (int)shown, v, shown < len ? "…" : "");
    }
    snprintf(out, cap, "(%s) = (%s)", names.text, values.text);
    out[utf8_valid_prefix(out, strlen(out))] = '\0'; /* a cut to fit may fall inside a character */
    free(names.text);
    free(values.text);
}

bool batch_text_valid(const RowBatch *batch, int *row, int *col, size_t *at)
{
    for (int r = 0; r < batch->nrows; r++)
        for (int c = 0; c < batch->ncols; c++) {
            size_t len = 0;
            const char *v = batch_value(batch, r, c, &len);
            size_t ok = v != NULL ? utf8_valid_prefix(v, len) : len;
            if (ok < len) {
                *row = r, *col = c, *at = ok;
                return false;
            }
        }
    return true;
}

void table_shape_free(TableShape *shape)
{
    for (int i = 0; i < shape->ncols; i++) {
        free(shape->cols[i].name);
        free(shape->cols[i].type_name);
    }
    free(shape->cols);
    free(shape->schema);
    free(shape->name);
    free(shape->target);
    memset(shape, 0, sizeof *shape);
}
