/*
 * agent/batch.c — the row batch: one arena of values and one index, reused from batch to batch.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/batch.h"
#include "ferry/common.h"
#include "ferry/plan.h"

void batch_init(RowBatch *batch, int ncols)
{
    memset(batch, 0, sizeof *batch);
    batch->ncols = ncols;
}

bool batch_reserve(RowBatch *batch, uint64_t bytes, bool wait)
{
    if (batch->pool == NULL)
        return true;
    if (wait)
        pool_take(batch->pool, bytes);
    else if (!pool_try_take(batch->pool, bytes))
        return false;
    batch->reserved += bytes;
    return true;
}

void batch_release(RowBatch *batch)
{
    if (batch->pool != NULL)
        pool_give(batch->pool, batch->reserved);
    batch->reserved = 0;
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

static struct BatchCell *next_cell(RowBatch *batch)
{
    size_t index = (size_t)batch->nrows * (size_t)batch->ncols + (size_t)batch->row_fill;
    if (index + 1 > batch->cells_cap) {
        size_t cap = batch->cells_cap ? batch->cells_cap * 2 : 1024;
        while (cap < index + 1)
            cap *= 2;
        batch->cells = xrealloc(batch->cells, cap * sizeof *batch->cells);
        batch->cells_cap = cap;
    }
    batch->row_fill++;
    batch->bytes += FERRY_VALUE_OVERHEAD;
    return &batch->cells[index];
}

char *batch_value_reserve(RowBatch *batch, size_t max_len)
{
    size_t need = batch->arena_used + max_len + 1;
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

void batch_value_commit(RowBatch *batch, size_t length)
{
    struct BatchCell *cell = next_cell(batch);
    batch->arena[batch->arena_used + length] = '\0';
    *cell = (struct BatchCell){.offset = batch->arena_used, .length = (int64_t)length};
    batch->arena_used += length + 1;
    batch->bytes += length;
}

void batch_add_value(RowBatch *batch, const char *value, size_t length, bool is_null)
{
    if (is_null) {
        *next_cell(batch) = (struct BatchCell){.offset = 0, .length = -1};
        return;
    }
    memcpy(batch_value_reserve(batch, length), value, length);
    batch_value_commit(batch, length);
}

void batch_end_row(RowBatch *batch)
{
    batch->nrows++;
    batch->row_fill = 0;
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
