/*
 * include/ferry/files.h — local files for the sinks: errors that say whether a retry helps,
 * directories, and files that appear complete or not at all.
 *
 * `who` names the caller in messages ("dir sink", "mongo sink").
 */
#ifndef FERRY_FILES_H
#define FERRY_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "ferry/common.h"

/* Fill err for errno `code` (domain FERRY_ERR_SINK): a full disk or quota, EIO and EINTR are retryable. */
bool file_error(FerryError *err, const char *who, int code, const char *what, const char *path);
/*
 * Format a path into out[cap]: false, with an error that names the start of
 * the path, when it does not fit (a cut path would name another file).
 */
bool file_path(char *out, size_t cap, const char *who, FerryError *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* write(2) all of data, through EINTR. */
bool file_write_all(int fd, const char *data, size_t len, const char *who, const char *path, FerryError *err);
/* mkdir -p. */
bool file_make_dir(const char *path, const char *who, FerryError *err);
/* fsync a directory, so the names created or renamed in it are durable. */
bool file_fsync_dir(const char *path, const char *who, FerryError *err);
/*
 * A file that appears complete or not at all, written in pieces: open makes
 * <dir>/.<name>.tmp, writes go to it, commit fsyncs it, renames it to
 * <dir>/<name> (replacing a file of that name) and fsyncs the directory;
 * abort removes it. Only the bytes of one write are ever held.
 */
typedef struct DurableFile {
    int fd;                   /* -1: not open */
    bool direct;              /* writes bypass the page cache (file_durable_direct) */
    char dir[4096];
    char path[4096];
    char temp[4096];
} DurableFile;

/* `mode`: the file's permissions (less the umask): 0644 for output others read, 0600 for what only ferry's user may. */
bool file_durable_open(DurableFile *file, const char *dir, const char *name, mode_t mode, const char *who,
                       FerryError *err);
/*
 * Write the opened, empty file's whole blocks past the page cache (O_DIRECT):
 * a write of FERRY_DIRECT_IO_ALIGN-aligned memory and length goes straight to
 * the device, which spares the kernel copying it into the cache and writing
 * it back at the fsync. The first write that is not whole blocks (the tail,
 * or a compressor's pieces) ends it for the file, as does a filesystem that
 * refuses it (tmpfs): those bytes, and all after them, go through the cache.
 * False when the file cannot be written so at all.
 */
bool file_durable_direct(DurableFile *file);
bool file_durable_write(DurableFile *file, const char *data, size_t len, const char *who, FerryError *err);
bool file_durable_commit(DurableFile *file, const char *who, FerryError *err);
/* commit in its two steps: the bytes durable (fsync, close), then the name (rename, fsync of the folder). */
bool file_durable_sync(DurableFile *file, const char *who, FerryError *err);
bool file_durable_publish(DurableFile *file, const char *who, FerryError *err);
/* Close and remove the temporary file, if one is open. */
void file_durable_abort(DurableFile *file);

/* Write `data` as <dir>/<name>, complete or not at all (a DurableFile of one write). */
bool file_write_atomic(const char *dir, const char *name, const char *data, size_t len, const char *who,
                       FerryError *err);

#endif
