/*
 * sinks/store_s3.c — the S3 store (store.h): objects in a bucket of Amazon S3 or of an S3-compatible store.
 *
 * Design notes
 *  (1) An object's S3 key is "<prefix>/<key>" (no prefix: "<key>"). The
 *      URL is path-style ("<endpoint>/<bucket>/<key>") when an endpoint is
 *      given, virtual-host style ("https://<bucket>.s3.<region>.amazonaws.com")
 *      on AWS; `addressing` chooses otherwise.
 *  (2) Upload: bytes gather in one part buffer of part_size bytes (auto: a
 *      share of the memory budget, and never so small that the largest
 *      batch could need more than S3's 10,000 parts; objects_part_size). An
 *      object that fits is one PutObject at commit; a larger one is a multipart
 *      upload: CreateMultipartUpload when the first part is full, one
 *      UploadPart per part, CompleteMultipartUpload at commit. Nothing is
 *      an object before that answer, and the answer is read: a 200 whose
 *      body is an <Error> is a failure.
 *  (3) Every request is signed (AWS Signature Version 4) over its payload's
 *      SHA-256 (ferry holds the whole part), and a body carries the checksum
 *      chosen (Content-MD5 by default), so the store refuses bytes damaged
 *      on the way instead of keeping them.
 *  (4) Credentials and the region are found as AWS users expect (aws.h,
 *      sinks/aws.c), and temporary ones renewed before each request when
 *      their time has come.
 *  (5) Leftovers: an upload a killed run left open is no object, but it is
 *      stored (and billed); remove_all lists the open uploads under the
 *      prefix and aborts those whose key matches, as well as removing the
 *      matching objects; sweep, which the blob sink calls when it first
 *      writes a partition, aborts them alone. abort aborts the handle's own
 *      upload at once.
 *  (6) An answer's status decides: 5xx, 429 and the codes SlowDown,
 *      RequestTimeout, InternalError are worth retrying (the run's retry
 *      policy replays the segment); any other refusal fails the table with
 *      S3's code and message and the bucket and key, never a credential.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ferry/aws.h"
#include "ferry/digest.h"
#include "ferry/fault.h"
#include "ferry/http.h"
#include "ferry/objects.h"
#include "ferry/store.h"
#include "ferry/xml.h"

/* S3's limits: parts of a multipart upload, the smallest part but the last, the largest. */
#define S3_PARTS_MAX 10000
#define S3_PART_MIN (5u << 20)
#define S3_PART_MAX (5ull << 30)

enum { ADDRESSING_AUTO = 0, ADDRESSING_PATH, ADDRESSING_VIRTUAL };
enum { CHECKSUM_MD5 = 0, CHECKSUM_CRC32C, CHECKSUM_NONE };

typedef struct S3Settings {
    char *bucket;
    char *prefix;
    char *region;
    char *endpoint;
    int addressing;
    char *access_key_id;
    char *secret_access_key;
    char *secret_access_key_file;
    char *session_token;
    char *session_token_file;
    char *profile;
    int checksum;
    uint64_t part_size;
    char *ca_file;
} S3Settings;

_Static_assert(sizeof(S3Settings) <= sizeof(StoreSettings), "the S3 store's settings fit");

static const char *const addressing_names[] = {"auto", "path", "virtual", NULL};
static const char *const checksum_names[] = {"md5", "crc32c", "none", NULL};

