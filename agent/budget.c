/*
 * agent/budget.c — how much memory ferry may use, and how many rows that makes a batch.
 *
 * Design notes
 *  (1) The budget is fraction × the smallest known of: MemAvailable, the
 *      cgroup's limit minus its usage (v2 memory.max/memory.current, or v1
 *      memory.limit_in_bytes/memory.usage_in_bytes), and memory_limit.
 *  (2) The fraction keeps the rest for what is not a batch: libpq's receive
 *      buffer (up to one row), the sink's bounded buffers, the binary itself.
 *      So peak RSS stays under the base as long as rows fit the budget.
 *  (3) Workers split the budget evenly; each batch arena may take its share
 *      divided by FERRY_BATCH_OVERHEAD, the rest being the row in flight in
 *      libpq and the sink's buffers.
 *  (5) One pool holds the batch share of the budget for all workers (plan.h,
 *      MemoryPool): each row is paid for before it is copied, each batch
 *      gives its bytes back once committed, and sink buffers are paid for
 *      when a sink is opened. Only a worker that holds nothing waits.
 *  (4) jemalloc's counters (stats.allocated, stats.resident) are the ground
 *      truth for what the process holds; ferry logs them after batches, and
 *      its decay settings (agent/main.c) hand freed pages back to the OS.
 */
#define _GNU_SOURCE
#include <jemalloc/jemalloc.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/plan.h"

/* A cgroup v1 "no limit" is a page-rounded LONG_MAX; anything past 2^60 is no limit. */
#define CGROUP_NO_LIMIT (1ull << 60)

bool budget_from(double fraction, uint64_t mem_available, uint64_t cgroup_room, uint64_t cap,
                 MemoryBudget *out, FerryError *err)
{
    memset(out, 0, sizeof *out);
    out->mem_available = mem_available;
    out->cgroup_room = cgroup_room;
    out->configured_cap = cap;
    out->fraction = fraction;
    const struct {
        uint64_t value;
        const char *name;
    } candidates[] = {{mem_available, "MemAvailable"}, {cgroup_room, "cgroup"}, {cap, "memory_limit"}};
    for (size_t i = 0; i < 3; i++) {
        if (candidates[i].value == 0)
            continue;
        if (out->base == 0 || candidates[i].value < out->base) {
            out->base = candidates[i].value;
            out->base_from = candidates[i].name;
        }
    }
    if (out->base == 0)
        return ferry_error(err, FERRY_ERR_SYSTEM, 0,
                           "cannot tell how much memory is available (no MemAvailable, no cgroup "
                           "limit): set memory_limit in [ferry]");
    out->total = (uint64_t)((double)out->base * fraction);
    if (out->total < FERRY_BUDGET_MIN) {
        char base[32], total[32];
        unsigned long long floor_mib = (unsigned long long)((double)FERRY_BUDGET_MIN / fraction / (1u << 20) + 0.999);
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "memory budget %s (%.2f of %s from %s) is below the minimum of 4 MiB: at "
                           "memory_fraction %.2f the smallest memory_limit is %lluMB (raise it or memory_fraction, "
                           "or free memory)",
                           format_size(out->total, total, sizeof total), fraction,
                           format_size(out->base, base, sizeof base), out->base_from, fraction, floor_mib);
    }
    return true;
}

static uint64_t read_mem_available(const char *root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/proc/meminfo", root);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long v;
        if (sscanf(line, "MemAvailable: %llu kB", &v) == 1) {
            kib = v;
            break;
        }
    }
    fclose(f);
    return kib * 1024;
}

/*
 * This process's cgroup, from /proc/self/cgroup: the v2 group (the "0::"
 * line) and the v1 group of `v1_controller`; empty when there is none.
 */
static void cgroup_groups(const char *root, const char *v1_controller, char *v1, char *v2, size_t cap)
{
    char path[1024], line[1024];
    v1[0] = v2[0] = '\0';
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char wanted[64];
    snprintf(wanted, sizeof wanted, ",%s,", v1_controller);
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *colon1 = strchr(line, ':');
        char *colon2 = colon1 ? strchr(colon1 + 1, ':') : NULL;
        if (colon2 == NULL)
            continue;
        *colon2 = '\0';
        const char *controllers = colon1 + 1, *group = colon2 + 1;
        if (strncmp(line, "0", 1) == 0 && *controllers == '\0') {
            snprintf(v2, cap, "%s", group);
        } else {
            /* v1: the list may hold several controllers, the one wanted among them. */
            char list[256];
            snprintf(list, sizeof list, ",%s,", controllers);
            if (strstr(list, wanted) != NULL)
                snprintf(v1, cap, "%s", group);
        }
    }
    fclose(f);
}

