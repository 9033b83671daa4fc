/*
 * tests/tools/minimongo.c — a MongoDB wire-protocol server for ferry's tests, in memory, on loopback.
 *
 *   minimongo --port-file FILE [--user USER:PASSWORD] [--fault KIND@N | KIND%N]...
 *
 * With --user, a connection must authenticate with SCRAM-SHA-256 (libmongoc's
 * default: offered in hello's saslSupportedMechs, then saslStart and
 * saslContinue, the proof checked as RFC 5802 says) before any command but
 * hello, ping and the conversation itself; a wrong password fails with
 * MongoDB's AuthenticationFailed (18).
 *
 * Speaks OP_MSG (document sequences included) and the OP_QUERY handshake,
 * and implements what ferry and its test tools use: hello/isMaster, ping,
 * buildInfo, insert, update (replacement, upsert), delete, find with
 * getMore/killCursors, count, createIndexes (unique), listIndexes, create
 * (its options, a default collation among them, kept and listed; documents
 * are not compared under a collation), listCollections, drop,
 * dropDatabase, endSessions, and minimongoStats (write commands seen and the
 * last write concern, for tests to check what a client asked). Queries take equality, $eq $ne $gt $gte $lt
 * $lte $in $exists, $and, $or and dotted paths; values compare in MongoDB's
 * order of types. Documents are kept as sent, so they read back byte for byte.
 *
 * Faults count write commands (insert, update, delete) from 1: KIND@N hits
 * the N-th only, KIND%N every N-th. Kinds:
 *   drop      apply the first half of the command's operations, then close
 *             the connection without a reply (a connection lost mid-bulk)
 *   wce       apply everything, then report a writeConcernError (code 64)
 *   dup       apply all operations but the middle one, which gets an E11000
 *             duplicate key writeError
 *   kill      apply nothing and answer Interrupted (11601), as a killOp would
 *   stepdown  apply nothing and answer NotWritablePrimary (10107)
 * Every fault hit is counted on stderr ("minimongo: fault drop at write 7").
 *
 * One thread per connection; one lock over all data. Stops on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bson/bson.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OP_REPLY 1
#define OP_QUERY 2004
#define OP_MSG 2013
#define MESSAGE_MAX (48000000 + 16 * 1024)

/* ---- faults ---- */

enum { FAULT_DROP, FAULT_WCE, FAULT_DUP, FAULT_KILL, FAULT_STEPDOWN, FAULT_KINDS };
static const char *const fault_names[FAULT_KINDS] = {"drop", "wce", "dup", "kill", "stepdown"};

typedef struct Fault {
    int kind;
    long n;
    bool every;
} Fault;

static Fault faults[32];
static int nfaults;
static long writes_seen;
static bson_t last_write_concern = BSON_INITIALIZER;

static int fault_for(long write)
{
    for (int i = 0; i < nfaults; i++)
        if (faults[i].every ? write % faults[i].n == 0 : write == faults[i].n)
            return faults[i].kind;
    return -1;
}

/* ---- data ---- */

typedef struct Entry {
    uint64_t hash;
    uint8_t *key;             /* NULL: empty; `tombstone`: deleted */
    uint32_t key_len;
    size_t slot;
} Entry;

static uint8_t tombstone[1];

typedef struct Index {
    char *name;
    bson_t *spec;             /* {v, key, name[, unique]} */
    int nfields;
    char **fields;
    bool unique;
    Entry *entries;
    size_t cap, used;
} Index;

typedef struct Coll {
    char *ns;                 /* "db.collection" */
    bson_t **docs;            /* NULL slots are deleted documents */
    size_t ndocs, cap, live;
    Index *indexes;
    int nindexes;
    bson_t *options;          /* what `create` was given (collation, …); NULL: none */
} Coll;

typedef struct Cursor {
    int64_t id;
    char *ns;
    bson_t **docs;
    size_t count, pos;
} Cursor;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Coll **colls;
static int ncolls, colls_cap;
static Cursor **cursors;
static int ncursors, cursors_cap;
static int64_t next_cursor_id = 1000;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* A growing byte string: index keys are built per operation, so they must be cheap. */
typedef struct Bytes {
    uint8_t *data;
    uint32_t len, cap;
} Bytes;

static void bytes_add(Bytes *b, const void *p, uint32_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 32;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* An element's value bytes: its type, its length, then the value as stored. */
static void append_value_bytes(Bytes *out, const bson_iter_t *it)
{
    uint8_t type = (uint8_t)bson_iter_type(it);
    /* bson_iter_t knows where the value starts and where the next element begins. */
    uint32_t len = it->next_off - it->d1;
    bytes_add(out, &type, 1);
    bytes_add(out, &len, sizeof len);
    bytes_add(out, it->raw + it->d1, len);
}

/* The key of a document under an index's fields (a missing field counts as null). */
static uint8_t *index_key(const Index *ix, const bson_t *doc, uint32_t *len)
{
    Bytes b = {0};
    for (int f = 0; f < ix->nfields; f++) {
        bson_iter_t it, value;
        if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, ix->fields[f], &value)) {
            append_value_bytes(&b, &value);
        } else {
            uint8_t null_type = BSON_TYPE_NULL;
            bytes_add(&b, &null_type, 1);
        }
    }
    *len = b.len;
    return b.data ? b.data : calloc(1, 1);
}

static Entry *index_find(Index *ix, const uint8_t *key, uint32_t len, uint64_t hash)
{
    if (ix->cap == 0)
        return NULL;
    for (size_t i = hash & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        Entry *e = &ix->entries[i];
        if (e->key == NULL)
            return NULL;
        if (e->key != tombstone && e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    }
}

static void index_put(Index *ix, uint8_t *key, uint32_t len, uint64_t hash, size_t slot);

static void index_grow(Index *ix)
{
    Entry *old = ix->entries;
    size_t old_cap = ix->cap;
    ix->cap = ix->cap ? ix->cap * 2 : 1024;
    ix->entries = calloc(ix->cap, sizeof *ix->entries);
    ix->used = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key != NULL && old[i].key != tombstone)
            index_put(ix, old[i].key, old[i].key_len, old[i].hash, old[i].slot);
    free(old);
}

static void index_put(Index *ix, uint8_t *key, uint32_t len, uint64_t hash, size_t slot)
{
    if ((ix->used + 1) * 2 > ix->cap)
        index_grow(ix);
    size_t i = hash & (ix->cap - 1);
    while (ix->entries[i].key != NULL && ix->entries[i].key != tombstone)
        i = (i + 1) & (ix->cap - 1);
    ix->entries[i] = (Entry){.hash = hash, .key = key, .key_len = len, .slot = slot};
    ix->used++;
}

static void index_remove(Index *ix, const bson_t *doc)
{
    uint32_t len;
    uint8_t *key = index_key(ix, doc, &len);
    Entry *e = index_find(ix, key, len, fnv(key, len));
    if (e != NULL) {
        free(e->key);
        e->key = tombstone;
    }
    free(key);
}

