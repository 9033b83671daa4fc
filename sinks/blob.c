/*
 * sinks/blob.c — the blob sink: one object per segment, NDJSON or CSV, optionally gzip or zstd, in a store.
 *
 *   rows ─► RowWriter (format.h) ─► OutBuf ─► Compressor (compress.h) ─► Store (store.h)
 *
 * type = dir is this sink over the directory store (store_dir.c), type = s3
 * over the S3 store (store_s3.c), type = azure over Azure Blob
 * (store_azure.c); another store is one more store file and one more
 * BLOB_SINK line at the end of this file.
 *
 * Design notes
 *  (1) An object is "<target>/<segment name>" (segment.h): deterministic, so
 *      a segment replayed after a crash replaces its own object. The store
 *      makes it visible only when complete (store.h).
 *  (2) prepare_table removes every segment object and every leftover of the
 *      table, so a new plan (other partition bounds) starts from nothing.
 *  (3) verify lists a partition's objects and reads them back through the
 *      reverse filter (Decompressor) into a RowReader, one row at a time.
 *  (4) Memory: one output buffer of FERRY_SINK_BUFFER bytes, plus the
 *      compression filter's when compressing (compress_memory), plus the
 *      store's (an S3 part, an Azure block).
 *  (5) A blob sink's settings are the store's (in StoreSettings, filled by
 *      the store's own option table) and the encoder's and filter's, which
 *      every store shares; messages name the sink by its type ("dir sink").
 *  (6) When a handle first writes a partition it sweeps the partition's
 *      prefix, where its store has a sweep: the unfinished writes a killed
 *      run left (an S3 multipart upload) go, committed objects stay.
 *  (7) A store other tools read by URL (S3) gets a manifest of each complete
 *      generation, "<target>/<target>.manifest" for the first copy and
 *      "<target>/<target>.g<generation>.manifest" for each incremental run's
 *      (segment.h), in Redshift's manifest format, written after its last
 *      segment; a new plan removes them with the segments. The dir store
 *      has none: its folder is its listing.
 *  (8) A generation that holds every row (run --full: the table's base)
 *      supersedes those before it: once it is complete, and its manifest
 *      written, their objects are removed, so the files hold what a reader
 *      applying every generation in order needs and nothing older.
 *  (9) The folder's owner (owner.h) is the object "<target>/.ferry-owner",
 *      which no plan removes. Its dot keeps it out of a shell's "*" and out
 *      of what Spark, Hive and Athena read (they pass over names that begin
 *      with "." or "_"); no manifest names it.
 * (10) Files of several generations hold a version of a key in each. verify
 *      and reconcile see them as a reader applying them in order would: the
 *      objects of generations base..generation are read, and each key of the
 *      asked bucket (sink.h) keeps its last version in a table of 16 bytes a
 *      slot, so a bucket of FERRY_BUCKET_KEYS costs 8 MiB. The key's hash is
 *      taken from its fields as written, as blob_key_hash takes it from the
 *      source's value.
 * (11) A file cannot lose a key: reconcile's prune writes a tombstone of each
 *      key whose last version is live and which the source lacks, made of
 *      that version's key fields, into generation + 1 (sink.h). Those rows
 *      are found by a second pass over the objects, through a store handle
 *      of its own, while the sink's handle writes the tombstones' object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/compress.h"
#include "ferry/fault.h"
#include "ferry/files.h"
#include "ferry/segment.h"
#include "ferry/format.h"
#include "ferry/objects.h"
#include "ferry/owner.h"
#include "ferry/sink.h"
#include "ferry/store.h"

/* The blob sink's own keys; the store's follow them in the same section (note 5). */
typedef struct BlobSettings {
    StoreSettings store;      /* the store's settings struct (store.h) */
    int format;               /* RowFormat */
    int compression;          /* Compression (compress.h) */
    int gzip_level;
    int zstd_level;
    bool csv_header;
    int nulls;                /* NDJSON: NULLS_KEEP or NULLS_OMIT */
} BlobSettings;

enum { NULLS_KEEP = 0, NULLS_OMIT = 1 };

static const char *const format_names[] = {"ndjson", "csv", NULL};
static const char *const null_names[] = {"null", "omit", NULL};

static const ConfigOption blob_options[] = {
    CONFIG_OPTION(BlobSettings, format, OPT_ENUM, .default_value = "ndjson", .choices = format_names,
                  .setup = true, .help = "ndjson or csv"),
    CONFIG_OPTION(BlobSettings, compression, OPT_ENUM, .default_value = "none",
                  .choices = compress_names, .setup = true, .help = "none, gzip or zstd"),
    CONFIG_OPTION(BlobSettings, gzip_level, OPT_INT, .default_value = "1", .min = 1, .max = 9,
                  .help = "gzip level, 1 (fast) to 9 (small)"),
    CONFIG_OPTION(BlobSettings, zstd_level, OPT_INT, .default_value = "1", .min = 1, .max = 9,
                  .help = "zstd level, 1 (fast) to 9 (smaller, and more memory)"),
    CONFIG_OPTION(BlobSettings, csv_header, OPT_BOOL, .default_value = "false", .setup = true,
                  .help = "CSV: write a header line in each file"),
    CONFIG_OPTION(BlobSettings, nulls, OPT_ENUM, .default_value = "null", .choices = null_names, .setup = true,
                  .help = "NDJSON: SQL NULL is null (as a json null is), or the field is left out"),
    {0},
};

