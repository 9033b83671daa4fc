/*
 * sinks/files.c — local files for the sinks (files.h): the dir sink's segments, the mongo sink's rejects.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/files.h"

bool file_error(FerryError *err, const char *who, int code, const char *what, const char *path)
{
    ferry_error(err, FERRY_ERR_SINK, code, "%s: %s %s: %s", who, what, path, strerror(code));
    if (err != NULL) /* a full disk or a quota may be freed; a missing permission will not */
        err->retryable = code == ENOSPC || code == EDQUOT || code == EIO || code == EINTR;
    return false;
}

bool file_write_all(int fd, const char *data, size_t len, const char *who, const char *path, FerryError *err)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return file_error(err, who, errno, "write", path);
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

bool file_make_dir(const char *path, const char *who, FerryError *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return file_error(err, who, errno, "cannot create directory", buf);
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return file_error(err, who, errno, "cannot create directory", buf);
    return true;
}

bool file_fsync_dir(const char *path, const char *who, FerryError *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return file_error(err, who, errno, "cannot open directory", path);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return file_error(err, who, saved, "fsync of directory", path);
    return true;
}

bool file_write_atomic(const char *dir, const char *name, const char *data, size_t len, const char *who,
                       FerryError *err)
{
    char path[4096], temp[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(temp, sizeof temp, "%s/.%s.tmp", dir, name);
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return file_error(err, who, errno, "cannot create", temp);
    bool ok = file_write_all(fd, data, len, who, temp, err);
    if (ok && fsync(fd) != 0)
        ok = file_error(err, who, errno, "fsync", temp);
    if (close(fd) != 0 && ok)
        ok = file_error(err, who, errno, "close", temp);
    if (ok && rename(temp, path) != 0)
        ok = file_error(err, who, errno, "rename", temp);
    if (!ok)
        unlink(temp);
    return ok && file_fsync_dir(dir, who, err);
}