/* The slot of the document an index holds under `doc`'s key, or -1. */
static long index_lookup(Index *ix, const bson_t *doc)
{
    uint32_t len;
    uint8_t *key = index_key(ix, doc, &len);
    Entry *e = index_find(ix, key, len, fnv(key, len));
    free(key);
    return e ? (long)e->slot : -1;
}

static bool index_add(Index *ix, const bson_t *doc, size_t slot)
{
    uint32_t len;
    uint8_t *key = index_key(ix, doc, &len);
    uint64_t hash = fnv(key, len);
    if (ix->unique && index_find(ix, key, len, hash) != NULL) {
        free(key);
        return false;
    }
    index_put(ix, key, len, hash, slot);
    return true;
}

static Index *add_index(Coll *c, const char *name, const bson_t *keys, bool unique)
{
    c->indexes = realloc(c->indexes, (size_t)(c->nindexes + 1) * sizeof *c->indexes);
    Index *ix = &c->indexes[c->nindexes++];
    memset(ix, 0, sizeof *ix);
    ix->name = strdup(name);
    ix->unique = unique;
    bson_iter_t it;
    bson_iter_init(&it, keys);
    while (bson_iter_next(&it)) {
        ix->fields = realloc(ix->fields, (size_t)(ix->nfields + 1) * sizeof(char *));
        ix->fields[ix->nfields++] = strdup(bson_iter_key(&it));
    }
    ix->spec = bson_new();
    BSON_APPEND_INT32(ix->spec, "v", 2);
    BSON_APPEND_DOCUMENT(ix->spec, "key", keys);
    BSON_APPEND_UTF8(ix->spec, "name", name);
    if (unique && strcmp(name, "_id_") != 0)
        BSON_APPEND_BOOL(ix->spec, "unique", true);
    return ix;
}

static Coll *find_coll(const char *ns, bool create)
{
    for (int i = 0; i < ncolls; i++)
        if (strcmp(colls[i]->ns, ns) == 0)
            return colls[i];
    if (!create)
        return NULL;
    if (ncolls == colls_cap) {
        colls_cap = colls_cap ? colls_cap * 2 : 16;
        colls = realloc(colls, (size_t)colls_cap * sizeof *colls);
    }
    Coll *c = calloc(1, sizeof *c);
    c->ns = strdup(ns);
    bson_t keys = BSON_INITIALIZER;
    BSON_APPEND_INT32(&keys, "_id", 1);
    add_index(c, "_id_", &keys, true);
    bson_destroy(&keys);
    colls[ncolls++] = c;
    return c;
}

static void free_coll(Coll *c)
{
    for (size_t i = 0; i < c->ndocs; i++)
        if (c->docs[i])
            bson_destroy(c->docs[i]);
    for (int x = 0; x < c->nindexes; x++) {
        Index *ix = &c->indexes[x];
        for (size_t i = 0; i < ix->cap; i++)
            if (ix->entries[i].key != NULL && ix->entries[i].key != tombstone)
                free(ix->entries[i].key);
        free(ix->entries);
        for (int f = 0; f < ix->nfields; f++)
            free(ix->fields[f]);
        free(ix->fields);
        free(ix->name);
        bson_destroy(ix->spec);
    }
    free(c->indexes);
    free(c->docs);
    free(c->ns);
    if (c->options)
        bson_destroy(c->options);
    free(c);
}

static void drop_coll(const char *ns)
{
    for (int i = 0; i < ncolls; i++)
        if (strcmp(colls[i]->ns, ns) == 0) {
            free_coll(colls[i]);
            colls[i] = colls[--ncolls];
            return;
        }
}

/* Insert a document: false (with the index that refused it) on a duplicate key. Each key is built once. */
static bool coll_insert(Coll *c, bson_t *doc, const char **dup_index)
{
    enum { INDEXES_MAX = 64 };
    uint8_t *keys[INDEXES_MAX];
    uint32_t lens[INDEXES_MAX];
    uint64_t hashes[INDEXES_MAX];
    int n = c->nindexes < INDEXES_MAX ? c->nindexes : INDEXES_MAX;
    for (int x = 0; x < n; x++) {
        keys[x] = index_key(&c->indexes[x], doc, &lens[x]);
        hashes[x] = fnv(keys[x], lens[x]);
        if (c->indexes[x].unique && index_find(&c->indexes[x], keys[x], lens[x], hashes[x]) != NULL) {
            *dup_index = c->indexes[x].name;
            for (int y = 0; y <= x; y++)
                free(keys[y]);
            return false;
        }
    }
    if (c->ndocs == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->docs = realloc(c->docs, c->cap * sizeof *c->docs);
    }
    size_t slot = c->ndocs++;
    c->docs[slot] = doc;
    c->live++;
    for (int x = 0; x < n; x++)
        index_put(&c->indexes[x], keys[x], lens[x], hashes[x], slot);
    return true;
}

static void coll_remove(Coll *c, size_t slot)
{
    for (int x = 0; x < c->nindexes; x++)
        index_remove(&c->indexes[x], c->docs[slot]);
    bson_destroy(c->docs[slot]);
    c->docs[slot] = NULL;
    c->live--;
}

/* ---- comparing and matching ---- */

static int type_rank(bson_type_t t)
{
    switch (t) {
    case BSON_TYPE_MINKEY: return 0;
    case BSON_TYPE_UNDEFINED:
    case BSON_TYPE_NULL: return 1;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: return 2;
    case BSON_TYPE_SYMBOL:
    case BSON_TYPE_UTF8: return 3;
    case BSON_TYPE_DOCUMENT: return 4;
    case BSON_TYPE_ARRAY: return 5;
    case BSON_TYPE_BINARY: return 6;
    case BSON_TYPE_OID: return 7;
    case BSON_TYPE_BOOL: return 8;
    case BSON_TYPE_DATE_TIME: return 9;
    case BSON_TYPE_TIMESTAMP: return 10;
    case BSON_TYPE_REGEX: return 11;
    case BSON_TYPE_MAXKEY: return 13;
    default: return 12;
    }
}

static long double as_number(const bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_DECIMAL128(it)) {
        bson_decimal128_t d;
        bson_iter_decimal128(it, &d);
        char s[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&d, s);
        return strtold(s, NULL);
    }
    if (BSON_ITER_HOLDS_DOUBLE(it))
        return bson_iter_double(it);
    return (long double)bson_iter_as_int64(it);
}

static int cmp_docs(const bson_t *a, const bson_t *b);

