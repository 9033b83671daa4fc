/*
 * state/state.c — the SQLite checkpoint store.
 *
 * Design notes
 *  (1) The schema is the static DDL below, applied at open; PRAGMA user_version
 *      holds its version. A file written by a newer ferry is refused, never
 *      altered.
 *  (2) journal_mode=WAL and synchronous=FULL: a commit has reached the disk
 *      when sqlite3_step returns SQLITE_DONE for COMMIT, so a checkpoint
 *      written is a checkpoint kept, whatever dies next.
 *  (3) Every write is one BEGIN IMMEDIATE … COMMIT transaction; a failure
 *      rolls it back whole, so the file only ever holds complete checkpoints.
 *  (4) One connection, one mutex: workers take turns. A checkpoint is a few
 *      small row updates, far cheaper than the batch it records, so a single
 *      writer costs nothing measurable and rules out SQLITE_BUSY between
 *      workers. busy_timeout covers other processes (ferry status).
 *  (5) Values are always bound, never spliced into SQL.
 *  (6) A state file ferry creates has mode 0600 (its partition bounds are
 *      rows' keys); one that exists keeps the mode it has.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fault.h"
#include "ferry/state.h"

typedef struct SqliteStore {
    StateStore base;          /* first: the face every store has (state.h) */
    sqlite3 *db;
    char *path;               /* owned */
    pthread_mutex_t lock;
} SqliteStore;

static const char *const schema_ddl =
    "CREATE TABLE IF NOT EXISTS setup ("
    "  name  TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tables ("
    "  id          INTEGER PRIMARY KEY,"
    "  name        TEXT NOT NULL UNIQUE,"
    "  target      TEXT NOT NULL,"
    "  key_columns TEXT NOT NULL,"
    "  est_rows    INTEGER NOT NULL,"
    "  row_width   INTEGER NOT NULL,"
    "  planned_at  TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS partitions ("
    "  table_id   INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,"
    "  part       INTEGER NOT NULL,"
    "  lo         TEXT,"
    "  hi         TEXT,"
    "  status     TEXT NOT NULL DEFAULT 'pending'"
    "             CHECK (status IN ('pending', 'running', 'done', 'failed')),"
    "  last_key   TEXT,"
    "  next_seq   INTEGER NOT NULL DEFAULT 0,"
    "  rows       INTEGER NOT NULL DEFAULT 0,"
    "  bytes      INTEGER NOT NULL DEFAULT 0,"
    "  attempts   INTEGER NOT NULL DEFAULT 0,"
    "  rejected   INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  updated_at TEXT,"
    "  PRIMARY KEY (table_id, part));"
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id         INTEGER PRIMARY KEY,"
    "  started_at TEXT NOT NULL,"
    "  ended_at   TEXT,"
    "  rows       INTEGER NOT NULL DEFAULT 0,"
    "  bytes      INTEGER NOT NULL DEFAULT 0,"
    "  status     TEXT NOT NULL,"
    "  exit_code  INTEGER,"
    "  pid        INTEGER NOT NULL);";

/*
 * Schema 3: a table's generations and high-water marks (state.h, MarkCapture).
 * A new file gains them as an older one does, so they are written once.
 */
static const char *const generation_columns[] = {
    "generation     INTEGER NOT NULL DEFAULT 0",  /* the generation the partitions are of */
    "marked         INTEGER NOT NULL DEFAULT -1", /* the last generation whose bound became the mark */
    "mark           TEXT", "mark_of TEXT", "mark_clock TEXT", "mark_snapshot TEXT",
    "marked_at      TEXT",
    "bound          TEXT", "bound_of TEXT", "bound_clock TEXT", "bound_snapshot TEXT",
    "nulls          INTEGER NOT NULL DEFAULT 0",  /* rows with a NULL watermark, at the last capture */
    "last_rows      INTEGER NOT NULL DEFAULT -1", /* rows of the last complete generation */
    "reconciled_at  TEXT",                         /* deletes = reconcile: when it last ran */
    "reconciled_removed INTEGER NOT NULL DEFAULT 0", /* and the keys it removed */
    "base           INTEGER NOT NULL DEFAULT 0",  /* the latest generation that holds every row */
};

/* Schema 4: the read order of a table's generation and its catch-ups (physical.h). */
static const char *const physical_columns[] = {
    "physical       INTEGER NOT NULL DEFAULT 0",  /* the generation's partitions are block ranges */
    "catch_up       INTEGER NOT NULL DEFAULT 0",  /* the generation reads what the one before did not see */
    "mixed          INTEGER NOT NULL DEFAULT 0",  /* it was read under more than one snapshot */
    "catch_ups      INTEGER NOT NULL DEFAULT 0",  /* catch-up generations so far */
    "heap_file      INTEGER NOT NULL DEFAULT 0",  /* physical: the heap's file node as planned */
};

