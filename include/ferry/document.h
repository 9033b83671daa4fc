/*
 * include/ferry/document.h — rows as BSON documents, for the MongoDB sink.
 *
 * Type mapping of PostgreSQL values:
 *   int2, int4                 int32
 *   int8, oid                  int64
 *   float4, float8             double (NaN and ±Infinity included)
 *   numeric                    Decimal128; a value it cannot hold exactly (more
 *                              than 34 significant digits, exponent out of range)
 *                              is rejected, or kept as a string (inexact_numeric)
 *   bool                       bool
 *   text, varchar, char, name  string
 *   json, jsonb                embedded documents, arrays and scalars: integers
 *                              as int32 or int64 when they fit; other numbers as
 *                              a double when they are exactly one (2.5, not 0.1),
 *                              else as Decimal128 when that holds them exactly,
 *                              else as inexact_numeric says; json_numbers = double
 *                              takes the nearest double wherever it reads back as
 *                              the number (printed with the number's own digits),
 *                              as most JSON readers do; a \u escape of a lone UTF-16
 *                              surrogate is a bad row, or U+FFFD by option
 *                              (lone_surrogates); keys are field names (below)
 *   bytea                      binary, subtype 0
 *   uuid                       binary, subtype 4
 *   date                       date (midnight UTC)
 *   timestamp, timestamptz     date (milliseconds, UTC; microseconds dropped), or
 *                              by option a string that keeps them:
 *                              "2024-01-02T03:04:05.123456Z"
 *   arrays                     arrays (nested for several dimensions), elements mapped alike
 *   NULL                       null, or the field left out (nulls = omit)
 *   anything else              string, PostgreSQL's text form (also infinite
 *                              and out-of-range dates and timestamps)
 *
 * Field names: MongoDB reserves a leading '$' and gives '.' a meaning in
 * paths. Column names and JSON keys with either follow field_names: escape
 * (default) writes them with the full-width forms U+FF04 '＄' and U+FF0E '．'
 * that MongoDB's documentation recommends; keep writes them as they are
 * (MongoDB 5.0 and later store them, with limits); reject makes the row a
 * bad row. A name holding a NUL byte is always a bad row.
 *
 * A field name that two columns would share once escaped ("$x" and "＄x"),
 * or that two keys of one JSON object would share, is refused: the columns
 * when the table is planned, the JSON object as a bad row.
 *
 * _id: document_id = key (default) makes _id the key — the value itself for a
 * one-column key, an embedded document {column: value, …} for a composite
 * one — and a replayed row replaces itself by _id. document_id = mongo leaves
 * _id to MongoDB and finds the row by its key fields instead (the sink keeps a
 * unique index on them). Every output column is a field in both cases.
 *
 * Keys are mapped so that two distinct keys never become one (an upsert by
 * _id would merge their rows): where the mapping above could merge values,
 * or gives a form MongoDB refuses in _id, a key column is stored in its key
 * form instead, in _id and (document_id = mongo) in its field:
 *   timestamp, timestamptz     the ISO 8601 string that timestamps = string
 *                              writes, microseconds kept ("…T03:04:05.000001Z")
 *   json, jsonb, arrays        PostgreSQL's text of the value, as a string
 * Every other type's mapping is already one to one on key values.
 */
#ifndef FERRY_DOCUMENT_H
#define FERRY_DOCUMENT_H

#include <bson/bson.h>

#include "ferry/batch.h"
#include "ferry/common.h"

typedef enum { DOC_ID_KEY = 0, DOC_ID_MONGO = 1 } DocIdMode;
typedef enum { DOC_NULLS_KEEP = 0, DOC_NULLS_OMIT = 1 } DocNulls;
typedef enum { DOC_INEXACT_REJECT = 0, DOC_INEXACT_STRING = 1 } DocInexact;
typedef enum { DOC_TIMESTAMPS_DATE = 0, DOC_TIMESTAMPS_STRING = 1 } DocTimestamps;
typedef enum { DOC_NAMES_ESCAPE = 0, DOC_NAMES_KEEP = 1, DOC_NAMES_REJECT = 2 } DocNames;
typedef enum { DOC_SURROGATES_REJECT = 0, DOC_SURROGATES_REPLACE = 1 } DocSurrogates;
typedef enum { DOC_JSON_EXACT = 0, DOC_JSON_DOUBLE = 1 } DocJsonNumbers;

typedef struct DocOptions {
    int document_id;          /* DocIdMode */
    int nulls;                /* DocNulls */
    int inexact_numeric;      /* DocInexact */
    int timestamps;           /* DocTimestamps */
    int field_names;          /* DocNames */
    int lone_surrogates;      /* DocSurrogates */
    int json_numbers;         /* DocJsonNumbers */
} DocOptions;

/* Builds the documents of one table's shape; keeps scratch space between rows. */
typedef struct DocWriter {
    DocOptions options;
    const TableShape *shape;  /* borrowed: must outlive every use but doc_writer_free */
    int nnames;
    char **names;             /* owned: each column's field name */
    char *scratch;            /* owned: decoded bytes, timestamps as strings */
    size_t scratch_cap;
    char *elements;           /* owned: array elements, unescaped by the walker */
    size_t elements_cap;
    char *text;               /* owned: JSON strings and keys, unescaped */
    size_t text_cap;
} DocWriter;

/*
 * Prepare a writer for a shape. False, with err naming the column, when a
 * column cannot be a field (a name field_names rejects, `_id` beside a key _id).
 */
bool doc_writer_init(DocWriter *writer, const DocOptions *options, const TableShape *shape,
                     FerryError *err);
void doc_writer_free(DocWriter *writer);

/*
 * The document of one row and the selector that finds it again ({_id: key}, or
 * the key fields). False when the row cannot become a document: err says why
 * and names the column; the caller names the table and the key.
 */
bool doc_build(DocWriter *writer, const RowBatch *batch, int row, bson_t *doc, bson_t *selector,
               FerryError *err);

/* One non-NULL value of a column, mapped as in a document, appended under `name`. */
bool doc_append_value(DocWriter *writer, bson_t *parent, const char *name, const Column *col,
                      const char *text, size_t len, FerryError *err);

/* One value of a key column in its key form (above): what _id and the key fields hold. */
bool doc_append_key_value(DocWriter *writer, bson_t *parent, const char *name, const Column *col,
                          const char *text, size_t len, FerryError *err);

/* Whether a key column is stored in a key form other than its field's mapping. */
bool doc_key_form_differs(const DocOptions *options, const Column *col);

/* Milliseconds since 1970-01-01 UTC of PostgreSQL's ISO text of a date or timestamp; false if it is none. */
bool doc_parse_time(const char *text, size_t len, bool with_zone, int64_t *millis);

#endif
