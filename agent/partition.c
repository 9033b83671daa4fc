/*
 * agent/partition.c — key tuples and the cutting of a table into key ranges.
 *
 * Design notes
 *  (1) Bounds come from keys sampled in key order by the source itself, so the
 *      source's own ordering (collations, composite comparison) decides what
 *      "between" means; ferry only picks which samples become bounds.
 *  (2) Partition i holds keys in (bound[i-1], bound[i]]; the first has no lower
 *      bound and the last no upper bound, so a key outside the sampled range
 *      still belongs to exactly one partition.
 *  (3) Sampled keys are distinct (keys are unique), so quantiles of the sample
 *      are strictly ascending: no empty or overlapping partitions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/plan.h"

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

/* "(lo, hi]" with each bound's values joined by commas; -inf and +inf for open ends. */
void key_range_describe(const TableShape *shape, const char *lo, const char *hi, char *out, size_t cap)
{
    const char *bounds[2] = {lo, hi};
    size_t n = (size_t)snprintf(out, cap, "(");
    for (int b = 0; b < 2 && n < cap; b++) {
        char *values[FERRY_KEY_COLUMNS_MAX];
        if (bounds[b] == NULL || !key_tuple_decode(bounds[b], shape->nkeys, values)) {
            n += (size_t)snprintf(out + n, cap - n, "%s", b == 0 ? "-inf" : "+inf");
        } else {
            for (int k = 0; k < shape->nkeys; k++) {
                n += (size_t)snprintf(out + n, cap - n, "%s%.40s", k ? "," : "", values[k]);
                free(values[k]);
            }
        }
        if (n < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s", b == 0 ? ", " : "]");
    }
}

int partition_count(double est_rows, int partition_rows)
{
    if (!(est_rows > 0) || partition_rows <= 0)
        return 1;
    double n = ceil(est_rows / (double)partition_rows);
    if (n > FERRY_PARTITIONS_MAX)
        return FERRY_PARTITIONS_MAX;
    return n < 1 ? 1 : (int)n;
}

int partition_choose_bounds(int nsamples, int nparts, int *bounds)
{
    if (nparts <= 1 || nsamples <= 0)
        return 0;
    if (nparts > nsamples + 1)
        nparts = nsamples + 1; /* each bound needs a sample of its own */
    int count = 0;
    for (int j = 1; j < nparts; j++) {
        /* The j-th nparts-quantile of the sample: the last sample of the j-th share. */
        long index = ((long)j * nsamples + nparts - 1) / nparts - 1;
        if (index < 0)
            index = 0;
        if (count > 0 && index <= bounds[count - 1])
            continue; /* keep bounds strictly ascending */
        bounds[count++] = (int)index;
    }
    return count;
}
