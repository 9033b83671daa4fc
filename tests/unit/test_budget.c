/*
 * tests/unit/test_budget.c — memory budget arithmetic, /proc and cgroup reading (memory and CPUs), batch sizing.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "ferry/plan.h"
#include "tap.h"

#define MiB (1024ull * 1024ull)

static void write_file(const char *root, const char *rel, const char *text)
{
    char path[1024], dir[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

void test_budget(void)
{
    MemoryBudget b;
    FerryError err;
    ok(budget_from(0.5, 8000 * MiB, 0, 64 * MiB, &b, &err), "budget from three sources");
    is_num(b.base, 64 * MiB, "the configured cap is the smallest");
    is_str(b.base_from, "memory_limit", "and is named as the base");
    is_num(b.total, 32 * MiB, "total = fraction x base");
    ok(budget_from(0.25, 1000 * MiB, 400 * MiB, 0, &b, &err) && b.base == 400 * MiB &&
           strcmp(b.base_from, "cgroup") == 0 && b.total == 100 * MiB,
       "the cgroup room wins over MemAvailable when smaller");
    ok(budget_from(0.5, 300 * MiB, 0, 0, &b, &err) && b.total == 150 * MiB, "MemAvailable alone");
    ok(!budget_from(0.5, 0, 0, 0, &b, &err), "no known memory at all is refused");
    contains(err.message, "set memory_limit", "and the message says what to do");
    ok(!budget_from(0.1, 8000 * MiB, 0, 16 * MiB, &b, &err), "a budget under 4 MiB is refused");
    contains(err.message, "below the minimum of 4 MiB", "with the reason");
    ok(budget_from(0.5, 0, 0, 64 * MiB, &b, &err), "64 MiB cap");
    is_num(budget_batch_bytes(&b, 2, 0), 8 * MiB, "two workers: each batch arena gets share / overhead");
    is_num(budget_batch_bytes(&b, 2, 6 * MiB), 5 * MiB,
           "two workers with 6 MiB of sink buffers each: the arenas share what the buffers leave");

    /* A fake /proc and /sys: cgroup v2 with a limit. */
    char root[] = "/tmp/ferry-unit-XXXXXX";
    ok(mkdtemp(root) != NULL, "temporary root");
    write_file(root, "proc/meminfo", "MemTotal: 16000000 kB\nMemFree: 1000 kB\nMemAvailable: 2097152 kB\n");
    write_file(root, "proc/self/cgroup", "0::/ferry.slice\n");
    write_file(root, "sys/fs/cgroup/ferry.slice/memory.max", "536870912\n");
    write_file(root, "sys/fs/cgroup/ferry.slice/memory.current", "134217728\n");
    ok(budget_measure(root, 0.5, 0, &b, &err), "measure a v2 machine");
    is_num(b.mem_available, 2048 * MiB, "MemAvailable read in kB");
    is_num(b.cgroup_room, 384 * MiB, "v2: memory.max - memory.current");
    is_num(b.total, 192 * MiB, "the budget is half of the cgroup room");

    write_file(root, "sys/fs/cgroup/ferry.slice/memory.max", "max\n");
    ok(budget_measure(root, 0.5, 0, &b, &err) && b.cgroup_room == 0 && b.base == 2048 * MiB,
       "v2 'max' is no limit: MemAvailable decides");

    /* cgroup v1, group path not mounted (a namespace): the mount's root is read. */
    write_file(root, "proc/self/cgroup", "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n");
    write_file(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "268435456\n");
    write_file(root, "sys/fs/cgroup/memory/memory.usage_in_bytes", "67108864\n");
    ok(budget_measure(root, 0.5, 0, &b, &err) && b.cgroup_room == 192 * MiB,
       "v1: limit_in_bytes - usage_in_bytes, from the mount's root");
    write_file(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    ok(budget_measure(root, 0.5, 0, &b, &err) && b.cgroup_room == 0, "v1's huge 'unlimited' is no limit");

    /* CPUs: the affinity mask, lowered by a cgroup quota rounded up. */
    cpu_set_t set;
    int affinity = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    write_file(root, "proc/self/cgroup", "0::/ferry.slice\n");
    write_file(root, "sys/fs/cgroup/ferry.slice/cpu.max", "max 100000\n");
    is_num(budget_cpu_count(root), affinity, "v2 cpu.max 'max': every CPU of the affinity mask");
    write_file(root, "sys/fs/cgroup/ferry.slice/cpu.max", "50000 100000\n");
    is_num(budget_cpu_count(root), 1, "v2 cpu.max of half a CPU: one worker's worth");
    write_file(root, "sys/fs/cgroup/ferry.slice/cpu.max", "6400000 100000\n");
    is_num(budget_cpu_count(root), affinity, "a quota above the affinity mask does not raise it");
    write_file(root, "proc/self/cgroup", "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n");
    write_file(root, "sys/fs/cgroup/cpu/x/cpu.cfs_quota_us", "100000\n");
    write_file(root, "sys/fs/cgroup/cpu/x/cpu.cfs_period_us", "100000\n");
    is_num(budget_cpu_count(root), 1, "v1 cfs_quota_us / cfs_period_us");
    write_file(root, "sys/fs/cgroup/cpu/x/cpu.cfs_quota_us", "-1\n");
    is_num(budget_cpu_count(root), affinity, "v1 quota -1 is no limit");

    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ok(system(cmd) == 0, "cleanup");

    /* Batch sizing. */
    BatchSizer s;
    batch_sizer_init(&s, 16 * MiB, 184, 4); /* 184 + 4 * 16 = 248 bytes a row */
    is_num(batch_sizer_rows(&s), (long)(16 * MiB / 248), "rows = batch bytes / (width + value overhead)");
    batch_sizer_observe(&s, 10, 10 * 4 * MiB); /* a stretch of 4 MiB rows */
    is_num(batch_sizer_rows(&s), 4, "a wider batch shrinks the next FETCH at once");
    batch_sizer_observe(&s, 1000, 1000 * 248);
    ok(batch_sizer_rows(&s) > 4 && batch_sizer_rows(&s) < 100, "a narrower batch grows it gently");
    batch_sizer_init(&s, 16 * MiB, 10 * MiB * 1.0, 1);
    is_num(batch_sizer_rows(&s), FERRY_BATCH_ROWS_MIN, "never below one row");
    batch_sizer_init(&s, 1024 * MiB, 1, 1);
    is_num(batch_sizer_rows(&s), FERRY_BATCH_ROWS_MAX, "never above the row ceiling");
}

