/*
 * sinks/document.c — rows as BSON documents (mapping in document.h).
 *
 * Design notes
 *  (1) Values are parsed from the batch arena straight into the document:
 *      numbers, dates and booleans from their text, json by a small parser of
 *      its own (libbson's JSON reader takes "$oid"-style keys as extended
 *      JSON, which would change a user's data), arrays by the walker the JSON
 *      writer uses too. Only array elements, decoded bytes and unescaped JSON
 *      strings pass through the writer's three reused buffers.
 *  (2) A value that cannot be mapped exactly fails the row with a message
 *      naming the column; nothing is guessed.
 *  (3) Every string in a document is valid UTF-8: PostgreSQL sends UTF-8,
 *      and the one way ferry could make invalid bytes — a json \\u escape of
 *      a lone surrogate — is refused or replaced.
 *  (4) A json number is never rounded quietly: a double only when it reads
 *      back as the number written, Decimal128 when that is exact.
 *  (5) No document holds a field name twice.
 *  (6) Key values map one to one (doc_append_key_value): two distinct keys
 *      never become one _id, or one upsert would replace the other's row.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/document.h"
#include "ferry/format.h"


static bool bad_value(FerryError *err, const char *column, const char *what)
{
    return ferry_error(err, FERRY_ERR_SINK, 0, "column \"%s\": %s", column, what);
}

/* ---- field names ---- */

static bool name_needs_care(const char *name, size_t len)
{
    return (len > 0 && name[0] == '$') || memchr(name, '.', len) != NULL;
}

/*
 * The field name for `name` under the writer's rule, NUL-terminated in *out
 * (grown as needed). False when the rule rejects it or it holds a NUL.
 */
static bool field_name(int rule, const char *name, size_t len, char **out, size_t *cap)
{
    if (memchr(name, '\0', len) != NULL)
        return false;
    if (!name_needs_care(name, len) || rule == DOC_NAMES_KEEP) {
        if (!xgrow(out, cap, len + 1, FERRY_DOCUMENT_MAX))
            return false;
        memcpy(*out, name, len);
        (*out)[len] = '\0';
        return true;
    }
    if (rule == DOC_NAMES_REJECT)
        return false;
    if (len > FERRY_DOCUMENT_MAX / 3 || !xgrow(out, cap, len * 3 + 1, FERRY_DOCUMENT_MAX))
        return false;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if ((i == 0 && name[i] == '$') || name[i] == '.') {
            (*out)[n++] = '\xef'; /* U+FF04 FULLWIDTH DOLLAR SIGN, U+FF0E FULLWIDTH FULL STOP */
            (*out)[n++] = '\xbc';
            (*out)[n++] = name[i] == '$' ? '\x84' : '\x8e';
        } else {
            (*out)[n++] = name[i];
        }
    }
    (*out)[n] = '\0';
    return true;
}

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (astronomical years: 1 BC is year 0). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char **p, const char *end, int count, int64_t *value)
{
    int64_t v = 0;
    int n = 0;
    int most = count < 0 ? 10 : count; /* a tenth digit is refused below: it is never added up */
    while (*p < end && isdigit((unsigned char)**p) && n < most) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *value = v;
    return count < 0 ? n > 0 && n <= 9 : n == count;
}

bool doc_parse_time(const char *text, size_t len, bool with_zone, int64_t *millis)
{
    const char *p = text, *end = text + len;
    int64_t year, month, day, hour = 0, minute = 0, second = 0, micros = 0;
    bool bc = len > 3 && memcmp(end - 3, " BC", 3) == 0;
    if (bc)
        end -= 3;
    if (!digits(&p, end, -1, &year) || p == end || *p++ != '-' || !digits(&p, end, 2, &month) ||
        p == end || *p++ != '-' || !digits(&p, end, 2, &day) || month < 1 || month > 12 || day < 1 ||
        day > 31)
        return false;
    if (p < end && *p == ' ') {
        p++;
        if (!digits(&p, end, 2, &hour) || p == end || *p++ != ':' || !digits(&p, end, 2, &minute) ||
            p == end || *p++ != ':' || !digits(&p, end, 2, &second))
            return false;
        if (p < end && *p == '.') {
            p++;
            int n = 0;
            while (p < end && isdigit((unsigned char)*p)) {
                if (n++ < 6)
                    micros = micros * 10 + (*p - '0');
                p++;
            }
            for (; n < 6; n++)
                micros *= 10;
        }
    }
    int64_t offset = 0; /* seconds east of UTC */
    if (with_zone && p < end && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1;
        int64_t oh = 0, om = 0, os = 0;
        if (!digits(&p, end, 2, &oh))
            return false;
        if (p < end && *p == ':' && (p++, !digits(&p, end, 2, &om)))
            return false;
        if (p < end && *p == ':' && (p++, !digits(&p, end, 2, &os)))
            return false;
        offset = sign * (oh * 3600 + om * 60 + os);
    }
    if (p != end)
        return false;
    if (bc)
        year = 1 - year;
    int64_t secs = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 +
                   minute * 60 + second - offset;
    if (secs > INT64_MAX / 1000 - 1 || secs < INT64_MIN / 1000 + 1)
        return false; /* years no BSON date holds (PostgreSQL's own stop at 294276) */
    *millis = secs * 1000 + micros / 1000; /* micros >= 0: truncation is the floor */
    return true;
}

