/*
 * agent/delta.c — incremental tables: the watermark's kind, the source's capture, the window, the next generation.
 *
 * Design notes
 *  (1) Every bound is the source's: its clock (less watermark_lag) or its
 *      data (max(column)), or its snapshot; never this machine's clock.
 *      Bounds are kept as the server wrote them (state.h, MarkCapture) and
 *      compared as literals cast to the kind's type.
 *  (2) A window has an upper side, so the capture and the reads need not
 *      share a snapshot: a row written after the capture with a watermark
 *      above the bound is the next generation's, whichever snapshot reads
 *      it. The lower side is the mark less lookback: a transaction that set
 *      its watermark before a capture and committed after the read is read
 *      by the next generation if its watermark is within lookback of the mark.
 *  (3) xmin is 32 bits and pg_snapshot 64: a row's xid is given the epoch of
 *      the reading statement's own newest xid (pg_snapshot_xmax of its
 *      snapshot, computed once per statement): the largest 64-bit xid at or
 *      below it with the row's low 32 bits. A live row's xid is always
 *      within 2^31 of it (the server freezes rows before that), so it maps
 *      true, wraparound or not. A frozen row keeps its old xid, which may map
 *      to a recent one and be read again: a repeat the sinks absorb, never a
 *      loss. xids 0 to 2 (invalid, bootstrap, frozen) count as old.
 *      A transaction in progress at the capture is in the snapshot's list,
 *      so not visible to it: its rows are the next generation's however
 *      late it commits.
 *  (4) A full copy captures the clock and snapshot too: a table copied in
 *      full and then made incremental reads from its copy's clock or
 *      snapshot (delta_since). An integer watermark has no clock: its first
 *      incremental generation reads every row again, through the sink's
 *      upsert, and says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/delta.h"
#include "ferry/dialect.h"
#include "ferry/plan.h"
#include "ferry/sql.h"

#define LOOKBACK_DEFAULT_S 300 /* 5 minutes, for time watermarks */

static const char *const kind_names[] = {"", "timestamptz", "timestamp", "date", "integer", "xmin"};

void delta_describe(const TableConfig *table, MarkKind kind, char *out, size_t cap)
{
    if (kind == MARK_NONE)
        snprintf(out, cap, "%s", "");
    else if (kind == MARK_XMIN)
        snprintf(out, cap, "%s", "xmin");
    else
        snprintf(out, cap, "%s %s", table->watermark.column, kind_names[kind]);
}

/* How far before the mark a window opens: seconds for time watermarks, a count for integers. */
static int64_t lookback(const TableConfig *table, MarkKind kind)
{
    const Watermark *w = &table->watermark;
    if (w->lookback_set)
        return w->lookback;
    return kind == MARK_INTEGER ? 0 : LOOKBACK_DEFAULT_S;
}

static const char *literal_type(MarkKind kind)
{
    switch (kind) {
    case MARK_TIMESTAMPTZ:
        return "timestamptz";
    case MARK_TIMESTAMP:
    case MARK_DATE: /* a date compares with the timestamp of its day's start */
        return "timestamp";
    case MARK_INTEGER:
        return "bigint";
    default:
        return "text";
    }
}

/*
 * A source's refusal of what the configuration (or the command line) names,
 * not a failure a retry can pass, becomes the configuration's error: true,
 * and the caller prefixes what was asked.
 */
static bool refused(FerryError *err)
{
    if (err->domain != FERRY_ERR_SOURCE || err->retryable)
        return false;
    err->domain = FERRY_ERR_CONFIG;
    err->code = 0;
    return true;
}

/* The column's type as the catalog names it when the table reads it, else its oid. */
static void type_name(const TableShape *shape, const char *column, FerryOid type, char *out, size_t cap)
{
    for (int c = 0; c < shape->ncols; c++)
        if (strcmp(shape->cols[c].name, column) == 0 && shape->cols[c].type_name != NULL) {
            snprintf(out, cap, "%s", shape->cols[c].type_name);
            return;
        }
    snprintf(out, cap, "oid %u", type);
}