static bool db_error(SqliteStore *state, FerryError *err, int rc, const char *what)
{
    ferry_error(err, FERRY_ERR_STATE, rc, "state file %s: %s: %s", state->path, what,
                state->db ? sqlite3_errmsg(state->db) : sqlite3_errstr(rc));
    /* A full disk or a busy file may clear up; a corrupt file will not. */
    if (err != NULL)
        err->retryable = (rc == SQLITE_FULL || rc == SQLITE_BUSY || rc == SQLITE_IOERR);
    return false;
}

static bool exec_sql(SqliteStore *state, const char *sql, FerryError *err)
{
    int rc = sqlite3_exec(state->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_error(state, err, rc, sql);
    return true;
}

static bool prepare(SqliteStore *state, const char *sql, sqlite3_stmt **stmt, FerryError *err)
{
    int rc = sqlite3_prepare_v2(state->db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK)
        return db_error(state, err, rc, "prepare");
    return true;
}

/* Step a statement that returns no rows, and finalize it. */
static bool step_done(SqliteStore *state, sqlite3_stmt *stmt, FerryError *err)
{
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return db_error(state, err, rc, "write");
    return true;
}

static void bind_text_or_null(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL)
        sqlite3_bind_null(stmt, index);
    else
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
}

static char *column_dup(sqlite3_stmt *stmt, int index)
{
    const unsigned char *text = sqlite3_column_text(stmt, index);
    return text ? xstrdup((const char *)text) : NULL;
}

static bool begin(SqliteStore *state, FerryError *err)
{
    return exec_sql(state, "BEGIN IMMEDIATE", err);
}