const ConfigOption store_s3_options[] = {
    CONFIG_OPTION(S3Settings, bucket, OPT_STRING, .required = true, .setup = true, .help = "the bucket"),
    CONFIG_OPTION(S3Settings, prefix, OPT_STRING, .default_value = "", .setup = true,
                  .help = "key prefix: objects are <prefix>/<target>/<segment>"),
    CONFIG_OPTION(S3Settings, region, OPT_STRING,
                  .help = "region; default AWS_REGION, AWS_DEFAULT_REGION, the profile's, or us-east-1"),
    CONFIG_OPTION(S3Settings, endpoint, OPT_STRING, .setup = true,
                  .help = "URL of an S3-compatible store (https://..., or http:// explicitly); default AWS"),
    CONFIG_OPTION(S3Settings, addressing, OPT_ENUM, .default_value = "auto", .choices = addressing_names,
                  .help = "path (<endpoint>/<bucket>/key) or virtual (<bucket>.<host>); auto: path with an endpoint"),
    CONFIG_OPTION(S3Settings, access_key_id, OPT_STRING, .help = "access key id (else the environment, then the profile)"),
    CONFIG_OPTION(S3Settings, secret_access_key, OPT_STRING, .secret = true,
                  .help = "secret access key; prefer secret_access_key_file"),
    CONFIG_OPTION(S3Settings, secret_access_key_file, OPT_STRING, .is_path = true,
                  .help = "a file holding the secret access key (systemd LoadCredential)"),
    CONFIG_OPTION(S3Settings, session_token, OPT_STRING, .secret = true, .help = "session token of temporary credentials"),
    CONFIG_OPTION(S3Settings, session_token_file, OPT_STRING, .is_path = true,
                  .help = "a file holding the session token"),
    CONFIG_OPTION(S3Settings, profile, OPT_STRING, .help = "profile of the shared files; default AWS_PROFILE or default"),
    CONFIG_OPTION(S3Settings, checksum, OPT_ENUM, .default_value = "md5", .choices = checksum_names,
                  .help = "checksum the store verifies on every body: md5 (Content-MD5), crc32c, none"),
    CONFIG_OPTION(S3Settings, part_size, OPT_SIZE, .default_value = "auto", .allow_auto = true, .min = S3_PART_MIN,
                  .help = "multipart part size (at least 5MiB); auto: from the memory budget; one buffer of it per worker"),
    CONFIG_OPTION(S3Settings, ca_file, OPT_STRING, .is_path = true,
                  .help = "CA certificates to verify the store by; default the system's"),
    {0},
};

typedef struct PartTag {
    char etag[160];
    char crc32c[16];
} PartTag;

struct Store {
    S3Settings settings;      /* strings borrowed from the configuration */
    const char *who;          /* borrowed */
    Http *http;
    AwsAuth auth;             /* the credentials, the region */
    char base[600];           /* scheme://authority, for URLs */
    char host[512];           /* the Host header signed */
    char path_base[600];      /* "/<bucket>" (path style) or "" (virtual) */
    /* the object being written */
    char key[4096];           /* its S3 key */
    int64_t partition;
    bool in_object;
    char *part;               /* owned: part_size bytes */
    size_t part_len, part_cap;
    int parts;                /* parts uploaded */
    PartTag *tags;            /* owned: one per uploaded part */
    size_t tags_cap;
    char upload_id[1024];     /* "" before the first part */
};

/* ---- requests: URL, signature, answer (notes 1, 3, 6) ---- */

typedef struct S3Call {
    const char *method;
    const char *key;          /* the S3 key, or NULL for the bucket */
    const char *query;        /* canonical: sorted, encoded; "" or NULL for none */
    const char *body;
    size_t body_len;
    bool checksum;            /* send the body's checksum (objects and parts) */
    const char *extra_name;   /* one more signed header, lower-case; NULL: none */
    const char *extra_value;
    bool (*on_data)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;
} S3Call;

typedef struct Header {
    const char *name;         /* lower-case */
    const char *value;
} Header;

static int header_cmp(const void *a, const void *b)
{
    return strcmp(((const Header *)a)->name, ((const Header *)b)->name);
}