/* deletes, marked in the shape: soft COLUMN's column (among those copied), or reconcile. */
static bool soft_delete_column(const char *file, const TableConfig *table, TableShape *shape, FerryError *err)
{
    const char *name = table->watermark.soft_delete;
    shape->has_deleted = false;
    shape->reconciled = table->watermark.reconcile;
    if (name == NULL)
        return true;
    for (int c = 0; c < shape->nout; c++)
        if (strcmp(shape->cols[c].name, name) == 0) {
            shape->has_deleted = true;
            shape->deleted_col = c;
            return true;
        }
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "%s:%d: key 'deletes': table %s: column %s is not among the columns copied: the sinks read "
                       "it from each row (add it to columns)",
                       file, table->watermark.deletes_line, table->qualified, name);
}

bool delta_kind(SourceConn *conn, const char *file, const TableConfig *table, TableShape *shape,
                MarkKind *kind, FerryError *err)
{
    *kind = MARK_NONE;
    const Watermark *w = &table->watermark;
    if (table->settings.mode != MODE_INCREMENTAL)
        return true;
    if (w->xmin && !source_dialect(conn)->row_versions)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: key 'watermark': table %s: watermark = xmin is PostgreSQL's row version "
                           "marker, and %s has none: use a column that says when a row changed "
                           "(watermark = updated_at)",
                           file, w->line, table->qualified, source_dialect(conn)->name);
    char *from = plan_from_clause(shape);
    char *column = w->xmin ? xstrdup("xmin") : sql_quote_ident(w->column);
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT %s FROM %s LIMIT 0", column, from);
    free(column);
    free(from);
    PGresult *res = NULL;
    bool ok = source_query(conn, sql.text, 0, NULL, &res, err);
    free(sql.text);
    if (!ok) {
        if (refused(err))
            ferry_error_prefix(err, "%s:%d: key 'watermark': table %s: watermark %s cannot be read", file, w->line,
                               table->qualified, w->xmin ? "xmin" : w->column);
        return false;
    }
    FerryOid type = PQftype(res, 0);
    PQclear(res);
    switch (type) {
    case 1184:
        *kind = MARK_TIMESTAMPTZ;
        break;
    case 1114:
        *kind = MARK_TIMESTAMP;
        break;
    case 1082:
        *kind = MARK_DATE;
        break;
    case 20:
    case 21:
    case 23:
        *kind = MARK_INTEGER;
        break;
    case 28: /* xid: only xmin itself */
        *kind = w->xmin ? MARK_XMIN : MARK_NONE;
        break;
    default:
        break;
    }
    if (*kind == MARK_NONE) {
        char name[128];
        type_name(shape, w->column, type, name, sizeof name);
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: key 'watermark': table %s: watermark %s is %s: a watermark must be "
                           "timestamptz, timestamp, date, smallint, integer or bigint, or xmin",
                           file, w->line, table->qualified, w->column, name);
    }
    if (w->lookback_set && w->lookback_is_count != (*kind == MARK_INTEGER))
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s:%d: key 'lookback': table %s: watermark %s is %s: give lookback as %s",
                           file, w->lookback_line, table->qualified, w->column,
                           *kind == MARK_INTEGER ? "an integer" : "a time",
                           *kind == MARK_INTEGER ? "a count (lookback = 1000)" : "a span (lookback = 5 minutes)");
    return soft_delete_column(file, table, shape, err);
}

/*
 * The bound of a capture, as SQL of text: `clock` (SQL of a timestamptz)
 * less the lag for time watermarks, max(column) for an integer, the
 * snapshot for xmin.
 */
static void bound_sql(StrBuf *sql, SourceConn *conn, const TableConfig *table, const TableShape *shape,
                      MarkKind kind, const char *clock)
{
    const Watermark *w = &table->watermark;
    const char *where = table->settings.where ? table->settings.where : "true";
    switch (kind) {
    case MARK_TIMESTAMPTZ:
        strbuf_add(sql, "((%s) - interval '%lld seconds')::text", clock, (long long)w->lag_s);
        break;
    case MARK_TIMESTAMP:
    case MARK_DATE: {
        char *zone = sql_quote_literal(table->settings.source_timezone, strlen(table->settings.source_timezone));
        strbuf_add(sql, "(((%s) - interval '%lld seconds') AT TIME ZONE %s)::text", clock, (long long)w->lag_s,
                   zone);
        free(zone);
        break;
    }
    case MARK_INTEGER: {
        char *from = plan_from_clause(shape);
        char *column = sql_quote_ident(w->column);
        strbuf_add(sql, "(SELECT max(%s) FROM %s WHERE (%s))::text", column, from, where);
        free(column);
        free(from);
        break;
    }
    case MARK_XMIN:
        strbuf_add(sql, "%s", source_dialect(conn)->snapshot_sql);
        break;
    default:
        strbuf_add(sql, "NULL::text");
        break;
    }
}

