/*
 * tests/tools/mongo-tool.c — what the tests ask of a MongoDB server, through libmongoc.
 *
 *   mongo-tool URI DB dump COLLECTION      every document, canonical extended JSON, one per line
 *   mongo-tool URI DB relaxed COLLECTION   every document, relaxed extended JSON, one per line
 *   mongo-tool URI DB count COLLECTION     the number of documents
 *   mongo-tool URI DB indexes COLLECTION   each index as relaxed extended JSON, one per line
 *   mongo-tool URI DB create COLLECTION JSON  create it with options, e.g. '{"collation": {"locale": "en"}}'
 *   mongo-tool URI DB dropdb               drop the database
 *   mongo-tool URI DB stats                minimongo's record of the write commands it saw
 *
 * The same tool talks to minimongo and to a real server (FERRY_TEST_MONGO_URI).
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, const bson_error_t *error)
{
    fprintf(stderr, "mongo-tool: %s: %s\n", what, error->message);
    return 1;
}

static int print_cursor(mongoc_cursor_t *cursor, bool canonical)
{
    const bson_t *doc;
    int rc = 0;
    while (mongoc_cursor_next(cursor, &doc)) {
        char *json = canonical ? bson_as_canonical_extended_json(doc, NULL) : bson_as_relaxed_extended_json(doc, NULL);
        if (json == NULL) { /* libbson cannot print a document with invalid UTF-8: say so, go on */
            fprintf(stderr, "mongo-tool: a document of %u bytes is not valid BSON (invalid UTF-8?)\n", doc->len);
            rc = 1;
            continue;
        }
        puts(json);
        bson_free(json);
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error))
        rc = fail("read", &error);
    mongoc_cursor_destroy(cursor);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mongo-tool URI DB dump|count|indexes COLLECTION | dropdb\n");
        return 2;
    }
    mongoc_init();
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[1], &error);
    if (uri == NULL)
        return fail("uri", &error);
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    const char *cmd = argv[3];
    int rc = 0;
    if (strcmp(cmd, "dropdb") == 0) {
        mongoc_database_t *db = mongoc_client_get_database(client, argv[2]);
        if (!mongoc_database_drop(db, &error))
            rc = fail("dropdb", &error);
        mongoc_database_destroy(db);
    } else if (strcmp(cmd, "stats") == 0) {
        bson_t command = BSON_INITIALIZER, reply;
        BSON_APPEND_INT32(&command, "minimongoStats", 1);
        if (mongoc_client_command_simple(client, argv[2], &command, NULL, &reply, &error)) {
            char *json = bson_as_relaxed_extended_json(&reply, NULL);
            puts(json);
            bson_free(json);
        } else {
            rc = fail("stats", &error);
        }
        bson_destroy(&reply);
        bson_destroy(&command);
    } else if (strcmp(cmd, "create") == 0 && argc == 6) {
        bson_t *options = bson_new_from_json((const uint8_t *)argv[5], -1, &error);
        bson_t command = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&command, "create", argv[4]);
        if (options == NULL) {
            rc = fail("options", &error);
        } else {
            bson_concat(&command, options);
            if (!mongoc_client_command_simple(client, argv[2], &command, NULL, NULL, &error))
                rc = fail("create", &error);
            bson_destroy(options);
        }
        bson_destroy(&command);
    } else if (argc == 5) {
        mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[2], argv[4]);
        bson_t filter = BSON_INITIALIZER;
        if (strcmp(cmd, "dump") == 0 || strcmp(cmd, "relaxed") == 0) {
            rc = print_cursor(mongoc_collection_find_with_opts(coll, &filter, NULL, NULL), cmd[0] == 'd');
        } else if (strcmp(cmd, "indexes") == 0) {
            rc = print_cursor(mongoc_collection_find_indexes_with_opts(coll, NULL), false);
        } else if (strcmp(cmd, "count") == 0) {
            bson_t command = BSON_INITIALIZER, reply;
            BSON_APPEND_UTF8(&command, "count", argv[4]);
            if (mongoc_collection_command_simple(coll, &command, NULL, &reply, &error)) {
                bson_iter_t it;
                printf("%lld\n", bson_iter_init_find(&it, &reply, "n") ? (long long)bson_iter_as_int64(&it) : -1LL);
            } else {
                rc = fail("count", &error);
            }
            bson_destroy(&reply);
            bson_destroy(&command);
        } else {
            rc = 2;
        }
        mongoc_collection_destroy(coll);
    } else {
        rc = 2;
    }
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return rc;
}
