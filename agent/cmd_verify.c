/*
 * agent/cmd_verify.c — `ferry verify`: per partition, the source's row count and key hash against the sink's.
 *
 * Design notes
 *  (1) Both sides are streamed: the source's keys through a cursor in bounded
 *      batches, the sink's rows through its digest hook; neither is held.
 *  (2) The key hash is the sink's own (key_hash), so a key is hashed exactly as
 *      the sink stores it, and the sum over rows ignores order.
 *  (3) verify takes the run lock: it compares a state that no run is changing.
 *  (4) A partition's key range is compared where it means the same keys in
 *      the sink as in the source (SinkOps.ranges_match); where the sink orders
 *      the key otherwise (BSON's NaN, infinity, binary by length, text under a
 *      collation that is not by bytes), the whole table is one comparison, so
 *      no mismatch is reported that is not a real difference.
 *  (5) A source failure a retry can pass (a kill, a lost connection) reads
 *      the range again on a new connection, within the run's retry policy.
 *  (6) A table read with on_duplicate_key = keep_last holds one row per key
 *      in the sink: the source's keys are read in order and each key is
 *      counted once. keep_all counts every row, as it was written.
 *  (7) Files of several generations (incremental runs) hold a version of a
 *      key per generation: the sink applies them as a reader does (the last
 *      version wins, a tombstone removes the key), a share of the keys at a
 *      time by hash (SinkPartition.buckets), and each share is compared
 *      with the source's keys of that hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/command.h"
#include "ferry/delta.h"
#include "ferry/keytuple.h"
#include "ferry/run.h"
#include "ferry/sql.h"

typedef struct PartList {
    int count, cap;
    struct Part {
        int64_t part;
        char *lo, *hi, *status;
    } *items;
} PartList;

static void collect_part(void *ctx, const PartitionRecord *r)
{
    PartList *list = ctx;
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 64;
        list->items = xrealloc(list->items, (size_t)list->cap * sizeof *list->items);
    }
    list->items[list->count++] = (struct Part){
        .part = r->part,
        .lo = r->lo ? xstrdup(r->lo) : NULL,
        .hi = r->hi ? xstrdup(r->hi) : NULL,
        .status = xstrdup(r->status),
    };
}

static void part_list_free(PartList *list)
{
    for (int i = 0; i < list->count; i++) {
        free(list->items[i].lo);
        free(list->items[i].hi);
        free(list->items[i].status);
    }
    free(list->items);
}

/* What source_digest sums, batch by batch. */
typedef struct DigestRead {
    Sink *sink;
    const SinkOps *ops;
    const TableShape *shape;
    TableShape keys_shape;    /* the batch holds the key columns alone */
    bool once;                /* (6) each key counted once */
    char *last_key;           /* (6) the previous batch's last key */
    const SinkPartition *part; /* (7) only the keys of its bucket, if it has one */
    SinkDigest *out;
} DigestRead;

static bool digest_keys(void *ctx, const RowBatch *batch, FerryError *err)
{
    (void)err;
    DigestRead *d = ctx;
    for (int r = 0; r < batch->nrows; r++) {
        if (d->once && (r > 0 ? key_rows_equal(batch, r - 1, batch, r, &d->keys_shape)
                              : key_row_is(batch, 0, &d->keys_shape, d->last_key)))
            continue;
        uint64_t hash = d->ops->key_hash(d->sink, d->shape, batch, r);
        if (!sink_partition_holds(d->part, hash))
            continue;
        d->out->key_sum += hash;
        d->out->rows++;
    }
    if (d->once && batch->nrows > 0) {
        free(d->last_key);
        d->last_key = key_tuple_from_batch(batch, batch->nrows - 1, &d->keys_shape);
    }
    return true;
}

