/*
 * tests/unit/test_config.c — the configuration: defaults, values, and errors naming file, line and key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/config.h"
#include "ferry/sink.h"
#include "tap.h"

static const char *base_text =
    "# a comment\n"
    "[ferry]\n"
    "memory_limit = 64MB\n"
    "workers = 2\n"
    "\n"
    "[source]\n"
    "conninfo = \"host=db user=app password=s3cret\"\n"
    "\n"
    "[sink]\n"
    "type = dir\n"
    "path = /data/out\n"
    "format = csv\n"
    "\n"
    "[table public.orders]\n"
    "key = id\n"
    "where = status <> 'x' AND note NOT LIKE '#%'\n"
    "\n"
    "[table sales.lines]\n"
    "key = order_id, line_no\n"
    "columns = order_id, line_no, amount\n"
    "target = lines\n";

/* Load `text` and return the error message ("" when it loaded). */
static const char *load_error(const char *text)
{
    static FerryError err;
    FerryConfig *config = NULL;
    memset(&err, 0, sizeof err);
    if (config_load_text("/etc/ferry/test.ini", text, &config, &err)) {
        config_free(config);
        return "";
    }
    return err.message;
}

/* base_text with one line replaced or appended. */
static const char *with(const char *find, const char *replace)
{
    static char buf[4096];
    const char *at = strstr(base_text, find);
    if (at == NULL) {
        snprintf(buf, sizeof buf, "%s%s", base_text, replace);
        return buf;
    }
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - base_text), base_text, replace, at + strlen(find));
    return buf;
}

/* The configuration's bounds (limits.h): each met with an error naming the file and line. */
static void test_config_bounds(void)
{
    size_t cap = strlen(base_text) + FERRY_CONFIG_LINE_MAX + 64;
    char *text = malloc(cap);
    int n = snprintf(text, cap, "%s[table public.wide]\nwhere = ", base_text);
    memset(text + n, 'x', FERRY_CONFIG_LINE_MAX);
    text[n + FERRY_CONFIG_LINE_MAX] = '\0';
    char want[128];
    snprintf(want, sizeof want, "/etc/ferry/test.ini:23: line longer than %d bytes", FERRY_CONFIG_LINE_MAX - 1);
    is_str(load_error(text), want,
           "a line longer than FERRY_CONFIG_LINE_MAX is an error naming the file and line");
    free(text);
    StrBuf many = {0};
    strbuf_add(&many, "%s", base_text);
    for (int t = 0; t < FERRY_TABLES_MAX; t++)
        strbuf_add(&many, "[table public.t%d]\n", t);
    /* base_text's 21 lines hold two tables; the one past the limit is the 1023rd added, on line 22 + 1022 */
    snprintf(want, sizeof want, "/etc/ferry/test.ini:%d: more than %d tables", 22 + FERRY_TABLES_MAX - 2, FERRY_TABLES_MAX);
    is_str(load_error(many.text), want, "table %d of a configuration is an error naming its line", FERRY_TABLES_MAX + 1);
    free(many.text);
}

