/*
 * include/ferry/config.h — the configuration file: its sections, keys and defaults.
 *
 * A configuration is an INI file:
 *
 *   [ferry]                  state file, memory, workers, logging
 *   [source]                 the database to read (libpq conninfo or URI)
 *   [sink]                   type = dir | ...; the sink's own keys
 *   [unload]                 Redshift: where UNLOAD stages partitions (an S3 store) and the role
 *   [table schema.name]      one section per table to copy
 *
 * Every section is described by a table of ConfigOption (name, type, default,
 * description); the parser applies a table to a settings struct, so a new key
 * is one line in a table. An unknown key, a bad value or a missing section is
 * an error that names the file, the line and the key.
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"
#include "ferry/options.h"
#include "ferry/store.h"

/* [ferry] */
typedef struct FerrySettings {
    char *state;              /* path of the SQLite state file; relative paths are relative to the config file */
    double memory_fraction;   /* share of the available memory ferry may use */
    uint64_t memory_limit;    /* absolute cap in bytes; 0: none */
    int workers;              /* 0: auto (run_workers) */
    int log_level;            /* LogLevel */
    int retry_attempts;       /* retries of a failed partition, source or sink call, in one run */
    int retry_base_ms;        /* first pause before a retry */
    int retry_cap_ms;         /* longest pause */
    int retry_max_seconds;    /* give up retrying after this long, and leave the rest to the next run */
    int log_format;           /* LogFormat (common.h): text or json */
    int progress_interval;    /* seconds between progress lines off a terminal; 0: none */
    char *metrics_file;       /* Prometheus textfile written at every progress line and at the end; NULL: none */
    int read_order;           /* ReadOrder less one (no READ_ORDER_DEFAULT here): the tables' default */
    int secret_files;         /* SecretFiles: what a file holding a secret that others may read meets */
} FerrySettings;

typedef enum { SECRET_FILES_REFUSE = 0, SECRET_FILES_WARN = 1 } SecretFiles;

/* [source] */
typedef struct SourceSettings {
    char *conninfo;           /* libpq conninfo or URI; may be empty (PG* variables); a secret: never logged */
    char *password;           /* the password, over the conninfo's; "" for none; a secret */
    int type;                 /* SourceType */
    int connect_timeout;      /* seconds */
    int read_timeout;         /* seconds without a byte from the server before the connection is dropped */
    int read_method;          /* ReadMethod */
    int dialect;              /* SourceDialect */
    uint64_t cursor_result_limit; /* bytes a partition's cursor result may hold where rows come by cursor alone */
} SourceSettings;

typedef enum { DIALECT_AUTO = 0, DIALECT_POSTGRESQL, DIALECT_REDSHIFT } SourceDialect;

typedef enum { READ_AUTO = 0, READ_CURSOR, READ_COPY, READ_UNLOAD } ReadMethod;

/*
 * [unload] (Redshift): UNLOAD writes a partition's rows to S3 under the
 * store's prefix, and ferry reads them from there; optional.
 */
typedef struct UnloadSettings {
    char *iam_role;           /* the role Redshift writes to S3 as (IAM_ROLE) */
    uint64_t min_table_size;  /* read_method = auto unloads tables estimated this large or larger */
    uint64_t max_file_size;   /* MAXFILESIZE of the staged objects; 0: from the batch size */
    StoreSettings store;      /* the S3 store's settings (store_s3_options) */
} UnloadSettings;

typedef enum { SOURCE_POSTGRESQL = 0 } SourceType;

/* [table schema.name] */
typedef struct TableSettings {
    char *key;                /* comma-separated key columns; NULL: the primary key */
    char *columns;            /* comma-separated columns to copy; NULL: all */
    char *where;              /* extra filter, SQL; NULL: none */
    int partition_rows;       /* rows per partition, estimated */
    char *target;             /* name in the sink; default: schema.name, unquoted */
    int children;             /* TableChildren: inheritance children read with the table or not */
    int on_duplicate_key;     /* DuplicateKeys: what rows whose key repeats become */
    int mode;                 /* TableMode */
    char *watermark;          /* incremental: the column (as written) or xmin */
    char *lookback;           /* incremental: how far before the mark a run reads again, as written */
    char *watermark_lag;      /* incremental: how far behind the source's clock the mark stays, as written */
    char *source_timezone;    /* the zone a timestamp watermark without time zone is written in */
    char *deletes;            /* incremental: "none", "soft COLUMN" or "reconcile", as written */
    int read_order;           /* ReadOrder; READ_ORDER_DEFAULT: [ferry] read_order (config_read_order) */
} TableSettings;

/*
 * The order a table's whole copy reads its rows in (agent/physical.c):
 * by key ranges in key order, or by block ranges of the heap in the order
 * rows are stored; auto chooses per table when it is planned.
 */
typedef enum { READ_ORDER_DEFAULT = 0, READ_ORDER_AUTO, READ_ORDER_KEY, READ_ORDER_PHYSICAL } ReadOrder;

typedef enum { MODE_FULL = 0, MODE_INCREMENTAL = 1 } TableMode;

