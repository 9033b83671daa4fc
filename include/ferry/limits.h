/*
 * include/ferry/limits.h — every fixed limit and default of ferry, named, in one place.
 */
#ifndef FERRY_LIMITS_H
#define FERRY_LIMITS_H

/* Length of an error message, including its terminator. */
#define FERRY_ERROR_MAX 512

/* Growing buffers' ceilings: a statement or name (StrBuf), a value inside a document (BSON's 16 MiB). */
#define FERRY_STRBUF_MAX (64u << 20)
#define FERRY_DOCUMENT_MAX (16u << 20)
/* PostgreSQL's largest field value (1 GiB). */
#define FERRY_VALUE_MAX (1u << 30)

/* Identifiers: PostgreSQL's NAMEDATALEN is 64; quoted and qualified names fit. */
#define FERRY_NAME_MAX 256

/* Columns per table and key columns per key. */
#define FERRY_COLUMNS_MAX 1600
#define FERRY_KEY_COLUMNS_MAX 8

/* Tables per configuration file. */
#define FERRY_TABLES_MAX 1024

/* Workers (threads, each with its own source connection and sink handle). */
#define FERRY_WORKERS_MAX 64

/* Configuration: longest line and value. */
#define FERRY_CONFIG_LINE_MAX 8192

/* The most of an owner marker (owner.h) ferry reads: its own are a few hundred bytes. */
#define FERRY_OWNER_MARKER_MAX 8192

/* Defaults of the configuration (agent/config.c turns them into the option tables' text). */
#define FERRY_DEFAULT_MEMORY_FRACTION 0.5
#define FERRY_DEFAULT_PARTITION_ROWS 500000
#define FERRY_DEFAULT_CONNECT_TIMEOUT_S 10
#define FERRY_DEFAULT_READ_TIMEOUT_S 300
#define FERRY_DEFAULT_RETRY_ATTEMPTS 10
#define FERRY_DEFAULT_RETRY_BASE_MS 500
#define FERRY_DEFAULT_RETRY_CAP_MS 30000
#define FERRY_DEFAULT_RETRY_MAX_S 900
/*
 * A partition's cursor result on a server that keeps it whole (Redshift's
 * leader node, whose cap on all open cursors together is 8,000 MB and up by
 * node type): a few workers' cursors fit under the smallest cap.
 */
#define FERRY_DEFAULT_CURSOR_RESULT "1GB"
/* Redshift's least MAXFILESIZE: a staged object of UNLOAD is at most this, or more. */
#define FERRY_UNLOAD_FILE_MIN ((uint64_t)5 << 20)

/* Adaptive split: kills of one partition before it is split (one where a cursor is computed
 * whole at its first FETCH: dialect.h), pieces, and the floor below which a range is read whole. */
#define FERRY_SPLIT_AFTER_KILLS 2
#define FERRY_SPLIT_PIECES 4
#define FERRY_SPLIT_MIN_ROWS 100

#define FERRY_STRINGIFY_(x) #x
#define FERRY_STRINGIFY(x) FERRY_STRINGIFY_(x)

/*
 * Memory budget arithmetic (agent/budget.c).
 * A batch of n rows of w bytes costs about n * (w + per-value overhead) in the
 * batch arena; libpq holds the row being received once more, and the sink
 * its bounded output buffer. FERRY_BATCH_OVERHEAD covers what is not the
 * batch arena: the arena may take budget / FERRY_BATCH_OVERHEAD.
 */
#define FERRY_BATCH_OVERHEAD 2.0
/*
 * Batches a worker holds at once where it reads by cursor or COPY: one being
 * read while the one before is written, committed and checkpointed. Each
 * takes this share of the worker's batch bytes.
 */
#define FERRY_BATCHES_IN_FLIGHT 2
#define FERRY_VALUE_OVERHEAD 16        /* bytes of bookkeeping per value in a batch */
#define FERRY_POOL_CHUNK (64u << 10)   /* a batch takes this much ahead from the pool (batch.h) */
#define FERRY_WORKER_BATCH_MIN (4u << 20) /* workers = auto: no more workers than get this much batch */
#define FERRY_WORKER_BATCH_FLOOR (1u << 20) /* a run whose sink buffers leave a worker less is refused */
#define FERRY_BATCH_ROWS_MIN 1
#define FERRY_BATCH_ROWS_MAX 1000000
#define FERRY_BUDGET_MIN (4u << 20)    /* below 4 MiB a budget is refused */
/*
 * What each worker after the first holds beyond its batches and sink
 * buffers (run_reserve): its source connection, its sink handle, and what
 * the allocator keeps cached for its two threads (the first worker's
 * connection is the planning one, counted in what the process holds).
 * Measured into a folder: one worker at a 4 MiB budget peaked at 3.9 MiB
 * with none; with 256 KiB each, two workers at 6 MiB peaked 0.4 MiB over,
 * with 512 KiB four workers at 12 MiB 0.7 MiB over.
 */
