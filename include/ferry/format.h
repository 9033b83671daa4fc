/*
 * include/ferry/format.h — rows as NDJSON or CSV, written through a bounded output buffer.
 *
 * Shared by the sinks that write files or objects (dir, and the blob stores).
 *
 * JSON mapping of PostgreSQL values:
 *   int2, int4, int8, oid      number
 *   float4, float8             number; NaN, Infinity, -Infinity as strings
 *   numeric                    string, exact ("12.50"; "NaN")
 *   bool                       true / false
 *   json, jsonb                embedded as JSON
 *   arrays                     arrays (nested for several dimensions), elements mapped alike
 *   bytea                      string, base64
 *   timestamptz                string, ISO-8601 in UTC: "2024-01-02T03:04:05.123456Z"
 *   timestamp                  string, ISO-8601 without zone: "2024-01-02T03:04:05"
 *                              (years before 1 and after 9999 in ISO's expanded form:
 *                              "-4713-11-24T00:00:00Z" for 4714 BC, "+10000-01-01T…")
 *   NULL                       null, or the field left out (nulls = omit)
 *   anything else              string, PostgreSQL's text form (dates, uuid, intervals, …;
 *                              also infinite timestamps)
 *
 * An array is written with its elements only: bounds other than 1
 * ("[0:1]={1,2}") are not kept, so [0:1]={1,2} and {1,2} both become [1,2].
 * SQL NULL is null, as a json null is; nulls = omit leaves SQL NULL fields
 * out instead, and the two can be told apart.
 *
 * CSV (RFC 4180, loadable by PostgreSQL and Redshift COPY … CSV): one line per
 * row ending in "\n"; NULL is an empty unquoted field, an empty string is "";
 * a field holding a comma, quote, CR, LF or backslash is quoted, with quotes
 * doubled; values are PostgreSQL's text form.
 */
#ifndef FERRY_FORMAT_H
#define FERRY_FORMAT_H

#include <string.h>

#include "ferry/batch.h"
#include "ferry/common.h"

typedef enum { FORMAT_NDJSON = 0, FORMAT_CSV = 1 } RowFormat;

/*
 * A bounded output buffer. Appends go to `data`; when it is full it is handed
 * to `drain`, which writes it on (to a file, through gzip, to an upload).
 * The first drain failure is kept in `error` and later appends do nothing.
 */
typedef struct OutBuf {
    char *data;               /* owned */
    size_t len, cap;
    bool (*drain)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;                /* borrowed: the drain's */
    bool failed;
    FerryError error;
} OutBuf;

void outbuf_init(OutBuf *out, size_t cap, bool (*drain)(void *, const char *, size_t, FerryError *),
                 void *ctx);
void outbuf_free(OutBuf *out);
bool outbuf_flush(OutBuf *out);
void outbuf_write_slow(OutBuf *out, const void *data, size_t len);

/* Append; the common case (it fits) is a memcpy. */
static inline void outbuf_write(OutBuf *out, const void *data, size_t len)
{
    if (len <= out->cap - out->len) {
        memcpy(out->data + out->len, data, len);
        out->len += len;
        return;
    }
    outbuf_write_slow(out, data, len);
}

static inline void outbuf_putc(OutBuf *out, char c)
{
    if (out->len == out->cap && !outbuf_flush(out))
        return;
    out->data[out->len++] = c;
}

/* Writes rows of one table's shape; keeps scratch space between batches. */
typedef struct RowWriter {
    RowFormat format;
    bool csv_header;
    bool omit_nulls;          /* NDJSON: a SQL NULL field is left out rather than null */
    const TableShape *shape;  /* borrowed: must outlive every use but row_writer_free */
    int nnames;
    char **json_prefix;       /* owned: what goes before each value, "{\"name\":" or ",\"name\":";
                                 from its second byte on, the column's JSON-encoded name and colon */
    size_t *json_prefix_len;  /* owned */
    char *scratch;            /* owned: unescaped array elements */
    size_t scratch_cap;
} RowWriter;

void row_writer_init(RowWriter *writer, RowFormat format, bool csv_header, bool omit_nulls,
                     const TableShape *shape);
