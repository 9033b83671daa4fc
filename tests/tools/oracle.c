/*
 * tests/tools/oracle.c — ferry's own parsers, one input a line, for tests/t/16-oracles.t to set
 * against implementations nobody here wrote (Python's json and decimal, PostgreSQL itself).
 *
 *   oracle json          a json value into BSON: "ok <the document {"v": value}, hex>" | "refused <why>"
 *   oracle numeric       a numeric's text: "ok <the Decimal128, printed by libbson>" | "refused <why>"
 *   oracle timestamptz   PostgreSQL's ISO text of a timestamptz: "ok <ms since the epoch>" | "refused"
 *   oracle timestamp     the same without a zone; oracle date: a date
 *   oracle copy NCOLS    a line of COPY text: "ok <each value in hex, N for NULL, space-separated>"
 *                        | "refused <why>"
 *
 * Each input line is hex (so it may hold any byte); each output is one line. The options are the
 * defaults a MongoDB sink has, but field_names = keep, so keys come out as they went in.
 */
#include <bson/bson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/document.h"
#include "ferry/source.h"

static size_t unhex(char *text)
{
    size_t n = 0;
    for (char *p = text; p[0] && p[1] && p[0] != '\n'; p += 2) {
        unsigned v;
        if (sscanf(p, "%2x", &v) != 1)
            break;
        text[n++] = (char)v;
    }
    text[n] = '\0';
    return n;
}

static void put_hex(const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        printf("%02x", data[i]);
}

/* A value of a column of `type` into {"v": …}. */
static void document(FerryOid type, const char *text, size_t len)
{
    Column col = {.name = "v", .type_name = "v", .type = type};
    TableShape shape = {.schema = "public", .name = "t", .target = "t", .ncols = 1, .nout = 1, .cols = &col};
    DocOptions options = {.field_names = DOC_NAMES_KEEP};
    DocWriter writer;
    FerryError err;
    if (!doc_writer_init(&writer, &options, &shape, &err)) {
        printf("refused %s\n", err.message);
        return;
    }
    bson_t doc = BSON_INITIALIZER;
    if (!doc_append_value(&writer, &doc, "v", &col, text, len, &err)) {
        printf("refused %s\n", err.message);
    } else if (type == OID_NUMERIC) {
        bson_iter_t it;
        char printed[BSON_DECIMAL128_STRING];
        bson_decimal128_t dec;
        if (bson_iter_init_find(&it, &doc, "v") && BSON_ITER_HOLDS_DECIMAL128(&it)) {
            bson_iter_decimal128(&it, &dec);
            bson_decimal128_to_string(&dec, printed);
            printf("ok %s\n", printed);
        } else {
            printf("refused not a Decimal128\n");
        }
    } else {
        printf("ok ");
        put_hex(bson_get_data(&doc), doc.len);
        printf("\n");
    }
    bson_destroy(&doc);
    doc_writer_free(&writer);
}

static void copy_line(int ncols, const char *text, size_t len)
{
    RowBatch batch;
    batch_init(&batch, ncols);
    FerryError err;
    if (!source_copy_row(&batch, text, len, &err)) {
        printf("refused %s\n", err.message);
    } else {
        printf("ok");
        for (int c = 0; c < ncols; c++) {
            size_t n = 0;
            const char *v = batch_value(&batch, 0, c, &n);
            printf(" ");
            if (v == NULL)
                printf("N");
            else
                put_hex((const unsigned char *)v, n);
        }
        printf("\n");
    }
    batch_free(&batch);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: oracle json|numeric|timestamptz|timestamp|date|copy NCOLS|utf8 < hex lines\n");
        return 2;
    }
    const char *kind = argv[1];
    int ncols = argc > 2 ? atoi(argv[2]) : 1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        size_t len = unhex(line);
        int64_t ms = 0;
        if (strcmp(kind, "json") == 0)
            document(OID_JSON, line, len);
        else if (strcmp(kind, "numeric") == 0)
            document(OID_NUMERIC, line, len);
        else if (strcmp(kind, "copy") == 0)
            copy_line(ncols, line, len);
        else if (strcmp(kind, "utf8") == 0)
            printf("%zu\n", utf8_valid_prefix(line, len));
        else if (doc_parse_time(line, len, strcmp(kind, "timestamptz") == 0, &ms))
            printf("ok %lld\n", (long long)ms);
        else
            printf("refused\n");
        fflush(stdout);
    }
    free(line);
    return 0;
}
