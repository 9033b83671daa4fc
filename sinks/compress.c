/*
 * sinks/compress.c — compression filters (compress.h): none passes bytes on, gzip and zstd compress them.
 *
 * Design notes
 *  (1) gzip is written by libdeflate, one gzip member per COMPRESS_MEMBER
 *      bytes of input: libdeflate compresses a whole buffer at once (at level
 *      1, 27% less CPU than zlib's stream and 8% smaller output on the
 *      benchmark table), and a file of
 *      several members is one gzip file to every reader (gunzip, zlib,
 *      Python, Redshift's GZIP, Spark). Reading back uses zlib, which takes
 *      member after member.
 *  (2) zstd is libzstd's stream, one frame an object, with the frame's
 *      checksum on, so a reader tells a damaged object from a good one.
 *  (3) What a filter holds is fixed when the object begins and given back
 *      when it ends (compress_memory says how much): no allocation per write.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include "ferry/compress.h"

const char *const compress_names[] = {"none", "gzip", "zstd", NULL};

void compress_init(Compressor *c, Compression kind, int level,
                   bool (*next)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->level = level;
    c->next = next;
    c->ctx = ctx;
}

bool compress_begin(Compressor *c, FerryError *err)
{
    compress_abandon(c);
    c->in_len = 0;
    switch (c->kind) {
    case COMPRESS_NONE:
        return true;
    case COMPRESS_GZIP:
        if (c->deflater == NULL && (c->deflater = libdeflate_alloc_compressor(c->level)) == NULL)
            return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot start gzip (level %d)", c->level);
        if (c->in == NULL) {
            c->in = xmalloc(COMPRESS_MEMBER);
            c->out_cap = libdeflate_gzip_compress_bound(c->deflater, COMPRESS_MEMBER);
            c->out = xmalloc(c->out_cap);
        }
        break;
    case COMPRESS_ZSTD:
        if (c->zstd == NULL && (c->zstd = ZSTD_createCCtx()) == NULL)
            return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot start zstd");
        ZSTD_CCtx_reset(c->zstd, ZSTD_reset_session_and_parameters);
        if (ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_compressionLevel, c->level)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_checksumFlag, 1)))
            return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot set zstd level %d", c->level);
        if (c->out == NULL) {
            c->out_cap = ZSTD_CStreamOutSize();
            c->out = xmalloc(c->out_cap);
        }
        break;
    }
    c->running = true;
    return true;
}

/* (1) The member gathered so far, compressed and passed on. */
static bool gzip_member(Compressor *c, FerryError *err)
{
    size_t made = libdeflate_gzip_compress(c->deflater, c->in, c->in_len, c->out, c->out_cap);
    if (made == 0)
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: gzip output larger than its bound");
    c->in_len = 0;
    return c->next(c->ctx, (const char *)c->out, made, err);
}

