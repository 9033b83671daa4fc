/*
 * include/ferry/sink.h — the interface every sink implements, and what it promises.
 *
 * A worker drives its own sink handle through segments:
 *
 *   open ─► [prepare_table] ─► begin(segment) ─► write(batch)… ─► commit ─► checkpoint
 *                                         └──► abort (source failed, stop requested)
 *
 * A segment is one unit of durable output: (table, partition, sequence). The
 * agent checkpoints a segment's last key in the state only after commit
 * returned true, so after any crash a segment may be written again, from the
 * same first key, possibly ending at a different row.
 *
 *   verify: digest(partition) against key_hash(rows read from the source), or the
 *           whole table at once where the sink's ranges do not match the source's
 *
 * The contract:
 *  - open MUST NOT keep a pointer to the settings beyond close; one handle is
 *    used by one thread at a time.
 *  - commit MUST return true only when everything written since begin is
 *    durable: it survives a crash of ferry and of the machine.
 *  - A segment written again after a crash MUST replace what the earlier
 *    attempt wrote for the same (table, partition, sequence) — or be harmless
 *    for another reason (upsert by key) — so replay never doubles a row. A
 *    sink that records its segments in the target (recorded) is never asked
 *    to write a recorded one again.
 *  - Nothing of an uncommitted segment may be visible as complete output:
 *    abort, or a crash before commit, leaves readers seeing only committed
 *    segments. A sink that upserts by key (SINK_UPSERTS_BY_KEY) cannot take
 *    back what the server already holds: the rows of an uncommitted segment
 *    MAY be visible there, each once and exactly as the source has them, and
 *    the replay rewrites them.
 *  - prepare_table (optional) is called when a table is planned from scratch;
 *    it MUST remove output an earlier plan of that table left behind, so a
 *    re-plan with other partition bounds cannot double rows.
 *  - A row the sink cannot store is a bad row: the sink either fails the
 *    segment with a message naming the table and the key, or sets the row
 *    aside where the user can find it and counts it (rejected).
 *  - Errors fill FerryError with domain FERRY_ERR_SINK and say whether a retry
 *    can help.
 */
#ifndef FERRY_SINK_H
#define FERRY_SINK_H

#include "ferry/batch.h"
#include "ferry/common.h"
#include "ferry/config.h"

typedef struct Sink Sink; /* each sink defines its own handle */

typedef struct SinkSegment {
    const TableShape *shape;  /* borrowed from the worker's plan */
    int64_t partition;
    int64_t sequence;
    int64_t generation;       /* segment.h; 0: the plan's first load */
    bool last;                /* the partition's last segment */
} SinkSegment;

/*
 * The job a table's output belongs to (SinkOps.claim): one state file on one
 * machine is one job, whatever its configuration file is called.
 */
typedef struct SinkOwner {
    const char *job;          /* "<host>:<the state file's absolute path>" */
    const char *table;        /* the source table, as configured */
    bool take_over;           /* run --take-over TABLE: another job's output becomes this one's */
    bool *taken;              /* set when claim took the output over from another owner; may be NULL */
} SinkOwner;

/* What a sink that records its segments (SinkOps.recorded) holds of one. */
typedef struct SinkRecord {
    char *last_key;           /* owned: the key tuple (keytuple.h) of the segment's last row */
    int64_t rows;             /* rows written, rejected ones included, as the checkpoint counts them */
    int64_t rejected;
    bool last;                /* it was the partition's last segment */
} SinkRecord;

/*
 * A partition as verify asks for it: its number and key range (lo, hi], as key tuples (plan.h); NULL: open.
 *
 * A sink that keeps generations (SINK_KEEPS_GENERATIONS) holds a version of a
 * key per generation; it is asked for its keys as a reader applying the
 * generations base..generation in order sees them (the last version of a key
 * winning, a tombstone removing it), a share of the keys at a time: with
 * buckets > 0, the keys whose hash (key_hash) is bucket modulo buckets, of
 * every partition (sink_partition_holds).
 */
typedef struct SinkPartition {
    int64_t partition;
    const char *lo, *hi;
    int64_t generation;       /* the generation whose segments hold it (segment.h) */
    int64_t base;             /* with buckets: the first generation applied */
    uint32_t buckets, bucket;
} SinkPartition;