/* Commit the transaction; `partition` is the one it records, for fault points (fault.h). */
static bool commit(SqliteStore *state, int64_t partition, FerryError *err)
{
    if (fault_hit(FAULT_STATE_COMMIT, partition)) {
        sqlite3_exec(state->db, "ROLLBACK", NULL, NULL, NULL);
        ferry_error(err, FERRY_ERR_STATE, SQLITE_FULL, "state file %s: injected fault: commit failed",
                    state->path);
        err->retryable = true;
        return false;
    }
    if (exec_sql(state, "COMMIT", err))
        return true;
    sqlite3_exec(state->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

static bool rollback(SqliteStore *state)
{
    sqlite3_exec(state->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

static void sqlite_close(StateStore *store);
extern const StateOps state_sqlite;

static bool sqlite_open(const char *path, StateStore **out, FerryError *err)
{
    *out = NULL;
    SqliteStore *state = xcalloc(1, sizeof *state);
    state->base.ops = &state_sqlite;
    state->path = xstrdup(path);
    pthread_mutex_init(&state->lock, NULL);
    /* (6) A new state file is ferry's user's alone; SQLite gives its -wal and -shm files the same mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    int rc = sqlite3_open_v2(path, &state->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        db_error(state, err, rc, "cannot open");
        sqlite_close(&state->base);
        return false;
    }
    sqlite3_busy_timeout(state->db, 10000);

    sqlite3_stmt *stmt;
    int version = 0;
    if (!prepare(state, "PRAGMA user_version", &stmt, err))
        goto fail;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) {
        /* Not a database at all, or an unreadable one. */
        db_error(state, err, rc, "cannot read");
        goto fail;
    }
    if (version > STATE_SCHEMA_VERSION) {
        ferry_error(err, FERRY_ERR_STATE, 0,
                    "state file %s was written by a newer ferry (schema %d; this ferry %s knows "
                    "schema %d): upgrade ferry, or use another state file",
                    path, version, FERRY_VERSION, STATE_SCHEMA_VERSION);
        goto fail;
    }
    if (!exec_sql(state, "PRAGMA journal_mode=WAL", err) ||
        !exec_sql(state, "PRAGMA synchronous=FULL", err) ||
        !exec_sql(state, "PRAGMA foreign_keys=ON", err))
        goto fail;
    if (version < STATE_SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", STATE_SCHEMA_VERSION);
        if (!begin(state, err))
            goto fail;
        /* Schema 2 counts rejected rows; a schema-1 file gains the column, its checkpoints kept. */
        bool migrate = version == 1;
        bool ok = (!migrate || exec_sql(state, "ALTER TABLE partitions ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0",
                                        err)) &&
                  exec_sql(state, schema_ddl, err);
        for (size_t i = 0; ok && version < 3 && i < sizeof generation_columns / sizeof generation_columns[0]; i++) {
            char alter[128];
            snprintf(alter, sizeof alter, "ALTER TABLE tables ADD COLUMN %s", generation_columns[i]);
            ok = exec_sql(state, alter, err);
        }
        for (size_t i = 0; ok && version < 4 && i < sizeof physical_columns / sizeof physical_columns[0]; i++) {
            char alter[128];
            snprintf(alter, sizeof alter, "ALTER TABLE tables ADD COLUMN %s", physical_columns[i]);
            ok = exec_sql(state, alter, err);
        }
        if (!ok || !exec_sql(state, sql, err)) {
            rollback(state);
            goto fail;
        }
        if (!commit(state, FAULT_ANY_PARTITION, err))
            goto fail;
    }
    *out = &state->base;
    return true;
fail:
    sqlite_close(&state->base);
    return false;
}

static void sqlite_close(StateStore *store)
{
    SqliteStore *state = (SqliteStore *)store;
    if (state == NULL)
        return;
    sqlite3_close(state->db);
    pthread_mutex_destroy(&state->lock);
    free(state->path);
    free(state);
}

static bool sqlite_setup_check(StateStore *store, const SetupEntry *entries, int count, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    bool ok = begin(state, err);
    for (int i = 0; ok && i < count; i++) {
        sqlite3_stmt *stmt;
        ok = prepare(state, "SELECT value FROM setup WHERE name = ?", &stmt, err);
        if (!ok)
            break;
        sqlite3_bind_text(stmt, 1, entries[i].name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            const char *recorded = (const char *)sqlite3_column_text(stmt, 0);
            bool reopened = entries[i].open != NULL && strcmp(recorded, entries[i].open) == 0;
            if (reopened && strcmp(recorded, entries[i].value) != 0) {
                sqlite3_finalize(stmt);
                ok = prepare(state, "UPDATE setup SET value = ? WHERE name = ?", &stmt, err);
                if (ok) {
                    sqlite3_bind_text(stmt, 1, entries[i].value, -1, SQLITE_STATIC);
                    sqlite3_bind_text(stmt, 2, entries[i].name, -1, SQLITE_STATIC);
                    ok = step_done(state, stmt, err);
                }
                continue;
            }
            if (strcmp(recorded, entries[i].value) != 0) {
                /* A table's option: reset that table. Any other ([sink], [source]) holds for every table. */
                const char *name = entries[i].name;
                const char *dot = strrchr(name, '.');
                bool of_table = strncmp(name, "table ", 6) == 0 && dot != NULL && dot > name + 6;
                ferry_error(err, FERRY_ERR_CONFIG, 0,
                            "option '%s' is \"%s\" but this state was started with \"%s\": put it back, or "
                            "run `ferry reset -c FILE%s%.*s` to copy %s again with it",
                            name, entries[i].value, recorded, of_table ? " " : "",
                            of_table ? (int)(dot - name - 6) : 0, of_table ? name + 6 : "",
                            of_table ? "that table" : "every table (the option is all of theirs)");
                ok = false;
            }
            sqlite3_finalize(stmt);
            continue;
        }
        sqlite3_finalize(stmt);
        if (rc != SQLITE_DONE) {
            ok = db_error(state, err, rc, "read setup");
            break;
        }
        ok = prepare(state, "INSERT INTO setup (name, value) VALUES (?, ?)", &stmt, err);
        if (ok) {
            sqlite3_bind_text(stmt, 1, entries[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 2, entries[i].value, -1, SQLITE_STATIC);
            ok = step_done(state, stmt, err);
        }
    }
    ok = ok ? commit(state, FAULT_ANY_PARTITION, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

/* Bind a capture's value, of, clock and snapshot at `first`…first + 3 (NULLs for none). */
static void bind_capture(sqlite3_stmt *stmt, int first, const MarkCapture *mark)
{
    bind_text_or_null(stmt, first, mark ? mark->value : NULL);
    bind_text_or_null(stmt, first + 1, mark ? mark->of : NULL);
    bind_text_or_null(stmt, first + 2, mark ? mark->clock : NULL);
    bind_text_or_null(stmt, first + 3, mark ? mark->snapshot : NULL);
}

static void column_capture(sqlite3_stmt *stmt, int first, MarkCapture *mark)
{
    mark->value = column_dup(stmt, first);
    mark->of = column_dup(stmt, first + 1);
    mark->clock = column_dup(stmt, first + 2);
    mark->snapshot = column_dup(stmt, first + 3);
}

void mark_capture_clear(MarkCapture *mark)
{
    free(mark->value);
    free(mark->of);
    free(mark->clock);
    free(mark->snapshot);
    memset(mark, 0, sizeof *mark);
}

void planned_table_clear(PlannedTable *table)
{
    mark_capture_clear(&table->mark);
    mark_capture_clear(&table->bound);
    memset(table, 0, sizeof *table);
}

static bool sqlite_table_find(StateStore *store, const char *name, PlannedTable *out, bool *found,
                      FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    *found = false;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt;
    bool ok = prepare(state,
                      "SELECT id, est_rows, row_width, key_columns, generation, marked,"
                      " mark, mark_of, mark_clock, mark_snapshot, bound, bound_of, bound_clock, bound_snapshot, nulls,"
                      " base, physical, catch_up, mixed, catch_ups, heap_file FROM tables WHERE name = ?",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            out->id = sqlite3_column_int64(stmt, 0);
            out->est_rows = sqlite3_column_int64(stmt, 1);
            out->row_width = sqlite3_column_int64(stmt, 2);
            snprintf(out->key_columns, sizeof out->key_columns, "%s",
                     (const char *)sqlite3_column_text(stmt, 3));
            out->generation = sqlite3_column_int64(stmt, 4);
            out->marked = sqlite3_column_int64(stmt, 5);
            column_capture(stmt, 6, &out->mark);
            column_capture(stmt, 10, &out->bound);
            out->bound.nulls = sqlite3_column_int64(stmt, 14);
            out->base = sqlite3_column_int64(stmt, 15);
            out->physical = sqlite3_column_int(stmt, 16) != 0;
            out->catch_up = sqlite3_column_int(stmt, 17) != 0;
            out->mixed = sqlite3_column_int(stmt, 18) != 0;
            out->catch_ups = sqlite3_column_int64(stmt, 19);
            out->heap_file = sqlite3_column_int64(stmt, 20);
            *found = true;
        } else if (rc != SQLITE_DONE) {
            ok = db_error(state, err, rc, "read tables");
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

/* Insert partitions 0…nparts - 1 of a table, cut at `bounds`. */
static bool insert_partitions(SqliteStore *state, int64_t table_id, int nparts, char *const *bounds,
                              const char *now, FerryError *err)
{
    sqlite3_stmt *stmt = NULL;
    bool ok = prepare(state,
                      "INSERT INTO partitions (table_id, part, lo, hi, updated_at) VALUES (?, ?, ?, ?, ?)",
                      &stmt, err);
    for (int i = 0; ok && i < nparts; i++) {
        sqlite3_reset(stmt);
        sqlite3_bind_int64(stmt, 1, table_id);
        sqlite3_bind_int(stmt, 2, i);
        bind_text_or_null(stmt, 3, i == 0 ? NULL : bounds[i - 1]);
        bind_text_or_null(stmt, 4, i == nparts - 1 ? NULL : bounds[i]);
        sqlite3_bind_text(stmt, 5, now, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
            ok = db_error(state, err, rc, "insert partition");
    }
    sqlite3_finalize(stmt); /* a no-op on NULL */
    return ok;
}

static bool sqlite_table_plan(StateStore *store, const TablePlanRecord *plan, int64_t *table_id,
                      FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt = NULL;
    bool ok = begin(state, err) &&
              prepare(state,
                      "INSERT INTO tables (name, target, key_columns, est_rows, row_width, planned_at,"
                      " bound, bound_of, bound_clock, bound_snapshot, nulls, physical, heap_file)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, plan->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, plan->target, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, plan->key_columns, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, plan->est_rows);
        sqlite3_bind_int64(stmt, 5, plan->row_width);
        sqlite3_bind_text(stmt, 6, now, -1, SQLITE_STATIC);
        bind_capture(stmt, 7, plan->bound);
        sqlite3_bind_int64(stmt, 11, plan->bound ? plan->bound->nulls : 0);
        sqlite3_bind_int(stmt, 12, plan->physical);
        sqlite3_bind_int64(stmt, 13, plan->heap_file);
        ok = step_done(state, stmt, err);
    }
    if (ok) {
        *table_id = sqlite3_last_insert_rowid(state->db);
        ok = insert_partitions(state, *table_id, plan->nparts, plan->bounds, now, err);
    }
    ok = ok ? commit(state, FAULT_ANY_PARTITION, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_generation_begin(StateStore *store, int64_t table_id, const GenerationRecord *gen,
                                    FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt = NULL;
    /* Only over a complete, raised generation: nothing of the last one may be lost with its partitions. */
    bool ok = begin(state, err) &&
              prepare(state,
                      "UPDATE tables SET generation = ?1, mark = ?2, mark_of = ?3, mark_clock = ?4, mark_snapshot = ?5,"
                      " bound = ?6, bound_of = ?7, bound_clock = ?8, bound_snapshot = ?9, nulls = ?10,"
                      " base = CASE WHEN ?12 THEN ?1 ELSE base END,"
                      " physical = 0, catch_up = ?13, mixed = 0, catch_ups = catch_ups + ?13"
                      " WHERE id = ?11 AND generation < ?1 AND marked = generation AND NOT EXISTS"
                      " (SELECT 1 FROM partitions WHERE table_id = ?11 AND status <> 'done')",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_int64(stmt, 1, gen->generation);
        bind_capture(stmt, 2, gen->since);
        bind_capture(stmt, 6, gen->bound);
        sqlite3_bind_int64(stmt, 10, gen->bound->nulls);
        sqlite3_bind_int64(stmt, 11, table_id);
        sqlite3_bind_int(stmt, 12, gen->whole);
        sqlite3_bind_int(stmt, 13, gen->catch_up);
        ok = step_done(state, stmt, err);
        if (ok && sqlite3_changes(state->db) != 1)
            ok = ferry_error(err, FERRY_ERR_BUG, 0,
                             "BUG: generation %lld of table %lld begun over an incomplete one",
                             (long long)gen->generation, (long long)table_id);
    }
    if (ok && prepare(state, "DELETE FROM partitions WHERE table_id = ?", &stmt, err)) {
        sqlite3_bind_int64(stmt, 1, table_id);
        ok = step_done(state, stmt, err);
    } else {
        ok = false;
    }
    ok = ok && insert_partitions(state, table_id, gen->nparts, gen->bounds, now, err);
    if (ok && gen->written) {
        ok = prepare(state, "UPDATE partitions SET status = 'done', rows = ?1 WHERE table_id = ?2", &stmt, err);
        if (ok) {
            sqlite3_bind_int64(stmt, 1, gen->written_rows);
            sqlite3_bind_int64(stmt, 2, table_id);
            ok = step_done(state, stmt, err);
        }
    }
    ok = ok ? commit(state, FAULT_ANY_PARTITION, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_mark_raise(StateStore *store, int64_t table_id, int64_t generation, bool *raised,
                              FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    *raised = false;
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state,
                      "UPDATE tables SET marked = generation, mark = bound, mark_of = bound_of, mark_clock = bound_clock,"
                      " mark_snapshot = bound_snapshot, marked_at = ?1,"
                      " last_rows = (SELECT coalesce(sum(rows), 0) FROM partitions WHERE table_id = ?2)"
                      " WHERE id = ?2 AND generation = ?3 AND marked < generation AND NOT EXISTS"
                      " (SELECT 1 FROM partitions WHERE table_id = ?2 AND status <> 'done')",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, table_id);
        sqlite3_bind_int64(stmt, 3, generation);
        ok = step_done(state, stmt, err);
        *raised = ok && sqlite3_changes(state->db) == 1;
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_mark_set(StateStore *store, int64_t table_id, const MarkCapture *mark, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt = NULL;
    bool ok = begin(state, err) &&
              prepare(state,
                      "UPDATE tables SET mark = ?1, mark_of = ?2, mark_clock = ?3, mark_snapshot = ?4,"
                      " bound = ?1, bound_of = ?2, bound_clock = ?3, bound_snapshot = ?4, nulls = ?5,"
                      " marked_at = ?6, marked = generation, last_rows = 0, mixed = 0 WHERE id = ?7",
                      &stmt, err);
    if (ok) {
        bind_capture(stmt, 1, mark);
        sqlite3_bind_int64(stmt, 5, mark->nulls);
        sqlite3_bind_text(stmt, 6, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 7, table_id);
        ok = step_done(state, stmt, err);
    }
    /* What is left of the generation is the next one's to read (the mark was set at or before its rows). */
    if (ok && prepare(state, "UPDATE partitions SET status = 'done' WHERE table_id = ? AND status <> 'done'",
                      &stmt, err)) {
        sqlite3_bind_int64(stmt, 1, table_id);
        ok = step_done(state, stmt, err);
    } else {
        ok = false;
    }
    ok = ok ? commit(state, FAULT_ANY_PARTITION, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_reconciled(StateStore *store, int64_t table_id, int64_t removed, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state, "UPDATE tables SET reconciled_at = ?, reconciled_removed = ? WHERE id = ?", &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, removed);
        sqlite3_bind_int64(stmt, 3, table_id);
        ok = step_done(state, stmt, err);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_mixed(StateStore *store, int64_t table_id, int64_t generation, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state, "UPDATE tables SET mixed = 1 WHERE id = ? AND generation = ?", &stmt, err);
    if (ok) {
        sqlite3_bind_int64(stmt, 1, table_id);
        sqlite3_bind_int64(stmt, 2, generation);
        ok = step_done(state, stmt, err);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_requeue(StateStore *store, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    bool ok = exec_sql(state,
                       "UPDATE partitions SET status = 'pending' WHERE status IN ('running', 'failed')",
                       err);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_claim(StateStore *store, int64_t table_id, PartitionWork *out, bool *found,
                 FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    memset(out, 0, sizeof *out);
    *found = false;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = begin(state, err) &&
              prepare(state,
                      "UPDATE partitions SET status = 'running', attempts = attempts + 1, updated_at = ?"
                      " WHERE table_id = ? AND part = (SELECT min(part) FROM partitions"
                      "   WHERE table_id = ? AND status = 'pending')"
                      " RETURNING part, lo, hi, last_key, next_seq, rows, bytes, attempts",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, table_id);
        sqlite3_bind_int64(stmt, 3, table_id);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            out->table_id = table_id;
            out->part = sqlite3_column_int64(stmt, 0);
            out->lo = column_dup(stmt, 1);
            out->hi = column_dup(stmt, 2);
            out->last_key = column_dup(stmt, 3);
            out->next_seq = sqlite3_column_int64(stmt, 4);
            out->rows = sqlite3_column_int64(stmt, 5);
            out->bytes = sqlite3_column_int64(stmt, 6);
            out->attempts = sqlite3_column_int(stmt, 7);
            *found = true;
            rc = sqlite3_step(stmt);
        }
        sqlite3_finalize(stmt);
        if (rc != SQLITE_DONE)
            ok = db_error(state, err, rc, "claim partition");
    }
    ok = ok ? commit(state, FAULT_ANY_PARTITION, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    if (!ok) {
        state_work_clear(out);
        *found = false;
    }
    return ok;
}

void state_work_clear(PartitionWork *work)
{
    free(work->lo);
    free(work->hi);
    free(work->last_key);
    memset(work, 0, sizeof *work);
}

static bool sqlite_checkpoint(StateStore *store, const Checkpoint *cp, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = begin(state, err) &&
              prepare(state,
                      "UPDATE partitions SET last_key = coalesce(?, last_key), next_seq = ?,"
                      " rows = rows + ?, bytes = bytes + ?, status = ?, last_error = NULL,"
                      " updated_at = ?, rejected = rejected + ? WHERE table_id = ? AND part = ? AND status = 'running'",
                      &stmt, err);
    if (ok) {
        bind_text_or_null(stmt, 1, cp->last_key);
        sqlite3_bind_int64(stmt, 2, cp->next_seq);
        sqlite3_bind_int64(stmt, 3, cp->rows_added);
        sqlite3_bind_int64(stmt, 4, cp->bytes_added);
        sqlite3_bind_text(stmt, 5, cp->done ? "done" : "running", -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 6, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 7, cp->rejected_added);
        sqlite3_bind_int64(stmt, 8, cp->table_id);
        sqlite3_bind_int64(stmt, 9, cp->part);
        ok = step_done(state, stmt, err);
        if (ok && sqlite3_changes(state->db) != 1)
            ok = ferry_error(err, FERRY_ERR_BUG, 0,
                             "BUG: checkpoint of table %lld partition %lld found no running partition",
                             (long long)cp->table_id, (long long)cp->part);
    }
    /* The run's own counts move with its checkpoints: a run killed later still says what it copied. */
    if (ok && cp->run_id > 0 &&
        (ok = prepare(state, "UPDATE runs SET rows = rows + ?, bytes = bytes + ? WHERE id = ?", &stmt, err))) {
        sqlite3_bind_int64(stmt, 1, cp->rows_added);
        sqlite3_bind_int64(stmt, 2, cp->bytes_added);
        sqlite3_bind_int64(stmt, 3, cp->run_id);
        ok = step_done(state, stmt, err);
    }
    ok = ok ? commit(state, cp->part, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_partition_error(StateStore *store, int64_t table_id, int64_t part, const char *message,
                           bool failed, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state,
                      "UPDATE partitions SET status = ?, last_error = coalesce(?, last_error), updated_at = ?"
                      " WHERE table_id = ? AND part = ? AND status = 'running'",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, failed ? "failed" : "pending", -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, message, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, table_id);
        sqlite3_bind_int64(stmt, 5, part);
        ok = step_done(state, stmt, err);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_partition_attempt(StateStore *store, int64_t table_id, int64_t part, const char *message,
                             FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state,
                      "UPDATE partitions SET attempts = attempts + 1, last_error = ?, updated_at = ?"
                      " WHERE table_id = ? AND part = ? AND status = 'running'",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, message, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, table_id);
        sqlite3_bind_int64(stmt, 4, part);
        ok = step_done(state, stmt, err);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_partition_split(StateStore *store, int64_t table_id, int64_t part, char *const *bounds,
                           int count, int64_t *first_new, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt = NULL;
    char *old_hi = NULL;
    bool ok = begin(state, err) &&
              prepare(state,
                      "SELECT hi, (SELECT max(part) + 1 FROM partitions WHERE table_id = ?1)"
                      " FROM partitions WHERE table_id = ?1 AND part = ?2 AND status = 'running'",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_int64(stmt, 1, table_id);
        sqlite3_bind_int64(stmt, 2, part);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            old_hi = column_dup(stmt, 0);
            *first_new = sqlite3_column_int64(stmt, 1);
        } else {
            ok = rc == SQLITE_DONE ? ferry_error(err, FERRY_ERR_BUG, 0, "BUG: split of a partition that is not running")
                                   : db_error(state, err, rc, "read partition");
        }
        sqlite3_finalize(stmt);
        stmt = NULL;
    }
    if (ok && prepare(state, "UPDATE partitions SET hi = ? WHERE table_id = ? AND part = ?", &stmt, err)) {
        sqlite3_bind_text(stmt, 1, bounds[0], -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, table_id);
        sqlite3_bind_int64(stmt, 3, part);
        ok = step_done(state, stmt, err);
        stmt = NULL;
    } else {
        ok = false;
    }
    if (ok)
        ok = prepare(state,
                     "INSERT INTO partitions (table_id, part, lo, hi, updated_at) VALUES (?, ?, ?, ?, ?)",
                     &stmt, err);
    for (int i = 0; ok && i < count; i++) {
        sqlite3_reset(stmt);
        sqlite3_bind_int64(stmt, 1, table_id);
        sqlite3_bind_int64(stmt, 2, *first_new + i);
        sqlite3_bind_text(stmt, 3, bounds[i], -1, SQLITE_STATIC);
        bind_text_or_null(stmt, 4, i + 1 < count ? bounds[i + 1] : old_hi);
        sqlite3_bind_text(stmt, 5, now, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
            ok = db_error(state, err, rc, "insert split partition");
    }
    sqlite3_finalize(stmt);
    free(old_hi);
    ok = ok ? commit(state, FAULT_ANY_PARTITION, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_table_remaining(StateStore *store, int64_t table_id, int *parts_left, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state, "SELECT count(*) FROM partitions WHERE table_id = ? AND status <> 'done'",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_int64(stmt, 1, table_id);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW)
            *parts_left = sqlite3_column_int(stmt, 0);
        else
            ok = db_error(state, err, rc, "count partitions");
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_partitions_each(StateStore *store, int64_t table_id,
                           void (*fn)(void *ctx, const PartitionRecord *record), void *ctx,
                           FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    /* By number: the plan's partitions in key order, then those made by splits. */
    bool ok = prepare(state,
                      "SELECT part, lo, hi, status, rows FROM partitions WHERE table_id = ? ORDER BY part",
                      &stmt, err);
    int rc = SQLITE_DONE;
    if (ok)
        sqlite3_bind_int64(stmt, 1, table_id);
    while (ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        PartitionRecord record = {
            .part = sqlite3_column_int64(stmt, 0),
            .lo = (const char *)sqlite3_column_text(stmt, 1),
            .hi = (const char *)sqlite3_column_text(stmt, 2),
            .status = (const char *)sqlite3_column_text(stmt, 3),
            .rows = sqlite3_column_int64(stmt, 4),
        };
        fn(ctx, &record);
    }
    if (ok) {
        if (rc != SQLITE_DONE)
            ok = db_error(state, err, rc, "read partitions");
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_run_begin(StateStore *store, int64_t *run_id, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    /* The caller holds the run lock: a run still marked running died without ending. */
    bool ok = exec_sql(state, "UPDATE runs SET status = 'killed' WHERE status = 'running'", err) &&
              prepare(state, "INSERT INTO runs (started_at, status, pid) VALUES (?, 'running', ?)",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)getpid());
        ok = step_done(state, stmt, err);
        *run_id = sqlite3_last_insert_rowid(state->db);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_run_end(StateStore *store, int64_t run_id, int64_t rows, int64_t bytes,
                   const char *status, int exit_code, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    char now[32];
    utc_now_iso(now);
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state,
                      "UPDATE runs SET ended_at = ?, rows = ?, bytes = ?, status = ?, exit_code = ?"
                      " WHERE id = ?",
                      &stmt, err);
    if (ok) {
        sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, rows);
        sqlite3_bind_int64(stmt, 3, bytes);
        sqlite3_bind_text(stmt, 4, status, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 5, exit_code);
        sqlite3_bind_int64(stmt, 6, run_id);
        ok = step_done(state, stmt, err);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_status_each(StateStore *store, void (*fn)(void *ctx, const TableStatus *status),
                       void *ctx, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(
        state,
        "SELECT t.name, t.target, t.key_columns, t.est_rows, count(p.part),"
        "  sum(p.status = 'done'), sum(p.status = 'failed'), sum(p.status = 'running'),"
        "  coalesce(sum(p.rows), 0), coalesce(sum(p.bytes), 0), coalesce(sum(p.attempts), 0),"
        "  (SELECT last_error FROM partitions q WHERE q.table_id = t.id AND q.last_error IS NOT NULL"
        "   ORDER BY q.updated_at DESC LIMIT 1), coalesce(sum(p.rejected), 0),"
        "  t.generation, t.mark, t.mark_of, t.mark_clock, t.marked_at, t.last_rows, t.nulls,"
        "  t.reconciled_at, t.reconciled_removed, t.physical, t.catch_ups"
        " FROM tables t LEFT JOIN partitions p ON p.table_id = t.id"
        " GROUP BY t.id ORDER BY t.name",
        &stmt, err);
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        TableStatus status = {
            .name = (const char *)sqlite3_column_text(stmt, 0),
            .target = (const char *)sqlite3_column_text(stmt, 1),
            .key_columns = (const char *)sqlite3_column_text(stmt, 2),
            .est_rows = sqlite3_column_int64(stmt, 3),
            .parts_total = sqlite3_column_int(stmt, 4),
            .parts_done = sqlite3_column_int(stmt, 5),
            .parts_failed = sqlite3_column_int(stmt, 6),
            .parts_running = sqlite3_column_int(stmt, 7),
            .rows = sqlite3_column_int64(stmt, 8),
            .bytes = sqlite3_column_int64(stmt, 9),
            .attempts = sqlite3_column_int(stmt, 10),
            .last_error = (const char *)sqlite3_column_text(stmt, 11),
            .rejected = sqlite3_column_int64(stmt, 12),
            .generation = sqlite3_column_int64(stmt, 13),
            .mark = (const char *)sqlite3_column_text(stmt, 14),
            .mark_of = (const char *)sqlite3_column_text(stmt, 15),
            .mark_clock = (const char *)sqlite3_column_text(stmt, 16),
            .marked_at = (const char *)sqlite3_column_text(stmt, 17),
            .last_rows = sqlite3_column_int64(stmt, 18),
            .nulls = sqlite3_column_int64(stmt, 19),
            .reconciled_at = (const char *)sqlite3_column_text(stmt, 20),
            .reconciled_removed = sqlite3_column_int64(stmt, 21),
            .physical = sqlite3_column_int(stmt, 22) != 0,
            .catch_ups = sqlite3_column_int64(stmt, 23),
        };
        fn(ctx, &status);
    }
    if (ok) {
        if (rc != SQLITE_DONE)
            ok = db_error(state, err, rc, "read status");
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_runs_each(StateStore *store, int limit, void (*fn)(void *ctx, const RunRecord *run),
                     void *ctx, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = prepare(state,
                      "SELECT id, started_at, ended_at, status, rows, bytes, coalesce(exit_code, -1)"
                      " FROM runs ORDER BY id DESC LIMIT ?",
                      &stmt, err);
    int rc = SQLITE_DONE;
    if (ok)
        sqlite3_bind_int(stmt, 1, limit);
    while (ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        RunRecord run = {
            .id = sqlite3_column_int64(stmt, 0),
            .started_at = (const char *)sqlite3_column_text(stmt, 1),
            .ended_at = (const char *)sqlite3_column_text(stmt, 2),
            .status = (const char *)sqlite3_column_text(stmt, 3),
            .rows = sqlite3_column_int64(stmt, 4),
            .bytes = sqlite3_column_int64(stmt, 5),
            .exit_code = sqlite3_column_int(stmt, 6),
        };
        fn(ctx, &run);
    }
    if (ok) {
        if (rc != SQLITE_DONE)
            ok = db_error(state, err, rc, "read runs");
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&state->lock);
    return ok;
}

static bool sqlite_reset(StateStore *store, const char *name, int *tables_removed, FerryError *err)
{
    SqliteStore *state = (SqliteStore *)store;
    pthread_mutex_lock(&state->lock);
    sqlite3_stmt *stmt;
    bool ok = begin(state, err);
    if (ok && name == NULL) {
        ok = exec_sql(state, "DELETE FROM partitions; DELETE FROM setup;", err) &&
             prepare(state, "DELETE FROM tables", &stmt, err) && step_done(state, stmt, err);
        if (ok)
            *tables_removed = sqlite3_changes(state->db);
    } else if (ok) {
        ok = prepare(state, "DELETE FROM tables WHERE name = ?", &stmt, err);
        if (ok) {
            sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
            ok = step_done(state, stmt, err);
            if (ok)
                *tables_removed = sqlite3_changes(state->db);
        }
        /* The table's own setup entries go with it; the sink's and source's stay. */
        if (ok)
            ok = prepare(state, "DELETE FROM setup WHERE name >= ? AND name < ?", &stmt, err);
        if (ok) {
            char lo[FERRY_NAME_MAX + 16], hi[FERRY_NAME_MAX + 16];
            snprintf(lo, sizeof lo, "table %s.", name);
            snprintf(hi, sizeof hi, "table %s/", name); /* '/' sorts right after '.' */
            sqlite3_bind_text(stmt, 1, lo, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(stmt, 2, hi, -1, SQLITE_TRANSIENT);
            ok = step_done(state, stmt, err);
        }
    }
    ok = ok ? commit(state, FAULT_ANY_PARTITION, err) : rollback(state);
    pthread_mutex_unlock(&state->lock);
    return ok;
}

/* SQLite: the embedded default, one file beside the configuration (state/store.c). */
const StateOps state_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .setup_check = sqlite_setup_check,
    .table_find = sqlite_table_find,
    .table_plan = sqlite_table_plan,
    .requeue = sqlite_requeue,
    .claim = sqlite_claim,
    .checkpoint = sqlite_checkpoint,
    .partition_error = sqlite_partition_error,
    .partition_attempt = sqlite_partition_attempt,
    .partition_split = sqlite_partition_split,
    .table_remaining = sqlite_table_remaining,
    .partitions_each = sqlite_partitions_each,
    .run_begin = sqlite_run_begin,
    .run_end = sqlite_run_end,
    .status_each = sqlite_status_each,
    .runs_each = sqlite_runs_each,
    .reset = sqlite_reset,
    .generation_begin = sqlite_generation_begin,
    .mark_raise = sqlite_mark_raise,
    .mark_set = sqlite_mark_set,
    .mixed = sqlite_mixed,
    .reconciled = sqlite_reconciled,
};
