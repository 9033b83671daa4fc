/*
 * agent/partition.c — the cutting of a table into key ranges.
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

#include "ferry/plan.h"

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