static int cmp_values(const bson_iter_t *a, const bson_iter_t *b)
{
    int ra = type_rank(bson_iter_type(a)), rb = type_rank(bson_iter_type(b));
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (ra) {
    case 2: {
        long double x = as_number(a), y = as_number(b);
        return x < y ? -1 : x > y;
    }
    case 3: {
        uint32_t la, lb;
        const char *sa = bson_iter_utf8(a, &la), *sb = bson_iter_utf8(b, &lb);
        int c = memcmp(sa, sb, la < lb ? la : lb);
        return c ? (c < 0 ? -1 : 1) : (la < lb ? -1 : la > lb);
    }
    case 4:
    case 5: {
        uint32_t la, lb;
        const uint8_t *da, *db;
        if (ra == 4) {
            bson_iter_document(a, &la, &da);
            bson_iter_document(b, &lb, &db);
        } else {
            bson_iter_array(a, &la, &da);
            bson_iter_array(b, &lb, &db);
        }
        bson_t x, y;
        bson_init_static(&x, da, la);
        bson_init_static(&y, db, lb);
        return cmp_docs(&x, &y);
    }
    case 6: {
        uint32_t la, lb;
        bson_subtype_t ta, tb;
        const uint8_t *da, *db;
        bson_iter_binary(a, &ta, &la, &da);
        bson_iter_binary(b, &tb, &lb, &db);
        if (la != lb)
            return la < lb ? -1 : 1;
        if (ta != tb)
            return ta < tb ? -1 : 1;
        int c = memcmp(da, db, la);
        return c < 0 ? -1 : c > 0;
    }
    case 7: {
        int c = bson_oid_compare(bson_iter_oid(a), bson_iter_oid(b));
        return c < 0 ? -1 : c > 0;
    }
    case 8:
        return (int)bson_iter_bool(a) - (int)bson_iter_bool(b);
    case 9: {
        int64_t x = bson_iter_date_time(a), y = bson_iter_date_time(b);
        return x < y ? -1 : x > y;
    }
    default:
        return 0;
    }
}

static int cmp_docs(const bson_t *a, const bson_t *b)
{
    bson_iter_t x, y;
    bson_iter_init(&x, a);
    bson_iter_init(&y, b);
    for (;;) {
        bool mx = bson_iter_next(&x), my = bson_iter_next(&y);
        if (!mx || !my)
            return mx == my ? 0 : mx ? 1 : -1;
        int ra = type_rank(bson_iter_type(&x)), rb = type_rank(bson_iter_type(&y));
        if (ra != rb)
            return ra < rb ? -1 : 1;
        int c = strcmp(bson_iter_key(&x), bson_iter_key(&y));
        if (c)
            return c < 0 ? -1 : 1;
        c = cmp_values(&x, &y);
        if (c)
            return c;
    }
}

static bool matches(const bson_t *doc, const bson_t *filter);

static bool match_list(const bson_t *doc, const bson_iter_t *list, bool any)
{
    bson_iter_t it;
    bson_iter_recurse(list, &it);
    while (bson_iter_next(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&it, &len, &data);
        bson_t sub;
        bson_init_static(&sub, data, len);
        bool m = matches(doc, &sub);
        if (any && m)
            return true;
        if (!any && !m)
            return false;
    }
    return !any; /* $and: nothing failed; $or: nothing matched */
}

static bool op_holds(const char *op, const bson_iter_t *value, bool found, const bson_iter_t *arg)
{
    if (strcmp(op, "$exists") == 0)
        return found == bson_iter_as_bool(arg);
    if (strcmp(op, "$in") == 0) {
        bson_iter_t e;
        bson_iter_recurse(arg, &e);
        while (found && bson_iter_next(&e))
            if (cmp_values(value, &e) == 0)
                return true;
        return false;
    }
    if (!found)
        return strcmp(op, "$ne") == 0 || (strcmp(op, "$eq") == 0 && BSON_ITER_HOLDS_NULL(arg));
    bool same_bracket = type_rank(bson_iter_type(value)) == type_rank(bson_iter_type(arg));
    int c = cmp_values(value, arg);
    if (strcmp(op, "$eq") == 0)
        return c == 0 && same_bracket;
    if (strcmp(op, "$ne") == 0)
        return !(c == 0 && same_bracket);
    if (!same_bracket)
        return false;
    if (strcmp(op, "$gt") == 0)
        return c > 0;
    if (strcmp(op, "$gte") == 0)
        return c >= 0;
    if (strcmp(op, "$lt") == 0)
        return c < 0;
    if (strcmp(op, "$lte") == 0)
        return c <= 0;
    return false;
}

static bool matches(const bson_t *doc, const bson_t *filter)
{
    bson_iter_t f;
    bson_iter_init(&f, filter);
    while (bson_iter_next(&f)) {
        const char *key = bson_iter_key(&f);
        if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0) {
            if (!match_list(doc, &f, key[1] == 'o'))
                return false;
            continue;
        }
        bson_iter_t it, value;
        bool found = bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, key, &value);
        if (BSON_ITER_HOLDS_DOCUMENT(&f)) {
            bson_iter_t ops;
            bson_iter_recurse(&f, &ops);
            if (bson_iter_next(&ops) && bson_iter_key(&ops)[0] == '$') {
                do {
                    if (!op_holds(bson_iter_key(&ops), &value, found, &ops))
                        return false;
                } while (bson_iter_next(&ops));
                continue;
            }
        }
        if (!op_holds("$eq", &value, found, &f))
            return false;
    }
    return true;
}

/* The slot of the one document a filter names by a unique index, or -2 if no index serves it. */
static long lookup_by_index(Coll *c, const bson_t *filter)
{
    int nf = 0;
    bson_iter_t it;
    bson_iter_init(&it, filter);
    while (bson_iter_next(&it)) {
        if (bson_iter_key(&it)[0] == '$')
            return -2;
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_t sub;
            bson_iter_recurse(&it, &sub);
            if (bson_iter_next(&sub) && bson_iter_key(&sub)[0] == '$')
                return -2;
        }
        nf++;
    }
    for (int x = 0; x < c->nindexes; x++) {
        Index *ix = &c->indexes[x];
        if (!ix->unique || ix->nfields != nf)
            continue;
        bool all = true;
        for (int k = 0; k < nf && all; k++)
            all = bson_has_field(filter, ix->fields[k]) && strchr(ix->fields[k], '.') == NULL;
        if (all)
            return index_lookup(ix, filter);
    }
    return -2;
}

static bson_t *project(const bson_t *doc, const bson_t *projection)
{
    if (projection == NULL || bson_empty(projection))
        return bson_copy(doc);
    bson_t *out = bson_new();
    bool with_id = true;
    bson_iter_t p;
    if (bson_iter_init_find(&p, projection, "_id") && !bson_iter_as_bool(&p))
        with_id = false;
    bson_iter_t it;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        size_t klen = strlen(key);
        bool take = strcmp(key, "_id") == 0 && with_id;
        bson_iter_init(&p, projection);
        while (!take && bson_iter_next(&p)) {
            const char *path = bson_iter_key(&p);
            take = bson_iter_as_bool(&p) &&
                   (strcmp(path, key) == 0 || (strncmp(path, key, klen) == 0 && path[klen] == '.'));
        }
        if (take)
            bson_append_iter(out, NULL, 0, &it);
    }
    return out;
}

/* ---- commands ---- */

static void ok_reply(bson_t *reply)
{
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static void error_reply(bson_t *reply, int code, const char *name, const char *msg)
{
    bson_reinit(reply);
    BSON_APPEND_DOUBLE(reply, "ok", 0.0);
    BSON_APPEND_UTF8(reply, "errmsg", msg);
    BSON_APPEND_INT32(reply, "code", code);
    BSON_APPEND_UTF8(reply, "codeName", name);
}

static const char *string_field(const bson_t *cmd, const char *name)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, cmd, name) && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
}

