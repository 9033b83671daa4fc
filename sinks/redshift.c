/*
 * sinks/redshift.c — the Redshift sink: each segment staged in S3 as compressed CSV, COPYed in one transaction with its ledger row.
 *
 *   write(batch) ─► values checked (note 4) ─► CSV objects + manifest in S3 (the S3 store)
 *                ─► BEGIN; LOCK table, ledger; COPY … FROM 's3://…manifest' … MANIFEST
 *   commit       ─► [merge from the stage]; ledger row; COMMIT ─► staged objects removed
 *
 * Design notes
 *  (1) Exactly once as in the PostgreSQL sink (copyload.h): a segment's rows
 *      and its ledger row commit together, a worker asks the ledger before
 *      it reads a partition on, and a table whose plan began empty (or
 *      load = append) takes COPY straight into it; load = upsert into a
 *      table that held rows COPYs into a temporary stage and merges by key.
 *  (2) The transaction takes LOCK on the table and the ledger before it
 *      reads or writes either. Redshift runs transactions serializably and
 *      fails the later of two that touch the same tables in a cycle (error
 *      1023); waiting for the lock first is its documented cure. Loads into
 *      one cluster are serialised by its commit queue anyway. A 1023, a WLM
 *      abort or a cancel is retried here (the staged objects are still
 *      there) RS_LOAD_ATTEMPTS times, then handed to the run's retry policy.
 *  (3) Staging: one batch is split into objects of about equal rows, as many
 *      as the cluster has slices (or a multiple) when each is still at least
 *      RS_FILE_MIN compressed, fewer when not, and never one over
 *      RS_FILE_MAX (rs_file_count). Objects are named under the segment's
 *      folder, so a replay writes its own names again; they are removed
 *      after the commit, and a table's leftovers when it is planned and
 *      when it is complete.
 *  (4) Values Redshift would change rather than refuse are checked before
 *      they are staged: a NUMERIC with more digits than its column (COPY
 *      rounds), NaN, infinite dates and timestamps. Values Redshift
 *      refuses (a string longer than its column in bytes) come back in
 *      stl_load_errors: its file and line name the batch row. Either way a
 *      bad row fails the table naming the table, key, column and reason,
 *      or (on_reject = skip) goes to the segment's reject file; COPY then
 *      runs with MAXERROR and the rows it set aside are read back.
 *  (5) CSV: every value quoted, NULL an unquoted marker no value of the
 *      batch equals (rs_null_marker), so neither an empty string nor a
 *      string "NULL" can be taken for NULL, whichever way Redshift compares.
 *  (6) The type mapping (rs_type) is README's table: smallint, integer,
 *      bigint, real, double precision, boolean, date, time and timestamp
 *      types as they are; numeric(p,s) as it is up to p = 38, and beyond,
 *      or without a precision, numeric(38,s) (s 9 when the source has none);
 *      text and varchar as VARCHAR of 4 bytes a character (65535 at most),
 *      json, jsonb and arrays as SUPER (arrays as JSON arrays), bytea as
 *      VARBYTE(1024000), the rest as VARCHAR(65535) of PostgreSQL's text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/compress.h"
#include "ferry/copyload.h"
#include "ferry/fault.h"
#include "ferry/keytuple.h"
#include "ferry/objects.h"
#include "ferry/sink.h"
#include "ferry/sql.h"
#include "ferry/store.h"

#define WHO "redshift sink"
#define CSV_BUFFER (256u * 1024u)
#define RS_LOAD_ATTEMPTS 4
#define RS_FILE_MIN (1ull << 20)       /* AWS: 1 MB to 1 GB a file, after compression */
#define RS_FILE_MAX (1ull << 30)
#define RS_VARCHAR_MAX 65535
#define RS_NUMERIC_MAX 38
#define RS_NUMERIC_SCALE 9             /* numeric without a precision */
#define RS_MAXERROR 100000             /* Redshift's most for MAXERROR */
#define RS_FIRST_RATIO 4.0             /* raw bytes per compressed byte before one is measured */

typedef struct RedshiftSettings {
    char *conninfo;
    int connect_timeout;
    int read_timeout;
    char *ledger;
    int load;
    bool create_table;
    int on_reject;
    char *reject_dir;
    char *iam_role;
    int compression;
    int slices;
    char *distkey;
    char *sortkey;
    StoreSettings store;      /* the staging store: S3 (store_s3_options) */
} RedshiftSettings;

enum { LOAD_UPSERT = 0, LOAD_APPEND = 1 };
enum { REJECT_FAIL = 0, REJECT_SKIP = 1 };

static const char *const load_names[] = {"upsert", "append", NULL};
static const char *const reject_names[] = {"fail", "skip", NULL};
static const char *const staged_names[] = {"gzip", "zstd", NULL};

static const ConfigOption redshift_options[] = {
    CONFIG_OPTION(RedshiftSettings, conninfo, OPT_STRING, .required = true, .secret = true,
                  .help = "the cluster: libpq conninfo or URI (PG* variables apply); a secret"),
    CONFIG_OPTION(RedshiftSettings, connect_timeout, OPT_INT, .default_value = "10", .min = 1, .max = 3600,
                  .help = "seconds to wait for a connection"),
    CONFIG_OPTION(RedshiftSettings, read_timeout, OPT_INT, .default_value = "900", .min = 1, .max = 86400,
                  .help = "seconds without an answer from the cluster before the connection is dropped"),
    CONFIG_OPTION(RedshiftSettings, ledger, OPT_STRING, .default_value = "public.ferry_ledger", .setup = true,
                  .help = "the table in the cluster where ferry records each segment it loaded"),
    CONFIG_OPTION(RedshiftSettings, load, OPT_ENUM, .default_value = "upsert", .choices = load_names,
                  .setup = true,
                  .help = "upsert: rows replace the target's rows of their key; append: rows are added "
                          "(no key needed on the target)"),
    CONFIG_OPTION(RedshiftSettings, create_table, OPT_BOOL, .default_value = "false",
                  .help = "create a missing target table by README's type mapping"),
    CONFIG_OPTION(RedshiftSettings, on_reject, OPT_ENUM, .default_value = "fail", .choices = reject_names,
                  .help = "a row the cluster refuses: fail the table, or skip it into reject_dir"),
    CONFIG_OPTION(RedshiftSettings, reject_dir, OPT_STRING, .default_value = "rejects", .is_path = true, .writes = true,
                  .help = "where skipped rows are written, one file per segment"),
    CONFIG_OPTION(RedshiftSettings, iam_role, OPT_STRING, .required = true,
                  .help = "ARN of the IAM role the cluster reads the staged objects as (COPY … IAM_ROLE)"),
    CONFIG_OPTION(RedshiftSettings, compression, OPT_ENUM, .default_value = "gzip", .choices = staged_names,
                  .help = "how staged objects are compressed: gzip or zstd"),
    CONFIG_OPTION(RedshiftSettings, slices, OPT_INT, .default_value = "0", .min = 0, .max = 100000,
                  .help = "slices of the cluster, which staged objects are counted in; 0: ask the cluster"),
    CONFIG_OPTION(RedshiftSettings, distkey, OPT_STRING, .default_value = "key", .setup = true,
                  .help = "create_table: DISTKEY column; key: the first key column; auto: none (DISTSTYLE AUTO)"),
    CONFIG_OPTION(RedshiftSettings, sortkey, OPT_STRING, .default_value = "key", .setup = true,
                  .help = "create_table: SORTKEY columns, comma-separated; key: the key; auto: none"),
    CONFIG_GROUP(RedshiftSettings, store, store_s3_options),
    {0},
};

