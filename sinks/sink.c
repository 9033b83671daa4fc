/*
 * sinks/sink.c — the table of sinks, found by name. A new sink is one line here.
 */
#include <stdio.h>
#include <string.h>

#include "ferry/sink.h"

extern const SinkOps sink_dir;
extern const SinkOps sink_s3;
extern const SinkOps sink_azure;
extern const SinkOps sink_mongo;
extern const SinkOps sink_postgres;
extern const SinkOps sink_redshift;

static const SinkOps *const sinks[] = {
    &sink_dir,
    &sink_s3,
    &sink_azure,
    &sink_mongo,
    &sink_postgres,
    &sink_redshift,
};

#define NSINKS (sizeof sinks / sizeof sinks[0])

const SinkOps *sink_find(const char *name)
{
    for (size_t i = 0; i < NSINKS; i++)
        if (strcmp(sinks[i]->name, name) == 0)
            return sinks[i];
    return NULL;
}

const char *sink_names(void)
{
    static char names[256];
    if (names[0] == '\0') {
        size_t n = 0;
        for (size_t i = 0; i < NSINKS && n < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", sinks[i]->name);
    }
    return names;
}