/* (2) Feed zstd; with end, until the frame is closed. */
static bool zstd_on(Compressor *c, const char *data, size_t len, bool end, FerryError *err)
{
    ZSTD_inBuffer in = {data, len, 0};
    for (;;) {
        ZSTD_outBuffer out = {c->out, c->out_cap, 0};
        size_t left = ZSTD_compressStream2(c->zstd, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: zstd: %s", ZSTD_getErrorName(left));
        if (out.pos > 0 && !c->next(c->ctx, (const char *)c->out, out.pos, err))
            return false;
        if (end ? left == 0 : in.pos == in.size)
            return true;
    }
}

bool compress_write(Compressor *c, const char *data, size_t len, FerryError *err)
{
    switch (c->kind) {
    case COMPRESS_NONE:
        return c->next(c->ctx, data, len, err);
    case COMPRESS_ZSTD:
        return zstd_on(c, data, len, false, err);
    case COMPRESS_GZIP:
        while (len > 0) {
            size_t n = COMPRESS_MEMBER - c->in_len < len ? COMPRESS_MEMBER - c->in_len : len;
            memcpy(c->in + c->in_len, data, n);
            c->in_len += n;
            data += n;
            len -= n;
            if (c->in_len == COMPRESS_MEMBER && !gzip_member(c, err))
                return false;
        }
        return true;
    }
    return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: unknown compression");
}

bool compress_finish(Compressor *c, FerryError *err)
{
    bool ok = true;
    if (c->kind == COMPRESS_GZIP && c->running)
        ok = gzip_member(c, err); /* the last member; an empty object still gets one, so it is gzip */
    else if (c->kind == COMPRESS_ZSTD && c->running)
        ok = zstd_on(c, NULL, 0, true, err);
    compress_abandon(c);
    return ok;
}

void compress_abandon(Compressor *c)
{
    c->running = false;
    c->in_len = 0;
}

void compress_free(Compressor *c)
{
    compress_abandon(c);
    if (c->deflater != NULL)
        libdeflate_free_compressor(c->deflater);
    ZSTD_freeCCtx(c->zstd);
    free(c->in);
    free(c->out);
    c->deflater = NULL;
    c->zstd = NULL;
    c->in = NULL;
    c->out = NULL;
}

void decompress_init(Decompressor *d, Compression kind,
                     bool (*next)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->next = next;
    d->ctx = ctx;
}

static void inflate_stop(Decompressor *d)
{
    if (d->running && d->kind == COMPRESS_GZIP)
        inflateEnd(d->zs);
    d->running = false;
}

bool decompress_begin(Decompressor *d, FerryError *err)
{
    inflate_stop(d);
    d->ended = false;
    if (d->kind == COMPRESS_NONE)
        return true;
    if (d->buf == NULL) {
        d->buf_cap = d->kind == COMPRESS_ZSTD ? ZSTD_DStreamOutSize() : COMPRESS_BUFFER;
        d->buf = xmalloc(d->buf_cap);
    }
    if (d->kind == COMPRESS_ZSTD) {
        if (d->zstd == NULL && (d->zstd = ZSTD_createDCtx()) == NULL)
            return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot start unzstd");
        ZSTD_DCtx_reset(d->zstd, ZSTD_reset_session_only);
        d->ended = true; /* no frame begun yet: an empty object is whole */
        d->running = true;
        return true;
    }
    if (d->zs == NULL)
        d->zs = xcalloc(1, sizeof *d->zs);
    memset(d->zs, 0, sizeof *d->zs);
    if (inflateInit2(d->zs, 15 + 32) != Z_OK) /* +32: a gzip or zlib wrapper, found from the bytes */
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot start gunzip");
    d->running = true;
    return true;
}

static bool unzstd_write(Decompressor *d, const char *data, size_t len, FerryError *err)
{
    ZSTD_inBuffer in = {data, len, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer out = {d->buf, d->buf_cap, 0};
        size_t rc = ZSTD_decompressStream(d->zstd, &out, &in);
        if (ZSTD_isError(rc))
            return ferry_error(err, FERRY_ERR_SINK, 0, "damaged zstd data (%s)", ZSTD_getErrorName(rc));
        if (out.pos > 0 && !d->next(d->ctx, (const char *)d->buf, out.pos, err))
            return false;
        d->ended = rc == 0; /* 0: a frame came to its end, checksum checked */
    }
    return true;
}

bool decompress_write(Decompressor *d, const char *data, size_t len, FerryError *err)
{
    if (d->kind == COMPRESS_NONE)
        return d->next(d->ctx, data, len, err);
    if (d->kind == COMPRESS_ZSTD)
        return unzstd_write(d, data, len, err);
    z_stream *zs = d->zs;
    zs->next_in = (unsigned char *)(uintptr_t)data;
    zs->avail_in = (unsigned)len;
    for (;;) {
        zs->next_out = (unsigned char *)d->buf;
        zs->avail_out = (unsigned)d->buf_cap;
        int rc = inflate(zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return ferry_error(err, FERRY_ERR_SINK, rc, "damaged gzip data (%s)", zs->msg ? zs->msg : "inflate");
        size_t made = d->buf_cap - zs->avail_out;
        if (made > 0 && !d->next(d->ctx, d->buf, made, err))
            return false;
        d->ended = rc == Z_STREAM_END;
        if (d->ended && zs->avail_in > 0) {
            inflateReset(zs); /* another gzip member follows */
            continue;
        }
        if (d->ended || (zs->avail_out != 0 && zs->avail_in == 0))
            return true;
    }
}

bool decompress_finish(Decompressor *d, FerryError *err)
{
    if (d->kind == COMPRESS_NONE || d->ended)
        return true;
    return ferry_error(err, FERRY_ERR_SINK, 0, "%s data ends early (a cut or damaged file)",
                       d->kind == COMPRESS_ZSTD ? "zstd" : "gzip");
}

void decompress_free(Decompressor *d)
{
    inflate_stop(d);
    free(d->zs);
    ZSTD_freeDCtx(d->zstd);
    free(d->buf);
    d->zs = NULL;
    d->zstd = NULL;
    d->buf = NULL;
}

uint64_t compress_memory(Compression kind, int level)
{
    switch (kind) {
    case COMPRESS_NONE:
        return 0;
    case COMPRESS_GZIP: /* the member, its bound, and libdeflate's tables (a MiB covers every level) */
        return 2 * (uint64_t)COMPRESS_MEMBER + (1u << 20) + (64u << 10);
    case COMPRESS_ZSTD: {
        /* The stream's window and tables as libzstd 1.5 sizes them, with room (the unit tests check). */
        static const uint32_t kib[] = {1600, 1600, 2500, 4300, 5800, 7000, 7000, 10500, 10500, 20000};
        return (uint64_t)kib[level >= 1 && level <= 9 ? level : 9] * 1024 + ZSTD_CStreamOutSize();
    }
    }
    return 0;
}

const char *compress_suffix(Compression kind)
{
    return kind == COMPRESS_GZIP ? ".gz" : kind == COMPRESS_ZSTD ? ".zst" : "";
}