/* What a source column becomes in Redshift (note 6). */
typedef enum { RS_PLAIN, RS_NUMERIC, RS_TIME_POINT, RS_VARBYTE, RS_SUPER, RS_SUPER_ARRAY, RS_TEXT } RsKind;

typedef struct RsType {
    RsKind kind;
    int precision, scale;     /* RS_NUMERIC */
    char name[48];            /* as svv_columns spells it (the check) */
    char ddl[48];             /* as CREATE TABLE writes it */
} RsType;

/* One staged object of the write being loaded: where its rows are, for stl_load_errors' file and line. */
typedef struct Staged {
    char *url;                /* owned */
    int first, end;           /* batch rows [first, end), those in `skip` left out */
} Staged;

struct Sink {
    RedshiftSettings settings;    /* copied; strings borrowed from the configuration */
    PgSession pg;                 /* pg.pg NULL: not connected */
    CopyTable ledger;
    Store *store;                 /* owned: the staging store */
    int slices;
    double ratio;                 /* raw bytes per compressed byte, last measured */
    /* the table in use */
    const TableShape *shape;      /* borrowed */
    char *target;                 /* owned */
    CopyTable table;
    RsType *types;                /* owned: one per output column */
    int64_t generation;           /* the generation it was set up for (direct depends on it) */
    bool direct;                  /* (1) COPY straight into the table */
    char *columns;                /* owned: the quoted column list */
    /* the segment */
    SinkSegment segment;
    char folder[1024];            /* "<target>/g<gen>-p<part>-s<seq>/": its staged objects */
    bool in_transaction;
    int nmanifests;               /* staged manifests, one a write */
    char **manifests;             /* owned: their URLs */
    char **markers;               /* owned: each one's NULL marker */
    int64_t *loaded;              /* owned: the rows each one's COPY loaded */
    int64_t rows;
    char *last_key;
    DurableFile rejects;
    int64_t rejected;
    /* staging */
    Compressor comp;
    OutBuf out;
    uint64_t object_bytes;        /* compressed bytes of the object being written */
    char *scratch;                /* owned: a value turned into JSON */
    size_t scratch_len, scratch_cap;
    RowWriter json;               /* JSON of array values */
};

/* ---- the type mapping (note 6) ---- */

static int typmod_args(const char *type_name, int *a, int *b)
{
    const char *p = strchr(type_name, '(');
    if (p == NULL)
        return 0;
    return sscanf(p, "(%d,%d)", a, b);
}

static void rs_type(const Column *col, RsType *t)
{
    memset(t, 0, sizeof *t);
    const char *same = NULL;
    t->kind = RS_PLAIN;
    if (col->elem_type != 0) {
        t->kind = RS_SUPER_ARRAY;
        same = "super";
    } else {
        switch (col->type) {
        case OID_INT2: same = "smallint"; break;
        case OID_INT4: same = "integer"; break;
        case OID_INT8: same = "bigint"; break;
        case OID_FLOAT4: same = "real"; break;
        case OID_FLOAT8: same = "double precision"; break;
        case OID_BOOL: same = "boolean"; break;
        case OID_DATE: t->kind = RS_TIME_POINT; same = "date"; break;
        case OID_TIME: same = "time without time zone"; break;
        case 1266: same = "time with time zone"; break;
        case OID_TIMESTAMP: t->kind = RS_TIME_POINT; same = "timestamp without time zone"; break;
        case OID_TIMESTAMPTZ: t->kind = RS_TIME_POINT; same = "timestamp with time zone"; break;
        case OID_JSON: case OID_JSONB: t->kind = RS_SUPER; same = "super"; break;
        case OID_BYTEA:
            t->kind = RS_VARBYTE;
            snprintf(t->name, sizeof t->name, "binary varying");
            snprintf(t->ddl, sizeof t->ddl, "varbyte(1024000)");
            return;
        case OID_NUMERIC: {
            int p = 0, s = 0, n = typmod_args(col->type_name, &p, &s);
            if (n < 1) {
                p = RS_NUMERIC_MAX, s = RS_NUMERIC_SCALE;
            } else if (n == 1) {
                s = 0;
            }
            if (p > RS_NUMERIC_MAX) {
                p = RS_NUMERIC_MAX;
                s = s > RS_NUMERIC_MAX ? RS_NUMERIC_MAX : s;
            }
            t->kind = RS_NUMERIC;
            t->precision = p;
            t->scale = s;
            snprintf(t->name, sizeof t->name, "numeric(%d,%d)", p, s);
            snprintf(t->ddl, sizeof t->ddl, "%s", t->name);
            return;
        }
        case OID_TEXT: case OID_VARCHAR: case OID_BPCHAR: case OID_NAME: {
            int n = 0, unused = 0;
            long bytes = typmod_args(col->type_name, &n, &unused) >= 1 ? 4L * n : RS_VARCHAR_MAX;
            if (col->type == OID_NAME)
                bytes = 256;
            t->kind = RS_TEXT;
            snprintf(t->name, sizeof t->name, "character varying(%ld)",
                     bytes > RS_VARCHAR_MAX ? (long)RS_VARCHAR_MAX : bytes);
            snprintf(t->ddl, sizeof t->ddl, "%s", t->name);
            return;
        }
        default: /* uuid, interval, inet, enums…: PostgreSQL's text */
            t->kind = RS_TEXT;
            same = "character varying(65535)";
        }
    }
    snprintf(t->name, sizeof t->name, "%s", same);
    snprintf(t->ddl, sizeof t->ddl, "%s", same);
}

/*
 * (4) Whether a value fits its Redshift column as it is; why not into
 * why[cap]. Only what Redshift would change or cannot hold is looked at.
 */
static bool rs_value_fits(const RsType *t, const char *v, size_t len, char *why, size_t cap)
{
    if (t->kind == RS_TIME_POINT && (strcmp(v, "infinity") == 0 || strcmp(v, "-infinity") == 0)) {
        snprintf(why, cap, "%s: Redshift has no infinite dates or timestamps", v);
        return false;
    }
    if (t->kind != RS_NUMERIC)
        return true;
    if (strcmp(v, "NaN") == 0) {
        snprintf(why, cap, "NaN: Redshift's NUMERIC has none");
        return false;
    }
    const char *p = v, *end = v + len;
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    while (p < end && *p == '0')
        p++;
    const char *int_start = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    long int_digits = p - int_start, frac_digits = 0;
    if (p < end && *p == '.') {
        const char *frac = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        const char *last = p;
        while (last > frac && last[-1] == '0')
            last--;
        frac_digits = last - frac;
    }
    if (p != end) {
        snprintf(why, cap, "%.*s is no number Redshift reads", (int)(len > 40 ? 40 : len), v);
        return false;
    }
    if (int_digits > t->precision - t->scale || frac_digits > t->scale) {
        snprintf(why, cap, "%.*s%s does not fit %s (%ld digits before the point, %ld after; Redshift would round "
                 "or refuse it)", (int)(len > 48 ? 48 : len), v, len > 48 ? "…" : "", t->name, int_digits,
                 frac_digits);
        return false;
    }
    return true;
}

