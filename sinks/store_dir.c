/*
 * sinks/store_dir.c — the directory store (store.h): an object is a file, <location>/<key>.
 *
 * Design notes
 *  (1) An object is a DurableFile (files.h): written to "<dir>/.<name>.tmp",
 *      fsynced, renamed to "<name>", and the directory fsynced; a file under
 *      its final name is complete and durable, and a crash leaves at most a
 *      temporary file, which the next write of that name truncates and
 *      takes over, and remove_all counts as a leftover of its key.
 *  (2) A key's folder ("<target>") is made at the first begin under it, and
 *      by remove_all (a table planned afresh has its folder, rows or none).
 *  (3) Objects are written past the page cache where they can be
 *      (direct_io, files.h): every object is fsynced at its commit, and
 *      buffered writes made the kernel copy each byte into the cache and
 *      write it back at that fsync, which took more CPU than ferry's own
 *      reading and formatting (profiling/bench.sh, read orders). The sink's
 *      1 MiB buffer drains in whole blocks; the object's tail goes through
 *      the cache, and the fsync makes both durable.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fault.h"
#include "ferry/files.h"
#include "ferry/store.h"

/* Bytes read from an object at once (verify reads objects back). */
#define STORE_READ_CHUNK (256u * 1024u)

struct Store {
    char *root;               /* owned: the directory */
    bool direct_io;           /* (3) */
    const char *who;          /* borrowed: the sink's name, for messages */
    char dir[4096];           /* the folder made last (note 2) */
    DurableFile file;         /* the object being written (fd -1: none) */
    int64_t partition;
};

typedef struct DirStoreSettings {
    char *path;
    bool direct_io;
} DirStoreSettings;

_Static_assert(sizeof(DirStoreSettings) <= sizeof(StoreSettings), "the dir store's settings fit");

const ConfigOption store_dir_options[] = {
    CONFIG_OPTION(DirStoreSettings, path, OPT_STRING, .required = true, .setup = true, .is_path = true, .writes = true,
                  .help = "directory to write into (created if missing)"),
    CONFIG_OPTION(DirStoreSettings, direct_io, OPT_BOOL, .default_value = "true",
                  .help = "write whole blocks past the page cache (O_DIRECT), where the filesystem allows"),
    {0},
};

static bool dir_open(const void *settings, const char *who, Store **out, FerryError *err)
{
    const char *location = ((const DirStoreSettings *)settings)->path;
    if (!file_make_dir(location, who, err))
        return false;
    Store *store = xcalloc(1, sizeof *store);
    store->root = xstrdup(location);
    store->direct_io = ((const DirStoreSettings *)settings)->direct_io;
    store->who = who;
    store->file.fd = -1;
    *out = store;
    return true;
}

static void dir_abort(Store *store)
{
    file_durable_abort(&store->file);
}

static void dir_close(Store *store)
{
    if (store == NULL)
        return;
    dir_abort(store);
    free(store->root);
    free(store);
}

/* "<root>/<folder>" and the name after it, for key "<folder>/<name>". */
static bool split_key(Store *store, const char *key, char *dir, size_t cap, const char **name, FerryError *err)
{
    const char *slash = strrchr(key, '/');
    *name = slash ? slash + 1 : key;
    if (slash == NULL)
        return file_path(dir, cap, store->who, err, "%s", store->root);
    return file_path(dir, cap, store->who, err, "%s/%.*s", store->root, (int)(slash - key), key);
}

static bool dir_begin(Store *store, const char *key, int64_t partition, FerryError *err)
{
    dir_abort(store);
    const char *name;
    char dir[4096];
    if (!split_key(store, key, dir, sizeof dir, &name, err))
        return false;
    if (strcmp(dir, store->dir) != 0) { /* (2) */
        if (!file_make_dir(dir, store->who, err))
            return false;
        snprintf(store->dir, sizeof store->dir, "%s", dir);
    }
    store->partition = partition;
    if (!file_durable_open(&store->file, dir, name, 0644, store->who, err)) /* output: its readers are others */
        return false;
    if (store->direct_io)
        file_durable_direct(&store->file); /* (3): where the filesystem refuses, the cache it is */
    return true;
}

static bool dir_write(Store *store, const char *data, size_t len, FerryError *err)
{
    return file_durable_write(&store->file, data, len, store->who, err);
}

static bool dir_commit(Store *store, FerryError *err)
{
    if (!file_durable_sync(&store->file, store->who, err))
        return false;
    if (fault_hit(FAULT_SINK_COMMIT, store->partition)) { /* fsynced, not yet visible */
        unlink(store->file.temp);
        ferry_error(err, FERRY_ERR_SINK, EIO, "%s: injected fault: %s: rename failed", store->who,
                    store->file.temp);
        err->retryable = true;
        return false;
    }
    return file_durable_publish(&store->file, store->who, err);
}

