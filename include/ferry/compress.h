/*
 * include/ferry/compress.h — compression as an output filter that any sink can put in front of its writes.
 *
 *   encoder (format.h) ─► OutBuf ─► compress_write ─► next (a file, an upload)
 *
 * One filter a handle, begun for each object (segment) and finished when it
 * is complete. gzip objects are one gzip member per COMPRESS_MEMBER bytes of
 * input (every gzip reader reads them as one file); zstd objects are one
 * frame with its checksum. What a filter holds is compress_memory's.
 */
#ifndef FERRY_COMPRESS_H
#define FERRY_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

typedef enum { COMPRESS_NONE = 0, COMPRESS_GZIP = 1, COMPRESS_ZSTD = 2 } Compression;

/* The option's choices, in Compression's order ("none", "gzip", "zstd"), NULL-terminated. */
extern const char *const compress_names[];

#define COMPRESS_BUFFER (256u * 1024u) /* a reader's output buffer */
#define COMPRESS_MEMBER (1u << 20)     /* input bytes per gzip member */

typedef struct Compressor {
    Compression kind;
    int level;                /* gzip: 1 (fast) to 9 (small); zstd: 1 to 9 */
    bool (*next)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;                /* borrowed: next's */
    bool running;             /* an object is being compressed */
    struct libdeflate_compressor *deflater; /* owned: gzip */
    struct ZSTD_CCtx_s *zstd; /* owned: zstd */
    char *in;                 /* owned: gzip, the member being gathered */
    size_t in_len;
    unsigned char *out;       /* owned: compressed output */
    size_t out_cap;
} Compressor;

void compress_init(Compressor *c, Compression kind, int level,
                   bool (*next)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx);
/* Start an object. */
bool compress_begin(Compressor *c, FerryError *err);
/* Filter bytes of the object on to next. */
bool compress_write(Compressor *c, const char *data, size_t len, FerryError *err);
/* End the object: what the filter still holds goes to next. */
bool compress_finish(Compressor *c, FerryError *err);
/* Drop an object half written (after a failure); harmless when none is. */
void compress_abandon(Compressor *c);
void compress_free(Compressor *c);

/*
 * The reverse, for reading objects back: gzip (one member or several) and
 * zstd (one frame or several) are decompressed on to next; none passes
 * bytes on. begin before each object.
 */
typedef struct Decompressor {
    Compression kind;
    bool (*next)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;                /* borrowed: next's */
    bool running;
    bool ended;               /* the last member or frame came to its end */
    struct z_stream_s *zs;    /* owned: gzip */
    struct ZSTD_DCtx_s *zstd; /* owned: zstd */
    char *buf;                /* owned: decompressed output */
    size_t buf_cap;
} Decompressor;

void decompress_init(Decompressor *d, Compression kind,
                     bool (*next)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx);
bool decompress_begin(Decompressor *d, FerryError *err);
bool decompress_write(Decompressor *d, const char *data, size_t len, FerryError *err);
/* False when the object ended inside a member or frame (a cut or damaged file). */
bool decompress_finish(Decompressor *d, FerryError *err);
void decompress_free(Decompressor *d);

/* The bytes a filter of this kind and level holds while compressing. */
uint64_t compress_memory(Compression kind, int level);
/* The file name suffix: "", ".gz" or ".zst". */
const char *compress_suffix(Compression kind);

#endif
