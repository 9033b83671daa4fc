/*
 * sinks/mongo.c — the MongoDB sink: each row a document, written by unordered bulk upserts.
 *
 * Design notes
 *  (1) Every row is a replace-with-upsert by its selector ({_id: key}, or the
 *      key fields): a segment written again after a crash replaces its own
 *      documents, so replay never doubles a row (SINK_UPSERTS_BY_KEY). The
 *      bulk is unordered: one bad document does not hold back the others.
 *  (2) Memory: documents are gathered into a bulk of at most bulk_bytes
 *      (libmongoc copies each document once into the bulk, and cuts it into
 *      messages by the server's maxMessageSizeBytes and maxWriteBatchSize);
 *      a document that would take the bulk past bulk_bytes opens the next
 *      one, and the last is sent at the end of every batch, so the handle
 *      holds one bulk at most: memory() counts it. A row wider than the
 *      sink buffer is built in a buffer of its own size and costs about
 *      three copies while it is written; the worker pays for those with the
 *      row (wide_row_copies), so workers meeting wide rows take turns.
 *  (3) commit returns only after the server acknowledged every bulk of the
 *      segment under the write concern (default w=1 and journaled).
 *  (4) Bad rows — a row that cannot become a document, a document over the
 *      server's maxBsonObjectSize, a document the server refuses — follow
 *      on_reject: fail names the table, the key and the reason; skip writes
 *      them, one line as each comes, to a DurableFile (files.h) that commit
 *      makes "<reject_dir>/<target>.p<partition>.s<sequence>.ndjson" (a
 *      replayed segment replaces its own reject file), and counts them. No
 *      bad row is held in memory.
 *  (5) Errors: network errors, server selection, write concern errors,
 *      step-downs, interruptions and duplicate keys (two upserts of one key
 *      racing) are retryable; authentication, authorization and bad requests
 *      are not. The URI is a secret: it is never put in a message.
 *  (6) Keys stay distinct: _id and the key fields hold each key column in
 *      its key form (document.h); a table whose columns would share a field
 *      name is refused when it is planned (check_table), and a collection
 *      whose default collation could make two string keys one is refused
 *      before anything is written to it.
 *  (7) verify reads a partition back by its key range only where BSON
 *      orders the key as PostgreSQL does (ranges_match); other keys are
 *      compared over the whole collection.
 *  (8) A collection's owner marker (owner.h) is a document of the
 *      database's "ferry_owners" collection: {_id: <collection>, marker}.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "ferry/document.h"
#include "ferry/fault.h"
#include "ferry/files.h"
#include "ferry/segment.h"
#include "ferry/format.h"
#include "ferry/owner.h"
#include "ferry/plan.h"
#include "ferry/sink.h"

typedef struct MongoSettings {
    char *uri;
    char *database;
    int document_id, nulls, inexact_numeric, timestamps, field_names, lone_surrogates, json_numbers; /* DocOptions */
    char *write_concern;
    bool journal;
    int write_timeout;
    uint64_t bulk_bytes;
    int on_reject;
    char *reject_dir;
} MongoSettings;

enum { REJECT_FAIL = 0, REJECT_SKIP = 1 };

static const char *const id_names[] = {"key", "mongo", NULL};
static const char *const null_names[] = {"null", "omit", NULL};
static const char *const inexact_names[] = {"reject", "string", NULL};
static const char *const timestamp_names[] = {"date", "string", NULL};
static const char *const field_rule_names[] = {"escape", "keep", "reject", NULL};
static const char *const reject_names[] = {"fail", "skip", NULL};
static const char *const surrogate_names[] = {"reject", "replace", NULL};
static const char *const json_number_names[] = {"exact", "double", NULL};

static const ConfigOption mongo_options[] = {
    CONFIG_OPTION(MongoSettings, uri, OPT_STRING, .required = true,
                  .help = "MongoDB connection string (TLS, authentication as libmongoc takes them); a secret"),
    CONFIG_OPTION(MongoSettings, database, OPT_STRING, .setup = true,
                  .help = "database to write into (default: the URI's)"),
    CONFIG_OPTION(MongoSettings, document_id, OPT_ENUM, .default_value = "key", .choices = id_names,
                  .setup = true, .help = "key: _id is the row's key; mongo: MongoDB's _id, upsert on the key fields"),
    CONFIG_OPTION(MongoSettings, nulls, OPT_ENUM, .default_value = "null", .choices = null_names,
                  .setup = true, .help = "null: NULL becomes null; omit: the field is left out"),
    CONFIG_OPTION(MongoSettings, inexact_numeric, OPT_ENUM, .default_value = "reject",
                  .choices = inexact_names, .setup = true,
                  .help = "numeric values Decimal128 cannot hold exactly: a bad row, or a string"),
    CONFIG_OPTION(MongoSettings, timestamps, OPT_ENUM, .default_value = "date", .choices = timestamp_names,
                  .setup = true, .help = "date (milliseconds) or string (ISO 8601, keeps microseconds)"),
    CONFIG_OPTION(MongoSettings, field_names, OPT_ENUM, .default_value = "escape",
                  .choices = field_rule_names, .setup = true,
                  .help = "names with a leading '$' or a '.': escape (full-width forms), keep, reject"),
    CONFIG_OPTION(MongoSettings, lone_surrogates, OPT_ENUM, .default_value = "reject",
                  .choices = surrogate_names, .setup = true,
                  .help = "a json \\u escape of a lone UTF-16 surrogate: a bad row, or U+FFFD"),
    CONFIG_OPTION(MongoSettings, json_numbers, OPT_ENUM, .default_value = "exact", .choices = json_number_names,
                  .setup = true,
                  .help = "json numbers that are not integers: exact (a double only when it is the number, "
                          "else Decimal128) or double (the nearest double where it reads back as the number)"),
    CONFIG_OPTION(MongoSettings, write_concern, OPT_STRING, .default_value = "1",
                  .help = "w: a number of members, or majority"),
    CONFIG_OPTION(MongoSettings, journal, OPT_BOOL, .default_value = "true",
                  .help = "a write is acknowledged only once journaled"),
    CONFIG_OPTION(MongoSettings, write_timeout, OPT_INT, .default_value = "60", .min = 0, .max = 86400,
                  .help = "seconds the write concern may take (0: no limit)"),
    CONFIG_OPTION(MongoSettings, bulk_bytes, OPT_SIZE, .default_value = "4MB", .min = 0,
                  .help = "documents gathered before a bulk write is sent"),
    CONFIG_OPTION(MongoSettings, on_reject, OPT_ENUM, .default_value = "fail", .choices = reject_names,
                  .help = "a row that cannot be stored: fail the partition, or skip it into reject_dir"),
    CONFIG_OPTION(MongoSettings, reject_dir, OPT_STRING, .default_value = "rejects", .is_path = true, .writes = true,
                  .help = "where skipped rows are written, one file per segment"),
    {0},
};