bool delta_capture(SourceConn *conn, const TableConfig *table, const TableShape *shape, MarkKind kind,
                   MarkCapture *out, FerryError *err)
{
    memset(out, 0, sizeof *out);
    const Dialect *dialect = source_dialect(conn);
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT (%s)::text, %s, ", dialect->clock_sql, dialect->snapshot_sql);
    bound_sql(&sql, conn, table, shape, kind, dialect->clock_sql);
    if (kind != MARK_NONE && kind != MARK_XMIN) {
        char *from = plan_from_clause(shape);
        char *column = sql_quote_ident(table->watermark.column);
        strbuf_add(&sql, ", (SELECT count(*) FROM %s WHERE (%s) AND %s IS NULL)", from,
                   table->settings.where ? table->settings.where : "true", column);
        free(column);
        free(from);
    } else {
        strbuf_add(&sql, ", 0");
    }
    PGresult *res = NULL;
    bool ok = sql_statement_whole(&sql, err) && source_query(conn, sql.text, 0, NULL, &res, err);
    free(sql.text);
    if (!ok) {
        ferry_error_prefix(err, "table %s: capturing the source's clock and watermark", table->qualified);
        return false;
    }
    for (int i = 0; i < 3; i++) {
        char **field = i == 0 ? &out->clock : i == 1 ? &out->snapshot : &out->value;
        *field = PQgetisnull(res, 0, i) ? NULL : xstrdup(PQgetvalue(res, 0, i));
    }
    out->nulls = atoll(PQgetvalue(res, 0, 3));
    PQclear(res);
    if (kind != MARK_NONE) {
        char of[FERRY_NAME_MAX + 32];
        delta_describe(table, kind, of, sizeof of);
        out->of = xstrdup(of);
    }
    return true;
}

static void capture_copy(MarkCapture *to, const MarkCapture *from)
{
    to->value = from->value ? xstrdup(from->value) : NULL;
    to->of = from->of ? xstrdup(from->of) : NULL;
    to->clock = from->clock ? xstrdup(from->clock) : NULL;
    to->snapshot = from->snapshot ? xstrdup(from->snapshot) : NULL;
    to->nulls = from->nulls;
}