/*
 * Read a cgroup file of the group, or of the mount's root: inside a cgroup
 * namespace the group named in /proc/self/cgroup is the mount's root.
 */
static bool cgroup_read(const char *root, const char *mount, const char *group, const char *file,
                        char *buf, size_t cap)
{
    const char *groups[2] = {group, ""};
    for (int g = 0; g < 2; g++) {
        char path[1200];
        snprintf(path, sizeof path, "%s%s%s/%s", root, mount, groups[g], file);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        bool ok = fgets(buf, (int)cap, f) != NULL;
        fclose(f);
        if (ok)
            return true;
    }
    return false;
}

/* A number, or "max" (UINT64_MAX). */
static bool parse_u64(const char *text, uint64_t *out)
{
    if (strncmp(text, "max", 3) == 0) {
        *out = UINT64_MAX;
        return true;
    }
    char *end;
    *out = strtoull(text, &end, 10);
    return end != text;
}

/* Room left in this process's memory cgroup: limit - usage, or 0 for no limit. */
static uint64_t read_cgroup_room(const char *root)
{
    char v1[512], v2[512], buf[64];
    cgroup_groups(root, "memory", v1, v2, sizeof v1);
    const struct {
        const char *group;
        const char *mount;
        const char *limit;
        const char *usage;
    } kinds[] = {
        {v1, "/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"},
        {v2, "/sys/fs/cgroup", "memory.max", "memory.current"},
    };
    for (size_t k = 0; k < 2; k++) {
        uint64_t limit, usage = 0;
        if (kinds[k].group[0] == '\0' ||
            !cgroup_read(root, kinds[k].mount, kinds[k].group, kinds[k].limit, buf, sizeof buf) ||
            !parse_u64(buf, &limit) || limit >= CGROUP_NO_LIMIT)
            continue; /* this kind sets no limit; the other kind may */
        if (cgroup_read(root, kinds[k].mount, kinds[k].group, kinds[k].usage, buf, sizeof buf))
            parse_u64(buf, &usage);
        return limit > usage ? limit - usage : 1;
    }
    return 0;
}

int budget_cpu_count(const char *root)
{
    int cpus = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        cpus = CPU_COUNT(&set);
    /* A CPU quota: v2 cpu.max "quota period" ("max" for none), v1 cfs_quota_us (-1 for none). */
    char v1[512], v2[512], buf[64];
    cgroup_groups(root, "cpu", v1, v2, sizeof v1);
    double quota = 0, period = 0;
    if (v2[0] != '\0' && cgroup_read(root, "/sys/fs/cgroup", v2, "cpu.max", buf, sizeof buf) &&
        strncmp(buf, "max", 3) != 0) {
        if (sscanf(buf, "%lf %lf", &quota, &period) != 2)
            quota = 0;
    } else if (v1[0] != '\0' &&
               cgroup_read(root, "/sys/fs/cgroup/cpu", v1, "cpu.cfs_quota_us", buf, sizeof buf)) {
        quota = atof(buf);
        if (cgroup_read(root, "/sys/fs/cgroup/cpu", v1, "cpu.cfs_period_us", buf, sizeof buf))
            period = atof(buf);
    }
    if (quota > 0 && period > 0) {
        int allowed = (int)ceil(quota / period);
        if (allowed >= 1 && allowed < cpus)
            cpus = allowed;
    }
    return cpus;
}

bool budget_measure(const char *root, double fraction, uint64_t cap, MemoryBudget *out,
                    FerryError *err)
{
    return budget_from(fraction, read_mem_available(root), read_cgroup_room(root), cap, out, err);
}

uint64_t budget_batch_bytes(const MemoryBudget *budget, int workers, uint64_t sink_bytes)
{
    uint64_t n = (uint64_t)(workers > 0 ? workers : 1);
    uint64_t sinks = sink_bytes * n;
    uint64_t left = budget->total > sinks ? budget->total - sinks : 0;
    return (uint64_t)((double)(left / n) / FERRY_BATCH_OVERHEAD);
}