struct Sink {
    BlobSettings settings;    /* copied; strings borrowed from the configuration */
    const StoreOps *ops;      /* borrowed: the store table's entry */
    char who[32];             /* "<type> sink", for messages */
    Store *store;             /* owned */
    char *table_target;       /* owned: the target the writer was made for */
    char key[4096];           /* the object being written */
    char swept[4096];         /* the partition's key prefix last swept (note 6) */
    int64_t partition;        /* the segment's, for fault points */
    bool in_object;           /* begun, not yet committed or aborted */
    Compressor gz;            /* the output filter: none, or gzip */
    OutBuf out;
    RowWriter writer;
    bool writer_ready;
};

/* The filter's output: the store's object. */
static bool blob_store_write(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sink *sink = ctx;
    return sink->ops->write(sink->store, data, len, err);
}

/* The output buffer's drain: through the compression filter to the store. */
static bool blob_drain(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sink *sink = ctx;
    if (fault_hit(FAULT_SINK_MID_WRITE, sink->partition)) {
        ferry_error(err, FERRY_ERR_SINK, ENOSPC, "%s: injected fault: %s: a write failed half way",
                    sink->who, sink->key);
        err->retryable = true;
        return false;
    }
    return compress_write(&sink->gz, data, len, err);
}

/* A target becomes a folder (a directory, or a key prefix): no path separators, no dot names. */
static bool target_valid(const Sink *sink, const char *target, FerryError *err)
{
    if (*target == '\0' || strchr(target, '/') != NULL || strcmp(target, ".") == 0 ||
        strcmp(target, "..") == 0 || target[0] == '.')
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s: target \"%s\" cannot be a folder name (no '/', no leading '.')",
                           sink->who, target);
    return true;
}

/* "ndjson", "csv.gz", "ndjson.zst": the format's name and the filter's suffix. */
static const char *extension(const BlobSettings *s)
{
    static const char *const names[2][3] = {{"ndjson", "ndjson.gz", "ndjson.zst"}, {"csv", "csv.gz", "csv.zst"}};
    return names[s->format == FORMAT_CSV][s->compression];
}

static int compress_level(const BlobSettings *s)
{
    return s->compression == COMPRESS_ZSTD ? s->zstd_level : s->gzip_level;
}

/*
 * The output buffer, with gzip zlib's output buffer and deflate state
 * (window + hash, level-independent at 256 KiB), and the store's buffers.
 */
static uint64_t blob_memory(const StoreOps *ops, const void *settings)
{
    const BlobSettings *s = settings;
    return FERRY_SINK_BUFFER + compress_memory((Compression)s->compression, compress_level(s)) +
           (ops->memory != NULL ? ops->memory(&s->store) : 0);
}

static void blob_fit(const StoreOps *ops, void *settings, uint64_t budget)
{
    if (ops->fit != NULL)
        ops->fit(&((BlobSettings *)settings)->store, budget);
}

static bool blob_open(const StoreOps *ops, const void *settings, Sink **out, FerryError *err)
{
    Sink *sink = xcalloc(1, sizeof *sink);
    sink->settings = *(const BlobSettings *)settings;
    sink->ops = ops;
    snprintf(sink->who, sizeof sink->who, "%s sink", ops->name);
    if (!ops->open(&sink->settings.store, sink->who, &sink->store, err)) {
        free(sink);
        return false;
    }
    outbuf_init(&sink->out, FERRY_SINK_BUFFER, blob_drain, sink);
    compress_init(&sink->gz, (Compression)sink->settings.compression, compress_level(&sink->settings),
                  blob_store_write, sink);
    *out = sink;
    return true;
}

/* Drop the handle's table: the next use_table builds it afresh. */
static void forget_table(Sink *sink)
{
    if (sink->writer_ready)
        row_writer_free(&sink->writer);
    sink->writer_ready = false;
    free(sink->table_target);
    sink->table_target = NULL;
}

/*
 * Point the handle at a table: a row writer for its shape. A shape is known
 * by its address and its target together: verify reuses one address for
 * table after table.
 */
static void use_table(Sink *sink, const TableShape *shape)
{
    if (sink->writer_ready && sink->writer.shape == shape && strcmp(sink->table_target, shape->target) == 0)
        return;
    forget_table(sink);
    sink->table_target = xstrdup(shape->target);
    row_writer_init(&sink->writer, (RowFormat)sink->settings.format, sink->settings.csv_header,
                    sink->settings.nulls == NULLS_OMIT, shape);
    sink->writer_ready = true;
}

/* Is this key ("<target>/<name>") one of the table's segment objects, of any generation? */
static bool is_segment_key(const char *key, const void *arg)
{
    const char *target = arg;
    size_t tlen = strlen(target);
    SegmentId id;
    return strncmp(key, target, tlen) == 0 && key[tlen] == '/' && segment_parse(key + tlen + 1, target, &id);
}

