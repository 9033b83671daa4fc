/*
 * agent/config.c — reads the INI configuration and checks every key against its option table.
 *
 * Design notes
 *  (1) Parsing has two passes: the text becomes sections of (key, value, line)
 *      entries, then each section is applied to its settings struct through
 *      its option table. The sink's table is only known once [sink] type is
 *      read, wherever in the section it stands.
 *  (2) Every error names the file and, when there is one, the line and key.
 *  (3) Lines are "key = value". "#" or ";" begins a comment at the start of
 *      a line, and after a value or a section header where whitespace stands
 *      before it, outside quotes: "key = value   # note". A "#" or ";" with no
 *      space before it ("a#b") belongs to the value, and so does one inside
 *      double or single quotes (a conninfo's password='a #1', a WHERE filter's
 *      literal '; x'). A value may be wrapped in double quotes to keep outer
 *      spaces or a " #" of its own. A value whose quotes do not close is kept
 *      whole, with a warning when it holds what looks like a comment.
 *  (4) Every secret option X (a conninfo, a URI, a password) may be read
 *      from a file instead, with the key X_file: a credential systemd's
 *      LoadCredential= hands over, or a file only ferry's user can read.
 *      The file's first line, less trailing blanks, is the value (as for the
 *      stores' own _file keys: secret_file_read), and X and X_file together
 *      are an error.
 *  (5) Like libpq's .pgpass, a file that holds a secret is refused when
 *      other users may read it: a secret's file, and the configuration
 *      itself when it sets one inline (a password, a key, a token, a
 *      conninfo or URI with a password in it), naming the chmod that fixes
 *      it. [ferry] secret_files = warn makes that a warning; [ferry] is
 *      applied first, so the choice holds for every file the load reads.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ferry/config.h"
#include "ferry/sink.h"

typedef struct Entry {
    char *key;
    char *value;              /* without one pair of surrounding double quotes */
    char *raw;                /* as written: for options whose quotes are their own (ConfigOption.raw) */
    int line;
    bool used;
} Entry;

typedef struct Section {
    char *header;             /* text between the brackets, trimmed */
    int line;
    int nentries;
    Entry *entries;
} Section;

typedef struct Parsed {
    int nsections;
    Section *sections;
} Parsed;

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_format_names[] = {"text", "json", NULL};
static const char *const source_type_names[] = {"postgresql", NULL};
static const char *const read_method_names[] = {"auto", "cursor", "copy", "unload", NULL};
static const char *const dialect_names[] = {"auto", "postgresql", "redshift", NULL};
static const char *const children_names[] = {"exclude", "include", NULL};
static const char *const duplicate_names[] = {"fail", "keep_last", "keep_all", NULL};
static const char *const mode_names[] = {"full", "incremental", NULL};
/* [ferry]'s choices are the tables' less "default": its index is a ReadOrder less one. */
static const char *const table_read_order_names[] = {"default", "auto", "key", "physical", NULL};
static const char *const secret_files_names[] = {"refuse", "warn", NULL};
static const char *const *const read_order_names = table_read_order_names + 1;

static const ConfigOption ferry_options[] = {
    CONFIG_OPTION(FerrySettings, state, OPT_STRING, .default_value = "ferry.state", .is_path = true, .writes = true,
                  .help = "SQLite state file (relative to the configuration file)"),
    CONFIG_OPTION(FerrySettings, memory_fraction, OPT_DOUBLE,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_MEMORY_FRACTION), .min = 0.01,
                  .max = 0.95, .help = "share of the available memory ferry may use"),
    CONFIG_OPTION(FerrySettings, memory_limit, OPT_SIZE, .default_value = "0",
                  .help = "absolute memory cap, e.g. 256MB; 0: none"),
    CONFIG_OPTION(FerrySettings, workers, OPT_INT, .default_value = "auto", .allow_auto = true,
                  .min = 1, .max = FERRY_WORKERS_MAX,
                  .help = "partitions copied at the same time; auto: one per CPU, within the "
                          "memory budget and the source's free connections"),
    CONFIG_OPTION(FerrySettings, log_level, OPT_ENUM, .default_value = "info",
                  .choices = log_level_names, .help = "debug, info, warn or error"),
    CONFIG_OPTION(FerrySettings, log_format, OPT_ENUM, .default_value = "text", .choices = log_format_names,
                  .help = "text (a line per event), or json (an object per line: time, pid, level, message)"),
    CONFIG_OPTION(FerrySettings, progress_interval, OPT_INT, .default_value = "60", .min = 0, .max = 86400,
                  .help = "seconds between progress lines in the log when standard error is not a terminal "
                          "(on a terminal a live line); 0: none"),
    CONFIG_OPTION(FerrySettings, metrics_file, OPT_STRING, .default_value = "", .is_path = true, .writes = true,
                  .help = "a Prometheus textfile (node_exporter's textfile collector: a name ending in .prom) "
                          "written atomically at each progress line and at the end of a run"),
    CONFIG_OPTION(FerrySettings, retry_attempts, OPT_INT,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_RETRY_ATTEMPTS), .min = 0, .max = 10000,
                  .help = "retries of a failed partition within one run, without a checkpoint between them"),
    CONFIG_OPTION(FerrySettings, retry_base_ms, OPT_INT,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_RETRY_BASE_MS), .min = 1, .max = 3600000,
                  .help = "first pause before a retry, in milliseconds"),
    CONFIG_OPTION(FerrySettings, retry_cap_ms, OPT_INT,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_RETRY_CAP_MS), .min = 1, .max = 3600000,
                  .help = "longest pause between retries, in milliseconds"),
    CONFIG_OPTION(FerrySettings, retry_max_seconds, OPT_INT,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_RETRY_MAX_S), .min = 0, .max = 604800,
                  .help = "stop retrying after this many seconds without progress; the next run resumes"),
    CONFIG_OPTION(FerrySettings, read_order, OPT_ENUM, .default_value = "auto", .choices = read_order_names,
                  .help = "the tables' read_order unless they set their own: auto, key or physical"),
    CONFIG_OPTION(FerrySettings, secret_files, OPT_ENUM, .default_value = "refuse", .choices = secret_files_names,
                  .help = "a configuration or secret file that holds a secret and that other users may read: "
                          "refuse (naming the chmod that fixes it) or warn"),
    {0},
};