#define MONGO_BSON_MAX_DEFAULT (16 * 1024 * 1024)

struct Sink {
    MongoSettings settings;       /* copied; strings borrowed from the configuration */
    DocOptions doc;
    mongoc_client_t *client;
    char *database;               /* owned */
    bson_t bulk_opts;             /* {ordered: false, writeConcern} */
    bson_t replace_opts;          /* {upsert: true[, validate: false]} */
    int32_t max_bson;             /* the server's maxBsonObjectSize */
    /* the table in use */
    const TableShape *shape;      /* borrowed */
    char *target;                 /* owned: the collection the writer was made for */
    mongoc_collection_t *collection;
    DocWriter writer;
    bool writer_ready;
    bool index_ready;             /* document_id = mongo: the unique index on the key exists */
    /* the segment */
    int64_t partition, sequence, generation; /* the segment being written (segment.h) */
    mongoc_bulk_operation_t *bulk;
    size_t bulk_bytes;
    int *bulk_rows;               /* owned: the batch row of each operation in the bulk */
    size_t bulk_ops, bulk_rows_cap;
    DurableFile rejects;          /* the segment's reject file, open from its first bad row (fd -1: none) */
    int64_t rejected;
};

static DocOptions doc_options(const MongoSettings *s)
{
    return (DocOptions){.document_id = s->document_id, .nulls = s->nulls,
                        .inexact_numeric = s->inexact_numeric, .timestamps = s->timestamps,
                        .field_names = s->field_names, .lone_surrogates = s->lone_surrogates,
                        .json_numbers = s->json_numbers};
}

static pthread_once_t mongo_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char *uri_secret; /* the URI's password as written, kept out of every message */

/* The password of "mongodb://user:password@host…" as written in the URI, or NULL. */
static char *uri_password(const char *uri)
{
    const char *p = strstr(uri, "://");
    if (p == NULL)
        return NULL;
    p += 3;
    const char *end = p + strcspn(p, "/?");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q; /* the last '@' before the path ends the user information */
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    return colon && at > colon + 1 ? xstrndup(colon + 1, (size_t)(at - colon - 1)) : NULL;
}

/* Copy `message` into out with the URI's password blanked. */
static void scrub(const char *message, char *out, size_t cap)
{
    snprintf(out, cap, "%s", message);
    pthread_mutex_lock(&secret_lock);
    size_t n = uri_secret ? strlen(uri_secret) : 0;
    for (char *hit; n > 0 && (hit = strstr(out, uri_secret)) != NULL;)
        memset(hit, '*', n);
    pthread_mutex_unlock(&secret_lock);
}

/* libmongoc's own warnings and errors go through ferry's log (and its format); the rest is dropped. */
static void mongo_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
    (void)data;
    if (level > MONGOC_LOG_LEVEL_WARNING)
        return;
    char clean[FERRY_ERROR_MAX];
    scrub(message, clean, sizeof clean);
    log_write(level == MONGOC_LOG_LEVEL_WARNING ? LOG_WARN : LOG_ERROR, "libmongoc (%s): %s", domain, clean);
}

/*
 * libmongoc maps its performance counters from /dev/shm/mongoc-<pid>, made
 * when the library loads and removed at a clean exit; a ferry that is
 * killed (a SIGKILL, an OOM kill) would leave it behind, and with PIDs
 * reused a later process would find its name taken. The name is removed as
 * soon as the program starts (the mapping lives on, nobody reads it by name):
 * nothing is left in /dev/shm however ferry ends.
 */
__attribute__((constructor)) static void mongo_forget_counters_file(void)
{
    char name[64];
    snprintf(name, sizeof name, "/mongoc-%u", (unsigned)getpid());
    shm_unlink(name);
}

static void mongo_init_once(void)
{
    mongoc_log_set_handler(mongo_log, NULL);
    mongoc_init();
}

/* ---- errors ---- */

/* Server error codes that a later attempt may not meet (MongoDB's error_codes.yml). */
static bool server_code_retryable(int64_t code)
{
    static const int64_t codes[] = {
        6,     /* HostUnreachable */
        7,     /* HostNotFound */
        11000, /* DuplicateKey: two upserts of one key racing */
        50,    /* MaxTimeMSExpired */
        63,    /* StaleShardVersion */
        64,    /* WriteConcernFailed */
        89,    /* NetworkTimeout */
        91,    /* ShutdownInProgress */
        112,   /* WriteConflict */
        150,   /* StaleEpoch */
        189,   /* PrimarySteppedDown */
        262,   /* ExceededTimeLimit */
        9001,  /* SocketException */
        10107, /* NotWritablePrimary */
        11600, /* InterruptedAtShutdown */
        11601, /* Interrupted */
        11602, /* InterruptedDueToReplStateChange */
        13435, /* NotPrimaryNoSecondaryOk */
        13436, /* NotPrimaryOrSecondary */
        10058, /* LegacyNotPrimary */
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i] == code)
            return true;
    return false;
}

static bool mongo_error(FerryError *err, const bson_error_t *error, const char *what)
{
    bool retryable = error->domain == MONGOC_ERROR_STREAM || error->domain == MONGOC_ERROR_SERVER_SELECTION ||
                     error->domain == MONGOC_ERROR_WRITE_CONCERN ||
                     (error->domain == MONGOC_ERROR_SERVER && server_code_retryable(error->code));
    char clean[FERRY_ERROR_MAX];
    scrub(error->message, clean, sizeof clean);
    ferry_error(err, FERRY_ERR_SINK, (int)error->code, "mongo sink: %s: %s", what, clean);
    if (err != NULL)
        err->retryable = retryable;
    return false;
}

