/*
 * core/util.c — sizes ("64MB" and back), clocks, and the files secrets are kept in.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "ferry/common.h"

bool parse_size(const char *text, uint64_t *out)
{
    static const struct {
        const char *suffix;
        double factor;
    } units[] = {
        {"", 1},           {"b", 1},
        {"k", 1024.0},     {"kb", 1024.0},     {"kib", 1024.0},
        {"m", 1048576.0},  {"mb", 1048576.0},  {"mib", 1048576.0},
        {"g", 1073741824.0}, {"gb", 1073741824.0}, {"gib", 1073741824.0},
        {"t", 1099511627776.0}, {"tb", 1099511627776.0}, {"tib", 1099511627776.0},
    };
    char *end;
    double number = strtod(text, &end);
    if (end == text || !isfinite(number) || number < 0)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            double bytes = number * units[i].factor;
            if (bytes >= 18446744073709551615.0)
                return false;
            *out = (uint64_t)bytes;
            return true;
        }
    }
    return false;
}

const char *format_size(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

void utc_now_iso(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool host_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

size_t utf8_valid_prefix(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) { /* most text is ASCII: a word at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* The lead byte fixes the length and the range its second byte may take (RFC 3629, section 4). */
        size_t n;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            n = 2;
        else if (c >= 0xe0 && c <= 0xef)
            n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return i;
        if (i + n > len || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += n;
    }
    return len;
}

static atomic_bool secret_files_refused = true;

void secret_files_policy(bool refuse)
{
    atomic_store(&secret_files_refused, refuse);
}

bool secret_file_mode_ok(const char *path, unsigned mode, const char *what, FerryError *err)
{
    if ((mode & 077) == 0)
        return true;
    if (!atomic_load(&secret_files_refused)) {
        log_warn("%s may be read by other users (mode %03o): chmod 600 %s", what, mode & 0777, path);
        return true;
    }
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "%s may be read by other users (mode %03o), so it is refused: chmod 600 %s (or set "
                       "[ferry] secret_files = warn)",
                       what, mode & 0777, path);
}

bool secret_file_read(const char *path, char *out, size_t cap, FerryError *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, errno, "cannot read %s: %s", path, strerror(errno));
    struct stat st;
    char what[4200];
    snprintf(what, sizeof what, "%s holds a secret and", path);
    if (fstat(fileno(f), &st) == 0 && !secret_file_mode_ok(path, (unsigned)st.st_mode, what, err)) {
        fclose(f);
        return false;
    }
    char line[8192];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    bool fits = n > 0 && n < cap;
    if (fits) {
        memcpy(out, line, n);
        out[n] = '\0';
    }
    memset(line, 0, sizeof line);
    if (!fits)
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s is %s", path, n == 0 ? "empty" : "too long");
    return true;
}