static const ConfigOption source_options[] = {
    CONFIG_OPTION(SourceSettings, conninfo, OPT_STRING, .default_value = "", .secret = true,
                  .help = "libpq conninfo or URI; PG* variables and ~/.pgpass apply"),
    CONFIG_OPTION(SourceSettings, password, OPT_STRING, .default_value = "", .secret = true,
                  .help = "the password, when the conninfo has none (password_file: from a file)"),
    CONFIG_OPTION(SourceSettings, type, OPT_ENUM, .default_value = "postgresql",
                  .choices = source_type_names, .setup = true, .help = "postgresql"),
    CONFIG_OPTION(SourceSettings, connect_timeout, OPT_INT,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_CONNECT_TIMEOUT_S), .min = 1,
                  .max = 3600, .help = "seconds to wait for a connection"),
    CONFIG_OPTION(SourceSettings, read_timeout, OPT_INT,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_READ_TIMEOUT_S), .min = 1, .max = 86400,
                  .help = "seconds without data from the server before the connection is dropped and retried"),
    CONFIG_OPTION(SourceSettings, read_method, OPT_ENUM, .default_value = "auto", .choices = read_method_names,
                  .help = "auto (COPY on PostgreSQL; on Redshift UNLOAD for tables of [unload] min_table_size, "
                          "else cursors), cursor (FETCH batches), copy, or unload (Redshift, with [unload])"),
    CONFIG_OPTION(SourceSettings, dialect, OPT_ENUM, .default_value = "auto", .choices = dialect_names,
                  .help = "auto (what the server's version() says), postgresql or redshift"),
    CONFIG_OPTION(SourceSettings, cursor_result_limit, OPT_SIZE, .default_value = FERRY_DEFAULT_CURSOR_RESULT,
                  .help = "Redshift: the most one partition's cursor may hold (the leader node keeps it whole); "
                          "partitions are cut to fit"),
    {0},
};

static const ConfigOption unload_options[] = {
    CONFIG_OPTION(UnloadSettings, iam_role, OPT_STRING, .required = true,
                  .help = "ARN of the IAM role Redshift writes the staged objects as (UNLOAD … IAM_ROLE)"),
    CONFIG_OPTION(UnloadSettings, min_table_size, OPT_SIZE, .default_value = "1GB",
                  .help = "read_method = auto unloads the tables estimated at least this large"),
    CONFIG_OPTION(UnloadSettings, max_file_size, OPT_SIZE, .default_value = "auto", .allow_auto = true,
                  .min = 5 << 20,
                  .help = "MAXFILESIZE of a staged object (5MB at least; one is read into memory at a time); "
                          "auto: from the batch size"),
    CONFIG_GROUP(UnloadSettings, store, store_s3_options),
    {0},
};

static const ConfigOption table_options[] = {
    CONFIG_OPTION(TableSettings, key, OPT_STRING, .setup = true, .raw = true,
                  .help = "key columns, comma-separated; default: the primary key"),
    CONFIG_OPTION(TableSettings, columns, OPT_STRING, .setup = true, .raw = true,
                  .help = "columns to copy, comma-separated; default: all"),
    CONFIG_OPTION(TableSettings, where, OPT_STRING, .setup = true,
                  .help = "extra SQL filter on the rows to copy"),
    CONFIG_OPTION(TableSettings, partition_rows, OPT_INT,
                  .default_value = FERRY_STRINGIFY(FERRY_DEFAULT_PARTITION_ROWS), .min = 1000,
                  .max = 2000000000, .help = "rows per partition (takes effect when a table is planned)"),
    CONFIG_OPTION(TableSettings, target, OPT_STRING, .setup = true,
                  .help = "name in the sink; default: schema.name"),
    CONFIG_OPTION(TableSettings, children, OPT_ENUM, .default_value = "exclude", .choices = children_names,
                  .setup = true,
                  .help = "inheritance children: exclude (read ONLY the table) or include (under a key "
                          "checked over all their rows); a partitioned table's partitions are always read"),
    /* fail writes no key twice, so a table started under it may go on under either keep. */
    CONFIG_OPTION(TableSettings, on_duplicate_key, OPT_ENUM, .default_value = "fail", .choices = duplicate_names,
                  .setup = true, .setup_open = "fail",
                  .help = "rows whose key repeats (Redshift does not enforce keys): fail (naming the key), "
                          "keep_last (one row per key, the last the source returns) or keep_all (every row; "
                          "not into a sink that stores one row per key)"),
    /* Not recorded: a table copied in full becomes incremental with its progress kept (its copy is the first run). */
    CONFIG_OPTION(TableSettings, mode, OPT_ENUM, .default_value = "full", .choices = mode_names,
                  .help = "full (copy the table once) or incremental (every run copies what changed since the "
                          "last, by the watermark)"),
    CONFIG_OPTION(TableSettings, watermark, OPT_STRING, .raw = true,
                  .help = "incremental: the column that says a row changed (timestamptz, timestamp, date, integer "
                          "or bigint), or xmin (PostgreSQL's own row version marker)"),
    CONFIG_OPTION(TableSettings, lookback, OPT_STRING,
                  .help = "incremental: how far before the mark each run reads again, for late commits: a span "
                          "(\"5 minutes\") for a time watermark, a count for an integer one; default 5 minutes, or 0"),
    CONFIG_OPTION(TableSettings, watermark_lag, OPT_STRING, .default_value = "0 seconds",
                  .help = "incremental: the mark stays this far behind the source's clock (a span)"),
    CONFIG_OPTION(TableSettings, source_timezone, OPT_STRING, .default_value = "UTC",
                  .help = "the time zone a timestamp watermark without time zone is written in"),
    CONFIG_OPTION(TableSettings, deletes, OPT_STRING, .default_value = "none", .raw = true,
                  .help = "incremental: none; soft COLUMN (a row whose COLUMN is true, or not NULL, is deleted "
                          "from the sink: removed by key, or a tombstone line in files); or reconcile (keys the "
                          "source no longer has are removed from the sink, or tombstoned in files, found by "
                          "comparing the keys)"),
    /* Not recorded: the plan records what it chose, and a table keeps it until it is planned again. */
    CONFIG_OPTION(TableSettings, read_order, OPT_ENUM, .default_value = "default", .choices = table_read_order_names,
                  .help = "how a whole copy reads the table: key (key ranges in key order), physical (block "
                          "ranges of the heap, in the order rows are stored: PostgreSQL 14 and later), auto "
                          "(physical where the key's order on disk is scattered), or default ([ferry] read_order); "
                          "takes effect when a table is planned"),
    {0},
};

