/*
 * tests/unit/tap.h — a minimal TAP producer for the unit tests (read by prove).
 */
#ifndef FERRY_TAP_H
#define FERRY_TAP_H

#include <stdio.h>
#include <string.h>

extern int tap_count, tap_failed;

#define ok(cond, ...)                                                   \
    do {                                                                \
        int tap_ok_ = (cond) ? 1 : 0;                                   \
        tap_count++;                                                    \
        if (!tap_ok_)                                                   \
            tap_failed++;                                               \
        printf("%sok %d - ", tap_ok_ ? "" : "not ", tap_count);         \
        printf(__VA_ARGS__);                                            \
        printf("\n");                                                   \
        if (!tap_ok_)                                                   \
            printf("#   failed at %s:%d\n", __FILE__, __LINE__);        \
    } while (0)

#define is_str(got, expected, ...)                                      \
    do {                                                                \
        const char *tap_g_ = (got), *tap_e_ = (expected);               \
        int tap_same_ = tap_g_ && tap_e_ && strcmp(tap_g_, tap_e_) == 0; \
        ok(tap_same_, __VA_ARGS__);                                     \
        if (!tap_same_)                                                 \
            printf("#   got:      %s\n#   expected: %s\n", tap_g_ ? tap_g_ : "(null)", tap_e_); \
    } while (0)

#define is_num(got, expected, ...)                                      \
    do {                                                                \
        long long tap_g_ = (long long)(got), tap_e_ = (long long)(expected); \
        ok(tap_g_ == tap_e_, __VA_ARGS__);                              \
        if (tap_g_ != tap_e_)                                           \
            printf("#   got: %lld, expected: %lld\n", tap_g_, tap_e_);  \
    } while (0)

#define contains(haystack, needle, ...)                                 \
    do {                                                                \
        const char *tap_h_ = (haystack);                                \
        int tap_in_ = tap_h_ && strstr(tap_h_, (needle)) != NULL;        \
        ok(tap_in_, __VA_ARGS__);                                       \
        if (!tap_in_)                                                   \
            printf("#   \"%s\"\n#   does not contain \"%s\"\n", tap_h_ ? tap_h_ : "(null)", (needle)); \
    } while (0)

void test_config(void);
void test_budget(void);
void test_partition(void);
void test_format(void);
void test_retry(void);
void test_pool(void);
void test_document(void);
void test_segment(void);
void test_mem(void);
void test_compress(void);
void test_objects(void);
void test_batch(void);
void test_copyload(void);
void test_delta(void);
void test_physical(void);
void test_unload(void);
void test_files(void);

#endif
