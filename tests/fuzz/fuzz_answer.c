/*
 * tests/fuzz/fuzz_answer.c — what ferry reads of an object store's answer and writes of a manifest
 * (sinks/http.c, sinks/objects.c): a header line's value and Retry-After, an error body's <Code> and
 * <Message>, all NUL-terminated within their buffers; and a manifest entry that libbson's own JSON
 * parser reads back with the very URL it was given.
 */
#include <bson/bson.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/objects.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char value[160];
    if (http_header_value(text, size, "Retry-After", value, sizeof value)) {
        if (strlen(value) >= sizeof value || http_retry_after(value) < -1)
            abort();
    }
    HttpResponse response = {.body = text, .len = size};
    char code[64], message[256];
    objects_answer_error(&response, code, sizeof code, message, sizeof message);
    if (strlen(code) >= sizeof code || strchr(message, '\n') != NULL)
        abort();
    /* A URL as a manifest entry: JSON that reads back as that URL, where the URL is UTF-8 without NUL. */
    if (bson_utf8_validate(text, size, false)) {
        StrBuf json = {0};
        strbuf_add(&json, "{\"entries\": [");
        objects_manifest_entry(&json, text, size, true);
        strbuf_add(&json, "]}");
        bson_error_t error;
        bson_t *doc = bson_new_from_json((const uint8_t *)json.text, (ssize_t)json.len, &error);
        bson_iter_t it;
        if (doc == NULL || !bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, "entries.0.url", &it) ||
            strcmp(bson_iter_utf8(&it, NULL), text) != 0)
            abort();
        bson_destroy(doc);
        free(json.text);
    }
    free(text);
    return 0;
}
