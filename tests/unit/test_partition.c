/*
 * tests/unit/test_partition.c — quantile bounds and key tuples.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/plan.h"
#include "tap.h"

void test_partition(void)
{
    int bounds[64];
    int n = partition_choose_bounds(100, 4, bounds);
    ok(n == 3 && bounds[0] == 24 && bounds[1] == 49 && bounds[2] == 74,
       "100 samples, 4 partitions: bounds at the 25th, 50th and 75th sample");
    n = partition_choose_bounds(10, 3, bounds);
    ok(n == 2 && bounds[0] == 3 && bounds[1] == 6, "10 samples, 3 partitions: 4 + 3 + 3 (and the rest)");
    n = partition_choose_bounds(3, 10, bounds);
    ok(n == 3 && bounds[0] == 0 && bounds[1] == 1 && bounds[2] == 2,
       "fewer samples than partitions: one bound per sample, no empty partition");
    is_num(partition_choose_bounds(0, 10, bounds), 0, "no sample: one partition");
    is_num(partition_choose_bounds(500, 1, bounds), 0, "one partition: no bound");
    n = partition_choose_bounds(997, 50, bounds);
    bool ascending = n == 49;
    for (int i = 1; i < n; i++)
        ascending &= bounds[i] > bounds[i - 1] && bounds[i] - bounds[i - 1] >= 19 && bounds[i] - bounds[i - 1] <= 20;
    ok(ascending, "bounds ascend strictly and cut shares that differ by at most one sample");

    /* Skewed keys: ranks, not values, decide, so shares stay even whatever the key spread. */
    long keys[1000];
    for (int i = 0; i < 1000; i++)
        keys[i] = i < 900 ? i : 1000000L * i; /* 90% of keys bunched low, 10% spread far */
    n = partition_choose_bounds(1000, 10, bounds);
    int counts[10] = {0};
    for (int i = 0; i < 1000; i++) {
        int p = 0;
        while (p < n && keys[i] > keys[bounds[p]])
            p++;
        counts[p]++;
    }
    bool even = true;
    for (int p = 0; p < 10; p++)
        even &= counts[p] == 100;
    ok(even, "skewed keys still give partitions of equal size");

    is_num(partition_count(1000000, 250000), 4, "1M rows at 250k a partition: 4");
    is_num(partition_count(1000001, 250000), 5, "one row more: 5");
    is_num(partition_count(0, 250000), 1, "an empty table: 1");
    is_num(partition_count(1e12, 1000), FERRY_PARTITIONS_MAX, "capped");

    const char *values[3] = {"42", "a,b:c\n\"d\"", ""};
    size_t lengths[3] = {2, strlen(values[1]), 0};
    char *encoded = key_tuple_encode(values, lengths, 3);
    is_str(encoded, "2:429:a,b:c\n\"d\"0:", "a key tuple is length-prefixed text");
    char *decoded[3];
    ok(key_tuple_decode(encoded, 3, decoded) && strcmp(decoded[0], "42") == 0 &&
           strcmp(decoded[1], values[1]) == 0 && strcmp(decoded[2], "") == 0,
       "and decodes to the same values");
    for (int i = 0; i < 3; i++)
        free(decoded[i]);
    ok(!key_tuple_decode(encoded, 2, decoded), "decoding with the wrong column count fails");
    ok(!key_tuple_decode("5:abc", 1, decoded), "a truncated tuple fails");
    ok(!key_tuple_decode("x:abc", 1, decoded), "garbage fails");
    free(encoded);

    /* key_range_describe keeps within its buffer whatever the keys (it wrote past 160 bytes). */
    Column cols[FERRY_KEY_COLUMNS_MAX];
    TableShape shape = {.ncols = FERRY_KEY_COLUMNS_MAX, .cols = cols, .nkeys = FERRY_KEY_COLUMNS_MAX};
    const char *long_values[FERRY_KEY_COLUMNS_MAX];
    size_t long_lengths[FERRY_KEY_COLUMNS_MAX];
    char longtext[101];
    memset(longtext, 'x', 100);
    longtext[100] = '\0';
    for (int k = 0; k < FERRY_KEY_COLUMNS_MAX; k++) {
        cols[k] = (Column){.name = "k"};
        shape.key_col[k] = k;
        long_values[k] = longtext;
        long_lengths[k] = 100;
    }
    char *tuple = key_tuple_encode(long_values, long_lengths, FERRY_KEY_COLUMNS_MAX);
    struct {
        char out[160];
        char canary[64];
    } guarded;
    memset(guarded.canary, 'C', sizeof guarded.canary);
    key_range_describe(&shape, tuple, tuple, guarded.out, sizeof guarded.out);
    bool intact = true;
    for (size_t i = 0; i < sizeof guarded.canary; i++)
        intact &= guarded.canary[i] == 'C';
    ok(intact && strlen(guarded.out) == sizeof guarded.out - 1,
       "a range of 8 long text keys is cut to its 160-byte buffer, nothing written past it");
    char tiny[4];
    key_range_describe(&shape, NULL, tuple, tiny, sizeof tiny);
    is_str(tiny, "(-i", "a 4-byte buffer holds what fits, terminated");
    free(tuple);
}
