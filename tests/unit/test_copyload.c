/*
 * tests/unit/test_copyload.c — the COPY sinks' pieces that need no server: target names, COPY text rows, the SQL they write.
 */
#include <stdlib.h>
#include <string.h>

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
    copy_describe_key(&shape, &batch, 0, key, sizeof key);
    is_str(key, "(id) = (7)", "a bad row's key, as messages name it");
    ok(copy_ranges_match(&shape), "an integer key is ordered alike everywhere: verify by partition");
    shape.key_col[0] = 1;
    ok(!copy_ranges_match(&shape), "a text key may be ordered otherwise by the target: verify the whole table");
    batch_free(&batch);
}