static bool doc_field(const bson_t *cmd, const char *name, bson_t *out)
{
    bson_iter_t it;
    uint32_t len;
    const uint8_t *data;
    if (!bson_iter_init_find(&it, cmd, name) || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return false;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(out, data, len);
}

static void hello(bson_t *reply)
{
    BSON_APPEND_BOOL(reply, "helloOk", true);
    BSON_APPEND_BOOL(reply, "ismaster", true);
    BSON_APPEND_BOOL(reply, "isWritablePrimary", true);
    BSON_APPEND_INT32(reply, "maxBsonObjectSize", 16 * 1024 * 1024);
    BSON_APPEND_INT32(reply, "maxMessageSizeBytes", 48000000);
    BSON_APPEND_INT32(reply, "maxWriteBatchSize", 100000);
    BSON_APPEND_DATE_TIME(reply, "localTime", (int64_t)time(NULL) * 1000);
    BSON_APPEND_INT32(reply, "minWireVersion", 0);
    BSON_APPEND_INT32(reply, "maxWireVersion", 13);
    BSON_APPEND_BOOL(reply, "readOnly", false);
    ok_reply(reply);
}

typedef struct WriteResult {
    int64_t n, modified;
    bson_t upserted, errors;
    int nupserted, nerrors;
} WriteResult;

static void write_error(WriteResult *r, int index, int code, const char *msg)
{
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)r->nerrors++, &k, key, sizeof key);
    bson_t e;
    bson_append_document_begin(&r->errors, k, -1, &e);
    BSON_APPEND_INT32(&e, "index", index);
    BSON_APPEND_INT32(&e, "code", code);
    BSON_APPEND_UTF8(&e, "errmsg", msg);
    bson_append_document_end(&r->errors, &e);
}

static void dup_error(WriteResult *r, int index, const Coll *c, const char *ix, const bson_t *doc)
{
    char msg[512];
    bson_iter_t it;
    char *id = NULL;
    if (bson_iter_init_find(&it, doc, "_id")) {
        bson_t one = BSON_INITIALIZER;
        bson_append_iter(&one, "_id", -1, &it);
        id = bson_as_relaxed_extended_json(&one, NULL);
        bson_destroy(&one);
    }
    snprintf(msg, sizeof msg, "E11000 duplicate key error collection: %s index: %s dup key: %s", c->ns, ix,
             id ? id : "{}");
    bson_free(id);
    write_error(r, index, 11000, msg);
}

static bson_t *replacement_with_id(const bson_t *u, const bson_t *q, const bson_t *old)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, u, "_id"))
        return bson_copy(u);
    bson_t *doc = bson_new();
    if (old != NULL && bson_iter_init_find(&it, old, "_id"))
        bson_append_iter(doc, "_id", 3, &it);
    else if (q != NULL && bson_iter_init_find(&it, q, "_id") && !BSON_ITER_HOLDS_DOCUMENT(&it))
        bson_append_iter(doc, "_id", 3, &it);
    else if (q != NULL && bson_iter_init_find(&it, q, "_id")) {
        bson_iter_t sub; /* {_id: {...}} is an equality unless it holds operators */
        bson_iter_recurse(&it, &sub);
        if (!(bson_iter_next(&sub) && bson_iter_key(&sub)[0] == '$'))
            bson_append_iter(doc, "_id", 3, &it);
    }
    if (!bson_has_field(doc, "_id")) {
        bson_oid_t oid;
        bson_oid_init(&oid, NULL);
        BSON_APPEND_OID(doc, "_id", &oid);
    }
    bson_iter_init(&it, u);
    while (bson_iter_next(&it))
        bson_append_iter(doc, NULL, 0, &it);
    return doc;
}

static void apply_update(Coll *c, const bson_t *op, int index, WriteResult *r)
{
    bson_t q, u;
    bson_iter_t it;
    bool upsert = bson_iter_init_find(&it, op, "upsert") && bson_iter_as_bool(&it);
    if (!doc_field(op, "q", &q) || !doc_field(op, "u", &u)) {
        write_error(r, index, 9, "update needs q and u documents");
        return;
    }
    bson_iter_init(&it, &u);
    if (bson_iter_next(&it) && bson_iter_key(&it)[0] == '$') {
        write_error(r, index, 9, "minimongo takes replacement updates only");
        return;
    }
    long slot = lookup_by_index(c, &q);
    if (slot == -2) {
        slot = -1;
        for (size_t i = 0; i < c->ndocs && slot < 0; i++)
            if (c->docs[i] && matches(c->docs[i], &q))
                slot = (long)i;
    }
    const char *dup = NULL;
    if (slot >= 0) {
        bson_t *old = c->docs[slot];
        bson_t *doc = replacement_with_id(&u, NULL, old);
        bson_iter_t a, b;
        if (bson_iter_init_find(&a, old, "_id") && bson_iter_init_find(&b, doc, "_id") && cmp_values(&a, &b) != 0) {
            write_error(r, index, 66, "Performing an update on the path '_id' would modify the immutable field '_id'");
            bson_destroy(doc);
            return;
        }
        bool changed = !bson_equal(old, doc);
        bson_t *keep = bson_copy(old);
        coll_remove(c, (size_t)slot);
        if (!coll_insert(c, doc, &dup)) {
            dup_error(r, index, c, dup, doc);
            bson_destroy(doc);
            coll_insert(c, keep, &dup);
            return;
        }
        bson_destroy(keep);
        r->n++;
        r->modified += changed;
        return;
    }
    if (!upsert)
        return;
    bson_t *doc = replacement_with_id(&u, &q, NULL);
    if (!coll_insert(c, doc, &dup)) {
        dup_error(r, index, c, dup, doc);
        bson_destroy(doc);
        return;
    }
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)r->nupserted++, &k, key, sizeof key);
    bson_t up;
    bson_append_document_begin(&r->upserted, k, -1, &up);
    BSON_APPEND_INT32(&up, "index", index);
    bson_iter_init_find(&it, doc, "_id");
    bson_append_iter(&up, "_id", 3, &it);
    bson_append_document_end(&r->upserted, &up);
    r->n++;
}

static void apply_insert(Coll *c, const bson_t *doc, int index, WriteResult *r)
{
    bson_t *copy = bson_has_field(doc, "_id") ? bson_copy(doc) : replacement_with_id(doc, NULL, NULL);
    const char *dup;
    if (!coll_insert(c, copy, &dup)) {
        dup_error(r, index, c, dup, copy);
        bson_destroy(copy);
        return;
    }
    r->n++;
}

static void apply_delete(Coll *c, const bson_t *op, WriteResult *r)
{
    bson_t q;
    bson_iter_t it;
    int64_t limit = bson_iter_init_find(&it, op, "limit") ? bson_iter_as_int64(&it) : 0;
    if (!doc_field(op, "q", &q))
        return;
    for (size_t i = 0; i < c->ndocs; i++)
        if (c->docs[i] && matches(c->docs[i], &q)) {
            coll_remove(c, i);
            r->n++;
            if (limit == 1)
                return;
        }
}

