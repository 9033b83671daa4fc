-- tests/tools/rscatalog.sql — Redshift's system views, with Redshift's names and columns, over a
-- PostgreSQL database, for tests/tools/rsfront.py (which puts this schema on every session's
-- search_path). Only the columns ferry could read are given; their meaning follows AWS's
-- documentation of each view.
CREATE SCHEMA IF NOT EXISTS redshift_catalog;
SET search_path = redshift_catalog, pg_catalog;

-- The refusals of the front: the backend raises Redshift's error itself.
CREATE OR REPLACE FUNCTION redshift_catalog.rs_raise(code text, msg text, detail text, VARIADIC params text[] DEFAULT '{}')
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF detail <> '' THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, DETAIL = detail;
    END IF;
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
END $$;

-- Redshift's own types, as domains the tests' tables use (redshift_catalog.super, …): SUPER holds
-- JSON, GEOMETRY and GEOGRAPHY their EWKB in hex (Redshift's text for them), HLLSKETCH its JSON form.
-- VARBYTE is bytea, which the front writes as Redshift does.
DO $$
DECLARE d text;
BEGIN
    FOREACH d IN ARRAY ARRAY['super AS jsonb', 'geometry AS text CHECK (VALUE ~ ''^[0-9A-F]*$'')',
                             'geography AS text CHECK (VALUE ~ ''^[0-9A-F]*$'')', 'hllsketch AS text'] LOOP
        BEGIN
            EXECUTE 'CREATE DOMAIN redshift_catalog.' || d;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END;
    END LOOP;
END $$;
-- The functions ferry measures those types with: JSON_SIZE (bytes of a SUPER's JSON) and ST_AsEWKB.
CREATE OR REPLACE FUNCTION redshift_catalog.json_size(jsonb) RETURNS int LANGUAGE sql IMMUTABLE
    AS 'SELECT octet_length($1::text)';
CREATE OR REPLACE FUNCTION redshift_catalog.st_asewkb(text) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS 'SELECT decode($1, ''hex'')';

-- svv_columns: one row per column of every table and view.
CREATE OR REPLACE VIEW redshift_catalog.svv_columns AS
SELECT current_database()::text AS table_catalog, n.nspname::text AS table_schema, c.relname::text AS table_name,
       a.attname::text AS column_name, a.attnum::int AS ordinal_position,
       pg_get_expr(d.adbin, d.adrelid) AS column_default,
       CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable,
       CASE WHEN y.typname = 'bytea' THEN 'binary varying'
            WHEN y.typnamespace = 'redshift_catalog'::regnamespace THEN y.typname::text
            ELSE regexp_replace(format_type(a.atttypid, a.atttypmod), '\(.*\)', '') END AS data_type,
       information_schema._pg_char_max_length(information_schema._pg_truetypid(a.*, y.*),
                                              information_schema._pg_truetypmod(a.*, y.*)) AS character_maximum_length,
       information_schema._pg_numeric_precision(information_schema._pg_truetypid(a.*, y.*),
                                                information_schema._pg_truetypmod(a.*, y.*)) AS numeric_precision,
       information_schema._pg_numeric_scale(information_schema._pg_truetypid(a.*, y.*),
                                            information_schema._pg_truetypmod(a.*, y.*)) AS numeric_scale,
       NULL::text AS remarks
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'v', 'm')
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type y ON y.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redshift_catalog', 'pg_toast');

-- pg_table_def: the columns of the tables in the search path, with Redshift's type names.
CREATE OR REPLACE VIEW redshift_catalog.pg_table_def AS
SELECT n.nspname AS schemaname, c.relname AS tablename, a.attname AS "column",
       format_type(a.atttypid, a.atttypmod) AS type, 'none'::text AS encoding,
       false AS distkey, 0 AS sortkey, a.attnotnull AS notnull
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND pg_table_is_visible(c.oid);

-- svv_table_info: tables with data only (AWS: "doesn't return any information for empty tables");
-- size in 1 MB blocks.
CREATE OR REPLACE VIEW redshift_catalog.svv_table_info AS
SELECT current_database()::text AS database, n.nspname::text AS schema, c.oid::int AS table_id,
       c.relname::text AS "table", 'Y'::text AS encoded, 'AUTO(EVEN)'::text AS diststyle,
       NULL::text AS sortkey1, ceil(pg_total_relation_size(c.oid) / 1048576.0)::bigint AS size,
       greatest(c.reltuples, 0)::numeric(38, 0) AS tbl_rows,
       greatest(c.reltuples, 0)::numeric(38, 0) AS estimated_visible_rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpages > 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redshift_catalog', 'pg_toast');

-- stv_slices: the cluster's slices; the front's test fills it (one node, or more).
CREATE TABLE IF NOT EXISTS redshift_catalog.stv_slices (node int, slice int, localslice int, type text);

-- stl_load_errors: a row for each row a COPY refused (the front writes them, outside the COPY's
-- transaction, as Redshift does).
CREATE TABLE IF NOT EXISTS redshift_catalog.stl_load_errors (
    userid int DEFAULT 100, slice int DEFAULT 0, tbl int, starttime timestamp DEFAULT localtimestamp,
    session int, query int, filename text, line_number bigint, colname text, type text, col_length text,
    position int, raw_line text, raw_field_value text, err_code int, err_reason text);

-- stv_sessions: the sessions open now.
CREATE OR REPLACE VIEW redshift_catalog.stv_sessions AS
SELECT backend_start AS starttime, pid AS process, usename::text AS user_name, datname::text AS db_name
FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend';

-- pg_stat_activity as Redshift has it (PostgreSQL 8.0's columns: procpid, current_query; no state).
CREATE OR REPLACE VIEW redshift_catalog.stat_activity AS
SELECT datid, datname, pid AS procpid, usesysid, usename, query AS current_query, query_start
FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend';

-- pg_user_info: a user's connection limit (useconnlimit, 'UNLIMITED' or a number).
CREATE OR REPLACE VIEW redshift_catalog.pg_user_info AS
SELECT rolname AS usename, oid AS usesysid,
       CASE WHEN rolconnlimit < 0 THEN 'UNLIMITED' ELSE rolconnlimit::text END AS useconnlimit
FROM pg_roles;
