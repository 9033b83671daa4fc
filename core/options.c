/*
 * core/options.c — the option-table engine: a table of ConfigOption describes a settings
 * struct, and these functions fill it from text, give its defaults, render it and free it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/common.h"
#include "ferry/options.h"

static bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static size_t flat_count(const ConfigOption *options)
{
    size_t n = 0;
    for (const ConfigOption *opt = options; opt->name != NULL; opt++)
        n += opt->type == OPT_GROUP ? flat_count(opt->group) : 1;
    return n;
}

static size_t flat_fill(const ConfigOption *options, size_t base, ConfigOption *out)
{
    size_t n = 0;
    for (const ConfigOption *opt = options; opt->name != NULL; opt++) {
        if (opt->type == OPT_GROUP) {
            n += flat_fill(opt->group, base + opt->offset, out + n);
            continue;
        }
        out[n] = *opt;
        out[n++].offset += base;
    }
    return n;
}

ConfigOption *options_flatten(const ConfigOption *options)
{
    ConfigOption *flat = xcalloc(flat_count(options) + 1, sizeof *flat);
    flat_fill(options, 0, flat);
    return flat;
}

bool options_set(const ConfigOption *opt, void *settings, const char *text, char *why, size_t why_cap)
{
    char *field = (char *)settings + opt->offset;
    switch (opt->type) {
    case OPT_STRING: {
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = xstrdup(text);
        return true;
    }
    case OPT_SIZE: {
        uint64_t bytes;
        if (opt->allow_auto && strcasecmp(text, "auto") == 0) {
            *(uint64_t *)(void *)field = 0;
            return true;
        }
        if (!parse_size(text, &bytes)) {
            snprintf(why, why_cap, "expected %sa size such as 512MB or 2GiB", opt->allow_auto ? "auto or " : "");
            return false;
        }
        if (opt->min > 0 && (double)bytes < opt->min) {
            char least[32];
            snprintf(why, why_cap, "expected at least %s", format_size((uint64_t)opt->min, least, sizeof least));
            return false;
        }
        *(uint64_t *)(void *)field = bytes;
        return true;
    }
    case OPT_INT: {
        if (opt->allow_auto && strcasecmp(text, "auto") == 0) {
            *(int *)(void *)field = 0;
            return true;
        }
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || v < opt->min || v > opt->max) {
            snprintf(why, why_cap, "expected %sa whole number from %.0f to %.0f",
                     opt->allow_auto ? "auto or " : "", opt->min, opt->max);
            return false;
        }
        *(int *)(void *)field = (int)v;
        return true;
    }
    case OPT_DOUBLE: {
        char *end;
        double v = strtod(text, &end);
        if (end == text || *end != '\0' || !(v >= opt->min && v <= opt->max)) {
            snprintf(why, why_cap, "expected a number from %g to %g", opt->min, opt->max);
            return false;
        }
        *(double *)(void *)field = v;
        return true;
    }
    case OPT_BOOL:
        if (!parse_bool(text, (bool *)(void *)field)) {
            snprintf(why, why_cap, "expected true or false");
            return false;
        }
        return true;
    case OPT_GROUP:
        break; /* a flattened table has none */
    case OPT_ENUM:
        for (int i = 0; opt->choices[i] != NULL; i++) {
            if (strcmp(text, opt->choices[i]) == 0) {
                *(int *)(void *)field = i;
                return true;
            }
        }
        size_t n = (size_t)snprintf(why, why_cap, "expected one of:");
        for (int i = 0; opt->choices[i] != NULL && n < why_cap; i++)
            n += (size_t)snprintf(why + n, why_cap - n, "%s %s", i ? "," : "", opt->choices[i]);
        return false;
    }
    snprintf(why, why_cap, "BUG: unknown option type");
    return false;
}

bool options_apply_defaults(const ConfigOption *options, void *settings, FerryError *err)
{
    for (const ConfigOption *opt = options; opt->name != NULL; opt++) {
        if (opt->default_value == NULL)
            continue;
        char why[256];
        if (!options_set(opt, settings, opt->default_value, why, sizeof why))
            return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: default of '%s' is invalid: %s",
                               opt->name, why);
    }
    return true;
}

void options_free(const ConfigOption *options, void *settings)
{
    if (settings == NULL)
        return;
    for (const ConfigOption *opt = options; opt->name != NULL; opt++) {
        if (opt->type == OPT_STRING) {
            char **slot = (char **)(void *)((char *)settings + opt->offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

const ConfigOption *options_find(const ConfigOption *options, const char *key)
{
    for (const ConfigOption *opt = options; opt != NULL && opt->name != NULL; opt++) {
        if (strcmp(opt->name, key) == 0)
            return opt;
    }
    return NULL;
}

void options_render(const ConfigOption *opt, const void *settings, char *buf, size_t cap)
{
    const char *field = (const char *)settings + opt->offset;
    if (opt->secret) {
        snprintf(buf, cap, "(secret)");
        return;
    }
    switch (opt->type) {
    case OPT_STRING: {
        const char *s = *(char *const *)(const void *)field;
        snprintf(buf, cap, "%s", s ? s : "");
        return;
    }
    case OPT_SIZE:
        if (opt->allow_auto && *(const uint64_t *)(const void *)field == 0)
            snprintf(buf, cap, "auto");
        else
            snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)(const void *)field);
        return;
    case OPT_INT:
        if (opt->allow_auto && *(const int *)(const void *)field == 0)
            snprintf(buf, cap, "auto");
        else
            snprintf(buf, cap, "%d", *(const int *)(const void *)field);
        return;
    case OPT_DOUBLE:
        snprintf(buf, cap, "%g", *(const double *)(const void *)field);
        return;
    case OPT_BOOL:
        snprintf(buf, cap, "%s", *(const bool *)(const void *)field ? "true" : "false");
        return;
    case OPT_ENUM:
        snprintf(buf, cap, "%s", opt->choices[*(const int *)(const void *)field]);
        return;
    case OPT_GROUP:
        break;
    }
    snprintf(buf, cap, "?");
}
