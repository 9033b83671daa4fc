/*
 * core/mem.c — allocation that cannot fail quietly, and growing buffers that stop at a ceiling.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"

static void out_of_memory(size_t size)
{
    /* Nothing can be done safely without memory: say so and stop. The state
     * file only ever holds committed checkpoints, so a rerun resumes. */
    fprintf(stderr, "ferry: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xmalloc_aligned(size_t align, size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1) != 0)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

bool xgrow(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap)
        return true;
    if (need > max)
        return false;
    size_t grown = *cap ? *cap : 256;
    while (grown < need)
        grown *= 2;
    if (grown > max)
        grown = max;
    *buf = xrealloc(*buf, grown);
    *cap = grown;
    return true;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

bool strbuf_add(StrBuf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = strbuf_vadd(buf, fmt, ap);
    va_end(ap);
    return ok;
}

bool strbuf_vadd(StrBuf *buf, const char *fmt, va_list args)
{
    size_t max = buf->max ? buf->max : FERRY_STRBUF_MAX;
    for (;;) {
        if (buf->failed)
            return false;
        size_t room = buf->cap - buf->len;
        va_list ap;
        va_copy(ap, args);
        int n = vsnprintf(buf->text ? buf->text + buf->len : NULL, buf->text ? room : 0, fmt, ap);
        va_end(ap);
        if (buf->text != NULL && (size_t)n < room) {
            buf->len += (size_t)n;
            return true;
        }
        if (n < 0 || buf->len + (size_t)n + 1 > max) {
            buf->failed = true; /* sticky: the text stays what it was, and says nothing more */
            if (buf->text == NULL)
                buf->text = xcalloc(1, 1);
            buf->text[buf->len] = '\0'; /* vsnprintf wrote what fitted of the addition */
            return false;
        }
        buf->cap = (buf->cap ? buf->cap * 2 : 256) + (size_t)n;
        if (buf->cap > max)
            buf->cap = max;
        buf->text = xrealloc(buf->text, buf->cap);
        buf->text[buf->len] = '\0';
    }
}
