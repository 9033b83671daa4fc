/*
 * sinks/store_azure.c — the Azure Blob store (store.h): block blobs in a container, over HTTP(S).
 *
 * Design notes
 *  (1) A blob's name is "<prefix>/<key>". The URL is "<endpoint>/<container>/<name>";
 *      the endpoint is https://<account>.blob.core.windows.net unless the
 *      section or the connection string names another (Azurite, a sovereign
 *      cloud), which may carry the account in its path as Azurite's does.
 *  (2) Upload: bytes gather in one block buffer of block_size bytes (auto:
 *      a share of the memory budget, never so small that the largest batch
 *      could need more than 50,000 blocks; objects_part_size). A blob
 *      that fits is one Put Blob at commit; a larger one is Put Block per
 *      block and Put Block List at commit, which alone makes the blob (and
 *      replaces an earlier one of that name). Block ids are deterministic and
 *      of one length ("ferry-block-000001", base64): a retry after a crash
 *      puts its blocks under the ids the killed attempt used, and the list
 *      it commits names only its own, so blocks left uncommitted never trip
 *      a later upload and are discarded by the commit. Blocks another writer
 *      left under ids of another length would make the service refuse ours:
 *      they are committed away (an empty list) and the blob deleted first.
 *  (3) Authorisation: Shared Key (the account key signs every request, as
 *      the Blob service's canonical string wants it) or a SAS token (added
 *      to every URL). Bodies carry Content-MD5 unless checksum = none, so the
 *      service refuses bytes damaged on the way.
 *  (4) An answer's status decides: 5xx, 429, ServerBusy, OperationTimedOut,
 *      InternalError are worth retrying; any other refusal fails the table
 *      with Azure's code and message and the container and blob, never a key.
 *  (5) Nothing of an unfinished upload is a blob: a crash leaves uncommitted
 *      blocks, which the next commit of the name discards and the service
 *      removes within a week: the store has no sweep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ferry/digest.h"
#include "ferry/fault.h"
#include "ferry/http.h"
#include "ferry/objects.h"
#include "ferry/store.h"
#include "ferry/xml.h"

/*
 * The service's limit on the blocks of one blob and on a block's size, the
 * least block ferry writes, and the REST version spoken.
 */
#define AZURE_BLOCKS_MAX 50000
#define AZURE_BLOCK_MAX (4000ull << 20)
#define AZURE_BLOCK_MIN (1u << 20)
#define AZURE_BLOCK_AUTO_MIN (4u << 20)
#define AZURE_VERSION "2021-12-02"

enum { AZ_CHECKSUM_MD5 = 0, AZ_CHECKSUM_NONE };

typedef struct AzureSettings {
    char *container;
    char *prefix;
    char *account;
    char *account_key;
    char *account_key_file;
    char *sas_token;
    char *sas_token_file;
    char *connection_string;
    char *connection_string_file;
    char *endpoint;
    int checksum;
    uint64_t block_size;
    char *ca_file;
} AzureSettings;

_Static_assert(sizeof(AzureSettings) <= sizeof(StoreSettings), "the Azure store's settings fit");

static const char *const checksum_names[] = {"md5", "none", NULL};