/* Is a key of this hash one the partition asks for (its bucket, when it has buckets)? */
static inline bool sink_partition_holds(const SinkPartition *partition, uint64_t hash)
{
    return partition->buckets == 0 || hash % partition->buckets == partition->bucket;
}

/* What a sink holds for one partition, read back (verify). */
typedef struct SinkDigest {
    int64_t rows;
    uint64_t key_sum;         /* sum of key_hash over the rows: order does not matter */
    bool has_keys;            /* key_sum is meaningful (the key columns are stored) */
    bool malformed;           /* some stored row could not be read */
} SinkDigest;

enum {
    SINK_REPLACES_SEGMENTS = 1u << 0, /* a replayed segment overwrites its own output */
    SINK_UPSERTS_BY_KEY = 1u << 1,    /* a replayed row replaces itself by key */
    /*
     * Each generation is written beside those before it, never over them
     * (files): a reader applies them in order, the last version of a key
     * winning. With SINK_UPSERTS_BY_KEY, what an incremental table needs.
     */
    SINK_KEEPS_GENERATIONS = 1u << 2,
};

typedef struct SinkOps {
    const char *name;
    unsigned flags;
    /* settings_flags (optional): flags that depend on the settings (a load mode), added to `flags`. */
    unsigned (*settings_flags)(const void *settings);
    const ConfigOption *options; /* the sink's keys in [sink], besides `type` */
    size_t settings_size;        /* size of the settings struct the options fill */

    /*
     * fit (optional) completes, in place, the settings the run's memory
     * budget decides (the size of a part buffer). A command calls it once,
     * after measuring the budget and before memory or open (run_fit_sink).
     */
    void (*fit)(void *settings, uint64_t budget);
    bool (*open)(const void *settings, Sink **out, FerryError *err);
    /* The bytes one open handle holds in buffers (paid from the run's memory pool); optional. */
    uint64_t (*memory)(const void *settings);
    /*
     * Copies of a row wider than FERRY_SINK_BUFFER the sink holds at once while
     * writing it (a document built from it, a library's copy of that), beyond
     * memory(): the worker pays for them with the row, so wide rows take turns.
     */
    unsigned wide_row_copies;
    /*
     * check_table (optional) is called for every table when it is planned and
     * whenever a run starts on it, before anything is written. It MUST refuse
     * (FERRY_ERR_CONFIG, naming the column and the fix) a shape the sink could
     * not store without making two keys, or two columns, one.
     */
    bool (*check_table)(const void *settings, const TableShape *shape, FerryError *err);
    bool (*prepare_table)(Sink *sink, const TableShape *shape, FerryError *err); /* optional */
    /*
     * claim (optional) is called whenever a run starts on a table, before
     * prepare_table and before anything is written. A sink that can keep a
     * marker beside a table's output MUST write the owner there when none is
     * there, and MUST refuse (FERRY_ERR_CONFIG, naming both jobs and the fix)
     * output another job or another table marked, unless take_over, when the
     * marker becomes this owner's. Nothing of the output may change before
     * the marker says it is this job's.
     */
    bool (*claim)(Sink *sink, const TableShape *shape, const SinkOwner *owner, FerryError *err);
    /*
     * finish_table (optional) is called at the end of every run in which the
     * table's `generation` is complete (every partition done), after the
     * last commit. It MAY write what describes that generation whole (a
     * manifest), and MAY remove what generations before `base` wrote: `base`
     * holds every row (a first copy, or run --full), so they are superseded.
     * It MUST be harmless to call again.
     */
    bool (*finish_table)(Sink *sink, const TableShape *shape, int64_t generation, int64_t base, FerryError *err);
    bool (*begin)(Sink *sink, const SinkSegment *segment, FerryError *err);
    bool (*write)(Sink *sink, const RowBatch *batch, FerryError *err);
    bool (*commit)(Sink *sink, FerryError *err);
    void (*abort)(Sink *sink);
    void (*close)(Sink *sink);
    /* Rows of the committed segment that were set aside as bad rows (optional; none when absent). */
    int64_t (*rejected)(Sink *sink);
    /*
     * recorded (optional): a sink that records each committed segment in
     * the target, in the transaction that holds its rows (a ledger), says
     * whether `segment` (table, partition, generation, sequence) is there.
     * A worker asks before it reads a partition on from its checkpoint, and
     * takes a recorded segment as checkpointed: a crash between the sink's
     * commit and the state's then costs nothing, and no segment is written
     * twice, whatever rows its replay would have held. Such a sink's begin
     * MUST refuse a recorded segment, and its prepare_table MUST forget the
     * table's records.
     */
    bool (*recorded)(Sink *sink, const SinkSegment *segment, SinkRecord *out, bool *found, FerryError *err);

    /*
     * verify (optional, both or neither): digest MUST read back what the sink
     * durably holds for one partition; key_hash MUST give a row's key,
     * read from the source (a batch of the key columns only, in any order),
     * the hash digest gives the same key as stored.
     */
    bool (*digest)(Sink *sink, const TableShape *shape, const SinkPartition *partition, SinkDigest *out,
                   FerryError *err);
    uint64_t (*key_hash)(Sink *sink, const TableShape *shape, const RowBatch *keys, int row);
    /*
     * ranges_match (optional; true when absent) MUST say false when digest's
     * (lo, hi] could hold other keys than the source's range does — the sink
     * orders stored keys its own way (BSON's order, bytes) — and verify then
     * compares the table as a whole (a SinkPartition with no bounds).
     */
    bool (*ranges_match)(Sink *sink, const TableShape *shape);
    /*
     * prune (optional; deletes = reconcile, agent/reconcile.c) MUST remove
     * the stored rows of the partition's key range whose key, hashed as
     * digest hashes it, is not among live[0..nlive) (sorted ascending: the
     * source's keys of the range), count them in *removed, and never remove
     * a key whose hash is among them. It MUST hold a bounded number of keys
     * at a time, however many it removes; calling it again is harmless.
     * A sink that keeps generations removes nothing: it writes a tombstone
     * of each such key into generation + 1 (partition 0, sequence bucket +
     * 1), a generation of tombstones alone, which the agent records once
     * every bucket is done; asked for bucket 0 it first removes whatever an
     * unrecorded earlier attempt wrote beyond `generation`.
     */
    bool (*prune)(Sink *sink, const TableShape *shape, const SinkPartition *partition, const uint64_t *live,
                  size_t nlive, int64_t *removed, FerryError *err);
} SinkOps;