/* (3) Objects for `raw` bytes of CSV, compressing `ratio` to one, on a cluster of `slices`. */
int rs_file_count(uint64_t raw, double ratio, int slices)
{
    if (ratio < 1.0)
        ratio = 1.0;
    if (slices < 1)
        slices = 1;
    double compressed = (double)raw / ratio;
    long most = (long)(compressed / (double)RS_FILE_MIN);   /* each at least RS_FILE_MIN */
    long least = (long)(compressed / (double)RS_FILE_MAX) + 1; /* none over RS_FILE_MAX */
    long n = most >= slices ? most / slices * slices : most;
    if (n < least)
        n = least;
    if (n < 1)
        n = 1;
    return n > 10000 ? 10000 : (int)n;
}

/* (5) "@NULL@", or "@NULL@1", … : the first that no value of the batch equals. */
static void rs_null_marker(const RowBatch *batch, const bool *skip, int ncols, char *out, size_t cap)
{
    for (int n = 0;; n++) {
        if (n == 0)
            snprintf(out, cap, "@NULL@");
        else
            snprintf(out, cap, "@NULL@%d", n);
        size_t mlen = strlen(out);
        bool taken = false;
        for (int r = 0; r < batch->nrows && !taken; r++) {
            if (skip != NULL && skip[r])
                continue;
            for (int c = 0; c < ncols && !taken; c++) {
                size_t len = 0;
                const char *v = batch_value(batch, r, c, &len);
                taken = v != NULL && len == mlen && memcmp(v, out, mlen) == 0;
            }
        }
        if (!taken)
            return;
    }
}

/* ---- sessions ---- */

static const CopyDialect copy_dialect_redshift = {
    .text_type = "varchar(65535)",
    .timestamp_type = "timestamp",
    .now = "sysdate",
    .advisory_locks = false,
    .columns_sql =
        "SELECT column_name, CASE "
        "WHEN data_type IN ('character varying', 'character') AND character_maximum_length IS NOT NULL "
        "THEN data_type || '(' || character_maximum_length || ')' "
        "WHEN data_type = 'numeric' AND numeric_precision IS NOT NULL "
        "THEN 'numeric(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END, "
        "CASE WHEN is_nullable = 'NO' THEN 't' ELSE 'f' END, "
        "CASE WHEN column_default IS NULL THEN 'f' ELSE 't' END "
        "FROM svv_columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
};

static bool drain_staged(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sink *sink = ctx;
    sink->object_bytes += len;
    return store_s3.write(sink->store, data, len, err);
}

static bool drain_csv(void *ctx, const char *data, size_t len, FerryError *err)
{
    Sink *sink = ctx;
    if (fault_hit(FAULT_SINK_MID_WRITE, sink->segment.partition)) {
        ferry_error(err, FERRY_ERR_SINK, 0, "%s: injected fault: staging failed half way", WHO);
        err->retryable = true;
        return false;
    }
    return compress_write(&sink->comp, data, len, err);
}

/* Redshift has no client_min_messages to SET: its notices ("… already exists, skipping") are dropped here. */
static void drop_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

static void disconnect(Sink *sink)
{
    if (sink->pg.pg != NULL)
        pg_session_close(&sink->pg);
    sink->in_transaction = false;
}

static bool connected(Sink *sink, FerryError *err)
{
    if (sink->pg.pg != NULL && PQstatus(sink->pg.pg) == CONNECTION_OK)
        return true;
    disconnect(sink);
    const RedshiftSettings *s = &sink->settings;
    bool opened = pg_session_open(&sink->pg, s->conninfo, NULL, s->connect_timeout, s->read_timeout, FERRY_ERR_SINK,
                                  "cluster", err);
    if (opened)
        PQsetNoticeProcessor(sink->pg.pg, drop_notice, NULL);
    if (!opened ||
        !pg_command(&sink->pg, "SET DateStyle = 'ISO, MDY'; SET TimeZone = 'UTC'; SET extra_float_digits = 1",
                    err)) {
        ferry_error_prefix(err, WHO);
        disconnect(sink);
        return false;
    }
    if (sink->slices > 0)
        return true;
    PGresult *res = NULL;
    if (!pg_query(&sink->pg, "SELECT count(*) FROM stv_slices", 0, NULL, &res, err)) {
        ferry_error_prefix(err, "%s: counting the cluster's slices (set slices in [sink] to skip it)", WHO);
        disconnect(sink);
        return false;
    }
    sink->slices = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (sink->slices < 1)
        sink->slices = 1;
    return true;
}

static uint64_t redshift_memory(const void *settings)
{
    const RedshiftSettings *s = settings;
    return 2 * (uint64_t)CSV_BUFFER + compress_memory((Compression)(s->compression + 1), 1) +
           store_s3.memory(&s->store);
}

static void redshift_fit(void *settings, uint64_t budget)
{
    store_s3.fit(&((RedshiftSettings *)settings)->store, budget);
}

static void redshift_close(Sink *sink);

static bool redshift_open(const void *settings, Sink **out, FerryError *err)
{
    Sink *sink = xcalloc(1, sizeof *sink);
    sink->settings = *(const RedshiftSettings *)settings;
    sink->slices = sink->settings.slices;
    sink->ratio = RS_FIRST_RATIO;
    sink->rejects.fd = -1;
    compress_init(&sink->comp, (Compression)(sink->settings.compression + 1), 1, drain_staged, sink);
    outbuf_init(&sink->out, CSV_BUFFER, drain_csv, sink);
    *out = sink;
    if (copy_table_parse(sink->settings.ledger, "public", &sink->ledger, WHO, "ledger", err) &&
        store_s3.open(&sink->settings.store, WHO, &sink->store, err) && connected(sink, err) &&
        ledger_ensure(&sink->pg, &copy_dialect_redshift, &sink->ledger, WHO, err))
        return true;
    redshift_close(sink);
    *out = NULL;
    return false;
}

static void forget_table(Sink *sink)
{
    if (sink->shape != NULL)
        row_writer_free(&sink->json);
    sink->shape = NULL;
    free(sink->target);
    sink->target = NULL;
    copy_table_free(&sink->table);
    free(sink->types);
    sink->types = NULL;
    free(sink->columns);
    sink->columns = NULL;
}

static bool any_key(const char *key, const void *arg)
{
    (void)key, (void)arg;
    return true;
}

/* Take staged objects away: a segment's (after its commit, or its abort), or a table's. */
static bool remove_staged(Sink *sink, const char *prefix, FerryError *err)
{
    int removed = 0;
    return store_s3.remove_all(sink->store, prefix, any_key, NULL, &removed, err);
}

static void end_segment(Sink *sink)
{
    for (int m = 0; m < sink->nmanifests; m++) {
        free(sink->manifests[m]);
        free(sink->markers[m]);
    }
    free(sink->manifests);
    free(sink->markers);
    free(sink->loaded);
    sink->manifests = sink->markers = NULL;
    sink->loaded = NULL;
    sink->nmanifests = 0;
    free(sink->last_key);
    sink->last_key = NULL;
    sink->rows = 0;
    sink->rejected = 0;
    file_durable_abort(&sink->rejects);
}

