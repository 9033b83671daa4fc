/*
 * tests/unit/test_format.c — NDJSON and CSV encoding of every mapped type and its edge values.
 */
#include <stdlib.h>

#include "ferry/format.h"
#include "tap.h"

/* Collects drained output; the OutBuf in front of it is tiny on purpose, so
 * every value crosses buffer boundaries. */
typedef struct Sinkhole {
    char data[65536];
    size_t len;
    bool fail;
} Sinkhole;

static bool collect(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sinkhole *s = ctx;
    if (s->fail)
        return ferry_error(err, FERRY_ERR_SINK, 28, "disk full");
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->data[s->len] = '\0';
    return true;
}

static const char *json_of(FerryOid type, FerryOid elem, const char *text)
{
    static Sinkhole hole;
    static TableShape shape;
    static Column col = {.name = "c"};
    shape.ncols = shape.nout = 1;
    shape.cols = &col;
    RowWriter writer;
    row_writer_init(&writer, FORMAT_NDJSON, false, false, &shape);
    OutBuf out;
    hole.len = 0;
    hole.data[0] = '\0';
    outbuf_init(&out, 7, collect, &hole);
    format_json_value(&writer, &out, type, elem, ',', text, strlen(text));
    outbuf_flush(&out);
    outbuf_free(&out);
    row_writer_free(&writer);
    return hole.data;
}

static const char *rows_of(RowFormat format, bool header)
{
    static Sinkhole hole;
    Column cols[3] = {{.name = "id", .type = OID_INT8}, {.name = "note \"n\"", .type = OID_TEXT},
                      {.name = "ok", .type = OID_BOOL}};
    TableShape shape = {.ncols = 3, .nout = 3, .cols = cols};
    RowBatch batch;
    batch_init(&batch, 3);
    const char *rows[3][3] = {{"1", "plain", "t"}, {"2", "", "f"}, {"3", "a,b \"q\"\nline\\", NULL}};
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++) {
            const char *v = rows[r][c];
            batch_add_value(&batch, v ? v : "", v ? strlen(v) : 0, v == NULL);
        }
        batch_end_row(&batch);
    }
    batch_add_value(&batch, "4", 1, false);
    batch_add_value(&batch, "", 0, true);
    batch_add_value(&batch, "t", 1, false);
    batch_end_row(&batch);
    RowWriter writer;
    row_writer_init(&writer, format, header, false, &shape);
    OutBuf out;
    hole.len = 0;
    outbuf_init(&out, 5, collect, &hole);
    row_writer_header(&writer, &out);
    FerryError err;
    row_writer_batch(&writer, &out, &batch, &err);
    outbuf_flush(&out);
    outbuf_free(&out);
    row_writer_free(&writer);
    batch_free(&batch);
    return hole.data;
}

