/*
 * tests/fuzz/fuzz_copy.c — a line of COPY's text format into a batch (agent/source.c, source_copy_row):
 * any bytes are a row of the asked number of values or are refused; every value lies within the line
 * (an escape only ever shortens one) and is NUL-terminated where the batch says it ends.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/source.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    int ncols = 1 + data[0] % 8;
    const char *line = (const char *)data + 1;
    size_t len = size - 1;
    RowBatch batch;
    batch_init(&batch, ncols);
    FerryError err;
    size_t total = 0;
    if (source_copy_row(&batch, line, len, &err)) {
        if (batch.nrows != 1)
            abort();
        for (int c = 0; c < ncols; c++) {
            size_t vlen = 0;
            const char *value = batch_value(&batch, 0, c, &vlen);
            if (value != NULL && (vlen > len || value[vlen] != '\0'))
                abort();
            total += value != NULL ? vlen : 0;
        }
        if (total > len)
            abort();
    }
    batch_free(&batch);
    return 0;
}