static void rollback(Sink *sink)
{
    if (sink->in_transaction && sink->pg.pg != NULL &&
        (PQtransactionStatus(sink->pg.pg) == PQTRANS_ACTIVE || !pg_command(&sink->pg, "ROLLBACK", NULL)))
        disconnect(sink);
    sink->in_transaction = false;
}

static void redshift_abort(Sink *sink)
{
    rollback(sink);
    if (sink->nmanifests > 0 && sink->store != NULL) {
        FerryError ignored;
        remove_staged(sink, sink->folder, &ignored); /* what is left, the next plan or finish takes */
    }
    end_segment(sink);
}

static void redshift_close(Sink *sink)
{
    if (sink == NULL)
        return;
    redshift_abort(sink);
    forget_table(sink);
    disconnect(sink);
    if (sink->store != NULL)
        store_s3.close(sink->store);
    copy_table_free(&sink->ledger);
    compress_free(&sink->comp);
    outbuf_free(&sink->out);
    free(sink->scratch);
    free(sink);
}

/* ---- tables ---- */

static bool redshift_check_table(const void *settings, const TableShape *shape, FerryError *err)
{
    const RedshiftSettings *s = settings;
    CopyTable table;
    char what[FERRY_NAME_MAX + 32];
    snprintf(what, sizeof what, "the target of table %s.%s", shape->schema, shape->name);
    if (!copy_table_parse(shape->target, "public", &table, WHO, what, err))
        return false;
    copy_table_free(&table);
    /* Staged objects are named after the target, and their URLs go into SQL literals (rs_literal). */
    if (strchr(shape->target, '\\') != NULL || strchr(s->iam_role, '\\') != NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s: table %s.%s: a backslash in the target's name or in iam_role cannot be written "
                           "in Redshift's COPY", WHO, shape->schema, shape->name);
    for (int k = 0; k < shape->nkeys; k++) {
        const Column *col = &shape->cols[shape->key_col[k]];
        RsType t;
        rs_type(col, &t);
        if (s->load == LOAD_UPSERT && shape->key_col[k] >= shape->nout)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s: table %s.%s: load = upsert replaces rows by their key, but key column %s is "
                               "not among the columns copied: add it to columns, or set load = append",
                               WHO, shape->schema, shape->name, col->name);
        if (t.kind == RS_SUPER || t.kind == RS_SUPER_ARRAY)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s: table %s.%s: key column %s would be SUPER in Redshift, which cannot be "
                               "compared as a key: choose another key",
                               WHO, shape->schema, shape->name, col->name);
        /* Redshift compares strings without their trailing blanks: 'a' and 'a ' would be one key. */
        if (s->load == LOAD_UPSERT && t.kind == RS_TEXT && col->type != OID_UUID)
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s: table %s.%s: key column %s is a string, and Redshift compares strings "
                               "ignoring trailing blanks, so keys 'a' and 'a ' would replace each other under "
                               "load = upsert: set load = append (exactly once by the ledger, with no key)",
                               WHO, shape->schema, shape->name, col->name);
    }
    return true;
}

/* DISTKEY (…) SORTKEY (…) for create_table, from the settings; "" for auto. */
static void table_keys(const Sink *sink, const TableShape *shape, StrBuf *sql)
{
    const RedshiftSettings *s = &sink->settings;
    char *keys = sql_key_list(shape);
    if (strcmp(s->distkey, "key") == 0 && shape->nkeys > 0) {
        char *q = sql_quote_ident(shape->cols[shape->key_col[0]].name);
        strbuf_add(sql, " DISTKEY (%s)", q);
        free(q);
    } else if (strcmp(s->distkey, "auto") != 0 && strcmp(s->distkey, "key") != 0) {
        char *q = sql_quote_ident(s->distkey);
        strbuf_add(sql, " DISTKEY (%s)", q);
        free(q);
    }
    if (strcmp(s->sortkey, "key") == 0 && shape->nkeys > 0) {
        strbuf_add(sql, " SORTKEY (%s)", keys);
    } else if (strcmp(s->sortkey, "auto") != 0 && strcmp(s->sortkey, "key") != 0) {
        strbuf_add(sql, " SORTKEY (");
        const char *p = s->sortkey;
        for (int i = 0; *p; i++) {
            size_t n = strcspn(p, ",");
            char name[FERRY_NAME_MAX];
            snprintf(name, sizeof name, "%.*s", (int)n, p);
            char *trimmed = name;
            while (*trimmed == ' ')
                trimmed++;
            for (size_t e = strlen(trimmed); e > 0 && trimmed[e - 1] == ' ';)
                trimmed[--e] = '\0';
            char *q = sql_quote_ident(trimmed);
            strbuf_add(sql, "%s%s", i ? ", " : "", q);
            free(q);
            p += n + (p[n] == ',');
        }
        strbuf_add(sql, ")");
    }
    free(keys);
}

/* The CREATE TABLE of a missing target (create_table = true): README's mapping, keys NOT NULL. */
char *rs_create_sql(const Sink *sink, const CopyTable *table, const TableShape *shape, const RsType *types)
{
    const char **ddl = xcalloc((size_t)shape->nout + 1, sizeof *ddl);
    for (int c = 0; c < shape->nout; c++)
        ddl[c] = types[c].ddl;
    StrBuf sql = {0};
    char *create = copy_create_sql(table, shape, ddl, shape->key_enforced);
    strbuf_add(&sql, "%s", create);
    free(create);
    free(ddl);
    table_keys(sink, shape, &sql);
    return sql.text;
}

static bool ensure_table(Sink *sink, const TableShape *shape, FerryError *err)
{
    const char **names = xcalloc((size_t)shape->nout + 1, sizeof *names);
    for (int c = 0; c < shape->nout; c++)
        names[c] = sink->types[c].name;
    bool missing = false;
    bool ok = copy_check_columns(&sink->pg, &copy_dialect_redshift, &sink->table, shape, names, &missing, WHO, err);
    if (ok && missing && !sink->settings.create_table) {
        ok = ferry_error(err, FERRY_ERR_CONFIG, 0,
                         "%s: target table %s.%s does not exist: create it, or set create_table = true in [sink]",
                         WHO, sink->table.schema, sink->table.name);
    } else if (ok && missing) {
        char *create = rs_create_sql(sink, &sink->table, shape, sink->types);
        ok = pg_command(&sink->pg, create, err);
        free(create);
        if (!ok)
            ferry_error_prefix(err, "%s: cannot create target table %s.%s", WHO, sink->table.schema,
                               sink->table.name);
        else
            log_info("%s: created table %s.%s", WHO, sink->table.schema, sink->table.name);
        ok = ok && copy_check_columns(&sink->pg, &copy_dialect_redshift, &sink->table, shape, names, &missing,
                                      WHO, err);
    }
    free(names);
    return ok;
}

