/*
 * tests/unit/test_objects.c — a manifest entry as JSON, and part sizes from the memory budget: a share of it, and never so small that the
 * largest batch the budget allows could need more parts than the store takes.
 */
#include <stdlib.h>

#include "ferry/limits.h"
#include "ferry/objects.h"
#include "tap.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* S3's figures (store_s3.c) and Azure's (store_azure.c). */
#define S3_LEAST (5 * MIB)
#define S3_MOST (5 * GIB)
#define S3_PARTS 10000u
#define AZ_LEAST (4 * MIB)
#define AZ_MOST (4000 * MIB)
#define AZ_PARTS 50000u

/* The largest object a batch of this budget can make fits in `parts` parts of `size`. */
static int fits(uint64_t size, uint64_t budget, unsigned parts)
{
    double largest = (double)budget / FERRY_BATCH_OVERHEAD * FERRY_ENCODING_EXPANSION;
    return (double)size * parts >= largest;
}

void test_objects(void)
{
    StrBuf manifest = {0};
    objects_manifest_entry(&manifest, "s3://b/a\"b\\c\x01", 7, true);
    objects_manifest_entry(&manifest, "s3://b/d", 0, false);
    is_str(manifest.text,
           "\n  {\"url\": \"s3://b/a\\\"b\\\\c\\u0001\", \"mandatory\": true, \"meta\": {\"content_length\": 7}},"
           "\n  {\"url\": \"s3://b/d\", \"mandatory\": true, \"meta\": {\"content_length\": 0}}",
           "a manifest entry escapes its URL as a JSON string; the next follows a comma");
    free(manifest.text);
    is_num(objects_part_size(0, 64 * MIB, S3_LEAST, S3_MOST, S3_PARTS), S3_LEAST,
           "auto: a 64 MiB budget gets S3's least part, 5 MiB");
    is_num(objects_part_size(0, 256 * MIB, S3_LEAST, S3_MOST, S3_PARTS), 16 * MIB,
           "auto: a 256 MiB budget gets parts of a sixteenth, 16 MiB");
    is_num(objects_part_size(0, 12 * GIB, S3_LEAST, S3_MOST, S3_PARTS), FERRY_PART_AUTO_MAX,
           "auto: a 12 GiB budget gets the largest auto part, 64 MiB");
    is_num(objects_part_size(8 * MIB, 1 * GIB, S3_LEAST, S3_MOST, S3_PARTS), 8 * MIB,
           "a configured part size is kept where it is large enough");
    is_num(objects_part_size(0, 64 * MIB, AZ_LEAST, AZ_MOST, AZ_PARTS), AZ_LEAST,
           "auto: a 64 MiB budget gets Azure blocks of 4 MiB");

    uint64_t grown = objects_part_size(8 * MIB, 200 * GIB, S3_LEAST, S3_MOST, S3_PARTS);
    ok(grown > 8 * MIB && grown % MIB == 0 && fits(grown, 200 * GIB, S3_PARTS),
       "a configured 8 MiB part is grown to whole MiB (%llu MiB) when a 200 GiB budget's batch could need more "
       "than 10,000 parts", (unsigned long long)(grown / MIB));
    ok(!fits(grown - MIB, 200 * GIB, S3_PARTS), "and grown no more than that needs");

    int all = 1;
    for (uint64_t budget = 4 * MIB; budget <= 4096 * GIB; budget *= 3) {
        uint64_t s3 = objects_part_size(0, budget, S3_LEAST, S3_MOST, S3_PARTS);
        uint64_t az = objects_part_size(0, budget, AZ_LEAST, AZ_MOST, AZ_PARTS);
        all &= fits(s3, budget, S3_PARTS) && s3 >= S3_LEAST && s3 <= S3_MOST;
        all &= fits(az, budget, AZ_PARTS) && az >= AZ_LEAST && az <= AZ_MOST;
    }
    ok(all, "from 4 MiB to 4 TiB of budget, every part size is within the store's bounds and fits the largest batch");
    is_num(objects_part_size(0, 100000 * GIB, S3_LEAST, S3_MOST, S3_PARTS), S3_MOST,
           "never above the store's largest part");
}
