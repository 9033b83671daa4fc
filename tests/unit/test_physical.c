/*
 * tests/unit/test_physical.c — physical order: the read shape, the order check, the seen filter.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/keytuple.h"
#include "ferry/physical.h"
#include "tap.h"

/* A batch of one column of ctids, as a physical read's last column holds them. */
static void tid_batch(RowBatch *batch, const char *const *tids, int n)
{
    batch_init(batch, 1);
    batch_reset(batch, 1);
    for (int i = 0; i < n; i++) {
        batch_add_value(batch, tids[i], strlen(tids[i]), false);
        batch_end_row(batch);
    }
}

static char *encoded(const char *tid)
{
    const char *values[1] = {tid};
    size_t lengths[1] = {strlen(tid)};
    return key_tuple_encode(values, lengths, 1);
}

void test_physical(void)
{
    Column cols[2] = {{.name = "id", .type_name = "bigint", .type = OID_INT8},
                      {.name = "v", .type_name = "text", .type = OID_TEXT}};
    TableShape shape = {.schema = "public", .name = "t", .ncols = 2, .nout = 2, .cols = cols, .nkeys = 1,
                        .key_col = {0}};
    TableShape read;
    physical_read_shape(&shape, &read);
    ok(read.ncols == 3 && read.nout == 2 && read.nkeys == 1 && read.key_col[0] == 2 &&
           strcmp(read.cols[2].name, "ctid") == 0 && read.cols[2].type == OID_TID && read.key_enforced,
       "the read shape: the table's columns, then ctid as its only key; sinks still write two columns");
    ok(read.cols[0].name == shape.cols[0].name, "and it borrows the table's names");
    physical_read_shape_free(&read);

    FerryError err;
    RowBatch batch;
    const char *ascending[] = {"(0,1)", "(0,2)", "(0,9)", "(3,1)", "(12,40)"};
    tid_batch(&batch, ascending, 5);
    ok(physical_check_order(&batch, 0, NULL, "public.t", 0, &err), "ctids in heap order pass");
    char *prev = encoded("(0,1)");
    ok(!physical_check_order(&batch, 0, prev, "public.t", 4, &err) &&
           strstr(err.message, "table public.t partition 4: the server returned rows out of their physical order "
                               "((0,1) after (0,1))") != NULL,
       "a row at or before the checkpoint fails the partition, naming it: %s", err.message);
    free(prev);
    prev = encoded("(0,0)");
    ok(physical_check_order(&batch, 0, prev, "public.t", 0, &err), "a block bound (b,0) precedes every row of b");
    free(prev);
    batch_free(&batch);
    const char *backwards[] = {"(5,1)", "(5,3)", "(4,7)"};
    tid_batch(&batch, backwards, 3);
    ok(!physical_check_order(&batch, 0, NULL, "public.t", 1, &err) && strstr(err.message, "(4,7) after (5,3)") &&
           strstr(err.message, "set read_order = key"),
       "rows that go back fail with what to do: %s", err.message);
    batch_free(&batch);
    const char *garbage[] = {"(5,1)", "(5,x)"};
    tid_batch(&batch, garbage, 2);
    ok(!physical_check_order(&batch, 0, NULL, "public.t", 1, &err) && strstr(err.message, "without a row address"),
       "a value that is no ctid is refused: %s", err.message);
    batch_free(&batch);
    ok(!physical_check_order(&batch, 0, "garbage", "public.t", 1, &err) && err.domain == FERRY_ERR_STATE,
       "a malformed checkpoint is the state's error");

    TableConfig table = {.qualified = "public.t"};
    char *seen = physical_seen_filter(&table, "725:727:725");
    ok(seen != NULL && strncmp(seen, "NOT (NOT (", 10) == 0 && strstr(seen, "E'725:727:725'::pg_snapshot") != NULL,
       "the seen filter keeps the versions the snapshot saw: %s", seen ? seen : "(null)");
    free(seen);
}
