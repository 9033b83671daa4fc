/*
 * tests/unit/test_document.c — BSON documents of rows: dates, json keys, numerics, arrays, bad values.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/document.h"
#include "tap.h"

/* One value of a column of `type` as relaxed extended JSON: {"v": …}, or the error message. */
static const char *bson_of(const DocOptions *options, FerryOid type, FerryOid elem, const char *text)
{
    static char out[2048];
    Column col = {.name = "v", .type = type, .elem_type = elem, .elem_delim = ','};
    TableShape shape = {.target = "t", .ncols = 1, .nout = 1, .cols = &col, .nkeys = 1, .key_col = {0}};
    DocWriter writer;
    FerryError err;
    bson_t doc = BSON_INITIALIZER;
    if (!doc_writer_init(&writer, options, &shape, &err))
        return "writer refused";
    if (doc_append_value(&writer, &doc, "v", &col, text, strlen(text), &err)) {
        char *json = bson_as_relaxed_extended_json(&doc, NULL);
        snprintf(out, sizeof out, "%s", json);
        bson_free(json);
    } else {
        snprintf(out, sizeof out, "error: %s", err.message);
    }
    bson_destroy(&doc);
    doc_writer_free(&writer);
    return out;
}

#define like(got, part, ...) ok(strstr((got), (part)) != NULL, __VA_ARGS__)

