/*
 * tests/unit/test_delta.c — incremental tables without a server: spans, the watermark settings, and the
 * SQL of a window, which every read of a later generation carries.
 */
#include <stdlib.h>

#include "ferry/config.h"
#include "ferry/delta.h"
#include "tap.h"

static const char *head =
    "[ferry]\n"
    "[source]\n"
    "conninfo = host=db\n"
    "[sink]\n"
    "type = dir\n"
    "path = /data/out\n"
    "[table public.ev]\n";

/* The configuration of one table whose settings are `table`; NULL (and err) when it is refused. */
static FerryConfig *load(const char *table, FerryError *err)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", head, table);
    FerryConfig *config = NULL;
    memset(err, 0, sizeof *err);
    return config_load_text("/etc/ferry/d.ini", text, &config, err) ? config : NULL;
}

static void test_spans(void)
{
    int64_t s = -1;
    ok(config_parse_span("5 minutes", &s) && s == 300, "5 minutes is 300 s");
    ok(config_parse_span("1 hour 30 min", &s) && s == 5400, "1 hour 30 min is 5400 s");
    ok(config_parse_span("2 days", &s) && s == 172800, "2 days");
    ok(config_parse_span("1 w", &s) && s == 604800, "1 w is a week");
    ok(config_parse_span("45 secs", &s) && s == 45, "secs is plural of sec");
    ok(config_parse_span("0 seconds", &s) && s == 0, "0 seconds");
    ok(!config_parse_span("5", &s), "a bare number is not a span");
    ok(!config_parse_span("5 fortnights", &s), "an unknown unit is not a span");
    ok(!config_parse_span("minutes", &s), "a unit without a number is not a span");
    ok(!config_parse_span("-5 minutes", &s), "a negative span is refused");
}

static void test_settings(void)
{
    FerryError err;
    FerryConfig *c = load("mode = incremental\nwatermark = updated_at\nlookback = 10 min\nwatermark_lag = 30 s\n", &err);
    ok(c != NULL, "an incremental table loads (%s)", c ? "" : err.message);
    if (c != NULL) {
        const Watermark *w = &c->tables[0].watermark;
        is_str(w->column, "updated_at", "the watermark column");
        ok(!w->xmin && w->lookback_set && !w->lookback_is_count && w->lookback == 600, "lookback 10 min: 600 s");
        is_num(w->lag_s, 30, "watermark_lag 30 s");
        is_str(c->tables[0].settings.source_timezone, "UTC", "source_timezone defaults to UTC");
        config_free(c);
    }
    c = load("mode = incremental\nwatermark = seq\nlookback = 1000\n", &err);
    ok(c != NULL && c->tables[0].watermark.lookback_is_count && c->tables[0].watermark.lookback == 1000,
       "a count as lookback (an integer watermark's)");
    config_free(c);
    c = load("mode = incremental\nwatermark = xmin\n", &err);
    ok(c != NULL && c->tables[0].watermark.xmin, "watermark = xmin");
    config_free(c);

    ok(load("mode = incremental\n", &err) == NULL && strstr(err.message, "/etc/ferry/d.ini:8: key 'mode'") != NULL,
       "incremental without a watermark names the line of mode");
    ok(load("watermark = updated_at\n", &err) == NULL &&
           strstr(err.message, "/etc/ferry/d.ini:8: key 'watermark': table public.ev is copied in full") != NULL,
       "a watermark without mode = incremental is refused at its line");
    ok(load("mode = incremental\nwatermark = updated_at\nlookback = soon\n", &err) == NULL &&
           strstr(err.message, "/etc/ferry/d.ini:10: key 'lookback'") != NULL,
       "a lookback that is neither a span nor a count names its line");
    ok(load("mode = incremental\nwatermark = xmin\nlookback = 5 minutes\n", &err) == NULL &&
           strstr(err.message, ":10: key 'lookback': watermark = xmin") != NULL,
       "xmin takes no lookback");
    ok(load("mode = incremental\nwatermark = a, b\n", &err) == NULL &&
           strstr(err.message, ":9: key 'watermark': expected one column name") != NULL,
       "one watermark column only");
    ok(load("mode = sometimes\n", &err) == NULL && strstr(err.message, ":8: key 'mode'") != NULL, "a bad mode");
    c = load("mode = incremental\nwatermark = updated_at\ndeletes = soft \"Is Gone\"\n", &err);
    ok(c != NULL && c->tables[0].watermark.soft_delete != NULL &&
           strcmp(c->tables[0].watermark.soft_delete, "Is Gone") == 0,
       "deletes = soft COLUMN takes a quoted name");
    config_free(c);
    ok(load("mode = incremental\nwatermark = updated_at\ndeletes = soft\n", &err) == NULL &&
           strstr(err.message, ":10: key 'deletes': expected none, reconcile, or soft and one column") != NULL,
       "deletes = soft without a column names its line");
    ok(load("deletes = soft gone\n", &err) == NULL &&
           strstr(err.message, ":8: key 'deletes': table public.ev is copied in full") != NULL,
       "deletes on a table copied in full is refused");
}

