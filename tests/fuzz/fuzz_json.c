/*
 * tests/fuzz/fuzz_json.c — a json or jsonb value into BSON (sinks/document.c, its own parser): any bytes
 * are a document or are refused with a reason; what is accepted is BSON libbson validates, UTF-8
 * included, within the nesting limit. The first byte picks json or jsonb and the options that shape
 * names, lone surrogates and numbers.
 */
#include <bson/bson.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/document.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    Column col = {.name = "j", .type_name = "jsonb", .type = data[0] % 2 ? OID_JSON : OID_JSONB};
    TableShape shape = {.schema = "public", .name = "t", .target = "t", .ncols = 1, .nout = 1, .cols = &col};
    DocOptions options = {.field_names = (data[0] >> 1) % 3, .lone_surrogates = (data[0] >> 3) & 1,
                          .json_numbers = (data[0] >> 4) & 1};
    DocWriter writer;
    FerryError err;
    if (!doc_writer_init(&writer, &options, &shape, &err))
        abort();
    bson_t doc = BSON_INITIALIZER;
    bool ok = doc_append_value(&writer, &doc, "j", &col, (const char *)data + 1, size - 1, &err);
    size_t offset = 0;
    if (ok && !bson_validate(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &offset))
        abort(); /* accepted, yet not BSON a server would take */
    if (!ok && strstr(err.message, "j") == NULL)
        abort(); /* refused without naming the column */
    bson_destroy(&doc);
    doc_writer_free(&writer);
    return 0;
}
