/*
 * sinks/format.c — encodes rows as NDJSON or CSV into a bounded output buffer (mapping in format.h).
 *
 * Design notes
 *  (1) Values are encoded straight from the batch arena into the output
 *      buffer: no value is copied or allocated on the way, except array
 *      elements that need unescaping, which use one reused scratch buffer.
 *  (2) The output buffer never grows: a value larger than the buffer is
 *      written through in pieces, so a 4 MB value costs no 4 MB copy.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>

#include "ferry/format.h"

/* ---- output buffer ---- */

void outbuf_init(OutBuf *out, size_t cap, bool (*drain)(void *, const char *, size_t, FerryError *),
                 void *ctx)
{
    memset(out, 0, sizeof *out);
    out->data = xmalloc_aligned(FERRY_DIRECT_IO_ALIGN, cap); /* a full buffer is whole blocks for direct I/O */
    out->cap = cap;
    out->drain = drain;
    out->ctx = ctx;
}

void outbuf_free(OutBuf *out)
{
    free(out->data);
    out->data = NULL;
    out->len = out->cap = 0;
}

bool outbuf_flush(OutBuf *out)
{
    if (out->failed)
        return false;
    if (out->len > 0 && !out->drain(out->ctx, out->data, out->len, &out->error)) {
        out->failed = true;
        return false;
    }
    out->len = 0;
    return true;
}

void outbuf_write_slow(OutBuf *out, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0 && !out->failed) {
        if (out->len == out->cap && !outbuf_flush(out))
            return;
        size_t n = out->cap - out->len < len ? out->cap - out->len : len;
        memcpy(out->data + out->len, p, n);
        out->len += n;
        p += n;
        len -= n;
    }
}

static void outbuf_puts(OutBuf *out, const char *s) { outbuf_write(out, s, strlen(s)); }

/* ---- JSON ---- */

/*
 * Does any byte of the word need escaping in JSON (below 0x20, '"' or '\\')?
 * The classic SWAR tests: a byte below n, and a byte equal to c.
 */
static inline bool word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t below_space = (w - ones * 0x20) & ~w & highs;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t has_quote = (quote - ones) & ~quote & highs;
    uint64_t has_backslash = (backslash - ones) & ~backslash & highs;
    return (below_space | has_quote | has_backslash) != 0;
}

/* Write one byte that needs escaping. */
static void json_escape_byte(OutBuf *out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 0};
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        outbuf_write(out, esc, 6);
        return;
    }
    outbuf_write(out, esc, 2);
}

/* Write bytes [*run, to) with the escapes of those in [from, to) that need one; *run = to. */
static void json_escape_span(OutBuf *out, const char *text, size_t *run, size_t from, size_t to)
{
    for (size_t j = from; j < to; j++) {
        unsigned char c = (unsigned char)text[j];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        outbuf_write(out, text + *run, j - *run);
        json_escape_byte(out, c);
        *run = j + 1;
    }
}

void format_json_string(OutBuf *out, const char *text, size_t len)
{
    outbuf_putc(out, '"');
    size_t run = 0; /* start of the bytes not yet written */
    size_t i = 0;
    /* Most text needs no escaping: test it a word at a time. */
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, text + i, 8);
        if (word_needs_escape(w))
            json_escape_span(out, text, &run, i, i + 8);
    }
    if (i < len) {
        uint64_t w = 0x2020202020202020ull; /* the short last word, padded with spaces: they need none */
        memcpy(&w, text + i, len - i);
        if (word_needs_escape(w))
            json_escape_span(out, text, &run, i, len);
    }
    outbuf_write(out, text + run, len - run);
    outbuf_putc(out, '"');
}