/* (7) The key of a generation's manifest: "<target>/<target>.manifest", past 0 "<target>/<target>.g<g>.manifest". */
static bool manifest_key(const Sink *sink, const char *target, int64_t generation, char *out, size_t cap,
                         FerryError *err)
{
    if (generation == 0)
        return file_path(out, cap, sink->who, err, "%s/%s.manifest", target, target);
    return file_path(out, cap, sink->who, err, "%s/%s.g%06lld.manifest", target, target, (long long)generation);
}

/* A segment object of the table, or a manifest of one of its generations: what a new plan removes. */
static bool is_table_object(const char *key, const void *arg)
{
    const char *target = arg;
    size_t tlen = strlen(target);
    if (is_segment_key(key, arg))
        return true;
    if (strncmp(key, target, tlen) != 0 || key[tlen] != '/' || strncmp(key + tlen + 1, target, tlen) != 0)
        return false;
    const char *p = key + 2 * tlen + 1;
    if (p[0] == '.' && p[1] == 'g' && p[2] >= '0' && p[2] <= '9') {
        for (p += 2; *p >= '0' && *p <= '9'; p++)
            ;
    }
    return strcmp(p, ".manifest") == 0;
}

/*
 * A table whose deletions reach the files (deletes = soft or reconcile) has
 * them written as tombstone lines: NDJSON only, and no column may be taken
 * for the tombstone's mark.
 */
static bool blob_check_table(const void *settings, const TableShape *shape, FerryError *err)
{
    const BlobSettings *s = settings;
    if (!shape->has_deleted && !shape->reconciled)
        return true;
    const char *setting = shape->has_deleted ? "soft" : "reconcile";
    if (s->format != FORMAT_NDJSON)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "table %s: deletes = %s writes a deleted key as a tombstone line "
                           "({\"_deleted\": true, <key>}), which CSV has no form for: set format = ndjson",
                           shape->target, setting);
    for (int c = 0; c < shape->nout; c++)
        if (strcmp(shape->cols[c].name, "_deleted") == 0)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "table %s: deletes = %s writes a deleted key as {\"_deleted\": true, <key>}, and "
                               "column _deleted would read as one: leave it out of columns or rename it in a view",
                               shape->target, setting);
    return true;
}

static bool blob_prepare_table(Sink *sink, const TableShape *shape, FerryError *err)
{
    if (!target_valid(sink, shape->target, err))
        return false;
    forget_table(sink); /* no writer for a shape that is about to move */
    char prefix[FERRY_NAME_MAX + 8];
    int removed = 0;
    if (!file_path(prefix, sizeof prefix, sink->who, err, "%s/", shape->target) ||
        !sink->ops->remove_all(sink->store, prefix, is_table_object, shape->target, &removed, err))
        return false;
    if (removed > 0)
        log_info("%s: removed %d objects of an earlier plan of %s", sink->who, removed, shape->target);
    return true;
}

typedef struct FoundObject {
    const char *key;
    bool found;
} FoundObject;

static bool find_object(void *ctx, const char *key, uint64_t size, FerryError *err)
{
    (void)size, (void)err;
    FoundObject *f = ctx;
    f->found |= strcmp(key, f->key) == 0;
    return true;
}

/*
 * A small object's bytes, up to FERRY_OWNER_MARKER_MAX. More is not a marker
 * ferry wrote: none of it is kept, and owner_check finds it unreadable.
 */
typedef struct Marker {
    StrBuf text;
    bool oversize;
} Marker;

static bool gather_marker(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    Marker *m = ctx;
    m->oversize |= m->text.len + len > FERRY_OWNER_MARKER_MAX;
    if (!m->oversize)
        strbuf_add(&m->text, "%.*s", (int)len, data);
    return true;
}

/* (9) The marker says whose the table's folder is; written when it says nothing yet. */
static bool blob_claim(Sink *sink, const TableShape *shape, const SinkOwner *owner, FerryError *err)
{
    char key[FERRY_NAME_MAX * 2 + 16];
    if (!target_valid(sink, shape->target, err) ||
        !file_path(key, sizeof key, sink->who, err, "%s/.ferry-owner", shape->target))
        return false;
    FoundObject f = {.key = key};
    Marker marker = {0};
    StrBuf where = {0};
    if (sink->ops->url == NULL || !sink->ops->url(sink->store, key, &where))
        strbuf_add(&where, "%s", key);
    bool write = false;
    bool ok = sink->ops->list(sink->store, key, find_object, &f, err) &&
              (!f.found || sink->ops->read(sink->store, key, gather_marker, &marker, err)) &&
              owner_check(!f.found ? NULL : marker.text.text && !marker.oversize ? marker.text.text : "", owner,
                          sink->who, where.text, &write, err);
    StrBuf text = marker.text;
    if (ok && write) {
        free(text.text);
        text = (StrBuf){0};
        owner_marker(owner, &text);
        ok = sink->ops->begin(sink->store, key, -1, err) &&
             sink->ops->write(sink->store, text.text, text.len, err) && sink->ops->commit(sink->store, err);
        if (!ok)
            sink->ops->abort(sink->store);
    }
    if (!ok && err->domain != FERRY_ERR_CONFIG)
        ferry_error_prefix(err, "%s: the owner marker %s", sink->who, where.text);
    free(text.text);
    free(where.text);
    return ok;
}