/* Count the source's rows of a partition (its range, or its bucket) and sum the sink's hash of their keys. */
static bool source_digest(SourceConn *conn, Sink *sink, const SinkOps *ops, const TableConfig *tc,
                          const TableShape *shape, const SinkPartition *part, SinkDigest *out, FerryError *err)
{
    memset(out, 0, sizeof *out);
    const char *lo = part->lo, *hi = part->hi;
    DigestRead d = {.sink = sink, .ops = ops, .shape = shape, .keys_shape = {.nkeys = shape->nkeys},
                    .once = tc->settings.on_duplicate_key == DUPLICATES_KEEP_LAST, .part = part, .out = out};
    for (int k = 0; k < shape->nkeys; k++)
        d.keys_shape.key_col[k] = k;
    /* A range is read in key order, so the source walks the key's index; a whole table needs no order,
     * unless (6) each key is counted once. */
    bool ok = plan_read_keys(conn, tc, shape, lo, hi, d.once || lo != NULL || hi != NULL, digest_keys, &d, err);
    free(d.last_key);
    return ok;
}

/*
 * (5) source_digest again, on a new connection, while the source's failure
 * is one a retry can pass (a kill, a lost connection) and the run's retry
 * policy allows: a source that kills long reads is verified as it is copied.
 */
static bool source_digest_retried(SourceConn **conn, const FerryConfig *config, Sink *sink, const TableConfig *tc,
                                  const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                                  volatile sig_atomic_t *stop, FerryError *err)
{
    RetryPolicy policy = run_retry_policy(config);
    RetryState retry;
    retry_begin(&retry, &policy, (unsigned)getpid());
    for (;;) {
        if (*conn != NULL && source_digest(*conn, sink, config->sink, tc, shape, part, out, err))
            return true;
        if (*conn != NULL && (err->domain != FERRY_ERR_SOURCE || !err->retryable))
            return false;
        double pause;
        if (!retry_next(&retry, monotonic_seconds(), &pause))
            return false;
        log_warn("verify %s: %s; retry %d in %.1f s", tc->qualified, err->message, retry.attempts, pause);
        if (!retry_sleep(pause, stop))
            return false;
        source_close(*conn);
        *conn = NULL;
        if (!source_connect(&config->source, conn, err) && !err->retryable)
            return false;
    }
}