static bool use_table(Sink *sink, const TableShape *shape, int64_t generation, FerryError *err)
{
    if (sink->shape == shape && sink->target != NULL && strcmp(sink->target, shape->target) == 0 &&
        sink->generation == generation)
        return true;
    forget_table(sink);
    if (!connected(sink, err) || !copy_table_parse(shape->target, "public", &sink->table, WHO, "target", err))
        return false;
    sink->types = xcalloc((size_t)shape->nout + 1, sizeof *sink->types);
    for (int c = 0; c < shape->nout; c++)
        rs_type(&shape->cols[c], &sink->types[c]);
    bool found, started_empty;
    if (!ensure_table(sink, shape, err) ||
        !ledger_plan_find(&sink->pg, &sink->ledger, shape->target, &found, &started_empty, WHO, err)) {
        forget_table(sink);
        return false;
    }
    /* An incremental run's rows (a later generation) are in the table already: they are merged. */
    sink->direct = sink->settings.load == LOAD_APPEND || (found && started_empty && generation == 0);
    sink->generation = generation;
    sink->columns = sql_column_list(shape, shape->nout);
    sink->target = xstrdup(shape->target);
    row_writer_init(&sink->json, FORMAT_NDJSON, false, false, shape);
    sink->shape = shape;
    return true;
}

/* BEGIN, and the lock on the table and the ledger before anything else (note 2). */
static bool begin_locked(Sink *sink, FerryError *err)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "BEGIN; LOCK %s, %s", sink->table.sql, sink->ledger.sql);
    bool ok = pg_command(&sink->pg, sql.text, err);
    free(sql.text);
    sink->in_transaction = ok || (sink->pg.pg != NULL && PQtransactionStatus(sink->pg.pg) != PQTRANS_IDLE);
    return ok;
}

static bool redshift_prepare_table(Sink *sink, const TableShape *shape, FerryError *err)
{
    if (!use_table(sink, shape, 0, err))
        return false;
    bool found, started_empty, empty;
    bool ok = begin_locked(sink, err) &&
              ledger_plan_find(&sink->pg, &sink->ledger, shape->target, &found, &started_empty, WHO, err) &&
              copy_table_empty(&sink->pg, &sink->table, &empty, WHO, err);
    if (ok && found && !empty && started_empty) {
        /* TRUNCATE would commit on Redshift; DELETE stays in the transaction. */
        StrBuf del = {0};
        strbuf_add(&del, "DELETE FROM %s", sink->table.sql);
        ok = pg_command(&sink->pg, del.text, err);
        free(del.text);
        empty = true;
        if (ok)
            log_info("%s: table %s emptied of the earlier plan's rows (it was empty before that plan)", WHO,
                     sink->table.sql);
    } else if (ok && found && !empty && sink->settings.load == LOAD_APPEND) {
        ok = ferry_error(err, FERRY_ERR_CONFIG, 0,
                         "%s: table %s is planned again, and with load = append its earlier load would be "
                         "doubled; it held other rows before that load, which ferry cannot tell from its own: "
                         "empty the target table, or set load = upsert",
                         WHO, sink->table.sql);
    }
    ok = ok && ledger_plan_start(&sink->pg, &sink->ledger, shape->target, empty, WHO, err) &&
         pg_command(&sink->pg, "COMMIT", err);
    sink->in_transaction = false;
    if (!ok) {
        pg_command(&sink->pg, "ROLLBACK", NULL);
        ferry_error_prefix(err, WHO);
    }
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/", shape->target);
    ok = ok && remove_staged(sink, prefix, err); /* an earlier plan's leftovers */
    forget_table(sink);
    return ok;
}

static bool redshift_finish_table(Sink *sink, const TableShape *shape, int64_t generation, int64_t base,
                                  FerryError *err)
{
    (void)generation; /* every generation's leftovers are the table's; the table holds one row a key */
    (void)base;
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/", shape->target);
    return remove_staged(sink, prefix, err); /* what a crash after a commit left */
}

/* ---- segments ---- */

static bool redshift_claim(Sink *sink, const TableShape *shape, const SinkOwner *owner, FerryError *err)
{
    return connected(sink, err) && ledger_claim(&sink->pg, &sink->ledger, shape->target, owner, WHO, err);
}

static bool redshift_recorded(Sink *sink, const SinkSegment *segment, SinkRecord *out, bool *found,
                              FerryError *err)
{
    return connected(sink, err) &&
           ledger_find(&sink->pg, &sink->ledger, segment->shape->target, segment, out, found, WHO, err);
}

static bool redshift_begin(Sink *sink, const SinkSegment *segment, FerryError *err)
{
    end_segment(sink);
    sink->segment = *segment;
    SinkRecord record;
    bool found = false;
    if (!use_table(sink, segment->shape, segment->generation, err) ||
        !ledger_find(&sink->pg, &sink->ledger, sink->target, segment, &record, &found, WHO, err))
        return false;
    free(record.last_key);
    if (found)
        return ferry_error(err, FERRY_ERR_BUG, 0,
                           "BUG: %s: segment %lld of partition %lld of %s is in the ledger already", WHO,
                           (long long)segment->sequence, (long long)segment->partition, sink->target);
    snprintf(sink->folder, sizeof sink->folder, "%s/g%lld-p%06lld-s%08lld/", sink->target,
             (long long)segment->generation, (long long)segment->partition, (long long)segment->sequence);
    return true;
}

/* The scratch buffer as an OutBuf drain: a value's JSON, whole. */
static bool drain_scratch(void *ctx, const char *data, size_t len, FerryError *err)
{
    (void)err;
    Sink *sink = ctx;
    if (sink->scratch_len + len > sink->scratch_cap) {
        sink->scratch_cap = (sink->scratch_len + len) * 2;
        sink->scratch = xrealloc(sink->scratch, sink->scratch_cap);
    }
    memcpy(sink->scratch + sink->scratch_len, data, len);
    sink->scratch_len += len;
    return true;
}

/* A value as CSV: quoted, quotes doubled; VARBYTE hex without "\x", arrays as JSON. */
static void csv_value(Sink *sink, const Column *col, const RsType *t, const char *v, size_t len)
{
    OutBuf *out = &sink->out;
    if (t->kind == RS_VARBYTE && len >= 2 && v[0] == '\\' && v[1] == 'x') {
        v += 2, len -= 2;
    } else if (t->kind == RS_SUPER_ARRAY) {
        sink->scratch_len = 0;
        OutBuf json;
        outbuf_init(&json, 4096, drain_scratch, sink);
        format_json_value(&sink->json, &json, col->type, col->elem_type, col->elem_delim, v, len);
        outbuf_flush(&json);
        outbuf_free(&json);
        v = sink->scratch, len = sink->scratch_len;
    }
    outbuf_putc(out, '"');
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '"')
            continue;
        outbuf_write(out, v + start, i + 1 - start);
        outbuf_putc(out, '"');
        start = i + 1;
    }
    outbuf_write(out, v + start, len - start);
    outbuf_putc(out, '"');
}