void row_writer_free(RowWriter *writer);
/* The header line (CSV with csv_header), written once at the start of a file. */
void row_writer_header(RowWriter *writer, OutBuf *out);
/* Write every row of the batch. False (with err) when the buffer's drain failed. */
bool row_writer_batch(RowWriter *writer, OutBuf *out, const RowBatch *batch, FerryError *err);

/* One non-NULL value exactly as this writer puts it in a row (a JSON value, or a CSV field). */
void row_writer_value(RowWriter *writer, OutBuf *out, const Column *col, const char *text, size_t len);

/*
 * Reading rows back (verify). A RowReader takes a file's bytes in any pieces
 * and calls `on_row` for each complete row with the raw text of the fields
 * asked for, exactly as written: for NDJSON the members named in `names`
 * (JSON-encoded names, as in RowWriter.json_prefix, without the separator and the colon), for
 * CSV the fields at `indexes`. Memory: one row at a time.
 */
typedef struct RowReader {
    RowFormat format;
    bool skip_header;         /* CSV written with a header line */
    int nfields;
    const char *const *names; /* borrowed: NDJSON */
    const int *indexes;       /* borrowed: CSV */
    void (*on_row)(void *ctx, const char *const *fields, const size_t *lengths);
    void *ctx;
    char *row;                /* owned: the row being gathered */
    size_t row_len, row_cap;
    bool in_quotes;           /* CSV: inside a quoted field */
    bool header_done;
    int64_t rows;
    bool malformed;           /* a row could not be read: not all asked fields found */
    bool deleted;             /* NDJSON: the row on_row is called for is a tombstone ({"_deleted":true,…}) */
} RowReader;

void row_reader_init(RowReader *reader, RowFormat format, bool skip_header, int nfields,
                     const char *const *names, const int *indexes,
                     void (*on_row)(void *, const char *const *, const size_t *), void *ctx);
void row_reader_feed(RowReader *reader, const char *data, size_t len);
/* Hand over a last row without a final newline. */
void row_reader_finish(RowReader *reader);
void row_reader_free(RowReader *reader);

/*
 * A PostgreSQL array literal — optional "[l:u]=" dimensions, then braces
 * holding elements separated by the element type's delimiter; elements are
 * NULL, unquoted, or double-quoted with backslash escapes; nested braces are
 * further dimensions — walked as events: open and close for each pair of
 * braces (the outermost included), element for each value, with its index in
 * its own array. An element's text is unescaped into *scratch (grown as
 * needed; the caller frees it) and NUL-terminated. False, and no event, when
 * the text is no array literal.
 */
typedef struct PgArrayVisitor {
    void (*open)(void *ctx, int index);
    void (*close)(void *ctx);
    void (*element)(void *ctx, int index, const char *text, size_t len, bool is_null);
    void *ctx;
} PgArrayVisitor;

bool pg_array_walk(const char *text, size_t len, char delim, const PgArrayVisitor *visitor,
                   char **scratch, size_t *scratch_cap);

/* The value of one hexadecimal digit, or -1. */
static inline int format_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* FNV-1a, 64 bits, continued from `hash` (start with FORMAT_HASH_SEED). */
#define FORMAT_HASH_SEED 14695981039346656037ull
uint64_t format_hash(uint64_t hash, const void *data, size_t len);

/*
 * PostgreSQL's ISO text of a timestamp ("2024-01-02 03:04:05.5+00",
 * "4714-11-24 00:00:00+00 BC") as ISO 8601 ("2024-01-02T03:04:05.5Z",
 * "-4713-11-24T00:00:00Z"; years past 9999 as "+10000-…") into out, which
 * holds len + 8 bytes. Returns the length, or 0 when the text is no finite
 * timestamp (infinity), which is then written as it is.
 */
size_t format_iso_timestamp(const char *text, size_t len, bool with_zone, char *out);

/* One value as JSON (for tests and other sinks). */
void format_json_value(RowWriter *writer, OutBuf *out, FerryOid type, FerryOid elem_type,
                       char elem_delim, const char *text, size_t len);
void format_json_string(OutBuf *out, const char *text, size_t len);

#endif
