/*
 * tests/unit/test_files.c — durable files written past the page cache: whole blocks direct, the rest
 * through the cache, the bytes on disk exactly those written, whatever the pieces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/files.h"
#include "tap.h"

/* The file's bytes equal `want`? */
static bool file_holds(const char *path, const char *want, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    char *got = malloc(len + 1);
    size_t n = fread(got, 1, len + 1, f);
    fclose(f);
    bool same = n == len && memcmp(got, want, len) == 0;
    free(got);
    return same;
}

/* Write `data` in the pieces `cuts` gives (lengths; 0 ends), direct where asked and the filesystem allows. */
static bool write_pieces(const char *dir, const char *name, bool direct, const char *data, const size_t *cuts,
                         bool *was_direct, bool *still_direct)
{
    DurableFile file;
    FerryError err;
    if (!file_durable_open(&file, dir, name, 0644, "test", &err))
        return false;
    *was_direct = direct && file_durable_direct(&file);
    size_t at = 0;
    for (const size_t *c = cuts; *c != 0; c++) {
        if (!file_durable_write(&file, data + at, *c, "test", &err)) {
            file_durable_abort(&file);
            return false;
        }
        at += *c;
    }
    *still_direct = file.direct;
    return file_durable_commit(&file, "test", &err);
}

void test_files(void)
{
    char dir[] = "/tmp/ferry-unit-files.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        ok(false, "a temporary folder");
        return;
    }
    const size_t block = FERRY_DIRECT_IO_ALIGN, total = 3 * 1024 * 1024 + 1234;
    char *data = xmalloc_aligned(block, total);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    char path[256];
    bool was = false, still = false;

    const size_t whole_then_tail[] = {1u << 20, 1u << 20, 1u << 20, 1234, 0};
    ok(write_pieces(dir, "a", true, data, whole_then_tail, &was, &still), "1 MiB blocks, then a tail: committed");
    snprintf(path, sizeof path, "%s/a", dir);
    ok(file_holds(path, data, total), "the file holds every byte, in order");
    if (was)
        ok(!still, "the tail, not whole blocks, ended direct writes for the file");
    else
        printf("# this filesystem takes no O_DIRECT: the file was written through the cache\n");

    const size_t odd_first[] = {1000, (1u << 20) - 1000, 2u << 20, 1234, 0};
    ok(write_pieces(dir, "b", true, data, odd_first, &was, &still), "a piece that is not whole blocks first: committed");
    snprintf(path, sizeof path, "%s/b", dir);
    ok(file_holds(path, data, total), "and the file holds every byte, though the rest was aligned again");
    ok(!still, "direct writes, once ended, stay ended for the file (no later write is misaligned on disk)");

    const size_t exact[] = {2u << 20, 0};
    ok(write_pieces(dir, "c", true, data, exact, &was, &still), "whole blocks alone: committed");
    snprintf(path, sizeof path, "%s/c", dir);
    ok(file_holds(path, data, 2u << 20), "the file is exactly the blocks written");
    if (was)
        ok(still, "every write went direct");

    ok(write_pieces(dir, "d", false, data, whole_then_tail, &was, &still) && !was && !still,
       "direct_io = false: the cache throughout");
    snprintf(path, sizeof path, "%s/d", dir);
    ok(file_holds(path, data, total), "with the same bytes");

    free(data);
    for (const char *n = "abcd"; *n; n++) {
        snprintf(path, sizeof path, "%s/%c", dir, *n);
        unlink(path);
    }
    rmdir(dir);
}