void test_document(void)
{
    int64_t ms = 0;
    ok(doc_parse_time("1970-01-01", 10, false, &ms) && ms == 0, "the epoch is 0 ms");
    ok(doc_parse_time("2024-02-29 23:59:59.999999", 26, false, &ms) && ms == 1709251199999,
       "microseconds are dropped, not rounded up: %lld", (long long)ms);
    ok(doc_parse_time("1969-12-31 23:59:59.5", 21, false, &ms) && ms == -500, "before 1970: -500 ms (%lld)",
       (long long)ms);
    ok(doc_parse_time("1999-12-31 23:59:59.5+05", 24, true, &ms) && ms == 946666799500,
       "an offset is taken back to UTC (%lld)", (long long)ms);
    ok(doc_parse_time("0001-12-31 BC", 13, false, &ms) && ms == -62135596800000LL - 86400000LL,
       "1 BC ends the day before 0001-01-01 (%lld)", (long long)ms);
    ok(!doc_parse_time("infinity", 8, false, &ms), "infinity is no date");
    ok(!doc_parse_time("2024-13-01", 10, false, &ms), "month 13 is no date");
    /* Found by make fuzz (fuzz_time): the year's digits, and the milliseconds of a huge year, overflowed. */
    ok(!doc_parse_time("22333333333333333222-01-01", 26, false, &ms), "a year of twenty digits is no date");
    ok(!doc_parse_time("999999999-01-01 00:00:00", 25, false, &ms), "nor one no BSON date holds");
    ok(doc_parse_time("294276-12-31 23:59:59", 21, false, &ms) && ms > 0, "PostgreSQL's last year still is");

    DocOptions o = {0};
    is_str(bson_of(&o, OID_INT4, 0, "-2147483648"), "{ \"v\" : -2147483648 }", "int4 at its floor");
    is_str(bson_of(&o, OID_INT2, 0, "12x"), "error: column \"v\": an integer out of range", "a malformed integer is an error");
    is_str(bson_of(&o, OID_INT8, 0, "-9223372036854775808"), "{ \"v\" : -9223372036854775808 }", "int8 at its floor");
    is_str(bson_of(&o, OID_INT8, 0, "9223372036854775807"), "{ \"v\" : 9223372036854775807 }", "int8 at its ceiling");
    like(bson_of(&o, OID_INT8, 0, "9223372036854775808"), "error: ", "one past int8's ceiling is an error");
    like(bson_of(&o, OID_INT8, 0, "-"), "error: ", "a lone sign is an error");
    is_str(bson_of(&o, OID_INT8, 0, "-0"), "{ \"v\" : 0 }", "-0 is 0");
    is_str(bson_of(&o, OID_JSON, 0, "[-5, 2147483648]"), "{ \"v\" : [ -5, 2147483648 ] }",
           "json integers: int32 when they fit, int64 beyond");
    is_str(bson_of(&o, OID_JSONB, 0, "{\"$oid\": \"x\", \"a.b\": [1, 2.5, \"\\u00e9\\ud83d\\ude00\"]}"),
           "{ \"v\" : { \"＄oid\" : \"x\", \"a．b\" : [ 1, 2.5, \"é😀\" ] } }",
           "json: '$' and '.' escaped, extended-JSON keys stay data, escapes decoded");
    o.field_names = DOC_NAMES_REJECT;
    like(bson_of(&o, OID_JSON, 0, "{\"$set\": 1}"), "field_names = reject", "json: field_names = reject refuses a '$' key");
    o.field_names = DOC_NAMES_ESCAPE;
    like(bson_of(&o, OID_JSON, 0, "{\"a\": }"), "error: column \"v\": ", "malformed json is an error naming the column");
    is_str(bson_of(&o, OID_JSON, 0, "[[[]]]"), "{ \"v\" : [ [ [  ] ] ] }", "json: nested empty arrays");
    /* The nesting bounds (limits.h): reached, each is a bad value naming why, never a crash. */
    char nested[2 * FERRY_JSON_DEPTH_MAX + 8];
    for (int depth = FERRY_JSON_DEPTH_MAX - 1; depth <= FERRY_JSON_DEPTH_MAX; depth++) {
        memset(nested, '[', (size_t)depth);
        memset(nested + depth, ']', (size_t)depth);
        nested[2 * depth] = '\0';
        const char *got = bson_of(&o, OID_JSON, 0, nested);
        if (depth < FERRY_JSON_DEPTH_MAX)
            ok(strncmp(got, "{ \"v\" : [", 9) == 0, "json nested %d deep is taken: %.40s", depth, got);
        else
            is_str(got, "error: column \"v\": json nested deeper than MongoDB's 100 levels",
                   "json nested %d deep: refused, naming MongoDB's limit", depth);
    }
    like(bson_of(&o, OID_INT4, OID_INT4, "{{{{{{1}}}}}}"), "{ \"v\" : [ [ [ [ [ [ 1 ] ] ] ] ] ] }",
         "an array of 6 dimensions, PostgreSQL's most, is taken");
    is_str(bson_of(&o, OID_INT4, OID_INT4, "{{{{{{{1}}}}}}}"), "error: column \"v\": an array of more than 6 dimensions",
           "one of 7 is refused");

    /* json numbers, exactly (issue: rounded or Infinity without a word) */
    is_str(bson_of(&o, OID_JSON, 0, "[2.5, 0.375, -0.5e1, 1e22, 1.5e-5, -0.0]"),
           "{ \"v\" : [ 2.5, 0.375, -5.0, 1e+22, { \"$numberDecimal\" : \"0.000015\" }, -0.0 ] }",
           "json: a number that is exactly a double is a double; 1.5e-5 is not one");
    is_str(bson_of(&o, OID_JSON, 0, "[0.1, 2.5e-3, 0.0000000000000000000000000001, 1e1000]"),
           "{ \"v\" : [ { \"$numberDecimal\" : \"0.1\" }, { \"$numberDecimal\" : \"0.0025\" }, "
           "{ \"$numberDecimal\" : \"1E-28\" }, { \"$numberDecimal\" : \"1E+1000\" } ] }",
           "json: a number no double holds exactly is Decimal128 (never rounded, never Infinity)");
    is_str(bson_of(&o, OID_JSON, 0, "[123456789012345678901234567890, 9007199254740993]"),
           "{ \"v\" : [ { \"$numberDecimal\" : \"123456789012345678901234567890\" }, 9007199254740993 ] }",
           "json: an integer past int64 is Decimal128; int64 past 2^53 stays an integer");
    DocOptions nearest = {.json_numbers = DOC_JSON_DOUBLE};
    is_str(bson_of(&nearest, OID_JSON, 0, "[0.1, 1e-28, 1.7976931348623157e308, 5e-324, 0.12345678901234567890, 1e1000]"),
           "{ \"v\" : [ 0.10000000000000000555, 9.9999999999999997123e-29, 1.7976931348623157081e+308, "
           "4.9406564584124654418e-324, { \"$numberDecimal\" : \"0.12345678901234567890\" }, "
           "{ \"$numberDecimal\" : \"1E+1000\" } ] }",
           "json_numbers = double: the nearest double where it reads back as the number, else Decimal128");
    like(bson_of(&o, OID_JSON, 0, "[1.0000000000000000000000000000000000001]"),
         "error: column \"v\": a json number that neither a double nor Decimal128",
         "json: a number of 38 digits is a bad row by default");
    DocOptions inexact = {.inexact_numeric = DOC_INEXACT_STRING};
    is_str(bson_of(&inexact, OID_JSON, 0, "[1.0000000000000000000000000000000000001]"),
           "{ \"v\" : [ \"1.0000000000000000000000000000000000001\" ] }",
           "json: inexact_numeric = string keeps it as its text");

    /* lone surrogates (issue: invalid UTF-8 in a document) */
    like(bson_of(&o, OID_JSON, 0, "\"\\ud800\""), "error: column \"v\": a lone UTF-16 surrogate",
         "json: a lone high surrogate is a bad row");
    like(bson_of(&o, OID_JSON, 0, "\"a\\udc00b\""), "lone_surrogates = replace", "json: a lone low surrogate too");
    like(bson_of(&o, OID_JSON, 0, "\"\\ud800\\u0041\""), "error: ", "json: a high surrogate before a non-surrogate");
    DocOptions replace = {.lone_surrogates = DOC_SURROGATES_REPLACE};
    is_str(bson_of(&replace, OID_JSON, 0, "[\"\\ud800\", \"x\\udfffy\", \"\\ud800\\u0041\", \"\\ud83d\\ude00\"]"),
           "{ \"v\" : [ \"\xef\xbf\xbd\", \"x\xef\xbf\xbdy\", \"\xef\xbf\xbd" "A\", \"\xf0\x9f\x98\x80\" ] }",
           "lone_surrogates = replace: U+FFFD for each lone half; a true pair stays one character");

    /* what a json parser must refuse (found by fuzzing: tests/fuzz/corpus/json/key-not-utf8) */
    like(bson_of(&o, OID_JSONB, 0, "{\"a\": {\"\xbb\": 1}}"), "error: column \"v\": invalid UTF-8 in a json string",
         "json: a key of invalid UTF-8 (a SQL_ASCII database's bytes) is a bad row, never invalid BSON");
    like(bson_of(&o, OID_JSONB, 0, "[\"caf\xc3\"]"), "invalid UTF-8", "json: a string cut inside a character too");
    like(bson_of(&o, OID_JSONB, 0, "\"a\tb\""), "a control character unescaped", "json: a raw tab in a string");
    like(bson_of(&o, OID_JSONB, 0, "\"\\q\""), "a bad escape in json", "json: an escape JSON does not have");
    is_str(bson_of(&o, OID_JSONB, 0, "\"\\/\\\"\\\\\""), "{ \"v\" : \"/\\\"\\\\\" }",
           "json: the escapes it has are read: \\/ \\\" \\\\");

    /* numbers a lenient reader would take (found by tests/lib/oracles.py against Python's json) */
    like(bson_of(&o, OID_JSON, 0, "01"), "a bad number in json", "json: a leading zero is no JSON number");
    like(bson_of(&o, OID_JSON, 0, "[.5e3]"), "a bad number in json", "json: nor a leading point");
    like(bson_of(&o, OID_JSON, 0, "+1"), "error: ", "json: nor a plus sign");
    like(bson_of(&o, OID_JSON, 0, "[1.]"), "a bad number in json", "json: nor a point without digits after it");
    like(bson_of(&o, OID_JSON, 0, "1e4294967297"), "neither a double nor Decimal128",
         "json: an exponent past an int is refused, where libbson's parser wraps it to 1E+1");
    like(bson_of(&o, OID_NUMERIC, 0, "1e4294967297"), "cannot be held exactly by Decimal128",
         "numeric: the same");
    like(bson_of(&o, OID_NUMERIC, 0, "0.00000009000000000000000000000000000000000000992"),
         "cannot be held exactly by Decimal128",
         "numeric: 40 digits are refused, where libbson's parser rounds them to 9.000…E-8 without a word");
    is_str(bson_of(&o, OID_NUMERIC, 0, "-27129423621955443522846294547323490.00"),
           "{ \"v\" : { \"$numberDecimal\" : \"-2.712942362195544352284629454732349E+34\" } }",
           "numeric: 35 digits and two places that end in zeros are Decimal128's 34, where libbson refuses them");
    {
        const char nul[] = "[31\0" "4]";
        Column col = {.name = "v", .type = OID_JSON};
        TableShape shape = {.target = "t", .ncols = 1, .nout = 1, .cols = &col};
        DocWriter writer;
        FerryError err;
        bson_t doc = BSON_INITIALIZER;
        ok(doc_writer_init(&writer, &o, &shape, &err) &&
               !doc_append_value(&writer, &doc, "v", &col, nul, sizeof nul - 1, &err),
           "json: a NUL inside a number ends no number: [31\\0" "4] is refused, not read as [31]");
        bson_destroy(&doc);
        doc_writer_free(&writer);
    }

    /* field names that escaping or json makes one (issue: duplicate field names) */
    like(bson_of(&o, OID_JSONB, 0, "{\"$x\": 1, \"＄x\": 2}"), "two keys that are one field name",
         "json: '$x' and '＄x' in one object are a bad row under field_names = escape");
    DocOptions keep = {.field_names = DOC_NAMES_KEEP};
    is_str(bson_of(&keep, OID_JSONB, 0, "{\"$x\": 1, \"＄x\": 2}"), "{ \"v\" : { \"$x\" : 1, \"＄x\" : 2 } }",
           "field_names = keep keeps them apart");
    like(bson_of(&o, OID_JSON, 0, "{\"a\": 1, \"b\": {\"c\": 1, \"c\": 2}}"), "the same key twice",
         "json (not jsonb) with a repeated key is a bad row");
    is_str(bson_of(&o, OID_JSON, 0, "[{\"a\": 1}, {\"a\": 2}]"), "{ \"v\" : [ { \"a\" : 1 }, { \"a\" : 2 } ] }",
           "the same key in two objects is no repeat");
    like(bson_of(&o, OID_NUMERIC, 0, "12345678901234567890123456789012345"), "cannot be held exactly by Decimal128",
         "numeric: 35 significant digits are refused");
    o.inexact_numeric = DOC_INEXACT_STRING;
    is_str(bson_of(&o, OID_NUMERIC, 0, "12345678901234567890123456789012345"),
           "{ \"v\" : \"12345678901234567890123456789012345\" }", "numeric: inexact_numeric = string keeps it exactly");
    is_str(bson_of(&o, OID_NUMERIC, 0, "1.50"), "{ \"v\" : { \"$numberDecimal\" : \"1.50\" } }", "numeric: Decimal128 keeps the scale");
    is_str(bson_of(&o, OID_INT4, OID_INT4, "[0:1]={{1,NULL},{3,4}}"), "{ \"v\" : [ [ 1, null ], [ 3, 4 ] ] }",
           "arrays: dimensions decoration, nesting and NULL");
    is_str(bson_of(&o, OID_TEXT, OID_TEXT, "{\"NULL\",\"a\\\"b\",NULL}"), "{ \"v\" : [ \"NULL\", \"a\\\"b\", null ] }",
           "arrays: a quoted NULL is a string, escapes decoded");
    like(bson_of(&o, OID_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1"), "malformed uuid", "a short uuid is an error");
    o.timestamps = DOC_TIMESTAMPS_STRING;
    is_str(bson_of(&o, OID_TIMESTAMPTZ, 0, "2024-01-02 03:04:05.123456+00"), "{ \"v\" : \"2024-01-02T03:04:05.123456Z\" }",
           "timestamps = string keeps the microseconds");
    char long_time[FERRY_TIMESTAMP_TEXT_MAX + 16];
    memset(long_time, '9', sizeof long_time - 1);
    long_time[sizeof long_time - 1] = '\0';
    like(bson_of(&o, OID_TIMESTAMPTZ, 0, long_time), "{ \"v\" : \"9999999999",
         "a timestamp's text past FERRY_TIMESTAMP_TEXT_MAX is kept as its text, not read into a fixed buffer");
    o.timestamps = DOC_TIMESTAMPS_DATE;
    is_str(bson_of(&o, OID_TIMESTAMP, 0, "infinity"), "{ \"v\" : \"infinity\" }", "an infinite timestamp stays text");

    /* A bytea's bytes are decoded into a buffer bounded by a document's size. */
    size_t hex = 2 * (size_t)FERRY_DOCUMENT_MAX + 4;
    char *big = malloc(hex + 3);
    memcpy(big, "\\x", 2);
    memset(big + 2, 'a', hex);
    big[hex + 2] = '\0';
    is_str(bson_of(&o, OID_BYTEA, 0, big), "error: column \"v\": a bytea larger than a document can hold (16 MiB)",
           "a bytea past FERRY_DOCUMENT_MAX is a bad row, named, with no buffer grown past it");
    free(big);
}
