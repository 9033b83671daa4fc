/*
 * sinks/compress.c — compression filters (compress.h): none passes bytes on, gzip deflates them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/compress.h"

const char *const compress_names[] = {"none", "gzip", NULL};

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
    if (c->kind == COMPRESS_NONE)
        return true;
    if (c->zbuf == NULL)
        c->zbuf = xmalloc(COMPRESS_BUFFER);
    memset(&c->zs, 0, sizeof c->zs);
    /* windowBits 15 + 16: a gzip wrapper. */
    if (deflateInit2(&c->zs, c->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot start gzip");
    c->running = true;
    return true;
}

/* Deflate what is in zs.next_in (all of it, and the stream's end with Z_FINISH) on to next. */
static bool deflate_on(Compressor *c, int flush, FerryError *err)
{
    int rc;
    do {
        c->zs.next_out = c->zbuf;
        c->zs.avail_out = COMPRESS_BUFFER;
        rc = deflate(&c->zs, flush);
        if (rc == Z_STREAM_ERROR)
            return ferry_error(err, FERRY_ERR_BUG, rc, "BUG: deflate stream error");
        size_t made = COMPRESS_BUFFER - c->zs.avail_out;
        if (made > 0 && !c->next(c->ctx, (const char *)c->zbuf, made, err))
            return false;
    } while (c->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return true;
}

bool compress_write(Compressor *c, const char *data, size_t len, FerryError *err)
{
    if (c->kind == COMPRESS_NONE)
        return c->next(c->ctx, data, len, err);
    c->zs.next_in = (unsigned char *)(uintptr_t)data;
    c->zs.avail_in = (unsigned)len;
    return deflate_on(c, Z_NO_FLUSH, err);
}

bool compress_finish(Compressor *c, FerryError *err)
{
    if (c->kind == COMPRESS_NONE)
        return true;
    bool ok = deflate_on(c, Z_FINISH, err);
    compress_abandon(c);
    return ok;
}

void compress_abandon(Compressor *c)
{
    if (c->running)
        deflateEnd(&c->zs);
    c->running = false;
}

void compress_free(Compressor *c)
{
    compress_abandon(c);
    free(c->zbuf);
    c->zbuf = NULL;
}

void decompress_init(Decompressor *d, Compression kind,
                     bool (*next)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->next = next;
    d->ctx = ctx;
}

bool decompress_begin(Decompressor *d, FerryError *err)
{
    if (d->running)
        inflateEnd(&d->zs);
    d->running = false;
    if (d->kind == COMPRESS_NONE)
        return true;
    if (d->zbuf == NULL)
        d->zbuf = xmalloc(COMPRESS_BUFFER);
    memset(&d->zs, 0, sizeof d->zs);
    if (inflateInit2(&d->zs, 15 + 32) != Z_OK) /* +32: a gzip or zlib wrapper, found from the bytes */
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "cannot start gunzip");
    d->running = true;
    d->ended = false;
    return true;
}

bool decompress_write(Decompressor *d, const char *data, size_t len, FerryError *err)
{
    if (d->kind == COMPRESS_NONE)
        return d->next(d->ctx, data, len, err);
    d->zs.next_in = (unsigned char *)(uintptr_t)data;
    d->zs.avail_in = (unsigned)len;
    for (;;) {
        d->zs.next_out = d->zbuf;
        d->zs.avail_out = COMPRESS_BUFFER;
        int rc = inflate(&d->zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return ferry_error(err, FERRY_ERR_SINK, rc, "damaged gzip data (%s)", d->zs.msg ? d->zs.msg : "inflate");
        size_t made = COMPRESS_BUFFER - d->zs.avail_out;
        if (made > 0 && !d->next(d->ctx, (const char *)d->zbuf, made, err))
            return false;
        d->ended = rc == Z_STREAM_END;
        if (d->ended && d->zs.avail_in > 0) {
            inflateReset(&d->zs); /* another gzip member follows */
            continue;
        }
        if (d->ended || (d->zs.avail_out != 0 && d->zs.avail_in == 0))
            return true;
    }
}

bool decompress_finish(Decompressor *d, FerryError *err)
{
    if (d->kind == COMPRESS_NONE || d->ended)
        return true;
    return ferry_error(err, FERRY_ERR_SINK, Z_BUF_ERROR, "gzip data ends early (a cut or damaged file)");
}

void decompress_free(Decompressor *d)
{
    if (d->running)
        inflateEnd(&d->zs);
    d->running = false;
    free(d->zbuf);
    d->zbuf = NULL;
}

uint64_t compress_memory(Compression kind)
{
    return kind == COMPRESS_GZIP ? COMPRESS_BUFFER + (256u << 10) : 0;
}

const char *compress_suffix(Compression kind)
{
    return kind == COMPRESS_GZIP ? ".gz" : "";
}
