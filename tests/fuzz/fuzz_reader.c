/*
 * tests/fuzz/fuzz_reader.c — the NDJSON and CSV reader verify reads files back with (sinks/format.c):
 * any bytes, fed in pieces, give rows whose fields lie within what was fed, or a malformed mark.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/format.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static size_t fed;

static void on_row(void *ctx, const char *const *fields, const size_t *lengths)
{
    int n = *(int *)ctx;
    for (int i = 0; i < n; i++)
        if (fields[i] != NULL && lengths[i] > fed)
            abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char *const names[] = {"\"id\"", "\"v\""};
    static const int indexes[] = {0, 2};
    int nfields = 2;
    fed = size;
    RowReader reader;
    row_reader_init(&reader, data[0] % 2 ? FORMAT_CSV : FORMAT_NDJSON, data[1] % 2, nfields, names, indexes, on_row,
                    &nfields);
    size_t step = 1 + data[1] % 7; /* pieces of 1 to 7 bytes: rows cut anywhere */
    for (size_t at = 2; at < size; at += step)
        row_reader_feed(&reader, (const char *)data + at, at + step <= size ? step : size - at);
    row_reader_finish(&reader);
    row_reader_free(&reader);
    return 0;
}
