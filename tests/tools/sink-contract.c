/*
 * tests/tools/sink-contract.c — the sink contract (include/ferry/sink.h), checked for every sink in the table.
 *
 *   sink-contract DIR     for each sink of the table, DIR/<sink>.ini configures it ([sink] alone);
 *                         a sink without one fails, so a new sink cannot go untested
 *
 * Drives each sink through its hooks as a worker does, and reads it back with
 * its own digest: a replayed segment replaces what it wrote, an aborted or
 * uncommitted segment is invisible, prepare_table removes an earlier plan's
 * output, digest agrees with the keys written, and a bad row is stored
 * exactly, set aside and counted, or refused with the table and key named.
 * TAP on standard output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/config.h"
#include "ferry/sink.h"

static int tests, failed;

static void check(bool cond, const char *sink, const char *what, const char *detail)
{
    tests++;
    failed += !cond;
    printf("%sok %d - %s: %s\n", cond ? "" : "not ", tests, sink, what);
    if (!cond && detail != NULL && *detail != '\0')
        printf("#   %s\n", detail);
}

/* Rows id = first..last of (id bigint, v text, n numeric); `bad_id` gets a numeric no sink type may hold. */
static void fill(RowBatch *batch, long first, long last, long bad_id)
{
    batch_reset(batch, 3);
    for (long id = first; id <= last; id++) {
        char key[32], text[64];
        snprintf(key, sizeof key, "%ld", id);
        snprintf(text, sizeof text, "value %ld, \"quoted\"\n", id);
        const char *n = id == bad_id ? "1234567890123456789012345678901234567890.123456789012345678901234567890"
                                     : "12.50";
        batch_add_value(batch, key, strlen(key), false);
        batch_add_value(batch, text, strlen(text), false);
        batch_add_value(batch, n, strlen(n), false);
        batch_end_row(batch);
    }
}

/* The sum of the sink's key hashes of ids first..last, as verify sums the source's keys. */
static uint64_t key_sum(const SinkOps *ops, Sink *sink, const TableShape *shape, long first, long last)
{
    RowBatch keys;
    batch_init(&keys, 1);
    uint64_t sum = 0;
    for (long id = first; id <= last; id++) {
        char key[32];
        snprintf(key, sizeof key, "%ld", id);
        batch_reset(&keys, 1);
        batch_add_value(&keys, key, strlen(key), false);
        batch_end_row(&keys);
        sum += ops->key_hash(sink, shape, &keys, 0);
    }
    batch_free(&keys);
    return sum;
}

static bool segment_of(const SinkOps *ops, Sink *sink, const TableShape *shape, int64_t generation, int64_t part,
                       int64_t seq, const RowBatch *batch, FerryError *err)
{
    SinkSegment s = {.shape = shape, .partition = part, .sequence = seq, .generation = generation};
    if (ops->begin(sink, &s, err) && ops->write(sink, batch, err) && ops->commit(sink, err))
        return true;
    ops->abort(sink);
    return false;
}

static bool segment(const SinkOps *ops, Sink *sink, const TableShape *shape, int64_t part, int64_t seq,
                    const RowBatch *batch, FerryError *err)
{
    return segment_of(ops, sink, shape, 0, part, seq, batch, err);
}

static int hash_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Rows and key sum the sink holds for one partition of one generation. */
static bool digest_of(const SinkOps *ops, Sink *sink, const TableShape *shape, int64_t generation, SinkDigest *d,
                      FerryError *err)
{
    SinkPartition p = {.partition = 0, .generation = generation};
    return ops->digest(sink, shape, &p, d, err);
}

/*
 * An incremental run's generation (delta.h) over partition 0: ids 1..50 again. A sink that
 * upserts by key holds each key once still; a sink that keeps generations holds them beside
 * generation 0, which is untouched; either way a replay of the segment replaces itself.
 */
