/*
 * include/ferry/files.h — local files for the sinks: errors that say whether a retry helps,
 * directories, and files that appear complete or not at all.
 *
 * `who` names the caller in messages ("dir sink", "mongo sink").
 */
#ifndef FERRY_FILES_H
#define FERRY_FILES_H

#include <stddef.h>

#include "ferry/common.h"

/* Fill err for errno `code` (domain FERRY_ERR_SINK): a full disk or quota, EIO and EINTR are retryable. */
bool file_error(FerryError *err, const char *who, int code, const char *what, const char *path);
/* write(2) all of data, through EINTR. */
bool file_write_all(int fd, const char *data, size_t len, const char *who, const char *path, FerryError *err);
/* mkdir -p. */
bool file_make_dir(const char *path, const char *who, FerryError *err);
/* fsync a directory, so the names created or renamed in it are durable. */
bool file_fsync_dir(const char *path, const char *who, FerryError *err);
/*
 * Write `data` as <dir>/<name>, complete or not at all: written to
 * <dir>/.<name>.tmp, fsynced, renamed, and the directory fsynced. A file of
 * that name is replaced.
 */
bool file_write_atomic(const char *dir, const char *name, const char *data, size_t len, const char *who,
                       FerryError *err);

#endif
