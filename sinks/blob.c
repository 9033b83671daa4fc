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

/* A table whose rows may be deletions (deletes = soft) writes them as tombstone lines: NDJSON only. */
static bool blob_check_table(const void *settings, const TableShape *shape, FerryError *err)
{
    const BlobSettings *s = settings;
    if (shape->has_deleted && s->format != FORMAT_NDJSON)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "table %s: deletes = soft writes a deleted row as a tombstone line "
                           "({\"_deleted\": true, <key>}), which CSV has no form for: set format = ndjson",
                           shape->target);
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

/* A small object's bytes, up to FERRY_OWNER_MARKER_MAX: more is not a marker ferry wrote. */
static bool gather_marker(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    StrBuf *text = ctx;
    if (text->len + len <= FERRY_OWNER_MARKER_MAX)
        strbuf_add(text, "%.*s", (int)len, data);
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
    StrBuf text = {0}, where = {0};
    if (sink->ops->url == NULL || !sink->ops->url(sink->store, key, &where))
        strbuf_add(&where, "%s", key);
    bool write = false;
    bool ok = sink->ops->list(sink->store, key, find_object, &f, err) &&
              (!f.found || sink->ops->read(sink->store, key, gather_marker, &text, err)) &&
              owner_check(f.found ? (text.text ? text.text : "") : NULL, owner, sink->who, where.text, &write, err);
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

typedef struct KeyCtx {
    SinkDigest *digest;
    int nkeys;
} KeyCtx;

static void digest_key_row(void *ctx, const char *const *fields, const size_t *lengths)
{
    KeyCtx *k = ctx;
    uint64_t hash = FORMAT_HASH_SEED;
    for (int i = 0; i < k->nkeys; i++) {
        if (i > 0)
            hash = format_hash(hash, "\x1f", 1);
        hash = format_hash(hash, fields[i], lengths[i]);
    }
    k->digest->key_sum += hash;
}

typedef struct ReadCtx {
    Sink *sink;
    Decompressor inflate;
    RowReader reader;
} ReadCtx;

static bool feed_reader(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    row_reader_feed(&((ReadCtx *)ctx)->reader, data, len);
    return true;
}

static bool feed_inflate(void *ctx, const char *data, size_t len, FerryError *err)
{
    return decompress_write(&((ReadCtx *)ctx)->inflate, data, len, err);
}

typedef struct DigestCtx {
    Sink *sink;
    const TableShape *shape;
    SinkDigest *digest;
    KeyCtx keys;
    char *bare[FERRY_KEY_COLUMNS_MAX];
    int indexes[FERRY_KEY_COLUMNS_MAX];
} DigestCtx;

/* One object of the partition: its rows counted and their keys hashed (note 3). */
static bool digest_object(void *ctx, const char *key, uint64_t size, FerryError *err)
{
    (void)size;
    DigestCtx *d = ctx;
    Sink *sink = d->sink;
    ReadCtx r = {.sink = sink};
    if (d->digest->has_keys)
        row_reader_init(&r.reader, (RowFormat)sink->settings.format, sink->settings.csv_header, d->shape->nkeys,
                        (const char *const *)d->bare, d->indexes, digest_key_row, &d->keys);
    else
        row_reader_init(&r.reader, (RowFormat)sink->settings.format, sink->settings.csv_header, 0, NULL, NULL,
                        count_row, NULL);
    decompress_init(&r.inflate, (Compression)sink->settings.compression, feed_reader, &r);
    bool ok = decompress_begin(&r.inflate, err) && sink->ops->read(sink->store, key, feed_inflate, &r, err) &&
              decompress_finish(&r.inflate, err);
    if (!ok)
        ferry_error_prefix(err, "%s: reading %s", sink->who, key);
    row_reader_finish(&r.reader);
    d->digest->rows += r.reader.rows;
    d->digest->malformed |= r.reader.malformed;
    row_reader_free(&r.reader);
    decompress_free(&r.inflate);
    return ok;
}

static bool blob_digest(Sink *sink, const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                        FerryError *err)
{
    memset(out, 0, sizeof *out);
    use_table(sink, shape);
    DigestCtx d = {.sink = sink, .shape = shape, .digest = out, .keys = {.digest = out, .nkeys = shape->nkeys}};
    /* The key's fields as written: NDJSON by JSON-encoded name (the column's prefix without
     * its "{" or "," and its ':'), CSV by position; only if written at all. */
    out->has_keys = true;
    for (int k = 0; k < shape->nkeys; k++) {
        int c = d.indexes[k] = shape->key_col[k];
        out->has_keys &= c < shape->nout;
        const RowWriter *w = &sink->writer;
        d.bare[k] = c < shape->nout ? xstrndup(w->json_prefix[c] + 1, w->json_prefix_len[c] - 2) : xstrdup("");
    }
    char start[FERRY_NAME_MAX + 32], prefix[2 * FERRY_NAME_MAX + 40];
    bool ok = segment_prefix(start, sizeof start, shape->target, part->generation, part->partition, sink->who, err) &&
              file_path(prefix, sizeof prefix, sink->who, err, "%s/%s", shape->target, start) &&
              sink->ops->list(sink->store, prefix, digest_object, &d, err);
    for (int k = 0; k < shape->nkeys; k++)
        free(d.bare[k]);
    return ok;
}

typedef struct ManifestCtx {
    Sink *sink;
    const char *target;
    int64_t generation;
    StrBuf json;
    int64_t objects;
} ManifestCtx;

static void json_text(StrBuf *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            strbuf_add(out, "\\%c", *p);
        else if (*p < 0x20)
            strbuf_add(out, "\\u%04x", *p);
        else
            strbuf_add(out, "%c", *p);
    }
}

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
    strbuf_add(&m->json, "%s\n  {\"url\": \"", m->objects ? "," : "");
    json_text(&m->json, url.text);
    strbuf_add(&m->json, "\", \"mandatory\": true, \"meta\": {\"content_length\": %llu}}", (unsigned long long)size);
    free(url.text);
    m->objects++;
    return true;
}