static void generations(const SinkOps *ops, Sink *sink, const TableShape *shape, unsigned flags, RowBatch *batch)
{
    FerryError err = {0};
    SinkDigest before, after, g1;
    bool read = digest_of(ops, sink, shape, 0, &before, &err);
    fill(batch, 1, 50, 0);
    bool written = read && segment_of(ops, sink, shape, 1, 0, 0, batch, &err);
    if (ops->recorded == NULL) /* a sink that records its segments would refuse the replay (above) */
        written = written && segment_of(ops, sink, shape, 1, 0, 0, batch, &err);
    check(written, ops->name, "commits a segment of generation 1 (and, unrecorded, its replay)", err.message);
    if (!written)
        return;
    char detail[FERRY_ERROR_MAX + 96];
    if (flags & SINK_UPSERTS_BY_KEY) {
        read = digest_of(ops, sink, shape, 0, &after, &err);
        snprintf(detail, sizeof detail, "rows %lld, then %lld", (long long)before.rows, (long long)after.rows);
        check(read && after.rows == before.rows && after.key_sum == before.key_sum, ops->name,
              "generation 1's rows replace their keys' rows: every key once", detail);
    } else if (flags & SINK_KEEPS_GENERATIONS) {
        read = digest_of(ops, sink, shape, 0, &after, &err) && digest_of(ops, sink, shape, 1, &g1, &err);
        snprintf(detail, sizeof detail, "generation 0: rows %lld, then %lld; generation 1: %lld rows",
                 (long long)before.rows, (long long)after.rows, (long long)g1.rows);
        check(read && after.rows == before.rows && after.key_sum == before.key_sum && g1.rows == 50 &&
                  g1.key_sum == key_sum(ops, sink, shape, 1, 50),
              ops->name, "generation 1 is kept beside generation 0, which it leaves as it was", detail);
        /* A generation that holds every row (run --full) supersedes those before it. */
        bool finished = sink_finish_table(ops, sink, shape, 1, 1, &err) && sink_finish_table(ops, sink, shape, 1, 1, &err);
        read = finished && digest_of(ops, sink, shape, 0, &after, &err) && digest_of(ops, sink, shape, 1, &g1, &err);
        snprintf(detail, sizeof detail, "%s; generation 0: %lld rows, generation 1: %lld", finished ? "finished" : err.message,
                 (long long)after.rows, (long long)g1.rows);
        check(read && after.rows == 0 && g1.rows == 50, ops->name,
              "finishing generation 1 as the base (twice) removes generation 0 and keeps generation 1", detail);
    }
    if (ops->recorded != NULL) {
        SinkSegment s = {.shape = shape, .partition = 0, .sequence = 0, .generation = 1};
        SinkRecord r = {0};
        bool found = false;
        check(ops->recorded(sink, &s, &r, &found, &err) && found && r.rows == 50, ops->name,
              "records the segment of generation 1 apart from generation 0's", err.message);
        free(r.last_key);
    }
}

/* The sink holds exactly ids first..last for partition `part` (first > last: nothing). */
static void expect(const SinkOps *ops, Sink *sink, const TableShape *shape, int64_t part, long first, long last,
                   const char *what)
{
    SinkDigest d;
    FerryError err = {0};
    SinkPartition p = {.partition = part};
    char detail[FERRY_ERROR_MAX + 64];
    bool read = ops->digest(sink, shape, &p, &d, &err);
    long rows = first <= last ? last - first + 1 : 0;
    uint64_t want = first <= last ? key_sum(ops, sink, shape, first, last) : 0;
    snprintf(detail, sizeof detail, "%s; rows %lld (want %ld), keys %s, malformed %d", read ? "read" : err.message,
             (long long)d.rows, rows, d.key_sum == want ? "same" : "differ", d.malformed);
    check(read && d.rows == rows && (!d.has_keys || d.key_sum == want) && !d.malformed, ops->name, what, detail);
}

/* The hashes of ids 1..n, sorted: the source's live keys as reconcile hands them to prune. */
static void live_hashes(const SinkOps *ops, Sink *sink, const TableShape *shape, long n, uint64_t *live)
{
    RowBatch keys;
    batch_init(&keys, 1);
    for (long id = 1; id <= n; id++) {
        char text[24];
        int len = snprintf(text, sizeof text, "%ld", id);
        batch_reset(&keys, 1);
        batch_add_value(&keys, text, (size_t)len, false);
        batch_end_row(&keys);
        live[id - 1] = ops->key_hash(sink, shape, &keys, 0);
    }
    batch_free(&keys);
    qsort(live, (size_t)n, sizeof live[0], hash_order);
}