/* insert, update, delete: returns false when the connection is to be dropped (fault). */
static bool write_command(const char *name, const bson_t *cmd, const char *ns, bson_t *reply)
{
    static const struct { const char *cmd, *list; } lists[] = {
        {"insert", "documents"}, {"update", "updates"}, {"delete", "deletes"}};
    const char *list = NULL;
    for (int i = 0; i < 3; i++)
        if (strcmp(name, lists[i].cmd) == 0)
            list = lists[i].list;
    bson_iter_t it, ops;
    if (!bson_iter_init_find(&it, cmd, list) || !BSON_ITER_HOLDS_ARRAY(&it)) {
        error_reply(reply, 9, "FailedToParse", "missing the list of operations");
        return true;
    }
    long write = ++writes_seen;
    bson_t wc;
    bson_reinit(&last_write_concern);
    if (doc_field(cmd, "writeConcern", &wc))
        bson_concat(&last_write_concern, &wc);
    int fault = fault_for(write);
    if (fault >= 0)
        fprintf(stderr, "minimongo: fault %s at write %ld\n", fault_names[fault], write);
    if (fault == FAULT_KILL) {
        error_reply(reply, 11601, "Interrupted", "operation was interrupted");
        return true;
    }
    if (fault == FAULT_STEPDOWN) {
        error_reply(reply, 10107, "NotWritablePrimary", "not primary");
        return true;
    }
    int count = 0;
    bson_iter_recurse(&it, &ops);
    while (bson_iter_next(&ops))
        count++;
    Coll *c = find_coll(ns, true);
    WriteResult r = {0};
    bson_init(&r.upserted);
    bson_init(&r.errors);
    bson_iter_recurse(&it, &ops);
    int index = 0;
    while (bson_iter_next(&ops)) {
        if (fault == FAULT_DROP && index >= count / 2)
            break;
        if (fault == FAULT_DUP && index == count / 2) {
            write_error(&r, index, 11000, "E11000 duplicate key error (injected by minimongo)");
            index++;
            continue;
        }
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&ops, &len, &data);
        bson_t op;
        bson_init_static(&op, data, len);
        if (name[0] == 'i')
            apply_insert(c, &op, index, &r);
        else if (name[0] == 'u')
            apply_update(c, &op, index, &r);
        else
            apply_delete(c, &op, &r);
        index++;
    }
    bool keep = fault != FAULT_DROP;
    BSON_APPEND_INT64(reply, "n", r.n);
    if (name[0] == 'u') {
        BSON_APPEND_INT64(reply, "nModified", r.modified);
        if (r.nupserted)
            BSON_APPEND_ARRAY(reply, "upserted", &r.upserted);
    }
    if (r.nerrors)
        BSON_APPEND_ARRAY(reply, "writeErrors", &r.errors);
    if (fault == FAULT_WCE) {
        bson_t wce;
        BSON_APPEND_DOCUMENT_BEGIN(reply, "writeConcernError", &wce);
        BSON_APPEND_INT32(&wce, "code", 64);
        BSON_APPEND_UTF8(&wce, "codeName", "WriteConcernFailed");
        BSON_APPEND_UTF8(&wce, "errmsg", "waiting for replication timed out (injected by minimongo)");
        bson_append_document_end(reply, &wce);
    }
    ok_reply(reply);
    bson_destroy(&r.upserted);
    bson_destroy(&r.errors);
    return keep;
}

static void cursor_batch(Cursor *cur, int64_t batch_size, bson_t *reply, const char *field)
{
    bson_t cdoc, list;
    size_t end = cur->count;
    if (batch_size > 0 && cur->pos + (size_t)batch_size < end)
        end = cur->pos + (size_t)batch_size;
    size_t bytes = 0;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cdoc);
    BSON_APPEND_UTF8(&cdoc, "ns", cur->ns);
    BSON_APPEND_ARRAY_BEGIN(&cdoc, field, &list);
    uint32_t i = 0;
    for (; cur->pos < end && bytes < 8u * 1024 * 1024; cur->pos++, i++) {
        char key[16];
        const char *k;
        bson_uint32_to_string(i, &k, key, sizeof key);
        BSON_APPEND_DOCUMENT(&list, k, cur->docs[cur->pos]);
        bytes += cur->docs[cur->pos]->len;
    }
    bson_append_array_end(&cdoc, &list);
    BSON_APPEND_INT64(&cdoc, "id", cur->pos < cur->count ? cur->id : 0);
    bson_append_document_end(reply, &cdoc);
    ok_reply(reply);
}

static void free_cursor(int at)
{
    Cursor *cur = cursors[at];
    for (size_t i = 0; i < cur->count; i++)
        bson_destroy(cur->docs[i]);
    free(cur->docs);
    free(cur->ns);
    free(cur);
    cursors[at] = cursors[--ncursors];
}

static Cursor *new_cursor(const char *ns)
{
    if (ncursors == cursors_cap) {
        cursors_cap = cursors_cap ? cursors_cap * 2 : 16;
        cursors = realloc(cursors, (size_t)cursors_cap * sizeof *cursors);
    }
    Cursor *cur = calloc(1, sizeof *cur);
    cur->id = next_cursor_id++;
    cur->ns = strdup(ns);
    cursors[ncursors++] = cur;
    return cur;
}

static void cursor_add(Cursor *cur, bson_t *doc)
{
    if ((cur->count & (cur->count - 1)) == 0 || cur->count == 0)
        cur->docs = realloc(cur->docs, (cur->count ? cur->count * 2 : 1) * sizeof *cur->docs);
    cur->docs[cur->count++] = doc;
}

static void find_command(const bson_t *cmd, const char *ns, bson_t *reply)
{
    bson_t filter = BSON_INITIALIZER, projection;
    bson_t *proj = doc_field(cmd, "projection", &projection) ? &projection : NULL;
    bool has_filter = doc_field(cmd, "filter", &filter);
    bson_iter_t it;
    int64_t batch = bson_iter_init_find(&it, cmd, "batchSize") ? bson_iter_as_int64(&it) : 101;
    int64_t limit = bson_iter_init_find(&it, cmd, "limit") ? bson_iter_as_int64(&it) : 0;
    Cursor *cur = new_cursor(ns);
    Coll *c = find_coll(ns, false);
    for (size_t i = 0; c != NULL && i < c->ndocs && (limit <= 0 || (int64_t)cur->count < limit); i++)
        if (c->docs[i] && (!has_filter || matches(c->docs[i], &filter)))
            cursor_add(cur, project(c->docs[i], proj));
    cursor_batch(cur, batch, reply, "firstBatch");
    if (cur->pos >= cur->count)
        free_cursor(ncursors - 1);
}

