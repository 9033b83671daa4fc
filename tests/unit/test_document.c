/*
 * tests/unit/test_document.c — BSON documents of rows: dates, json keys, numerics, arrays, bad values.
 */
#include <stdlib.h>

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
    o.timestamps = DOC_TIMESTAMPS_DATE;
    is_str(bson_of(&o, OID_TIMESTAMP, 0, "infinity"), "{ \"v\" : \"infinity\" }", "an infinite timestamp stays text");
}