/* (6) Before a handle first writes a partition, what a killed run left of its writes goes. */
static bool sweep_partition(Sink *sink, const TableShape *shape, const SinkSegment *segment, FerryError *err)
{
    char start[FERRY_NAME_MAX + 32], prefix[sizeof sink->swept];
    int removed = 0;
    if (!segment_prefix(start, sizeof start, shape->target, segment->generation, segment->partition, sink->who,
                        err) ||
        !file_path(prefix, sizeof prefix, sink->who, err, "%s/%s", shape->target, start))
        return false;
    if (sink->ops->sweep == NULL || strcmp(prefix, sink->swept) == 0)
        return true;
    if (!sink->ops->sweep(sink->store, prefix, is_segment_key, shape->target, &removed, err))
        return false;
    if (removed > 0)
        log_info("%s: removed %d unfinished writes an earlier run left of %s, partition %lld", sink->who, removed,
                 shape->target, (long long)segment->partition);
    memcpy(sink->swept, prefix, sizeof prefix);
    return true;
}

static bool blob_begin(Sink *sink, const SinkSegment *segment, FerryError *err)
{
    const TableShape *shape = segment->shape;
    if (!target_valid(sink, shape->target, err))
        return false;
    use_table(sink, shape);
    sink->partition = segment->partition;
    if (!sweep_partition(sink, shape, segment, err))
        return false;
    char name[FERRY_NAME_MAX + 64];
    if (!segment_name(name, sizeof name, shape->target,
                      (SegmentId){segment->generation, segment->partition, segment->sequence},
                      extension(&sink->settings), sink->who, err) ||
        !file_path(sink->key, sizeof sink->key, sink->who, err, "%s/%s", shape->target, name) ||
        !sink->ops->begin(sink->store, sink->key, segment->partition, err))
        return false;
    sink->in_object = true;
    sink->out.len = 0;
    sink->out.failed = false;
    if (!compress_begin(&sink->gz, err)) {
        ferry_error_prefix(err, "%s", sink->who);
        return false;
    }
    row_writer_header(&sink->writer, &sink->out);
    return true;
}

static bool blob_write(Sink *sink, const RowBatch *batch, FerryError *err)
{
    return row_writer_batch(&sink->writer, &sink->out, batch, err);
}

static void blob_abort(Sink *sink)
{
    compress_abandon(&sink->gz);
    if (sink->in_object)
        sink->ops->abort(sink->store);
    sink->in_object = false;
}

static bool blob_commit(Sink *sink, FerryError *err)
{
    bool ok = outbuf_flush(&sink->out);
    if (!ok && err != NULL)
        *err = sink->out.error;
    ok = ok && compress_finish(&sink->gz, err) && sink->ops->commit(sink->store, err);
    if (!ok)
        blob_abort(sink);
    sink->in_object = false;
    return ok;
}

static void blob_close(Sink *sink)
{
    if (sink == NULL)
        return;
    blob_abort(sink);
    forget_table(sink);
    outbuf_free(&sink->out);
    compress_free(&sink->gz);
    sink->ops->close(sink->store);
    free(sink);
}

/* ---- verify: read the files back ---- */

/* Rows are counted by the reader; without stored keys there is nothing more to take. */
static void count_row(void *ctx, const char *const *fields, const size_t *lengths)
{
    (void)ctx;
    (void)fields;
    (void)lengths;
}

/* One object read back: its bytes through the reverse filter into a RowReader (note 3). */
typedef struct ObjectRead {
    Decompressor inflate;
    RowReader reader;         /* the object's, while it is read: on_row may look at it (deleted) */
    int64_t rows;             /* over every object read */
    bool malformed;
} ObjectRead;

static bool feed_reader(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    row_reader_feed(&((ObjectRead *)ctx)->reader, data, len);
    return true;
}

static bool feed_inflate(void *ctx, const char *data, size_t len, FerryError *err)
{
    return decompress_write(&((ObjectRead *)ctx)->inflate, data, len, err);
}

/* Read `key` from `store`, each row's fields (names: NDJSON; indexes: CSV) handed to on_row. */
static bool read_object(Sink *sink, Store *store, const char *key, ObjectRead *o, int nfields,
                        char *const *names, const int *indexes,
                        void (*on_row)(void *, const char *const *, const size_t *), void *ctx, FerryError *err)
{
    row_reader_init(&o->reader, (RowFormat)sink->settings.format, sink->settings.csv_header, nfields,
                    (const char *const *)names, indexes, on_row, ctx);
    decompress_init(&o->inflate, (Compression)sink->settings.compression, feed_reader, o);
    bool ok = decompress_begin(&o->inflate, err) && sink->ops->read(store, key, feed_inflate, o, err) &&
              decompress_finish(&o->inflate, err);
    if (!ok)
        ferry_error_prefix(err, "%s: reading %s", sink->who, key);
    row_reader_finish(&o->reader);
    o->rows += o->reader.rows;
    o->malformed |= o->reader.malformed;
    row_reader_free(&o->reader);
    decompress_free(&o->inflate);
    return ok;
}