#include "ferry/retry.h"

void test_retry(void)
{
    RetryPolicy policy = {.max_attempts = 5, .base_s = 0.5, .cap_s = 4.0, .max_total_s = 1000};
    RetryState state;
    retry_begin(&state, &policy, 42);
    double pause, previous = policy.base_s, total = 0;
    bool bounded = true;
    int granted = 0;
    while (retry_next(&state, 100.0 + total, &pause)) {
        bounded &= pause >= policy.base_s && pause <= policy.cap_s && pause <= previous * 3.0 + 1e-9;
        previous = pause;
        total += pause;
        granted++;
    }
    is_num(granted, 5, "retries stop after max_attempts");
    ok(bounded, "each pause lies between base and min(cap, 3 x the previous pause)");

    RetryState a, b;
    retry_begin(&a, &policy, 1);
    retry_begin(&b, &policy, 2);
    double pa, pb;
    int differ = 0;
    for (int i = 0; i < 5; i++) {
        retry_next(&a, 0, &pa);
        retry_next(&b, 0, &pb);
        differ += pa != pb;
    }
    ok(differ >= 4, "two workers with other seeds do not retry in lockstep (jitter)");

    RetryPolicy quick = {.max_attempts = 100, .base_s = 1, .cap_s = 10, .max_total_s = 5};
    retry_begin(&state, &quick, 7);
    ok(retry_next(&state, 0.0, &pause), "the first retry is granted");
    ok(!retry_next(&state, 4.5, &pause) || 4.5 + pause <= 5.0, "no pause may end past max_total_s");
    ok(!retry_next(&state, 6.0, &pause), "past max_total_s nothing more is granted");

    RetryPolicy none = {.max_attempts = 0, .base_s = 1, .cap_s = 1, .max_total_s = 100};
    retry_begin(&state, &none, 1);
    ok(!retry_next(&state, 0, &pause), "retry_attempts = 0: no retry at all");
}

static void *give_later(void *arg)
{
    MemoryPool *pool = arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pool_give(pool, 60);
    return NULL;
}

void test_pool(void)
{
    MemoryPool pool;
    pool_init(&pool, 100);
    pool_take_fixed(&pool, 100);
    pool_take(&pool, 10); /* only fixed buffers are held: waiting would never end */
    ok(pool.used == 110, "a pool filled by fixed buffers lets a first row through instead of deadlocking");
    pool_give(&pool, 10);
    pool_give_fixed(&pool, 100);
    ok(pool.used == 0 && pool.fixed == 0, "everything given back");

    ok(pool_try_take(&pool, 60), "a row that fits is taken");
    ok(!pool_try_take(&pool, 60), "a row that does not fit is refused: the batch ends");
    pthread_t t;
    pthread_create(&t, NULL, give_later, &pool);
    pool_take(&pool, 60); /* waits for the other batch to be given back */
    pthread_join(t, NULL);
    ok(pool.used == 60 && pool.waits == 1, "an empty batch waits for another worker's bytes, then takes them");
    pool_give(&pool, 60);
    pool_take(&pool, 500);
    ok(pool.used == 500, "a row larger than the whole pool goes through alone");
    pool_give(&pool, 500);
    pool_destroy(&pool);
}