const ConfigSection config_sections[] = {
    {"ferry", ferry_options},
    {"source", source_options},
    {"unload", unload_options},
    {"table schema.name", table_options},
    {NULL, NULL},
};

/* ---- pass 1: text to sections ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/*
 * End `text` where a comment begins (note 3): at a '#' or ';' that follows
 * whitespace outside quotes. A quote opened in it that does not close leaves
 * the text whole; *looks_commented then says whether a " #" or " ;" stands
 * after that quote.
 */
static bool comment_starts(const char *text, const char *c)
{
    return (*c == '#' || *c == ';') && c > text && isspace((unsigned char)c[-1]);
}

static void strip_comment(char *text, bool *looks_commented)
{
    char quote = '\0';
    char *open = NULL;
    *looks_commented = false;
    for (char *c = text; *c != '\0'; c++) {
        if (quote != '\0') {
            if (*c == quote)
                quote = '\0';
        } else if (*c == '"' || *c == '\'') {
            quote = *c;
            open = c;
        } else if (comment_starts(text, c)) {
            *c = '\0';
            return;
        }
    }
    if (quote == '\0')
        return;
    for (char *c = open + 1; *c != '\0' && !*looks_commented; c++)
        *looks_commented = comment_starts(text, c);
}

static void parsed_free(Parsed *parsed)
{
    for (int i = 0; i < parsed->nsections; i++) {
        Section *section = &parsed->sections[i];
        for (int j = 0; j < section->nentries; j++) {
            free(section->entries[j].key);
            free(section->entries[j].value);
            free(section->entries[j].raw);
        }
        free(section->entries);
        free(section->header);
    }
    free(parsed->sections);
}

static bool parse_text(const char *name, const char *text, Parsed *parsed, FerryError *err)
{
    memset(parsed, 0, sizeof *parsed);
    int lineno = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        lineno++;
        if (len >= FERRY_CONFIG_LINE_MAX)
            return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: line longer than %d bytes",
                               name, lineno, FERRY_CONFIG_LINE_MAX - 1);
        char buf[FERRY_CONFIG_LINE_MAX];
        memcpy(buf, p, len);
        buf[len] = '\0';
        p += len + (eol ? 1 : 0);

        char *line = trim(buf);
        if (*line == '\0' || *line == '#' || *line == ';')
            continue;
        bool looks_commented;
        strip_comment(line, &looks_commented);
        line = trim(line);
        if (*line == '[') {
            /* A quote that does not close is left to the table name's parser, which says more. */
            char *close = line + strlen(line) - 1;
            if (*close != ']')
                return ferry_error(err, FERRY_ERR_CONFIG, 0,
                                   "%s:%d: a section header must look like [name]", name, lineno);
            *close = '\0';
            parsed->sections = xrealloc(parsed->sections,
                                        sizeof(Section) * (size_t)(parsed->nsections + 1));
            Section *section = &parsed->sections[parsed->nsections++];
            memset(section, 0, sizeof *section);
            section->header = xstrdup(trim(line + 1));
            section->line = lineno;
            continue;
        }
        char *eq = strchr(line, '=');
        if (eq == NULL)
            return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: expected \"key = value\"", name,
                               lineno);
        *eq = '\0';
        char *key = trim(line);
        char *value = trim(eq + 1);
        if (*key == '\0')
            return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: a key is missing before \"=\"",
                               name, lineno);
        if (parsed->nsections == 0)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key '%s' stands before any [section]", name, lineno, key);
        if (looks_commented)
            log_warn("%s:%d: key '%s': a quote in its value does not close, so what follows \" #\" "
                     "or \" ;\" is read as part of the value, not as a comment",
                     name, lineno, key);
        Section *section = &parsed->sections[parsed->nsections - 1];
        for (int j = 0; j < section->nentries; j++) {
            if (strcmp(section->entries[j].key, key) == 0)
                return ferry_error(err, FERRY_ERR_CONFIG, 0,
                                   "%s:%d: key '%s' is set twice in [%s] (first on line %d)", name,
                                   lineno, key, section->header, section->entries[j].line);
        }
        char *raw = xstrdup(value);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        section->entries = xrealloc(section->entries, sizeof(Entry) * (size_t)(section->nentries + 1));
        section->entries[section->nentries++] = (Entry){
            .key = xstrdup(key), .value = xstrdup(value), .raw = raw, .line = lineno};
    }
    return true;
}

/* ---- pass 2: options ---- */

/* (4) The secret option that key "X_file" reads its value for, or NULL. */
static const ConfigOption *file_secret(const ConfigOption *options, const char *key)
{
    size_t len = strlen(key);
    if (options == NULL || len <= 5 || len > FERRY_NAME_MAX || strcmp(key + len - 5, "_file") != 0)
        return NULL;
    char base[FERRY_NAME_MAX];
    snprintf(base, sizeof base, "%.*s", (int)(len - 5), key);
    const ConfigOption *opt = options_find(options, base);
    return opt != NULL && opt->secret && opt->type == OPT_STRING ? opt : NULL;
}