/* A timestamp as its ISO 8601 string (format_iso_timestamp); infinity and other forms as they are. */
static void append_time_string(bson_t *parent, const char *name, const char *text, size_t len,
                               bool with_zone)
{
    char iso[FERRY_TIMESTAMP_TEXT_MAX + 8];
    size_t n = len <= FERRY_TIMESTAMP_TEXT_MAX ? format_iso_timestamp(text, len, with_zone, iso) : 0;
    if (n == 0)
        bson_append_utf8(parent, name, -1, text, (int)len);
    else
        bson_append_utf8(parent, name, -1, iso, (int)n);
}

/* ---- small values ---- */

/* Hex pairs into bytes; false on an odd count or a non-hex character (uuid dashes skipped). */
static bool decode_hex(const char *p, const char *end, bool skip_dashes, char *out, size_t *n)
{
    size_t k = 0;
    while (p < end) {
        if (skip_dashes && *p == '-') {
            p++;
            continue;
        }
        int hi = format_hex_digit(*p), lo = p + 1 < end ? format_hex_digit(p[1]) : -1;
        if (hi < 0 || lo < 0)
            return false;
        out[k++] = (char)(hi << 4 | lo);
        p += 2;
    }
    *n = k;
    return true;
}

/*
 * A whole decimal number, optionally signed, that fits in 64 bits, ending at
 * the NUL. strtoll would do, at several times the cost, for every integer of
 * every row.
 */
static bool parse_int64(const char *text, int64_t *out)
{
    const char *p = text;
    bool negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '\0')
        return false;
    uint64_t magnitude = 0;
    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p != '\0'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (digit > 9 || magnitude > (limit - digit) / 10)
            return false;
        magnitude = magnitude * 10 + digit;
    }
    if (!negative)
        *out = (int64_t)magnitude;
    else
        *out = magnitude > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)magnitude;
    return true;
}

static bool append_integer(bson_t *parent, const char *name, const char *text, bool wide)
{
    int64_t v;
    if (!parse_int64(text, &v))
        return false;
    if (!wide && v >= INT32_MIN && v <= INT32_MAX)
        return bson_append_int32(parent, name, -1, (int32_t)v);
    return bson_append_int64(parent, name, -1, (int64_t)v);
}

/* ---- json ---- */

