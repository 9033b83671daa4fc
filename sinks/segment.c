/*
 * sinks/segment.c — segment names (segment.h): one format, for every sink and reject file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ferry/files.h"
#include "ferry/segment.h"

/* "<target>." then, past generation 0, "g<generation>." */
static int generation_part(char *out, size_t cap, int64_t generation)
{
    return generation == 0 ? snprintf(out, cap, "%s", "") : snprintf(out, cap, "g%06" PRId64 ".", generation);
}

bool segment_name(char *out, size_t cap, const char *target, SegmentId id, const char *extension,
                  const char *who, FerryError *err)
{
    char gen[32];
    generation_part(gen, sizeof gen, id.generation);
    return file_path(out, cap, who, err, "%s.%sp%06" PRId64 ".s%08" PRId64 ".%s", target, gen, id.partition,
                     id.sequence, extension);
}

bool segment_prefix(char *out, size_t cap, const char *target, int64_t generation, int64_t partition,
                    const char *who, FerryError *err)
{
    char gen[32];
    generation_part(gen, sizeof gen, generation);
    if (partition < 0)
        return file_path(out, cap, who, err, "%s.%sp", target, gen);
    return file_path(out, cap, who, err, "%s.%sp%06" PRId64 ".s", target, gen, partition);
}

/* Digits at *p into *value; false when there are none. */
static bool take_number(const char **p, int64_t *value)
{
    const char *q = *p;
    int64_t v = 0;
    while (*q >= '0' && *q <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (*q++ - '0');
    if (q == *p)
        return false;
    *p = q;
    *value = v;
    return true;
}

bool segment_parse(const char *name, const char *target, SegmentId *id)
{
    size_t tlen = strlen(target);
    if (strncmp(name, target, tlen) != 0 || name[tlen] != '.')
        return false;
    const char *p = name + tlen + 1;
    SegmentId got = {0};
    if (*p == 'g' && !(p++, take_number(&p, &got.generation) && *p++ == '.'))
        return false;
    if (*p++ != 'p' || !take_number(&p, &got.partition) || *p++ != '.' || *p++ != 's' ||
        !take_number(&p, &got.sequence) || *p != '.' || p[1] == '\0')
        return false;
    *id = got;
    return true;
}

bool segment_file_open(DurableFile *file, const char *dir, const char *target, SegmentId id, const char *extension,
                       const char *who, FerryError *err)
{
    char name[FERRY_NAME_MAX + 64];
    return segment_name(name, sizeof name, target, id, extension, who, err) && file_make_dir(dir, who, err) &&
           file_durable_open(file, dir, name, 0600, who, err); /* rows set aside: ferry's user's alone */
}