static void get_more(const bson_t *cmd, bson_t *reply)
{
    bson_iter_t it;
    int64_t id = bson_iter_init_find(&it, cmd, "getMore") ? bson_iter_as_int64(&it) : 0;
    int64_t batch = bson_iter_init_find(&it, cmd, "batchSize") ? bson_iter_as_int64(&it) : 0;
    for (int i = 0; i < ncursors; i++) {
        if (cursors[i]->id != id)
            continue;
        cursor_batch(cursors[i], batch, reply, "nextBatch");
        if (cursors[i]->pos >= cursors[i]->count)
            free_cursor(i);
        return;
    }
    error_reply(reply, 43, "CursorNotFound", "cursor not found");
}

static void create_indexes(const bson_t *cmd, const char *ns, bson_t *reply)
{
    Coll *c = find_coll(ns, true);
    int before = c->nindexes;
    bson_iter_t it, list;
    if (!bson_iter_init_find(&it, cmd, "indexes") || !bson_iter_recurse(&it, &list)) {
        error_reply(reply, 9, "FailedToParse", "createIndexes needs indexes");
        return;
    }
    while (bson_iter_next(&list)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&list, &len, &data);
        bson_t spec, keys;
        bson_init_static(&spec, data, len);
        const char *name = string_field(&spec, "name");
        bool unique = bson_iter_init_find(&it, &spec, "unique") && bson_iter_as_bool(&it);
        if (name == NULL || !doc_field(&spec, "key", &keys)) {
            error_reply(reply, 9, "FailedToParse", "an index needs key and name");
            return;
        }
        bool exists = false;
        for (int x = 0; x < c->nindexes; x++)
            exists |= strcmp(c->indexes[x].name, name) == 0;
        if (exists)
            continue;
        Index *ix = add_index(c, name, &keys, unique);
        for (size_t i = 0; i < c->ndocs; i++) {
            if (c->docs[i] && !index_add(ix, c->docs[i], i)) {
                error_reply(reply, 11000, "DuplicateKey", "E11000 duplicate key error building a unique index");
                c->nindexes--; /* the index is abandoned (its memory with it, in a test server) */
                return;
            }
        }
    }
    BSON_APPEND_INT32(reply, "numIndexesBefore", before);
    BSON_APPEND_INT32(reply, "numIndexesAfter", c->nindexes);
    ok_reply(reply);
}

static void list_indexes(const char *ns, bson_t *reply)
{
    Coll *c = find_coll(ns, false);
    if (c == NULL) {
        error_reply(reply, 26, "NamespaceNotFound", "ns does not exist");
        return;
    }
    Cursor *cur = new_cursor(ns);
    for (int x = 0; x < c->nindexes; x++)
        cursor_add(cur, bson_copy(c->indexes[x].spec));
    cursor_batch(cur, 0, reply, "firstBatch");
    free_cursor(ncursors - 1);
}

/* create: a collection with options (a default collation above all), kept for listCollections. */
static void create_command(const bson_t *cmd, const char *ns, bson_t *reply)
{
    if (find_coll(ns, false) != NULL) {
        error_reply(reply, 48, "NamespaceExists", "Collection already exists.");
        return;
    }
    Coll *c = find_coll(ns, true);
    c->options = bson_new();
    bson_iter_t it;
    bson_iter_init(&it, cmd);
    bson_iter_next(&it); /* the command name */
    while (bson_iter_next(&it))
        if (bson_iter_key(&it)[0] != '$' && strcmp(bson_iter_key(&it), "lsid") != 0)
            bson_append_iter(c->options, NULL, 0, &it);
    ok_reply(reply);
}

/* listCollections, with the filter {name: …} libmongoc sends; each with its options. */
static void list_collections(const bson_t *cmd, const char *db, bson_t *reply)
{
    bson_t filter;
    bool has_filter = doc_field(cmd, "filter", &filter);
    char prefix[256], ns[512];
    snprintf(prefix, sizeof prefix, "%s.", db);
    snprintf(ns, sizeof ns, "%s.$cmd.listCollections", db);
    Cursor *cur = new_cursor(ns);
    for (int i = 0; i < ncolls; i++) {
        if (strncmp(colls[i]->ns, prefix, strlen(prefix)) != 0)
            continue;
        bson_t *entry = bson_new(), info;
        BSON_APPEND_UTF8(entry, "name", colls[i]->ns + strlen(prefix));
        BSON_APPEND_UTF8(entry, "type", "collection");
        if (colls[i]->options)
            BSON_APPEND_DOCUMENT(entry, "options", colls[i]->options);
        else
            BSON_APPEND_DOCUMENT(entry, "options", &(bson_t)BSON_INITIALIZER);
        BSON_APPEND_DOCUMENT_BEGIN(entry, "info", &info);
        BSON_APPEND_BOOL(&info, "readOnly", false);
        bson_append_document_end(entry, &info);
        if (!has_filter || matches(entry, &filter))
            cursor_add(cur, entry);
        else
            bson_destroy(entry);
    }
    cursor_batch(cur, 0, reply, "firstBatch");
    free_cursor(ncursors - 1);
}

/* ---- authentication: SCRAM-SHA-256 (RFC 5802, RFC 7677), as MongoDB does it ---- */

static const char *auth_user, *auth_password; /* --user USER:PASSWORD; NULL: no authentication */

/* What one connection has said of itself: authenticated yet, and the conversation so far. */
typedef struct Conn {
    bool authenticated;
    bool in_conversation;
    char client_first_bare[512];
    char server_first[512];
    char nonce[256];
    unsigned char salted[32];
} Conn;

static void hmac256(const unsigned char *key, size_t key_len, const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n);
}

/* The `payload` binary of a sasl command as a NUL-terminated string (into out). */
static bool sasl_payload(const bson_t *cmd, char *out, size_t cap)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, cmd, "payload"))
        return false;
    const uint8_t *data = NULL;
    uint32_t len = 0;
    if (BSON_ITER_HOLDS_BINARY(&it)) {
        bson_iter_binary(&it, NULL, &len, &data);
    } else if (BSON_ITER_HOLDS_UTF8(&it)) {
        data = (const uint8_t *)bson_iter_utf8(&it, &len);
    }
    if (data == NULL || len >= cap)
        return false;
    memcpy(out, data, len);
    out[len] = '\0';
    return true;
}

static void sasl_reply(bson_t *reply, bool done, const char *payload)
{
    BSON_APPEND_INT32(reply, "conversationId", 1);
    BSON_APPEND_BOOL(reply, "done", done);
    BSON_APPEND_BINARY(reply, "payload", BSON_SUBTYPE_BINARY, (const uint8_t *)payload, (uint32_t)strlen(payload));
    ok_reply(reply);
}

static void auth_failed(Conn *conn, bson_t *reply)
{
    conn->in_conversation = false;
    error_reply(reply, 18, "AuthenticationFailed", "Authentication failed.");
}