/* The key's fields as written: NDJSON by JSON-encoded name (the column's prefix without its "{" or "," and
 * its ':'), CSV by position; false when the sink does not write them all. names[] are owned (keys_free). */
static bool key_fields(Sink *sink, const TableShape *shape, char **names, int *indexes)
{
    bool all = true;
    for (int k = 0; k < shape->nkeys; k++) {
        int c = indexes[k] = shape->key_col[k];
        all &= c < shape->nout;
        const RowWriter *w = &sink->writer;
        names[k] = c < shape->nout ? xstrndup(w->json_prefix[c] + 1, w->json_prefix_len[c] - 2) : xstrdup("");
    }
    return all;
}

static void keys_free(const TableShape *shape, char **names)
{
    for (int k = 0; k < shape->nkeys; k++)
        free(names[k]);
}

/* A row's key hash, from its key fields as written: what blob_key_hash gives the same key from the source. */
static uint64_t stored_key_hash(int nkeys, const char *const *fields, const size_t *lengths)
{
    uint64_t hash = FORMAT_HASH_SEED;
    for (int i = 0; i < nkeys; i++) {
        if (i > 0)
            hash = format_hash(hash, "\x1f", 1);
        hash = format_hash(hash, fields[i], lengths[i]);
    }
    return hash;
}

typedef struct DigestCtx {
    SinkDigest *digest;
    int nkeys;
} DigestCtx;

static void digest_key_row(void *ctx, const char *const *fields, const size_t *lengths)
{
    DigestCtx *d = ctx;
    d->digest->key_sum += stored_key_hash(d->nkeys, fields, lengths);
}

/* ---- several generations, as a reader applies them (note 10) ---- */

/*
 * A key's last version: its hash, and in `version` (generation + 1) << 2 with
 * VERSION_DELETED (a tombstone) and VERSION_DEAD (a prune found the source
 * without the key); a version of 0 is an empty slot. Open addressing, at
 * most half full.
 */
enum { VERSION_DELETED = 1, VERSION_DEAD = 2 };

typedef struct KeyVersion {
    uint64_t hash, version;
} KeyVersion;

typedef struct Versions {
    KeyVersion *slots;
    size_t cap, count;        /* cap: a power of two */
} Versions;

static KeyVersion *versions_slot(const Versions *v, uint64_t hash)
{
    size_t mask = v->cap - 1;
    for (size_t i = (size_t)((hash * 0x9e3779b97f4a7c15u) >> 32) & mask;; i = (i + 1) & mask)
        if (v->slots[i].version == 0 || v->slots[i].hash == hash)
            return &v->slots[i];
}

static void versions_grow(Versions *v)
{
    Versions bigger = {.cap = v->cap ? 2 * v->cap : 4096};
    bigger.slots = xcalloc(bigger.cap, sizeof *bigger.slots);
    for (size_t i = 0; i < v->cap; i++)
        if (v->slots[i].version != 0) {
            *versions_slot(&bigger, v->slots[i].hash) = v->slots[i];
            bigger.count++;
        }
    free(v->slots);
    *v = bigger;
}

/* A version of the key read in `generation`: it replaces one of an earlier generation (or of this one, read before). */
static void versions_put(Versions *v, uint64_t hash, int64_t generation, bool deleted)
{
    if (2 * (v->count + 1) > v->cap)
        versions_grow(v);
    KeyVersion *slot = versions_slot(v, hash);
    uint64_t version = (uint64_t)(generation + 1) << 2 | (deleted ? VERSION_DELETED : 0);
    if (slot->version == 0) {
        slot->hash = hash;
        slot->version = version;
        v->count++;
    } else if (version >> 2 >= slot->version >> 2) {
        slot->version = version;
    }
}

/* What apply_generations reads, object by object, and what it does with each row. */
typedef struct ApplyCtx {
    Sink *sink;
    Store *store;             /* the handle objects are read through */
    const TableShape *shape;
    const SinkPartition *part;
    Versions versions;
    ObjectRead read;
    int64_t generation;       /* the object being read's */
    char *names[FERRY_KEY_COLUMNS_MAX];
    int indexes[FERRY_KEY_COLUMNS_MAX];
    void (*on_row)(void *, const char *const *, const size_t *);
    int64_t tombstones;       /* prune: tombstone lines written */
} ApplyCtx;

/* Pass one: every version of the bucket's keys, the last one kept. */
static void apply_row(void *ctx, const char *const *fields, const size_t *lengths)
{
    ApplyCtx *a = ctx;
    uint64_t hash = stored_key_hash(a->shape->nkeys, fields, lengths);
    if (sink_partition_holds(a->part, hash))
        versions_put(&a->versions, hash, a->generation, a->read.reader.deleted);
}

