/*
 * tests/unit/test_mem.c — growing buffers stop at their ceilings and say so.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"
#include "tap.h"

void test_mem(void)
{
    StrBuf sql = {.max = 32};
    ok(strbuf_add(&sql, "SELECT %s", "a, b"), "an addition under the ceiling goes in");
    ok(!strbuf_add(&sql, " WHERE %s", "a_long_filter_that_does_not_fit") && sql.failed,
       "an addition past the ceiling fails and marks the text incomplete");
    is_str(sql.text, "SELECT a, b", "the text keeps what it had, and nothing of the addition");
    ok(!strbuf_add(&sql, "%s", "x") && strcmp(sql.text, "SELECT a, b") == 0,
       "the failure is sticky: a later, smaller addition does not make the text look whole");
    ok(sql.len < 32 && sql.cap <= 32, "the buffer never grew past its ceiling (cap %zu)", sql.cap);
    free(sql.text);

    StrBuf empty = {.max = 4};
    ok(!strbuf_add(&empty, "%s", "too long") && empty.text != NULL && empty.text[0] == '\0',
       "a first addition past the ceiling leaves an empty, failed text");
    free(empty.text);

    char *buf = NULL;
    size_t cap = 0;
    ok(xgrow(&buf, &cap, 300, 1000) && cap >= 300 && cap <= 1000, "xgrow grows within its ceiling (cap %zu)", cap);
    ok(xgrow(&buf, &cap, 1000, 1000) && cap == 1000, "xgrow may reach its ceiling exactly");
    ok(!xgrow(&buf, &cap, 1001, 1000) && cap == 1000, "xgrow refuses past its ceiling and keeps the buffer");
    free(buf);
}
