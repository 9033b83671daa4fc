/*
 * tests/fuzz/fuzz_manifest.c — the UNLOAD manifest Redshift writes (agent/unload.c, unload_manifest_parse):
 * any text is a list of objects below the stage, each with a count of no fewer than 0 rows, or is
 * refused; never a read past the text.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/unload.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    const char *base = "s3://bucket/stage/t/p000001/s0/";
    UnloadManifest m;
    FerryError err;
    if (unload_manifest_parse(text, base, "fuzz", &m, &err)) {
        for (int i = 0; i < m.count; i++)
            if (m.records[i] < 0 || m.names[i][0] == '\0' || strlen(m.names[i]) > size)
                abort();
        unload_manifest_free(&m);
    }
    free(text);
    return 0;
}