/* (4) Read a secret's file (relative to the configuration's folder) into out. */
static bool read_secret_file(const char *file, const Entry *entry, char *out, size_t cap, FerryError *err)
{
    char path[4096];
    const char *slash = strrchr(file, '/');
    if (entry->value[0] == '/' || slash == NULL)
        snprintf(path, sizeof path, "%s", entry->value);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - file), file, entry->value);
    if (secret_file_read(path, out, cap, err))
        return true;
    ferry_error_prefix(err, "%s:%d: key '%s'", file, entry->line, entry->key);
    return false;
}

/* (4) key = X_file: X's value from the file, unless X is set in the section too. */
static bool apply_secret_file(const char *file, Section *section, Entry *entry, const ConfigOption *opt,
                              void *target, FerryError *err)
{
    for (int i = 0; i < section->nentries; i++)
        if (strcmp(section->entries[i].key, opt->name) == 0)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key '%s': '%s' is set too (line %d): keep one of them", file, entry->line,
                               entry->key, opt->name, section->entries[i].line);
    char value[FERRY_CONFIG_LINE_MAX];
    char why[256];
    bool ok = read_secret_file(file, entry, value, sizeof value, err);
    if (ok && !options_set(opt, target, value, why, sizeof why))
        ok = ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: key '%s': the file's value is not one: %s", file,
                         entry->line, entry->key, why);
    memset(value, 0, sizeof value);
    entry->used = ok;
    return ok;
}

/* Apply a section's entries through one or two option tables (the second for sink keys). */
static bool section_apply(const char *file, Section *section, const ConfigOption *options,
                          void *settings, const ConfigOption *extra, void *extra_settings,
                          FerryError *err)
{
    for (int i = 0; i < section->nentries; i++) {
        Entry *entry = &section->entries[i];
        if (entry->used)
            continue;
        const ConfigOption *opt = options_find(options, entry->key);
        void *target = settings;
        if (opt == NULL) {
            opt = options_find(extra, entry->key);
            target = extra_settings;
        }
        const ConfigOption *secret = opt == NULL ? file_secret(options, entry->key) : NULL;
        void *secret_target = settings;
        if (opt == NULL && secret == NULL) {
            secret = file_secret(extra, entry->key);
            secret_target = extra_settings;
        }
        if (secret != NULL) {
            if (!apply_secret_file(file, section, entry, secret, secret_target, err))
                return false;
            continue;
        }
        if (opt == NULL) {
            char known[1024];
            /* [sink] type was read before the sink's own table was known (apply_sink). */
            size_t n = (size_t)snprintf(known, sizeof known, "%s", strcmp(section->header, "sink") == 0 ? "type" : "");
            const ConfigOption *tables[2] = {options, extra};
            for (int t = 0; t < 2; t++)
                for (const ConfigOption *o = tables[t]; o != NULL && o->name != NULL && n < sizeof known; o++)
                    n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", o->name);
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: unknown key '%s' in [%s] (known keys: %s)", file,
                               entry->line, entry->key, section->header, known);
        }
        char why[256];
        const char *value = opt->raw ? entry->raw : entry->value;
        if (!options_set(opt, target, value, why, sizeof why))
            return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: key '%s': bad value \"%s\": %s",
                               file, entry->line, entry->key, opt->secret ? "(secret)" : entry->value, why);
        entry->used = true;
    }
    const ConfigOption *tables[2] = {options, extra};
    void *targets[2] = {settings, extra_settings};
    for (int t = 0; t < 2; t++) {
        for (const ConfigOption *opt = tables[t]; opt != NULL && opt->name != NULL; opt++) {
            if (!opt->required)
                continue;
            char **slot = (char **)(void *)((char *)targets[t] + opt->offset);
            if (opt->type == OPT_STRING && (*slot == NULL || **slot == '\0'))
                return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: [%s] needs key '%s' (%s)",
                                   file, section->line, section->header, opt->name, opt->help);
        }
    }
    return true;
}

/*
 * Make relative paths relative to the configuration file's folder (cron
 * starts elsewhere) — or, for a path ferry writes, to systemd's
 * StateDirectory when it gives one ($STATE_DIRECTORY, the first of a list):
 * under ProtectSystem=strict /etc is read-only.
 */
static void resolve_paths(const ConfigOption *options, void *settings, const char *base)
{
    const char *state_dir = getenv("STATE_DIRECTORY");
    char first[4096] = "";
    if (state_dir != NULL && *state_dir == '/')
        snprintf(first, sizeof first, "%.*s", (int)strcspn(state_dir, ":"), state_dir);
    for (const ConfigOption *opt = options; opt->name != NULL; opt++) {
        char **slot = (char **)(void *)((char *)settings + opt->offset);
        const char *from = opt->writes && *first ? first : base;
        if (opt->type != OPT_STRING || !opt->is_path || *slot == NULL || **slot == '\0' || (*slot)[0] == '/' ||
            strcmp(from, ".") == 0)
            continue;
        size_t len = strlen(from) + strlen(*slot) + 2;
        char *joined = xmalloc(len);
        snprintf(joined, len, "%s/%s", from, *slot);
        free(*slot);
        *slot = joined;
    }
}

static Entry *section_entry(Section *section, const char *key)
{
    for (int i = 0; i < section->nentries; i++)
        if (strcmp(section->entries[i].key, key) == 0)
            return &section->entries[i];
    return NULL;
}

/* The line a message about `key` names: the key's own, or the section's when the key is not written. */
static int key_line(Section *section, const char *key)
{
    Entry *entry = section_entry(section, key);
    return entry ? entry->line : section->line;
}