/*
 * (7) A complete generation's manifest, in Redshift's format (what COPY …
 * MANIFEST reads): every segment object of the generation, mandatory, with
 * its length; written after every segment, as one more object, so a reader
 * that sees it sees the whole generation: the table's first copy, or the
 * rows one incremental run found changed.
 */
/* A generation's object of the table older than `base` (a segment or a manifest): superseded. */
typedef struct Superseded {
    const char *target;
    int64_t base;
} Superseded;

static bool is_superseded(const char *key, const void *arg)
{
    const Superseded *s = arg;
    size_t tlen = strlen(s->target);
    SegmentId id;
    if (is_segment_key(key, s->target))
        return segment_parse(key + tlen + 1, s->target, &id) && id.generation < s->base;
    if (!is_table_object(key, s->target))
        return false;
    const char *p = key + 2 * tlen + 1; /* ".manifest", or ".g<generation>.manifest" */
    return p[1] != 'g' || strtoll(p + 2, NULL, 10) < s->base;
}

/* (8) A generation that holds every row (run --full) supersedes those before it: their objects go. */
static bool remove_superseded(Sink *sink, const TableShape *shape, int64_t base, FerryError *err)
{
    char prefix[FERRY_NAME_MAX + 8];
    int removed = 0;
    Superseded arg = {.target = shape->target, .base = base};
    if (!file_path(prefix, sizeof prefix, sink->who, err, "%s/", shape->target) ||
        !sink->ops->remove_all(sink->store, prefix, is_superseded, &arg, &removed, err))
        return false;
    if (removed > 0)
        log_info("%s: removed %d objects of %s's generations before %lld, which holds every row", sink->who, removed,
                 shape->target, (long long)base);
    return true;
}

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
    }

BLOB_SINK(dir, store_dir, store_dir_options);
BLOB_SINK(s3, store_s3, store_s3_options);
BLOB_SINK(azure, store_azure, store_azure_options);