/* ---- open and close ---- */

/*
 * A server beyond this machine reached without TLS (tls=true in the uri, or
 * mongodb+srv://, which implies it) is warned of, once a process: the
 * documents, and the password, travel readable.
 */
static void warn_without_tls(const mongoc_uri_t *uri)
{
    static atomic_bool warned;
    if (mongoc_uri_get_tls(uri))
        return;
    for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri); h != NULL; h = h->next) {
        bool local = h->family == AF_UNIX || host_is_loopback(h->host);
        if (!local && !atomic_exchange(&warned, true)) {
            log_warn("mongo sink: %s is reached without TLS: documents and credentials travel readable; add "
                     "tls=true to the uri (the server's certificate is then verified)",
                     h->host);
            return;
        }
    }
}

/*
 * The bulk, libmongoc's copy of the message being sent, and the document being
 * built. A document is as large as its row: a row wider than FERRY_SINK_BUFFER
 * costs its size once more here, outside the pool, while it is being built.
 */
static uint64_t mongo_memory(const void *settings)
{
    return 2 * ((const MongoSettings *)settings)->bulk_bytes + FERRY_SINK_BUFFER;
}

static bool set_write_concern(Sink *sink, FerryError *err)
{
    const MongoSettings *s = &sink->settings;
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    char *end;
    long w = strtol(s->write_concern, &end, 10);
    if (strcmp(s->write_concern, "majority") == 0) {
        mongoc_write_concern_set_wmajority(wc, s->write_timeout * 1000);
    } else if (*s->write_concern != '\0' && *end == '\0' && w >= 1 && w <= 50) {
        mongoc_write_concern_set_w(wc, (int32_t)w);
        mongoc_write_concern_set_wtimeout_int64(wc, (int64_t)s->write_timeout * 1000);
    } else {
        mongoc_write_concern_destroy(wc);
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "mongo sink: write_concern \"%s\" is neither a number of members (1..50) nor majority",
                           s->write_concern);
    }
    mongoc_write_concern_set_journal(wc, s->journal);
    BSON_APPEND_BOOL(&sink->bulk_opts, "ordered", false);
    mongoc_write_concern_append(wc, &sink->bulk_opts);
    mongoc_write_concern_destroy(wc);
    return true;
}

static void mongo_close(Sink *sink);

static bool mongo_open(const void *settings, Sink **out, FerryError *err)
{
    pthread_once(&mongo_once, mongo_init_once);
    Sink *sink = xcalloc(1, sizeof *sink);
    sink->rejects.fd = -1;
    sink->settings = *(const MongoSettings *)settings;
    sink->max_bson = MONGO_BSON_MAX_DEFAULT;
    const MongoSettings *s = &sink->settings;
    sink->doc = doc_options(s);
    bson_init(&sink->bulk_opts);
    bson_init(&sink->replace_opts);
    BSON_APPEND_BOOL(&sink->replace_opts, "upsert", true);
    /* libmongoc would check every key and every string of every document again (a sixth
     * of the sink's CPU): document.c already made the keys (field_names), PostgreSQL sends
     * UTF-8, and the server refuses what is left, as a bad row (note 4). */
    BSON_APPEND_BOOL(&sink->replace_opts, "validate", false);
    *out = sink;

    char *password = uri_password(sink->settings.uri);
    pthread_mutex_lock(&secret_lock);
    if (uri_secret == NULL)
        uri_secret = password, password = NULL;
    pthread_mutex_unlock(&secret_lock);
    free(password); /* every handle has the same settings: one secret to keep out */

    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(sink->settings.uri, &error);
    if (uri == NULL) {
        char clean[FERRY_ERROR_MAX];
        scrub(error.message, clean, sizeof clean);
        mongo_close(sink);
        *out = NULL;
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "mongo sink: the uri is not a MongoDB connection string (%s)",
                           clean);
    }
    const char *db = sink->settings.database ? sink->settings.database : mongoc_uri_get_database(uri);
    if (db == NULL || *db == '\0') {
        mongoc_uri_destroy(uri);
        mongo_close(sink);
        *out = NULL;
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "mongo sink: no database: set database = … in [sink] or name it in the uri");
    }
    sink->database = xstrdup(db);
    warn_without_tls(uri);
    sink->client = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    if (sink->client == NULL || !set_write_concern(sink, err)) {
        if (sink->client == NULL)
            ferry_error(err, FERRY_ERR_CONFIG, 0, "mongo sink: cannot make a client of the uri");
        mongo_close(sink);
        *out = NULL;
        return false;
    }
    mongoc_client_set_error_api(sink->client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(sink->client, "ferry");

    /* Reach a writable server now: a wrong address or password shows at once. */
    mongoc_server_description_t *sd = mongoc_client_select_server(sink->client, true, NULL, &error);
    if (sd == NULL) {
        mongo_error(err, &error, "cannot reach a writable server");
        mongo_close(sink);
        *out = NULL;
        return false;
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, mongoc_server_description_hello_response(sd), "maxBsonObjectSize") &&
        BSON_ITER_HOLDS_INT32(&it))
        sink->max_bson = bson_iter_int32(&it);
    mongoc_server_description_destroy(sd);
    /* Ask for something that needs the user's rights, so a wrong password fails here, not at the first bulk. */
    bson_t ping = BSON_INITIALIZER;
    BSON_APPEND_INT32(&ping, "ping", 1);
    bool pinged = mongoc_client_command_simple(sink->client, sink->database, &ping, NULL, NULL, &error);
    bson_destroy(&ping);
    if (!pinged) {
        mongo_error(err, &error, "ping");
        mongo_close(sink);
        *out = NULL;
        return false;
    }
    return true;
}

static void drop_bulk(Sink *sink)
{
    if (sink->bulk != NULL)
        mongoc_bulk_operation_destroy(sink->bulk);
    sink->bulk = NULL;
    sink->bulk_bytes = 0;
    sink->bulk_ops = 0;
}

