/*
 * include/ferry/compress.h — compression as an output filter that any sink can put in front of its writes.
 *
 *   encoder (format.h) ─► OutBuf ─► compress_write ─► next (a file, an upload)
 *
 * One filter a handle, begun for each object (segment) and finished when it
 * is complete. Memory: zlib's window and hash (about 256 KiB, whatever the
 * level) and one output buffer of COMPRESS_BUFFER bytes, while compressing.
 */
#ifndef FERRY_COMPRESS_H
#define FERRY_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "ferry/common.h"

typedef enum { COMPRESS_NONE = 0, COMPRESS_GZIP = 1 } Compression;

/* The option's choices, in Compression's order ("none", "gzip"), NULL-terminated. */
extern const char *const compress_names[];

#define COMPRESS_BUFFER (256u * 1024u)

typedef struct Compressor {
    Compression kind;
    int level;                /* gzip: 1 (fast) to 9 (small) */
    bool (*next)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;                /* borrowed: next's */
    bool running;             /* an object is being compressed */
    z_stream zs;
    unsigned char *zbuf;      /* owned: deflate's output, while compressing */
} Compressor;

void compress_init(Compressor *c, Compression kind, int level,
                   bool (*next)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx);
/* Start an object: a gzip stream (a gzip wrapper, so gunzip and Redshift's GZIP read it). */
bool compress_begin(Compressor *c, FerryError *err);
/* Filter bytes of the object on to next. */
bool compress_write(Compressor *c, const char *data, size_t len, FerryError *err);
/* End the object: what the filter still holds goes to next. */
bool compress_finish(Compressor *c, FerryError *err);
/* Drop an object half written (after a failure); harmless when none is. */
void compress_abandon(Compressor *c);
void compress_free(Compressor *c);
/*
 * The reverse, for reading objects back: gzip (one member or several) is
 * inflated on to next; none passes bytes on. begin before each object.
 */
typedef struct Decompressor {
    Compression kind;
    bool (*next)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;                /* borrowed: next's */
    bool running;
    bool ended;               /* the last gzip stream came to its end */
    z_stream zs;
    unsigned char *zbuf;      /* owned */
} Decompressor;

void decompress_init(Decompressor *d, Compression kind,
                     bool (*next)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx);
bool decompress_begin(Decompressor *d, FerryError *err);
bool decompress_write(Decompressor *d, const char *data, size_t len, FerryError *err);
/* False when the object ended inside a gzip stream (a cut or damaged file). */
bool decompress_finish(Decompressor *d, FerryError *err);
void decompress_free(Decompressor *d);

/* The bytes a filter of this kind holds while compressing. */
uint64_t compress_memory(Compression kind);
/* The file name suffix: "" or ".gz". */
const char *compress_suffix(Compression kind);

#endif
