/*
 * include/ferry/objects.h — what the object stores (S3, Azure Blob) share (sinks/objects.c):
 * names under a prefix, secrets read from files, an answer's error, and the
 * list of names a removal gathers before it removes.
 */
#ifndef FERRY_OBJECTS_H
#define FERRY_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"
#include "ferry/http.h"

/* "<prefix>/<key>" (the prefix without slashes at its ends; none: "<key>"); false when it does not fit. */
bool objects_name(const char *prefix, const char *key, char *out, size_t cap, const char *who, FerryError *err);
/* The blob sink's key of a stored name: the prefix taken off; NULL when the name is outside it. */
const char *objects_key(const char *prefix, const char *name);

/*
 * The part (block) size for a memory budget (limits.h): `configured`, or
 * with 0 (auto) a share of the budget within [least, FERRY_PART_AUTO_MAX];
 * raised where that is too small for the largest object a batch of that
 * budget can make to fit in `parts_max` parts; never above `most`. Whole MiB.
 */
uint64_t objects_part_size(uint64_t configured, uint64_t budget, uint64_t least, uint64_t most, unsigned parts_max);

/* The first line of a file, trimmed, into out: a key or token kept out of the configuration. */
bool objects_read_secret(const char *path, char *out, size_t cap, const char *what, const char *who,
                         FerryError *err);
/* A secret from its own key, or from the file its _file key names (which wins); "" when neither is set. */
bool objects_secret(const char *value, const char *file, char *out, size_t cap, const char *what, const char *who,
                    FerryError *err);

/*
 * One entry of a manifest in Redshift's format (what COPY … MANIFEST reads):
 * {"url": URL, "mandatory": true, "meta": {"content_length": N}}, the URL
 * escaped as a JSON string, after a comma unless it is the first.
 */
void objects_manifest_entry(StrBuf *json, const char *url, uint64_t length, bool first);

/* An XML error answer's <Code> and the first line of its <Message> ("" when absent). */
void objects_answer_error(const HttpResponse *response, char *code, size_t code_cap, char *message,
                          size_t message_cap);

/* Names (each with an optional second field, an upload id) gathered while listing, removed after. */
typedef struct ObjectList {
    char **names, **extra;    /* owned; extra[i] NULL when none */
    int n, cap;
} ObjectList;

void objects_list_add(ObjectList *list, const char *name, const char *extra);
void objects_list_free(ObjectList *list);

#endif
