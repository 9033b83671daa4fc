/*
 * tests/fuzz/fuzz_keytuple.c — key tuples (core/keytuple.c), by round trip: a text that decodes into
 * values encodes back into a text that decodes into the same values; values cut from the input
 * encode into a text that decodes back into them.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/keytuple.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void same_values(char **a, char **b, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    int count = 1 + data[0] % FERRY_KEY_COLUMNS_MAX;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    /* Decode what came, and round-trip what decoded. */
    char *values[FERRY_KEY_COLUMNS_MAX], *again[FERRY_KEY_COLUMNS_MAX];
    if (key_tuple_decode(text, count, values)) {
        size_t lengths[FERRY_KEY_COLUMNS_MAX];
        for (int i = 0; i < count; i++)
            lengths[i] = strlen(values[i]);
        char *encoded = key_tuple_encode((const char *const *)values, lengths, count);
        if (!key_tuple_decode(encoded, count, again))
            abort();
        same_values(values, again, count);
        for (int i = 0; i < count; i++)
            free(values[i]), free(again[i]);
        free(encoded);
    }

    /* Encode the input cut into `count` values (at NUL-free pieces), and decode it back. */
    size_t len = strlen(text), piece = len / (size_t)count;
    const char *parts[FERRY_KEY_COLUMNS_MAX];
    size_t lengths[FERRY_KEY_COLUMNS_MAX];
    char *copies[FERRY_KEY_COLUMNS_MAX];
    for (int i = 0; i < count; i++) {
        size_t from = piece * (size_t)i, n = i == count - 1 ? len - from : piece;
        copies[i] = strndup(text + from, n);
        parts[i] = copies[i];
        lengths[i] = n;
    }
    char *encoded = key_tuple_encode(parts, lengths, count);
    if (!key_tuple_decode(encoded, count, again))
        abort();
    same_values(copies, again, count);
    for (int i = 0; i < count; i++)
        free(copies[i]), free(again[i]);
    free(encoded);
    free(text);
    return 0;
}