/* saslStart: the client's "n,,n=USER,r=NONCE"; the server's "r=NONCE+MINE,s=SALT,i=4096". */
static void sasl_start(Conn *conn, const bson_t *cmd, bson_t *reply)
{
    const char *mechanism = string_field(cmd, "mechanism");
    char first[512];
    if (mechanism == NULL || strcmp(mechanism, "SCRAM-SHA-256") != 0) {
        error_reply(reply, 334, "MechanismUnavailable", "Unsupported mechanism: only SCRAM-SHA-256");
        return;
    }
    if (!sasl_payload(cmd, first, sizeof first) || strncmp(first, "n,,", 3) != 0) {
        auth_failed(conn, reply);
        return;
    }
    snprintf(conn->client_first_bare, sizeof conn->client_first_bare, "%s", first + 3);
    const char *r = strstr(conn->client_first_bare, ",r=");
    size_t ulen = strlen(auth_user);
    bool user_ok = strncmp(conn->client_first_bare, "n=", 2) == 0 &&
                   strncmp(conn->client_first_bare + 2, auth_user, ulen) == 0 &&
                   conn->client_first_bare[2 + ulen] == ',';
    if (r == NULL) {
        auth_failed(conn, reply);
        return;
    }
    unsigned char random[18], salt[28]; /* libmongoc takes a salt of the hash size less 4 */
    char mine[32], salt64[48];
    RAND_bytes(random, sizeof random);
    RAND_bytes(salt, sizeof salt);
    EVP_EncodeBlock((unsigned char *)mine, random, sizeof random);
    EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof salt);
    snprintf(conn->nonce, sizeof conn->nonce, "%s%s", r + 3, mine);
    snprintf(conn->server_first, sizeof conn->server_first, "r=%s,s=%s,i=4096", conn->nonce, salt64);
    /* An unknown user gets a conversation too, and fails at the proof, as a server does. */
    const char *password = user_ok ? auth_password : "";
    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof salt, 4096, EVP_sha256(), 32, conn->salted);
    if (!user_ok)
        RAND_bytes(conn->salted, sizeof conn->salted);
    conn->in_conversation = true;
    sasl_reply(reply, false, conn->server_first);
}

/* saslContinue: the client's "c=biws,r=NONCE,p=PROOF", checked; the server's "v=SIGNATURE". */
static void sasl_continue(Conn *conn, const bson_t *cmd, bson_t *reply)
{
    char final[1024];
    if (conn->authenticated) { /* the empty step some clients send after the last */
        sasl_reply(reply, true, "");
        return;
    }
    if (!conn->in_conversation || !sasl_payload(cmd, final, sizeof final)) {
        auth_failed(conn, reply);
        return;
    }
    char *proof = strstr(final, ",p=");
    char want_r[300];
    snprintf(want_r, sizeof want_r, ",r=%s,", conn->nonce);
    if (proof == NULL || strncmp(final, "c=biws", 6) != 0 || strstr(final, want_r) != final + 6) {
        auth_failed(conn, reply);
        return;
    }
    *proof = '\0';
    char auth_message[2048];
    snprintf(auth_message, sizeof auth_message, "%s,%s,%s", conn->client_first_bare, conn->server_first, final);
    unsigned char client_key[32], stored_key[32], signature[32], given[48], server_key[32];
    hmac256(conn->salted, 32, "Client Key", 10, client_key);
    SHA256(client_key, 32, stored_key);
    hmac256(stored_key, 32, auth_message, strlen(auth_message), signature);
    int n = EVP_DecodeBlock(given, (const unsigned char *)proof + 3, (int)strlen(proof + 3));
    bool match = n >= 32;
    for (int i = 0; match && i < 32; i++)
        match = (unsigned char)(given[i] ^ signature[i]) == client_key[i];
    if (!match) {
        auth_failed(conn, reply);
        return;
    }
    hmac256(conn->salted, 32, "Server Key", 10, server_key);
    hmac256(server_key, 32, auth_message, strlen(auth_message), signature);
    char v[64] = "v=";
    EVP_EncodeBlock((unsigned char *)v + 2, signature, 32);
    conn->authenticated = true;
    conn->in_conversation = false;
    sasl_reply(reply, true, v);
}

/* Run one command; false: drop the connection without a reply. */
static bool run_command(Conn *conn, const bson_t *cmd, bson_t *reply)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it)) {
        error_reply(reply, 9, "FailedToParse", "empty command");
        return true;
    }
    const char *name = bson_iter_key(&it);
    const char *coll = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";
    const char *db = string_field(cmd, "$db");
    char ns[512];
    snprintf(ns, sizeof ns, "%s.%s", db ? db : "test", coll);
    if (strcasecmp(name, "hello") == 0 || strcasecmp(name, "isMaster") == 0) {
        hello(reply);
        if (auth_user != NULL && bson_has_field(cmd, "saslSupportedMechs")) {
            bson_t mechs;
            BSON_APPEND_ARRAY_BEGIN(reply, "saslSupportedMechs", &mechs);
            BSON_APPEND_UTF8(&mechs, "0", "SCRAM-SHA-256");
            bson_append_array_end(reply, &mechs);
        }
        return true;
    }
    if (auth_user != NULL && strcmp(name, "saslStart") == 0) {
        sasl_start(conn, cmd, reply);
        return true;
    }
    if (auth_user != NULL && strcmp(name, "saslContinue") == 0) {
        sasl_continue(conn, cmd, reply);
        return true;
    }
    if (auth_user != NULL && !conn->authenticated && strcmp(name, "ping") != 0 &&
        strcmp(name, "endSessions") != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "command %s requires authentication", name);
        error_reply(reply, 13, "Unauthorized", msg);
        return true;
    }
    if (strcmp(name, "ping") == 0 || strcmp(name, "endSessions") == 0 || strcmp(name, "killCursors") == 0) {
        ok_reply(reply);
        return true;
    }
    if (strcasecmp(name, "buildInfo") == 0) {
        BSON_APPEND_UTF8(reply, "version", "6.0.0-minimongo");
        ok_reply(reply);
        return true;
    }
    bool keep = true;
    pthread_mutex_lock(&lock);
    if (strcmp(name, "insert") == 0 || strcmp(name, "update") == 0 || strcmp(name, "delete") == 0) {
        keep = write_command(name, cmd, ns, reply);
    } else if (strcmp(name, "find") == 0) {
        find_command(cmd, ns, reply);
    } else if (strcmp(name, "minimongoStats") == 0) {
        BSON_APPEND_INT64(reply, "writes", writes_seen);
        BSON_APPEND_DOCUMENT(reply, "lastWriteConcern", &last_write_concern);
        ok_reply(reply);
    } else if (strcmp(name, "getMore") == 0) {
        get_more(cmd, reply);
    } else if (strcmp(name, "count") == 0) {
        bson_t q;
        bool has_q = doc_field(cmd, "query", &q);
        Coll *c = find_coll(ns, false);
        int64_t n = 0;
        for (size_t i = 0; c != NULL && i < c->ndocs; i++)
            n += c->docs[i] && (!has_q || matches(c->docs[i], &q));
        BSON_APPEND_INT64(reply, "n", n);
        ok_reply(reply);
    } else if (strcmp(name, "createIndexes") == 0) {
        create_indexes(cmd, ns, reply);
    } else if (strcmp(name, "listIndexes") == 0) {
        list_indexes(ns, reply);
    } else if (strcmp(name, "create") == 0) {
        create_command(cmd, ns, reply);
    } else if (strcmp(name, "listCollections") == 0) {
        list_collections(cmd, db ? db : "test", reply);
    } else if (strcmp(name, "drop") == 0) {
        if (find_coll(ns, false) == NULL) {
            error_reply(reply, 26, "NamespaceNotFound", "ns not found");
        } else {
            drop_coll(ns);
            ok_reply(reply);
        }
    } else if (strcmp(name, "dropDatabase") == 0) {
        size_t dlen = strlen(db ? db : "test");
        for (int i = ncolls - 1; i >= 0; i--)
            if (strncmp(colls[i]->ns, db ? db : "test", dlen) == 0 && colls[i]->ns[dlen] == '.')
                drop_coll(colls[i]->ns);
        ok_reply(reply);
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "no such command: '%s'", name);
        error_reply(reply, 59, "CommandNotFound", msg);
    }
    pthread_mutex_unlock(&lock);
    return keep;
}