const ConfigOption store_azure_options[] = {
    CONFIG_OPTION(AzureSettings, container, OPT_STRING, .required = true, .setup = true, .help = "the container"),
    CONFIG_OPTION(AzureSettings, prefix, OPT_STRING, .default_value = "", .setup = true,
                  .help = "name prefix: blobs are <prefix>/<target>/<segment>"),
    CONFIG_OPTION(AzureSettings, account, OPT_STRING, .help = "storage account (or from connection_string)"),
    CONFIG_OPTION(AzureSettings, account_key, OPT_STRING, .secret = true, .help = "account key; prefer account_key_file"),
    CONFIG_OPTION(AzureSettings, account_key_file, OPT_STRING, .is_path = true,
                  .help = "a file holding the account key (systemd LoadCredential)"),
    CONFIG_OPTION(AzureSettings, sas_token, OPT_STRING, .secret = true, .help = "a SAS token instead of a key"),
    CONFIG_OPTION(AzureSettings, sas_token_file, OPT_STRING, .is_path = true, .help = "a file holding the SAS token"),
    CONFIG_OPTION(AzureSettings, connection_string, OPT_STRING, .secret = true,
                  .help = "an Azure Storage connection string; prefer connection_string_file"),
    CONFIG_OPTION(AzureSettings, connection_string_file, OPT_STRING, .is_path = true,
                  .help = "a file holding the connection string"),
    CONFIG_OPTION(AzureSettings, endpoint, OPT_STRING, .setup = true,
                  .help = "blob endpoint URL; default https://<account>.blob.core.windows.net"),
    CONFIG_OPTION(AzureSettings, checksum, OPT_ENUM, .default_value = "md5", .choices = checksum_names,
                  .help = "checksum the service verifies on every body: md5 (Content-MD5) or none"),
    CONFIG_OPTION(AzureSettings, block_size, OPT_SIZE, .default_value = "auto", .allow_auto = true,
                  .min = AZURE_BLOCK_MIN,
                  .help = "block size of larger blobs (at least 1MiB); auto: from the memory budget; one buffer "
                          "of it per worker"),
    CONFIG_OPTION(AzureSettings, ca_file, OPT_STRING, .is_path = true,
                  .help = "CA certificates to verify the service by; default the system's"),
    {0},
};

struct Store {
    AzureSettings settings;   /* strings borrowed from the configuration */
    const char *who;          /* borrowed */
    Http *http;
    char account[256];
    unsigned char key[128];   /* the decoded account key; key_len 0: a SAS token instead */
    size_t key_len;
    char sas[4096];           /* the SAS token, without its '?' */
    char endpoint[512];       /* scheme://authority[/path], no trailing '/' */
    char endpoint_path[256];  /* the endpoint's path ("/devstoreaccount1" on Azurite, else "") */
    /* the blob being written */
    char name[4096];
    int64_t partition;
    bool in_object;
    char *block;              /* owned: block_size bytes */
    size_t block_len, block_cap;
    int blocks;               /* blocks put */
};

/* ---- settings: the connection string, the key, the endpoint ---- */

/* The value of `key` in a "K1=V1;K2=V2" connection string, into out; false if absent. */
static bool connection_value(const char *cs, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = cs; *p;) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > klen && strncasecmp(p, key, klen) == 0 && p[klen] == '=') {
            snprintf(out, cap, "%.*s", (int)(n - klen - 1), p + klen + 1);
            return true;
        }
        p += n + (end != NULL);
    }
    return false;
}

static bool azure_configure(Store *store, FerryError *err)
{
    const AzureSettings *s = &store->settings;
    char cs[8192], key[256], endpoint[512] = "", protocol[16] = "https";
    if (!objects_secret(s->connection_string, s->connection_string_file, cs, sizeof cs, "the connection string",
                      store->who, err) ||
        !objects_secret(s->account_key, s->account_key_file, key, sizeof key, "the account key", store->who, err) ||
        !objects_secret(s->sas_token, s->sas_token_file, store->sas, sizeof store->sas, "the SAS token", store->who,
                      err))
        return false;
    snprintf(store->account, sizeof store->account, "%s", s->account ? s->account : "");
    if (cs[0]) {
        if (!store->account[0])
            connection_value(cs, "AccountName", store->account, sizeof store->account);
        if (!key[0])
            connection_value(cs, "AccountKey", key, sizeof key);
        if (!store->sas[0])
            connection_value(cs, "SharedAccessSignature", store->sas, sizeof store->sas);
        connection_value(cs, "BlobEndpoint", endpoint, sizeof endpoint);
        connection_value(cs, "DefaultEndpointsProtocol", protocol, sizeof protocol);
    }
    memset(cs, 0, sizeof cs);
    if (s->endpoint != NULL && *s->endpoint)
        snprintf(endpoint, sizeof endpoint, "%s", s->endpoint);
    if (!store->account[0])
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: no account: set account or connection_string", store->who);
    if (key[0]) {
        bool decoded = digest_base64_decode(key, store->key, sizeof store->key, &store->key_len);
        memset(key, 0, sizeof key);
        if (!decoded || store->key_len == 0)
            return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: the account key is not base64", store->who);
    } else if (!store->sas[0]) {
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s: no credentials: set account_key_file, sas_token_file or connection_string_file",
                           store->who);
    }
    if (store->sas[0] == '?')
        memmove(store->sas, store->sas + 1, strlen(store->sas));
    if (!endpoint[0])
        snprintf(endpoint, sizeof endpoint, "%s://%s.blob.core.windows.net", protocol, store->account);
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        endpoint[--n] = '\0';
    const char *rest = strncmp(endpoint, "https://", 8) == 0 ? endpoint + 8
                       : strncmp(endpoint, "http://", 7) == 0 ? endpoint + 7
                                                              : NULL;
    if (rest == NULL)
        return ferry_error(err, FERRY_ERR_CONFIG, 0,
                           "%s: endpoint \"%s\" must start with https:// (or http:// for a plain one)", store->who,
                           endpoint);
    const char *slash = strchr(rest, '/');
    snprintf(store->endpoint_path, sizeof store->endpoint_path, "%s", slash ? slash : "");
    snprintf(store->endpoint, sizeof store->endpoint, "%s", endpoint);
    return true;
}

