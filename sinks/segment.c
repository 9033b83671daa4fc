/*
 * sinks/segment.c — segment names (segment.h): one format, for every sink and reject file.
 */
#include "ferry/files.h"
#include "ferry/segment.h"

bool segment_name(char *out, size_t cap, const char *target, int64_t partition, int64_t sequence,
                  const char *extension, const char *who, FerryError *err)
{
    return file_path(out, cap, who, err, "%s.p%06lld.s%08lld.%s", target, (long long)partition,
                     (long long)sequence, extension);
}

bool segment_prefix(char *out, size_t cap, const char *target, int64_t partition, const char *who,
                    FerryError *err)
{
    return file_path(out, cap, who, err, "%s.p%06lld.s", target, (long long)partition);
}
