/*
 * sinks/objects.c — what the object stores share (objects.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/limits.h"
#include "ferry/objects.h"
#include "ferry/xml.h"

/* The prefix without the slashes at its ends: where it starts, and its length. */
static const char *trimmed(const char *prefix, size_t *len)
{
    const char *p = prefix ? prefix : "";
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    *len = n;
    return p;
}

uint64_t objects_part_size(uint64_t configured, uint64_t budget, uint64_t least, uint64_t most, unsigned parts_max)
{
    const uint64_t mib = 1u << 20;
    uint64_t size = configured;
    if (size == 0) {
        size = budget / FERRY_PART_AUTO_SHARE / mib * mib;
        size = size < least ? least : size > FERRY_PART_AUTO_MAX ? FERRY_PART_AUTO_MAX : size;
    }
    double largest = (double)budget / FERRY_BATCH_OVERHEAD * FERRY_ENCODING_EXPANSION;
    uint64_t needed = (uint64_t)ceil(largest / parts_max / (double)mib) * mib;
    if (size < needed)
        size = needed;
    return size < most ? size : most;
}

bool objects_name(const char *prefix, const char *key, char *out, size_t cap, const char *who, FerryError *err)
{
    size_t plen;
    const char *p = trimmed(prefix, &plen);
    int n = snprintf(out, cap, "%.*s%s%s", (int)plen, p, plen ? "/" : "", key);
    if (n < 0 || (size_t)n >= cap)
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: the name %.64s… is longer than %zu bytes", who, key,
                           cap - 1);
    return true;
}

const char *objects_key(const char *prefix, const char *name)
{
    size_t plen;
    const char *p = trimmed(prefix, &plen);
    if (plen == 0)
        return name;
    return strncmp(name, p, plen) == 0 && name[plen] == '/' ? name + plen + 1 : NULL;
}

bool objects_read_secret(const char *path, char *out, size_t cap, const char *what, const char *who,
                         FerryError *err)
{
    if (secret_file_read(path, out, cap, err))
        return true;
    ferry_error_prefix(err, "%s: %s", who, what);
    return false;
}

bool objects_secret(const char *value, const char *file, char *out, size_t cap, const char *what, const char *who,
                    FerryError *err)
{
    out[0] = '\0';
    if (file != NULL && *file)
        return objects_read_secret(file, out, cap, what, who, err);
    if (value != NULL)
        snprintf(out, cap, "%s", value);
    return true;
}

void objects_manifest_entry(StrBuf *json, const char *url, uint64_t length, bool first)
{
    strbuf_add(json, "%s\n  {\"url\": \"", first ? "" : ",");
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p == '"' || *p == '\\')
            strbuf_add(json, "\\%c", *p);
        else if (*p < 0x20)
            strbuf_add(json, "\\u%04x", *p);
        else
            strbuf_add(json, "%c", *p);
    }
    strbuf_add(json, "\", \"mandatory\": true, \"meta\": {\"content_length\": %llu}}", (unsigned long long)length);
}

void objects_answer_error(const HttpResponse *response, char *code, size_t code_cap, char *message,
                          size_t message_cap)
{
    StrBuf text = {0};
    const char *pos = response->body ? response->body : "";
    snprintf(code, code_cap, "%s", xml_next(&pos, "Code", &text) ? text.text : "");
    pos = response->body ? response->body : "";
    snprintf(message, message_cap, "%s", xml_next(&pos, "Message", &text) ? text.text : "");
    /* Azure's messages go on with a RequestId and a Time on lines of their own. */
    message[strcspn(message, "\r\n")] = '\0';
    free(text.text);
}

void objects_list_add(ObjectList *list, const char *name, const char *extra)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 64;
        list->names = xrealloc(list->names, (size_t)list->cap * sizeof *list->names);
        list->extra = xrealloc(list->extra, (size_t)list->cap * sizeof *list->extra);
    }
    list->names[list->n] = xstrdup(name);
    list->extra[list->n++] = extra ? xstrdup(extra) : NULL;
}

void objects_list_free(ObjectList *list)
{
    for (int i = 0; i < list->n; i++) {
        free(list->names[i]);
        free(list->extra[i]);
    }
    free(list->names);
    free(list->extra);
    memset(list, 0, sizeof *list);
}