/* A segment object of generation base..generation: read, rows to a->on_row. */
static bool apply_object(void *ctx, const char *key, uint64_t size, FerryError *err)
{
    (void)size;
    ApplyCtx *a = ctx;
    const char *target = a->shape->target;
    size_t tlen = strlen(target);
    SegmentId id;
    if (!is_segment_key(key, target) || !segment_parse(key + tlen + 1, target, &id) ||
        id.generation < a->part->base || id.generation > a->part->generation)
        return true;
    a->generation = id.generation;
    return read_object(a->sink, a->store, key, &a->read, a->shape->nkeys, a->names, a->indexes, a->on_row, a, err);
}

/* Read every object of the generations base..generation, each row to a->on_row. */
static bool apply_generations(ApplyCtx *a, FerryError *err)
{
    char prefix[FERRY_NAME_MAX + 8];
    return file_path(prefix, sizeof prefix, a->sink->who, err, "%s/", a->shape->target) &&
           a->sink->ops->list(a->store, prefix, apply_object, a, err);
}

/* Pass one over the sink's own store: the bucket's keys, each at its last version. */
static bool apply_begin(Sink *sink, const TableShape *shape, const SinkPartition *part, ApplyCtx *a,
                        FerryError *err)
{
    *a = (ApplyCtx){.sink = sink, .store = sink->store, .shape = shape, .part = part, .on_row = apply_row};
    use_table(sink, shape);
    if (!key_fields(sink, shape, a->names, a->indexes)) {
        keys_free(shape, a->names);
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s: table %s: its files do not hold its key columns, so generations cannot be applied",
                           sink->who, shape->target);
    }
    if (apply_generations(a, err))
        return true;
    keys_free(shape, a->names);
    free(a->versions.slots);
    return false;
}

static void apply_end(ApplyCtx *a)
{
    keys_free(a->shape, a->names);
    free(a->versions.slots);
}

/* The bucket's keys whose last version is no tombstone: a reader's rows, counted and summed. */
static bool digest_applied(Sink *sink, const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                           FerryError *err)
{
    ApplyCtx a;
    if (!apply_begin(sink, shape, part, &a, err))
        return false;
    out->has_keys = true;
    out->malformed = a.read.malformed;
    for (size_t i = 0; i < a.versions.cap; i++) {
        const KeyVersion *v = &a.versions.slots[i];
        if (v->version != 0 && !(v->version & VERSION_DELETED)) {
            out->rows++;
            out->key_sum += v->hash;
        }
    }
    apply_end(&a);
    return true;
}

/* What blob_digest reads: the objects of one partition of one generation. */
typedef struct PartitionRead {
    Sink *sink;
    const TableShape *shape;
    ObjectRead read;
    DigestCtx keys;
    bool has_keys;
    char *names[FERRY_KEY_COLUMNS_MAX];
    int indexes[FERRY_KEY_COLUMNS_MAX];
} PartitionRead;

/* One object of the partition: its rows counted and their keys hashed (note 3). */
static bool digest_object(void *ctx, const char *key, uint64_t size, FerryError *err)
{
    (void)size;
    PartitionRead *p = ctx;
    if (p->has_keys)
        return read_object(p->sink, p->sink->store, key, &p->read, p->shape->nkeys, p->names, p->indexes,
                           digest_key_row, &p->keys, err);
    return read_object(p->sink, p->sink->store, key, &p->read, 0, NULL, NULL, count_row, NULL, err);
}

static bool blob_digest(Sink *sink, const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                        FerryError *err)
{
    memset(out, 0, sizeof *out);
    if (part->buckets > 0)
        return digest_applied(sink, shape, part, out, err);
    use_table(sink, shape);
    PartitionRead p = {.sink = sink, .shape = shape, .keys = {.digest = out, .nkeys = shape->nkeys}};
    p.has_keys = out->has_keys = key_fields(sink, shape, p.names, p.indexes);
    char start[FERRY_NAME_MAX + 32], prefix[2 * FERRY_NAME_MAX + 40];
    bool ok = segment_prefix(start, sizeof start, shape->target, part->generation, part->partition, sink->who, err) &&
              file_path(prefix, sizeof prefix, sink->who, err, "%s/%s", shape->target, start) &&
              sink->ops->list(sink->store, prefix, digest_object, &p, err);
    out->rows = p.read.rows;
    out->malformed = p.read.malformed;
    keys_free(shape, p.names);
    return ok;
}

typedef struct ManifestCtx {
    Sink *sink;
    const char *target;
    int64_t generation;
    StrBuf json;
    int64_t objects;
} ManifestCtx;

static bool manifest_entry(void *ctx, const char *key, uint64_t size, FerryError *err)
{
    ManifestCtx *m = ctx;
    size_t tlen = strlen(m->target);
    SegmentId id;
    if (!is_segment_key(key, m->target) || !segment_parse(key + tlen + 1, m->target, &id) ||
        id.generation != m->generation)
        return true;
    StrBuf url = {0};
    if (!m->sink->ops->url(m->sink->store, key, &url)) {
        free(url.text);
        return ferry_error(err, FERRY_ERR_SINK, 0, "%s: no URL for %s", m->sink->who, key);
    }
    objects_manifest_entry(&m->json, url.text, size, m->objects == 0);
    free(url.text);
    m->objects++;
    return true;
}