void test_format(void)
{
    is_str(json_of(OID_INT4, 0, "-2147483648"), "-2147483648", "int4 is a number");
    is_str(json_of(OID_INT8, 0, "9223372036854775807"), "9223372036854775807", "int8 keeps all its digits");
    is_str(json_of(OID_INT2, 0, "0"), "0", "int2");
    is_str(json_of(OID_FLOAT8, 0, "1.5e+300"), "1.5e+300", "float8 with exponent");
    is_str(json_of(OID_FLOAT8, 0, "-0"), "-0", "negative zero");
    is_str(json_of(OID_FLOAT8, 0, "NaN"), "\"NaN\"", "NaN is a string");
    is_str(json_of(OID_FLOAT4, 0, "Infinity"), "\"Infinity\"", "Infinity is a string");
    is_str(json_of(OID_FLOAT8, 0, "-Infinity"), "\"-Infinity\"", "-Infinity is a string");
    is_str(json_of(OID_NUMERIC, 0, "12345678901234567890.000000000000000001"),
           "\"12345678901234567890.000000000000000001\"", "numeric is an exact string");
    is_str(json_of(OID_NUMERIC, 0, "NaN"), "\"NaN\"", "numeric NaN");
    is_str(json_of(OID_BOOL, 0, "t"), "true", "bool t");
    is_str(json_of(OID_BOOL, 0, "f"), "false", "bool f");
    is_str(json_of(OID_JSONB, 0, "{\"a\": [1, null, \"x\"]}"), "{\"a\": [1, null, \"x\"]}", "jsonb is embedded");
    is_str(json_of(OID_JSON, 0, "[]"), "[]", "json is embedded");
    is_str(json_of(OID_TEXT, 0, "tab\there \"q\" back\\slash\nnew\x01" "ctl é"),
           "\"tab\\there \\\"q\\\" back\\\\slash\\nnew\\u0001ctl é\"", "text escapes quotes, backslashes and controls; UTF-8 passes");
    is_str(json_of(OID_TEXT, 0, ""), "\"\"", "empty text");
    is_str(json_of(OID_TEXT, 0, "0123456789\"abcdefghijklmno\\pqrstuvw\x1fxyz0123456789abcdef"),
           "\"0123456789\\\"abcdefghijklmno\\\\pqrstuvw\\u001fxyz0123456789abcdef\"",
           "escapes are found past the first 8 bytes and between clean 8-byte words");
    is_str(json_of(OID_BYTEA, 0, "\\x"), "\"\"", "empty bytea");
    is_str(json_of(OID_BYTEA, 0, "\\x00"), "\"AA==\"", "bytea of 1 byte");
    is_str(json_of(OID_BYTEA, 0, "\\x00ff"), "\"AP8=\"", "bytea of 2 bytes");
    is_str(json_of(OID_BYTEA, 0, "\\x00ff10"), "\"AP8Q\"", "bytea of 3 bytes");
    is_str(json_of(OID_BYTEA, 0, "\\x666f6f626172"), "\"Zm9vYmFy\"", "bytea 'foobar' in base64");
    is_str(json_of(OID_TIMESTAMPTZ, 0, "2024-02-29 23:59:59.123456+00"), "\"2024-02-29T23:59:59.123456Z\"",
           "timestamptz in ISO-8601 UTC");
    is_str(json_of(OID_TIMESTAMPTZ, 0, "2024-01-01 00:00:00+00"), "\"2024-01-01T00:00:00Z\"", "whole seconds");
    is_str(json_of(OID_TIMESTAMPTZ, 0, "infinity"), "\"infinity\"", "infinite timestamp stays text");
    is_str(json_of(OID_TIMESTAMPTZ, 0, "0044-03-15 12:00:00+00 BC"), "\"-0043-03-15T12:00:00Z\"",
           "44 BC is ISO 8601's year -0043");
    is_str(json_of(OID_TIMESTAMP, 0, "0001-01-01 00:00:00 BC"), "\"0000-01-01T00:00:00\"", "1 BC is year 0000");
    is_str(json_of(OID_TIMESTAMPTZ, 0, "294276-12-31 23:59:59.999999+00"), "\"+294276-12-31T23:59:59.999999Z\"",
           "a year past 9999 has its sign");
    is_str(json_of(OID_TIMESTAMP, 0, "10000-01-01 00:00:00"), "\"+10000-01-01T00:00:00\"", "year 10000");
    is_str(json_of(OID_TIMESTAMP, 0, "-infinity"), "\"-infinity\"", "-infinity stays text");
    is_str(json_of(OID_TIMESTAMPTZ, 0, "2024-01-01 00:00:00+05"), "\"2024-01-01 00:00:00+05\"",
           "an offset other than UTC (never sent: TimeZone is pinned) stays text");
    is_str(json_of(OID_TIMESTAMP, 0, "1999-12-31 23:59:59.5"), "\"1999-12-31T23:59:59.5\"", "timestamp without zone");
    is_str(json_of(OID_DATE, 0, "2024-01-02"), "\"2024-01-02\"", "date is text");
    is_str(json_of(OID_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"", "uuid");
    is_str(json_of(12345, 0, "(1,2)"), "\"(1,2)\"", "an unknown type is its text");

    is_str(json_of(1007, OID_INT4, "{1,2,NULL,-4}"), "[1,2,null,-4]", "int4[] with a NULL");
    is_str(json_of(1009, OID_TEXT, "{plain,\"with space\",\"q\\\"uote\",\"back\\\\\",\"NULL\",\"\"}"),
           "[\"plain\",\"with space\",\"q\\\"uote\",\"back\\\\\",\"NULL\",\"\"]",
           "text[]: quoted, escaped, the string NULL, empty");
    is_str(json_of(1007, OID_INT4, "{{1,2},{3,4}}"), "[[1,2],[3,4]]", "two dimensions nest");
    is_str(json_of(1007, OID_INT4, "[0:1]={7,8}"), "[7,8]", "dimension decoration is dropped");
    is_str(json_of(1007, OID_INT4, "{}"), "[]", "empty array");
    is_str(json_of(199, OID_JSON, "{\"{\\\"a\\\": 1}\",NULL}"), "[{\"a\": 1},null]", "json[] embeds elements");
    is_str(json_of(1000, OID_BOOL, "{t,f}"), "[true,false]", "bool[]");
    is_str(json_of(1185, OID_TIMESTAMPTZ, "{\"2024-01-01 00:00:00+00\"}"), "[\"2024-01-01T00:00:00Z\"]",
           "timestamptz[] elements are mapped too");

    is_str(rows_of(FORMAT_NDJSON, false),
           "{\"id\":1,\"note \\\"n\\\"\":\"plain\",\"ok\":true}\n"
           "{\"id\":2,\"note \\\"n\\\"\":\"\",\"ok\":false}\n"
           "{\"id\":3,\"note \\\"n\\\"\":\"a,b \\\"q\\\"\\nline\\\\\",\"ok\":null}\n"
           "{\"id\":4,\"note \\\"n\\\"\":null,\"ok\":true}\n",
           "NDJSON: one object a line, names escaped, NULL as null");
    is_str(rows_of(FORMAT_CSV, true),
           "id,\"note \"\"n\"\"\",ok\n"
           "1,plain,t\n"
           "2,\"\",f\n"
           "3,\"a,b \"\"q\"\"\nline\\\",\n"
           "4,,t\n",
           "CSV: header, quotes doubled, empty string quoted, NULL empty");

    /* A failing drain is reported once, not ignored. */
    Sinkhole hole = {.fail = true};
    OutBuf out;
    outbuf_init(&out, 4, collect, &hole);
    outbuf_write(&out, "0123456789", 10);
    ok(out.failed && strcmp(out.error.message, "disk full") == 0, "a drain failure sticks to the buffer");
    outbuf_free(&out);
}