/* bytea arrives as "\x" followed by hex digits (bytea_output = hex); it leaves as base64. */
static void json_bytea(OutBuf *out, const char *text, size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len < 2 || text[0] != '\\' || text[1] != 'x' || (len - 2) % 2 != 0) {
        format_json_string(out, text, len); /* not hex output: keep the text */
        return;
    }
    outbuf_putc(out, '"');
    unsigned char group[3];
    int n = 0;
    for (size_t i = 2; i + 1 < len; i += 2) {
        int hi = format_hex_digit(text[i]), lo = format_hex_digit(text[i + 1]);
        group[n++] = (unsigned char)((hi < 0 ? 0 : hi) << 4 | (lo < 0 ? 0 : lo));
        if (n == 3) {
            char quad[4] = {b64[group[0] >> 2], b64[(group[0] & 3) << 4 | group[1] >> 4],
                            b64[(group[1] & 15) << 2 | group[2] >> 6], b64[group[2] & 63]};
            outbuf_write(out, quad, 4);
            n = 0;
        }
    }
    if (n > 0) {
        if (n == 1)
            group[1] = 0;
        char quad[4] = {b64[group[0] >> 2], b64[(group[0] & 3) << 4 | group[1] >> 4],
                        n == 2 ? b64[(group[1] & 15) << 2] : '=', '='};
        outbuf_write(out, quad, 4);
    }
    outbuf_putc(out, '"');
}

size_t format_iso_timestamp(const char *text, size_t len, bool with_zone, char *out)
{
    const char *end = text + len;
    bool bc = len > 3 && memcmp(end - 3, " BC", 3) == 0;
    if (bc)
        end -= 3;
    if (with_zone) { /* TimeZone is UTC: the offset is always +00 */
        if (end - text < 3 || memcmp(end - 3, "+00", 3) != 0)
            return 0;
        end -= 3;
    }
    size_t ydigits = 4; /* PostgreSQL writes at least four; more only past 9999 */
    if (end - text < 19 || !isdigit((unsigned char)text[0]) || !isdigit((unsigned char)text[3]))
        return 0;
    while (text + ydigits < end && isdigit((unsigned char)text[ydigits]))
        ydigits++;
    /* After the year: "-MM-DD HH:MM:SS" and maybe ".ffffff". */
    const char *rest = text + ydigits;
    if (ydigits < 4 || ydigits > 9 || end - rest < 15 || rest[0] != '-' || rest[3] != '-' || rest[6] != ' ' ||
        rest[9] != ':' || rest[12] != ':')
        return 0;
    size_t n = 0;
    if (!bc && ydigits == 4) { /* every common timestamp: the year as it is, no arithmetic */
        memcpy(out, text, 4);
        n = 4;
    } else {
        long year = 0;
        for (size_t i = 0; i < ydigits; i++)
            year = year * 10 + (text[i] - '0');
        if (bc) /* 1 BC is ISO year 0000, 2 BC is -0001 */
            year = 1 - year;
        if (year < 0)
            out[n++] = '-';
        else if (year > 9999)
            out[n++] = '+';
        unsigned long magnitude = (unsigned long)(year < 0 ? -year : year);
        char digits[24];
        int d = 0;
        do
            digits[d++] = (char)('0' + magnitude % 10);
        while ((magnitude /= 10) > 0);
        while (d < 4)
            digits[d++] = '0';
        while (d > 0)
            out[n++] = digits[--d];
    }
    size_t m = (size_t)(end - rest);
    memcpy(out + n, rest, m);
    out[n + 6] = 'T';
    n += m;
    if (with_zone)
        out[n++] = 'Z';
    return n;
}

/* A timestamp as its ISO 8601 string (format_iso_timestamp); infinity and other forms stay text. */
static void json_timestamp(OutBuf *out, const char *text, size_t len, bool with_zone)
{
    if (len > FERRY_TIMESTAMP_TEXT_MAX) {
        format_json_string(out, text, len);
        return;
    }
    if (out->cap - out->len >= FERRY_TIMESTAMP_TEXT_MAX + 10) { /* room: straight into the buffer */
        char *at = out->data + out->len;
        size_t n = format_iso_timestamp(text, len, with_zone, at + 1);
        if (n > 0) {
            at[0] = '"';
            at[n + 1] = '"';
            out->len += n + 2;
            return;
        }
    } else {
        char iso[FERRY_TIMESTAMP_TEXT_MAX + 8];
        size_t n = format_iso_timestamp(text, len, with_zone, iso);
        if (n > 0) {
            outbuf_putc(out, '"');
            outbuf_write(out, iso, n);
            outbuf_putc(out, '"');
            return;
        }
    }
    format_json_string(out, text, len); /* infinity */
}