/* deletes = reconcile: the source has ids 1..50 only; prune removes every other key it holds, and no more. */
static void prune(const SinkOps *ops, Sink *sink, const TableShape *shape)
{
    FerryError err = {0};
    SinkDigest before = {0};
    bool read = digest_of(ops, sink, shape, 0, &before, &err);
    uint64_t live[50];
    live_hashes(ops, sink, shape, 50, live);
    SinkPartition all = {.partition = 0};
    int64_t removed = -1, again = -1;
    bool pruned = read && ops->prune(sink, shape, &all, live, 50, &removed, &err) &&
                  ops->prune(sink, shape, &all, live, 50, &again, &err);
    char detail[FERRY_ERROR_MAX + 96];
    snprintf(detail, sizeof detail, "%s; held %lld, removed %lld, then %lld", pruned ? "pruned" : err.message,
             (long long)before.rows, (long long)removed, (long long)again);
    check(pruned && removed == before.rows - 50 && again == 0, ops->name,
          "prune removes the keys the source lacks, each once", detail);
    expect(ops, sink, shape, 0, 1, 50, "prune leaves the source's keys, every one");
}

/* Keys removed (tombstones written) by a prune of every bucket of generations base..generation. */
static bool prune_buckets(const SinkOps *ops, Sink *sink, const TableShape *shape, int64_t base, int64_t generation,
                          const uint64_t *live, size_t nlive, int64_t *removed, FerryError *err)
{
    *removed = 0;
    for (uint32_t b = 0; b < 3; b++) {
        SinkPartition p = {.partition = -1, .generation = generation, .base = base, .buckets = 3, .bucket = b};
        int64_t n = 0;
        if (!ops->prune(sink, shape, &p, live, nlive, &n, err))
            return false;
        *removed += n;
    }
    return true;
}

/* Rows and key sum a reader applying generations base..generation sees, summed over the buckets. */
static bool digest_applied(const SinkOps *ops, Sink *sink, const TableShape *shape, int64_t base,
                           int64_t generation, SinkDigest *out, FerryError *err)
{
    memset(out, 0, sizeof *out);
    for (uint32_t b = 0; b < 3; b++) {
        SinkPartition p = {.partition = -1, .generation = generation, .base = base, .buckets = 3, .bucket = b};
        SinkDigest d;
        if (!ops->digest(sink, shape, &p, &d, err))
            return false;
        out->rows += d.rows;
        out->key_sum += d.key_sum;
        out->malformed |= d.malformed;
    }
    return true;
}

/*
 * deletes = reconcile into a sink that keeps generations: generation 1 holds ids 1..50 (the
 * base), generation 2 adds 41..80, and the source has 1..60. A prune of every bucket writes a
 * tombstone of 61..80 into generation 3; done again before generation 3 was recorded it writes
 * them again over its first attempt; once it is, there is nothing left to prune.
 */
static void prune_generations(const SinkOps *ops, Sink *sink, const TableShape *shape, RowBatch *batch)
{
    FerryError err = {0};
    fill(batch, 41, 80, 0);
    bool written = segment_of(ops, sink, shape, 2, 0, 0, batch, &err);
    check(written, ops->name, "commits generation 2 (ids 41..80) over generation 1's base", err.message);
    if (!written)
        return;
    uint64_t live[60];
    live_hashes(ops, sink, shape, 60, live);
    SinkDigest view = {0};
    int64_t removed = -1, again = -1, after = -1;
    bool pruned = digest_applied(ops, sink, shape, 1, 2, &view, &err) &&
                  prune_buckets(ops, sink, shape, 1, 2, live, 60, &removed, &err) &&
                  prune_buckets(ops, sink, shape, 1, 2, live, 60, &again, &err) &&
                  prune_buckets(ops, sink, shape, 1, 3, live, 60, &after, &err);
    char detail[FERRY_ERROR_MAX + 96];
    snprintf(detail, sizeof detail, "%s; a reader saw %lld rows; tombstones %lld, again %lld, then %lld",
             pruned ? "pruned" : err.message, (long long)view.rows, (long long)removed, (long long)again,
             (long long)after);
    check(pruned && view.rows == 80 && view.key_sum == key_sum(ops, sink, shape, 1, 80) && removed == 20 &&
              again == 20 && after == 0,
          ops->name, "prune tombstones the 20 keys the source lacks in a generation of their own, once", detail);
    bool read = digest_applied(ops, sink, shape, 1, 3, &view, &err);
    snprintf(detail, sizeof detail, "%s; rows %lld (want 60), malformed %d", read ? "read" : err.message,
             (long long)view.rows, view.malformed);
    check(read && view.rows == 60 && view.key_sum == key_sum(ops, sink, shape, 1, 60) && !view.malformed, ops->name,
          "a reader applying generations 1..3 sees the source's keys, every one, and no other", detail);
}

