/*
 * sinks/http.c — one HTTP(S) connection over a libcurl easy handle (http.h).
 *
 * Design notes
 *  (1) libcurl is initialised once for the process (curl_global_init is not
 *      thread-safe) and every handle sets CURLOPT_NOSIGNAL, as threads need.
 *  (2) A body is sent from memory with its length: POSTFIELDS under the
 *      request's method. libcurl's own Content-Type and Expect headers are
 *      switched off, so the request is exactly what the store signed.
 *  (3) A stall is a transfer below 1 byte/s for FERRY_HTTP_STALL_S: a store
 *      that stops answering mid-body is given up on, as a source is.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "ferry/http.h"

struct Http {
    CURL *curl;
    const char *who;          /* borrowed */
    char *ca_file;            /* owned; NULL: the system's */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool http_open(const char *ca_file, const char *who, Http **out, FerryError *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "%s: libcurl cannot start: %s", who,
                           curl_easy_strerror(curl_init_result));
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return ferry_error(err, FERRY_ERR_SYSTEM, 0, "%s: libcurl cannot make a handle", who);
    Http *http = xcalloc(1, sizeof *http);
    http->curl = curl;
    http->who = who;
    http->ca_file = ca_file && *ca_file ? xstrdup(ca_file) : NULL;
    *out = http;
    return true;
}

void http_close(Http *http)
{
    if (http == NULL)
        return;
    curl_easy_cleanup(http->curl);
    free(http->ca_file);
    free(http);
}

void http_response_free(HttpResponse *response)
{
    free(response->body);
    memset(response, 0, sizeof *response);
}

typedef struct Transfer {
    Http *http;
    const HttpRequest *request;
    HttpResponse *response;
    FerryError *err;
    bool callback_failed;     /* on_data refused: err holds why */
} Transfer;

static void keep_body(HttpResponse *response, const char *data, size_t len)
{
    size_t room = FERRY_HTTP_BODY_MAX - response->len;
    if (len > room) {
        len = room;
        response->truncated = true;
    }
    if (len == 0)
        return;
    xgrow(&response->body, &response->cap, response->len + len + 1, FERRY_HTTP_BODY_MAX + 1);
    memcpy(response->body + response->len, data, len);
    response->len += len;
    response->body[response->len] = '\0';
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    Transfer *t = ctx;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(t->http->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->request->on_data != NULL && status >= 200 && status < 300) {
        if (!t->request->on_data(t->request->ctx, data, len, t->err)) {
            t->callback_failed = true;
            return 0; /* libcurl ends the transfer */
        }
        return len;
    }
    keep_body(t->response, data, len);
    return len;
}

bool http_header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return false;
    const char *v = line + nlen + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    snprintf(out, cap, "%.*s", (int)(end - v), v);
    return true;
}

long http_retry_after(const char *value)
{
    char *end;
    errno = 0;
    long s = strtol(value, &end, 10);
    return end != value && *end == '\0' && s >= 0 && errno == 0 && isdigit((unsigned char)*value) ? s : -1;
}

static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    Transfer *t = ctx;
    size_t len = size * n;
    char value[160];
    if (http_header_value(line, len, "ETag", t->response->etag, sizeof t->response->etag))
        return len;
    if (http_header_value(line, len, "Retry-After", value, sizeof value))
        t->response->retry_after_s = http_retry_after(value);
    return len;
}

bool http_do(Http *http, const HttpRequest *request, HttpResponse *response, FerryError *err)
{
    memset(response, 0, sizeof *response);
    response->retry_after_s = -1;
    CURL *curl = http->curl;
    curl_easy_reset(curl); /* keeps the connection, forgets the last request's options */
    struct curl_slist *headers = NULL;
    for (const char *const *h = request->headers; h != NULL && *h != NULL; h++)
        headers = curl_slist_append(headers, *h);
    /* (2) Only what the caller set goes out. */
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(headers, "Accept:");
    bool has_type = false;
    for (const char *const *h = request->headers; h != NULL && *h != NULL; h++)
        has_type |= strncasecmp(*h, "Content-Type:", 13) == 0;
    if (!has_type)
        headers = curl_slist_append(headers, "Content-Type:");

    Transfer t = {.http = http, .request = request, .response = response, .err = err};
    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)FERRY_HTTP_CONNECT_TIMEOUT_S);
    if (request->timeout_s > 0)
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)request->timeout_s);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L); /* (3) */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)FERRY_HTTP_STALL_S);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (http->ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, http->ca_file);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    if (strcmp(request->method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else if (strcmp(request->method, "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request->method);
    if (request->body != NULL || strcmp(request->method, "PUT") == 0 || strcmp(request->method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->body != NULL ? request->body : "");
    }

    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
    if (rc == CURLE_OK)
        return true;
    if (t.callback_failed)
        return false;
    ferry_error(err, FERRY_ERR_SINK, 0, "%s: %s %s failed: %s", http->who, request->method,
                "request", curl_easy_strerror(rc));
    /* A peer that cannot be trusted, or a URL that cannot work, will not get better. */
    err->retryable = rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CACERT_BADFILE &&
                     rc != CURLE_URL_MALFORMAT && rc != CURLE_UNSUPPORTED_PROTOCOL &&
                     rc != CURLE_SSL_CERTPROBLEM;
    return false;
}

void http_header(HttpHeaders *headers, const char *fmt, ...)
{
    if (headers->n >= FERRY_HTTP_HEADERS_MAX) {
        fprintf(stderr, "ferry: BUG: more than %d header lines for one request\n", FERRY_HTTP_HEADERS_MAX);
        abort();
    }
    StrBuf *line = &headers->line[headers->n];
    *line = (StrBuf){0};
    va_list ap;
    va_start(ap, fmt);
    strbuf_vadd(line, fmt, ap);
    va_end(ap);
    headers->argv[headers->n++] = line->text;
    headers->argv[headers->n] = NULL;
}

void http_headers_free(HttpHeaders *headers)
{
    for (int i = 0; i < headers->n; i++)
        free(headers->line[i].text);
    headers->n = 0;
    headers->argv[0] = NULL;
}

void http_uri_encode(StrBuf *out, const char *text, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '_' || c == '.' || c == '~'; /* RFC 3986, whatever the locale */
        if (unreserved || (keep_slash && c == '/'))
            strbuf_add(out, "%c", c);
        else
            strbuf_add(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
}