/* One level of braces, from its '{'; returns the position after its '}'. */
static const char *array_level(const char *p, const char *end, char delim, const PgArrayVisitor *v,
                               char **scratch, size_t *scratch_cap)
{
    p++; /* '{' */
    int index = 0;
    while (p < end) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end)
            break;
        if (*p == '}') {
            p++;
            break;
        }
        if (*p == delim) {
            p++;
            continue;
        }
        if (*p == '{') {
            v->open(v->ctx, index++);
            p = array_level(p, end, delim, v, scratch, scratch_cap);
            v->close(v->ctx);
            continue;
        }
        bool quoted = *p == '"';
        if (quoted)
            p++;
        char *buf = *scratch; /* holds the whole array text (pg_array_walk) */
        size_t n = 0;
        bool escaped_any = false;
        while (p < end) {
            if (quoted ? *p == '"' : (*p == delim || *p == '}'))
                break;
            if (*p == '\\' && p + 1 < end) {
                p++;
                escaped_any = true;
            }
            buf[n++] = *p++;
        }
        if (quoted && p < end)
            p++; /* closing quote */
        if (!quoted)
            while (n > 0 && isspace((unsigned char)buf[n - 1]))
                n--;
        buf[n] = '\0';
        bool is_null = !quoted && !escaped_any && n == 4 && strncasecmp(buf, "NULL", 4) == 0;
        v->element(v->ctx, index++, buf, n, is_null);
    }
    return p;
}

bool pg_array_walk(const char *text, size_t len, char delim, const PgArrayVisitor *visitor,
                   char **scratch, size_t *scratch_cap)
{
    const char *p = text, *end = text + len;
    if (p < end && *p == '[') { /* dimension decoration: "[0:1]={...}" */
        const char *eq = memchr(p, '=', len);
        p = eq ? eq + 1 : end;
    }
    /* No element is longer than the text: one size of scratch serves them all. */
    if (p >= end || *p != '{' || !xgrow(scratch, scratch_cap, len + 1, (size_t)FERRY_VALUE_MAX + 1))
        return false;
    visitor->open(visitor->ctx, 0);
    array_level(p, end, delim ? delim : ',', visitor, scratch, scratch_cap);
    visitor->close(visitor->ctx);
    return true;
}

/* Arrays as JSON: the walker's events become brackets, commas and mapped elements. */
typedef struct JsonArray {
    RowWriter *writer;
    OutBuf *out;
    FerryOid elem;
} JsonArray;

static void json_array_open(void *ctx, int index)
{
    JsonArray *a = ctx;
    if (index > 0)
        outbuf_putc(a->out, ',');
    outbuf_putc(a->out, '[');
}

static void json_array_close(void *ctx)
{
    outbuf_putc(((JsonArray *)ctx)->out, ']');
}

static void json_array_element(void *ctx, int index, const char *text, size_t len, bool is_null)
{
    JsonArray *a = ctx;
    if (index > 0)
        outbuf_putc(a->out, ',');
    if (is_null)
        outbuf_puts(a->out, "null");
    else
        format_json_value(a->writer, a->out, a->elem, 0, ',', text, len);
}