static void forget_table(Sink *sink)
{
    if (sink->writer_ready)
        doc_writer_free(&sink->writer);
    sink->writer_ready = false;
    if (sink->collection != NULL)
        mongoc_collection_destroy(sink->collection);
    sink->collection = NULL;
    free(sink->target);
    sink->target = NULL;
    sink->shape = NULL;
    sink->index_ready = false;
}

static void mongo_abort(Sink *sink)
{
    drop_bulk(sink);
    file_durable_abort(&sink->rejects);
    sink->rejected = 0;
}

static void mongo_close(Sink *sink)
{
    if (sink == NULL)
        return;
    mongo_abort(sink);
    forget_table(sink);
    if (sink->client != NULL)
        mongoc_client_destroy(sink->client);
    bson_destroy(&sink->bulk_opts);
    bson_destroy(&sink->replace_opts);
    free(sink->bulk_rows);
    free(sink->database);
    free(sink);
}

/* ---- tables ---- */

/* document_id = mongo: a unique index on the key fields, so the upsert's selector finds one document. */
static bool ensure_key_index(Sink *sink, FerryError *err)
{
    const TableShape *shape = sink->shape;
    bson_t cmd = BSON_INITIALIZER, indexes, index, keys;
    BSON_APPEND_UTF8(&cmd, "createIndexes", sink->target);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &keys);
    StrBuf name = {0};
    strbuf_add(&name, "ferry_key");
    for (int k = 0; k < shape->nkeys; k++) {
        const char *field = sink->writer.names[shape->key_col[k]];
        BSON_APPEND_INT32(&keys, field, 1);
        strbuf_add(&name, "_%s", field);
    }
    bson_append_document_end(&index, &keys);
    BSON_APPEND_UTF8(&index, "name", name.text);
    BSON_APPEND_BOOL(&index, "unique", true);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(&cmd, &indexes);
    free(name.text);
    bson_error_t error;
    bool ok = mongoc_client_write_command_with_opts(sink->client, sink->database, &cmd, NULL, NULL, &error);
    bson_destroy(&cmd);
    return ok || mongo_error(err, &error, "cannot create the unique index on the key");
}

/* Whether a key column may be stored as a string (its key form, document.h). */
static bool key_may_be_string(const DocOptions *doc, const Column *col)
{
    if (doc_key_form_differs(doc, col))
        return true;
    switch (col->type) {
    case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID: case OID_FLOAT4: case OID_FLOAT8:
    case OID_BOOL: case OID_BYTEA: case OID_UUID: case OID_DATE:
        return false; /* numbers, binary, dates ("infinity" alone as a string) */
    case OID_NUMERIC:
        return doc->inexact_numeric == DOC_INEXACT_STRING;
    default:
        return true;
    }
}

/*
 * (6) A collection made with a default collation compares strings under it,
 * _id and the unique key index included: "a" and "A" (strength 2), or "é"
 * written two ways, would be one key. Such a collection is refused for a key
 * that holds strings, before anything is written to it.
 */
static bool check_collation(Sink *sink, const TableShape *shape, FerryError *err)
{
    bool strings = false;
    for (int k = 0; k < shape->nkeys; k++)
        strings |= key_may_be_string(&sink->doc, &shape->cols[shape->key_col[k]]);
    if (!strings)
        return true;
    mongoc_database_t *db = mongoc_client_get_database(sink->client, sink->database);
    bson_t opts = BSON_INITIALIZER, filter;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "name", shape->target);
    bson_append_document_end(&opts, &filter);
    mongoc_cursor_t *cursor = mongoc_database_find_collections_with_opts(db, &opts);
    const bson_t *info;
    char locale[64] = "";
    while (mongoc_cursor_next(cursor, &info)) {
        bson_iter_t it, found;
        if (bson_iter_init(&it, info) && bson_iter_find_descendant(&it, "options.collation.locale", &found) &&
            BSON_ITER_HOLDS_UTF8(&found))
            snprintf(locale, sizeof locale, "%s", bson_iter_utf8(&found, NULL));
    }
    bson_error_t error;
    bool ok = !mongoc_cursor_error(cursor, &error) || mongo_error(err, &error, "listing the collection");
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    mongoc_database_destroy(db);
    if (ok && locale[0] != '\0' && strcmp(locale, "simple") != 0)
        ok = ferry_error(err, FERRY_ERR_CONFIG, 0,
                         "mongo sink: collection %s has the default collation \"%s\", under which distinct "
                         "string keys of %s.%s can be one _id and their rows would overwrite each other: "
                         "write into a collection without a collation (target = …), or drop this one",
                         shape->target, locale, shape->schema, shape->name);
    return ok;
}

/* Point the handle at a table: its collection and a document writer for its shape. */
static bool use_table(Sink *sink, const TableShape *shape, FerryError *err)
{
    if (sink->writer_ready && sink->shape == shape && strcmp(sink->target, shape->target) == 0)
        return true;
    forget_table(sink);
    if (!check_collation(sink, shape, err) || !doc_writer_init(&sink->writer, &sink->doc, shape, err))
        return false;
    sink->writer_ready = true;
    sink->shape = shape;
    sink->target = xstrdup(shape->target);
    sink->collection = mongoc_client_get_collection(sink->client, sink->database, shape->target);
    return true;
}

/*
 * Plan time (note 6): every column must be a field of its own, and the key
 * is said when it is stored in a key form (document.h) rather than as its
 * field is.
 */