/*
 * Walk the folder of `prefix` ("<folder>/<start of names>"): fn gets each
 * entry's key and whether it is a leftover (".<name>.tmp", given as the key
 * it was to have). A folder that does not exist holds nothing.
 */
static bool walk(Store *store, const char *prefix,
                 bool (*fn)(Store *store, const char *dir, const char *entry, const char *key, bool leftover,
                            void *ctx, FerryError *err),
                 void *ctx, FerryError *err)
{
    const char *start;
    char dir[4096];
    if (!split_key(store, prefix, dir, sizeof dir, &start, err))
        return false;
    size_t folder_len = (size_t)(start - prefix);
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT || file_error(err, store->who, errno, "cannot read directory", dir);
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        bool leftover = name[0] == '.' && len > 5 && strcmp(name + len - 4, ".tmp") == 0;
        if (leftover) {
            name++;
            len -= 5;
        }
        if (len < strlen(start) || strncmp(name, start, strlen(start)) != 0)
            continue;
        char key[4096];
        ok = file_path(key, sizeof key, store->who, err, "%.*s%.*s", (int)folder_len, prefix, (int)len, name) &&
             fn(store, dir, e->d_name, key, leftover, ctx, err);
    }
    closedir(d);
    return ok;
}

typedef struct ListCtx {
    bool (*fn)(void *ctx, const char *key, uint64_t size, FerryError *err);
    void *ctx;
} ListCtx;

static bool list_one(Store *store, const char *dir, const char *entry, const char *key, bool leftover, void *ctx,
                     FerryError *err)
{
    ListCtx *l = ctx;
    if (leftover)
        return true;
    char path[4096];
    struct stat st;
    if (!file_path(path, sizeof path, store->who, err, "%s/%s", dir, entry))
        return false;
    if (stat(path, &st) != 0)
        return errno == ENOENT || file_error(err, store->who, errno, "cannot stat", path);
    return l->fn(l->ctx, key, (uint64_t)st.st_size, err);
}

static bool dir_list(Store *store, const char *prefix,
                     bool (*fn)(void *ctx, const char *key, uint64_t size, FerryError *err), void *ctx,
                     FerryError *err)
{
    ListCtx l = {fn, ctx};
    return walk(store, prefix, list_one, &l, err);
}

static bool dir_read(Store *store, const char *key,
                     bool (*fn)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx,
                     FerryError *err)
{
    char path[4096];
    if (!file_path(path, sizeof path, store->who, err, "%s/%s", store->root, key))
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return file_error(err, store->who, errno, "cannot open", path);
    char *buf = xmalloc(STORE_READ_CHUNK);
    bool ok = true;
    for (;;) {
        ssize_t n = read(fd, buf, STORE_READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            ok = file_error(err, store->who, errno, "cannot read", path);
        if (n <= 0 || !ok || !(ok = fn(ctx, buf, (size_t)n, err)))
            break;
    }
    free(buf);
    close(fd);
    return ok;
}

typedef struct RemoveCtx {
    bool (*match)(const char *key, const void *arg);
    const void *arg;
    int removed;
} RemoveCtx;

static bool remove_one(Store *store, const char *dir, const char *entry, const char *key, bool leftover, void *ctx,
                       FerryError *err)
{
    (void)leftover;
    RemoveCtx *r = ctx;
    if (!r->match(key, r->arg))
        return true;
    char path[4096];
    if (!file_path(path, sizeof path, store->who, err, "%s/%s", dir, entry))
        return false;
    if (unlink(path) != 0 && errno != ENOENT)
        return file_error(err, store->who, errno, "cannot remove", path);
    r->removed++;
    return true;
}

static bool dir_remove_all(Store *store, const char *prefix, bool (*match)(const char *key, const void *arg),
                           const void *arg, int *removed, FerryError *err)
{
    RemoveCtx r = {match, arg, 0};
    const char *start;
    char dir[4096];
    /* (2) The folder is made here too: a table planned with no rows still has its folder. */
    bool ok = split_key(store, prefix, dir, sizeof dir, &start, err) && file_make_dir(dir, store->who, err) &&
              walk(store, prefix, remove_one, &r, err);
    *removed = r.removed;
    if (ok && r.removed > 0) /* one fsync of the folder makes every removal durable */
        ok = file_fsync_dir(dir, store->who, err);
    return ok;
}

const StoreOps store_dir = {
    .name = "dir",
    .options = store_dir_options,
    .open = dir_open,
    .close = dir_close,
    .begin = dir_begin,
    .write = dir_write,
    .commit = dir_commit,
    .abort = dir_abort,
    .list = dir_list,
    .read = dir_read,
    .remove_all = dir_remove_all,
    /* no sweep: a leftover ".<name>.tmp" is taken over by the next write of <name> (note 1) */
};