void format_json_value(RowWriter *writer, OutBuf *out, FerryOid type, FerryOid elem_type,
                       char elem_delim, const char *text, size_t len)
{
    if (elem_type != 0) {
        JsonArray array = {.writer = writer, .out = out, .elem = elem_type};
        const PgArrayVisitor visitor = {json_array_open, json_array_close, json_array_element, &array};
        if (!pg_array_walk(text, len, elem_delim, &visitor, &writer->scratch, &writer->scratch_cap))
            format_json_string(out, text, len); /* not an array literal after all: keep the text */
        return;
    }
    switch (type) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        outbuf_write(out, text, len);
        return;
    case OID_FLOAT4:
    case OID_FLOAT8:
        if (len > 0 && (isdigit((unsigned char)text[len - 1]) || text[len - 1] == '.'))
            outbuf_write(out, text, len); /* finite */
        else
            format_json_string(out, text, len); /* NaN, Infinity, -Infinity */
        return;
    case OID_BOOL:
        if (len > 0 && text[0] == 't')
            outbuf_write(out, "true", 4);
        else
            outbuf_write(out, "false", 5);
        return;
    case OID_JSON:
    case OID_JSONB:
        outbuf_write(out, text, len);
        return;
    case OID_BYTEA:
        json_bytea(out, text, len);
        return;
    case OID_TIMESTAMPTZ:
        json_timestamp(out, text, len, true);
        return;
    case OID_TIMESTAMP:
        json_timestamp(out, text, len, false);
        return;
    default: /* numeric (exact), text, date, uuid, and everything else */
        format_json_string(out, text, len);
        return;
    }
}

/* ---- CSV ---- */

static void csv_field(OutBuf *out, const char *text, size_t len)
{
    bool quote = len == 0;
    for (size_t i = 0; i < len && !quote; i++) {
        char c = text[i];
        quote = c == ',' || c == '"' || c == '\n' || c == '\r' || c == '\\';
    }
    if (!quote) {
        outbuf_write(out, text, len);
        return;
    }
    outbuf_putc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"') {
            outbuf_write(out, text + run, i + 1 - run);
            run = i; /* the quote is written again: doubled */
        }
    }
    outbuf_write(out, text + run, len - run);
    outbuf_putc(out, '"');
}

/* ---- reading rows back ---- */

uint64_t format_hash(uint64_t hash, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= 1099511628211ull;
    }
    return hash;
}

void row_reader_init(RowReader *reader, RowFormat format, bool skip_header, int nfields,
                     const char *const *names, const int *indexes,
                     void (*on_row)(void *, const char *const *, const size_t *), void *ctx)
{
    memset(reader, 0, sizeof *reader);
    reader->format = format;
    reader->skip_header = skip_header;
    reader->nfields = nfields;
    reader->names = names;
    reader->indexes = indexes;
    reader->on_row = on_row;
    reader->ctx = ctx;
}

void row_reader_free(RowReader *reader)
{
    free(reader->row);
    reader->row = NULL;
}

/* The end of the JSON value starting at p (a string, object, array or scalar), or NULL. */
static const char *json_skip(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = json_skip(p, end);
                if (p == NULL)
                    return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']')
        p++;
    return p;
}

static void reader_emit(RowReader *reader)
{
    const char *fields[FERRY_KEY_COLUMNS_MAX];
    size_t lengths[FERRY_KEY_COLUMNS_MAX];
    int found = 0;
    const char *p = reader->row != NULL ? reader->row : "", *end = p + reader->row_len; /* an empty row has no buffer */
    for (int i = 0; i < reader->nfields; i++)
        fields[i] = NULL;
    reader->deleted = false;
    if (reader->format == FORMAT_NDJSON) {
        /* {"name":value,...}: compare each member's raw name with the ones asked for. */
        reader->deleted = (size_t)(end - p) >= 16 && memcmp(p, "{\"_deleted\":true", 16) == 0; /* json_tombstone */
        if (p < end && *p == '{')
            p++;
        while (p < end && *p == '"') {
            const char *name_end = json_skip(p, end);
            if (name_end == NULL || name_end >= end || *name_end != ':')
                break;
            const char *value = name_end + 1, *value_end = json_skip(value, end);
            if (value_end == NULL)
                break;
            for (int i = 0; i < reader->nfields; i++) {
                size_t nlen = strlen(reader->names[i]);
                if (fields[i] == NULL && (size_t)(name_end - p) == nlen && memcmp(p, reader->names[i], nlen) == 0) {
                    fields[i] = value;
                    lengths[i] = (size_t)(value_end - value);
                    found++;
                }
            }
            p = value_end < end && *value_end == ',' ? value_end + 1 : value_end;
        }
    } else {
        /* CSV: fields in order, a quoted field may hold commas, quotes ("") and newlines. */
        int index = 0;
        for (;;) {
            const char *start = p;
            if (p < end && *p == '"') {
                for (p++; p < end; p++) {
                    if (*p == '"' && p + 1 < end && p[1] == '"')
                        p++;
                    else if (*p == '"')
                        break;
                }
                if (p < end)
                    p++;
            }
            while (p < end && *p != ',')
                p++;
            for (int i = 0; i < reader->nfields; i++) {
                if (reader->indexes[i] == index && fields[i] == NULL) {
                    fields[i] = start;
                    lengths[i] = (size_t)(p - start);
                    found++;
                }
            }
            if (p >= end)
                break;
            p++; /* ',' */
            index++;
        }
    }
    reader->rows++;
    if (found != reader->nfields) {
        reader->malformed = true;
        return;
    }
    reader->on_row(reader->ctx, fields, lengths);
}

