/*
 * tests/fuzz/fuzz_numeric.c — a numeric's text into Decimal128 (sinks/document.c): any text is a
 * Decimal128, kept as a string (inexact_numeric = string), or refused; a Decimal128 printed and read
 * again is the same value, bit for bit.
 */
#include <bson/bson.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/document.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    Column col = {.name = "n", .type_name = "numeric", .type = OID_NUMERIC};
    TableShape shape = {.schema = "public", .name = "t", .target = "t", .ncols = 1, .nout = 1, .cols = &col};
    DocOptions options = {.inexact_numeric = size > 0 && data[0] == ' ' ? DOC_INEXACT_STRING : DOC_INEXACT_REJECT};
    DocWriter writer;
    FerryError err;
    if (!doc_writer_init(&writer, &options, &shape, &err))
        abort();
    bson_t doc = BSON_INITIALIZER;
    bson_iter_t it;
    if (doc_append_value(&writer, &doc, "n", &col, (const char *)data, size, &err) && bson_iter_init_find(&it, &doc, "n")) {
        if (BSON_ITER_HOLDS_UTF8(&it) && options.inexact_numeric == DOC_INEXACT_STRING)
            goto out; /* kept as the text it was */
        if (!BSON_ITER_HOLDS_DECIMAL128(&it))
            abort();
        bson_decimal128_t dec, again;
        bson_iter_decimal128(&it, &dec);
        char text[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&dec, text);
        if (!bson_decimal128_from_string(text, &again) || again.low != dec.low || again.high != dec.high)
            abort();
    }
out:
    bson_destroy(&doc);
    doc_writer_free(&writer);
    return 0;
}