static bool apply_sink(const char *file, Section *section, FerryConfig *config, FerryError *err)
{
    Entry *type = section_entry(section, "type");
    if (type == NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: [sink] needs key 'type' (one of: %s)",
                           file, section->line, sink_names());
    config->sink = sink_find(type->value);
    if (config->sink == NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: key 'type': unknown sink \"%s\" (known sinks: %s)", file,
                           type->line, type->value, sink_names());
    type->used = true;
    config->sink_settings = xcalloc(1, config->sink->settings_size);
    config->sink_options = options_flatten(config->sink->options);
    if (!options_apply_defaults(config->sink_options, config->sink_settings, err))
        return false;
    return section_apply(file, section, config->sink_options, config->sink_settings, NULL, NULL,
                         err);
}

static bool apply_unload(const char *file, Section *section, FerryConfig *config, FerryError *err)
{
    config->unload_options = options_flatten(unload_options);
    if (!options_apply_defaults(config->unload_options, &config->unload, err))
        return false;
    return section_apply(file, section, config->unload_options, &config->unload, NULL, NULL, err);
}

static bool table_watermark(const char *file, Section *section, TableConfig *table, FerryError *err);

static bool apply_table(const char *file, Section *section, FerryConfig *config, FerryError *err)
{
    const char *qualified = trim(section->header + strlen("table"));
    char *schema, *name;
    if (!config_parse_table_name(qualified, &schema, &name))
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: a table section must look like [table schema.name], not [%s] "
                           "(quote a name that holds spaces, dots or quotes: [table public.\"Odd Table\"])",
                           file, section->line, section->header);
    bool twice = false; /* the same table however it is spelled: public.t and "public"."t" */
    for (int i = 0; i < config->ntables; i++)
        twice |= strcmp(config->tables[i].schema, schema) == 0 && strcmp(config->tables[i].name, name) == 0;
    if (twice || config->ntables >= FERRY_TABLES_MAX) {
        free(schema);
        free(name);
        if (config->ntables >= FERRY_TABLES_MAX)
            return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: more than %d tables", file,
                               section->line, FERRY_TABLES_MAX);
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: table %s is configured twice", file,
                           section->line, qualified);
    }
    config->tables = xrealloc(config->tables, sizeof(TableConfig) * (size_t)(config->ntables + 1));
    TableConfig *table = &config->tables[config->ntables++];
    memset(table, 0, sizeof *table);
    table->schema = schema;
    table->name = name;
    table->qualified = xstrdup(qualified);
    table->line = section->line;
    if (!options_apply_defaults(table_options, &table->settings, err))
        return false;
    if (!section_apply(file, section, table_options, &table->settings, NULL, NULL, err))
        return false;
    table->read_order_line = key_line(section, "read_order");

    /* Lists must be well formed now, not when a worker first meets them. */
    const struct {
        const char *key;
        const char *value;
        int max;
    } lists[] = {{"key", table->settings.key, FERRY_KEY_COLUMNS_MAX},
                 {"columns", table->settings.columns, FERRY_COLUMNS_MAX}};
    for (size_t i = 0; i < 2; i++) {
        if (lists[i].value == NULL)
            continue;
        char **names = xcalloc((size_t)lists[i].max, sizeof(char *));
        int n = config_split_list(lists[i].value, names, lists[i].max);
        for (int j = 0; j < n; j++)
            free(names[j]);
        free(names);
        if (n <= 0) {
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key '%s': expected 1 to %d comma-separated column names",
                               file, key_line(section, lists[i].key), lists[i].key,
                               lists[i].max);
        }
    }
    if (!table_watermark(file, section, table, err))
        return false;
    if (table->settings.target == NULL) { /* schema.name as the catalog spells them */
        StrBuf target = {0};
        strbuf_add(&target, "%s.%s", table->schema, table->name);
        table->settings.target = target.text;
    }
    return true;
}

bool config_parse_span(const char *text, int64_t *seconds)
{
    static const struct {
        const char *unit;
        int64_t seconds;
    } units[] = {{"s", 1},       {"sec", 1},     {"second", 1}, {"min", 60}, {"minute", 60},
                 {"h", 3600},    {"hour", 3600}, {"d", 86400},  {"day", 86400},
                 {"w", 604800},  {"week", 604800}};
    int64_t total = 0;
    int pairs = 0;
    const char *p = text;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        if (!isdigit((unsigned char)*p))
            return false;
        errno = 0;
        char *end;
        long long n = strtoll(p, &end, 10);
        if (errno != 0 || n > 1000000000LL)
            return false;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        const char *word = p;
        while (isalpha((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - word);
        if (len > 1 && word[len - 1] == 's' && !(len == 3 && strncasecmp(word, "sec", 3) == 0))
            len--; /* plural */
        int64_t scale = 0;
        for (size_t u = 0; u < sizeof units / sizeof units[0] && scale == 0; u++)
            if (len > 0 && strlen(units[u].unit) == len && strncasecmp(word, units[u].unit, len) == 0)
                scale = units[u].seconds;
        if (scale == 0)
            return false;
        total += (int64_t)n * scale;
        pairs++;
    }
    *seconds = total;
    return pairs > 0;
}

/* mode = incremental: the watermark named and its spans read, each error at its line. */
/* deletes = soft COLUMN: the column read (quoted as in SQL where it must be); anything else at its line. */
static bool table_deletes(const char *file, Section *section, TableConfig *table, FerryError *err)
{
    const char *text = table->settings.deletes;
    int line = table->watermark.deletes_line = key_line(section, "deletes");
    char *names[2];
    int n = strncmp(text, "soft", 4) == 0 && isspace((unsigned char)text[4]) ? config_split_list(text + 5, names, 2)
                                                                              : 0;
    if (n == 1) {
        table->watermark.soft_delete = names[0];
        return true;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    if (strcmp(text, "reconcile") == 0) {
        table->watermark.reconcile = true;
        return true;
    }
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "%s:%d: key 'deletes': expected none, reconcile, or soft and one column (deletes = soft "
                       "deleted_at), not \"%s\"",
                       file, line, text);
}

static bool table_watermark(const char *file, Section *section, TableConfig *table, FerryError *err)
{
    TableSettings *s = &table->settings;
    Watermark *w = &table->watermark;
    bool deletes = strcmp(s->deletes, "none") != 0;
    if (s->mode != MODE_INCREMENTAL) {
        const char *given = s->watermark ? "watermark" : s->lookback ? "lookback" : deletes ? "deletes" : NULL;
        if (given == NULL)
            return true;
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: key '%s': table %s is copied in full (mode = full); set mode = incremental "
                           "to copy what changed by its watermark",
                           file, key_line(section, given), given, table->qualified);
    }
    if (s->watermark == NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: key 'mode': mode = incremental needs a watermark for table %s: the column "
                           "that says a row changed (watermark = updated_at), or watermark = xmin",
                           file, key_line(section, "mode"), table->qualified);
    w->line = w->lookback_line = key_line(section, "watermark");
    char *names[2];
    int n = config_split_list(s->watermark, names, 2);
    if (n != 1) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: key 'watermark': expected one column name, or xmin",
                           file, w->line);
    }
    w->column = names[0];
    w->xmin = strcmp(s->watermark, "xmin") == 0; /* "xmin" quoted would be a column; PostgreSQL has none */
    if (s->lookback != NULL) {
        int line = w->lookback_line = key_line(section, "lookback");
        if (w->xmin)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key 'lookback': watermark = xmin reads every row whose transaction the "
                               "last run could not see, late commits included: it takes no lookback",
                               file, line);
        const char *p = s->lookback;
        while (isdigit((unsigned char)*p))
            p++;
        w->lookback_set = true;
        w->lookback_is_count = *p == '\0' && p > s->lookback;
        if (w->lookback_is_count) {
            w->lookback = strtoll(s->lookback, NULL, 10);
        } else if (!config_parse_span(s->lookback, &w->lookback)) {
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key 'lookback': expected a span such as \"5 minutes\" (for a time "
                               "watermark) or a count such as 1000 (for an integer one), not \"%s\"",
                               file, line, s->lookback);
        }
    }
    if (!config_parse_span(s->watermark_lag, &w->lag_s))
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: key 'watermark_lag': expected a span such as \"30 seconds\", not \"%s\"",
                           file, key_line(section, "watermark_lag"), s->watermark_lag);
    return !deletes || table_deletes(file, section, table, err);
}