bool budget_allocator_stats(uint64_t *allocated, uint64_t *resident)
{
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    if (mallctl("epoch", &epoch, &len, &epoch, len) != 0)
        return false;
    size_t value, vlen = sizeof value;
    if (mallctl("stats.allocated", &value, &vlen, NULL, 0) != 0)
        return false;
    *allocated = value;
    vlen = sizeof value;
    if (mallctl("stats.resident", &value, &vlen, NULL, 0) != 0)
        return false;
    *resident = value;
    return true;
}

void pool_init(MemoryPool *pool, uint64_t total)
{
    memset(pool, 0, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    pool->total = total;
}

void pool_destroy(MemoryPool *pool)
{
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
}

bool pool_try_take(MemoryPool *pool, uint64_t bytes)
{
    pthread_mutex_lock(&pool->lock);
    bool fits = pool->used + bytes <= pool->total;
    if (fits)
        pool->used += bytes;
    pthread_mutex_unlock(&pool->lock);
    return fits;
}

void pool_take(MemoryPool *pool, uint64_t bytes)
{
    pthread_mutex_lock(&pool->lock);
    bool waited = false;
    /* Wait only for bytes that will come back: others' batches, not fixed buffers. */
    while (pool->used + bytes > pool->total && pool->used > pool->fixed) {
        waited = true;
        pthread_cond_wait(&pool->freed, &pool->lock);
    }
    pool->waits += waited;
    pool->used += bytes;
    pthread_mutex_unlock(&pool->lock);
}

void pool_give(MemoryPool *pool, uint64_t bytes)
{
    if (bytes == 0)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->used = bytes > pool->used ? 0 : pool->used - bytes;
    pthread_cond_broadcast(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

static bool payer_try_take(void *pool, uint64_t bytes) { return pool_try_take(pool, bytes); }
static void payer_take(void *pool, uint64_t bytes) { pool_take(pool, bytes); }
static void payer_give(void *pool, uint64_t bytes) { pool_give(pool, bytes); }

BatchPayer pool_payer(MemoryPool *pool)
{
    return (BatchPayer){.try_take = payer_try_take, .take = payer_take, .give = payer_give, .ctx = pool};
}

void pool_take_fixed(MemoryPool *pool, uint64_t bytes)
{
    pthread_mutex_lock(&pool->lock);
    pool->used += bytes;
    pool->fixed += bytes;
    pthread_mutex_unlock(&pool->lock);
}

void pool_give_fixed(MemoryPool *pool, uint64_t bytes)
{
    pthread_mutex_lock(&pool->lock);
    pool->fixed -= bytes;
    pool->used -= bytes;
    pthread_cond_broadcast(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

void batch_sizer_init(BatchSizer *sizer, uint64_t batch_bytes, double sampled_width, int ncols)
{
    sizer->batch_bytes = batch_bytes;
    double width = sampled_width > 0 ? sampled_width : 100.0;
    sizer->row_bytes = width + (double)ncols * FERRY_VALUE_OVERHEAD;
    sizer->max_rows = 0;
}

long batch_sizer_rows(const BatchSizer *sizer)
{
    double rows = (double)sizer->batch_bytes / (sizer->row_bytes > 1 ? sizer->row_bytes : 1);
    if (rows < FERRY_BATCH_ROWS_MIN)
        return FERRY_BATCH_ROWS_MIN;
    if (rows > FERRY_BATCH_ROWS_MAX)
        rows = FERRY_BATCH_ROWS_MAX;
    if (sizer->max_rows > 0 && rows > (double)sizer->max_rows)
        rows = (double)sizer->max_rows;
    return (long)rows;
}

void batch_sizer_observe(BatchSizer *sizer, long rows, uint64_t bytes)
{
    if (rows <= 0)
        return;
    double observed = (double)bytes / (double)rows;
    if (observed > sizer->row_bytes)
        sizer->row_bytes = observed; /* wider: believe it at once */
    else
        sizer->row_bytes = 0.75 * sizer->row_bytes + 0.25 * observed; /* narrower: ease in */
}
