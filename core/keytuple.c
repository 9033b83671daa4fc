/*
 * core/keytuple.c — a row's key as one text: stored in the state, bound into range queries, shown to people.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"
#include "ferry/keytuple.h"

char *key_tuple_encode(const char *const *values, const size_t *lengths, int count)
{
    size_t total = 1;
    for (int i = 0; i < count; i++)
        total += lengths[i] + 24;
    char *out = xmalloc(total);
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        n += (size_t)snprintf(out + n, total - n, "%zu:", lengths[i]);
        memcpy(out + n, values[i], lengths[i]);
        n += lengths[i];
    }
    out[n] = '\0';
    return out;
}

bool key_tuple_decode(const char *text, int count, char **values)
{
    const char *p = text;
    int i;
    for (i = 0; i < count; i++) {
        char *colon;
        unsigned long long len = strtoull(p, &colon, 10);
        if (colon == p || *colon != ':' || strlen(colon + 1) < len)
            break;
        values[i] = xstrndup(colon + 1, (size_t)len);
        p = colon + 1 + len;
    }
    if (i == count && *p == '\0')
        return true;
    for (int j = 0; j < i; j++) {
        free(values[j]);
        values[j] = NULL;
    }
    return false;
}

char *key_tuple_from_batch(const RowBatch *batch, int row, const TableShape *shape)
{
    const char *values[FERRY_KEY_COLUMNS_MAX];
    size_t lengths[FERRY_KEY_COLUMNS_MAX];
    for (int k = 0; k < shape->nkeys; k++) {
        values[k] = batch_value(batch, row, shape->key_col[k], &lengths[k]);
        if (values[k] == NULL) { /* a key column is NOT NULL or the plan refused it */
            values[k] = "";
            lengths[k] = 0;
        }
    }
    return key_tuple_encode(values, lengths, shape->nkeys);
}

bool key_row_is(const RowBatch *batch, int row, const TableShape *shape, const char *tuple)
{
    if (tuple == NULL)
        return false;
    char *key = key_tuple_from_batch(batch, row, shape);
    bool same = strcmp(key, tuple) == 0;
    free(key);
    return same;
}

bool key_rows_equal(const RowBatch *a, int ra, const RowBatch *b, int rb, const TableShape *shape)
{
    for (int k = 0; k < shape->nkeys; k++) {
        size_t la = 0, lb = 0;
        const char *va = batch_value(a, ra, shape->key_col[k], &la);
        const char *vb = batch_value(b, rb, shape->key_col[k], &lb);
        if ((va == NULL) != (vb == NULL) || la != lb || (va != NULL && memcmp(va, vb, la) != 0))
            return false;
    }
    return true;
}

/* Append to out[*n..cap) what fits, keeping out NUL-terminated; *n never passes cap - 1. */
static void describe_add(char *out, size_t cap, size_t *n, const char *fmt, const char *a, const char *b)
{
    if (*n + 1 >= cap)
        return;
    int wrote = snprintf(out + *n, cap - *n, fmt, a, b);
    if (wrote > 0)
        *n += (size_t)wrote < cap - *n ? (size_t)wrote : cap - *n - 1;
}

/* "(lo, hi]" with each bound's values joined by commas; -inf and +inf for open ends; cut to fit. */
void key_range_describe(const TableShape *shape, const char *lo, const char *hi, char *out, size_t cap)
{
    const char *bounds[2] = {lo, hi};
    size_t n = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    describe_add(out, cap, &n, "%s%s", "(", "");
    for (int b = 0; b < 2; b++) {
        char *values[FERRY_KEY_COLUMNS_MAX];
        if (bounds[b] == NULL || !key_tuple_decode(bounds[b], shape->nkeys, values)) {
            describe_add(out, cap, &n, "%s%s", b == 0 ? "-inf" : "+inf", "");
        } else {
            for (int k = 0; k < shape->nkeys; k++) {
                describe_add(out, cap, &n, "%s%.40s", k ? "," : "", values[k]);
                free(values[k]);
            }
        }
        describe_add(out, cap, &n, "%s%s", b == 0 ? ", " : "]", "");
    }
}
