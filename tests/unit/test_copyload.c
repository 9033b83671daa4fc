/*
 * tests/unit/test_copyload.c — the COPY sinks' pieces that need no server: target names, COPY text rows, the SQL they write.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/compress.h"
#include "ferry/copyload.h"
#include "tap.h"

static bool to_string(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    strbuf_add(ctx, "%.*s", (int)len, data);
    return true;
}

void test_copyload(void)
{
    CopyTable t;
    FerryError err;
    ok(copy_table_parse("public.events", "public", &t, "postgres sink", "target", &err), "schema.name parses");
    is_str(t.sql, "\"public\".\"events\"", "and is quoted for SQL");
    copy_table_free(&t);
    ok(copy_table_parse("\"my.schema\".\"t \"\"x\"\"\"", "public", &t, "postgres sink", "target", &err) &&
           strcmp(t.schema, "my.schema") == 0 && strcmp(t.name, "t \"x\"") == 0,
       "quoted names keep their dots and quotes");
    copy_table_free(&t);
    ok(copy_table_parse("events", "public", &t, "postgres sink", "target", &err) && strcmp(t.schema, "public") == 0,
       "a bare name is in the default schema");
    copy_table_free(&t);
    ok(!copy_table_parse("a.b.c", "public", &t, "postgres sink", "target", &err), "three names are refused");
    contains(err.message, "target \"a.b.c\" is not a table name", "naming the key and the value");
    ok(!copy_table_parse("a.", "public", &t, "postgres sink", "target", &err) &&
           !copy_table_parse("", "public", &t, "postgres sink", "target", &err) &&
           !copy_table_parse("\"open", "public", &t, "postgres sink", "target", &err),
       "an empty name, an empty part and an open quote are refused");

    /* A row as COPY text: NULL is \N, the four special bytes escaped, the rest as it is. */
    RowBatch batch;
    batch_init(&batch, 3);
    batch_add_value(&batch, "7", 1, false);
    batch_add_value(&batch, "a\tb\nc\rd\\e \\N", 13, false);
    batch_add_value(&batch, NULL, 0, true);
    batch_end_row(&batch);
    StrBuf text = {0};
    strbuf_add(&text, "%s", "");
    OutBuf out;
    outbuf_init(&out, 4, to_string, &text); /* a tiny buffer: values cross its drains */
    copy_text_row(&out, &batch, 0, 3);
    outbuf_flush(&out);
    is_str(text.text, "7\ta\\tb\\nc\\rd\\\\e \\\\N\t\\N\n", "a row's COPY text line escapes what COPY reads specially");
    free(text.text);
    text = (StrBuf){0};
    strbuf_add(&text, "%s", "");
    out.len = 0;
    copy_text_row(&out, &batch, 0, 1);
    outbuf_flush(&out);
    is_str(text.text, "7\n", "only the sink's columns are written");
    outbuf_free(&out);
    free(text.text);

    Column cols[3] = {{.name = "id", .type_name = "bigint", .type = OID_INT8},
                      {.name = "v", .type_name = "text", .type = OID_TEXT},
                      {.name = "n", .type_name = "numeric(12,2)", .type = OID_NUMERIC}};
    TableShape shape = {.schema = "public", .name = "t", .target = "public.t", .ncols = 3, .nout = 3,
                        .cols = cols, .nkeys = 1, .key_col = {0}};
    copy_table_parse("public.t", "public", &t, "postgres sink", "target", &err);
    const char *types[] = {"bigint", "text", "numeric(12,2)"};
    char *sql = copy_create_sql(&t, &shape, types, true);
    is_str(sql, "CREATE TABLE IF NOT EXISTS \"public\".\"t\" (\"id\" bigint NOT NULL, \"v\" text, \"n\" numeric(12,2), "
                "PRIMARY KEY (\"id\"))",
           "CREATE TABLE: the source's types, the key NOT NULL and primary");
    free(sql);
    copy_table_free(&t);

    char key[64];
    batch_describe_key(&shape, &batch, 0, key, sizeof key);
    is_str(key, "(id) = (7)", "a bad row's key, as messages name it");
    ok(copy_ranges_match(&shape), "an integer key is ordered alike everywhere: verify by partition");
    shape.key_col[0] = 1;
    ok(!copy_ranges_match(&shape), "a text key may be ordered otherwise by the target: verify the whole table");
    batch_free(&batch);

    /* Redshift: the COPY as it is sent, the objects a segment is staged as, the type mapping. */
    sql = rs_copy_sql("\"rs\".\"t\"", "\"id\", \"v\"", "s3://b/p/rs.t/g0-p000001-s00000002/w00.manifest",
                      "arn:aws:iam::1:role/r", "@NULL@", COMPRESS_GZIP, false);
    is_str(sql, "COPY \"rs\".\"t\" (\"id\", \"v\") FROM 's3://b/p/rs.t/g0-p000001-s00000002/w00.manifest' "
                "IAM_ROLE 'arn:aws:iam::1:role/r' FORMAT AS CSV NULL AS '@NULL@' GZIP MANIFEST DATEFORMAT 'auto' "
                "TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF MAXERROR 0",
           "Redshift COPY: from the manifest, CSV, the NULL marker, no error allowed");
    free(sql);
    sql = rs_copy_sql("ferry_stage", "\"id\"", "s3://b/it's", "r", "@NULL@1", COMPRESS_ZSTD, true);
    contains(sql, "FROM 's3://b/it''s'", "quotes in a URL are doubled");
    contains(sql, "NULL AS '@NULL@1' ZSTD MANIFEST", "zstd objects");
    contains(sql, "MAXERROR 100000", "on_reject = skip: Redshift's most MAXERROR, the rows read back after");
    free(sql);
    ok(rs_file_count(100u << 20, 4.0, 4) == 24, "100 MB of CSV at 4:1 on 4 slices: 24 objects of about 1 MB");
    ok(rs_file_count(3u << 20, 4.0, 4) == 1, "a small segment: one object, not four under 1 MB");
    ok(rs_file_count(14u << 20, 2.0, 4) == 4, "7 MB compressed on 4 slices: 4 objects, a multiple of the slices");
    ok(rs_file_count(6ull << 30, 1.0, 2) == 6144, "6 GB: objects of 1 MB, a multiple of 2");
    ok(rs_file_count(0, 4.0, 0) == 1, "nothing, or no slice known: one object");
    static const struct { Column col; const char *want; } map[] = {
        {{.type_name = "bigint", .type = OID_INT8}, "bigint"},
        {{.type_name = "numeric", .type = OID_NUMERIC}, "numeric(38,9)"},
        {{.type_name = "numeric(12,2)", .type = OID_NUMERIC}, "numeric(12,2)"},
        {{.type_name = "numeric(60,20)", .type = OID_NUMERIC}, "numeric(38,20)"},
        {{.type_name = "text", .type = OID_TEXT}, "character varying(65535)"},
        {{.type_name = "character varying(12)", .type = OID_VARCHAR}, "character varying(48)"},
        {{.type_name = "character varying(20000)", .type = OID_VARCHAR}, "character varying(65535)"},
        {{.type_name = "jsonb", .type = OID_JSONB}, "super"},
        {{.type_name = "integer[]", .type = 1007, .elem_type = OID_INT4}, "super"},
        {{.type_name = "bytea", .type = OID_BYTEA}, "binary varying"},
        {{.type_name = "uuid", .type = OID_UUID}, "character varying(65535)"},
        {{.type_name = "timestamp with time zone", .type = OID_TIMESTAMPTZ}, "timestamp with time zone"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char name[64], what[128];
        rs_type_name(&map[i].col, name, sizeof name);
        snprintf(what, sizeof what, "Redshift type of %s is %s", map[i].col.type_name, map[i].want);
        is_str(name, map[i].want, what);
    }
    Column n = {.type_name = "numeric(12,2)", .type = OID_NUMERIC};
    char why[256];
    ok(rs_fits(&n, "-1234567890.50", 14, why, sizeof why), "numeric(12,2) holds 10 digits and 2 after the point");
    ok(!rs_fits(&n, "12345678901.5", 13, why, sizeof why), "not 11 before the point");
    contains(why, "does not fit numeric(12,2)", "saying which type");
    ok(!rs_fits(&n, "1.125", 5, why, sizeof why), "nor 3 after it: COPY would round");
    ok(rs_fits(&n, "0001.100", 8, why, sizeof why), "leading and trailing zeros do not count");
    ok(!rs_fits(&n, "NaN", 3, why, sizeof why), "NaN has no Redshift numeric");
    Column ts = {.type_name = "timestamp without time zone", .type = OID_TIMESTAMP};
    ok(!rs_fits(&ts, "infinity", 8, why, sizeof why) && rs_fits(&ts, "2024-01-01 00:00:00", 19, why, sizeof why),
       "an infinite timestamp does not fit; a finite one does");
}
