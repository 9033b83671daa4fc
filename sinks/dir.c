/*
 * sinks/dir.c — the directory sink: one file per segment, NDJSON or CSV, optionally gzipped.
 *
 * Design notes
 *  (1) A segment is written to "<dir>/<target>/.<name>.tmp", fsynced, renamed
 *      to "<name>", and the directory fsynced: a file under its final name is
 *      complete and durable, and a crash leaves at most a temporary file.
 *  (2) Names are deterministic — "<target>.p<partition>.s<sequence>.<ext>" —
 *      so a segment replayed after a crash replaces its own file.
 *  (3) prepare_table removes every segment file and temporary file of the
 *      table, so a new plan (other partition bounds) starts from nothing.
 *  (4) Memory: one output buffer of FERRY_SINK_BUFFER bytes, plus the
 *      compression filter's (compress.h) when compressing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ferry/compress.h"
#include "ferry/fault.h"
#include "ferry/files.h"
#include "ferry/segment.h"
#include "ferry/format.h"
#include "ferry/sink.h"

typedef struct DirSettings {
    char *path;
    int format;               /* RowFormat */
    int compression;          /* Compression (compress.h) */
    int gzip_level;
    bool csv_header;
    int nulls;                /* NDJSON: NULLS_KEEP or NULLS_OMIT */
} DirSettings;

enum { NULLS_KEEP = 0, NULLS_OMIT = 1 };

static const char *const format_names[] = {"ndjson", "csv", NULL};
static const char *const null_names[] = {"null", "omit", NULL};

static const ConfigOption dir_options[] = {
    CONFIG_OPTION(DirSettings, path, OPT_STRING, .required = true, .setup = true, .is_path = true,
                  .help = "directory to write into (created if missing)"),
    CONFIG_OPTION(DirSettings, format, OPT_ENUM, .default_value = "ndjson", .choices = format_names,
                  .setup = true, .help = "ndjson or csv"),
    CONFIG_OPTION(DirSettings, compression, OPT_ENUM, .default_value = "none",
                  .choices = compress_names, .setup = true, .help = "none or gzip"),
    CONFIG_OPTION(DirSettings, gzip_level, OPT_INT, .default_value = "1", .min = 1, .max = 9,
                  .help = "gzip level, 1 (fast) to 9 (small)"),
    CONFIG_OPTION(DirSettings, csv_header, OPT_BOOL, .default_value = "false", .setup = true,
                  .help = "CSV: write a header line in each file"),
    CONFIG_OPTION(DirSettings, nulls, OPT_ENUM, .default_value = "null", .choices = null_names, .setup = true,
                  .help = "NDJSON: SQL NULL is null (as a json null is), or the field is left out"),
    {0},
};

struct Sink {
    DirSettings settings;     /* copied; strings borrowed from the configuration */
    char *table_dir;          /* owned: <path>/<target> of the segment */
    char *table_target;       /* owned: the target the writer was made for */
    char final_path[4096];
    char temp_path[4096];
    int fd;                   /* the open temporary file, or -1 */
    int64_t partition;        /* the segment's, for fault points */
    Compressor gz;            /* the output filter: none, or gzip */
    OutBuf out;
    RowWriter writer;
    bool writer_ready;
};

/* Reading files back (verify): bytes a gzread asks for at once. */
#define READ_BUFFER (256u * 1024u)

static bool sink_errno(FerryError *err, int code, const char *what, const char *path)
{
    return file_error(err, "dir sink", code, what, path);
}

/* The filter's output: the segment's temporary file. */
static bool dir_file_write(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sink *sink = ctx;
    return file_write_all(sink->fd, data, len, "dir sink", sink->temp_path, err);
}

/* The output buffer's drain: through the compression filter to the file. */
static bool dir_drain(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sink *sink = ctx;
    if (fault_hit(FAULT_SINK_MID_WRITE, sink->partition)) {
        ferry_error(err, FERRY_ERR_SINK, ENOSPC, "dir sink: injected fault: %s: a write failed half way",
                    sink->temp_path);
        err->retryable = true;
        return false;
    }
    return compress_write(&sink->gz, data, len, err);
}

/* A target becomes a directory name: no path separators, no dot names. */
static bool target_valid(const char *target, FerryError *err)
{
    if (*target == '\0' || strchr(target, '/') != NULL || strcmp(target, ".") == 0 ||
        strcmp(target, "..") == 0 || target[0] == '.')
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "dir sink: target \"%s\" cannot be a directory name (no '/', no leading '.')",
                           target);
    return true;
}

static const char *extension(const DirSettings *s)
{
    if (s->format == FORMAT_CSV)
        return s->compression == COMPRESS_GZIP ? "csv.gz" : "csv";
    return s->compression == COMPRESS_GZIP ? "ndjson.gz" : "ndjson";
}

/* The output buffer, and with gzip zlib's output buffer and deflate state (window + hash, level-independent at 256 KiB). */
static uint64_t dir_memory(const void *settings)
{
    const DirSettings *s = settings;
    return FERRY_SINK_BUFFER + compress_memory((Compression)s->compression);
}