/* One staged object: rows [first, end) of the batch not in skip, as compressed CSV. */
static bool stage_object(Sink *sink, const RowBatch *batch, const bool *skip, int first, int end,
                         const char *marker, const char *key, FerryError *err)
{
    const TableShape *shape = sink->shape;
    size_t mlen = strlen(marker);
    sink->object_bytes = 0;
    sink->out.len = 0;
    sink->out.failed = false;
    if (!store_s3.begin(sink->store, key, sink->segment.partition, err))
        return false;
    bool ok = compress_begin(&sink->comp, err);
    for (int r = first; ok && r < end && !sink->out.failed; r++) {
        if (skip != NULL && skip[r])
            continue;
        for (int c = 0; c < shape->nout; c++) {
            if (c > 0)
                outbuf_putc(&sink->out, ',');
            size_t len = 0;
            const char *v = batch_value(batch, r, c, &len);
            if (v == NULL)
                outbuf_write(&sink->out, marker, mlen);
            else
                csv_value(sink, &shape->cols[c], &sink->types[c], v, len);
        }
        outbuf_putc(&sink->out, '\n');
    }
    ok = ok && outbuf_flush(&sink->out) && !sink->out.failed;
    if (!ok && sink->out.failed)
        *err = sink->out.error;
    ok = ok && compress_finish(&sink->comp, err) && store_s3.commit(sink->store, err);
    if (!ok) {
        compress_abandon(&sink->comp);
        store_s3.abort(sink->store);
    }
    return ok;
}

/* Write a small object whole (the manifest). */
static bool put_object(Sink *sink, const char *key, const char *text, FerryError *err)
{
    if (!store_s3.begin(sink->store, key, sink->segment.partition, err))
        return false;
    if (store_s3.write(sink->store, text, strlen(text), err) && store_s3.commit(sink->store, err))
        return true;
    store_s3.abort(sink->store);
    return false;
}

/*
 * 'text' with its quotes doubled. Redshift reads a backslash in a literal as
 * an escape and PostgreSQL (standard_conforming_strings) does not, so no
 * value sent this way may hold one: URLs, the role's ARN, the NULL marker.
 */
static char *rs_literal(const char *value)
{
    StrBuf out = {0};
    strbuf_add(&out, "'");
    for (const char *p = value; *p; p++) {
        if (*p == '\'')
            strbuf_add(&out, "''");
        else
            strbuf_add(&out, "%c", *p);
    }
    strbuf_add(&out, "'");
    return out.text;
}

/* The COPY of manifest m into the table or the stage (note 1), as README pins it. */
char *rs_copy_sql(const char *into, const char *columns, const char *manifest, const char *iam_role,
                  const char *marker, int compression, bool skip)
{
    char *url = rs_literal(manifest), *role = rs_literal(iam_role), *null = rs_literal(marker);
    StrBuf sql = {0};
    strbuf_add(&sql,
               "COPY %s (%s) FROM %s IAM_ROLE %s FORMAT AS CSV NULL AS %s %s MANIFEST "
               "DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF MAXERROR %d",
               into, columns, url, role, null, compression == COMPRESS_ZSTD ? "ZSTD" : "GZIP",
               skip ? RS_MAXERROR : 0);
    free(url);
    free(role);
    free(null);
    return sql.text;
}

/* ---- bad rows (note 4) ---- */

/* The batch row of a staged object's line (from 1), counting the lines values span. */
static int row_of_line(const Sink *sink, const RowBatch *batch, const bool *skip, const Staged *o, long line)
{
    long at = 1;
    for (int r = o->first; r < o->end; r++) {
        if (skip != NULL && skip[r])
            continue;
        long lines = 1;
        for (int c = 0; c < sink->shape->nout; c++) {
            size_t len = 0;
            const char *v = batch_value(batch, r, c, &len);
            if (v != NULL && sink->types[c].kind != RS_SUPER_ARRAY)
                for (size_t i = 0; i < len; i++)
                    lines += v[i] == '\n';
        }
        if (line >= at && line < at + lines)
            return r;
        at += lines;
    }
    return -1;
}

/* One row of stl_load_errors: the batch row it names, and what it says. */
static int load_error_row(const Sink *sink, const RowBatch *batch, const bool *skip, const Staged *objects,
                          int nobjects, PGresult *res, int i, char *why, size_t cap)
{
    const char *file = PQgetvalue(res, i, 0);
    long line = strtol(PQgetvalue(res, i, 1), NULL, 10);
    snprintf(why, cap, "column %s: %s (Redshift load error %s)", PQgetvalue(res, i, 2), PQgetvalue(res, i, 4),
             PQgetvalue(res, i, 3));
    for (int o = 0; o < nobjects; o++)
        if (strcmp(objects[o].url, file) == 0)
            return row_of_line(sink, batch, skip, &objects[o], line);
    return -1;
}

static const char LOAD_ERRORS_SQL[] =
    "SELECT trim(filename), line_number, trim(colname), err_code, trim(err_reason) FROM stl_load_errors ";

/* A bad row as the table's failure, naming the table, key, column and reason. */
static bool bad_row(Sink *sink, const RowBatch *batch, int row, const char *why, FerryError *err)
{
    char key[512];
    batch_describe_key(sink->shape, batch, row, key, sizeof key);
    return ferry_error(err, FERRY_ERR_SINK, 0, "%s: table %s, key %s: %s (on_reject = skip sets such rows aside)",
                       WHO, sink->target, key, why);
}

/* A COPY that failed over a row (MAXERROR 0): read the cluster's reason back and name the row. */
static bool copy_refused(Sink *sink, const RowBatch *batch, const bool *skip, const Staged *objects,
                         int nobjects, FerryError *err)
{
    FerryError why = *err;
    rollback(sink);
    StrBuf sql = {0};
    char *like = NULL;
    StrBuf url = {0};
    store_s3.url(sink->store, sink->folder, &url);
    strbuf_add(&url, "%%");
    like = rs_literal(url.text);
    strbuf_add(&sql, "%s WHERE session = pg_backend_pid() AND trim(filename) LIKE %s ORDER BY query DESC LIMIT 1",
               LOAD_ERRORS_SQL, like);
    PGresult *res = NULL;
    FerryError lookup;
    bool read = connected(sink, &lookup) && pg_query(&sink->pg, sql.text, 0, NULL, &res, &lookup);
    free(sql.text);
    free(url.text);
    free(like);
    char reason[FERRY_ERROR_MAX];
    int row = read && PQntuples(res) == 1
                  ? load_error_row(sink, batch, skip, objects, nobjects, res, 0, reason, sizeof reason)
                  : -1;
    PQclear(res);
    if (row < 0) {
        *err = why;
        ferry_error_prefix(err, "%s: table %s: COPY", WHO, sink->target);
        return false;
    }
    return bad_row(sink, batch, row, reason, err);
}

