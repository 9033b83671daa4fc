/*
 * tests/unit/test_unload.c — the UNLOAD manifest Redshift writes, read (unload_manifest_parse).
 */
#include <string.h>

#include "ferry/unload.h"
#include "tap.h"

#define BASE "s3://b/stage/t/p000001/s0/"

void test_unload(void)
{
    UnloadManifest m;
    FerryError err;
    ok(unload_manifest_parse("{\"entries\": [\n {\"url\":\"" BASE "0000_part_00\", \"meta\": {\"content_length\": 9,"
                             " \"record_count\": 40}},\n {\"url\" : \"" BASE "0001_part_00\",\"meta\":{\"record_count\":0}}"
                             "],\n\"meta\": {\"content_length\": 9, \"record_count\": 40}}",
                             BASE, "m", &m, &err) &&
           m.count == 2 && strcmp(m.names[0], "0000_part_00") == 0 && m.records[0] == 40 && m.records[1] == 0,
       "a manifest's entries: each object below the stage, with its rows");
    unload_manifest_free(&m);
    ok(!unload_manifest_parse("{\"entries\":[{\"url\":\"" BASE "0000_part_00\",\"meta\":{\"record_count\"", BASE, "m",
                              &m, &err) && strstr(err.message, "without a record_count it can read") != NULL,
       "a record_count without its value is refused (it was read through a NULL pointer)");
    ok(!unload_manifest_parse("{\"entries\":[{\"url\":\"s3://elsewhere/x\",\"meta\":{\"record_count\":1}}]}", BASE, "m",
                              &m, &err) && strstr(err.message, "outside " BASE) != NULL,
       "an entry outside the stage is refused");
    ok(!unload_manifest_parse("{\"entries\":[{\"url\":\"" BASE "a\",\"meta\":{\"record_count\":-3}}]}", BASE, "m", &m,
                              &err),
       "a negative count is refused");
    ok(!unload_manifest_parse("{\"entries\":[{\"url\":\"" BASE "a\",\"meta\":{\"record_count\":12x}}]}", BASE, "m", &m,
                              &err),
       "a count that is not a number is refused");
    ok(unload_manifest_parse("{\"entries\":[]}", BASE, "m", &m, &err) && m.count == 0, "an empty stage has no objects");
    unload_manifest_free(&m);
}
