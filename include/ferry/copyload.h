/*
 * include/ferry/copyload.h — what the sinks that load a SQL target with COPY share (sinks/copyload.c).
 *
 * The PostgreSQL sink streams COPY FROM STDIN; a Redshift sink stages
 * objects and COPYs them from S3. Both keep ferry's promise the same way:
 *
 *   one segment = one target transaction:
 *     BEGIN → rows (COPY into the table, or into a staging table then a
 *     merge by key) → the segment's ledger row → COMMIT
 *
 * The ledger is a table ferry keeps in the target, one row per committed
 * segment (target, generation, partition, sequence, last key, rows). Since
 * it commits with the rows, the target itself says which segments it holds:
 * a worker whose checkpoint trails it (ferry died between the target's
 * COMMIT and the state's) takes the recorded segment as done (sink.h,
 * recorded), so a segment is never loaded twice, with or without a key.
 * A plan row (partition -1) records whether the table was empty when its
 * plan began: a table ferry filled from empty takes every segment by plain
 * COPY, as no row of a segment's range can be there before it.
 *
 * Nothing here keeps a connection or a secret; `who` names the sink in
 * messages ("postgres sink").
 */
#ifndef FERRY_COPYLOAD_H
#define FERRY_COPYLOAD_H

#include "ferry/batch.h"
#include "ferry/files.h"
#include "ferry/format.h"
#include "ferry/pg.h"
#include "ferry/sink.h"

/* A table of the target: schema and name, and the two quoted ("s"."n"). */
typedef struct CopyTable {
    char *schema, *name;      /* owned */
    char *sql;                /* owned */
} CopyTable;

/*
 * "schema.name", either part in double quotes as in SQL ("a.b"."c"); a name
 * without a schema is in `default_schema`. False (FERRY_ERR_CONFIG) on
 * anything else, naming `what` (the key or table it came from).
 */
bool copy_table_parse(const char *text, const char *default_schema, CopyTable *out, const char *who,
                      const char *what, FerryError *err);
void copy_table_free(CopyTable *table);

/* How the target's SQL differs between the servers that load by COPY. */
typedef struct CopyDialect {
    const char *text_type;    /* a column that holds any key tuple: "text", "varchar(65535)" */
    const char *timestamp_type; /* the ledger's loaded_at, and its default: */
    const char *now;
    bool advisory_locks;      /* pg_advisory_xact_lock exists (PostgreSQL; not Redshift) */
    /*
     * A table's columns, $1 its schema and $2 its name: name, type as
     * type_of spells it (copy_check_columns), NOT NULL and has-a-default
     * ('t' or 'f'), in the table's order.
     */
    const char *columns_sql;
} CopyDialect;

extern const CopyDialect copy_dialect_postgresql;

/* ---- the ledger ---- */

/* Create the ledger if it is missing (several workers at once may ask). */
bool ledger_ensure(PgSession *pg, const CopyDialect *dialect, const CopyTable *ledger, const char *who,
                   FerryError *err);
/* The segment's row, if the ledger has it (SinkOps.recorded). */
bool ledger_find(PgSession *pg, const CopyTable *ledger, const char *target, const SinkSegment *segment,
                 SinkRecord *out, bool *found, const char *who, FerryError *err);
/* Record a segment, inside the transaction that holds its rows. */
bool ledger_add(PgSession *pg, const CopyTable *ledger, const char *target, const SinkSegment *segment,
                const SinkRecord *record, const char *who, FerryError *err);
/* The plan row: *found, and whether the table was empty when its plan began. */
bool ledger_plan_find(PgSession *pg, const CopyTable *ledger, const char *target, bool *found,
                      bool *started_empty, const char *who, FerryError *err);
/* Forget every row of the target but its owner's (a new plan) and record its plan row; inside a transaction. */
bool ledger_plan_start(PgSession *pg, const CopyTable *ledger, const char *target, bool started_empty,
                       const char *who, FerryError *err);