/* ---- requests: URL, Shared Key, answer (notes 1, 3, 4) ---- */

typedef struct AzureCall {
    const char *method;
    const char *name;         /* the blob, or NULL for the container */
    /* query parameters, name and value unencoded, names in ascending order; NULL-terminated */
    const char *const *query;
    const char *body;
    size_t body_len;
    bool checksum;            /* send the body's Content-MD5 */
    const char *blob_type;    /* x-ms-blob-type, for Put Blob */
    bool (*on_data)(void *ctx, const char *data, size_t len, FerryError *err);
    void *ctx;
} AzureCall;

static bool azure_request(Store *store, const AzureCall *call, HttpResponse *response, FerryError *err)
{
    StrBuf path = {0}, url = {0}, query = {0};
    strbuf_add(&path, "%s/", store->endpoint_path);
    http_uri_encode(&path, store->settings.container, strlen(store->settings.container), false);
    if (call->name != NULL) {
        strbuf_add(&path, "/");
        http_uri_encode(&path, call->name, strlen(call->name), true);
    }
    for (int i = 0; call->query != NULL && call->query[i] != NULL; i += 2) {
        strbuf_add(&query, "%s", query.len ? "&" : "");
        http_uri_encode(&query, call->query[i], strlen(call->query[i]), false);
        strbuf_add(&query, "=");
        http_uri_encode(&query, call->query[i + 1], strlen(call->query[i + 1]), false);
    }
    if (store->key_len == 0 && store->sas[0])
        strbuf_add(&query, "%s%s", query.len ? "&" : "", store->sas);
    const char *rest = strstr(store->endpoint, "://") + 3;
    size_t authority = strcspn(rest, "/");
    strbuf_add(&url, "%.*s%s%s%s", (int)(rest - store->endpoint + (ptrdiff_t)authority), store->endpoint, path.text,
               query.len ? "?" : "", query.len ? query.text : "");

    char date[64], md5[32] = "", length[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (call->checksum && store->settings.checksum == AZ_CHECKSUM_MD5)
        digest_md5_base64(call->body ? call->body : "", call->body_len, md5);
    if (call->body_len > 0)
        snprintf(length, sizeof length, "%zu", call->body_len);
    const char *type = call->body != NULL ? "application/octet-stream" : "";

    HttpHeaders lines = {0};
    http_header(&lines, "x-ms-date: %s", date);
    http_header(&lines, "x-ms-version: %s", AZURE_VERSION);
    if (call->blob_type)
        http_header(&lines, "x-ms-blob-type: %s", call->blob_type);
    if (md5[0])
        http_header(&lines, "Content-MD5: %s", md5);
    if (type[0])
        http_header(&lines, "Content-Type: %s", type);
    if (store->key_len > 0) {
        /* The canonical string: the standard headers, the x-ms- ones sorted, then the resource. */
        StrBuf sts = {0};
        strbuf_add(&sts, "%s\n\n\n%s\n%s\n%s\n\n\n\n\n\n\n", call->method, length, md5, type);
        if (call->blob_type)
            strbuf_add(&sts, "x-ms-blob-type:%s\n", call->blob_type);
        strbuf_add(&sts, "x-ms-date:%s\nx-ms-version:%s\n/%s%s", date, AZURE_VERSION, store->account, path.text);
        for (int i = 0; call->query != NULL && call->query[i] != NULL; i += 2)
            strbuf_add(&sts, "\n%s:%s", call->query[i], call->query[i + 1]);
        unsigned char mac[32];
        char sig[64];
        digest_hmac_sha256(store->key, store->key_len, sts.text, mac);
        digest_base64(mac, 32, sig);
        http_header(&lines, "Authorization: SharedKey %s:%s", store->account, sig);
        free(sts.text);
    }
    HttpRequest request = {.method = call->method, .url = url.text, .headers = lines.argv, .body = call->body,
                           .body_len = call->body_len, .on_data = call->on_data, .ctx = call->ctx};
    bool ok = http_do(store->http, &request, response, err);
    http_headers_free(&lines);
    free(path.text);
    free(url.text);
    free(query.text);
    return ok;
}

/* (4) A refusal as an error: Azure's code and message, the request, the container and blob. */
static bool azure_failed(Store *store, const char *what, const char *name, const HttpResponse *response,
                         FerryError *err)
{
    char code[128], message[400];
    objects_answer_error(response, code, sizeof code, message, sizeof message);
    ferry_error(err, FERRY_ERR_SINK, 0, "%s: %s azure://%s/%s/%s: HTTP %ld%s%s%s%s", store->who, what,
                store->account, store->settings.container, name ? name : "", response->status, code[0] ? " " : "",
                code, message[0] ? ": " : "", message);
    err->retryable = response->status >= 500 || response->status == 429 || strcmp(code, "ServerBusy") == 0 ||
                     strcmp(code, "OperationTimedOut") == 0 || strcmp(code, "InternalError") == 0;
    if (err->retryable && response->retry_after_s > 0)
        err->retry_after_s = (int)(response->retry_after_s < 3600 ? response->retry_after_s : 3600);
    return false;
}

static bool azure_call(Store *store, const AzureCall *call, const char *what, HttpResponse *response,
                       FerryError *err)
{
    if (!azure_request(store, call, response, err)) {
        ferry_error_prefix(err, "azure://%s/%s/%s", store->account, store->settings.container,
                           call->name ? call->name : "");
        return false;
    }
    if (!http_answered_ok(response)) {
        azure_failed(store, what, call->name, response, err);
        http_response_free(response);
        return false;
    }
    return true;
}

/* ---- the block size, open, close ---- */

/* (2) The block size the budget decides, or the configured one, grown to the service's block limit. */
static void azure_fit(void *settings, uint64_t budget)
{
    AzureSettings *s = settings;
    s->block_size = objects_part_size(s->block_size, budget, AZURE_BLOCK_AUTO_MIN, AZURE_BLOCK_MAX, AZURE_BLOCKS_MAX);
}

/* The block size, fitted or not (0: auto with no budget known, the least auto size). */
static uint64_t block_size(const AzureSettings *s)
{
    return s->block_size > 0 ? s->block_size : AZURE_BLOCK_AUTO_MIN;
}

static bool azure_open(const void *settings, const char *who, Store **out, FerryError *err)
{
    *out = NULL;
    Store *store = xcalloc(1, sizeof *store);
    store->settings = *(const AzureSettings *)settings;
    store->who = who;
    if (!azure_configure(store, err) || !http_open(store->settings.ca_file, who, &store->http, err)) {
        memset(store, 0, sizeof *store);
        free(store);
        return false;
    }
    store->block_cap = (size_t)block_size(&store->settings);
    log_debug("%s: container %s at %s, %s, blocks of %zu bytes", who, store->settings.container, store->endpoint,
              store->key_len ? "Shared Key" : "SAS token", store->block_cap);
    *out = store;
    return true;
}

static void azure_abort(Store *store)
{
    store->in_object = false; /* (5) the blocks put stay uncommitted: no blob */
    store->block_len = 0;
}

static void azure_close(Store *store)
{
    if (store == NULL)
        return;
    http_close(store->http);
    free(store->block);
    memset(store->key, 0, sizeof store->key);
    memset(store->sas, 0, sizeof store->sas);
    free(store);
}

/* ---- writing a blob (note 2) ---- */

static bool azure_begin(Store *store, const char *key, int64_t partition, FerryError *err)
{
    azure_abort(store);
    if (!objects_name(store->settings.prefix, key, store->name, sizeof store->name, store->who, err))
        return false;
    if (store->block == NULL)
        store->block = xmalloc(store->block_cap);
    store->block_len = 0;
    store->blocks = 0;
    store->partition = partition;
    store->in_object = true;
    return true;
}

/* Block n's id: base64 of a fixed-width text, so every id of every attempt has one length. */
static void block_id(int n, char out[48])
{
    char raw[32];
    snprintf(raw, sizeof raw, "ferry-block-%06d", n);
    digest_base64((const unsigned char *)raw, strlen(raw), out);
}

static bool put_block_list(Store *store, int blocks, FerryError *err);

/*
 * (2) Uncommitted blocks under ids of another length (another writer's) make
 * the service refuse every new block of the name. They are no blob: an empty
 * block list commits them away, and the blob it makes is deleted.
 */
static bool discard_foreign_blocks(Store *store, FerryError *err)
{
    log_warn("%s: %s holds uncommitted blocks another writer left: discarding them", store->who, store->name);
    if (!put_block_list(store, 0, err))
        return false;
    AzureCall call = {.method = "DELETE", .name = store->name};
    HttpResponse response;
    bool ok = azure_request(store, &call, &response, err);
    if (ok && !http_answered_ok(&response) && response.status != 404)
        ok = azure_failed(store, "Delete Blob", store->name, &response, err);
    http_response_free(&response);
    return ok;
}

static bool put_block(Store *store, FerryError *err)
{
    if (store->blocks >= AZURE_BLOCKS_MAX)
        return ferry_error(err, FERRY_ERR_SINK, 0, "%s: %s would need more than %d blocks of %zu bytes: raise block_size",
                           store->who, store->name, AZURE_BLOCKS_MAX, store->block_cap);
    char id[48];
    block_id(store->blocks + 1, id);
    const char *query[] = {"blockid", id, "comp", "block", NULL};
    AzureCall call = {.method = "PUT", .name = store->name, .query = query, .body = store->block,
                      .body_len = store->block_len, .checksum = true};
    for (int attempt = 0;; attempt++) {
        HttpResponse response;
        if (!azure_request(store, &call, &response, err)) {
            ferry_error_prefix(err, "azure://%s/%s/%s", store->account, store->settings.container, store->name);
            return false;
        }
        char code[64], message[8];
        objects_answer_error(&response, code, sizeof code, message, sizeof message);
        bool foreign = response.status == 400 && strcmp(code, "InvalidBlobOrBlock") == 0 && store->blocks == 0;
        if (http_answered_ok(&response) || !foreign || attempt > 0) {
            bool ok = http_answered_ok(&response) || azure_failed(store, "Put Block", store->name, &response, err);
            http_response_free(&response);
            if (!ok)
                return false;
            break;
        }
        http_response_free(&response);
        if (!discard_foreign_blocks(store, err))
            return false;
    }
    store->blocks++;
    store->block_len = 0;
    return true;
}

static bool azure_write(Store *store, const char *data, size_t len, FerryError *err)
{
    while (len > 0) {
        size_t room = store->block_cap - store->block_len;
        size_t n = len < room ? len : room;
        memcpy(store->block + store->block_len, data, n);
        store->block_len += n;
        data += n;
        len -= n;
        if (store->block_len == store->block_cap && !put_block(store, err))
            return false;
    }
    return true;
}

/* Commit blocks 1..blocks as the blob (0: an empty blob). */
static bool put_block_list(Store *store, int blocks, FerryError *err)
{
    StrBuf xml = {.max = (size_t)AZURE_BLOCKS_MAX * 64};
    strbuf_add(&xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for (int i = 1; i <= blocks; i++) {
        char id[48];
        block_id(i, id);
        strbuf_add(&xml, "<Latest>%s</Latest>", id);
    }
    strbuf_add(&xml, "</BlockList>");
    const char *query[] = {"comp", "blocklist", NULL};
    AzureCall call = {.method = "PUT", .name = store->name, .query = query, .body = xml.text, .body_len = xml.len,
                      .checksum = true};
    HttpResponse response;
    bool ok = !xml.failed && azure_call(store, &call, "Put Block List", &response, err);
    free(xml.text);
    if (ok)
        http_response_free(&response);
    return ok;
}

static bool azure_commit(Store *store, FerryError *err)
{
    if (!store->in_object)
        return ferry_error(err, FERRY_ERR_BUG, 0, "BUG: %s: commit without begin", store->who);
    if (fault_hit(FAULT_SINK_COMMIT, store->partition)) { /* every byte sent, nothing visible */
        ferry_error(err, FERRY_ERR_SINK, EIO, "%s: injected fault: %s: the commit failed", store->who, store->name);
        err->retryable = true;
        return false;
    }
    bool ok;
    if (store->blocks == 0) {
        AzureCall call = {.method = "PUT", .name = store->name, .body = store->block, .body_len = store->block_len,
                          .checksum = true, .blob_type = "BlockBlob"};
        HttpResponse response;
        ok = azure_call(store, &call, "Put Blob", &response, err);
        if (ok)
            http_response_free(&response);
    } else {
        ok = (store->block_len == 0 || put_block(store, err)) && put_block_list(store, store->blocks, err);
    }
    if (ok)
        azure_abort(store);
    return ok;
}

/* ---- listing, reading, removing ---- */

/* List Blobs under a prefix of the sink's keys: fn gets each blob's name and length, page by page. */
static bool azure_list_raw(Store *store, const char *prefix,
                           bool (*fn)(void *ctx, const char *name, uint64_t size, FerryError *err), void *ctx,
                           FerryError *err)
{
    char full[4096];
    if (!objects_name(store->settings.prefix, prefix, full, sizeof full, store->who, err))
        return false;
    StrBuf marker = {0};
    strbuf_add(&marker, "%s", "");
    bool ok = true, more = true;
    while (ok && more) {
        const char *query[] = {"comp", "list", "marker", marker.text, "prefix", full, "restype", "container", NULL};
        const char *first[] = {"comp", "list", "prefix", full, "restype", "container", NULL};
        AzureCall call = {.method = "GET", .query = marker.len ? query : first};
        HttpResponse response;
        if (!(ok = azure_call(store, &call, "List Blobs", &response, err)))
            break;
        const char *body = response.body ? response.body : "";
        if (response.truncated) {
            ok = ferry_error(err, FERRY_ERR_SINK, 0, "%s: a listing of %s was longer than ferry reads", store->who, full);
            http_response_free(&response);
            break;
        }
        StrBuf item = {0}, name = {0}, field = {0};
        const char *pos = body;
        for (const char *start; ok && (start = strstr(pos, "<Blob>")) != NULL;) {
            const char *end = strstr(start, "</Blob>");
            if (end == NULL)
                break;
            item.len = 0;
            strbuf_add(&item, "%.*s", (int)(end - start), start);
            const char *p = item.text, *p2 = item.text;
            if (xml_next(&p, "Name", &name)) {
                uint64_t size = xml_next(&p2, "Content-Length", &field) ? strtoull(field.text, NULL, 10) : 0;
                ok = fn(ctx, name.text, size, err);
            }
            pos = end + 7;
        }
        free(item.text);
        free(name.text);
        free(field.text);
        const char *p = body;
        more = xml_next(&p, "NextMarker", &marker) && marker.len > 0;
        http_response_free(&response);
    }
    free(marker.text);
    return ok;
}

typedef struct ListCtx {
    Store *store;
    bool (*fn)(void *ctx, const char *key, uint64_t size, FerryError *err);
    void *ctx;
} ListCtx;

static bool list_one(void *ctx, const char *name, uint64_t size, FerryError *err)
{
    ListCtx *l = ctx;
    const char *key = objects_key(l->store->settings.prefix, name);
    return key == NULL || l->fn(l->ctx, key, size, err);
}

static bool azure_list(Store *store, const char *prefix,
                       bool (*fn)(void *ctx, const char *key, uint64_t size, FerryError *err), void *ctx,
                       FerryError *err)
{
    ListCtx l = {store, fn, ctx};
    return azure_list_raw(store, prefix, list_one, &l, err);
}

static bool azure_read(Store *store, const char *key,
                       bool (*fn)(void *ctx, const char *data, size_t len, FerryError *err), void *ctx,
                       FerryError *err)
{
    char full[4096];
    if (!objects_name(store->settings.prefix, key, full, sizeof full, store->who, err))
        return false;
    AzureCall call = {.method = "GET", .name = full, .on_data = fn, .ctx = ctx};
    HttpResponse response;
    if (!azure_call(store, &call, "Get Blob", &response, err))
        return false;
    http_response_free(&response);
    return true;
}

typedef struct Doomed {
    Store *store;
    ObjectList names;
    bool (*match)(const char *key, const void *arg);
    const void *arg;
} Doomed;

static bool doom_one(void *ctx, const char *name, uint64_t size, FerryError *err)
{
    (void)size;
    (void)err;
    Doomed *d = ctx;
    const char *key = objects_key(d->store->settings.prefix, name);
    if (key != NULL && d->match(key, d->arg))
        objects_list_add(&d->names, name, NULL);
    return true;
}

static bool azure_remove_all(Store *store, const char *prefix, bool (*match)(const char *key, const void *arg),
                             const void *arg, int *removed, FerryError *err)
{
    *removed = 0;
    Doomed d = {.store = store, .match = match, .arg = arg};
    bool ok = azure_list_raw(store, prefix, doom_one, &d, err);
    for (int i = 0; ok && i < d.names.n; i++) {
        AzureCall call = {.method = "DELETE", .name = d.names.names[i]};
        HttpResponse response;
        ok = azure_request(store, &call, &response, err);
        if (ok && !http_answered_ok(&response) && response.status != 404)
            ok = azure_failed(store, "Delete Blob", d.names.names[i], &response, err);
        http_response_free(&response);
        *removed += ok;
    }
    objects_list_free(&d.names);
    return ok;
}

static bool azure_url(Store *store, const char *key, StrBuf *out)
{
    char full[4096];
    if (!objects_name(store->settings.prefix, key, full, sizeof full, store->who, NULL))
        return false;
    const char *rest = strstr(store->endpoint, "://") + 3;
    size_t authority = strcspn(rest, "/");
    strbuf_add(out, "%.*s%s/", (int)(rest - store->endpoint + (ptrdiff_t)authority), store->endpoint,
               store->endpoint_path);
    http_uri_encode(out, store->settings.container, strlen(store->settings.container), false);
    strbuf_add(out, "/");
    http_uri_encode(out, full, strlen(full), true);
    return !out->failed;
}

static uint64_t azure_memory(const void *settings)
{
    return block_size(settings);
}

const StoreOps store_azure = {
    .name = "azure",
    .options = store_azure_options,
    .fit = azure_fit,
    .memory = azure_memory,
    .open = azure_open,
    .close = azure_close,
    .begin = azure_begin,
    .write = azure_write,
    .commit = azure_commit,
    .abort = azure_abort,
    .list = azure_list,
    .read = azure_read,
    .remove_all = azure_remove_all,
    /* no sweep (note 5) */
    .url = azure_url,
};