#define FERRY_WORKER_RESERVE (1u << 20)
/* What planning adds to what the process holds before it (the planning connection, a sink handle). */
#define FERRY_PLAN_RESERVE (256u << 10)

/*
 * Keys a sink that keeps generations is asked for at once (SinkPartition.buckets:
 * verify and reconcile over files of several generations): its view of them holds
 * 16 bytes a slot and keeps at least two slots a key: 8 MiB for this many.
 */
#define FERRY_BUCKET_KEYS 250000

/* Sampling: rows read to estimate width, keys read to cut partitions. */
#define FERRY_SAMPLE_ROWS 10000
#define FERRY_SAMPLE_KEYS_PER_PARTITION 50
#define FERRY_SAMPLE_KEYS_MAX 100000
#define FERRY_SAMPLE_BLOCKS_PER_PARTITION 20  /* blocks a partition bound rests on, at least */
#define FERRY_SAMPLE_KEYS_HARD_MAX 2000000    /* keys the source sorts to cut partitions, at most */
#define FERRY_SAMPLE_SHRINKS 4                /* times a timed-out sample is retried at a quarter */
#define FERRY_PARTITIONS_MAX 100000

/*
 * Part (S3) and block (Azure) buffers of part_size = auto: a sixteenth of
 * the memory budget within [the store's least, FERRY_PART_AUTO_MAX], and in
 * any case large enough that the largest batch (budget / FERRY_BATCH_OVERHEAD)
 * encoded at FERRY_ENCODING_EXPANSION bytes per byte fits in the store's
 * most parts (objects_part_size).
 */
#define FERRY_PART_AUTO_SHARE 16
#define FERRY_PART_AUTO_MAX (64u << 20)
#define FERRY_ENCODING_EXPANSION 8     /* NDJSON writes a control byte as \u00XX: 6 bytes for 1 */

/* Bytes a blob store's settings struct may take inside the blob sink's (store.h). */
#define FERRY_STORE_SETTINGS_MAX 1024

/* HTTP (sinks/http.c): a kept answer body (XML, errors), connecting, a stalled transfer. */
#define FERRY_HTTP_BODY_MAX (8u << 20)
#define FERRY_HTTP_CONNECT_TIMEOUT_S 10
#define FERRY_HTTP_STALL_S 60
#define FERRY_HTTP_HEADERS_MAX 16         /* header lines a store's request carries, at most */
/* The instance metadata service answers at once or is not there. */
#define FERRY_IMDS_TIMEOUT_S 2

/* Sink output buffer: what a sink holds before a write(2). */
#define FERRY_SINK_BUFFER (1u << 20)
/* Direct I/O's unit (files.h): memory, lengths and offsets in multiples of it; 4096 serves
 * devices of 512-byte and of 4 KiB sectors alike. The sink buffer is a multiple of it. */
#define FERRY_DIRECT_IO_ALIGN 4096u

/* The blocks a physical chunk spans where nothing says more, and the most it may (physical.h, note 6). */
#define FERRY_CHUNK_BLOCKS_FIRST 16
#define FERRY_CHUNK_BLOCKS_MAX 131072

/* Catch-up generations one run reads after its workers' first round, at most (physical.h, note 4). */
#define FERRY_CATCH_UP_ROUNDS 3

/* Parsers' bounds on what a value may nest (sinks/document.c): MongoDB refuses BSON nested deeper
 * than 100 levels, and PostgreSQL arrays have at most 6 dimensions (MAXDIM). */
#define FERRY_JSON_DEPTH_MAX 100
#define FERRY_ARRAY_DIMENSIONS_MAX 6

/* The longest text of a finite timestamp PostgreSQL writes ("294276-12-31 23:59:59.999999+00 BC" is 34). */
#define FERRY_TIMESTAMP_TEXT_MAX 48


#endif