static bool s3_request(Store *store, const S3Call *call, HttpResponse *response, FerryError *err)
{
    if (!aws_credentials_fresh(&store->auth, err)) {
        memset(response, 0, sizeof *response);
        return false;
    }
    /* The canonical URI: the key encoded once, '/' kept. */
    StrBuf path = {0};
    strbuf_add(&path, "%s/", store->path_base);
    if (call->key != NULL)
        http_uri_encode(&path, call->key, strlen(call->key), true);
    const char *query = call->query ? call->query : "";

    char payload_hash[65], md5[32] = "", crc[16] = "";
    digest_sha256_hex(call->body ? call->body : "", call->body_len, payload_hash);
    if (call->checksum && store->settings.checksum == CHECKSUM_MD5)
        digest_md5_base64(call->body ? call->body : "", call->body_len, md5);
    if (call->checksum && store->settings.checksum == CHECKSUM_CRC32C)
        digest_crc32c_base64(call->body ? call->body : "", call->body_len, crc);

    char amz_date[20], day[9];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    memcpy(day, amz_date, 8);
    day[8] = '\0';

    Header headers[8];
    int n = 0;
    headers[n++] = (Header){"host", store->host};
    headers[n++] = (Header){"x-amz-content-sha256", payload_hash};
    headers[n++] = (Header){"x-amz-date", amz_date};
    if (store->auth.cred.token[0])
        headers[n++] = (Header){"x-amz-security-token", store->auth.cred.token};
    if (md5[0])
        headers[n++] = (Header){"content-md5", md5};
    if (crc[0])
        headers[n++] = (Header){"x-amz-checksum-crc32c", crc};
    if (call->extra_name != NULL)
        headers[n++] = (Header){call->extra_name, call->extra_value};
    qsort(headers, (size_t)n, sizeof headers[0], header_cmp);

    StrBuf canonical = {0}, signed_names = {0};
    strbuf_add(&canonical, "%s\n%s\n%s\n", call->method, path.text, query);
    for (int i = 0; i < n; i++) {
        strbuf_add(&canonical, "%s:%s\n", headers[i].name, headers[i].value);
        strbuf_add(&signed_names, "%s%s", i ? ";" : "", headers[i].name);
    }
    strbuf_add(&canonical, "\n%s\n%s", signed_names.text, payload_hash);
    char canonical_hash[65];
    digest_sha256_hex(canonical.text, canonical.len, canonical_hash);

    char scope[160], to_sign[400];
    snprintf(scope, sizeof scope, "%s/%s/s3/aws4_request", day, store->auth.region);
    snprintf(to_sign, sizeof to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, canonical_hash);
    char secret_key[300];
    snprintf(secret_key, sizeof secret_key, "AWS4%s", store->auth.cred.secret);
    unsigned char k[32], sig[32];
    digest_hmac_sha256((const unsigned char *)secret_key, strlen(secret_key), day, k);
    digest_hmac_sha256(k, 32, store->auth.region, k);
    digest_hmac_sha256(k, 32, "s3", k);
    digest_hmac_sha256(k, 32, "aws4_request", k);
    digest_hmac_sha256(k, 32, to_sign, sig);
    char sig_hex[65];
    digest_hex(sig, 32, sig_hex);
    memset(secret_key, 0, sizeof secret_key);
    memset(k, 0, sizeof k);

    /* The lines sent: every signed header, the authorization, and the body's type. */
    HttpHeaders lines = {0};
    for (int i = 0; i < n; i++)
        http_header(&lines, "%s: %s", headers[i].name, headers[i].value);
    http_header(&lines, "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                store->auth.cred.id, scope, signed_names.text, sig_hex);
    if (call->body != NULL)
        http_header(&lines, "Content-Type: %s", "application/octet-stream");

    StrBuf url = {0};
    strbuf_add(&url, "%s%s%s%s", store->base, path.text, query[0] ? "?" : "", query);
    HttpRequest request = {.method = call->method, .url = url.text, .headers = lines.argv, .body = call->body,
                           .body_len = call->body_len, .on_data = call->on_data, .ctx = call->ctx};
    bool ok = http_do(store->http, &request, response, err);
    http_headers_free(&lines);
    free(url.text);
    free(path.text);
    free(canonical.text);
    free(signed_names.text);
    return ok;
}

/*
 * (6) A failed answer as an error: S3's code and message, the request, the
 * bucket and key; whether retrying can help. Returns false.
 */
static bool s3_failed(Store *store, const char *what, const char *key, const HttpResponse *response,
                      FerryError *err)
{
    char c[128], message[400];
    objects_answer_error(response, c, sizeof c, message, sizeof message);
    ferry_error(err, FERRY_ERR_SINK, 0, "%s: %s s3://%s/%s: HTTP %ld%s%s%s%s", store->who, what,
                store->settings.bucket, key ? key : "", response->status, c[0] ? " " : "", c, message[0] ? ": " : "",
                message);
    err->retryable = response->status >= 500 || response->status == 429 || strcmp(c, "SlowDown") == 0 ||
                     strcmp(c, "RequestTimeout") == 0 || strcmp(c, "InternalError") == 0 ||
                     strcmp(c, "ServiceUnavailable") == 0;
    if (response->status == 403 || response->status == 404 || strcmp(c, "NoSuchBucket") == 0)
        err->retryable = false;
    if (err->retryable && response->retry_after_s > 0)
        err->retry_after_s = (int)(response->retry_after_s < 3600 ? response->retry_after_s : 3600);
    return false;
}

/* One call whose answer must be 2xx; the body is left in response for the caller. */
static bool s3_call(Store *store, const S3Call *call, const char *what, HttpResponse *response, FerryError *err)
{
    if (!s3_request(store, call, response, err)) {
        ferry_error_prefix(err, "s3://%s/%s", store->settings.bucket, call->key ? call->key : "");
        return false;
    }
    if (!http_answered_ok(response)) {
        s3_failed(store, what, call->key, response, err);
        http_response_free(response);
        return false;
    }
    return true;
}

/* ---- the part size, open, close ---- */

/* (2) The part size the budget decides, or the configured one, grown to S3's part limit. */
static void s3_fit(void *settings, uint64_t budget)
{
    S3Settings *s = settings;
    s->part_size = objects_part_size(s->part_size, budget, S3_PART_MIN, S3_PART_MAX, S3_PARTS_MAX);
}

/* The part size, fitted or not (0: auto with no budget known, the least). */
static uint64_t part_size(const S3Settings *s)
{
    return s->part_size > 0 ? s->part_size : S3_PART_MIN;
}


/* (1) Where requests go: the endpoint's scheme and authority, and the bucket in the path or the host. */
static bool s3_locate(Store *store, FerryError *err)
{
    const S3Settings *s = &store->settings;
    bool virtual_host = s->addressing == ADDRESSING_VIRTUAL ||
                        (s->addressing == ADDRESSING_AUTO && (s->endpoint == NULL || *s->endpoint == '\0'));
    char authority[400];
    const char *scheme = "https";
    if (s->endpoint != NULL && *s->endpoint) {
        const char *e = s->endpoint;
        if (strncmp(e, "https://", 8) == 0)
            e += 8;
        else if (strncmp(e, "http://", 7) == 0)
            e += 7, scheme = "http";
        else
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s: endpoint \"%s\" must start with https:// (or http:// for a plain one)",
                               store->who, s->endpoint);
        size_t n = strcspn(e, "/");
        if (n == 0 || n >= sizeof authority || e[n + (e[n] == '/')] != '\0')
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s: endpoint \"%s\" must be scheme://host[:port], without a path",
                               store->who, s->endpoint);
        snprintf(authority, sizeof authority, "%.*s", (int)n, e);
    } else {
        snprintf(authority, sizeof authority, "s3.%s.amazonaws.com", store->auth.region);
    }
    if (virtual_host) {
        snprintf(store->host, sizeof store->host, "%s.%s", s->bucket, authority);
        store->path_base[0] = '\0';
    } else {
        snprintf(store->host, sizeof store->host, "%s", authority);
        StrBuf b = {0};
        strbuf_add(&b, "/");
        http_uri_encode(&b, s->bucket, strlen(s->bucket), false);
        snprintf(store->path_base, sizeof store->path_base, "%s", b.text);
        free(b.text);
    }
    snprintf(store->base, sizeof store->base, "%s://%s", scheme, store->host);
    return true;
}

