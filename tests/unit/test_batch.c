/*
 * tests/unit/test_batch.c — COPY text lines into a batch (source_copy_row), dropping rows (batch_filter), comparing
 * keys, the UTF-8 check of a SQL_ASCII database's rows.
 */
#include <stdio.h>
#include <string.h>

#include "ferry/keytuple.h"
#include "ferry/source.h"
#include "tap.h"

static bool keep_odd(const RowBatch *batch, int row, void *ctx)
{
    (void)batch;
    (void)ctx;
    return row % 2 == 1;
}

/* One COPY text line through source_copy_row: its values joined by '|' (NULL as ~), or the error. */
#define like(got, part, ...) ok(strstr((got), (part)) != NULL, __VA_ARGS__)

static const char *copy_row(int ncols, const char *line)
{
    static char out[FERRY_ERROR_MAX + 16];
    RowBatch batch;
    batch_init(&batch, ncols);
    FerryError err;
    if (!source_copy_row(&batch, line, strlen(line), &err)) {
        snprintf(out, sizeof out, "error: %s", err.message);
    } else {
        size_t n = 0;
        for (int c = 0; c < ncols; c++) {
            const char *v = batch_value(&batch, 0, c, NULL);
            n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", c ? "|" : "", v ? v : "~");
        }
    }
    batch_free(&batch);
    return out;
}

static void test_copy_rows(void)
{
    is_str(copy_row(3, "1\tab\t\\N\n"), "1|ab|~", "COPY text: tabs cut values, \\N is NULL, the newline goes");
    is_str(copy_row(2, "\\b\\f\\n\\r\\t\\v\t\\\\x"), "\b\f\n\r\t\v|\\x", "COPY text: the letter escapes");
    is_str(copy_row(1, "\\101\\x42\\x4a\\7\\xg"), "ABJ\axg",
           "COPY text: octal and hex escapes as COPY FROM reads them (\\x without a digit is an x)");
    is_str(copy_row(1, "\\N\\N"), "NN", "COPY text: \\N within a value is an N");
    like(copy_row(3, "1\t2"), "COPY row has 2 fields, the plan has 3", "COPY text: too few fields are refused");
    like(copy_row(2, "1\t2\t3"), "more fields than the plan's 2", "COPY text: too many are refused, not cut");
}

/* RFC 3629's table 3 and the forms it rules out, and a batch that holds one. */
static void test_utf8(void)
{
    static const struct {
        const char *text;
        size_t valid;
        const char *what;
    } cases[] = {
        {"plain ascii, longer than a word", 31, "ASCII, a word at a time"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "two, three and four bytes"},
        {"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf", 10, "U+D7FF, U+E000, U+10FFFF"},
        {"caf\xe9", 3, "a Latin-1 byte"},
        {"ab\xc0\xaf", 2, "an overlong '/' (C0 AF)"},
        {"\xe0\x80\xaf", 0, "an overlong of three bytes (E0 80 AF)"},
        {"\xf0\x8f\xbf\xbf", 0, "an overlong of four bytes"},
        {"x\xed\xa0\x80", 1, "a surrogate (ED A0 80)"},
        {"\xf4\x90\x80\x80", 0, "past U+10FFFF"},
        {"\xf5\x80\x80\x80", 0, "a lead byte past F4"},
        {"abc\xe2\x82", 3, "a character cut short at the end"},
        {"\xe2\x28\xa1", 0, "a continuation byte missing inside"},
        {"\x80", 0, "a lone continuation byte"},
        {"12345678\xff", 8, "a bad byte after a whole ASCII word"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        is_num((long)utf8_valid_prefix(cases[i].text, strlen(cases[i].text)), (long)cases[i].valid, "UTF-8: %s",
               cases[i].what);

    RowBatch batch;
    batch_init(&batch, 2);
    const char *rows[][2] = {{"1", "caf\xc3\xa9"}, {"2", NULL}, {"k\xe9y", "ok"}};
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 2; c++)
            batch_add_value(&batch, rows[r][c] ? rows[r][c] : "", rows[r][c] ? strlen(rows[r][c]) : 0, !rows[r][c]);
        batch_end_row(&batch);
    }
    int row = -1, col = -1;
    size_t at = 0;
    ok(!batch_text_valid(&batch, &row, &col, &at) && row == 2 && col == 0 && at == 1,
       "a batch's first value that is not UTF-8: row 2, column 0, byte 1");
    TableShape shape = {.ncols = 2, .nkeys = 1};
    Column cols[2] = {{.name = "id"}, {.name = "v"}};
    shape.cols = cols;
    char key[64];
    batch_describe_key(&shape, &batch, 2, key, sizeof key);
    is_str(key, "(id) = (k…)", "a key that is not UTF-8 is named up to its bad byte");
    batch_describe_key(&shape, &batch, 0, key, sizeof key);
    is_str(key, "(id) = (1)", "a key as it is");
    batch_free(&batch);
}

void test_batch(void)
{
    test_copy_rows();
    test_utf8();
    RowBatch batch;
    batch_init(&batch, 2);
    const char *keys[] = {"1", "1", "2", "3", "3", "3"};
    for (int r = 0; r < 6; r++) {
        char v[8];
        snprintf(v, sizeof v, "v%d", r);
        batch_add_value(&batch, keys[r], strlen(keys[r]), false);
        batch_add_value(&batch, v, strlen(v), r == 3);
        batch_end_row(&batch);
    }
    TableShape shape = {.ncols = 2, .nkeys = 1};
    shape.key_col[0] = 0;
    ok(key_rows_equal(&batch, 0, &batch, 1, &shape), "rows 0 and 1 share key 1");
    ok(!key_rows_equal(&batch, 1, &batch, 2, &shape), "rows 1 and 2 do not");
    TableShape by_value = {.ncols = 2, .nkeys = 1};
    by_value.key_col[0] = 1;
    ok(!key_rows_equal(&batch, 3, &batch, 4, &by_value), "a NULL is not equal to a value");

    size_t bytes_before = batch.bytes;
    int dropped = batch_filter(&batch, keep_odd, NULL);
    is_num(dropped, 3, "three rows dropped");
    is_num(batch.nrows, 3, "three kept");
    size_t len;
    is_str(batch_value(&batch, 0, 1, &len), "v1", "the first kept row is row 1");
    ok(batch_value(&batch, 1, 1, NULL) == NULL && strcmp(batch_value(&batch, 1, 0, NULL), "3") == 0,
       "the second kept row is row 3, its NULL kept");
    is_str(batch_value(&batch, 2, 1, NULL), "v5", "the last kept row is row 5");
    size_t dropped_bytes = 3 * (1 + 2) + 6 * FERRY_VALUE_OVERHEAD; /* rows 0, 2, 4 */
    is_num((long)batch.bytes, (long)(bytes_before - dropped_bytes), "the dropped rows' bytes are no longer counted");
    batch_free(&batch);
}
