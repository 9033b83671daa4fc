/*
 * tests/fuzz/fuzz_copy.c — a line of COPY's text format into a batch (agent/source.c, source_copy_row):
 * any bytes are a row of the asked number of values or are refused; every value lies within the line
 * (an escape only ever shortens one) and is NUL-terminated where the batch says it ends. The UTF-8
 * check of a SQL_ASCII database's rows (batch_text_valid) then finds a bad byte inside its value, or
 * none, and the key describer names any row within its buffer.
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
        int row = -1, col = -1;
        size_t at = 0;
        if (!batch_text_valid(&batch, &row, &col, &at)) {
            size_t vlen = 0;
            const char *value = batch_value(&batch, row, col, &vlen);
            if (row != 0 || value == NULL || at >= vlen || utf8_valid_prefix(value, vlen) != at)
                abort();
        }
        Column cols[8] = {{.name = "k"}};
        TableShape shape = {.ncols = ncols, .nkeys = 1, .cols = cols};
        char key[32];
        batch_describe_key(&shape, &batch, 0, key, sizeof key);
        if (strlen(key) >= sizeof key || utf8_valid_prefix(key, strlen(key)) != strlen(key))
            abort();
    }
    batch_free(&batch);
    return 0;
}
