/*
 * tests/unit/main.c — runs every unit test group and prints the TAP plan.
 */
#include "tap.h"

int tap_count, tap_failed;

int main(void)
{
    test_config();
    test_budget();
    test_partition();
    test_format();
    test_retry();
    test_pool();
    test_document();
    test_segment();
    test_mem();
    test_compress();
    test_objects();
    test_batch();
    test_copyload();
    test_delta();
    test_physical();
    test_unload();
    test_files();
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}
