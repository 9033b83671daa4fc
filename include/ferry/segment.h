/*
 * include/ferry/segment.h — the name of a segment's output, the one place every sink takes it from.
 *
 *   generation 0:  <target>.p<partition, 6 digits>.s<sequence, 8 digits>.<extension>
 *   generation g:  <target>.g<g, 6 digits>.p<partition>.s<sequence>.<extension>
 *
 * Deterministic: a segment written again after a crash has the name of the
 * first attempt, so it replaces its own output (sink.h). A generation is one
 * load of a table: a plan's first load is generation 0 (the names ferry has
 * always written); a later load that must not replace an earlier one's
 * output (a re-plan kept beside the old, an incremental run) writes the
 * next. Names of one partition of one generation share segment_prefix, so a
 * sink can list them.
 */
#ifndef FERRY_SEGMENT_H
#define FERRY_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"
#include "ferry/files.h"

typedef struct SegmentId {
    int64_t generation;
    int64_t partition;
    int64_t sequence;
} SegmentId;

/* The segment's name into out[cap]; false (err names `who`) when it does not fit. */
bool segment_name(char *out, size_t cap, const char *target, SegmentId id, const char *extension,
                  const char *who, FerryError *err);
/*
 * What every segment name of one partition of one generation starts with
 * ("<target>.p000001.s"); with a negative partition, of every partition of
 * the generation ("<target>.p").
 */
bool segment_prefix(char *out, size_t cap, const char *target, int64_t generation, int64_t partition,
                    const char *who, FerryError *err);
/*
 * A local file of the segment's own, <dir>/<segment name> (made with dir if
 * needed), that appears complete or not at all (files.h): a sink's reject file,
 * which holds rows, so only ferry's user may read it (mode 0600).
 */
bool segment_file_open(DurableFile *file, const char *dir, const char *target, SegmentId id, const char *extension,
                       const char *who, FerryError *err);
/* Is `name` a segment name of `target`, of any generation and extension? Fills *id when it is. */
bool segment_parse(const char *name, const char *target, SegmentId *id);

#endif