/* (8) The collection's owner, read from ferry_owners and written there when it has none. */
static bool mongo_claim(Sink *sink, const TableShape *shape, const SinkOwner *owner, FerryError *err)
{
    mongoc_collection_t *owners = mongoc_client_get_collection(sink->client, sink->database, "ferry_owners");
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", shape->target);
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(owners, &filter, &opts, NULL);
    const bson_t *doc;
    char *found = NULL;
    bson_iter_t it;
    if (mongoc_cursor_next(cursor, &doc))
        found = xstrdup(bson_iter_init_find(&it, doc, "marker") && BSON_ITER_HOLDS_UTF8(&it)
                            ? bson_iter_utf8(&it, NULL) : "");
    bson_error_t error;
    bool ok = !mongoc_cursor_error(cursor, &error) || mongo_error(err, &error, "reading ferry_owners");
    mongoc_cursor_destroy(cursor);
    StrBuf where = {0};
    strbuf_add(&where, "collection %s.%s (its owner in %s.ferry_owners)", sink->database, shape->target,
               sink->database);
    bool write = false;
    ok = ok && owner_check(found, owner, "mongo sink", where.text, &write, err);
    if (ok && write) {
        StrBuf marker = {0};
        owner_marker(owner, &marker);
        bson_t replacement = BSON_INITIALIZER, update_opts = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&replacement, "_id", shape->target);
        BSON_APPEND_UTF8(&replacement, "marker", marker.text);
        BSON_APPEND_BOOL(&update_opts, "upsert", true);
        if (bson_iter_init_find(&it, &sink->bulk_opts, "writeConcern"))
            bson_append_iter(&update_opts, NULL, 0, &it);
        ok = mongoc_collection_replace_one(owners, &filter, &replacement, &update_opts, NULL, &error) ||
             mongo_error(err, &error, "writing ferry_owners");
        bson_destroy(&replacement);
        bson_destroy(&update_opts);
        free(marker.text);
    }
    free(found);
    free(where.text);
    bson_destroy(&filter);
    bson_destroy(&opts);
    mongoc_collection_destroy(owners);
    return ok;
}

static bool mongo_check_table(const void *settings, const TableShape *shape, FerryError *err)
{
    DocOptions options = doc_options(settings);
    DocWriter writer;
    if (!doc_writer_init(&writer, &options, shape, err))
        return false;
    doc_writer_free(&writer);
    for (int k = 0; k < shape->nkeys; k++) {
        const Column *col = &shape->cols[shape->key_col[k]];
        if (doc_key_form_differs(&options, col))
            log_info("mongo sink: table %s: key column \"%s\" (%s) is stored in %s as %s, so that "
                     "distinct keys stay distinct",
                     shape->target, col->name, col->type_name,
                     options.document_id == DOC_ID_KEY ? "_id" : "its key field",
                     col->type == OID_TIMESTAMP || col->type == OID_TIMESTAMPTZ
                         ? "an ISO 8601 string with its microseconds (a BSON date keeps milliseconds)"
                         : "its PostgreSQL text");
    }
    return true;
}

/*
 * Whether a key range means the same keys here as in the source (note 7):
 * BSON orders integers, booleans and uuids (binary of one length) as
 * PostgreSQL does, and strings by bytes as a C collation does; floats and
 * numerics (NaN), dates and timestamps (infinity as strings), bytea (binary
 * by length first) and everything stored as text do not.
 */
static bool mongo_ranges_match(Sink *sink, const TableShape *shape)
{
    (void)sink;
    for (int k = 0; k < shape->nkeys; k++) {
        const Column *col = &shape->cols[shape->key_col[k]];
        bool same = col->elem_type == 0 &&
                    (col->type == OID_INT2 || col->type == OID_INT4 || col->type == OID_INT8 ||
                     col->type == OID_OID || col->type == OID_BOOL || col->type == OID_UUID ||
                     ((col->type == OID_TEXT || col->type == OID_VARCHAR || col->type == OID_NAME) &&
                      col->bytewise));
        if (!same)
            return false;
    }
    return true;
}

/* ---- segments ---- */

static bool mongo_begin(Sink *sink, const SinkSegment *segment, FerryError *err)
{
    mongo_abort(sink);
    if (!use_table(sink, segment->shape, err))
        return false;
    if (sink->doc.document_id == DOC_ID_MONGO && !sink->index_ready) {
        if (!ensure_key_index(sink, err))
            return false;
        sink->index_ready = true;
    }
    sink->partition = segment->partition;
    sink->sequence = segment->sequence;
    sink->generation = segment->generation;
    return true;
}

/*
 * The segment's reject file (note 4), opened at its first bad row: each line
 * goes to it as it comes, so a batch of bad rows costs no memory, and commit
 * makes it visible, complete, or abort removes it.
 */
static bool open_rejects(Sink *sink, FerryError *err)
{
    return segment_file_open(&sink->rejects, sink->settings.reject_dir, sink->target,
                             (SegmentId){sink->generation, sink->partition, sink->sequence}, "ndjson", "mongo sink",
                             err);
}

/* A bad row: fail (naming table, key and reason) or keep it for the reject file. */
static bool reject_row(Sink *sink, const RowBatch *batch, int row, const char *reason, FerryError *err)
{
    const TableShape *shape = sink->shape;
    if (sink->settings.on_reject == REJECT_FAIL) {
        char key[512];
        batch_describe_key(shape, batch, row, key, sizeof key);
        ferry_error(err, FERRY_ERR_SINK, 0, "mongo sink: table %s, key %s: %s (on_reject = skip sets such rows aside)",
                    shape->target, key, reason);
        return false;
    }
    bson_t line = BSON_INITIALIZER, key;
    BSON_APPEND_UTF8(&line, "table", shape->target);
    BSON_APPEND_INT64(&line, "partition", sink->partition);
    BSON_APPEND_INT64(&line, "segment", sink->sequence);
    BSON_APPEND_DOCUMENT_BEGIN(&line, "key", &key);
    for (int k = 0; k < shape->nkeys; k++) {
        int c = shape->key_col[k];
        size_t len = 0;
        const char *value = batch_value(batch, row, c, &len);
        if (value != NULL)
            bson_append_utf8(&key, shape->cols[c].name, -1, value, (int)len);
        else
            bson_append_null(&key, shape->cols[c].name, -1);
    }
    bson_append_document_end(&line, &key);
    BSON_APPEND_UTF8(&line, "reason", reason);
    size_t len;
    char *json = bson_as_relaxed_extended_json(&line, &len);
    bson_destroy(&line);
    bool ok = (sink->rejects.fd >= 0 || open_rejects(sink, err)) &&
              file_durable_write(&sink->rejects, json, len, "mongo sink", err) &&
              file_durable_write(&sink->rejects, "\n", 1, "mongo sink", err);
    bson_free(json);
    sink->rejected += ok;
    return ok;
}