/* on_reject = skip: the rows the COPY set aside, read back from stl_load_errors and rejected. */
static bool copy_skipped(Sink *sink, const RowBatch *batch, const bool *skip, const Staged *objects, int nobjects,
                         int64_t missing, FerryError *err)
{
    StrBuf sql = {0};
    strbuf_add(&sql, "%s WHERE query = pg_last_copy_id() ORDER BY filename, line_number", LOAD_ERRORS_SQL);
    PGresult *res = NULL;
    bool ok = pg_query(&sink->pg, sql.text, 0, NULL, &res, err);
    free(sql.text);
    if (!ok) {
        ferry_error_prefix(err, "%s: reading stl_load_errors", WHO);
        return false;
    }
    int n = PQntuples(res);
    for (int i = 0; ok && i < n; i++) {
        char why[FERRY_ERROR_MAX];
        int row = load_error_row(sink, batch, skip, objects, nobjects, res, i, why, sizeof why);
        if (row < 0)
            ok = ferry_error(err, FERRY_ERR_SINK, 0, "%s: table %s: stl_load_errors names %s line %s, which ferry "
                             "did not stage", WHO, sink->target, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        else
            ok = copy_reject_row(&sink->rejects, sink->settings.reject_dir, sink->target, &sink->segment,
                                 sink->shape, batch, row, why, WHO, err);
    }
    PQclear(res);
    if (ok && n != missing)
        ok = ferry_error(err, FERRY_ERR_SINK, 0,
                         "%s: table %s: COPY left out %lld row(s) and stl_load_errors names %d: nothing is committed",
                         WHO, sink->target, (long long)missing, n);
    if (ok)
        sink->rejected += n;
    return ok;
}

/* ---- loading ---- */

static const char *stage_name(const Sink *sink)
{
    return sink->direct ? sink->table.sql : "ferry_stage";
}

/* COPY manifest m, and how many rows it loaded; the last COPY's id stays for stl_load_errors. */
static bool copy_manifest(Sink *sink, int m, int64_t *loaded, FerryError *err)
{
    char *sql = rs_copy_sql(stage_name(sink), sink->columns, sink->manifests[m], sink->settings.iam_role,
                            sink->markers[m], sink->settings.compression + 1,
                            sink->settings.on_reject == REJECT_SKIP);
    PGresult *copied = pg_exec(&sink->pg, sql, 0, NULL, err);
    free(sql);
    bool ok = copied != NULL && PQresultStatus(copied) == PGRES_COMMAND_OK;
    if (copied != NULL && !ok) {
        char what[1200];
        snprintf(what, sizeof what, "COPY from %s", sink->manifests[m]);
        pg_session_error(&sink->pg, copied, what, err);
    }
    PQclear(copied);
    PGresult *res = NULL;
    ok = ok && pg_query(&sink->pg, "SELECT pg_last_copy_count()", 0, NULL, &res, err);
    if (ok)
        *loaded = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return ok;
}

/* The segment's transaction up to its merge: BEGIN, LOCK, the stage, and the COPY of manifests [0, upto). */
static bool open_load(Sink *sink, int upto, FerryError *err)
{
    if (!connected(sink, err) || !begin_locked(sink, err))
        return false;
    if (!sink->direct) {
        StrBuf sql = {0};
        strbuf_add(&sql, "CREATE TEMP TABLE ferry_stage (LIKE %s)", sink->table.sql);
        bool ok = pg_command(&sink->pg, sql.text, err);
        free(sql.text);
        if (!ok)
            return false;
    }
    for (int m = 0; m < upto; m++) {
        int64_t loaded = 0;
        if (!copy_manifest(sink, m, &loaded, err))
            return false;
        if (loaded != sink->loaded[m])
            return ferry_error(err, FERRY_ERR_SINK, 0,
                               "%s: table %s: a COPY run again loaded %lld rows where it had loaded %lld",
                               WHO, sink->target, (long long)loaded, (long long)sink->loaded[m]);
    }
    return true;
}

/* Whether a failure is one note 2 retries here: a conflict (1023), a WLM abort or a cancel, connection intact. */
static bool retry_here(Sink *sink, const FerryError *err, int attempt)
{
    if (attempt + 1 >= RS_LOAD_ATTEMPTS || !err->retryable || sink->pg.pg == NULL ||
        PQstatus(sink->pg.pg) != CONNECTION_OK || !(pg_error_is_conflict(err) || pg_error_is_kill(err)))
        return false;
    log_warn("%s: table %s: %s; loading the segment again (attempt %d of %d)", WHO, sink->target, err->message,
             attempt + 2, RS_LOAD_ATTEMPTS);
    rollback(sink);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000000L << attempt};
    nanosleep(&pause, NULL);
    return true;
}

/* (4) Values Redshift would change: the table's failure, or rows set aside (skip[r]). */
static bool check_values(Sink *sink, const RowBatch *batch, bool **skip, FerryError *err)
{
    const TableShape *shape = sink->shape;
    for (int r = 0; r < batch->nrows; r++) {
        for (int c = 0; c < shape->nout; c++) {
            const RsType *t = &sink->types[c];
            if (t->kind != RS_NUMERIC && t->kind != RS_TIME_POINT)
                continue;
            size_t len = 0;
            const char *v = batch_value(batch, r, c, &len);
            char why[256], reason[384];
            if (v == NULL || rs_value_fits(t, v, len, why, sizeof why))
                continue;
            snprintf(reason, sizeof reason, "column %s: %s", shape->cols[c].name, why);
            if (sink->settings.on_reject == REJECT_FAIL)
                return bad_row(sink, batch, r, reason, err);
            if (*skip == NULL)
                *skip = xcalloc((size_t)batch->nrows, sizeof **skip);
            (*skip)[r] = true;
            if (!copy_reject_row(&sink->rejects, sink->settings.reject_dir, sink->target, &sink->segment, shape,
                                 batch, r, reason, WHO, err))
                return false;
            sink->rejected++;
            break;
        }
    }
    return true;
}

static bool redshift_write(Sink *sink, const RowBatch *batch, FerryError *err)
{
    if (batch->nrows == 0)
        return true;
    bool *skip = NULL;
    if (!check_values(sink, batch, &skip, err)) {
        free(skip);
        return false;
    }
    int staged_rows = 0;
    for (int r = 0; r < batch->nrows; r++)
        staged_rows += skip == NULL || !skip[r];
    char marker[32];
    rs_null_marker(batch, skip, sink->shape->nout, marker, sizeof marker);
    int m = sink->nmanifests;
    int nobjects = staged_rows > 0 ? rs_file_count(batch->bytes, sink->ratio, sink->slices) : 0;
    if (nobjects > staged_rows)
        nobjects = staged_rows;
    Staged *objects = xcalloc((size_t)nobjects + 1, sizeof *objects);
    StrBuf manifest = {0};
    strbuf_add(&manifest, "{\"entries\": [");
    bool ok = true;
    uint64_t compressed = 0;
    for (int o = 0; ok && o < nobjects; o++) {
        char key[1200];
        snprintf(key, sizeof key, "%sw%02d-%05d.csv.%s", sink->folder, m,
                 o, sink->settings.compression + 1 == COMPRESS_ZSTD ? "zst" : "gz");
        objects[o].first = (int)((int64_t)batch->nrows * o / nobjects);
        objects[o].end = (int)((int64_t)batch->nrows * (o + 1) / nobjects);
        ok = stage_object(sink, batch, skip, objects[o].first, objects[o].end, marker, key, err);
        StrBuf url = {0};
        ok = ok && store_s3.url(sink->store, key, &url);
        objects[o].url = url.text;
        compressed += sink->object_bytes;
        objects_manifest_entry(&manifest, url.text ? url.text : "", sink->object_bytes, o == 0);
    }
    strbuf_add(&manifest, "\n]}\n");
    if (compressed > 0)
        sink->ratio = (double)batch->bytes / (double)compressed;
    char key[1200];
    snprintf(key, sizeof key, "%sw%02d.manifest", sink->folder, m);
    StrBuf url = {0};
    ok = ok && staged_rows > 0 && !manifest.failed && put_object(sink, key, manifest.text, err) &&
         store_s3.url(sink->store, key, &url);
    free(manifest.text);
    if (staged_rows == 0) {
        ok = true; /* every row was set aside: the segment is its ledger row alone */
    } else if (ok) {
        sink->manifests = xrealloc(sink->manifests, (size_t)(m + 1) * sizeof *sink->manifests);
        sink->markers = xrealloc(sink->markers, (size_t)(m + 1) * sizeof *sink->markers);
        sink->loaded = xrealloc(sink->loaded, (size_t)(m + 1) * sizeof *sink->loaded);
        sink->manifests[m] = url.text;
        sink->markers[m] = xstrdup(marker);
        sink->loaded[m] = 0;
        sink->nmanifests = m + 1;
    } else {
        free(url.text);
    }
    /* The load, in the segment's transaction (note 2). */
    for (int attempt = 0; ok && staged_rows > 0; attempt++) {
        int64_t loaded = 0;
        FerryError failure;
        bool copied = (sink->in_transaction || open_load(sink, m, &failure)) &&
                      copy_manifest(sink, m, &loaded, &failure);
        if (copied) {
            sink->loaded[m] = loaded;
            if (loaded < staged_rows && sink->settings.on_reject == REJECT_SKIP)
                ok = copy_skipped(sink, batch, skip, objects, nobjects, staged_rows - loaded, err);
            else if (loaded != staged_rows)
                ok = ferry_error(err, FERRY_ERR_SINK, 0, "%s: table %s: COPY loaded %lld of the %d rows staged",
                                 WHO, sink->target, (long long)loaded, staged_rows);
            break;
        }
        if (strstr(failure.message, "stl_load_errors") != NULL) {
            *err = failure;
            ok = copy_refused(sink, batch, skip, objects, nobjects, err);
            break;
        }
        if (!retry_here(sink, &failure, attempt)) {
            *err = failure;
            ferry_error_prefix(err, "%s: table %s", WHO, sink->target);
            ok = false;
        }
    }
    for (int o = 0; o < nobjects; o++)
        free(objects[o].url);
    free(objects);
    free(skip);
    if (!ok)
        return false;
    sink->rows += batch->nrows;
    free(sink->last_key);
    sink->last_key = key_tuple_from_batch(batch, batch->nrows - 1, sink->shape);
    return true;
}