void row_reader_feed(RowReader *reader, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == '"' && reader->format == FORMAT_CSV)
            reader->in_quotes = !reader->in_quotes; /* a doubled quote toggles twice */
        if (c == '\n' && !reader->in_quotes) {
            if (reader->skip_header && !reader->header_done)
                reader->header_done = true;
            else
                reader_emit(reader);
            reader->row_len = 0;
            continue;
        }
        if (reader->row_len + 1 >= reader->row_cap) {
            reader->row_cap = reader->row_cap ? reader->row_cap * 2 : 4096;
            reader->row = xrealloc(reader->row, reader->row_cap);
        }
        reader->row[reader->row_len++] = c;
    }
}

void row_reader_finish(RowReader *reader)
{
    if (reader->row_len > 0)
        reader_emit(reader);
    reader->row_len = 0;
}

/* ---- rows ---- */

void row_writer_init(RowWriter *writer, RowFormat format, bool csv_header, bool omit_nulls,
                     const TableShape *shape)
{
    memset(writer, 0, sizeof *writer);
    writer->format = format;
    writer->csv_header = csv_header;
    writer->omit_nulls = omit_nulls;
    writer->shape = shape;
    writer->nnames = shape->nout;
    writer->json_prefix = xcalloc((size_t)shape->nout, sizeof(char *));
    writer->json_prefix_len = xcalloc((size_t)shape->nout, sizeof(size_t));
    for (int c = 0; c < shape->nout; c++) {
        /* Encode each column name once, "{\"name\":" or ",\"name\":", into a
         * buffer that cannot fill: an escaped byte takes at most 6 bytes. */
        size_t name_len = strlen(shape->cols[c].name);
        OutBuf tmp = {.cap = name_len * 6 + 8};
        tmp.data = xmalloc(tmp.cap);
        outbuf_putc(&tmp, c == 0 ? '{' : ',');
        format_json_string(&tmp, shape->cols[c].name, name_len);
        outbuf_putc(&tmp, ':');
        writer->json_prefix[c] = xstrndup(tmp.data, tmp.len);
        writer->json_prefix_len[c] = tmp.len;
        free(tmp.data);
    }
}

void row_writer_free(RowWriter *writer)
{
    for (int c = 0; c < writer->nnames; c++) /* not through shape: it may be gone by now */
        free(writer->json_prefix[c]);
    free(writer->json_prefix);
    free(writer->json_prefix_len);
    free(writer->scratch);
    memset(writer, 0, sizeof *writer);
}

void row_writer_value(RowWriter *writer, OutBuf *out, const Column *col, const char *text, size_t len)
{
    if (writer->format == FORMAT_NDJSON)
        format_json_value(writer, out, col->type, col->elem_type, col->elem_delim, text, len);
    else
        csv_field(out, text, len);
}

