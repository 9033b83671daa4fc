/*
 * tests/unit/test_segment.c — segment names: the generation-0 form ferry has always written, later generations, parsing back.
 */
#include <string.h>

#include "ferry/segment.h"
#include "tap.h"

void test_segment(void)
{
    char name[128];
    FerryError err;
    ok(segment_name(name, sizeof name, "public.t", (SegmentId){0, 3, 17}, "ndjson.gz", "dir sink", &err),
       "a generation-0 name fits");
    is_str(name, "public.t.p000003.s00000017.ndjson.gz", "generation 0 keeps the names of earlier ferry versions");
    ok(segment_name(name, sizeof name, "public.t", (SegmentId){2, 3, 17}, "csv", "dir sink", &err),
       "a later generation's name fits");
    is_str(name, "public.t.g000002.p000003.s00000017.csv", "a later generation is named in the name");
    char prefix[64];
    ok(segment_prefix(prefix, sizeof prefix, "public.t", 2, 3, "dir sink", &err) &&
           strncmp(name, prefix, strlen(prefix)) == 0,
       "a segment's name starts with its partition's prefix (%s)", prefix);
    segment_prefix(prefix, sizeof prefix, "public.t", 0, 3, "dir sink", &err);
    ok(strncmp(name, prefix, strlen(prefix)) != 0, "generation 0's prefix does not list generation 2's segments");

    SegmentId id = {0};
    ok(segment_parse("public.t.g000002.p000003.s00000017.csv", "public.t", &id) && id.generation == 2 &&
           id.partition == 3 && id.sequence == 17,
       "a name parses back to its generation, partition and sequence");
    ok(segment_parse("public.t.p000003.s00000017.ndjson", "public.t", &id) && id.generation == 0,
       "a generation-0 name parses back");
    ok(!segment_parse("public.t2.p000003.s00000017.ndjson", "public.t", &id), "another table's segment is not this table's");
    ok(!segment_parse("public.t.p000003.s00000017.", "public.t", &id) &&
           !segment_parse("public.t.p000003.s.ndjson", "public.t", &id) &&
           !segment_parse("public.t.px.s00000017.ndjson", "public.t", &id) &&
           !segment_parse("public.t.g.p000003.s00000017.ndjson", "public.t", &id),
       "names that only look like segments are not taken for them");

    char small[16];
    ok(!segment_name(small, sizeof small, "public.t", (SegmentId){0, 3, 17}, "ndjson", "dir sink", &err),
       "a name that does not fit is refused, not cut");
    contains(err.message, "dir sink", "and the refusal names the sink");
}
