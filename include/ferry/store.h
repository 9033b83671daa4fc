/*
 * include/ferry/store.h — where the blob sink keeps its objects: a local directory (store_dir.c), S3 (store_s3.c), Azure Blob (store_azure.c).
 *
 * An object is named by a key, "<target>/<segment name>" (segment.h). A
 * handle writes one object at a time:
 *
 *   begin(key) ─► write… ─► commit        visible, complete and durable
 *                      └──► abort         no trace
 *
 * The contract:
 *  - Nothing of an object is visible under its key before commit returns
 *    true; commit MUST make all of it durable (it survives a crash of ferry
 *    and of the machine) and replace an object of that key.
 *  - abort, or a crash before commit, MUST leave no object; what a crash
 *    leaves behind (a temporary file, an unfinished upload) is a leftover
 *    that remove_all takes away.
 *  - list MUST give every committed object under a prefix, and only those.
 *  - remove_all MUST remove, durably, every object and every leftover under
 *    a prefix whose key `match` accepts, and say how many it removed.
 *  - sweep (optional) MUST remove the leftovers (never an object) under a
 *    prefix whose key `match` accepts: what writes a crash cut short left
 *    behind. A store whose leftovers the next write of the same key takes
 *    away (a temporary file of that name) needs none.
 *  - Errors fill FerryError (domain FERRY_ERR_SINK) and say whether a retry
 *    can help; `who` in messages is the sink that uses the store.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"
#include "ferry/options.h"

typedef struct Store Store; /* each store defines its own handle */

/*
 * Room for a store's settings inside the blob sink's (each store checks
 * that its struct fits, at compile time).
 */
typedef union StoreSettings {
    max_align_t align;
    char bytes[FERRY_STORE_SETTINGS_MAX];
} StoreSettings;

typedef struct StoreOps {
    const char *name;
    /* The store's keys in the sink's section (options.h), for its settings struct. */
    const ConfigOption *options;
    /*
     * fit (optional) completes, in place, the settings the memory budget
     * decides (part_size = auto); called before memory and open.
     */
    void (*fit)(void *settings, uint64_t budget);
    /* Bytes one open handle holds in buffers (a part being uploaded); NULL: none to speak of. */
    uint64_t (*memory)(const void *settings);
    /* Open the store its settings describe (dir: a directory, created if missing). */
    bool (*open)(const void *settings, const char *who, Store **out, FerryError *err);
    void (*close)(Store *store);
    /* `partition` is the segment's, for fault points (fault.h). */
    bool (*begin)(Store *store, const char *key, int64_t partition, FerryError *err);
    bool (*write)(Store *store, const char *data, size_t len, FerryError *err);
    bool (*commit)(Store *store, FerryError *err);
    void (*abort)(Store *store);
    /* fn gets each committed object's key and size in bytes. */
    bool (*list)(Store *store, const char *prefix,
                 bool (*fn)(void *ctx, const char *key, uint64_t size, FerryError *err), void *ctx,
                 FerryError *err);
    /* Read one object's bytes, in pieces, into fn. */
    bool (*read)(Store *store, const char *key,
                 bool (*fn)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx,
                 FerryError *err);
    bool (*remove_all)(Store *store, const char *prefix, bool (*match)(const char *key, const void *arg),
                       const void *arg, int *removed, FerryError *err);
    bool (*sweep)(Store *store, const char *prefix, bool (*match)(const char *key, const void *arg),
                  const void *arg, int *removed, FerryError *err);
    /*
     * The URL another tool reads the object by ("s3://bucket/prefix/key"),
     * for manifests; NULL for a store no such tool reads (dir).
     */
    bool (*url)(Store *store, const char *key, StrBuf *out);
} StoreOps;

/* Each store: its ops, and its option table on its own (CONFIG_GROUP needs an address constant). */
extern const StoreOps store_dir;
extern const ConfigOption store_dir_options[];
extern const StoreOps store_s3;
extern const ConfigOption store_s3_options[];
extern const StoreOps store_azure;
extern const ConfigOption store_azure_options[];

#endif