/* Rows the server refused one by one (writeErrors): bad rows if no retry can help them. */
static bool bulk_write_errors(Sink *sink, const RowBatch *batch, const bson_t *reply, bool *all_rows_bad,
                              FerryError *err)
{
    bson_iter_t it, errors;
    *all_rows_bad = false;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &errors))
        return true;
    /* First pass: any error a retry may mend makes the bulk retryable as a whole. libmongoc
     * reports an empty writeErrors when the whole command failed: that is no bad row either. */
    bson_iter_t e = errors;
    int count = 0;
    while (bson_iter_next(&e)) {
        bson_iter_t f;
        count++;
        if (BSON_ITER_HOLDS_DOCUMENT(&e) && bson_iter_recurse(&e, &f) && bson_iter_find(&f, "code") &&
            server_code_retryable(bson_iter_as_int64(&f)))
            return true;
    }
    if (count == 0)
        return true;
    *all_rows_bad = true;
    while (bson_iter_next(&errors)) {
        bson_iter_t f;
        int64_t index = -1;
        const char *msg = "refused by the server";
        if (!BSON_ITER_HOLDS_DOCUMENT(&errors) || !bson_iter_recurse(&errors, &f))
            continue;
        while (bson_iter_next(&f)) {
            if (strcmp(bson_iter_key(&f), "index") == 0)
                index = bson_iter_as_int64(&f);
            else if (strcmp(bson_iter_key(&f), "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&f))
                msg = bson_iter_utf8(&f, NULL);
        }
        if (index < 0 || (size_t)index >= sink->bulk_ops)
            continue;
        char reason[FERRY_ERROR_MAX];
        snprintf(reason, sizeof reason, "the server refused the document: %s", msg);
        if (!reject_row(sink, batch, sink->bulk_rows[index], reason, err))
            return false;
    }
    return true;
}

/* Send the bulk gathered so far and wait for the write concern (note 3). */
static bool send_bulk(Sink *sink, const RowBatch *batch, FerryError *err)
{
    if (sink->bulk == NULL)
        return true;
    if (fault_hit(FAULT_SINK_MID_WRITE, sink->partition)) { /* earlier bulks of the segment went out */
        drop_bulk(sink);
        ferry_error(err, FERRY_ERR_SINK, 0, "mongo sink: injected fault: a bulk write failed half way");
        err->retryable = true;
        return false;
    }
    bson_t reply;
    bson_error_t error;
    uint32_t server = mongoc_bulk_operation_execute(sink->bulk, &reply, &error);
    bool ok = server != 0;
    if (!ok) {
        bool all_rows_bad = false;
        ok = bulk_write_errors(sink, batch, &reply, &all_rows_bad, err);
        /* Failed for good only if every error was a bad row, and the rest is durable. */
        if (ok && (!all_rows_bad || bson_has_field(&reply, "writeConcernErrors")))
            ok = mongo_error(err, &error, "bulk write");
    }
    bson_destroy(&reply);
    drop_bulk(sink);
    return ok;
}

static bool add_row(Sink *sink, const RowBatch *batch, int row, bson_t *doc, bson_t *selector,
                    FerryError *err)
{
    FerryError row_err;
    if (!doc_build(&sink->writer, batch, row, doc, selector, &row_err))
        return reject_row(sink, batch, row, row_err.message, err);
    if (doc->len > (uint32_t)sink->max_bson) {
        char reason[160];
        snprintf(reason, sizeof reason, "the document is %u bytes, over the server's limit of %d bytes",
                 doc->len, sink->max_bson);
        return reject_row(sink, batch, row, reason, err);
    }
    /* A document that would take the bulk past bulk_bytes goes into the next one. */
    if (sink->bulk != NULL && sink->bulk_bytes + doc->len + selector->len > sink->settings.bulk_bytes &&
        !send_bulk(sink, batch, err))
        return false;
    if (sink->bulk == NULL)
        sink->bulk = mongoc_collection_create_bulk_operation_with_opts(sink->collection, &sink->bulk_opts);
    bson_error_t error;
    /* deletes = soft: the row says its key is gone; removing a document already gone is no error. */
    bool queued = batch_row_deleted(sink->writer.shape, batch, row)
                      ? mongoc_bulk_operation_remove_one_with_opts(sink->bulk, selector, NULL, &error)
                      : mongoc_bulk_operation_replace_one_with_opts(sink->bulk, selector, doc, &sink->replace_opts,
                                                                    &error);
    if (!queued)
        return reject_row(sink, batch, row, error.message, err);
    if (sink->bulk_ops == sink->bulk_rows_cap) {
        sink->bulk_rows_cap = sink->bulk_rows_cap ? sink->bulk_rows_cap * 2 : 1024;
        sink->bulk_rows = xrealloc(sink->bulk_rows, sink->bulk_rows_cap * sizeof *sink->bulk_rows);
    }
    sink->bulk_rows[sink->bulk_ops++] = row;
    sink->bulk_bytes += doc->len + selector->len;
    return sink->bulk_bytes < sink->settings.bulk_bytes || send_bulk(sink, batch, err);
}

/* Bytes of a row's values as text. */
static size_t row_width(const RowBatch *batch, int row)
{
    size_t width = 0;
    for (int c = 0; c < batch->ncols; c++) {
        size_t len = 0;
        if (batch_value(batch, row, c, &len) != NULL)
            width += len;
    }
    return width;
}

static bool mongo_write(Sink *sink, const RowBatch *batch, FerryError *err)
{
    bson_t doc, selector;
    bson_init(&doc);
    bson_init(&selector);
    bool ok = true;
    for (int r = 0; ok && r < batch->nrows; r++) {
        bson_reinit(&selector);
        size_t width = row_width(batch, r);
        if (width <= FERRY_SINK_BUFFER) {
            bson_reinit(&doc);
            ok = add_row(sink, batch, r, &doc, &selector, err);
        } else { /* a wide row: a buffer of its size (not doubled by growth), not kept afterwards */
            bson_t *wide = bson_sized_new(width + (size_t)batch->ncols * 64 + 64);
            ok = add_row(sink, batch, r, wide, &selector, err);
            bson_destroy(wide);
        }
    }
    bson_destroy(&doc);
    bson_destroy(&selector);
    /* The bulk's operations point at this batch's rows (for messages): send it while they are here. */
    return ok && send_bulk(sink, batch, err);
}

/* The segment's reject file becomes visible, complete (note 4). */
static bool commit_rejects(Sink *sink, FerryError *err)
{
    if (sink->rejects.fd < 0)
        return true;
    if (!file_durable_commit(&sink->rejects, "mongo sink", err))
        return false;
    log_warn("mongo sink: %lld row(s) of %s set aside in %s", (long long)sink->rejected, sink->target,
             sink->rejects.path);
    return true;
}

static bool mongo_commit(Sink *sink, FerryError *err)
{
    if (fault_hit(FAULT_SINK_COMMIT, sink->partition)) {
        ferry_error(err, FERRY_ERR_SINK, 0, "mongo sink: injected fault: the commit failed");
        err->retryable = true;
        return false; /* the worker aborts: the reject file goes with the segment */
    }
    if (sink->bulk != NULL) /* write() sends every bulk it gathers */
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: mongo sink: a bulk left unsent at commit");
    return commit_rejects(sink, err);
}

static int64_t mongo_rejected(Sink *sink)
{
    return sink->rejected;
}

/* ---- verify: read the collection back ---- */

/* The key as stored, hashed: the BSON of {"": value} for each key field, so type and value count. */
static uint64_t hash_key_values(const bson_t *keys)
{
    return format_hash(FORMAT_HASH_SEED, bson_get_data(keys), keys->len);
}

/* Append each key value of one row from the source: keys->[k] as text, mapped as in a document. */
static bool key_values(Sink *sink, const char *const *values, const size_t *lengths, bson_t *out,
                       FerryError *err)
{
    const TableShape *shape = sink->shape;
    for (int k = 0; k < shape->nkeys; k++) {
        const Column *col = &shape->cols[shape->key_col[k]];
        if (!doc_append_key_value(&sink->writer, out, "", col, values[k], lengths[k], err))
            return false;
    }
    return true;
}

static uint64_t mongo_key_hash(Sink *sink, const TableShape *shape, const RowBatch *keys, int row)
{
    FerryError err;
    if (!use_table(sink, shape, &err))
        return 0;
    const char *values[FERRY_KEY_COLUMNS_MAX];
    size_t lengths[FERRY_KEY_COLUMNS_MAX];
    for (int k = 0; k < shape->nkeys; k++) {
        values[k] = batch_value(keys, row, k, &lengths[k]);
        if (values[k] == NULL)
            values[k] = "", lengths[k] = 0;
    }
    bson_t out = BSON_INITIALIZER;
    uint64_t hash = key_values(sink, values, lengths, &out, &err) ? hash_key_values(&out) : 0;
    bson_destroy(&out);
    return hash;
}

/* The path of key field k in a stored document. */
static void key_path(const Sink *sink, int k, char *out, size_t cap)
{
    const char *name = sink->writer.names[sink->shape->key_col[k]];
    if (sink->doc.document_id == DOC_ID_MONGO)
        snprintf(out, cap, "%s", name);
    else if (sink->shape->nkeys == 1)
        snprintf(out, cap, "_id");
    else
        snprintf(out, cap, "_id.%s", name);
}

/*
 * key > bound (strict) or key <= bound, compared as a tuple:
 * OR over i of (k0 = b0 AND … AND k(i-1) = b(i-1) AND ki op bi), where op is
 * strict for every column but the last, which takes `last_op`.
 */
static bool append_tuple_bound(Sink *sink, bson_t *and_list, uint32_t at, const char *bound,
                               const char *strict, const char *last_op, FerryError *err)
{
    const TableShape *shape = sink->shape;
    char *values[FERRY_KEY_COLUMNS_MAX];
    size_t lengths[FERRY_KEY_COLUMNS_MAX];
    if (!key_tuple_decode(bound, shape->nkeys, values))
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: a stored key range does not decode");
    for (int k = 0; k < shape->nkeys; k++)
        lengths[k] = strlen(values[k]);
    char index[16];
    const char *key;
    bson_uint32_to_string(at, &key, index, sizeof index);
    bson_t clause, or_list;
    bson_append_document_begin(and_list, key, -1, &clause);
    BSON_APPEND_ARRAY_BEGIN(&clause, "$or", &or_list);
    bool ok = true;
    for (int i = 0; ok && i < shape->nkeys; i++) {
        bson_t term, cmp;
        bson_uint32_to_string((uint32_t)i, &key, index, sizeof index);
        bson_append_document_begin(&or_list, key, -1, &term);
        char path[FERRY_NAME_MAX + 8];
        for (int j = 0; ok && j < i; j++) {
            key_path(sink, j, path, sizeof path);
            ok = doc_append_key_value(&sink->writer, &term, path, &shape->cols[shape->key_col[j]],
                                      values[j], lengths[j], err);
        }
        key_path(sink, i, path, sizeof path);
        bson_append_document_begin(&term, path, -1, &cmp);
        ok = ok && doc_append_key_value(&sink->writer, &cmp, i == shape->nkeys - 1 ? last_op : strict,
                                        &shape->cols[shape->key_col[i]], values[i], lengths[i], err);
        bson_append_document_end(&term, &cmp);
        bson_append_document_end(&or_list, &term);
    }
    bson_append_array_end(&clause, &or_list);
    bson_append_document_end(and_list, &clause);
    for (int k = 0; k < shape->nkeys; k++)
        free(values[k]);
    return ok;
}

/* The hash of a stored document's key (its fields at paths), as key_hash gives a source row's; false: it has none. */
static bool stored_key_hash(const TableShape *shape, const bson_t *doc, char paths[][FERRY_NAME_MAX + 8],
                            uint64_t *hash)
{
    bson_t keys = BSON_INITIALIZER;
    bool found = true;
    for (int k = 0; k < shape->nkeys; k++) {
        bson_iter_t it, value;
        found &= bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, paths[k], &value) &&
                 bson_append_iter(&keys, "", 0, &value);
    }
    *hash = found ? hash_key_values(&keys) : 0;
    bson_destroy(&keys);
    return found;
}