/* SinkOps.claim through the ledger's owner row of the target (note 5). */
bool ledger_claim(PgSession *pg, const CopyTable *ledger, const char *target, const SinkOwner *owner,
                  const char *who, FerryError *err);

/* ---- the target table ---- */

/*
 * Compare the target's columns with the source's output columns: each must
 * be there with types[c] as its type (as the dialect's columns_sql spells it),
 * and a target column the load leaves out must have a default or take
 * NULL. *missing: the table does not exist (nothing else is checked).
 * A mismatch fails (FERRY_ERR_CONFIG) naming every column that differs.
 */
bool copy_check_columns(PgSession *pg, const CopyDialect *dialect, const CopyTable *table,
                        const TableShape *shape, const char *const *types, bool *missing, const char *who,
                        FerryError *err);
/* CREATE TABLE for the shape's output columns of types[c], keys NOT NULL, and the key as primary key when `primary`. */
char *copy_create_sql(const CopyTable *table, const TableShape *shape, const char *const *types, bool primary);
/* Whether the target holds any row. */
bool copy_table_empty(PgSession *pg, const CopyTable *table, bool *empty, const char *who, FerryError *err);
/* Replace the target's rows whose key a staged row has, with the staged rows; inside the transaction. */
bool copy_merge(PgSession *pg, const CopyTable *table, const char *stage_sql, const TableShape *shape,
                const char *who, FerryError *err);

/* ---- rows ---- */

/* One row's output columns as a line of COPY's text format (NULL is \N; \, tab, LF, CR escaped). */
void copy_text_row(OutBuf *out, const RowBatch *batch, int row, int ncols);

/*
 * A failed COPY's server error, read for a bad row: true when its SQLSTATE is
 * about the data (class 22, 23: a value, a constraint) rather than the
 * server; *line is the COPY's line it names (from 1), or 0.
 */
bool copy_error_is_row(const PGresult *result, long *line);

/*
 * Set a bad row aside: one NDJSON line {table, partition, segment, key,
 * reason} in the segment's reject file under `dir` (opened at the first).
 */
bool copy_reject_row(DurableFile *rejects, const char *dir, const char *target, const SinkSegment *segment,
                     const TableShape *shape, const RowBatch *batch, int row, const char *reason, const char *who,
                     FerryError *err);

/* ---- verify ---- */

/* Rows and key hash of the target within (lo, hi] of the partition, or all of it (no bounds). */
bool copy_digest(PgSession *pg, const CopyTable *table, const TableShape *shape, const SinkPartition *part,
                 SinkDigest *out, const char *who, FerryError *err);
/* The hash copy_digest gives a key, of the key's text as the source reads it. */
uint64_t copy_key_hash(const TableShape *shape, const RowBatch *keys, int row);
/* deletes = reconcile: remove the range's keys whose hash (copy_digest's) is not among live (sink.h, prune). */
bool copy_prune(PgSession *pg, const CopyTable *table, const TableShape *shape, const SinkPartition *part,
                const uint64_t *live, size_t nlive, int64_t *removed, const char *who, FerryError *err);
/* Whether the target orders every key column as the source does (no collation can differ). */
bool copy_ranges_match(const TableShape *shape);

/* ---- Redshift's own pieces (sinks/redshift.c), pinned by the unit tests ---- */

/* Staged objects for `raw` bytes of CSV compressing `ratio` to one, on `slices` slices (redshift.c, note 3). */
int rs_file_count(uint64_t raw, double ratio, int slices);
/* COPY `into` (columns) FROM the manifest … as the Redshift sink sends it; compression is a Compression. */
char *rs_copy_sql(const char *into, const char *columns, const char *manifest, const char *iam_role,
                  const char *marker, int compression, bool skip);
/* The Redshift type (as svv_columns spells it) a source column is mapped to, into out[cap]. */
void rs_type_name(const Column *col, char *out, size_t cap);
/* Whether a value fits that type as it is (redshift.c, note 4); why not into why[cap]. */
bool rs_fits(const Column *col, const char *value, size_t len, char *why, size_t cap);

#endif