void test_config(void)
{
    test_config_bounds();
    FerryConfig *config = NULL;
    FerryError err;
    ok(config_load_text("/etc/ferry/test.ini", base_text, &config, &err), "a valid configuration loads");
    if (config == NULL)
        return;
    is_num(config->ferry.memory_limit, 64ull << 20, "memory_limit 64MB is 64 MiB");
    is_num(config->ferry.workers, 2, "workers");
    ok(config->ferry.memory_fraction == 0.5, "memory_fraction defaults to 0.5");
    is_str(config->ferry.state, "/etc/ferry/ferry.state", "the state file defaults beside the configuration");
    is_str(config->source.conninfo, "host=db user=app password=s3cret", "quoted values lose their quotes");
    is_str(config->sink->name, "dir", "sink type");
    is_num(config->ntables, 2, "two tables");
    is_str(config->tables[0].schema, "public", "schema of the first table");
    is_str(config->tables[0].settings.target, "public.orders", "target defaults to schema.name");
    is_str(config->tables[0].settings.where, "status <> 'x' AND note NOT LIKE '#%'",
           "a '#' inside a value is not a comment");
    is_num(config->tables[0].settings.partition_rows, FERRY_DEFAULT_PARTITION_ROWS, "partition_rows default");
    is_str(config->tables[1].settings.target, "lines", "target as configured");

    SetupEntry *entries;
    int n;
    config_setup_entries(config, &entries, &n);
    bool secret = false, has_path = false, has_key = false;
    for (int i = 0; i < n; i++) {
        secret |= strstr(entries[i].value, "s3cret") != NULL;
        has_path |= strcmp(entries[i].name, "sink.path") == 0 && strcmp(entries[i].value, "/data/out") == 0;
        has_key |= strcmp(entries[i].name, "table sales.lines.key") == 0;
    }
    ok(!secret, "the setup record never holds the conninfo's password");
    ok(has_path && has_key, "the setup record holds the sink path and each table's key");
    config_setup_entries_free(entries, n);
    config_free(config);

    /* Errors name the file, the line and the key. */
    contains(load_error(with("workers = 2\n", "workers = 2\nwokers = 3\n")),
             "/etc/ferry/test.ini:5: unknown key 'wokers' in [ferry]", "an unknown key names file, line and key");
    contains(load_error(with("workers = 2\n", "workers = lots\n")),
             "/etc/ferry/test.ini:4: key 'workers': bad value \"lots\"", "a bad number names file, line and key");
    FerryConfig *auto_config = NULL;
    ok(config_load_text("/etc/ferry/test.ini", with("workers = 2\n", "workers = auto\n"), &auto_config, &err) &&
           auto_config->ferry.workers == 0,
       "workers = auto loads, as 0 (resolved when the run starts)");
    config_free(auto_config);
    auto_config = NULL;
    ok(config_load_text("/etc/ferry/test.ini", with("workers = 2\n", ""), &auto_config, &err) &&
           auto_config->ferry.workers == 0,
       "without workers, auto is the default");
    config_free(auto_config);
    contains(load_error(with("workers = 2\n", "workers = 0\n")), "expected auto or a whole number from 1 to 64",
             "a number out of range says the range");
    contains(load_error(with("memory_limit = 64MB\n", "memory_limit = lots\n")),
             ":3: key 'memory_limit': bad value \"lots\": expected a size", "a bad size");
    contains(load_error(with("format = csv\n", "format = xml\n")),
             ":12: key 'format': bad value \"xml\": expected one of: ndjson, csv", "a bad choice lists the choices");
    contains(load_error(with("type = dir\n", "type = ftp\n")), ":10: key 'type': unknown sink \"ftp\" (known sinks: dir",
             "an unknown sink type lists the sinks");
    contains(load_error(with("path = /data/out\n", "")), "[sink] needs key 'path'", "a missing required key");
    contains(load_error(with("[table sales.lines]", "[table lines]")), ":18: a table section must look like [table schema.name]",
             "a table without schema");
    contains(load_error(with("[source]", "[sorce]")), ":6: unknown section [sorce]", "an unknown section");
    contains(load_error(with("workers = 2\n", "workers = 2\nworkers = 3\n")),
             ":5: key 'workers' is set twice in [ferry] (first on line 4)", "a key set twice");
    contains(load_error(with("key = id\n", "key = id,,x\n")), ":15: key 'key': expected 1 to 8 comma-separated",
             "an empty name in a key list");
    contains(load_error(with("[table sales.lines]", "[table public.orders]")), "table public.orders is configured twice",
             "a table configured twice");
    contains(load_error(with("[table sales.lines]", "[table \"public\".\"orders\"]")),
             "table \"public\".\"orders\" is configured twice", "the same table spelled with quotes is the same table");
    contains(load_error(with("key = id\n", "key = \"id\n")), ":15: key 'key': expected 1 to 8 comma-separated",
             "an unterminated quoted name in a key list");
    contains(load_error("[ferry]\n[source]\n[sink]\ntype = dir\npath = x\n"), "no table to copy", "no table at all");
    contains(load_error("[ferry]\n[sink]\ntype = dir\npath = x\n[table public.t]\n"),
             "/etc/ferry/test.ini: a [source] section is needed", "no [source] at all");
    contains(load_error("[ferry]\nworkers\n"), ":2: expected \"key = value\"", "a line without '='");
    contains(load_error("workers = 1\n"), ":1: key 'workers' stands before any [section]", "a key before a section");
    contains(load_error(with("[source]", "[source")), ":6: a section header must look like [name]", "a broken header");
    contains(load_error(with("[source]", "[source]  junk")), ":6: a section header must look like [name]",
             "text after a header that is not a comment");

    /* Comments after a value or a header, as the README writes them. */
    static const char *commented =
        "[ferry]   # the agent\n"
        "state = orders.state          # SQLite state file\n"
        "memory_limit = 64MB\t; a cap\n"
        "[source]\n"
        "conninfo = host=db password='a #1' user=app   # the reader\n"
        "[sink]\n"
        "type = dir\n"
        "path = /data/out#1;2   # '#' and ';' with no space before them are the value's\n"
        "[table public.\"odd ] # name\"]   # quoted, so its ']' and '#' are the name's\n"
        "key = \"a,b\", id               # a comma or a quote\n"
        "where = note <> 'x # y'\n"
        "target = \"t #1\"\n";
    config = NULL;
    ok(config_load_text("/etc/ferry/test.ini", commented, &config, &err), "comments after values and headers load");
    if (config != NULL) {
        is_str(config->ferry.state, "/etc/ferry/orders.state", "a comment after a path is not part of it");
        is_num(config->ferry.memory_limit, 64ull << 20, "'; note' after a tab is a comment");
        is_str(config->source.conninfo, "host=db password='a #1' user=app", "a ' #' inside single quotes is kept");
        is_str(config->tables[0].name, "odd ] # name", "a header's quoted name keeps its ']' and '#'");
        is_str(config->tables[0].settings.where, "note <> 'x # y'", "a SQL literal keeps its ' #'");
        is_str(config->tables[0].settings.target, "t #1", "a double-quoted value keeps its ' #'");
        config_free(config);
    }
    config = NULL;
    ok(config_load_text("/etc/ferry/test.ini", with("target = lines\n", "target = it's   # x\n"), &config, &err) &&
           strcmp(config->tables[1].settings.target, "it's   # x") == 0,
       "a value whose quote does not close is kept whole");
    config_free(config);

    /* A secret read from a file (X_file): its text less the last line ending; never both. */
    char secret_path[] = "/tmp/ferry-unit-secret-XXXXXX";
    int fd = mkstemp(secret_path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f != NULL) {
        fputs("host=db user=app password=fr0m-a-file\n", f);
        fclose(f);
    }
    char line[256];
    snprintf(line, sizeof line, "conninfo_file = %s\n", secret_path);
    config = NULL;
    ok(config_load_text("/etc/ferry/test.ini", with("conninfo = \"host=db user=app password=s3cret\"\n", line), &config,
                        &err) &&
           strcmp(config->source.conninfo, "host=db user=app password=fr0m-a-file") == 0,
       "conninfo_file: the conninfo is the file's first line, less its line ending");
    config_free(config);
    char both[512];
    snprintf(both, sizeof both, "conninfo = x\n%s", line);
    contains(load_error(with("conninfo = \"host=db user=app password=s3cret\"\n", both)),
             ":8: key 'conninfo_file': 'conninfo' is set too (line 7): keep one of them", "conninfo and conninfo_file");
    unlink(secret_path);
    contains(load_error(with("conninfo = \"host=db user=app password=s3cret\"\n", line)),
             ":7: key 'conninfo_file': cannot read /tmp/ferry-unit-secret-", "a secret file that is not there");
    contains(load_error(with("type = dir\n", "type = dir\npath_file = /x\n")), "unknown key 'path_file'",
             "only a secret has a _file form");
}