static bool s3_open(const void *settings, const char *who, Store **out, FerryError *err)
{
    *out = NULL;
    Store *store = xcalloc(1, sizeof *store);
    store->settings = *(const S3Settings *)settings;
    store->who = who;
    const S3Settings *s = &store->settings;
    store->auth = (AwsAuth){.config = {s->access_key_id, s->secret_access_key, s->secret_access_key_file,
                                       s->session_token, s->session_token_file, s->profile, s->region},
                            .who = who};
    aws_region(&store->auth);
    bool ok = s3_locate(store, err) && http_open(store->settings.ca_file, who, &store->http, err);
    store->auth.http = store->http;
    if (!ok || !aws_credentials_find(&store->auth, err)) {
        http_close(store->http);
        memset(&store->auth.cred, 0, sizeof store->auth.cred);
        free(store);
        return false;
    }
    store->part_cap = (size_t)part_size(&store->settings);
    log_debug("%s: bucket %s at %s, region %s, credentials from %s, parts of %zu bytes", who,
              store->settings.bucket, store->base, store->auth.region, store->auth.cred.from, store->part_cap);
    *out = store;
    return true;
}

static void s3_abort(Store *store);

static void s3_close(Store *store)
{
    if (store == NULL)
        return;
    s3_abort(store);
    http_close(store->http);
    free(store->part);
    free(store->tags);
    memset(&store->auth.cred, 0, sizeof store->auth.cred);
    free(store);
}

