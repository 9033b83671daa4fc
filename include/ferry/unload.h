/*
 * include/ferry/unload.h — reading a Redshift partition through UNLOAD to S3 (agent/unload.c).
 *
 *   unload_begin ─► unload_next (one staged object: one batch, one segment) … ─► unload_end
 *                                                     └─ unload_exhausted: the partition is read
 *
 * A worker holds one Unloader (the staging store) for the run. unload_begin
 * finds the partition's complete stage at or before its checkpoint, or
 * UNLOADs the rest of its range into a new one; either way the next object
 * is the one after the checkpoint. unload_remove takes a partition's stages
 * away (part >= 0) or a table's (part < 0).
 */
#ifndef FERRY_UNLOAD_H
#define FERRY_UNLOAD_H

#include "ferry/run.h"

typedef struct Unloader Unloader; /* as run.h names it: struct Unloader */

typedef struct UnloadRead {
    Unloader *u;              /* borrowed */
    int nobjects;
    char **keys;              /* owned: the stage's objects, in order, as store keys */
    int64_t *records;         /* owned: each object's rows, as the manifest counts them */
    int next;                 /* the object the next batch is read from */
} UnloadRead;

/*
 * MAXFILESIZE: half of `batch_bytes` (FERRY_UNLOAD_FILE_MIN at least), or the
 * configured one, which may not be more (a CONFIG error).
 */
bool unloader_open(const UnloadSettings *settings, uint64_t batch_bytes, Unloader **out, FerryError *err);
void unloader_close(Unloader *u);
/*
 * A table of about `est_bytes` is read by UNLOAD: the server is Redshift,
 * [unload] is given, and read_method is unload, or auto and the table at
 * least [unload] min_table_size.
 */
bool unload_wanted(const FerryConfig *config, const Dialect *dialect, double est_bytes);

/* An UNLOAD manifest's entries: each object's name below the stage's URL, and its rows. */
typedef struct UnloadManifest {
    int count;
    char **names;             /* owned */
    int64_t *records;         /* owned */
} UnloadManifest;

/*
 * Read the manifest Redshift writes ({"entries": [{"url": "s3://…", "meta":
 * {"record_count": N, …}}, …]}): every entry's url must lie below `base` and
 * carry a record_count that is a whole number, or the manifest is refused
 * (err names `what`). The UNLOAD read's own parser, here for its tests.
 */
bool unload_manifest_parse(const char *text, const char *base, const char *what, UnloadManifest *out,
                           FerryError *err);
void unload_manifest_free(UnloadManifest *m);

bool unload_begin(Unloader *u, SourceConn *conn, const RunTable *table, const PartitionWork *work,
                  UnloadRead *r, FerryError *err);
/* The next object's rows into `batch` (reset), counted against the manifest; `table` names it in errors. */
bool unload_next(UnloadRead *r, const TableShape *shape, RowBatch *batch, const char *table, FerryError *err);
bool unload_exhausted(const UnloadRead *r);
void unload_end(UnloadRead *r);
bool unload_remove(Unloader *u, const TableShape *shape, int64_t part, FerryError *err);
/* unload_remove of a table's every stage, on a store opened for it alone. */
bool unload_sweep(const UnloadSettings *settings, const TableShape *shape, FerryError *err);

#endif
