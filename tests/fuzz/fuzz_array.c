/*
 * tests/fuzz/fuzz_array.c — PostgreSQL array literals (sinks/format.c, pg_array_walk): any text is an
 * array or is refused; opens and closes balance, every element lies within the input's length.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/format.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

typedef struct Walk {
    int depth, max_depth;
    size_t size;
} Walk;

static void open_array(void *ctx, int index)
{
    (void)index;
    Walk *w = ctx;
    if (++w->depth > w->max_depth)
        w->max_depth = w->depth;
}

static void close_array(void *ctx)
{
    Walk *w = ctx;
    if (--w->depth < 0)
        abort();
}

static void element(void *ctx, int index, const char *text, size_t len, bool is_null)
{
    Walk *w = ctx;
    if (index < 0 || len > w->size || (!is_null && text[len] != '\0'))
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    char delim = data[0] % 2 ? ',' : ';';
    Walk w = {.size = size};
    PgArrayVisitor visitor = {open_array, close_array, element, &w};
    char *scratch = NULL;
    size_t cap = 0;
    if (pg_array_walk((const char *)data + 1, size - 1, delim, &visitor, &scratch, &cap) && w.depth != 0)
        abort(); /* an accepted literal closes every brace it opens */
    free(scratch);
    return 0;
}
