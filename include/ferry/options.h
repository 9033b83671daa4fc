/*
 * include/ferry/options.h — settings described by a table of options (core/options.c).
 *
 * Every section of the configuration, and every sink's keys, is a settings
 * struct described by a NULL-terminated table of ConfigOption: name, type,
 * where the value lives, default, bounds, help. A new key is one line in a
 * table; parsing, defaults, the setup record and --help come from it.
 */
#ifndef FERRY_OPTIONS_H
#define FERRY_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

typedef enum {
    OPT_STRING, /* char *, owned by the settings struct */
    OPT_SIZE,   /* uint64_t bytes: "64MB", "1GiB", "4096"; at least min when min > 0 */
    OPT_INT,    /* int, within [min, max] */
    OPT_DOUBLE, /* double, within [min, max] */
    OPT_BOOL,   /* bool: true/false/yes/no/on/off/1/0 */
    OPT_ENUM,   /* int: index into choices */
    OPT_GROUP,  /* the options of another table, for the struct at `offset` (a store's inside a sink's) */
} OptionType;

typedef struct ConfigOption {
    const char *name;
    OptionType type;
    size_t offset;               /* where the value lives in the settings struct */
    const char *default_value;   /* text, parsed like a value from the file; NULL: none */
    const char *const *choices;  /* OPT_ENUM: NULL-terminated names */
    double min, max;             /* OPT_INT, OPT_DOUBLE; min also for OPT_SIZE */
    bool allow_auto;             /* OPT_INT, OPT_SIZE: "auto" is accepted, and stored as 0 */
    bool required;
    bool setup;                  /* recorded in the state: a resume must not change it */
    const char *setup_open;      /* setup: a recorded value a resume may change (its output is what any
                                    value would have written); NULL: none */
    bool is_path;                /* OPT_STRING: a relative path is taken from the config file's folder */
    bool writes;                 /* is_path: ferry writes there (state, output), so under systemd's
                                    StateDirectory ($STATE_DIRECTORY) a relative path is taken from it */
    bool raw;                    /* OPT_STRING: double quotes are part of the value (lists of names),
                                    not a wrapping the parser takes off */
    bool secret;                 /* a password, key or token: rendered as "(secret)", never recorded */
    const char *help;
    const struct ConfigOption *group; /* OPT_GROUP: the table of the struct at `offset` */
} ConfigOption;

/* Describe one setting of a struct; the trailing fields default to zero. */
#define CONFIG_OPTION(struct_type, field, opt_type, ...) \
    { .name = #field, .type = (opt_type), .offset = offsetof(struct_type, field), __VA_ARGS__ }

/* Take in the options of `table` for the struct that is `field` of struct_type. */
#define CONFIG_GROUP(struct_type, field, table) \
    { .name = #field, .type = OPT_GROUP, .offset = offsetof(struct_type, field), .group = (table) }

/*
 * The table with its groups expanded in place, each offset counted from the
 * outer struct: what the functions below take. Owned (free).
 */
ConfigOption *options_flatten(const ConfigOption *options);

/* The option named `key` in a table (NULL-safe), or NULL. */
const ConfigOption *options_find(const ConfigOption *options, const char *key);
/* Store `text` into the option's field; on a bad value, `why` says what is expected. */
bool options_set(const ConfigOption *opt, void *settings, const char *text, char *why, size_t why_cap);
/* The field's value as text, as the setup record keeps it. */
void options_render(const ConfigOption *opt, const void *settings, char *buf, size_t cap);
/* Apply a table's defaults to a settings struct. */
bool options_apply_defaults(const ConfigOption *options, void *settings, FerryError *err);
/* Free what a table's strings own in a settings struct. */
void options_free(const ConfigOption *options, void *settings);

#endif