/* The output knows its job: another job, or another table, is refused; take_over hands it on. */
static void claims(const SinkOps *ops, Sink *sink, const TableShape *shape, bool replanned)
{
    FerryError err = {0};
    const SinkOwner a = {.job = "host-a:/var/lib/ferry/a.state", .table = "public.contract"};
    const SinkOwner b = {.job = "host-b:/var/lib/ferry/b.state", .table = "public.contract"};
    const SinkOwner a_other = {.job = a.job, .table = "public.other"};
    SinkOwner b_takes = b, a_takes = a;
    b_takes.take_over = a_takes.take_over = true;
    if (ops->claim == NULL) {
        check(false, ops->name, "marks a table's output with its owner (claim)", NULL);
        return;
    }
    check(ops->claim(sink, shape, &a, &err), ops->name,
          replanned ? "a new plan keeps the owner: the job claims its table again" : "a job claims a table's output",
          err.message);
    check(ops->claim(sink, shape, &a, &err), ops->name, "and again, on its next run", err.message);
    memset(&err, 0, sizeof err);
    bool refused = !ops->claim(sink, shape, &b, &err);
    check(refused && err.domain == FERRY_ERR_CONFIG && strstr(err.message, "belongs to another job") &&
              strstr(err.message, a.job) && strstr(err.message, b.job) && strstr(err.message, "--take-over"),
          ops->name, "another job is refused, with both jobs named and the fix", err.message);
    memset(&err, 0, sizeof err);
    refused = !ops->claim(sink, shape, &a_other, &err);
    check(refused && err.domain == FERRY_ERR_CONFIG && strstr(err.message, "another table of this job"), ops->name,
          "another table of the same job is refused", err.message);
    if (replanned)
        return;
    check(ops->claim(sink, shape, &b_takes, &err), ops->name, "take_over makes it the other job's", err.message);
    memset(&err, 0, sizeof err);
    refused = !ops->claim(sink, shape, &a, &err);
    check(refused && strstr(err.message, b.job), ops->name, "after which the first job is refused", err.message);
    check(ops->claim(sink, shape, &a_takes, &err), ops->name, "and takes it back", err.message);
}