bool delta_since(SourceConn *conn, const TableConfig *table, MarkKind kind, const MarkCapture *recorded,
                 MarkCapture *out, FerryError *err)
{
    memset(out, 0, sizeof *out);
    char of[FERRY_NAME_MAX + 32];
    delta_describe(table, kind, of, sizeof of);
    if (recorded->of != NULL && strcmp(recorded->of, of) == 0) {
        capture_copy(out, recorded);
        return true;
    }
    /* (4) A mark of another watermark, or of none: this one's, as of the same moment. */
    capture_copy(out, recorded);
    free(out->value);
    free(out->of);
    out->value = NULL;
    out->of = xstrdup(of);
    if (kind == MARK_XMIN) {
        out->value = recorded->snapshot ? xstrdup(recorded->snapshot) : NULL;
    } else if (kind != MARK_INTEGER && recorded->clock != NULL) {
        char *clock = sql_quote_literal(recorded->clock, strlen(recorded->clock));
        StrBuf at = {0}, sql = {0};
        strbuf_add(&at, "%s::timestamptz", clock);
        free(clock);
        strbuf_add(&sql, "SELECT ");
        bound_sql(&sql, conn, table, NULL, kind, at.text);
        free(at.text);
        PGresult *res = NULL;
        bool ok = source_query(conn, sql.text, 0, NULL, &res, err);
        free(sql.text);
        if (!ok) {
            mark_capture_clear(out);
            ferry_error_prefix(err, "table %s: reading the last copy's clock as a mark", table->qualified);
            return false;
        }
        out->value = xstrdup(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (out->value != NULL)
        log_info("table %s: its last copy was %s; the mark for watermark %s is %s, as of that copy",
                 table->qualified, recorded->of ? "under another watermark" : "a full copy", of, out->value);
    else
        log_info("table %s: no mark for watermark %s can be had from its last copy: this run reads every row "
                 "again (the sink keeps one version of each key)",
                 table->qualified, of);
    return true;
}

char *delta_window(const TableConfig *table, MarkKind kind, const char *mark, const char *bound)
{
    if (kind == MARK_NONE || mark == NULL)
        return NULL;
    StrBuf sql = {0};
    char *mark_text = sql_quote_literal(mark, strlen(mark));
    if (kind == MARK_XMIN) {
        /* (3) The row's xid with the epoch of the statement's newest xid, then: not seen by the mark. */
        const char *newest = "(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)";
        strbuf_add(&sql,
                   "NOT (xmin::text::bigint < 3 OR pg_visible_in_snapshot((%s - ((%s - xmin::text::bigint) & "
                   "4294967295))::text::xid8, %s::pg_snapshot))",
                   newest, newest, mark_text);
        free(mark_text);
        return sql.text;
    }
    char *column = sql_quote_ident(table->watermark.column);
    const char *type = literal_type(kind);
    if (kind == MARK_INTEGER)
        strbuf_add(&sql, "%s > %s::bigint - %lld", column, mark_text, (long long)lookback(table, kind));
    else
        strbuf_add(&sql, "%s > %s::%s - interval '%lld seconds'", column, mark_text, type,
                   (long long)lookback(table, kind));
    if (bound != NULL) {
        char *bound_text = sql_quote_literal(bound, strlen(bound));
        strbuf_add(&sql, " AND %s <= %s::%s", column, bound_text, type);
        free(bound_text);
    }
    free(column);
    free(mark_text);
    return sql.text;
}

/* Rows of the table within the window (every row for none). */
static bool count_rows(SourceConn *conn, const TableConfig *table, const TableShape *shape, const char *window,
                       int64_t *rows, FerryError *err)
{
    char *from = plan_from_clause(shape);
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT count(*) FROM %s WHERE (%s) AND (%s)", from,
               table->settings.where ? table->settings.where : "true", window ? window : "true");
    free(from);
    PGresult *res = NULL;
    bool ok = sql_statement_whole(&sql, err) && source_query(conn, sql.text, 0, NULL, &res, err);
    free(sql.text);
    if (!ok) {
        ferry_error_prefix(err, "table %s: counting the rows changed since the last run", table->qualified);
        return false;
    }
    *rows = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return true;
}

/*
 * Begin the table's next generation over the rows within `window` (`rows` of
 * them, counted): cut at sampled keys, and recorded with the since, bound and
 * kind `generation` holds; its number, partitions and bounds are filled here.
 */
static bool begin_window(SourceConn *conn, StateStore *state, const TableConfig *table, const TableShape *shape,
                         const PlannedTable *planned, const char *window, int64_t rows, GenerationRecord *generation,
                         FerryError *err)
{
    char **bounds = NULL;
    int nbounds = 0;
    int nparts = partition_count((double)rows, table->settings.partition_rows);
    bool ok = nparts <= 1 || plan_window_bounds(conn, table, shape, window, nparts, &bounds, &nbounds, err);
    generation->generation = planned->generation + 1;
    generation->nparts = nbounds + 1;
    generation->bounds = bounds;
    ok = ok && state_generation_begin(state, planned->id, generation, err);
    for (int i = 0; i < nbounds; i++)
        free(bounds[i]);
    free(bounds);
    generation->bounds = NULL;
    return ok;
}

bool delta_next(SourceConn *conn, StateStore *state, const TableConfig *table, const TableShape *shape,
                MarkKind kind, const PlannedTable *planned, FerryError *err)
{
    MarkCapture since, bound = {0};
    char *window = NULL;
    int64_t rows = 0;
    bool ok = delta_since(conn, table, kind, &planned->mark, &since, err);
    ok = ok && delta_capture(conn, table, shape, kind, &bound, err);
    if (ok) {
        window = delta_window(table, kind, since.value, bound.value);
        ok = count_rows(conn, table, shape, window, &rows, err);
    }
    if (ok && rows == 0) {
        ok = state_mark_set(state, planned->id, &bound, err);
        if (ok)
            log_info("table %s: nothing changed since %s (watermark %s); the mark is now %s", table->qualified,
                     since.value ? since.value : "its last copy", since.of, bound.value ? bound.value : "(none)");
    } else if (ok) {
        GenerationRecord generation = {.since = &since, .bound = &bound};
        ok = begin_window(conn, state, table, shape, planned, window, rows, &generation, err);
        if (ok)
            log_info("table %s: generation %lld: %lld row(s) changed since %s (watermark %s, up to %s), in %d "
                     "partition(s)",
                     table->qualified, (long long)generation.generation, (long long)rows,
                     since.value ? since.value : "its last copy", since.of, bound.value ? bound.value : "now",
                     generation.nparts);
    }
    free(window);
    mark_capture_clear(&since);
    mark_capture_clear(&bound);
    return ok;
}

char *delta_catch_up_window(const TableConfig *table, const PlannedTable *planned)
{
    return delta_window(table, MARK_XMIN, planned->mark.snapshot, NULL);
}

bool delta_catch_up(SourceConn *conn, SourceConn *capture, StateStore *state, const TableConfig *table,
                    const TableShape *shape, MarkKind kind, const PlannedTable *planned, bool *begun,
                    FerryError *err)
{
    *begun = false;
    if (planned->bound.snapshot == NULL) /* a plan refuses physical order without one (cmd_run.c) */
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: table %s: a catch-up without a snapshot to follow",
                           table->qualified);
    MarkCapture bound = {0};
    char *window = delta_window(table, MARK_XMIN, planned->bound.snapshot, NULL);
    int64_t rows = 0;
    bool ok = delta_capture(capture, table, shape, kind, &bound, err) &&
              count_rows(conn, table, shape, window, &rows, err);
    if (ok && rows == 0) {
        ok = state_mark_set(state, planned->id, &bound, err);
        if (ok)
            log_info("table %s: no row changed while generation %lld was read under more than one snapshot: "
                     "no catch-up is needed", table->qualified, (long long)planned->generation);
    } else if (ok) {
        GenerationRecord generation = {.since = &planned->mark, .bound = &bound, .catch_up = true};
        ok = begin_window(conn, state, table, shape, planned, window, rows, &generation, err);
        *begun = ok;
        if (ok)
            log_info("table %s: generation %lld was read under more than one snapshot; generation %lld catches "
                     "up the %lld row version(s) written meanwhile, in %d partition(s)",
                     table->qualified, (long long)planned->generation, (long long)generation.generation,
                     (long long)rows, generation.nparts);
    }
    free(window);
    mark_capture_clear(&bound);
    return ok;
}