static bool is_table_section(const Section *section)
{
    const char *h = section->header;
    return strncmp(h, "table", 5) == 0 && (h[5] == ' ' || h[5] == '\t' || h[5] == '\0');
}

/*
 * What the sink would make of a table's keys, refused at the line that asks
 * it: on_duplicate_key = keep_all into a sink that stores one row per key
 * would merge the rows it means to keep; mode = incremental into a sink that
 * neither upserts by key nor keeps each run's output beside the last
 * (load = append) would store a changed row twice. Table sections are in the
 * order of config->tables.
 */
static bool check_tables_with_sink(const char *file, Parsed *parsed, const FerryConfig *config, FerryError *err)
{
    unsigned flags = sink_flags(config->sink, config->sink_settings);
    int t = 0;
    for (int i = 0; i < parsed->nsections; i++) {
        Section *section = &parsed->sections[i];
        if (!is_table_section(section))
            continue;
        const TableConfig *table = &config->tables[t++];
        if ((flags & SINK_UPSERTS_BY_KEY) && table->settings.on_duplicate_key == DUPLICATES_KEEP_ALL)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key 'on_duplicate_key': keep_all keeps every row of a repeated key, but "
                               "the %s sink stores one row per key and would merge them: use keep_last or fail "
                               "for table %s",
                               file, key_line(section, "on_duplicate_key"), config->sink->name, table->qualified);
        if (table->watermark.reconcile && config->sink->prune == NULL)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key 'deletes': deletes = reconcile removes keys from the sink, and the %s "
                               "sink cannot: use deletes = soft COLUMN",
                               file, key_line(section, "deletes"), config->sink->name);
        if (table->settings.mode == MODE_INCREMENTAL && !(flags & (SINK_UPSERTS_BY_KEY | SINK_KEEPS_GENERATIONS)))
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s:%d: key 'mode': an incremental run copies every changed row again, and the %s "
                               "sink as configured appends rows (load = append): set load = upsert in [sink] "
                               "for table %s",
                               file, key_line(section, "mode"), config->sink->name, table->qualified);
    }
    return true;
}

/*
 * (5) Does `value`, of a secret option `key`, hold a secret? A conninfo or a
 * URI is a secret only with a password in it; anything else set is one.
 */
static bool value_is_secret(const char *key, const char *value)
{
    if (*value == '\0')
        return false;
    if (strcmp(key, "conninfo") != 0 && strcmp(key, "uri") != 0)
        return true;
    if (strcasestr(value, "password") != NULL)
        return true;
    const char *scheme = strstr(value, "://");
    if (scheme == NULL)
        return false;
    const char *authority = scheme + 3;
    size_t len = strcspn(authority, "/?#");
    const char *at = memchr(authority, '@', len);
    return at != NULL && memchr(authority, ':', (size_t)(at - authority)) != NULL; /* user:password@ */
}

/* (5) The first line of the file that sets a secret inline, into config->secret_line and secret_key. */
static void find_inline_secret(const Parsed *parsed, FerryConfig *config)
{
    for (int i = 0; i < parsed->nsections && config->secret_line == 0; i++) {
        const Section *section = &parsed->sections[i];
        const ConfigOption *options = strcmp(section->header, "source") == 0   ? source_options
                                      : strcmp(section->header, "sink") == 0   ? config->sink_options
                                      : strcmp(section->header, "unload") == 0 ? config->unload_options
                                                                               : NULL;
        for (int e = 0; options != NULL && e < section->nentries && config->secret_line == 0; e++) {
            const Entry *entry = &section->entries[e];
            const ConfigOption *opt = options_find(options, entry->key);
            if (opt != NULL && opt->secret && value_is_secret(entry->key, entry->value)) {
                config->secret_line = entry->line;
                snprintf(config->secret_key, sizeof config->secret_key, "%s", entry->key);
            }
        }
    }
}