typedef struct JsonParse {
    DocWriter *writer;
    const char *p, *end;
    bool may_repeat;          /* type json: an object may hold a key twice (jsonb keeps the last) */
    const char *fail;         /* what went wrong, or NULL */
} JsonParse;

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether a document holds one field name twice (MongoDB's documents must not). */
static bool has_duplicate_names(const bson_t *doc)
{
    uint32_t n = bson_count_keys(doc);
    if (n < 2)
        return false;
    const char **names = xcalloc(n, sizeof *names);
    bson_iter_t it;
    uint32_t k = 0;
    if (bson_iter_init(&it, doc))
        while (k < n && bson_iter_next(&it))
            names[k++] = bson_iter_key(&it);
    qsort(names, k, sizeof *names, compare_names);
    bool dup = false;
    for (uint32_t i = 1; i < k && !dup; i++)
        dup = strcmp(names[i - 1], names[i]) == 0;
    free(names);
    return dup;
}

static void json_space(JsonParse *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static void put_utf8(char *out, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | (cp >> 12 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static bool hex4(JsonParse *j, unsigned *cp)
{
    if (j->end - j->p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = format_hex_digit(j->p[i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    j->p += 4;
    *cp = v;
    return true;
}

/*
 * (3) A \\u escape that is half of a UTF-16 surrogate pair: joined with the
 * other half that follows it, or, alone, no character at all. UTF-8 has no
 * form for a lone surrogate (its three bytes ED A0 80 are invalid, and
 * drivers then refuse the whole document), so it makes the row a bad row,
 * or becomes U+FFFD under lone_surrogates = replace.
 */
static bool json_surrogates(JsonParse *j, unsigned *cp)
{
    if (*cp < 0xd800 || *cp > 0xdfff)
        return true;
    if (*cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
        const char *at = j->p;
        unsigned lo;
        j->p += 2;
        if (hex4(j, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
            return true;
        }
        j->p = at; /* not the low half: the next escape is read on its own */
    }
    if (j->writer->options.lone_surrogates == DOC_SURROGATES_REPLACE) {
        *cp = 0xfffd;
        return true;
    }
    j->fail = "a lone UTF-16 surrogate (\\ud800-\\udfff without its pair) in json, which UTF-8 cannot "
              "hold; lone_surrogates = replace writes U+FFFD instead";
    return false;
}

static bool json_too_long(JsonParse *j)
{
    j->fail = "a json string longer than a document can hold (16 MiB)";
    return false;
}

/* A JSON string (at its opening quote), unescaped into the writer's text buffer. */
static bool json_string(JsonParse *j, size_t *len)
{
    DocWriter *w = j->writer;
    j->p++;
    const char *start = j->p;
    while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20)
        j->p++;
    size_t n = (size_t)(j->p - start);
    if (!xgrow(&w->text, &w->text_cap, n + 1, FERRY_DOCUMENT_MAX))
        return json_too_long(j);
    memcpy(w->text, start, n);
    while (j->p < j->end && *j->p != '"') {
        if (!xgrow(&w->text, &w->text_cap, n + 5, FERRY_DOCUMENT_MAX))
            return json_too_long(j);
        char c = *j->p++;
        if ((unsigned char)c < 0x20)
            return (j->fail = "a control character unescaped in a json string"), false;
        if (c != '\\') {
            w->text[n++] = c;
            continue;
        }
        if (j->p >= j->end)
            break;
        c = *j->p++;
        unsigned cp;
        switch (c) {
        case 'b': w->text[n++] = '\b'; break;
        case 'f': w->text[n++] = '\f'; break;
        case 'n': w->text[n++] = '\n'; break;
        case 'r': w->text[n++] = '\r'; break;
        case 't': w->text[n++] = '\t'; break;
        case 'u':
            if (!hex4(j, &cp))
                return (j->fail = "a bad \\u escape in json"), false;
            if (!json_surrogates(j, &cp))
                return false;
            put_utf8(w->text, &n, cp);
            break;
        case '"':
        case '\\':
        case '/': w->text[n++] = c; break;
        default: return (j->fail = "a bad escape in json"), false;
        }
    }
    if (j->p >= j->end)
        return (j->fail = "an unterminated string in json"), false;
    j->p++;
    /* A server's json is valid UTF-8 unless its database's encoding is SQL_ASCII, which checks nothing. */
    if (!bson_utf8_validate(w->text, n, true))
        return (j->fail = "invalid UTF-8 in a json string"), false;
    w->text[n] = '\0';
    *len = n;
    return true;
}

static bool json_value(JsonParse *j, bson_t *parent, const char *name, int depth);

static bool json_object(JsonParse *j, bson_t *parent, const char *name, int depth)
{
    bson_t child;
    bson_append_document_begin(parent, name, -1, &child);
    j->p++;
    json_space(j);
    bool ok = true, escaped = false;
    if (j->p < j->end && *j->p == '}') {
        j->p++;
    } else {
        for (;;) {
            json_space(j);
            size_t klen;
            if (j->p >= j->end || *j->p != '"' || !json_string(j, &klen)) {
                j->fail = j->fail ? j->fail : "a bad object key in json";
                ok = false;
                break;
            }
            DocWriter *w = j->writer;
            char *key = NULL;
            size_t key_cap = 0;
            escaped |= w->options.field_names == DOC_NAMES_ESCAPE && name_needs_care(w->text, klen);
            if (!field_name(w->options.field_names, w->text, klen, &key, &key_cap)) {
                j->fail = memchr(w->text, '\0', klen) ? "a json key holds a NUL character"
                          : klen > FERRY_DOCUMENT_MAX / 3 ? "a json key longer than a document can hold"
                                                          : "a json key starts with '$' or holds '.' (field_names = reject)";
                free(key);
                ok = false;
                break;
            }
            json_space(j);
            ok = j->p < j->end && *j->p++ == ':';
            if (ok)
                ok = json_value(j, &child, key, depth + 1);
            free(key);
            if (!ok) {
                j->fail = j->fail ? j->fail : "a bad object in json";
                break;
            }
            json_space(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == '}') {
                j->p++;
                break;
            }
            j->fail = "a bad object in json";
            ok = false;
            break;
        }
    }
    /* (5) Escaping can make two keys one ("$x" and "＄x"), and json keeps repeated keys. */
    if (ok && (escaped || j->may_repeat) && has_duplicate_names(&child)) {
        j->fail = escaped ? "a json object holds two keys that are one field name once '$' and '.' are "
                            "escaped (field_names = keep writes them as they are)"
                          : "a json object holds the same key twice, which a MongoDB document cannot";
        ok = false;
    }
    bson_append_document_end(parent, &child);
    return ok;
}

static bool json_array(JsonParse *j, bson_t *parent, const char *name, int depth)
{
    bson_t child;
    bson_append_array_begin(parent, name, -1, &child);
    j->p++;
    json_space(j);
    bool ok = true;
    if (j->p < j->end && *j->p == ']') {
        j->p++;
    } else {
        for (uint32_t i = 0;; i++) {
            char index[16];
            const char *key;
            bson_uint32_to_string(i, &key, index, sizeof index);
            if (!json_value(j, &child, key, depth + 1)) {
                ok = false;
                break;
            }
            json_space(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == ']') {
                j->p++;
                break;
            }
            j->fail = "a bad array in json";
            ok = false;
            break;
        }
    }
    bson_append_array_end(parent, &child);
    return ok;
}

/*
 * A decimal number's digits without leading and trailing zeros, and the
 * exponent that makes it 0.DIGITS × 10^exponent: "-120.50e1" → "1205", 4.
 * False when the text is no number. *ndigits may exceed `cap`; digits
 * beyond it are not stored.
 */
static bool decimal_digits(const char *text, size_t len, char *digits, size_t cap, size_t *ndigits, long *exponent,
                           bool *negative)
{
    const char *p = text, *end = text + len;
    *negative = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    size_t n = 0;
    long point = 0;           /* digits before the decimal point, leading zeros not counted */
    bool seen_point = false, any = false, significant = false;
    size_t zeros = 0;         /* trailing zeros not yet stored */
    for (; p < end && ((*p >= '0' && *p <= '9') || (*p == '.' && !seen_point)); p++) {
        if (*p == '.') {
            seen_point = true;
            continue;
        }
        any = true;
        if (*p == '0' && !significant) {
            point -= seen_point; /* 0.001: each zero after the point moves it left */
            continue;
        }
        significant = true;
        point += !seen_point;
        if (*p == '0') {
            zeros++;
            continue;
        }
        for (; zeros > 0; zeros--, n++)
            if (n < cap)
                digits[n] = '0';
        if (n < cap)
            digits[n] = *p;
        n++;
    }
    if (!any)
        return false;
    long exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool neg = p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return false;
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (exp10 < 100000000)
                exp10 = exp10 * 10 + (*p - '0');
        exp10 = neg ? -exp10 : exp10;
    }
    if (p != end)
        return false;
    *ndigits = n;
    *exponent = n == 0 ? 0 : point + exp10;
    return true;
}

/*
 * (4) A decimal number's text as the Decimal128 that holds it exactly; false
 * when none does. ferry decides that itself, from the number's significant
 * digits (at most 34) and exponent (-6176 to 6111, or above with zeros the
 * coefficient has room for): libbson's parser rounds some texts of more
 * digits without a word (0.00000009000000000000000000000000000000000000992
 * reads as 9.000000000000000000000000000000000E-8), refuses others that fit
 * once their trailing zeros go (…3490.00 of 35 digits and two places),
 * and adds an exponent up in an int, which wraps (1e4294967297 as 1E+1).
 * libbson is handed the number as those digits and exponent alone, unless
 * the text is one it reads exactly as it is.
 */
static bool decimal128_exact(const char *text, size_t len, bson_decimal128_t *out)
{
    /* What PostgreSQL prints almost always: no exponent, at most 34 digits from the first that is not 0,
     * at most 6176 after the point. libbson reads such a text exactly, and faster than the way below. */
    size_t written = 0, fraction = 0;
    bool simple = len <= INT_MAX, after_point = false;
    for (size_t i = 0; simple && i < len; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9') {
            written += written > 0 || c != '0';
            fraction += after_point;
        } else if (c == '.' && !after_point) {
            after_point = true;
        } else {
            simple = i == 0 && (c == '-' || c == '+');
        }
    }
    if (simple && written <= 34 && fraction <= 6176)
        return bson_decimal128_from_string_w_len(text, (int)len, out);
    const char *p = text, *end = text + len;
    bool negative = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    if (p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
        return len < 16 && bson_decimal128_from_string_w_len(text, (int)len, out); /* NaN, Infinity, -Infinity */
    /* The coefficient as written, leading zeros left out, and its exponent: 12.50 is 1250E-2. */
    char coef[40];
    size_t n = 0, digits = 0;
    long e = 0;
    bool point = false;
    for (; p < end && ((*p >= '0' && *p <= '9') || (*p == '.' && !point)); p++) {
        if (*p == '.') {
            point = true;
            continue;
        }
        digits++;
        e -= point;
        if (n == 0 && *p == '0')
            continue;
        if (n == sizeof coef) { /* past 40 digits: only trailing zeros could make it fit */
            if (*p != '0')
                return false;
            e++;
            continue;
        }
        coef[n++] = *p;
    }
    if (digits == 0)
        return false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        long x = 0;
        bool down = ++p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+'))
            p++;
        if (p >= end)
            return false;
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (x < 100000000)
                x = x * 10 + (*p - '0');
        e += down ? -x : x;
    }
    if (p != end)
        return false;
    if (n == 0) { /* zero, at any exponent: the nearest Decimal128 has */
        coef[n++] = '0';
        e = e < -6176 ? -6176 : e > 6111 ? 6111 : e;
    }
    /* Trailing zeros go into the exponent only as far as 34 digits and its range need. */
    while (n > 1 && coef[n - 1] == '0' && (n > 34 || e < -6176)) {
        n--;
        e++;
    }
    while (e > 6111 && n < 34 && !(n == 1 && coef[0] == '0')) {
        coef[n++] = '0';
        e--;
    }
    if (n > 34 || e < -6176 || e > 6111)
        return false;
    char canonical[64];
    snprintf(canonical, sizeof canonical, "%s%.*sE%ld", negative ? "-" : "", (int)n, coef, e);
    return bson_decimal128_from_string(canonical, out);
}

/*
 * (4) Whether the double nearest a decimal number reads back as that number:
 * printed with as many significant digits as the number has, it gives the
 * same digits and exponent. Up to 15 digits this always holds for a normal
 * double (DBL_DIG); a double holds no number of more than 17.
 */
static bool double_reads_back(const char *text, double d)
{
    char want[24], got[24], printed[40];
    size_t nwant, ngot;
    long ewant, egot;
    bool neg_want, neg_got;
    if (!isfinite(d) || !decimal_digits(text, strlen(text), want, sizeof want, &nwant, &ewant, &neg_want))
        return false;
    if (nwant == 0)
        return d == 0;
    if (nwant > 17)
        return false;
    if (nwant <= 15 && fabs(d) >= DBL_MIN)
        return true;
    snprintf(printed, sizeof printed, "%.*e", (int)nwant - 1, d);
    return decimal_digits(printed, strlen(printed), got, sizeof got, &ngot, &egot, &neg_got) && ngot == nwant &&
           egot == ewant && neg_got == neg_want && memcmp(got, want, nwant) == 0;
}

/*
 * (4) Whether a decimal number is exactly a double: M × 10^E is M × 5^E × 2^E,
 * so it is one when the part of M × 5^E (E ≥ 0), or of M / 5^-E (E < 0, 5^-E
 * dividing M), that is not a power of two fits in 53 bits. 2.5 and 0.5 are
 * doubles; 0.1 and 1e-28 are not.
 */
static bool double_is_exact(const char *text, double d)
{
    char digits[24];
    size_t n;
    long exponent;
    bool negative;
    if (!isfinite(d) || !decimal_digits(text, strlen(text), digits, sizeof digits, &n, &exponent, &negative))
        return false;
    if (n == 0)
        return d == 0;
    if (n > 19 || d == 0)
        return false; /* past what uint64 holds (such doubles are rare); or underflowed */
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m = m * 10 + (uint64_t)(digits[i] - '0');
    long e = exponent - (long)n; /* the number is m × 10^e */
    if (e >= 0) {
        for (long i = 0; i < e; i++) {
            if (m > UINT64_MAX / 5)
                return false;
            m *= 5;
        }
    } else {
        if (-e > 27)
            return false; /* 5^28 exceeds every m of 19 digits */
        uint64_t p = 1;
        for (long i = 0; i < -e; i++)
            p *= 5;
        if (m % p != 0)
            return false;
        m /= p;
    }
    while ((m & 1) == 0)
        m >>= 1;
    return m < (1ull << 53);
}

/* JSON's number grammar (RFC 8259), the whole of p[0..n): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number_grammar(const char *p, size_t n)
{
    const char *end = p + n, *digits;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (p < end && *p == '.') {
        for (digits = ++p; p < end && *p >= '0' && *p <= '9'; p++)
            ;
        if (p == digits)
            return false;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        for (digits = p; p < end && *p >= '0' && *p <= '9'; p++)
            ;
        if (p == digits)
            return false;
    }
    return p == end;
}

/*
 * (4) A JSON number, exactly: an integer that fits as int32 or int64; else a
 * double when it is exactly that double (json_numbers = exact) or reads back
 * as the same number (json_numbers = double); else Decimal128 when that holds
 * it exactly; else inexact_numeric decides (a string, or a bad row).
 */
static bool json_number(JsonParse *j, bson_t *parent, const char *name)
{
    const char *start = j->p;
    bool integer = true;
    while (j->p < j->end && *j->p != '\0' && strchr("+-0123456789.eE", *j->p) != NULL) {
        integer &= *j->p != '.' && *j->p != 'e' && *j->p != 'E';
        j->p++;
    }
    size_t n = (size_t)(j->p - start);
    if (n == 0 || n > 4000 || !json_number_grammar(start, n))
        return (j->fail = "a bad number in json"), false;
    char buf[4001];
    memcpy(buf, start, n);
    buf[n] = '\0';
    if (integer && append_integer(parent, name, buf, false))
        return true;
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0')
        return (j->fail = "a bad number in json"), false;
    if (j->writer->options.json_numbers == DOC_JSON_DOUBLE ? double_reads_back(buf, d) : double_is_exact(buf, d))
        return bson_append_double(parent, name, -1, d);
    bson_decimal128_t dec;
    if (decimal128_exact(buf, n, &dec))
        return bson_append_decimal128(parent, name, -1, &dec);
    if (j->writer->options.inexact_numeric == DOC_INEXACT_STRING)
        return bson_append_utf8(parent, name, -1, buf, (int)n);
    j->fail = "a json number that neither a double nor Decimal128 (34 digits) holds exactly; "
              "inexact_numeric = string keeps such numbers as strings";
    return false;
}

static bool json_word(JsonParse *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool json_value(JsonParse *j, bson_t *parent, const char *name, int depth)
{
    if (depth >= FERRY_JSON_DEPTH_MAX)
        return (j->fail = "json nested deeper than MongoDB's " FERRY_STRINGIFY(FERRY_JSON_DEPTH_MAX) " levels"), false;
    json_space(j);
    if (j->p >= j->end)
        return (j->fail = "json ends early"), false;
    switch (*j->p) {
    case '{':
        return json_object(j, parent, name, depth);
    case '[':
        return json_array(j, parent, name, depth);
    case '"': {
        size_t len;
        return json_string(j, &len) && bson_append_utf8(parent, name, -1, j->writer->text, (int)len);
    }
    case 't':
        if (json_word(j, "true"))
            return bson_append_bool(parent, name, -1, true);
        break;
    case 'f':
        if (json_word(j, "false"))
            return bson_append_bool(parent, name, -1, false);
        break;
    case 'n':
        if (json_word(j, "null"))
            return bson_append_null(parent, name, -1);
        break;
    default:
        return json_number(j, parent, name);
    }
    return (j->fail = "a bad literal in json"), false;
}

/* ---- arrays ---- */

/* The PostgreSQL array walker's events, building nested BSON arrays. */
typedef struct BsonArray {
    DocWriter *writer;
    const Column *elem;       /* a column of the element type, for doc_append_value */
    int depth;
    bson_t *stack[FERRY_ARRAY_DIMENSIONS_MAX + 1]; /* stack[0] is the parent */
    bson_t children[FERRY_ARRAY_DIMENSIONS_MAX];
    bool overflow;
    bool failed;
    const char *name;         /* the field's name, for the outermost array */
    FerryError *err;
} BsonArray;

static void bson_array_open(void *ctx, int index)
{
    BsonArray *a = ctx;
    if (a->depth >= (int)(sizeof a->children / sizeof a->children[0])) {
        a->overflow = true;
        return;
    }
    char buf[16];
    const char *key = a->name;
    if (a->depth > 0)
        bson_uint32_to_string((uint32_t)index, &key, buf, sizeof buf);
    bson_append_array_begin(a->stack[a->depth], key, -1, &a->children[a->depth]);
    a->stack[a->depth + 1] = &a->children[a->depth];
    a->depth++;
}

static void bson_array_close(void *ctx)
{
    BsonArray *a = ctx;
    if (a->overflow || a->depth == 0)
        return;
    bson_append_array_end(a->stack[a->depth - 1], a->stack[a->depth]);
    a->depth--;
}

static void bson_array_element(void *ctx, int index, const char *text, size_t len, bool is_null)
{
    BsonArray *a = ctx;
    if (a->overflow || a->failed)
        return;
    char buf[16];
    const char *key;
    bson_uint32_to_string((uint32_t)index, &key, buf, sizeof buf);
    bson_t *into = a->stack[a->depth];
    if (is_null) {
        bson_append_null(into, key, -1);
        return;
    }
    /* The element's text is in the writer's element buffer, which mapping it does not touch. */
    if (!doc_append_value(a->writer, into, key, a->elem, text, len, a->err))
        a->failed = true;
}

static bool append_array(DocWriter *w, bson_t *parent, const char *name, const Column *col,
                         const char *text, size_t len, FerryError *err)
{
    Column elem = {.name = col->name, .type = col->elem_type};
    BsonArray a = {.writer = w, .elem = &elem, .name = name, .err = err};
    a.stack[0] = parent;
    const PgArrayVisitor visitor = {bson_array_open, bson_array_close, bson_array_element, &a};
    if (!pg_array_walk(text, len, col->elem_delim, &visitor, &w->elements, &w->elements_cap))
        return bson_append_utf8(parent, name, -1, text, (int)len);
    if (a.overflow)
        return bad_value(err, col->name, "an array of more than " FERRY_STRINGIFY(FERRY_ARRAY_DIMENSIONS_MAX) " dimensions");
    return !a.failed;
}

/* ---- values ---- */

static bool append_numeric(DocWriter *w, bson_t *parent, const char *name, const Column *col,
                           const char *text, size_t len, FerryError *err)
{
    bson_decimal128_t dec;
    if (decimal128_exact(text, len, &dec))
        return bson_append_decimal128(parent, name, -1, &dec);
    if (w->options.inexact_numeric == DOC_INEXACT_STRING)
        return bson_append_utf8(parent, name, -1, text, (int)len);
    char what[160];
    snprintf(what, sizeof what,
             "numeric %.*s%s cannot be held exactly by Decimal128 (34 digits); "
             "inexact_numeric = string keeps such values as strings",
             (int)(len > 40 ? 40 : len), text, len > 40 ? "…" : "");
    return bad_value(err, col->name, what);
}

static bool append_time(DocWriter *w, bson_t *parent, const char *name, const Column *col,
                        const char *text, size_t len)
{
    bool with_zone = col->type == OID_TIMESTAMPTZ;
    if (col->type != OID_DATE && w->options.timestamps == DOC_TIMESTAMPS_STRING) {
        append_time_string(parent, name, text, len, with_zone);
        return true;
    }
    int64_t millis;
    if (doc_parse_time(text, len, with_zone, &millis))
        return bson_append_date_time(parent, name, -1, millis);
    return bson_append_utf8(parent, name, -1, text, (int)len); /* infinity, -infinity */
}

bool doc_append_value(DocWriter *w, bson_t *parent, const char *name, const Column *col,
                      const char *text, size_t len, FerryError *err)
{
    if (col->elem_type != 0)
        return append_array(w, parent, name, col, text, len, err);
    size_t n;
    switch (col->type) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        if (append_integer(parent, name, text, col->type == OID_INT8 || col->type == OID_OID))
            return true;
        return bad_value(err, col->name, "an integer out of range");
    case OID_FLOAT4:
    case OID_FLOAT8:
        return bson_append_double(parent, name, -1, strtod(text, NULL));
    case OID_NUMERIC:
        return append_numeric(w, parent, name, col, text, len, err);
    case OID_BOOL:
        return bson_append_bool(parent, name, -1, len > 0 && text[0] == 't');
    case OID_JSON:
    case OID_JSONB: {
        JsonParse j = {.writer = w, .p = text, .end = text + len, .may_repeat = col->type == OID_JSON};
        bool ok = json_value(&j, parent, name, 1);
        json_space(&j);
        if (ok && j.p != j.end)
            j.fail = "text after the json value", ok = false;
        return ok || bad_value(err, col->name, j.fail ? j.fail : "bad json");
    }
    case OID_BYTEA:
        if (!xgrow(&w->scratch, &w->scratch_cap, len / 2 + 1, FERRY_DOCUMENT_MAX))
            return bad_value(err, col->name, "a bytea larger than a document can hold (16 MiB)");
        if (len < 2 || text[0] != '\\' || text[1] != 'x' ||
            !decode_hex(text + 2, text + len, false, w->scratch, &n))
            return bad_value(err, col->name, "bytea not in hex output form (bytea_output = hex)");
        return bson_append_binary(parent, name, -1, BSON_SUBTYPE_BINARY, (const uint8_t *)w->scratch,
                                  (uint32_t)n);
    case OID_UUID: {
        char bytes[32];
        if (len != 36 || !decode_hex(text, text + len, true, bytes, &n) || n != 16)
            return bad_value(err, col->name, "a malformed uuid");
        return bson_append_binary(parent, name, -1, BSON_SUBTYPE_UUID, (const uint8_t *)bytes, 16);
    }
    case OID_DATE:
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ:
        return append_time(w, parent, name, col, text, len);
    default:
        return bson_append_utf8(parent, name, -1, text, (int)len);
    }
}

/* ---- keys ---- */

bool doc_key_form_differs(const DocOptions *options, const Column *col)
{
    if (col->elem_type != 0 || col->type == OID_JSON || col->type == OID_JSONB)
        return true; /* arrays are refused in _id; JSON keys can collide once escaped */
    return (col->type == OID_TIMESTAMP || col->type == OID_TIMESTAMPTZ) &&
           options->timestamps == DOC_TIMESTAMPS_DATE; /* a date keeps milliseconds */
}

bool doc_append_key_value(DocWriter *w, bson_t *parent, const char *name, const Column *col,
                          const char *text, size_t len, FerryError *err)
{
    if (!doc_key_form_differs(&w->options, col))
        return doc_append_value(w, parent, name, col, text, len, err);
    if (col->type == OID_TIMESTAMP || col->type == OID_TIMESTAMPTZ)
        append_time_string(parent, name, text, len, col->type == OID_TIMESTAMPTZ);
    else
        bson_append_utf8(parent, name, -1, text, (int)len);
    return true;
}

/* ---- documents ---- */

bool doc_writer_init(DocWriter *w, const DocOptions *options, const TableShape *shape, FerryError *err)
{
    memset(w, 0, sizeof *w);
    w->options = *options;
    w->shape = shape;
    w->nnames = shape->ncols;
    w->names = xcalloc((size_t)shape->ncols, sizeof(char *));
    for (int c = 0; c < shape->ncols; c++) {
        const char *name = shape->cols[c].name;
        size_t cap = 0;
        if (!field_name(options->field_names, name, strlen(name), &w->names[c], &cap)) {
            doc_writer_free(w);
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "column \"%s\" of %s cannot be a MongoDB field name "
                               "(field_names = reject; escape writes it with full-width '$' and '.')",
                               name, shape->target);
        }
        for (int o = 0; o < c; o++)
            if (strcmp(w->names[o], w->names[c]) == 0) {
                ferry_error(err, FERRY_ERR_CONFIG, 0,
                            "columns \"%s\" and \"%s\" of %s would both be the MongoDB field \"%s\" "
                            "(field_names = escape writes '$' and '.' as full-width '＄' and '．'): "
                            "leave one out with columns = …, or set field_names = keep",
                            shape->cols[o].name, name, shape->target, w->names[c]);
                doc_writer_free(w);
                return false;
            }
        if (options->document_id == DOC_ID_KEY && strcmp(w->names[c], "_id") == 0) {
            doc_writer_free(w);
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "column \"_id\" of %s would collide with the _id ferry makes from the key; "
                               "leave it out with columns = …, or set document_id = mongo",
                               shape->target);
        }
    }
    return true;
}

void doc_writer_free(DocWriter *w)
{
    for (int c = 0; c < w->nnames; c++)
        free(w->names[c]);
    free(w->names);
    free(w->scratch);
    free(w->elements);
    free(w->text);
    memset(w, 0, sizeof *w);
}

static bool is_key_column(const TableShape *shape, int c)
{
    for (int k = 0; k < shape->nkeys; k++)
        if (shape->key_col[k] == c)
            return true;
    return false;
}

/* The key's fields under `parent`: one value as `name`, or {column: value, …} for a composite key. */
static bool append_key(DocWriter *w, const RowBatch *batch, int row, bson_t *parent, const char *name,
                       FerryError *err)
{
    const TableShape *shape = w->shape;
    bson_t composite, *into = parent;
    if (shape->nkeys > 1) {
        bson_append_document_begin(parent, name, -1, &composite);
        into = &composite;
    }
    bool ok = true;
    for (int k = 0; ok && k < shape->nkeys; k++) {
        int c = shape->key_col[k];
        size_t len = 0;
        const char *value = batch_value(batch, row, c, &len);
        const char *field = shape->nkeys > 1 ? w->names[c] : name;
        ok = value != NULL ? doc_append_key_value(w, into, field, &shape->cols[c], value, len, err)
                           : bad_value(err, shape->cols[c].name, "a NULL in the key");
    }
    if (shape->nkeys > 1)
        bson_append_document_end(parent, &composite);
    return ok;
}

bool doc_build(DocWriter *w, const RowBatch *batch, int row, bson_t *doc, bson_t *selector,
               FerryError *err)
{
    const TableShape *shape = w->shape;
    bool key_id = w->options.document_id == DOC_ID_KEY;
    if (key_id) { /* the selector is {_id: key}: the document starts with the same field */
        if (!append_key(w, batch, row, selector, "_id", err))
            return false;
        bson_concat(doc, selector);
    }
    for (int c = 0; c < shape->ncols; c++) {
        bool key = is_key_column(shape, c);
        if (c >= shape->nout && (key_id || !key))
            continue; /* read for the checkpoint only */
        size_t len = 0;
        const char *value = batch_value(batch, row, c, &len);
        if (value == NULL) {
            if (key)
                return bad_value(err, shape->cols[c].name, "a NULL in the key");
            if (w->options.nulls == DOC_NULLS_KEEP)
                bson_append_null(doc, w->names[c], -1);
            continue;
        }
        if (key && !key_id) { /* the key fields are what the upsert and the unique index match */
            if (!doc_append_key_value(w, doc, w->names[c], &shape->cols[c], value, len, err) ||
                !doc_append_key_value(w, selector, w->names[c], &shape->cols[c], value, len, err))
                return false;
            continue;
        }
        if (!doc_append_value(w, doc, w->names[c], &shape->cols[c], value, len, err))
            return false;
    }
    return true;
}