bool delta_full(SourceConn *conn, StateStore *state, const TableConfig *table, MarkKind kind,
                const PlannedTable *planned, FerryError *err)
{
    TablePlan plan;
    MarkCapture bound = {0};
    if (!plan_table(conn, table, &plan, err))
        return false;
    bool ok = delta_capture(conn, table, &plan.shape, kind, &bound, err);
    GenerationRecord generation = {
        .generation = planned->generation + 1,
        .since = NULL, /* no window: every row */
        .bound = &bound,
        .nparts = plan.nparts,
        .bounds = plan.bounds,
        .whole = true,
    };
    ok = ok && state_generation_begin(state, planned->id, &generation, err);
    if (ok)
        log_info("table %s: generation %lld reads every row (run --full), about %.0f in %d partition(s)",
                 table->qualified, (long long)generation.generation, plan.est_rows, plan.nparts);
    mark_capture_clear(&bound);
    plan_free(&plan);
    return ok;
}

bool delta_mark_from(SourceConn *conn, const TableConfig *table, MarkKind kind, const char *value, MarkCapture *out,
                     FerryError *err)
{
    memset(out, 0, sizeof *out);
    if (kind == MARK_NONE)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "table %s is copied in full (mode = full): it has no mark to set; ferry run --full %s "
                           "copies it again",
                           table->qualified, table->qualified);
    /* The value as the source writes one of the watermark's type: a bad one is the source's error. */
    StrBuf sql = {0};
    strbuf_add(&sql, "SELECT ($1::%s)::text", kind == MARK_XMIN ? "pg_snapshot" : literal_type(kind));
    const char *params[1] = {value};
    PGresult *res = NULL;
    bool ok = source_query(conn, sql.text, 1, params, &res, err);
    free(sql.text);
    if (!ok) {
        if (refused(err))
            ferry_error_prefix(err, "--since %s is not a mark of table %s's watermark", value, table->qualified);
        return false;
    }
    char of[FERRY_NAME_MAX + 32];
    delta_describe(table, kind, of, sizeof of);
    out->value = xstrdup(PQgetvalue(res, 0, 0));
    out->of = xstrdup(of);
    PQclear(res);
    return true;
}
