/*
 * agent/reconcile.c — deletes = reconcile: remove from the sink the keys the source no longer has.
 *
 * Design notes
 *  (1) A DELETE leaves no row for a watermark to find, so the keys
 *      themselves are compared: the table is cut into key ranges at sampled
 *      keys (plan_split_range), and per range the source's count and key
 *      hash are set against the sink's (what verify compares). Only a range
 *      that differs costs more.
 *  (2) In such a range the source's keys are held as their hashes alone
 *      (8 bytes a key, sorted), and the sink walks its own keys of the range
 *      and removes each whose hash the source lacks (SinkOps.prune). Memory
 *      is the range's keys times 8 bytes — ranges are cut to hold at most
 *      RECONCILE_RANGE_ROWS — never the keys' text, and no key order has to
 *      agree between source and sink: the sink walks its keys in its own.
 *      A live key's hash is always among the source's, so no live key is
 *      ever removed; a deleted key whose hash equals a live key's (one in
 *      2^64) would stay.
 *  (3) Keys the source gained since the last run are the sink's to gain by
 *      the next generation, not this: only what the sink holds beyond the
 *      source is removed. Removing is idempotent, so a reconcile killed half
 *      way is simply done again by the next run.
 *  (4) Files cannot remove a key, and hold a version of it per generation:
 *      there the keys are shared out by hash into buckets of about
 *      FERRY_BUCKET_KEYS (a file has no key order to cut at), and per bucket
 *      the sink applies its generations as a reader would and writes a
 *      tombstone of each key it holds that the source lacks (sink.h). Its
 *      own comparison is that pass, so no digest is asked first. The
 *      tombstones make a generation of their own, after the one the sink
 *      holds and before the next: a reader applying generations in order
 *      then needs no rule for a key deleted and written again in one
 *      generation. The run records it (cmd_run.c) once every bucket is done;
 *      a reconcile killed before that is done again, over what its first
 *      attempt wrote (removed first).
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/delta.h"
#include "ferry/plan.h"

#define RECONCILE_RANGE_ROWS 1000000 /* keys one range's hashes hold at most: 8 MB */

typedef struct Hashes {
    uint64_t *items;
    size_t count, cap;
    uint64_t sum;
} Hashes;

static int hash_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* What source_hashes collects, batch by batch. */
typedef struct HashRead {
    const SinkOps *ops;
    Sink *sink;
    const TableShape *shape;
    const SinkPartition *part; /* only the keys it holds (a bucket) */
    Hashes *out;
} HashRead;

static bool hash_keys(void *ctx, const RowBatch *batch, FerryError *err)
{
    (void)err;
    HashRead *h = ctx;
    Hashes *out = h->out;
    for (int r = 0; r < batch->nrows; r++) {
        if (out->count == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 65536;
            out->items = xrealloc(out->items, out->cap * sizeof *out->items);
        }
        uint64_t hash = h->ops->key_hash(h->sink, h->shape, batch, r);
        if (!sink_partition_holds(h->part, hash))
            continue;
        out->items[out->count++] = hash;
        out->sum += hash;
    }
    return true;
}

/* (2) The hashes of the source's keys of the partition (its range, or its bucket), as the sink hashes them. */
static bool source_hashes(SourceConn *conn, const SinkOps *ops, Sink *sink, const TableConfig *table,
                          const TableShape *shape, const SinkPartition *part, Hashes *out, FerryError *err)
{
    out->count = 0;
    out->sum = 0;
    HashRead h = {.ops = ops, .sink = sink, .shape = shape, .part = part, .out = out};
    return plan_read_keys(conn, table, shape, part->lo, part->hi, false, hash_keys, &h, err);
}

/* (4) A sink that keeps generations: a bucket of keys at a time, its tombstones a generation of their own. */
static bool reconcile_generations(SourceConn *conn, const SinkOps *ops, Sink *sink, const TableConfig *table,
                                  const TableShape *shape, const PlannedTable *planned, ReconcileResult *out,
                                  FerryError *err)
{
    uint32_t buckets = planned_view_buckets(planned);
    Hashes hashes = {0};
    bool ok = true;
    for (uint32_t b = 0; ok && b < buckets; b++) {
        SinkPartition part = {.partition = -1, .generation = planned->generation, .base = planned_view_base(planned),
                              .buckets = buckets, .bucket = b};
        int64_t removed = 0;
        ok = source_hashes(conn, ops, sink, table, shape, &part, &hashes, err);
        if (ok) {
            qsort(hashes.items, hashes.count, sizeof *hashes.items, hash_order);
            ok = ops->prune(sink, shape, &part, hashes.items, hashes.count, &removed, err);
        }
        out->ranges++;
        out->differed += removed > 0;
        out->removed += removed;
    }
    free(hashes.items);
    if (ok && out->removed > 0)
        out->generation = planned->generation + 1;
    return ok;
}

bool reconcile_table(SourceConn *conn, const SinkOps *ops, Sink *sink, const TableConfig *table,
                     const TableShape *shape, const PlannedTable *planned, unsigned sink_flags,
                     ReconcileResult *out, FerryError *err)
{
    memset(out, 0, sizeof *out);
    if (ops->prune == NULL || ops->digest == NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "table %s: deletes = reconcile: the %s sink cannot remove keys",
                           table->qualified, ops->name);
    if (ops->ranges_match != NULL && !ops->ranges_match(sink, shape))
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "table %s: deletes = reconcile: the %s sink orders this key otherwise than the source, "
                           "so its key ranges cannot be compared",
                           table->qualified, ops->name);
    if (sink_flags & SINK_KEEPS_GENERATIONS) {
        bool ok = reconcile_generations(conn, ops, sink, table, shape, planned, out, err);
        if (!ok)
            ferry_error_prefix(err, "table %s: reconciling deletes", table->qualified);
        return ok;
    }
    int range_rows = table->settings.partition_rows < RECONCILE_RANGE_ROWS ? table->settings.partition_rows
                                                                            : RECONCILE_RANGE_ROWS;
    int pieces = (int)(planned->est_rows / (range_rows > 0 ? range_rows : 1)) + 1;
    char **bounds = NULL;
    int nbounds = 0;
    double sampled = 0;
    if (pieces > 1 && !plan_split_range(conn, table, shape, NULL, NULL, NULL, pieces, &bounds, &nbounds, &sampled,
                                        err))
        return false;
    Hashes hashes = {0};
    bool ok = true;
    for (int i = 0; ok && i <= nbounds; i++) {
        SinkPartition part = {.partition = i, .lo = i > 0 ? bounds[i - 1] : NULL, .hi = i < nbounds ? bounds[i] : NULL};
        SinkDigest held;
        ok = source_hashes(conn, ops, sink, table, shape, &part, &hashes, err) &&
             ops->digest(sink, shape, &part, &held, err);
        out->ranges++;
        if (!ok || (held.rows == (int64_t)hashes.count && held.key_sum == hashes.sum))
            continue;
        out->differed++;
        int64_t removed = 0;
        qsort(hashes.items, hashes.count, sizeof *hashes.items, hash_order);
        ok = ops->prune(sink, shape, &part, hashes.items, hashes.count, &removed, err);
        out->removed += removed;
    }
    free(hashes.items);
    for (int i = 0; i < nbounds; i++)
        free(bounds[i]);
    free(bounds);
    if (!ok)
        ferry_error_prefix(err, "table %s: reconciling deletes", table->qualified);
    return ok;
}