/* The merge, the ledger row and COMMIT, after the COPYs of open_load or write. */
static bool finish_load(Sink *sink, FerryError *err)
{
    SinkRecord record = {.last_key = sink->last_key, .rows = sink->rows, .rejected = sink->rejected,
                         .last = sink->segment.last};
    if (!sink->in_transaction && !open_load(sink, 0, err)) /* every row was set aside: the ledger alone */
        return false;
    bool ok = (sink->direct || (copy_merge(&sink->pg, &sink->table, "ferry_stage", sink->shape, WHO, err) &&
                                pg_command(&sink->pg, "DROP TABLE ferry_stage", err))) &&
              ledger_add(&sink->pg, &sink->ledger, sink->target, &sink->segment, &record, WHO, err);
    if (ok && fault_hit(FAULT_SINK_COMMIT, sink->segment.partition)) {
        ferry_error(err, FERRY_ERR_SINK, 0, "%s: injected fault: the commit failed", WHO);
        err->retryable = true;
        return false;
    }
    ok = ok && pg_command(&sink->pg, "COMMIT", err);
    if (ok)
        sink->in_transaction = false;
    return ok;
}

static bool redshift_commit(Sink *sink, FerryError *err)
{
    bool rejects = sink->rejects.fd >= 0;
    if (rejects && !file_durable_commit(&sink->rejects, WHO, err))
        return false;
    for (int attempt = 0;; attempt++) {
        FerryError failure;
        bool ok = (sink->in_transaction || sink->nmanifests == 0 || open_load(sink, sink->nmanifests, &failure)) &&
                  finish_load(sink, &failure);
        if (ok)
            break;
        if (!retry_here(sink, &failure, attempt)) {
            *err = failure;
            ferry_error_prefix(err, "%s: table %s", WHO, sink->target);
            return false;
        }
    }
    if (rejects)
        log_warn("%s: %lld row(s) of %s set aside in %s", WHO, (long long)sink->rejected, sink->target,
                 sink->rejects.path);
    FerryError ignored;
    if (sink->nmanifests > 0 && !remove_staged(sink, sink->folder, &ignored))
        log_warn("%s: staged objects under %s stay until the table is complete: %s", WHO, sink->folder,
                 ignored.message);
    return true;
}

static int64_t redshift_rejected(Sink *sink)
{
    return sink->rejected;
}

/* ---- verify ---- */

static bool redshift_digest(Sink *sink, const TableShape *shape, const SinkPartition *part, SinkDigest *out,
                            FerryError *err)
{
    return use_table(sink, shape, part->generation, err) && copy_digest(&sink->pg, &sink->table, shape, part, out, WHO, err);
}

static uint64_t redshift_key_hash(Sink *sink, const TableShape *shape, const RowBatch *keys, int row)
{
    (void)sink;
    return copy_key_hash(shape, keys, row);
}

/* Integers, dates and timestamps are ordered alike there; anything else is counted over the whole table. */
static bool redshift_ranges_match(Sink *sink, const TableShape *shape)
{
    (void)sink;
    for (int k = 0; k < shape->nkeys; k++) {
        if (shape->key_col[k] >= shape->nout)
            return false;
        switch (shape->cols[shape->key_col[k]].type) {
        case OID_INT2: case OID_INT4: case OID_INT8: case OID_DATE: case OID_TIMESTAMP: case OID_TIMESTAMPTZ:
            break;
        default:
            return false;
        }
    }
    return true;
}

static unsigned redshift_settings_flags(const void *settings)
{
    return ((const RedshiftSettings *)settings)->load == LOAD_UPSERT ? SINK_UPSERTS_BY_KEY : 0;
}

static bool redshift_prune(Sink *sink, const TableShape *shape, const SinkPartition *part, const uint64_t *live,
                          size_t nlive, int64_t *removed, FerryError *err)
{
    return use_table(sink, shape, part->generation, err) &&
           copy_prune(&sink->pg, &sink->table, shape, part, live, nlive, removed, WHO, err);
}

const SinkOps sink_redshift = {
    .name = "redshift",
    .flags = SINK_REPLACES_SEGMENTS,
    .settings_flags = redshift_settings_flags,
    .options = redshift_options,
    .settings_size = sizeof(RedshiftSettings),
    .fit = redshift_fit,
    .open = redshift_open,
    .memory = redshift_memory,
    .check_table = redshift_check_table,
    .prepare_table = redshift_prepare_table,
    .claim = redshift_claim,
    .finish_table = redshift_finish_table,
    .begin = redshift_begin,
    .write = redshift_write,
    .commit = redshift_commit,
    .abort = redshift_abort,
    .close = redshift_close,
    .rejected = redshift_rejected,
    .recorded = redshift_recorded,
    .digest = redshift_digest,
    .prune = redshift_prune,
    .key_hash = redshift_key_hash,
    .ranges_match = redshift_ranges_match,
};

void rs_type_name(const Column *col, char *out, size_t cap)
{
    RsType t;
    rs_type(col, &t);
    snprintf(out, cap, "%s", t.name);
}

bool rs_fits(const Column *col, const char *value, size_t len, char *why, size_t cap)
{
    RsType t;
    rs_type(col, &t);
    return rs_value_fits(&t, value, len, why, cap);
}