void row_writer_header(RowWriter *writer, OutBuf *out)
{
    if (writer->format != FORMAT_CSV || !writer->csv_header)
        return;
    for (int c = 0; c < writer->shape->nout; c++) {
        if (c > 0)
            outbuf_putc(out, ',');
        const char *name = writer->shape->cols[c].name;
        csv_field(out, name, strlen(name));
    }
    outbuf_putc(out, '\n');
}

/* One row as NDJSON with its SQL NULL fields left out (nulls = omit). */
static void json_row_without_nulls(RowWriter *writer, OutBuf *out, const RowBatch *batch, int row)
{
    const TableShape *shape = writer->shape;
    bool first = true;
    for (int c = 0; c < shape->nout; c++) {
        size_t len = 0;
        const char *value = batch_value(batch, row, c, &len);
        if (value == NULL)
            continue;
        outbuf_putc(out, first ? '{' : ',');
        outbuf_write(out, writer->json_prefix[c] + 1, writer->json_prefix_len[c] - 1);
        first = false;
        const Column *col = &shape->cols[c];
        format_json_value(writer, out, col->type, col->elem_type, col->elem_delim, value, len);
    }
    outbuf_write(out, first ? "{}\n" : "}\n", first ? 3 : 2);
}

/* One row as NDJSON: each value after its prefix ("{\"name\":" or ",\"name\":"). */
static void json_row(RowWriter *writer, OutBuf *out, const RowBatch *batch, int row)
{
    const TableShape *shape = writer->shape;
    if (writer->omit_nulls) {
        json_row_without_nulls(writer, out, batch, row);
        return;
    }
    for (int c = 0; c < shape->nout; c++) {
        outbuf_write(out, writer->json_prefix[c], writer->json_prefix_len[c]);
        size_t len = 0;
        const char *value = batch_value(batch, row, c, &len);
        if (value == NULL) {
            outbuf_write(out, "null", 4);
            continue;
        }
        const Column *col = &shape->cols[c];
        format_json_value(writer, out, col->type, col->elem_type, col->elem_delim, value, len);
    }
    outbuf_write(out, shape->nout > 0 ? "}\n" : "{}\n", shape->nout > 0 ? 2 : 3);
}

/* One row as CSV: NULL is an empty field. */
static void csv_row(RowWriter *writer, OutBuf *out, const RowBatch *batch, int row)
{
    for (int c = 0; c < writer->shape->nout; c++) {
        size_t len = 0;
        const char *value = batch_value(batch, row, c, &len);
        if (c > 0)
            outbuf_putc(out, ',');
        if (value != NULL)
            csv_field(out, value, len);
    }
    outbuf_putc(out, '\n');
}

/* A deleted row (deletes = soft) as NDJSON: {"_deleted":true,<key columns>}. */
static void json_tombstone(RowWriter *writer, OutBuf *out, const RowBatch *batch, int row)
{
    const TableShape *shape = writer->shape;
    outbuf_write(out, "{\"_deleted\":true", 16);
    for (int k = 0; k < shape->nkeys; k++) {
        const Column *col = &shape->cols[shape->key_col[k]];
        size_t len = 0;
        const char *value = batch_value(batch, row, shape->key_col[k], &len);
        outbuf_putc(out, ',');
        format_json_string(out, col->name, strlen(col->name));
        outbuf_putc(out, ':');
        if (value == NULL)
            outbuf_write(out, "null", 4);
        else
            format_json_value(writer, out, col->type, col->elem_type, col->elem_delim, value, len);
    }
    outbuf_write(out, "}\n", 2);
}

bool row_writer_batch(RowWriter *writer, OutBuf *out, const RowBatch *batch, FerryError *err)
{
    bool json = writer->format == FORMAT_NDJSON;
    for (int r = 0; r < batch->nrows && !out->failed; r++) {
        if (json && batch_row_deleted(writer->shape, batch, r))
            json_tombstone(writer, out, batch, r);
        else if (json)
            json_row(writer, out, batch, r);
        else
            csv_row(writer, out, batch, r);
    }
    if (out->failed) {
        if (err != NULL)
            *err = out->error;
        return false;
    }
    return true;
}
