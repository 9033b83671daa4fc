/*
 * include/ferry/http.h — one HTTP(S) connection for the object stores (sinks/http.c, over libcurl).
 *
 * A store holds one Http per handle (one thread); the connection is kept
 * alive between requests. A request sends its whole body with a
 * Content-Length (never chunked: signatures cover the body's hash), and the
 * response body goes either to a bounded buffer (XML answers and every
 * error) or, for a 2xx answer with on_data set, to that callback as it
 * arrives (objects read back), so no response is ever held whole.
 *
 * What it promises:
 *  - TLS peers are verified (against ca_file when given); only http and
 *    https are spoken, and redirects are not followed.
 *  - A transport failure (refused, reset, timed out, a stall of 60 s with
 *    no byte) returns false with err retryable; any HTTP answer returns
 *    true with the status in the response: the caller decides what a status
 *    means.
 *  - Nothing of a request's headers (which may carry a signature or a
 *    token) is ever put in a message.
 */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/common.h"

typedef struct Http Http;

typedef struct HttpRequest {
    const char *method;           /* GET, PUT, POST, DELETE, HEAD */
    const char *url;
    const char *const *headers;   /* "Name: value" lines, NULL-terminated; NULL: none */
    const char *body;             /* sent with Content-Length; NULL: no body */
    size_t body_len;
    /* A 2xx answer's body goes here as it arrives; NULL: into the response's buffer. */
    bool (*on_data)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;
    int timeout_s;                /* the whole request, connecting included; 0: no bound but the stall's */
} HttpRequest;

typedef struct HttpResponse {
    long status;
    char *body;                   /* owned, NUL-terminated; at most FERRY_HTTP_BODY_MAX bytes kept */
    size_t len, cap;
    bool truncated;               /* the body was longer than what is kept */
    char etag[160];               /* the ETag header, quotes and all; "" if none */
    long retry_after_s;           /* Retry-After in seconds; -1 if none */
} HttpResponse;

/* The header lines of one request, built up for it and freed after it; at most FERRY_HTTP_HEADERS_MAX. */
typedef struct HttpHeaders {
    StrBuf line[FERRY_HTTP_HEADERS_MAX];
    const char *argv[FERRY_HTTP_HEADERS_MAX + 1]; /* NULL-terminated: what HttpRequest.headers takes */
    int n;
} HttpHeaders;

/* Add the line "Name: value" (printf-style); a line past the most a request takes is a bug, and stops ferry. */
void http_header(HttpHeaders *headers, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void http_headers_free(HttpHeaders *headers);

/* A 2xx answer. */
static inline bool http_answered_ok(const HttpResponse *response)
{
    return response->status >= 200 && response->status < 300;
}

/* `who` names the store in messages ("s3 sink"); ca_file may be NULL. */
bool http_open(const char *ca_file, const char *who, Http **out, FerryError *err);
void http_close(Http *http);

/* Send one request and take its answer; see the promises above. */
bool http_do(Http *http, const HttpRequest *request, HttpResponse *response, FerryError *err);
void http_response_free(HttpResponse *response);

/* RFC 3986 percent-encoding of `len` bytes into a StrBuf; '/' kept when keep_slash. */
void http_uri_encode(StrBuf *out, const char *text, size_t len, bool keep_slash);

/* The value of header `name` in a "Name: value\r\n" line of len bytes, trimmed, into out[cap] (cut to fit); false if another header. */
bool http_header_value(const char *line, size_t len, const char *name, char *out, size_t cap);
/* A Retry-After value as seconds: a whole number of them; -1 for anything else (an HTTP date, a sign, too many). */
long http_retry_after(const char *value);

#endif