/* ---- writing an object (note 2) ---- */

static bool s3_begin(Store *store, const char *key, int64_t partition, FerryError *err)
{
    s3_abort(store);
    if (!objects_name(store->settings.prefix, key, store->key, sizeof store->key, store->who, err))
        return false;
    if (store->part == NULL)
        store->part = xmalloc(store->part_cap);
    store->part_len = 0;
    store->parts = 0;
    store->upload_id[0] = '\0';
    store->partition = partition;
    store->in_object = true;
    return true;
}

static bool start_upload(Store *store, FerryError *err)
{
    S3Call call = {.method = "POST", .key = store->key, .query = "uploads="};
    if (store->settings.checksum == CHECKSUM_CRC32C)
        call.extra_name = "x-amz-checksum-algorithm", call.extra_value = "CRC32C";
    HttpResponse response;
    if (!s3_call(store, &call, "CreateMultipartUpload", &response, err))
        return false;
    StrBuf id = {0};
    const char *pos = response.body ? response.body : "";
    bool found = xml_next(&pos, "UploadId", &id) && id.len > 0 && id.len < sizeof store->upload_id;
    if (found)
        memcpy(store->upload_id, id.text, id.len + 1);
    else
        ferry_error(err, FERRY_ERR_SINK, 0, "%s: CreateMultipartUpload s3://%s/%s: the answer holds no UploadId",
                    store->who, store->settings.bucket, store->key);
    free(id.text);
    http_response_free(&response);
    return found;
}

/* "partNumber=N&uploadId=ID": the canonical query of a part (or, with N 0, of the upload). */
static char *upload_query(const Store *store, int part)
{
    StrBuf q = {0};
    if (part > 0)
        strbuf_add(&q, "partNumber=%d&", part);
    strbuf_add(&q, "uploadId=");
    http_uri_encode(&q, store->upload_id, strlen(store->upload_id), false);
    return q.text;
}

static bool upload_part(Store *store, FerryError *err)
{
    if (store->upload_id[0] == '\0' && !start_upload(store, err))
        return false;
    if (store->parts >= S3_PARTS_MAX)
        return ferry_error(err, FERRY_ERR_SINK, 0,
                           "%s: s3://%s/%s would need more than %d parts of %zu bytes: raise part_size",
                           store->who, store->settings.bucket, store->key, S3_PARTS_MAX, store->part_cap);
    int number = store->parts + 1;
    char *query = upload_query(store, number);
    S3Call call = {.method = "PUT", .key = store->key, .query = query, .body = store->part,
                   .body_len = store->part_len, .checksum = true};
    HttpResponse response;
    bool ok = s3_call(store, &call, "UploadPart", &response, err);
    free(query);
    if (!ok)
        return false;
    if ((size_t)number > store->tags_cap) {
        store->tags_cap = store->tags_cap ? store->tags_cap * 2 : 16;
        store->tags = xrealloc(store->tags, store->tags_cap * sizeof *store->tags);
    }
    PartTag *tag = &store->tags[number - 1];
    memset(tag, 0, sizeof *tag);
    snprintf(tag->etag, sizeof tag->etag, "%s", response.etag);
    if (store->settings.checksum == CHECKSUM_CRC32C)
        digest_crc32c_base64(store->part, store->part_len, tag->crc32c);
    http_response_free(&response);
    if (tag->etag[0] == '\0')
        return ferry_error(err, FERRY_ERR_SINK, 0, "%s: UploadPart %d of s3://%s/%s: the answer holds no ETag",
                           store->who, number, store->settings.bucket, store->key);
    store->parts = number;
    store->part_len = 0;
    return true;
}