/*
 * An incremental table's watermark as the configuration gives it
 * (agent/delta.c reads it against the column's type when the table is
 * planned or resumed).
 */
typedef struct Watermark {
    char *column;             /* owned: the column, unquoted; NULL: none (mode = full) */
    bool xmin;                /* PostgreSQL's row version marker, not a column */
    bool lookback_set;        /* lookback given; else 5 minutes for time marks, 0 for integers */
    bool lookback_is_count;   /* given as a bare number: a count, for an integer watermark */
    int64_t lookback;         /* seconds, or a count */
    int64_t lag_s;            /* watermark_lag, seconds */
    char *soft_delete;        /* owned: deletes = soft COLUMN's column, unquoted; NULL: none */
    bool reconcile;           /* deletes = reconcile: keys the source no longer has are removed */
    int line, lookback_line;  /* where watermark and lookback are written, for messages */
    int deletes_line;
} Watermark;

typedef enum { CHILDREN_EXCLUDE = 0, CHILDREN_INCLUDE = 1 } TableChildren;

/*
 * Rows whose key repeats, which a server that does not enforce its keys
 * (Redshift) may hold: fail, naming the key; keep the last row of each key
 * the source returns; or keep every row (not into a sink that stores one
 * row per key). With either keep, a batch never ends between two rows of
 * one key, so no checkpoint falls inside a key's rows.
 */
typedef enum { DUPLICATES_FAIL = 0, DUPLICATES_KEEP_LAST = 1, DUPLICATES_KEEP_ALL = 2 } DuplicateKeys;

typedef struct TableConfig {
    char *schema;             /* owned */
    char *name;               /* owned */
    char *qualified;          /* owned: "schema.name" as written in the section (quotes kept) */
    int line;                 /* line of the section header */
    int read_order_line;      /* line of its read_order, else of its header: for messages */
    TableSettings settings;
    Watermark watermark;      /* mode = incremental: the settings above, read */
} TableConfig;

struct SinkOps;

typedef struct FerryConfig {
    char *path;               /* owned: the configuration file */
    FerrySettings ferry;
    SourceSettings source;
    bool has_unload;            /* an [unload] section is given */
    UnloadSettings unload;
    ConfigOption *unload_options; /* owned: [unload]'s option table, its groups expanded */
    const struct SinkOps *sink; /* borrowed from the sink table */
    void *sink_settings;        /* owned: the sink's settings struct (sink->settings_size) */
    ConfigOption *sink_options; /* owned: the sink's option table, its groups expanded (options.h) */
    int ntables;
    TableConfig *tables;        /* owned */
    int secret_line;            /* the first line whose value is a secret (a password, key, token); 0: none */
    char secret_key[FERRY_NAME_MAX]; /* and its key */
} FerryConfig;

/* Read and check a configuration file. On failure err names the file, line and key. */
bool config_load(const char *path, FerryConfig **out, FerryError *err);

/* Same, from text in memory (tests); `name` stands for the file in messages. */
bool config_load_text(const char *name, const char *text, FerryConfig **out, FerryError *err);

void config_free(FerryConfig *config);


/*
 * The options recorded in the state's setup record, as "section.key" = value
 * pairs, in a stable order. Secrets are never among them.
 */
typedef struct SetupEntry {
    char *name;               /* owned */
    char *value;              /* owned */
    const char *open;         /* a recorded value this one may replace (ConfigOption.setup_open); NULL: none */
} SetupEntry;

bool config_setup_entries(const FerryConfig *config, SetupEntry **out, int *count);

/* The sections' option tables, for the manual (ferry --man): NULL-name terminated, [sink] not among them. */
typedef struct ConfigSection {
    const char *name;         /* "ferry", "source", "unload", "table schema.name" */
    const ConfigOption *options;
} ConfigSection;
extern const ConfigSection config_sections[];
void config_setup_entries_free(SetupEntry *entries, int count);

const TableConfig *config_find_table(const FerryConfig *config, const char *qualified);

/*
 * Split "a, b ,\"c,d\"" into names: unquoted names are trimmed and taken as
 * written, double-quoted ones keep every character ("" is a quote). Returns
 * the count, or -1 past max or on a malformed list. Names are owned.
 */
int config_split_list(const char *text, char **names, int max);

/* The table's read_order: its own, else [ferry]'s (never READ_ORDER_DEFAULT). */
ReadOrder config_read_order(const FerryConfig *config, const TableConfig *table);
/* Append a name as config_split_list reads it back: quoted when it must be. */
void config_add_name(StrBuf *out, const char *name);
/*
 * A span of time as the configuration writes one: "<n> <unit>" pairs
 * ("5 minutes", "1 hour 30 min"; units s, sec, second, min, minute, h,
 * hour, d, day, w, week, plural or not) into seconds; false when it is not one.
 */
bool config_parse_span(const char *text, int64_t *seconds);
/* "schema.name" with either part quoted as in SQL; false when it is not two names. Owned. */
bool config_parse_table_name(const char *text, char **schema, char **name);

#endif