bool config_load_text(const char *name, const char *text, FerryConfig **out, FerryError *err)
{
    Parsed parsed;
    FerryConfig *config = xcalloc(1, sizeof *config);
    config->path = xstrdup(name);
    bool ok = false;
    bool seen_ferry = false, seen_source = false, seen_sink = false;

    if (!parse_text(name, text, &parsed, err))
        goto out;
    if (!options_apply_defaults(ferry_options, &config->ferry, err) ||
        !options_apply_defaults(source_options, &config->source, err))
        goto out;

    /* (5) [ferry] first: secret_files must be known before a secret's file is read. Applied again in
     * the loop below, it changes nothing (each entry is taken once). */
    for (int i = 0; i < parsed.nsections; i++)
        if (strcmp(parsed.sections[i].header, "ferry") == 0 &&
            !section_apply(name, &parsed.sections[i], ferry_options, &config->ferry, NULL, NULL, err))
            goto out;
    secret_files_policy(config->ferry.secret_files == SECRET_FILES_REFUSE);
    for (int i = 0; i < parsed.nsections; i++) {
        Section *section = &parsed.sections[i];
        bool *seen = NULL;
        bool applied;
        if (strcmp(section->header, "ferry") == 0) {
            seen = &seen_ferry;
            applied = section_apply(name, section, ferry_options, &config->ferry, NULL, NULL, err);
        } else if (strcmp(section->header, "source") == 0) {
            seen = &seen_source;
            applied = section_apply(name, section, source_options, &config->source, NULL, NULL, err);
        } else if (strcmp(section->header, "sink") == 0) {
            seen = &seen_sink;
            applied = !seen_sink && apply_sink(name, section, config, err);
        } else if (strcmp(section->header, "unload") == 0) {
            seen = &config->has_unload;
            applied = !config->has_unload && apply_unload(name, section, config, err);
        } else if (is_table_section(section)) {
            applied = apply_table(name, section, config, err);
        } else {
            ferry_error(err, FERRY_ERR_CONFIG, 0,
                        "%s:%d: unknown section [%s] (known: [ferry], [source], [sink], [unload], "
                        "[table schema.name])",
                        name, section->line, section->header);
            goto out;
        }
        if (seen != NULL && *seen) {
            ferry_error(err, FERRY_ERR_CONFIG, 0, "%s:%d: section [%s] appears twice", name,
                        section->line, section->header);
            goto out;
        }
        if (!applied)
            goto out;
        if (seen != NULL)
            *seen = true;
    }
    if (!seen_source) {
        ferry_error(err, FERRY_ERR_CONFIG, 0,
                    "%s: a [source] section is needed (conninfo = host=… dbname=… user=…; an empty "
                    "[source] takes the connection from the PG* environment variables)",
                    name);
        goto out;
    }
    if (!seen_sink) {
        ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: a [sink] section is needed (type = %s)", name,
                    sink_names());
        goto out;
    }
    if (config->ntables == 0) {
        ferry_error(err, FERRY_ERR_CONFIG, 0,
                    "%s: no table to copy: add a section such as [table public.orders]", name);
        goto out;
    }
    if (!check_tables_with_sink(name, &parsed, config, err))
        goto out;
    if (config->source.read_method == READ_UNLOAD && !config->has_unload) {
        Entry *entry = NULL;
        for (int i = 0; i < parsed.nsections && entry == NULL; i++)
            if (strcmp(parsed.sections[i].header, "source") == 0)
                entry = section_entry(&parsed.sections[i], "read_method");
        ferry_error(err, FERRY_ERR_CONFIG, 0,
                    "%s:%d: key 'read_method': unload needs an [unload] section (bucket, prefix, iam_role: "
                    "where Redshift stages the rows)",
                    name, entry ? entry->line : 0);
        goto out;
    }
    find_inline_secret(&parsed, config);
    char *slash = strrchr(name, '/');
    char *base = slash ? xstrndup(name, (size_t)(slash - name)) : xstrdup(".");
    resolve_paths(ferry_options, &config->ferry, base);
    resolve_paths(config->sink_options, config->sink_settings, base);
    if (config->has_unload)
        resolve_paths(config->unload_options, &config->unload, base);
    free(base);
    log_set_level((LogLevel)config->ferry.log_level);
    log_set_format((LogFormat)config->ferry.log_format);
    ok = true;
out:
    parsed_free(&parsed);
    if (!ok) {
        config_free(config);
        config = NULL;
    }
    *out = config;
    return ok;
}

bool config_load(const char *path, FerryConfig **out, FerryError *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, errno, "%s: cannot open: %s", path,
                           strerror(errno));
    size_t cap = 4096, len = 0;
    char *text = xmalloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            if (cap >= (64u << 20)) {
                fclose(f);
                free(text);
                return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: larger than 64 MiB", path);
            }
            cap *= 2;
            text = xrealloc(text, cap);
        }
    }
    bool read_failed = ferror(f);
    struct stat st;
    bool stated = fstat(fileno(f), &st) == 0;
    fclose(f);
    text[len] = '\0';
    if (read_failed) {
        free(text);
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: read failed", path);
    }
    if (memchr(text, '\0', len) != NULL) {
        free(text);
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: not a text file (holds a NUL byte)", path);
    }
    bool ok = config_load_text(path, text, out, err);
    free(text);
    /* (5) A file that holds a secret inline is one others must not read. */
    if (ok && stated && (*out)->secret_line > 0) {
        char what[4200];
        snprintf(what, sizeof what, "%s:%d: key '%s' holds a secret, and %s", path, (*out)->secret_line,
                 (*out)->secret_key, path);
        if (!secret_file_mode_ok(path, (unsigned)st.st_mode, what, err)) {
            config_free(*out);
            *out = NULL;
            return false;
        }
    }
    return ok;
}