/* {$and: [{}, key > lo, key <= hi]}: the partition's documents (no bounds: every one). */
static bool range_filter(Sink *sink, const SinkPartition *part, bson_t *filter, FerryError *err)
{
    bson_t and_list;
    BSON_APPEND_ARRAY_BEGIN(filter, "$and", &and_list);
    BSON_APPEND_DOCUMENT(&and_list, "0", &(bson_t)BSON_INITIALIZER);
    bool ok = (part->lo == NULL || append_tuple_bound(sink, &and_list, 1, part->lo, "$gt", "$gt", err)) &&
              (part->hi == NULL || append_tuple_bound(sink, &and_list, 2, part->hi, "$lt", "$lte", err));
    bson_append_array_end(filter, &and_list);
    return ok;
}

static bool mongo_digest(Sink *sink, const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                         FerryError *err)
{
    memset(out, 0, sizeof *out);
    if (!use_table(sink, shape, err))
        return false;
    out->has_keys = true;
    bson_t filter = BSON_INITIALIZER, projection = BSON_INITIALIZER;
    bool ok = range_filter(sink, part, &filter, err);
    char paths[FERRY_KEY_COLUMNS_MAX][FERRY_NAME_MAX + 8];
    for (int k = 0; k < shape->nkeys; k++) {
        key_path(sink, k, paths[k], sizeof paths[k]);
        BSON_APPEND_INT32(&projection, paths[k], 1);
    }
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&opts, "projection", &projection);
    BSON_APPEND_INT32(&opts, "batchSize", 10000);
    mongoc_cursor_t *cursor =
        ok ? mongoc_collection_find_with_opts(sink->collection, &filter, &opts, NULL) : NULL;
    const bson_t *doc;
    while (cursor != NULL && mongoc_cursor_next(cursor, &doc)) {
        uint64_t hash;
        out->rows++;
        if (stored_key_hash(shape, doc, paths, &hash))
            out->key_sum += hash;
        else
            out->malformed = true;
    }
    bson_error_t error;
    if (cursor != NULL && mongoc_cursor_error(cursor, &error))
        ok = mongo_error(err, &error, "reading the collection back");
    if (cursor != NULL)
        mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&projection);
    bson_destroy(&filter);
    return ok;
}