/* ---- the wire ---- */

static bool read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static int32_t le32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void put32(uint8_t *p, int32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)((uint32_t)v >> (8 * i));
}

static bool send_reply(int fd, int32_t request_id, int op, const bson_t *reply)
{
    static int32_t next_id = 1;
    size_t head = op == OP_MSG ? 16 + 4 + 1 : 16 + 20;
    size_t total = head + reply->len;
    uint8_t *msg = calloc(1, total);
    put32(msg, (int32_t)total);
    put32(msg + 4, __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED));
    put32(msg + 8, request_id);
    put32(msg + 12, op);
    if (op == OP_MSG) {
        msg[20] = 0; /* flags 0, then a kind-0 section */
    } else {
        put32(msg + 32, 1); /* responseFlags 0, cursorID 0, startingFrom 0, numberReturned 1 */
    }
    memcpy(msg + head, bson_get_data(reply), reply->len);
    bool ok = write_all(fd, msg, total);
    free(msg);
    return ok;
}

/* OP_MSG: the body section, with each document sequence appended as an array under its identifier. */
static bool parse_msg(const uint8_t *body, size_t len, bson_t *cmd, bool *more_to_come)
{
    if (len < 5)
        return false;
    uint32_t flags = (uint32_t)le32(body);
    *more_to_come = flags & 2u;
    size_t end = len - ((flags & 1u) ? 4 : 0), pos = 4;
    bool have_body = false;
    bson_init(cmd);
    while (pos < end) {
        uint8_t kind = body[pos++];
        if (kind == 0) {
            if (pos + 4 > end)
                return false;
            int32_t dlen = le32(body + pos);
            bson_t doc;
            if (dlen < 5 || pos + (size_t)dlen > end || !bson_init_static(&doc, body + pos, (size_t)dlen))
                return false;
            bson_iter_t it;
            bson_iter_init(&it, &doc);
            while (bson_iter_next(&it))
                bson_append_iter(cmd, NULL, 0, &it);
            have_body = true;
            pos += (size_t)dlen;
        } else if (kind == 1) {
            if (pos + 4 > end)
                return false;
            int32_t slen = le32(body + pos);
            size_t send = pos + (size_t)slen;
            if (slen < 5 || send > end)
                return false;
            const char *id = (const char *)body + pos + 4;
            size_t q = pos + 4 + strnlen(id, send - pos - 4) + 1;
            bson_t arr;
            bson_append_array_begin(cmd, id, -1, &arr);
            uint32_t i = 0;
            while (q + 4 <= send) {
                int32_t dlen = le32(body + q);
                bson_t doc;
                if (dlen < 5 || q + (size_t)dlen > send || !bson_init_static(&doc, body + q, (size_t)dlen))
                    return false;
                char key[16];
                const char *k;
                bson_uint32_to_string(i++, &k, key, sizeof key);
                BSON_APPEND_DOCUMENT(&arr, k, &doc);
                q += (size_t)dlen;
            }
            bson_append_array_end(cmd, &arr);
            pos = send;
        } else {
            return false;
        }
    }
    return have_body;
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    Conn conn = {0};
    uint8_t header[16];
    while (read_all(fd, header, sizeof header)) {
        int32_t len = le32(header), request_id = le32(header + 4), op = le32(header + 12);
        if (len < 16 || len > MESSAGE_MAX)
            break;
        uint8_t *body = malloc((size_t)len - 16);
        if (!read_all(fd, body, (size_t)len - 16)) {
            free(body);
            break;
        }
        bson_t cmd, reply = BSON_INITIALIZER;
        bool parsed = false, more_to_come = false, keep = true;
        if (op == OP_MSG) {
            parsed = parse_msg(body, (size_t)len - 16, &cmd, &more_to_come);
        } else if (op == OP_QUERY) {
            /* flags, full collection name, skip, return, then the query: the handshake's isMaster */
            const char *coll = (const char *)body + 4;
            size_t at = 4 + strnlen(coll, (size_t)len - 20) + 1 + 8;
            bson_t query;
            if (at + 5 <= (size_t)len - 16 &&
                bson_init_static(&query, body + at, (size_t)le32(body + at))) {
                bson_t inner;
                bson_copy_to(doc_field(&query, "$query", &inner) ? &inner : &query, &cmd);
                parsed = true;
            }
        }
        if (!parsed) {
            free(body);
            break;
        }
        keep = run_command(&conn, &cmd, &reply);
        bson_destroy(&cmd);
        free(body);
        if (keep && !more_to_come)
            keep = send_reply(fd, request_id, op == OP_MSG ? OP_MSG : OP_REPLY, &reply);
        bson_destroy(&reply);
        if (!keep)
            break;
    }
    close(fd);
    return NULL;
}

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: minimongo --port-file FILE [--user USER:PASSWORD] "
                    "[--fault drop|wce|dup|kill|stepdown(@N|%%N)]...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc && strchr(argv[i + 1], ':') != NULL) {
            char *spec = argv[++i], *colon = strchr(spec, ':');
            *colon = '\0';
            auth_user = spec;
            auth_password = colon + 1;
        } else if (strcmp(argv[i], "--fault") == 0 && i + 1 < argc && nfaults < 32) {
            const char *spec = argv[++i];
            const char *at = strpbrk(spec, "@%");
            if (at == NULL)
                usage();
            Fault *f = &faults[nfaults];
            f->kind = -1;
            for (int k = 0; k < FAULT_KINDS; k++)
                if ((size_t)(at - spec) == strlen(fault_names[k]) && strncmp(spec, fault_names[k], (size_t)(at - spec)) == 0)
                    f->kind = k;
            f->every = *at == '%';
            f->n = atol(at + 1);
            if (f->kind < 0 || f->n <= 0)
                usage();
            nfaults++;
        } else {
            usage();
        }
    }
    if (port_file == NULL)
        usage();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
        perror("minimongo: listen");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%d\n", ntohs(addr.sin_port)) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
        perror("minimongo: port file");
        return 1;
    }
    while (!stopping) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_create(&t, &attr, serve, (void *)(intptr_t)fd);
        pthread_attr_destroy(&attr);
    }
    return 0;
}
