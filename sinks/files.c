/*
 * sinks/files.c — local files for the sinks (files.h): the dir sink's segments, the mongo sink's rejects.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
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

bool file_path(char *out, size_t cap, const char *who, FerryError *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < cap)
        return true;
    return ferry_error(err, FERRY_ERR_CONFIG, ENAMETOOLONG, "%s: a path of %d bytes is longer than the %zu "
                       "ferry allows: %.60s…", who, n, cap - 1, out);
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
    if (!file_path(buf, sizeof buf, who, err, "%s", path))
        return false;
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

bool file_durable_open(DurableFile *file, const char *dir, const char *name, mode_t mode, const char *who,
                       FerryError *err)
{
    file->fd = -1;
    file->direct = false;
    if (!file_path(file->dir, sizeof file->dir, who, err, "%s", dir) ||
        !file_path(file->path, sizeof file->path, who, err, "%s/%s", dir, name) ||
        !file_path(file->temp, sizeof file->temp, who, err, "%s/.%s.tmp", dir, name))
        return false;
    file->fd = open(file->temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (file->fd < 0)
        return file_error(err, who, errno, "cannot create", file->temp);
    return true;
}

static bool set_direct(DurableFile *file, bool on)
{
    int flags = fcntl(file->fd, F_GETFL);
    if (flags < 0 || fcntl(file->fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) != 0)
        return false;
    file->direct = on;
    return true;
}

bool file_durable_direct(DurableFile *file)
{
    return file->fd >= 0 && set_direct(file, true);
}

bool file_durable_write(DurableFile *file, const char *data, size_t len, const char *who, FerryError *err)
{
    if (file->direct && ((uintptr_t)data % FERRY_DIRECT_IO_ALIGN != 0 || len % FERRY_DIRECT_IO_ALIGN != 0))
        set_direct(file, false); /* not whole blocks: this write and those after it go through the cache */
    while (file->direct && len > 0) {
        ssize_t n = write(file->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EINVAL) { /* the filesystem takes no such write after all */
            set_direct(file, false);
            break;
        }
        if (n < 0)
            return file_error(err, who, errno, "write", file->temp);
        data += n;
        len -= (size_t)n;
        if ((size_t)n % FERRY_DIRECT_IO_ALIGN != 0) /* a short write left the rest unaligned */
            set_direct(file, false);
    }
    return file_write_all(file->fd, data, len, who, file->temp, err);
}

bool file_durable_sync(DurableFile *file, const char *who, FerryError *err)
{
    bool ok = true;
    if (fsync(file->fd) != 0)
        ok = file_error(err, who, errno, "fsync", file->temp);
    if (close(file->fd) != 0 && ok)
        ok = file_error(err, who, errno, "close", file->temp);
    file->fd = -1;
    if (!ok)
        unlink(file->temp);
    return ok;
}

bool file_durable_publish(DurableFile *file, const char *who, FerryError *err)
{
    if (rename(file->temp, file->path) != 0) {
        int code = errno;
        unlink(file->temp);
        return file_error(err, who, code, "rename", file->temp);
    }
    return file_fsync_dir(file->dir, who, err);
}

bool file_durable_commit(DurableFile *file, const char *who, FerryError *err)
{
    return file_durable_sync(file, who, err) && file_durable_publish(file, who, err);
}

void file_durable_abort(DurableFile *file)
{
    if (file->fd < 0)
        return;
    close(file->fd);
    file->fd = -1;
    unlink(file->temp);
}

bool file_write_atomic(const char *dir, const char *name, const char *data, size_t len, const char *who,
                       FerryError *err)
{
    DurableFile file;
    if (!file_durable_open(&file, dir, name, 0644, who, err)) /* a metrics file: a scraper reads it */
        return false;
    if (!file_durable_write(&file, data, len, who, err)) {
        file_durable_abort(&file);
        return false;
    }
    return file_durable_commit(&file, who, err);
}