/*
 * deletes = reconcile: the range's documents read back as digest reads
 * them, each whose key hash the source no longer has removed by its _id
 * (every document has one, whatever document_id), a bulk of PRUNE_BULK at
 * a time beside the open cursor.
 */
#define PRUNE_BULK 1000

static bool mongo_prune(Sink *sink, const TableShape *shape, const SinkPartition *part, const uint64_t *live,
                        size_t nlive, int64_t *removed, FerryError *err)
{
    *removed = 0;
    if (!use_table(sink, shape, err))
        return false;
    bson_t filter = BSON_INITIALIZER, projection = BSON_INITIALIZER;
    bool ok = range_filter(sink, part, &filter, err);
    char paths[FERRY_KEY_COLUMNS_MAX][FERRY_NAME_MAX + 8];
    BSON_APPEND_INT32(&projection, "_id", 1); /* the whole _id: a key inside it ("_id.a") would collide */
    for (int k = 0; k < shape->nkeys; k++) {
        key_path(sink, k, paths[k], sizeof paths[k]);
        if (strcmp(paths[k], "_id") != 0 && strncmp(paths[k], "_id.", 4) != 0)
            BSON_APPEND_INT32(&projection, paths[k], 1);
    }
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&opts, "projection", &projection);
    BSON_APPEND_INT32(&opts, "batchSize", 10000);
    mongoc_cursor_t *cursor = ok ? mongoc_collection_find_with_opts(sink->collection, &filter, &opts, NULL) : NULL;
    mongoc_bulk_operation_t *bulk = NULL;
    int queued = 0;
    bson_error_t error;
    const bson_t *doc;
    while (ok && cursor != NULL && mongoc_cursor_next(cursor, &doc)) {
        uint64_t hash;
        bool doomed = stored_key_hash(shape, doc, paths, &hash) && !sink_live_has(live, nlive, hash);
        bson_iter_t id;
        if (!doomed || !bson_iter_init_find(&id, doc, "_id"))
            continue; /* a live key, or a document without the key's fields: not ferry's to remove */
        bson_t selector = BSON_INITIALIZER;
        bson_append_iter(&selector, "_id", 3, &id);
        if (bulk == NULL)
            bulk = mongoc_collection_create_bulk_operation_with_opts(sink->collection, &sink->bulk_opts);
        ok = mongoc_bulk_operation_remove_one_with_opts(bulk, &selector, NULL, &error) ||
             mongo_error(err, &error, "removing a key the source no longer has");
        bson_destroy(&selector);
        if (ok && ++queued == PRUNE_BULK) {
            bson_t reply;
            ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0 || mongo_error(err, &error, "removing keys");
            bson_destroy(&reply);
            mongoc_bulk_operation_destroy(bulk);
            bulk = NULL;
            *removed += ok ? queued : 0;
            queued = 0;
        }
    }
    if (ok && cursor != NULL && mongoc_cursor_error(cursor, &error))
        ok = mongo_error(err, &error, "reading the collection back");
    if (ok && bulk != NULL) {
        bson_t reply;
        ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0 || mongo_error(err, &error, "removing keys");
        bson_destroy(&reply);
        *removed += ok ? queued : 0;
    }
    if (bulk != NULL)
        mongoc_bulk_operation_destroy(bulk);
    if (cursor != NULL)
        mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&projection);
    bson_destroy(&filter);
    return ok;
}

const SinkOps sink_mongo = {
    .name = "mongo",
    .flags = SINK_UPSERTS_BY_KEY,
    .options = mongo_options,
    .settings_size = sizeof(MongoSettings),
    .open = mongo_open,
    .memory = mongo_memory,
    /* A wide row becomes a document as large, libmongoc copies it into the bulk, and the
     * bulk's buffer may double while growing: three copies beside the row itself. */
    .wide_row_copies = 3,
    .check_table = mongo_check_table,
    .claim = mongo_claim,
    .prune = mongo_prune,
    .begin = mongo_begin,
    .write = mongo_write,
    .commit = mongo_commit,
    .abort = mongo_abort,
    .close = mongo_close,
    .rejected = mongo_rejected,
    .digest = mongo_digest,
    .key_hash = mongo_key_hash,
    .ranges_match = mongo_ranges_match,
};
