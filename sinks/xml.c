/*
 * sinks/xml.c — the text of named elements, entities decoded, and escaping (xml.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/xml.h"

/* Decode XML's five entities and numeric references of [p, end) into out. */
static void xml_text(const char *p, const char *end, StrBuf *out)
{
    static const struct { const char *name; char c; } entities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    strbuf_add(out, "%s", "");
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        strbuf_add(out, "%.*s", (int)(stop - p), p);
        p = stop;
        if (p == end)
            break;
        bool done = false;
        for (size_t i = 0; i < sizeof entities / sizeof entities[0] && !done; i++) {
            size_t n = strlen(entities[i].name);
            if ((size_t)(end - p) >= n && memcmp(p, entities[i].name, n) == 0) {
                strbuf_add(out, "%c", entities[i].c);
                p += n;
                done = true;
            }
        }
        if (!done && end - p > 3 && p[1] == '#') {
            char *stop_num;
            unsigned long cp = p[2] == 'x' ? strtoul(p + 3, &stop_num, 16) : strtoul(p + 2, &stop_num, 10);
            if (stop_num < end && *stop_num == ';' && cp > 0 && cp <= 0x10FFFF) {
                unsigned char u[4];
                int n = cp < 0x80 ? (u[0] = (unsigned char)cp, 1)
                        : cp < 0x800 ? (u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 63)), 2)
                        : cp < 0x10000 ? (u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 63)),
                                          u[2] = (unsigned char)(0x80 | (cp & 63)), 3)
                                       : (u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 63)),
                                          u[2] = (unsigned char)(0x80 | (cp >> 6 & 63)), u[3] = (unsigned char)(0x80 | (cp & 63)), 4);
                strbuf_add(out, "%.*s", n, (const char *)u);
                p = stop_num + 1;
                done = true;
            }
        }
        if (!done) {
            strbuf_add(out, "&");
            p++;
        }
    }
}

bool xml_next(const char **pos, const char *tag, StrBuf *out)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *start = strstr(*pos, open);
    if (start == NULL)
        return false;
    start += strlen(open);
    const char *end = strstr(start, close);
    if (end == NULL)
        return false;
    out->len = 0;
    xml_text(start, end, out);
    *pos = end + strlen(close);
    return true;
}

void xml_escape(StrBuf *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': strbuf_add(out, "&amp;"); break;
        case '<': strbuf_add(out, "&lt;"); break;
        case '>': strbuf_add(out, "&gt;"); break;
        case '"': strbuf_add(out, "&quot;"); break;
        default: strbuf_add(out, "%c", *p); break;
        }
    }
}

