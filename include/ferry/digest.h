/*
 * include/ferry/digest.h — the hashes, MACs and encodings object stores sign and check bodies with (sinks/digest.c).
 */
#ifndef FERRY_DIGEST_H
#define FERRY_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-case hex of n bytes into out[2n + 1]. */
void digest_hex(const unsigned char *in, size_t n, char *out);
/* SHA-256 of the bytes, as lower-case hex. */
void digest_sha256_hex(const char *data, size_t len, char out[65]);
/* HMAC-SHA-256 of the NUL-terminated msg under key; out may be key. */
void digest_hmac_sha256(const unsigned char *key, size_t klen, const char *msg, unsigned char out[32]);
/* Base64 (with padding) of n bytes into out[4 * ((n + 2) / 3) + 1]. */
void digest_base64(const unsigned char *in, size_t n, char *out);
/* Decode base64 into out[cap]; false when it is not base64 or does not fit. */
bool digest_base64_decode(const char *in, unsigned char *out, size_t cap, size_t *len);
/* MD5 of the bytes, base64 (Content-MD5). */
void digest_md5_base64(const char *data, size_t len, char out[32]);
/* CRC-32C (Castagnoli) of the bytes, big-endian, base64 (x-amz-checksum-crc32c). */
void digest_crc32c_base64(const char *data, size_t len, char out[16]);

#endif