static void contract(const SinkOps *ops, const char *ini)
{
    FerryConfig *config = NULL;
    FerryError err = {0};
    if (!config_load(ini, &config, &err)) {
        check(false, ops->name, "its contract configuration loads", err.message);
        return;
    }
    check(config->sink == ops, ops->name, "the configuration names this sink", ini);
    Sink *sink = NULL;
    if (!ops->open(config->sink_settings, &sink, &err)) {
        check(false, ops->name, "opens", err.message);
        config_free(config);
        return;
    }
    Column cols[3] = {{.name = "id", .type_name = "bigint", .type = OID_INT8},
                      {.name = "v", .type_name = "text", .type = OID_TEXT},
                      {.name = "n", .type_name = "numeric", .type = OID_NUMERIC}};
    char target[64];
    snprintf(target, sizeof target, "contract_%s", ops->name);
    TableShape shape = {.schema = "public", .name = "contract", .target = target, .ncols = 3, .nout = 3,
                        .cols = cols, .nkeys = 1, .key_col = {0}};
    RowBatch batch;
    batch_init(&batch, 3);

    check(sink_check_table(ops, config->sink_settings, &shape, &err), ops->name, "takes the table", err.message);
    check(sink_prepare_table(ops, sink, &shape, &err), ops->name, "prepares the table", err.message);
    fill(&batch, 1, 100, 0);
    check(segment(ops, sink, &shape, 0, 0, &batch, &err), ops->name, "commits a segment", err.message);
    expect(ops, sink, &shape, 0, 1, 100, "digest reads back the 100 rows of the committed segment");
    claims(ops, sink, &shape, false);
    expect(ops, sink, &shape, 0, 1, 100, "a refused claim changed nothing of the output");

    int64_t next = 1;
    if (ops->recorded != NULL) {
        /* The target records its segments: a worker asks, and never writes a recorded one again. */
        SinkSegment s0 = {.shape = &shape, .partition = 0, .sequence = 0};
        SinkSegment s1 = {.shape = &shape, .partition = 0, .sequence = 1};
        SinkRecord r0 = {0}, r1 = {0};
        bool found0 = false, found1 = true;
        bool asked = ops->recorded(sink, &s0, &r0, &found0, &err) && ops->recorded(sink, &s1, &r1, &found1, &err);
        check(asked && found0 && r0.rows == 100 && r0.last_key != NULL && strcmp(r0.last_key, "3:100") == 0 &&
                  !found1,
              ops->name, "records the committed segment (100 rows, last key 100) and no other", err.message);
        fill(&batch, 1, 60, 0);
        bool begun = ops->begin(sink, &s0, &err);
        ops->abort(sink);
        check(!begun, ops->name, "refuses to begin a recorded segment", NULL);
        free(r0.last_key);
        free(r1.last_key);
    } else {
        /* A replay starts at the same key and may end at another row. */
        fill(&batch, 1, 60, 0);
        bool replayed = segment(ops, sink, &shape, 0, 0, &batch, &err);
        fill(&batch, 61, 100, 0);
        replayed = replayed && segment(ops, sink, &shape, 0, 1, &batch, &err);
        check(replayed, ops->name, "commits a replayed segment and the next", err.message);
        next = 2;
    }
    expect(ops, sink, &shape, 0, 1, 100, "a replayed segment replaces what it wrote: 100 rows, none doubled");

    SinkSegment s = {.shape = &shape, .partition = 0, .sequence = next};
    fill(&batch, 101, 150, 0);
    bool begun = ops->begin(sink, &s, &err) && ops->write(sink, &batch, &err);
    ops->abort(sink);
    check(begun, ops->name, "begins and writes a segment it will abort", err.message);
    unsigned flags = sink_flags(ops, config->sink_settings);
    if (flags & SINK_UPSERTS_BY_KEY) {
        /* An upsert is visible once the server has it: an aborted segment's rows may be
         * there, each once, exactly as the source has them; its replay rewrites them. */
        SinkDigest d;
        SinkPartition p = {.partition = 0};
        bool read = ops->digest(sink, &shape, &p, &d, &err);
        bool none = d.rows == 100 && d.key_sum == key_sum(ops, sink, &shape, 1, 100);
        bool all = d.rows == 150 && d.key_sum == key_sum(ops, sink, &shape, 1, 150);
        check(read && (none || all) && !d.malformed, ops->name,
              "an aborted segment's upserts are all there or none, none doubled", err.message);
    } else {
        expect(ops, sink, &shape, 0, 1, 100, "an aborted segment is invisible");
    }

    /* A bad row: stored exactly, set aside and counted, or refused naming table and key. */
    fill(&batch, 101, 103, 102);
    bool committed = segment(ops, sink, &shape, 0, next, &batch, &err);
    int64_t rejected = committed && ops->rejected != NULL ? ops->rejected(sink) : 0;
    if (committed && rejected == 0) {
        expect(ops, sink, &shape, 0, 1, 103, "a row others find bad is stored, with its key");
    } else if (committed) {
        check(rejected == 1, ops->name, "a bad row set aside is counted (rejected = 1)", NULL);
    } else {
        bool named = strstr(err.message, target) != NULL && strstr(err.message, "102") != NULL;
        check(named, ops->name, "a bad row refused names the table and the key (102)", err.message);
    }

    if (flags & (SINK_UPSERTS_BY_KEY | SINK_KEEPS_GENERATIONS))
        generations(ops, sink, &shape, flags, &batch);
    if (ops->prune != NULL && (flags & SINK_KEEPS_GENERATIONS))
        prune_generations(ops, sink, &shape, &batch);
    else if (ops->prune != NULL)
        prune(ops, sink, &shape);

    /* A later plan of the table starts from nothing. */
    if (ops->prepare_table != NULL) {
        check(ops->prepare_table(sink, &shape, &err), ops->name, "prepares the table again (a new plan)",
              err.message);
        expect(ops, sink, &shape, 0, 1, 0, "prepare_table removed the earlier plan's output");
        claims(ops, sink, &shape, true);
    } else {
        check((flags & SINK_UPSERTS_BY_KEY) != 0, ops->name,
              "without prepare_table, replays by key make an earlier plan's output harmless", NULL);
    }
    batch_free(&batch);
    ops->close(sink);
    config_free(config);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sink-contract DIR (DIR/<sink>.ini for every sink)\n");
        return 2;
    }
    char names[256];
    snprintf(names, sizeof names, "%s", sink_names());
    char *save = NULL;
    for (char *name = strtok_r(names, ", ", &save); name != NULL; name = strtok_r(NULL, ", ", &save)) {
        char ini[4096];
        snprintf(ini, sizeof ini, "%s/%s.ini", argv[1], name);
        FILE *f = fopen(ini, "r");
        if (f == NULL) {
            check(false, name, "has a contract configuration (add DIR/<sink>.ini in tests/t/75-contract.t)", ini);
            continue;
        }
        fclose(f);
        contract(sink_find(name), ini);
    }
    printf("1..%d\n", tests);
    return failed ? 1 : 0;
}