/* Is `hash` among the sorted live[0..nlive) (prune)? */
static inline bool sink_live_has(const uint64_t *live, size_t nlive, uint64_t hash)
{
    size_t lo = 0, hi = nlive;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (live[mid] < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nlive && live[lo] == hash;
}

/* The sink of that name, or NULL. */
const SinkOps *sink_find(const char *name);

/* Names of all sinks, comma-separated, for messages and --help. */
const char *sink_names(void);

static inline bool sink_prepare_table(const SinkOps *ops, Sink *sink, const TableShape *shape,
                                      FerryError *err)
{
    return ops->prepare_table == NULL || ops->prepare_table(sink, shape, err);
}

static inline bool sink_claim(const SinkOps *ops, Sink *sink, const TableShape *shape, const SinkOwner *owner,
                              FerryError *err)
{
    return ops->claim == NULL || ops->claim(sink, shape, owner, err);
}

static inline bool sink_finish_table(const SinkOps *ops, Sink *sink, const TableShape *shape, int64_t generation,
                                     int64_t base, FerryError *err)
{
    return ops->finish_table == NULL || ops->finish_table(sink, shape, generation, base, err);
}

static inline bool sink_check_table(const SinkOps *ops, const void *settings, const TableShape *shape,
                                    FerryError *err)
{
    return ops->check_table == NULL || ops->check_table(settings, shape, err);
}

static inline void sink_fit(const SinkOps *ops, void *settings, uint64_t budget)
{
    if (ops->fit != NULL)
        ops->fit(settings, budget);
}

/* The sink's flags under these settings. */
static inline unsigned sink_flags(const SinkOps *ops, const void *settings)
{
    return ops->flags | (ops->settings_flags != NULL ? ops->settings_flags(settings) : 0);
}

/* The bytes one open handle holds in buffers (SinkOps.memory), 0 for a sink that keeps none. */
static inline uint64_t sink_buffer_bytes(const SinkOps *ops, const void *settings)
{
    return ops->memory != NULL ? ops->memory(settings) : 0;
}

#endif