static int verify_command(const CommandArgs *args)
{
    const FerryConfig *config = args->config;
    const SinkOps *ops = config->sink;
    if (ops->digest == NULL || ops->key_hash == NULL) {
        fprintf(stderr, "ferry: the %s sink cannot be read back: verify has nothing to compare\n", ops->name);
        return FERRY_EXIT_FAILED;
    }
    struct stat st;
    if (stat(config->ferry.state, &st) != 0) {
        fprintf(stderr, "ferry: no state file at %s: nothing has run yet, nothing to verify\n",
                config->ferry.state);
        return FERRY_EXIT_FAILED;
    }
    FerryError err;
    int lock_fd = run_lock_state(config->ferry.state, &err);
    if (lock_fd < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return lock_fd == -1 ? FERRY_EXIT_LOCKED : FERRY_EXIT_STATE;
    }
    StateStore *state = NULL;
    SourceConn *conn = NULL;
    Sink *sink = NULL;
    int exit_code = FERRY_EXIT_OK;
    int checked = 0, bad = 0;
    if (!state_open(config->ferry.state, &state, &err) || !source_connect(&config->source, &conn, &err) ||
        !ops->open(config->sink_settings, &sink, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        exit_code = err.domain == FERRY_ERR_STATE    ? FERRY_EXIT_STATE
                    : err.domain == FERRY_ERR_CONFIG ? FERRY_EXIT_CONFIG
                                                     : FERRY_EXIT_RESUME;
        goto out;
    }
    printf("%-28s %6s  %-36s %12s %12s  %s\n", "table", "part", "key range", "source rows", "sink rows",
           "keys");
    for (int t = 0; t < config->ntables; t++) {
        const TableConfig *tc = &config->tables[t];
        PlannedTable planned;
        bool found;
        TableShape shape = {0};
        if (!state_table_find(state, tc->qualified, &planned, &found, &err)) {
            fprintf(stderr, "ferry: %s\n", err.message);
            exit_code = FERRY_EXIT_STATE;
            goto out;
        }
        if (!found) {
            printf("%-28s not planned yet: nothing to verify\n", tc->qualified);
            bad++;
            continue;
        }
        /* (7) Files of several generations are compared as a reader applying them sees them. */
        bool generations = planned.generation > 0 && (sink_flags(ops, config->sink_settings) & SINK_KEEPS_GENERATIONS);
        int64_t table_id = planned.id, generation = planned.generation, base = planned_view_base(&planned);
        uint32_t buckets = planned_view_buckets(&planned);
        bool block_ranges = planned.physical; /* its partitions are no key ranges (physical.h) */
        planned_table_clear(&planned);
        MarkKind kind;
        if (!plan_discover(conn, tc, &shape, &err) || !delta_kind(conn, config->path, tc, &shape, &kind, &err)) {
            printf("%-28s cannot be read: %s\n", tc->qualified, err.message);
            table_shape_free(&shape);
            bad++;
            continue;
        }
        PartList parts = {0};
        if (!state_partitions_each(state, table_id, collect_part, &parts, &err)) {
            fprintf(stderr, "ferry: %s\n", err.message);
            exit_code = FERRY_EXIT_STATE;
            table_shape_free(&shape);
            part_list_free(&parts);
            goto out;
        }
        /* (4) A sink that orders keys its own way is compared over the whole table. */
        bool whole = block_ranges || (ops->ranges_match != NULL && !ops->ranges_match(sink, &shape));
        int compared = generations ? (int)buckets : whole && parts.count > 0 ? 1 : parts.count;
        for (int i = 0; i < compared; i++) {
            SinkPartition sp = {.partition = -1};
            char part[24] = "all", range[160];
            snprintf(range, sizeof range, "the whole table (%d partitions)", parts.count);
            if (generations) {
                sp = (SinkPartition){.partition = -1, .generation = generation, .base = base, .buckets = buckets,
                                     .bucket = (uint32_t)i};
                snprintf(part, sizeof part, "%d/%u", i + 1, buckets);
                snprintf(range, sizeof range, "generations %lld-%lld, key share %d of %u", (long long)base,
                         (long long)generation, i + 1, buckets);
            } else if (!whole) {
                struct Part *p = &parts.items[i];
                sp = (SinkPartition){.partition = p->part, .lo = p->lo, .hi = p->hi};
                snprintf(part, sizeof part, "%lld", (long long)p->part);
                key_range_describe(&shape, p->lo, p->hi, range, sizeof range);
            }
            SinkDigest src, dst;
            if (!source_digest_retried(&conn, config, sink, tc, &shape, &sp, &src, args->stop, &err) ||
                !ops->digest(sink, &shape, &sp, &dst, &err)) {
                printf("%-28s %6s  %-36s  cannot compare: %s\n", tc->qualified, part, range, err.message);
                bad++;
                continue;
            }
            bool keys_ok = !dst.has_keys || src.key_sum == dst.key_sum;
            bool same = src.rows == dst.rows && keys_ok && !dst.malformed;
            printf("%-28s %6s  %-36s %12lld %12lld  %s%s\n", tc->qualified, part, range, (long long)src.rows,
                   (long long)dst.rows, !dst.has_keys ? "not stored" : keys_ok ? "same" : "DIFFER",
                   same ? "" : dst.malformed ? "  MISMATCH (unreadable rows)" : "  MISMATCH");
            checked++;
            bad += !same;
        }
        if (generations)
            printf("%-28s %6s  (its files hold generations %lld to %lld: each key at its last version, tombstones "
                   "applied, keys shared out by hash)\n", "", "", (long long)base, (long long)generation);
        else if (whole && block_ranges)
            printf("%-28s %6s  (read in physical order: its partitions are block ranges, so it is compared as "
                   "one)\n", "", "");
        else if (whole)
            printf("%-28s %6s  (the %s sink orders this key otherwise than the source: compared as one)\n",
                   "", "", ops->name);
        part_list_free(&parts);
        table_shape_free(&shape);
    }
    printf("\nverify: %d partition(s) compared, %d mismatch(es)\n", checked, bad);
    exit_code = bad ? FERRY_EXIT_FAILED : FERRY_EXIT_OK;
out:
    if (sink != NULL)
        ops->close(sink);
    source_close(conn);
    state_close(state);
    close(lock_fd);
    return exit_code;
}

const Command command_verify = {.name = "verify", .run = verify_command};