/* The table's objects (segments and manifests) of the generations from..to. */
typedef struct Generations {
    const char *target;
    int64_t from, to;
} Generations;

static bool is_generation_object(const char *key, const void *arg)
{
    const Generations *g = arg;
    size_t tlen = strlen(g->target);
    SegmentId id;
    int64_t generation;
    if (is_segment_key(key, g->target)) {
        if (!segment_parse(key + tlen + 1, g->target, &id))
            return false;
        generation = id.generation;
    } else if (is_table_object(key, g->target)) {
        const char *p = key + 2 * tlen + 1; /* ".manifest", or ".g<generation>.manifest" */
        generation = p[1] != 'g' ? 0 : strtoll(p + 2, NULL, 10);
    } else {
        return false;
    }
    return generation >= g->from && generation <= g->to;
}

/* Remove the table's objects of generations from..to; *removed counts them. */
static bool remove_generations(Sink *sink, const TableShape *shape, int64_t from, int64_t to, int *removed,
                               FerryError *err)
{
    char prefix[FERRY_NAME_MAX + 8];
    Generations range = {.target = shape->target, .from = from, .to = to};
    *removed = 0;
    return file_path(prefix, sizeof prefix, sink->who, err, "%s/", shape->target) &&
           sink->ops->remove_all(sink->store, prefix, is_generation_object, &range, removed, err);
}

/* (8) A generation that holds every row (run --full) supersedes those before it: their objects go. */
static bool remove_superseded(Sink *sink, const TableShape *shape, int64_t base, FerryError *err)
{
    int removed;
    if (!remove_generations(sink, shape, 0, base - 1, &removed, err))
        return false;
    if (removed > 0)
        log_info("%s: removed %d objects of %s's generations before %lld, which holds every row", sink->who, removed,
                 shape->target, (long long)base);
    return true;
}

/*
 * (7) A complete generation's manifest, in Redshift's format (what COPY …
 * MANIFEST reads): every segment object of the generation, mandatory, with
 * its length; written after every segment, as one more object, so a reader
 * that sees it sees the whole generation: the table's first copy, or the
 * rows one incremental run found changed.
 */
static bool blob_finish_table(Sink *sink, const TableShape *shape, int64_t generation, int64_t base,
                              FerryError *err)
{
    if (sink->ops->url == NULL) /* nothing reads a manifest of local files */
        return base == 0 || remove_superseded(sink, shape, base, err);
    char prefix[FERRY_NAME_MAX + 8], key[2 * FERRY_NAME_MAX + 16];
    ManifestCtx m = {.sink = sink, .target = shape->target, .generation = generation, .json = {.max = (size_t)1 << 30}};
    strbuf_add(&m.json, "{\"entries\": [");
    bool ok = file_path(prefix, sizeof prefix, sink->who, err, "%s/", shape->target) &&
              manifest_key(sink, shape->target, generation, key, sizeof key, err) &&
              sink->ops->list(sink->store, prefix, manifest_entry, &m, err);
    strbuf_add(&m.json, "\n]}\n");
    if (ok && m.json.failed)
        ok = ferry_error(err, FERRY_ERR_SINK, 0, "%s: the manifest of %s is larger than 1 GiB", sink->who,
                         shape->target);
    ok = ok && sink->ops->begin(sink->store, key, FAULT_ANY_PARTITION, err) &&
         sink->ops->write(sink->store, m.json.text, m.json.len, err) && sink->ops->commit(sink->store, err);
    if (!ok)
        sink->ops->abort(sink->store);
    else
        log_info("%s: table %s complete: manifest %s lists %lld objects", sink->who, shape->target, key,
                 (long long)m.objects);
    free(m.json.text);
    /* After the manifest: a reader that finds the new generation whole never misses the old one's rows. */
    return ok && (base == 0 || remove_superseded(sink, shape, base, err));
}

/* ---- deletes = reconcile: tombstones (note 11) ---- */

static int hash_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Pass two: a tombstone of each dead key, made of its last version's key fields, into the open segment. */
static void tombstone_row(void *ctx, const char *const *fields, const size_t *lengths)
{
    ApplyCtx *a = ctx;
    uint64_t hash = stored_key_hash(a->shape->nkeys, fields, lengths);
    if (!sink_partition_holds(a->part, hash))
        return;
    KeyVersion *slot = versions_slot(&a->versions, hash);
    if (!(slot->version & VERSION_DEAD) || slot->version >> 2 != (uint64_t)(a->generation + 1))
        return;
    slot->version &= ~(uint64_t)VERSION_DEAD; /* one tombstone a key */
    OutBuf *out = &a->sink->out;
    outbuf_write(out, "{\"_deleted\":true", 16); /* as format.c's json_tombstone writes one */
    for (int k = 0; k < a->shape->nkeys; k++) {
        outbuf_putc(out, ',');
        outbuf_write(out, a->names[k], strlen(a->names[k]));
        outbuf_putc(out, ':');
        outbuf_write(out, fields[k], lengths[k]);
    }
    outbuf_write(out, "}\n", 2);
    a->tombstones++;
}