static void test_windows(void)
{
    FerryError err;
    FerryConfig *c = load("mode = incremental\nwatermark = \"Updated At\"\nlookback = 2 min\n", &err);
    if (c == NULL) {
        ok(false, "the window's table loads: %s", err.message);
        return;
    }
    const TableConfig *t = &c->tables[0];
    char *w = delta_window(t, MARK_TIMESTAMPTZ, "2026-12-01 10:00:00+00", "2026-12-01 11:00:00+00");
    is_str(w,
           "\"Updated At\" > E'2026-12-01 10:00:00+00'::timestamptz - interval '120 seconds' AND "
           "\"Updated At\" <= E'2026-12-01 11:00:00+00'::timestamptz",
           "a timestamptz window: after the mark less lookback, up to the bound, the column quoted");
    free(w);
    w = delta_window(t, MARK_DATE, "2026-12-01 00:00:00", NULL);
    is_str(w, "\"Updated At\" > E'2026-12-01 00:00:00'::timestamp - interval '120 seconds'",
           "a date compares with its day's start; no bound leaves the top open");
    free(w);
    w = delta_window(t, MARK_TIMESTAMPTZ, "it's", NULL);
    ok(w != NULL && strstr(w, "E'it''s'") != NULL, "a mark is a quoted literal, never SQL");
    free(w);
    ok(delta_window(t, MARK_TIMESTAMPTZ, NULL, "2026-12-01 11:00:00+00") == NULL,
       "no mark yet: no window, every row is read");
    ok(delta_window(t, MARK_NONE, "x", "y") == NULL, "mode = full: no window");
    config_free(c);

    c = load("mode = incremental\nwatermark = seq\n", &err);
    w = c ? delta_window(&c->tables[0], MARK_INTEGER, "5000", "6000") : NULL;
    is_str(w, "\"seq\" > E'5000'::bigint - 0 AND \"seq\" <= E'6000'::bigint",
           "an integer window: no lookback unless one is given");
    free(w);
    config_free(c);

    c = load("mode = incremental\nwatermark = xmin\n", &err);
    w = c ? delta_window(&c->tables[0], MARK_XMIN, "725:727:725", "900:900:") : NULL;
    ok(w != NULL && strstr(w, "pg_visible_in_snapshot(") != NULL && strstr(w, "E'725:727:725'::pg_snapshot") != NULL &&
           strstr(w, "xmin::text::bigint < 3") != NULL && strstr(w, "4294967295") != NULL,
       "an xmin window: rows the mark's snapshot did not see, the xid given its epoch, frozen ones old");
    free(w);
    config_free(c);
}

void test_delta(void)
{
    test_spans();
    test_settings();
    test_windows();
}