static bool s3_write(Store *store, const char *data, size_t len, FerryError *err)
{
    while (len > 0) {
        size_t room = store->part_cap - store->part_len;
        size_t n = len < room ? len : room;
        memcpy(store->part + store->part_len, data, n);
        store->part_len += n;
        data += n;
        len -= n;
        if (store->part_len == store->part_cap && !upload_part(store, err))
            return false;
    }
    return true;
}

static bool complete_upload(Store *store, FerryError *err)
{
    StrBuf xml = {.max = (size_t)S3_PARTS_MAX * 512};
    strbuf_add(&xml, "<CompleteMultipartUpload>");
    for (int i = 0; i < store->parts; i++) {
        strbuf_add(&xml, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        xml_escape(&xml, store->tags[i].etag);
        strbuf_add(&xml, "</ETag>");
        if (store->tags[i].crc32c[0])
            strbuf_add(&xml, "<ChecksumCRC32C>%s</ChecksumCRC32C>", store->tags[i].crc32c);
        strbuf_add(&xml, "</Part>");
    }
    strbuf_add(&xml, "</CompleteMultipartUpload>");
    char *query = upload_query(store, 0);
    S3Call call = {.method = "POST", .key = store->key, .query = query, .body = xml.text, .body_len = xml.len};
    HttpResponse response;
    bool ok = !xml.failed && s3_call(store, &call, "CompleteMultipartUpload", &response, err);
    free(query);
    free(xml.text);
    if (!ok)
        return false;
    /* (2) A 200 can still say the upload failed: only a result is a success. */
    const char *body = response.body ? response.body : "";
    if (strstr(body, "<Error>") != NULL || strstr(body, "CompleteMultipartUploadResult") == NULL) {
        response.status = strstr(body, "<Error>") != NULL ? 500 : response.status;
        s3_failed(store, "CompleteMultipartUpload (answered 200)", store->key, &response, err);
        if (strstr(body, "<Error>") == NULL)
            ferry_error(err, FERRY_ERR_SINK, 0, "%s: CompleteMultipartUpload s3://%s/%s: answered 200 without a result",
                        store->who, store->settings.bucket, store->key);
        err->retryable = true;
        http_response_free(&response);
        return false;
    }
    http_response_free(&response);
    return true;
}

static bool s3_commit(Store *store, FerryError *err)
{
    if (!store->in_object)
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: %s: commit without begin", store->who);
    if (fault_hit(FAULT_SINK_COMMIT, store->partition)) { /* every byte sent, nothing visible */
        ferry_error(err, FERRY_ERR_SINK, EIO, "%s: injected fault: s3://%s/%s: the commit failed", store->who,
                    store->settings.bucket, store->key);
        err->retryable = true;
        return false;
    }
    bool ok;
    if (store->upload_id[0] == '\0') {
        S3Call call = {.method = "PUT", .key = store->key, .body = store->part, .body_len = store->part_len,
                       .checksum = true};
        HttpResponse response;
        ok = s3_call(store, &call, "PutObject", &response, err);
        if (ok)
            http_response_free(&response);
    } else {
        ok = (store->part_len == 0 || upload_part(store, err)) && complete_upload(store, err);
    }
    if (!ok)
        return false;
    store->upload_id[0] = '\0';
    store->in_object = false;
    store->part_len = 0;
    return true;
}

/* Abort an open upload; what cannot be aborted now is a leftover that remove_all takes (note 5). */
static bool abort_upload(Store *store, const char *key, const char *upload_id, FerryError *err)
{
    StrBuf q = {0};
    strbuf_add(&q, "uploadId=");
    http_uri_encode(&q, upload_id, strlen(upload_id), false);
    S3Call call = {.method = "DELETE", .key = key, .query = q.text};
    HttpResponse response;
    bool ok = s3_request(store, &call, &response, err);
    free(q.text);
    if (ok && !http_answered_ok(&response) && response.status != 404)
        ok = s3_failed(store, "AbortMultipartUpload", key, &response, err);
    http_response_free(&response);
    return ok;
}

static void s3_abort(Store *store)
{
    if (store->in_object && store->upload_id[0]) {
        FerryError ignored;
        if (!abort_upload(store, store->key, store->upload_id, &ignored))
            log_warn("%s: an unfinished upload of s3://%s/%s stays until the next plan of its table removes it",
                     store->who, store->settings.bucket, store->key);
    }
    store->upload_id[0] = '\0';
    store->in_object = false;
    store->part_len = 0;
}

/* ---- listing, reading, removing ---- */

/*
 * ListObjectsV2 (or, with uploads, ListMultipartUploads) under a prefix of
 * the blob sink's keys: fn gets each S3 key (and upload id), page by page.
 */
static bool s3_list_raw(Store *store, const char *prefix, bool uploads,
                        bool (*fn)(void *ctx, const char *s3key, const char *upload_id, uint64_t size,
                                   FerryError *err),
                        void *ctx, FerryError *err)
{
    char full[4096];
    if (!objects_name(store->settings.prefix, prefix, full, sizeof full, store->who, err))
        return false;
    StrBuf token = {0}, marker_upload = {0};
    strbuf_add(&token, "%s", "");
    strbuf_add(&marker_upload, "%s", "");
    bool ok = true, more = true;
    while (ok && more) {
        /* Query keys in byte order, as the signature wants them. */
        StrBuf q = {0};
        if (uploads) {
            if (token.len) {
                strbuf_add(&q, "key-marker=");
                http_uri_encode(&q, token.text, token.len, false);
                strbuf_add(&q, "&");
            }
            strbuf_add(&q, "prefix=");
            http_uri_encode(&q, full, strlen(full), false);
            if (marker_upload.len) {
                strbuf_add(&q, "&upload-id-marker=");
                http_uri_encode(&q, marker_upload.text, marker_upload.len, false);
            }
            strbuf_add(&q, "&uploads=");
        } else {
            if (token.len) {
                strbuf_add(&q, "continuation-token=");
                http_uri_encode(&q, token.text, token.len, false);
                strbuf_add(&q, "&");
            }
            strbuf_add(&q, "list-type=2&prefix=");
            http_uri_encode(&q, full, strlen(full), false);
        }
        S3Call call = {.method = "GET", .query = q.text};
        HttpResponse response;
        ok = s3_call(store, &call, uploads ? "ListMultipartUploads" : "ListObjectsV2", &response, err);
        free(q.text);
        if (!ok)
            break;
        const char *body = response.body ? response.body : "";
        if (response.truncated) {
            ok = ferry_error(err, FERRY_ERR_SINK, 0, "%s: a listing of s3://%s/%s was longer than ferry reads",
                             store->who, store->settings.bucket, full);
            http_response_free(&response);
            break;
        }
        const char *pos = body;
        StrBuf item = {0}, field = {0};
        const char *open = uploads ? "<Upload>" : "<Contents>";
        const char *close = uploads ? "</Upload>" : "</Contents>";
        for (const char *start; ok && (start = strstr(pos, open)) != NULL;) {
            const char *end = strstr(start, close);
            if (end == NULL)
                break;
            item.len = 0;
            strbuf_add(&item, "%.*s", (int)(end - start), start);
            const char *p = item.text, *p2 = item.text;
            StrBuf key = {0};
            if (xml_next(&p, "Key", &key)) {
                bool have_id = !uploads || xml_next(&p2, "UploadId", &field);
                uint64_t size = 0;
                if (!uploads && xml_next(&p2, "Size", &field))
                    size = strtoull(field.text, NULL, 10);
                if (have_id)
                    ok = fn(ctx, key.text, uploads ? field.text : NULL, size, err);
            }
            free(key.text);
            pos = end + strlen(close);
        }
        free(item.text);
        more = strstr(body, "<IsTruncated>true</IsTruncated>") != NULL;
        const char *p = body;
        if (more && uploads) {
            more = xml_next(&p, "NextKeyMarker", &token);
            p = body;
            more = more && xml_next(&p, "NextUploadIdMarker", &marker_upload);
        } else if (more) {
            more = xml_next(&p, "NextContinuationToken", &token);
        }
        free(field.text);
        http_response_free(&response);
    }
    free(token.text);
    free(marker_upload.text);
    return ok;
}

typedef struct ListCtx {
    Store *store;
    bool (*fn)(void *ctx, const char *key, uint64_t size, FerryError *err);
    void *ctx;
} ListCtx;

static bool list_one(void *ctx, const char *s3key, const char *upload_id, uint64_t size, FerryError *err)
{
    (void)upload_id;
    ListCtx *l = ctx;
    const char *key = objects_key(l->store->settings.prefix, s3key);
    return key == NULL || l->fn(l->ctx, key, size, err);
}

static bool s3_list(Store *store, const char *prefix,
                    bool (*fn)(void *ctx, const char *key, uint64_t size, FerryError *err), void *ctx,
                    FerryError *err)
{
    ListCtx l = {store, fn, ctx};
    return s3_list_raw(store, prefix, false, list_one, &l, err);
}

static bool s3_read(Store *store, const char *key,
                    bool (*fn)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx, FerryError *err)
{
    char full[4096];
    if (!objects_name(store->settings.prefix, key, full, sizeof full, store->who, err))
        return false;
    S3Call call = {.method = "GET", .key = full, .on_data = fn, .ctx = ctx};
    HttpResponse response;
    if (!s3_call(store, &call, "GetObject", &response, err))
        return false;
    http_response_free(&response);
    return true;
}

/* What remove_all gathers before it removes: the listing is not changed while it is read. */
typedef struct Doomed {
    ObjectList keys;          /* S3 keys, with the upload id of an open upload */
    bool (*match)(const char *key, const void *arg);
    const void *arg;
    Store *store;
} Doomed;

static bool doom_one(void *ctx, const char *s3key, const char *upload_id, uint64_t size, FerryError *err)
{
    (void)err;
    (void)size;
    Doomed *d = ctx;
    const char *key = objects_key(d->store->settings.prefix, s3key);
    if (key != NULL && d->match(key, d->arg))
        objects_list_add(&d->keys, s3key, upload_id);
    return true;
}

/* Remove what matches under a prefix: the open uploads, and unless only_uploads the objects. */
static bool s3_remove(Store *store, const char *prefix, bool (*match)(const char *key, const void *arg),
                      const void *arg, bool only_uploads, int *removed, FerryError *err)
{
    *removed = 0;
    Doomed d = {.match = match, .arg = arg, .store = store};
    bool ok = s3_list_raw(store, prefix, true, doom_one, &d, err) &&
              (only_uploads || s3_list_raw(store, prefix, false, doom_one, &d, err));
    for (int i = 0; ok && i < d.keys.n; i++) {
        const char *key = d.keys.names[i], *upload = d.keys.extra[i];
        if (upload != NULL) {
            ok = abort_upload(store, key, upload, err);
        } else {
            S3Call call = {.method = "DELETE", .key = key};
            HttpResponse response;
            ok = s3_request(store, &call, &response, err);
            if (ok && !http_answered_ok(&response) && response.status != 404)
                ok = s3_failed(store, "DeleteObject", key, &response, err);
            http_response_free(&response);
        }
        *removed += ok;
    }
    objects_list_free(&d.keys);
    return ok;
}

static bool s3_remove_all(Store *store, const char *prefix, bool (*match)(const char *key, const void *arg),
                          const void *arg, int *removed, FerryError *err)
{
    return s3_remove(store, prefix, match, arg, false, removed, err);
}

/* (5) The uploads a killed run left open. */
static bool s3_sweep(Store *store, const char *prefix, bool (*match)(const char *key, const void *arg),
                     const void *arg, int *removed, FerryError *err)
{
    return s3_remove(store, prefix, match, arg, true, removed, err);
}

static bool s3_url(Store *store, const char *key, StrBuf *out)
{
    char full[4096];
    if (!objects_name(store->settings.prefix, key, full, sizeof full, store->who, NULL))
        return false;
    strbuf_add(out, "s3://%s/%s", store->settings.bucket, full);
    return !out->failed;
}

static uint64_t s3_memory(const void *settings)
{
    return part_size(settings);
}

const StoreOps store_s3 = {
    .name = "s3",
    .options = store_s3_options,
    .fit = s3_fit,
    .memory = s3_memory,
    .open = s3_open,
    .close = s3_close,
    .begin = s3_begin,
    .write = s3_write,
    .commit = s3_commit,
    .abort = s3_abort,
    .list = s3_list,
    .read = s3_read,
    .remove_all = s3_remove_all,
    .sweep = s3_sweep,
    .url = s3_url,
};