static bool blob_prune(Sink *sink, const TableShape *shape, const SinkPartition *part, const uint64_t *live,
                       size_t nlive, int64_t *removed, FerryError *err)
{
    *removed = 0;
    if (part->buckets == 0)
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: %s: files are reconciled a bucket of keys at a time",
                           sink->who);
    int stale = 0; /* what an earlier attempt wrote past `generation`, and no run recorded */
    if (part->bucket == 0 && !remove_generations(sink, shape, part->generation + 1, INT64_MAX, &stale, err))
        return false;
    if (stale > 0)
        log_info("%s: removed %d objects of %s past generation %lld, which no run recorded", sink->who, stale,
                 shape->target, (long long)part->generation);
    ApplyCtx a;
    if (!apply_begin(sink, shape, part, &a, err))
        return false;
    int64_t dead = 0;
    for (size_t i = 0; i < a.versions.cap; i++) {
        KeyVersion *v = &a.versions.slots[i];
        if (v->version != 0 && !(v->version & VERSION_DELETED) &&
            bsearch(&v->hash, live, nlive, sizeof *live, hash_order) == NULL) {
            v->version |= VERSION_DEAD;
            dead++;
        }
    }
    bool ok = true;
    if (dead > 0) {
        /* The objects are read again through a handle of their own while this one writes. */
        Store *reading = NULL;
        SinkSegment segment = {.shape = shape, .partition = 0, .sequence = part->bucket + 1,
                               .generation = part->generation + 1, .last = true};
        ok = sink->ops->open(&sink->settings.store, sink->who, &reading, err) && blob_begin(sink, &segment, err);
        if (ok) {
            a.store = reading;
            a.on_row = tombstone_row;
            a.read = (ObjectRead){0};
            ok = apply_generations(&a, err) && blob_commit(sink, err);
            if (!ok)
                blob_abort(sink);
        }
        if (reading != NULL)
            sink->ops->close(reading);
        *removed = a.tombstones;
    }
    apply_end(&a);
    return ok;
}

static bool hash_drain(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    uint64_t *hash = ctx;
    *hash = format_hash(*hash, data, len);
    return true;
}

static uint64_t blob_key_hash(Sink *sink, const TableShape *shape, const RowBatch *keys, int row)
{
    use_table(sink, shape);
    uint64_t hash = FORMAT_HASH_SEED;
    char small[256];
    OutBuf out = {.data = small, .cap = sizeof small, .drain = hash_drain, .ctx = &hash};
    for (int k = 0; k < shape->nkeys; k++) {
        if (k > 0)
            outbuf_putc(&out, '\x1f');
        size_t len = 0;
        const char *value = batch_value(keys, row, k, &len);
        row_writer_value(&sink->writer, &out, &shape->cols[shape->key_col[k]], value ? value : "", len);
    }
    outbuf_flush(&out);
    return hash;
}

/*
 * (5) One blob sink per store: its section takes the store's keys first, then
 * the blob sink's. A new store is one file and one line here.
 */
#define BLOB_SINK(kind, store_ops, store_options)                                                   \
    static const ConfigOption kind##_options[] = {                                                  \
        CONFIG_GROUP(BlobSettings, store, store_options),                                           \
        {.name = "blob", .type = OPT_GROUP, .offset = 0, .group = blob_options},                    \
        {0},                                                                                        \
    };                                                                                              \
    static bool kind##_open(const void *settings, Sink **out, FerryError *err)                      \
    {                                                                                               \
        return blob_open(&(store_ops), settings, out, err);                                         \
    }                                                                                               \
    static void kind##_fit(void *settings, uint64_t budget)                                         \
    {                                                                                               \
        blob_fit(&(store_ops), settings, budget);                                                   \
    }                                                                                               \
    static uint64_t kind##_memory(const void *settings)                                             \
    {                                                                                               \
        return blob_memory(&(store_ops), settings);                                                 \
    }                                                                                               \
    const SinkOps sink_##kind = {                                                                   \
        .name = #kind,                                                                              \
        .flags = SINK_REPLACES_SEGMENTS | SINK_KEEPS_GENERATIONS,                                   \
        .options = kind##_options,                                                                  \
        .settings_size = sizeof(BlobSettings),                                                      \
        .fit = kind##_fit,                                                                          \
        .open = kind##_open,                                                                        \
        .memory = kind##_memory,                                                                    \
        .check_table = blob_check_table,                                                            \
        .prepare_table = blob_prepare_table,                                                        \
        .claim = blob_claim,                                                                        \
        .finish_table = blob_finish_table,                                                          \
        .begin = blob_begin,                                                                        \
        .write = blob_write,                                                                        \
        .commit = blob_commit,                                                                      \
        .abort = blob_abort,                                                                        \
        .close = blob_close,                                                                        \
        .digest = blob_digest,                                                                      \
        .key_hash = blob_key_hash,                                                                  \
        .prune = blob_prune,                                                                        \
    }

BLOB_SINK(dir, store_dir, store_dir_options);
BLOB_SINK(s3, store_s3, store_s3_options);
BLOB_SINK(azure, store_azure, store_azure_options);