static bool dir_open(const void *settings, Sink **out, FerryError *err)
{
    Sink *sink = xcalloc(1, sizeof *sink);
    sink->settings = *(const DirSettings *)settings;
    sink->fd = -1;
    if (!file_make_dir(sink->settings.path, "dir sink", err)) {
        free(sink);
        return false;
    }
    outbuf_init(&sink->out, FERRY_SINK_BUFFER, dir_drain, sink);
    compress_init(&sink->gz, (Compression)sink->settings.compression, sink->settings.gzip_level, dir_file_write,
                  sink);
    *out = sink;
    return true;
}

static void set_table_dir(Sink *sink, const TableShape *shape)
{
    free(sink->table_dir);
    size_t len = strlen(sink->settings.path) + strlen(shape->target) + 2;
    sink->table_dir = xmalloc(len);
    snprintf(sink->table_dir, len, "%s/%s", sink->settings.path, shape->target);
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
 * Point the handle at a table: its folder and a row writer for its shape.
 * A shape is known by its address and its target together: verify reuses one
 * address for table after table. Returns true when the handle changed table.
 */
static bool use_table(Sink *sink, const TableShape *shape)
{
    if (sink->writer_ready && sink->writer.shape == shape && sink->table_dir != NULL &&
        strcmp(sink->table_target, shape->target) == 0)
        return false;
    forget_table(sink);
    sink->table_target = xstrdup(shape->target);
    set_table_dir(sink, shape);
    row_writer_init(&sink->writer, (RowFormat)sink->settings.format, sink->settings.csv_header,
                    sink->settings.nulls == NULLS_OMIT, shape);
    sink->writer_ready = true;
    return true;
}

/* Is `name` one of this table's segment files (or their temporaries)? */
static bool is_segment_file(const char *name, const char *target)
{
    const char *p = name;
    if (*p == '.')
        p++;
    size_t tlen = strlen(target);
    if (strncmp(p, target, tlen) != 0 || strncmp(p + tlen, ".p", 2) != 0)
        return false;
    p += tlen + 2;
    unsigned long part, seq;
    int used = 0;
    if (sscanf(p, "%lu.s%lu%n", &part, &seq, &used) != 2)
        return false;
    p += used;
    return *p == '.';
}

static bool dir_prepare_table(Sink *sink, const TableShape *shape, FerryError *err)
{
    if (!target_valid(shape->target, err))
        return false;
    /* Only the folder is needed: no writer for a shape that is about to move. */
    forget_table(sink);
    set_table_dir(sink, shape);
    if (!file_make_dir(sink->table_dir, "dir sink", err))
        return false;
    DIR *d = opendir(sink->table_dir);
    if (d == NULL)
        return sink_errno(err, errno, "cannot read directory", sink->table_dir);
    struct dirent *e;
    bool ok = true;
    int removed = 0;
    while (ok && (e = readdir(d)) != NULL) {
        if (!is_segment_file(e->d_name, shape->target))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT)
            ok = sink_errno(err, errno, "cannot remove", e->d_name);
        removed++;
    }
    closedir(d);
    if (ok && removed > 0) {
        log_info("dir sink: removed %d files of an earlier plan of %s", removed, shape->target);
        ok = file_fsync_dir(sink->table_dir, "dir sink", err);
    }
    return ok;
}

static bool dir_begin(Sink *sink, const SinkSegment *segment, FerryError *err)
{
    const TableShape *shape = segment->shape;
    if (!target_valid(shape->target, err))
        return false;
    if (use_table(sink, shape) && !file_make_dir(sink->table_dir, "dir sink", err))
        return false;
    sink->partition = segment->partition;
    char name[FERRY_NAME_MAX + 64];
    if (!segment_name(name, sizeof name, shape->target, segment->partition, segment->sequence,
                      extension(&sink->settings), "dir sink", err) ||
        !file_path(sink->final_path, sizeof sink->final_path, "dir sink", err, "%s/%s", sink->table_dir, name) ||
        !file_path(sink->temp_path, sizeof sink->temp_path, "dir sink", err, "%s/.%s.tmp", sink->table_dir, name))
        return false;
    sink->fd = open(sink->temp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sink->fd < 0)
        return sink_errno(err, errno, "cannot create", sink->temp_path);
    sink->out.len = 0;
    sink->out.failed = false;
    if (!compress_begin(&sink->gz, err)) {
        ferry_error_prefix(err, "dir sink");
        return false;
    }
    row_writer_header(&sink->writer, &sink->out);
    return true;
}

static bool dir_write(Sink *sink, const RowBatch *batch, FerryError *err)
{
    return row_writer_batch(&sink->writer, &sink->out, batch, err);
}

static void dir_abort(Sink *sink)
{
    compress_abandon(&sink->gz);
    if (sink->fd >= 0) {
        close(sink->fd);
        sink->fd = -1;
        unlink(sink->temp_path);
    }
}