void config_free(FerryConfig *config)
{
    if (config == NULL)
        return;
    options_free(ferry_options, &config->ferry);
    options_free(source_options, &config->source);
    if (config->sink_options != NULL)
        options_free(config->sink_options, config->sink_settings);
    free(config->sink_options);
    free(config->sink_settings);
    if (config->unload_options != NULL)
        options_free(config->unload_options, &config->unload);
    free(config->unload_options);
    for (int i = 0; i < config->ntables; i++) {
        options_free(table_options, &config->tables[i].settings);
        free(config->tables[i].watermark.column);
        free(config->tables[i].watermark.soft_delete);
        free(config->tables[i].schema);
        free(config->tables[i].name);
        free(config->tables[i].qualified);
    }
    free(config->tables);
    free(config->path);
    free(config);
}

const TableConfig *config_find_table(const FerryConfig *config, const char *qualified)
{
    for (int i = 0; i < config->ntables; i++)
        if (strcmp(config->tables[i].qualified, qualified) == 0)
            return &config->tables[i];
    return NULL;
}

ReadOrder config_read_order(const FerryConfig *config, const TableConfig *table)
{
    if (table->settings.read_order != READ_ORDER_DEFAULT)
        return (ReadOrder)table->settings.read_order;
    return (ReadOrder)(config->ferry.read_order + 1);
}

/*
 * One name at *p, as PostgreSQL writes identifiers: "double-quoted" (a quote
 * inside doubled) keeps every character, a comma, a dot and spaces included;
 * unquoted is taken as written, up to the first of `stops`, spaces around it
 * trimmed. *p is left at the stop (or the end). NULL when there is no name.
 */
static char *parse_name(const char **p, const char *stops)
{
    const char *q = *p;
    while (isspace((unsigned char)*q))
        q++;
    if (*q != '"') {
        size_t len = strcspn(q, stops);
        while (len > 0 && isspace((unsigned char)q[len - 1]))
            len--;
        if (len == 0 || memchr(q, '"', len) != NULL)
            return NULL;
        *p = q + strcspn(q, stops);
        return xstrndup(q, len);
    }
    StrBuf name = {0};
    strbuf_add(&name, "%s", "");
    for (q++;; q++) {
        if (*q == '\0') {
            free(name.text);
            return NULL; /* unterminated */
        }
        if (*q == '"' && q[1] != '"')
            break;
        if (*q == '"')
            q++; /* "" is a quote */
        strbuf_add(&name, "%c", *q);
    }
    q++;
    while (isspace((unsigned char)*q))
        q++;
    if (name.len == 0 || (*q != '\0' && strchr(stops, *q) == NULL)) {
        free(name.text);
        return NULL; /* "" or text after the closing quote */
    }
    *p = q;
    return name.text;
}

bool config_parse_table_name(const char *text, char **schema, char **name)
{
    const char *p = text;
    *schema = parse_name(&p, ".");
    *name = NULL;
    if (*schema != NULL && *p == '.') {
        p++;
        *name = parse_name(&p, "");
    }
    if (*name == NULL || *p != '\0') {
        free(*schema);
        free(*name);
        *schema = *name = NULL;
        return false;
    }
    return true;
}

int config_split_list(const char *text, char **names, int max)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        char *name = n < max ? parse_name(&p, ",") : NULL;
        if (name == NULL) {
            for (int i = 0; i < n; i++)
                free(names[i]);
            return -1;
        }
        names[n++] = name;
        if (*p == '\0')
            return n;
        p++; /* the comma */
    }
}

void config_add_name(StrBuf *out, const char *name)
{
    bool plain = *name != '\0' && strpbrk(name, ",.\"") == NULL && !isspace((unsigned char)name[0]) &&
                 !isspace((unsigned char)name[strlen(name) - 1]);
    if (plain) {
        strbuf_add(out, "%s", name);
        return;
    }
    strbuf_add(out, "\"");
    for (const char *c = name; *c; c++) {
        if (*c == '"')
            strbuf_add(out, "\"\""); /* a quote inside is doubled */
        else
            strbuf_add(out, "%c", *c);
    }
    strbuf_add(out, "\"");
}

/* ---- setup record ---- */

static void setup_add(SetupEntry **entries, int *count, const char *prefix, const ConfigOption *options,
                      const void *settings)
{
    for (const ConfigOption *opt = options; opt->name != NULL; opt++) {
        if (!opt->setup)
            continue;
        char name[FERRY_NAME_MAX + 64];
        char value[FERRY_CONFIG_LINE_MAX];
        snprintf(name, sizeof name, "%s.%s", prefix, opt->name);
        options_render(opt, settings, value, sizeof value);
        *entries = xrealloc(*entries, sizeof(SetupEntry) * (size_t)(*count + 1));
        (*entries)[(*count)++] =
            (SetupEntry){.name = xstrdup(name), .value = xstrdup(value), .open = opt->setup_open};
    }
}

bool config_setup_entries(const FerryConfig *config, SetupEntry **out, int *count)
{
    *out = NULL;
    *count = 0;
    setup_add(out, count, "source", source_options, &config->source);
    SetupEntry *entries = *out;
    entries = xrealloc(entries, sizeof(SetupEntry) * (size_t)(*count + 1));
    entries[(*count)++] = (SetupEntry){.name = xstrdup("sink.type"), .value = xstrdup(config->sink->name)};
    *out = entries;
    setup_add(out, count, "sink", config->sink_options, config->sink_settings);
    for (int i = 0; i < config->ntables; i++) {
        char prefix[FERRY_NAME_MAX + 16];
        snprintf(prefix, sizeof prefix, "table %s", config->tables[i].qualified);
        setup_add(out, count, prefix, table_options, &config->tables[i].settings);
    }
    return true;
}

void config_setup_entries_free(SetupEntry *entries, int count)
{
    for (int i = 0; i < count; i++) {
        free(entries[i].name);
        free(entries[i].value);
    }
    free(entries);
}
