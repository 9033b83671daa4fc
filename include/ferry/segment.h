/*
 * include/ferry/segment.h — the name of a segment's output, the one place every sink takes it from.
 *
 *   <target>.p<partition, 6 digits>.s<sequence, 8 digits>.<extension>
 *
 * Deterministic: a segment written again after a crash has the name of the
 * first attempt, so it replaces its own output (sink.h). Names of one
 * partition share segment_prefix, so a sink can list them.
 */
#ifndef FERRY_SEGMENT_H
#define FERRY_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

/* The segment's name into out[cap]; false (err names `who`) when it does not fit. */
bool segment_name(char *out, size_t cap, const char *target, int64_t partition, int64_t sequence,
                  const char *extension, const char *who, FerryError *err);
/* What every segment name of one partition starts with ("<target>.p000001.s"). */
bool segment_prefix(char *out, size_t cap, const char *target, int64_t partition, const char *who,
                    FerryError *err);

#endif