static bool dir_commit(Sink *sink, FerryError *err)
{
    bool ok = outbuf_flush(&sink->out);
    if (!ok && err != NULL)
        *err = sink->out.error;
    if (ok)
        ok = compress_finish(&sink->gz, err);
    compress_abandon(&sink->gz);
    if (ok && fsync(sink->fd) != 0)
        ok = sink_errno(err, errno, "fsync", sink->temp_path);
    if (ok) {
        int rc = close(sink->fd);
        sink->fd = -1;
        if (rc != 0)
            ok = sink_errno(err, errno, "close", sink->temp_path);
    }
    if (ok && fault_hit(FAULT_SINK_COMMIT, sink->partition)) { /* fsynced, not yet visible */
        ok = ferry_error(err, FERRY_ERR_SINK, EIO, "dir sink: injected fault: %s: rename failed", sink->temp_path);
        err->retryable = true;
    }
    if (ok && rename(sink->temp_path, sink->final_path) != 0)
        ok = sink_errno(err, errno, "rename", sink->temp_path);
    if (ok)
        ok = file_fsync_dir(sink->table_dir, "dir sink", err);
    if (!ok)
        dir_abort(sink);
    return ok;
}

static void dir_close(Sink *sink)
{
    if (sink == NULL)
        return;
    dir_abort(sink);
    forget_table(sink);
    outbuf_free(&sink->out);
    compress_free(&sink->gz);
    free(sink->table_dir);
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

static bool dir_digest(Sink *sink, const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                       FerryError *err)
{
    int64_t partition = part->partition;
    memset(out, 0, sizeof *out);
    use_table(sink, shape);
    /* The key's fields as written: NDJSON by JSON-encoded name (the column's prefix without
     * its "{" or "," and its ':'), CSV by position; only if written at all. */
    int indexes[FERRY_KEY_COLUMNS_MAX];
    out->has_keys = true;
    for (int k = 0; k < shape->nkeys; k++) {
        indexes[k] = shape->key_col[k];
        out->has_keys &= indexes[k] < shape->nout;
    }
    char prefix[FERRY_NAME_MAX + 32];
    if (!segment_prefix(prefix, sizeof prefix, shape->target, partition, "dir sink", err))
        return false;
    DIR *d = opendir(sink->table_dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return true; /* nothing written yet */
        return sink_errno(err, errno, "cannot read directory", sink->table_dir);
    }
    char *bare[FERRY_KEY_COLUMNS_MAX];
    for (int k = 0; k < shape->nkeys; k++) {
        int c = indexes[k];
        const RowWriter *w = &sink->writer;
        bare[k] = c < shape->nout ? xstrndup(w->json_prefix[c] + 1, w->json_prefix_len[c] - 2) : xstrdup("");
    }
    KeyCtx kctx = {.digest = out, .nkeys = shape->nkeys};
    bool ok = true;
    struct dirent *e;
    char *buf = xmalloc(READ_BUFFER);
    while (ok && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[4096];
        if (!file_path(path, sizeof path, "dir sink", err, "%s/%s", sink->table_dir, e->d_name)) {
            ok = false;
            break;
        }
        gzFile f = gzopen(path, "rb"); /* reads plain files as they are */
        if (f == NULL) {
            ok = sink_errno(err, errno ? errno : EIO, "cannot open", path);
            break;
        }
        RowReader reader;
        if (out->has_keys)
            row_reader_init(&reader, (RowFormat)sink->settings.format, sink->settings.csv_header,
                            shape->nkeys, (const char *const *)bare, indexes, digest_key_row, &kctx);
        else
            row_reader_init(&reader, (RowFormat)sink->settings.format, sink->settings.csv_header, 0,
                            NULL, NULL, count_row, NULL);
        int n;
        while ((n = gzread(f, buf, READ_BUFFER)) > 0)
            row_reader_feed(&reader, buf, (size_t)n);
        if (n < 0) {
            ok = ferry_error(err, FERRY_ERR_SINK, EIO, "dir sink: cannot read %s", path);
        }
        row_reader_finish(&reader);
        out->rows += reader.rows;
        out->malformed |= reader.malformed;
        row_reader_free(&reader);
        gzclose(f);
    }
    free(buf);
    for (int k = 0; k < shape->nkeys; k++)
        free(bare[k]);
    closedir(d);
    return ok;
}

static bool hash_drain(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    uint64_t *hash = ctx;
    *hash = format_hash(*hash, data, len);
    return true;
}

static uint64_t dir_key_hash(Sink *sink, const TableShape *shape, const RowBatch *keys, int row)
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

const SinkOps sink_dir = {
    .name = "dir",
    .flags = SINK_REPLACES_SEGMENTS,
    .options = dir_options,
    .settings_size = sizeof(DirSettings),
    .open = dir_open,
    .memory = dir_memory,
    .prepare_table = dir_prepare_table,
    .begin = dir_begin,
    .write = dir_write,
    .commit = dir_commit,
    .abort = dir_abort,
    .close = dir_close,
    .digest = dir_digest,
    .key_hash = dir_key_hash,
};
