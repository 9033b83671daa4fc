/*
 * include/ferry/dialect.h — what differs between the servers ferry reads:
 * the session set-up, the catalog statements, sampling and the read path.
 *
 * Planning (agent/plan.c) and the source (agent/source.c) ask the
 * connection's dialect for these and hold no server's catalog themselves;
 * the range query (plan_range_query) is plain SQL every dialect reads. One
 * dialect per file in agent/ (dialect_postgresql.c, dialect_redshift.c);
 * the connection picks its dialect when it connects ([source] dialect, or
 * what the server's version() says).
 *
 * Each catalog statement's parameters and result columns are part of the
 * contract, in the order given.
 */
#ifndef FERRY_DIALECT_H
#define FERRY_DIALECT_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/batch.h"
#include "ferry/common.h"

typedef struct Dialect {
    const char *name;                /* as `ferry plan` and the log say it */

    /* Pins every setting that changes the text of a value (batch.h, note 1). */
    const char *session_setup;

    /* Rows may stream by COPY (query) TO STDOUT rather than a cursor. */
    bool copy_out;
    /* The transaction a cursor reads in (one snapshot, read only), and the DECLARE the query follows. */
    const char *begin_read;
    const char *declare_cursor;
    /* -> the most rows one FETCH may ask for, 0 for no limit; NULL: none to ask about. */
    const char *fetch_limit_sql;
    /*
     * A cursor's whole result is computed at its first FETCH (Redshift): a
     * query killed for its time or size is helped by a smaller key range,
     * never by asking fewer rows a FETCH. Otherwise rows are computed as
     * they are fetched, and a smaller FETCH is the first cure (PostgreSQL).
     */
    bool cursor_materialised;
    /*
     * A result column type whose text is bytes in hex without bytea's "\x"
     * (Redshift's VARBYTE, 6551): the source adds it, so the batch holds
     * bytea's text (batch.h, note 1). 0: none.
     */
    FerryOid hex_bytes_type;

    /* $1 schema, $2 name -> oid, relkind ('r','p','v','m','f'), has inheritance children (t/f). */
    const char *relation_sql;
    /*
     * $1 oid -> per column in order: name, base type oid (through domains),
     * type as SQL writes it, the element's base type oid for arrays (else 0),
     * the element delimiter, NOT NULL (t/f), orders bytewise (t/f).
     */
    const char *columns_sql;
    /* $1 oid -> the primary key's column names, in key order (no rows: none). */
    const char *primary_key_sql;
    /* $1 oid -> per unique, non-partial, non-expression index: its columns, quoted, comma-separated. */
    const char *unique_indexes_sql;
    /* $1 schema, $2 name -> estimated rows, relkind, pages (0 where unknown). */
    const char *stats_sql;
    /*
     * -> room under the server's connection limit, the role's and the
     * database's (NULL where that limit is none), each less the sessions
     * open now.
     */
    const char *connection_room_sql;

    /*
     * Incremental tables (delta.h): the server's clock as a timestamptz, the
     * snapshot a session sees now as text (NULL: the server shows none), and
     * whether rows carry xmin, the transaction that wrote them.
     */
    const char *clock_sql;
    const char *snapshot_sql;
    bool row_versions;
    /*
     * Rows have addresses (ctid) that a range of them is read by (a TID range
     * scan, PostgreSQL 14 and later), and a session can export its snapshot
     * for others to read in (pg_export_snapshot): read_order = physical.
     */
    bool heap_tids;

    /* Tables may have inheritance children, and FROM takes ONLY. */
    bool inheritance;
    /* A primary key is unique and NOT NULL (Redshift's are informational: checked on the data). */
    bool keys_enforced;
    /*
     * A sample the server draws again the same (TABLESAMPLE … REPEATABLE):
     * counting it and then picking ranks from it may be two statements.
     * Otherwise both are one statement over one draw.
     */
    bool sample_repeatable;
    /* Append an expression of a row's width in bytes of text; `cols` is the select list. */
    void (*row_width)(StrBuf *sql, const TableShape *shape, const char *cols);

    /*
     * Text that makes a read of a relation of `relkind` see about `percent`
     * of its rows, the same rows each time where the server can: a clause
     * after the FROM item, or a filter appended to its WHERE (" AND ...").
     * Both empty at 100 percent.
     */
    void (*sample_clause)(char relkind, double percent, char *clause, size_t clause_cap, char *filter,
                          size_t filter_cap);
} Dialect;

extern const Dialect dialect_postgresql;
extern const Dialect dialect_redshift;

#endif
