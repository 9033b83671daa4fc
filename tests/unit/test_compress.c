/*
 * tests/unit/test_compress.c — the compression filters: round trips, several gzip members read as one, cut objects told, zstd's memory within its estimate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "ferry/compress.h"
#include "tap.h"

typedef struct Sink {
    char *data;
    size_t len, cap;
} Sink;

static bool collect(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    Sink *s = ctx;
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->data = realloc(s->data, s->cap);
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return true;
}

/* Compress `input` in writes of `chunk` bytes; the object's bytes into *out. */
static bool squeeze(Compression kind, int level, const char *input, size_t len, size_t chunk, Sink *out)
{
    Compressor c;
    FerryError err;
    compress_init(&c, kind, level, collect, out);
    bool ok = compress_begin(&c, &err);
    for (size_t at = 0; ok && at < len; at += chunk)
        ok = compress_write(&c, input + at, len - at < chunk ? len - at : chunk, &err);
    ok = ok && compress_finish(&c, &err);
    compress_free(&c);
    return ok;
}

/* Decompress `len` bytes fed in pieces of `chunk`; false (and *whole false) when the object is cut. */
static bool expand(Compression kind, const char *data, size_t len, size_t chunk, Sink *out, bool *whole)
{
    Decompressor d;
    FerryError err;
    decompress_init(&d, kind, collect, out);
    bool ok = decompress_begin(&d, &err);
    for (size_t at = 0; ok && at < len; at += chunk)
        ok = decompress_write(&d, data + at, len - at < chunk ? len - at : chunk, &err);
    *whole = ok && decompress_finish(&d, &err);
    decompress_free(&d);
    return ok;
}

static size_t gzip_members(const Sink *s)
{
    size_t n = 0;
    for (size_t i = 0; i + 2 < s->len; i++) /* a member header: 1f 8b 08, counted where it can begin */
        n += (unsigned char)s->data[i] == 0x1f && (unsigned char)s->data[i + 1] == 0x8b && s->data[i + 2] == 8;
    return n;
}

void test_compress(void)
{
    size_t len = 3 * COMPRESS_MEMBER + 12345;
    char *input = malloc(len);
    for (size_t at = 0, row = 0; at < len; row++)
        at += (size_t)snprintf(input + at, len - at, "{\"id\":%zu,\"v\":\"%08zx\"}\n", row, row * 2654435761u) ;

    struct { Compression kind; int level; const char *name; } cases[] = {
        {COMPRESS_GZIP, 1, "gzip 1"}, {COMPRESS_GZIP, 9, "gzip 9"}, {COMPRESS_ZSTD, 1, "zstd 1"}, {COMPRESS_ZSTD, 9, "zstd 9"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Sink packed = {0}, back = {0};
        bool whole = false;
        ok(squeeze(cases[i].kind, cases[i].level, input, len, 65537, &packed) && packed.len < len / 2,
           "%s: %zu bytes become %zu", cases[i].name, len, packed.len);
        ok(expand(cases[i].kind, packed.data, packed.len, 4099, &back, &whole) && whole && back.len == len &&
               memcmp(back.data, input, len) == 0,
           "%s: read back in odd pieces, the same bytes", cases[i].name);
        if (cases[i].kind == COMPRESS_GZIP)
            ok(gzip_members(&packed) >= 4, "%s: one member per MiB of input, read as one file (%zu members)",
               cases[i].name, gzip_members(&packed));
        back.len = 0;
        bool cut_ok = expand(cases[i].kind, packed.data, packed.len - 7, 4099, &back, &whole);
        ok(!(cut_ok && whole), "%s: an object cut short is told, not taken for whole", cases[i].name);
        free(packed.data);
        free(back.data);
    }

    Sink empty = {0}, back = {0};
    bool whole = false;
    ok(squeeze(COMPRESS_GZIP, 1, "", 0, 1, &empty) && empty.len > 0 && expand(COMPRESS_GZIP, empty.data, empty.len, 3, &back, &whole) &&
           whole && back.len == 0,
       "gzip: an empty object is still a gzip file, of nothing");
    free(empty.data);
    free(back.data);

    /* zstd holds no more than compress_memory says, at every level ferry takes. */
    bool within = true;
    char detail[256] = "";
    for (int level = 1; level <= 9; level++) {
        Compressor c;
        FerryError err;
        Sink sink = {0};
        compress_init(&c, COMPRESS_ZSTD, level, collect, &sink);
        compress_begin(&c, &err);
        compress_write(&c, input, len, &err);
        compress_finish(&c, &err);
        size_t held = ZSTD_sizeof_CCtx(c.zstd) + c.out_cap;
        if (held > compress_memory(COMPRESS_ZSTD, level)) {
            within = false;
            snprintf(detail, sizeof detail, "level %d holds %zu > %llu", level, held,
                     (unsigned long long)compress_memory(COMPRESS_ZSTD, level));
        }
        compress_free(&c);
        free(sink.data);
    }
    ok(within, "zstd levels 1-9 hold no more than compress_memory says %s", detail);
    free(input);
}
