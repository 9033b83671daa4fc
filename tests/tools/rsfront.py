#!/usr/bin/python3
"""tests/tools/rsfront.py — a Redshift front end for the tests: PostgreSQL's wire protocol to the client,
a real PostgreSQL behind, and Redshift's behaviour wherever a client could tell the two apart.

There is no Redshift to test against. This front relays every message between
the client and a PostgreSQL server, and on the way:

  - writes bytea columns as Redshift writes VARBYTE: oid 6551 in the row
    description, values in hex without bytea's \\x (and svv_columns says
    "binary varying"); SUPER, GEOMETRY, GEOGRAPHY and HLLSKETCH are domains
    of the backing database (rscatalog.sql) with Redshift's names;
  - answers version() as Redshift does ("PostgreSQL 8.0.2 on i686-pc-linux-gnu,
    …, Redshift 1.0.…"), and serves Redshift's own system views (svv_table_info,
    svv_columns, pg_table_def, stv_slices, stv_sessions, pg_stat_activity with
    Redshift's columns) from the schema redshift_catalog, which
    tests/tools/rscatalog.sql creates in the backing database; every session
    gets it at the end of its search_path;
  - refuses what Redshift refuses, with Redshift's error text where it is
    known: TABLESAMPLE, LATERAL, WITH ORDINALITY, FROM ONLY, FILTER (WHERE …),
    arrays, ROW(…) (Redshift's leader node speaks PostgreSQL 8.0), COPY … TO STDOUT, DECLARE with options
    (Redshift takes DECLARE name CURSOR FOR query alone), a second cursor
    while one is open, FETCH FORWARD above 1,000 rows or FETCH ALL with
    --nodes 1 ("Fetch size N exceeds the limit of 1000 for a single node
    configuration…"), SET of a parameter Redshift has no such name for;
  - materialises a cursor at its first FETCH, as the leader node does: the
    cursor's whole result is sized then, and when the open cursors together
    would hold more than --cursor-cap bytes the FETCH fails with Redshift's
    "exceeded the maximum size allowed for the total set of cursor data";
  - injects workload-manager aborts: a statement running longer than
    --wlm-abort-after seconds, or a cursor fetched from for longer than that
    since its first FETCH, fails with SQLSTATE XX000 and, in turn, the two
    texts Redshift uses: "Query (N) cancelled by WLM abort action of Query
    Monitoring Rule …" and "abort query N" with "code: 1020 … context: system
    requested abort" in its detail; --wlm-abort-rows aborts, the same way,
    an UNLOAD whose query returns more rows than that (a rule on
    return_row_count), so a test can have one aborted whatever its speed.

A refusal is made by the backing server itself: the client's statement is
replaced by one that raises the error (redshift_catalog.rs_raise), so the
transaction fails as Redshift's would and the protocol stays in step.
Where Redshift's text is not documented (the second cursor, COPY TO) the text
here is this front's own; ferry must not depend on those words.

  - runs UNLOAD ('query') TO 's3://bucket/prefix' IAM_ROLE '…' as Redshift
    documents it for the options ferry uses (PARALLEL OFF, MAXFILESIZE,
    MANIFEST VERBOSE, ALLOWOVERWRITE, ESCAPE, the default '|' delimiter and
    NULL AS ''): the query's rows, in its order, into objects <prefix>000,
    <prefix>001, … of at most MAXFILESIZE bytes, written to the S3 store
    (--s3-endpoint, signed with botocore), then <prefix>manifest; a role
    other than --unload-role is refused as S3 would, a prefix that holds
    objects is refused without ALLOWOVERWRITE, and WLM aborts it as any
    query.

  - runs COPY table (cols) FROM 's3://…' IAM_ROLE '…' FORMAT AS CSV … as
    Redshift documents it for the options ferry uses (MANIFEST, GZIP, ZSTD,
    NULL AS, MAXERROR; DATEFORMAT, TIMEFORMAT, COMPUPDATE, STATUPDATE taken
    and left alone): the manifest's objects fetched from the S3 store,
    decompressed, read as CSV (quoted fields may span lines; an unquoted
    NULL AS string is NULL, an empty unquoted field NULL), and loaded by the
    backend inside the client's transaction. A row Redshift would refuse —
    the backend refuses its value, or a string is longer than its VARCHAR in
    bytes (1204, "String length exceeds DDL length") — becomes a row of
    stl_load_errors (written at once, so it outlives the transaction, as
    Redshift's does), with the object's URL and line; more such rows than
    MAXERROR fail the COPY with "Load into table '…' failed. Check
    'stl_load_errors' system table for details.", as Redshift does.
    pg_last_copy_count() and pg_last_copy_id() answer for the session's last
    COPY; CREATE TABLE takes VARBYTE and DISTKEY / SORTKEY / DISTSTYLE
    (logged as "create <table> <keys>"), and sysdate (in every statement:
    the transaction's start in UTC, without zone, as Redshift's); a
    statement naming xmin is refused (Redshift's rows have none);
  - raises error 1023 ("Serializable isolation violation on table …" in its
    detail) as Redshift's serializable isolation does for ferry's loads: a
    transaction that writes a table (COPY, INSERT, DELETE, UPDATE) that
    another open transaction has written, or that another committed a write
    to after this one's snapshot (its first statement other than BEGIN and
    LOCK: a LOCK waits for the other to finish first, which is Redshift's
    documented cure); --conflict-copies N and --wlm-abort-copies N make
    every Nth COPY from S3 fail with 1023, or a WLM abort, whatever the rest.

Each refusal and abort is logged to --log as "<what> <detail>"; each UNLOAD as
"unload <url> <rows> <objects>", each COPY as "copy <table> <rows loaded>
<errors> <objects>", each cursor materialised as "cursor <bytes>".
"""
import argparse
import gzip
import json
import re
import select
import socket
import socketserver
import struct
import subprocess
import threading
import time

VERSION = ('PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 20041017 '
           '(Red Hat 3.4.2-6.fc3), Redshift 1.0.77467')
# Parameters a Redshift session may SET (a subset of its configuration reference, and what libpq sends).
# Redshift's own parameters, which PostgreSQL lacks: kept as custom settings of the backing session.
REDSHIFT_ONLY = {'query_group', 'wlm_query_slot_count', 'enable_result_cache_for_session',
                 'analyze_threshold_percent', 'describe_field_name_in_uppercase', 'json_parse_truncate_strings',
                 'max_cursor_result_set_size'}
SETTABLE = {'datestyle', 'extra_float_digits', 'query_group', 'search_path', 'statement_timeout', 'timezone',
            'time zone', 'application_name', 'client_encoding', 'wlm_query_slot_count',
            'enable_result_cache_for_session', 'analyze_threshold_percent', 'describe_field_name_in_uppercase',
            'json_parse_truncate_strings', 'max_cursor_result_set_size'}

lock = threading.Lock()
open_cursor_bytes = {}  # (connection id, cursor name) -> bytes materialised
query_ids = [100000]
table_writers = {}      # table -> ids of sessions whose open transaction wrote it
table_commits = {}      # table -> commit sequence of its last committed write
commit_seq = [0]
committing = set()      # sessions whose COMMIT is on its way: their locks may be free before the answer
copies = [0]            # COPYs from S3 run, for --conflict-copies and --wlm-abort-copies


def log(line):
    with lock, open(args.log, 'a') as f:
        f.write(line + '\n')


def next_query_id():
    with lock:
        query_ids[0] += 1
        return query_ids[0]


def message(kind, payload):
    return kind + struct.pack('!I', len(payload) + 4) + payload


def read_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_message(sock):
    head = read_exact(sock, 5)
    length = struct.unpack('!I', head[1:])[0]
    return head[:1], read_exact(sock, length - 4)


def strip_literals(sql):
    """The SQL with string literals and comments blanked, so words inside them are not taken for syntax."""
    return re.sub(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", "''", sql, flags=re.S)


def statements(sql):
    """A simple query's statements, split at the semicolons outside quotes."""
    parts, start, quoted = [], 0, None
    for i, ch in enumerate(sql):
        if quoted:
            if ch == quoted:
                quoted = None
        elif ch in ("'", '"'):
            quoted = ch
        elif ch == ';':
            parts.append(sql[start:i])
            start = i + 1
    parts.append(sql[start:])
    return [p for p in parts if p.strip()]


def quote(text):
    return "'" + text.replace("'", "''") + "'"


class Refusal(Exception):
    def __init__(self, what, sqlstate, text, detail=''):
        super().__init__(text)
        self.what, self.sqlstate, self.text, self.detail = what, sqlstate, text, detail


def wlm_abort():
    """One of Redshift's two abort texts, in turn."""
    qid = next_query_id()
    if qid % 2:
        return Refusal('wlm', 'XX000', 'Query (%d) cancelled by WLM abort action of Query Monitoring Rule '
                       '"ferry_test_rule".' % qid)
    detail = ('\n  -----------------------------------------------\n  error:  abort query %d\n'
              '  code:      1020\n  context:   system requested abort\n  query:     %d\n'
              '  location:  xen_execute.cpp:6200\n  process:   query0_123_%d [pid=12345]\n'
              '  -----------------------------------------------\n' % (qid, qid, qid))
    return Refusal('wlm', 'XX000', 'abort query %d' % qid, detail)


PG_ESCAPE = re.compile(rb'\\(.)', re.S)
RS_SPECIAL = re.compile(rb'([\n\r|\\"\'])')
PG_ESCAPES = {b'b': b'\b', b'f': b'\f', b'n': b'\n', b'r': b'\r', b't': b'\t', b'v': b'\v'}


def redshift_text(line, hex_fields):
    """A row of PostgreSQL's COPY text as Redshift's UNLOAD … ESCAPE writes it: fields split by '|', a
    backslash before each linefeed, carriage return, '|', backslash and quote, NULL as the empty string,
    VARBYTE (bytea, the fields in hex_fields) in hex without bytea's \\x."""
    fields = []
    for i, field in enumerate(line.rstrip(b'\n').split(b'\t')):
        if field == b'\\N':
            fields.append(b'')
            continue
        value = PG_ESCAPE.sub(lambda g: PG_ESCAPES.get(g.group(1), g.group(1)), field) if b'\\' in field else field
        if i in hex_fields and value[:2] == b'\\x':
            value = value[2:]
        fields.append(RS_SPECIAL.sub(rb'\\\1', value) if RS_SPECIAL.search(value) else value)
    return b'|'.join(fields) + b'\n'


s3_clients = []


def s3_client():
    """One S3 client for the front (botocore's clients may be shared by threads; making one takes long)."""
    import botocore.config
    import botocore.session
    with lock:
        if not s3_clients:
            with open(args.s3_secret_file) as f:
                secret = f.read().strip()
            s3_clients.append(botocore.session.get_session().create_client(
                's3', endpoint_url=args.s3_endpoint, region_name=args.s3_region, aws_access_key_id=args.s3_key_id,
                aws_secret_access_key=secret,
                config=botocore.config.Config(s3={'addressing_style': 'path'}, max_pool_connections=32)))
        return s3_clients[0]


def table_key(name):
    """A table's name as one string: quotes gone, lower case, schema public unless given."""
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p.lower()
             for p in re.findall(r'"(?:[^"]|"")*"|[^."]+', name.strip())]
    return '.'.join(parts if len(parts) > 1 else ['public'] + parts)


def conflict(table):
    qid = next_query_id()
    return Refusal('1023', 'XX000', '1023', 'Serializable isolation violation on table - %s, transactions forming '
                   'the cycle are: %d, %d (pid:12345)' % (table, qid - 1, qid))


CSV_FIELD = re.compile(rb'"((?:[^"]|"")*)"|([^,\n"]*)')


def csv_records(data):
    """(first line, [(value, quoted)…]) for each CSV record: quoted fields may hold commas, quotes and lines."""
    at, line, n = 0, 1, len(data)
    while at < n:
        start_line, fields = line, []
        while True:
            m = CSV_FIELD.match(data, at)
            if m.group(1) is not None:
                value = m.group(1).replace(b'""', b'"')
                fields.append((value, True))
                line += m.group(1).count(b'\n')
            else:
                fields.append((m.group(2), False))
            at = m.end()
            if at >= n or data[at:at + 1] == b'\n':
                at += 1
                line += 1
                break
            if data[at:at + 1] != b',':
                raise ValueError('line %d: malformed CSV' % start_line)
            at += 1
        yield start_line, fields


def pg_copy_text(value):
    return (value.replace(b'\\', b'\\\\').replace(b'\t', b'\\t').replace(b'\n', b'\\n')
            .replace(b'\r', b'\\r'))


class Session:
    def __init__(self, client, cid):
        self.client = client
        self.cid = cid
        self.backend = socket.create_connection(('127.0.0.1', args.backend_port))
        self.cursors = {}        # name -> {'query', 'first_fetch'}
        self.key = None          # the backend's cancel key
        self.idle = True         # the backend's transaction status is idle
        self.statement_timer = None
        self.cancelled_for_wlm = False
        self.hex_fields = set()  # the current result's VARBYTE columns
        self.last_copy = (-1, 0)  # pg_last_copy_id(), pg_last_copy_count()
        self.written = set()     # tables this transaction wrote
        self.snapshot = None     # commit sequence when this transaction's snapshot was taken
        self.last_tag = b''      # the last command's tag (COMMIT, ROLLBACK, …)
        self.failed = False      # the transaction failed: nothing it wrote commits

    # ---- startup: relayed, with the catalog schema put on the search_path ----
    def startup(self):
        while True:
            length = struct.unpack('!I', read_exact(self.client, 4))[0]
            body = read_exact(self.client, length - 4)
            code = struct.unpack('!I', body[:4])[0]
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: not here
                self.client.sendall(b'N')
                continue
            if code == 80877102:  # CancelRequest: to the backend as it is
                with socket.create_connection(('127.0.0.1', args.backend_port)) as c:
                    c.sendall(struct.pack('!I', length) + body)
                return False
            break
        fields = body[4:].split(b'\0')
        params = dict(zip(fields[0::2], fields[1::2]))
        params.pop(b'', None)
        self.user = params.get(b'user', b'')
        self.database = params.get(b'database', self.user)
        params[b'search_path'] = b'"$user", public, redshift_catalog'
        packed = struct.pack('!I', 196608) + b''.join(k + b'\0' + v + b'\0' for k, v in params.items()) + b'\0'
        self.backend.sendall(struct.pack('!I', len(packed) + 4) + packed)
        return True

    # ---- what a statement becomes ----
    def rewrite(self, sql):
        bare = strip_literals(sql)
        words = bare.strip().split(None, 2)
        first = words[0].upper() if words else ''
        if first == 'UNLOAD':
            return self.unload(sql)
        if first not in ('BEGIN', 'START', 'LOCK', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', ''):
            self.writes(bare)
        if first == 'COPY' and re.search(r"\bfrom\s+'s3://", sql, re.I):
            return self.copy_from_s3(sql)
        if first == 'CREATE':
            sql = self.create(sql)
        sql = re.sub(r'\bpg_last_copy_count\s*\(\s*\)', str(self.last_copy[1]), sql, flags=re.I)
        sql = re.sub(r'\bpg_last_copy_id\s*\(\s*\)', str(self.last_copy[0]), sql, flags=re.I)
        if re.search(r'\bsysdate\b', bare, re.I):  # Redshift's: the transaction's start, UTC, without zone
            sql = re.sub(r'\bsysdate\b', "(transaction_timestamp() AT TIME ZONE 'UTC')", sql, flags=re.I)
        if re.search(r'\bxmin\b', bare, re.I):
            raise Refusal('xmin', '42703', 'column "xmin" does not exist')
        if re.search(r'\btablesample\b', bare, re.I):
            raise Refusal('tablesample', '42601', 'syntax error at or near "TABLESAMPLE"')
        m = re.search(r'\b(lateral|ordinality)\b|\bfrom\s+(only)\b|\bfilter\s*(\()\s*where\b|(\[\])', bare, re.I)
        if m:
            raise Refusal('syntax', '42601', 'syntax error at or near "%s"' % next(g for g in m.groups() if g).upper())
        if re.search(r'\brow\s*\(', bare, re.I):
            raise Refusal('row', '0A000', 'ROW expression, implicit or explicit, is not supported in target list')
        if first == 'COPY' and re.search(r'\bto\s+stdout\b', bare, re.I):
            raise Refusal('copy-to', '0A000', 'COPY TO STDOUT is not supported by Redshift; use UNLOAD')
        if first == 'SET':
            m = re.match(r'\s*set\s+(?:session\s+|local\s+)?(time\s+zone|[a-z_]+)', bare, re.I)
            if m and m.group(1).lower() not in SETTABLE:
                raise Refusal('set', '42704', 'unrecognized configuration parameter "%s"' % m.group(1).lower())
            if m and m.group(1).lower() in REDSHIFT_ONLY:
                log('set %s' % sql.strip())
                sql = sql[:m.start(1)] + 'redshift.' + sql[m.start(1):]
        if first == 'DECLARE':
            m = re.match(r'\s*declare\s+("?[\w]+"?)\s+(.*?)\bfor\b', bare, re.I | re.S)
            if not m or m.group(2).strip().upper() != 'CURSOR':
                after = m.group(2).split()[0].upper() if m and m.group(2).split() else 'DECLARE'
                raise Refusal('declare', '42601', 'syntax error at or near "%s"' % after)
            if self.cursors:
                raise Refusal('second-cursor', '0A000', 'only one cursor can be open at a time in a session')
            if self.idle:
                raise Refusal('declare', '25P01', 'DECLARE CURSOR can only be used in transaction blocks')
            name = m.group(1).strip('"').lower()
            self.cursors[name] = {'query': sql[sql.lower().index(' for ', m.start(2)) + 5:], 'first_fetch': None}
        if first in ('FETCH', 'MOVE'):
            self.fetch(bare)
        if first in ('CLOSE',):
            name = bare.split()[1].strip('";').lower() if len(bare.split()) > 1 else ''
            self.forget(name)
        sql = re.sub(r'\bpg_stat_activity\b', 'redshift_catalog.stat_activity', sql)
        sql = re.sub(r'(?<![\w.])(?:pg_catalog\.)?version\s*\(\s*\)', quote(VERSION), sql, flags=re.I)
        return sql

    def fetch(self, bare):
        m = re.match(r'\s*(?:fetch|move)\s+(?:(next)|(all)|forward\s+(all|\d+)|(\d+))?\s*(?:from|in)\s+"?(\w+)"?',
                     bare, re.I)
        if not m:
            return
        count = 'ALL' if m.group(2) or (m.group(3) or '').upper() == 'ALL' else int(m.group(3) or m.group(4) or 1)
        if args.nodes == 1 and (count == 'ALL' or count > 1000):
            if count == 'ALL':
                raise Refusal('fetch-all', 'XX000', 'FETCH ALL is not supported on a single node configuration')
            raise Refusal('fetch-size', 'XX000', 'Fetch size %d exceeds the limit of 1000 for a single node '
                          'configuration. Reduce the client fetch/cache size or upgrade to a multi node '
                          'installation.' % count)
        cursor = self.cursors.get(m.group(5).lower())
        if cursor is None:
            return
        now = time.monotonic()
        if cursor['first_fetch'] is None:
            cursor['first_fetch'] = now
            size = self.materialise(cursor['query'])
            with lock:
                total = sum(open_cursor_bytes.values()) + size
                if total <= args.cursor_cap:
                    open_cursor_bytes[(self.cid, m.group(5).lower())] = size
            log('cursor %d' % size)
            if total > args.cursor_cap:
                raise Refusal('cursor-cap', 'XX000', 'exceeded the maximum size allowed for the total set of '
                              'cursor data: %dMB.' % max(1, args.cursor_cap >> 20))
        elif args.wlm_abort_after and now - cursor['first_fetch'] > args.wlm_abort_after:
            raise wlm_abort()

    def materialise(self, query):
        """The bytes of the cursor's whole result, counted in the cursor's own transaction."""
        self.backend.sendall(message(b'Q', ('SELECT coalesce(sum(octet_length(r::text)), 0) FROM (%s) r'
                                            % query).encode() + b'\0'))
        size = 0
        while True:
            kind, payload = read_message(self.backend)
            if kind == b'D':
                size = int(payload[6:6 + struct.unpack('!i', payload[2:6])[0]])
            elif kind == b'Z':
                return size

    # ---- UNLOAD: the query's rows into S3 objects, as Redshift writes them ----
    def unload(self, sql):
        m = re.match(r"\s*unload\s*\(\s*'((?:[^'\\]|\\.|'')*)'\s*\)\s*to\s*'([^']*)'(.*)$", sql, re.I | re.S)
        if not m:
            raise Refusal('unload', '42601', 'syntax error at or near "UNLOAD"')
        query = re.sub(r"\\(.)|''", lambda g: g.group(1) or "'", m.group(1), flags=re.S)
        url, options = m.group(2), m.group(3)
        role = re.search(r"\biam_role\s+'([^']*)'", options, re.I)
        if not role:
            raise Refusal('unload', '42601', 'UNLOAD requires credentials: IAM_ROLE or ACCESS_KEY_ID')
        if role.group(1) != args.unload_role:
            raise Refusal('unload', 'XX000', 'S3ServiceException:Access Denied,Status 403,Error AccessDenied')
        size = re.search(r'\bmaxfilesize\s+(?:as\s+)?(\d+(?:\.\d+)?)\s*(mb|gb)', options, re.I)
        limit = int(float(size.group(1)) * (1 << (30 if size.group(2).lower() == 'gb' else 20))) if size else 6200 << 20
        if not url.startswith('s3://'):
            raise Refusal('unload', 'XX000', 'Invalid S3 url: %s' % url)
        bucket, _, prefix = url[5:].partition('/')
        s3 = s3_client()
        if not re.search(r'\ballowoverwrite\b', options, re.I) and s3.list_objects_v2(
                Bucket=bucket, Prefix=prefix).get('KeyCount', 0) > 0:
            raise Refusal('unload', 'XX000', 'Specified unload destination on S3 is not empty. Consider using a '
                          'different bucket / prefix, manually removing the target files in S3, or using the '
                          'ALLOWOVERWRITE option.')
        if not re.search(r'\bparallel\s+(off|false)\b', options, re.I):
            raise Refusal('unload', '0A000', 'this front writes UNLOAD with PARALLEL OFF only')
        self.start_statement()
        rows = self.copy_rows(query)
        if args.wlm_abort_rows and len(rows) > args.wlm_abort_rows:
            raise wlm_abort()
        entries, chunk, count, total, size = [], [], 0, 0, 0
        def put(last=False):
            if not chunk and not (last and not entries):
                return
            key = '%s%03d' % (prefix, len(entries))
            body = b''.join(chunk)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            entries.append({'url': 's3://%s/%s' % (bucket, key),
                            'meta': {'content_length': len(body), 'record_count': len(chunk)}})
        for line in rows:
            if chunk and size + len(line) > limit:
                put()
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
            count += 1
            total += len(line)
        put(last=True)
        if re.search(r'\bmanifest\b', options, re.I):
            manifest = {'entries': entries, 'meta': {'content_length': total, 'record_count': count}}
            s3.put_object(Bucket=bucket, Key=prefix + 'manifest', Body=json.dumps(manifest).encode())
        log('unload %s %d %d' % (url, count, len(entries)))
        return "DO 'BEGIN END'"

    # ---- serializable isolation: error 1023 ----
    def writes(self, bare):
        """Take this transaction's snapshot, and fail a write that races another transaction's."""
        if self.snapshot is None:
            # A LOCK that returned may have waited for a COMMIT whose answer is still on its way: the
            # snapshot comes after it, as Redshift's would.
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                with lock:
                    if not committing - {self.cid}:
                        break
                time.sleep(0.005)
            with lock:
                self.snapshot = commit_seq[0]
        m = re.match(r'\s*(?:copy|insert\s+into|delete\s+from|delete|update)\s+((?:"(?:[^"]|"")*"|[\w$]+)'
                     r'(?:\.(?:"(?:[^"]|"")*"|[\w$]+))?)', bare, re.I)
        if not m or m.group(1).lower() in ('ferry_stage',):
            return
        table = table_key(m.group(1))
        with lock:
            others = table_writers.get(table, set()) - {self.cid}
            late = table_commits.get(table, 0) > self.snapshot
            if not others and not late:
                table_writers.setdefault(table, set()).add(self.cid)
                self.written.add(table)
                return
        raise conflict(table)

    def end_transaction(self):
        committed = not self.failed and not self.last_tag.startswith(b'ROLLBACK')
        with lock:
            committing.discard(self.cid)
            if committed and self.written:
                commit_seq[0] += 1
            for table in self.written:
                table_writers.get(table, set()).discard(self.cid)
                if committed:
                    table_commits[table] = commit_seq[0]
        self.written, self.snapshot, self.failed = set(), None, False

    # ---- CREATE TABLE as Redshift takes it ----
    def create(self, sql):
        m = re.match(r'\s*create\s+table\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")*"(?:\."(?:[^"]|"")*")?|\S+)',
                     sql, re.I)
        if not m:
            return sql
        keys = ' '.join(k.group(0) for k in re.finditer(r'\b(?:distkey|sortkey)\s*\([^)]*\)|\bdiststyle\s+\w+',
                                                            sql[m.end():], re.I))
        tail = re.sub(r'\b(?:distkey|sortkey)\s*\([^)]*\)|\bdiststyle\s+\w+', '', sql[m.end():], flags=re.I)
        tail = re.sub(r'\b(?:varbyte|varbinary|binary\s+varying)(?:\s*\(\s*\d+\s*\))?', 'bytea', tail, flags=re.I)
        tail = re.sub(r'\bsysdate\b', 'localtimestamp', tail, flags=re.I)
        log('create %s %s' % (table_key(m.group(1)), keys))
        return sql[:m.end()] + tail

    # ---- COPY … FROM 's3://…': the objects loaded as Redshift loads them ----
    def backend_query(self, sql):
        """Rows (as text) of a query run in the client's session, between its messages."""
        self.backend.sendall(message(b'Q', sql.encode() + b'\0'))
        rows, error = [], None
        while True:
            kind, payload = read_message(self.backend)
            if kind == b'D':
                count, at, row = struct.unpack('!h', payload[:2])[0], 2, []
                for _ in range(count):
                    length = struct.unpack('!i', payload[at:at + 4])[0]
                    row.append(None if length < 0 else payload[at + 4:at + 4 + length].decode())
                    at += 4 + max(length, 0)
                rows.append(row)
            elif kind == b'E':
                error = dict((f[:1].decode(), f[1:].decode()) for f in payload.split(b'\0') if f)
            elif kind == b'Z':
                if error:
                    raise Refusal('copy', error.get('C', 'XX000'), error.get('M', 'failed'))
                return rows

    def copy_in(self, table, cols, lines):
        """COPY the lines into the table; None, or (index of the refused line, column, message)."""
        self.backend.sendall(message(b'Q', ('COPY %s (%s) FROM STDIN' % (table, cols)).encode() + b'\0'))
        error = None
        while True:
            kind, payload = read_message(self.backend)
            if kind == b'G':
                for line in lines:
                    self.backend.sendall(message(b'd', line))
                self.backend.sendall(message(b'c', b''))
            elif kind == b'E':
                error = dict((f[:1].decode(), f[1:].decode()) for f in payload.split(b'\0') if f)
            elif kind == b'Z':
                break
        if error is None:
            return None
        where = re.search(r'line (\d+)(?:, column (\w+))?', error.get('W', ''))
        if not where:
            raise Refusal('copy', error.get('C', 'XX000'), error.get('M', 'COPY failed'))
        return int(where.group(1)) - 1, where.group(2) or '', error.get('M', '')

    def load_error(self, row):
        """A row of stl_load_errors, written at once on a connection of its own (it outlives the transaction)."""
        with socket.create_connection(('127.0.0.1', args.backend_port)) as c:
            params = b'user\0' + self.user + b'\0database\0' + self.database + b'\0\0'
            c.sendall(struct.pack('!II', len(params) + 8, 196608) + params)
            while read_message(c)[0] != b'Z':
                pass
            values = ', '.join('NULL' if v is None else quote(str(v)) for v in row)
            c.sendall(message(b'Q', ('INSERT INTO redshift_catalog.stl_load_errors (query, session, tbl, filename, '
                                     'line_number, colname, raw_field_value, err_code, err_reason) VALUES (%s)'
                                     % values).encode() + b'\0'))
            while read_message(c)[0] != b'Z':
                pass
            c.sendall(message(b'X', b''))

    def copy_from_s3(self, sql):
        m = re.match(r"\s*copy\s+(.+?)\s*\(([^)]*)\)\s*from\s*'([^']*)'(.*)$", sql, re.I | re.S)
        if not m:
            raise Refusal('copy', '42601', 'syntax error at or near "COPY"')
        table, cols, url, options = m.group(1).strip(), m.group(2), m.group(3), m.group(4)
        role = re.search(r"\biam_role\s+'([^']*)'", options, re.I)
        if not role:
            raise Refusal('copy', '42601', 'COPY requires credentials: IAM_ROLE or ACCESS_KEY_ID')
        if role.group(1) != args.unload_role:
            raise Refusal('copy', 'XX000', 'S3ServiceException:Access Denied,Status 403,Error AccessDenied')
        if not re.search(r'\bcsv\b', options, re.I):
            raise Refusal('copy', '0A000', 'this front takes COPY … FORMAT AS CSV only')
        null = re.search(r"\bnull\s+as\s+'([^']*)'", options, re.I)
        null = null.group(1).encode() if null else b''
        maxerror = re.search(r'\bmaxerror\s+(?:as\s+)?(\d+)', options, re.I)
        maxerror = int(maxerror.group(1)) if maxerror else 0
        with lock:
            copies[0] += 1
            n = copies[0]
        if args.conflict_copies and n % args.conflict_copies == 0:
            raise conflict(table_key(table))
        if args.wlm_abort_copies and n % args.wlm_abort_copies == 0:
            raise wlm_abort()
        s3 = s3_client()
        def fetch(u):
            bucket, _, key = u[5:].partition('/')
            return s3.get_object(Bucket=bucket, Key=key)['Body'].read()
        if re.search(r'\bmanifest\b', options, re.I):
            urls = [e['url'] for e in json.loads(fetch(url))['entries']]
        else:
            bucket, _, prefix = url[5:].partition('/')
            urls = ['s3://%s/%s' % (bucket, o['Key'])
                    for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get('Contents', [])]
        names = [c.strip().strip('"').replace('""', '"') for c in cols.split(',')]
        schema, _, name = table_key(table).rpartition('.')
        if name == 'ferry_stage':
            schema = self.backend_query("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")[0][0]
        types = dict(self.backend_query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c "
            "ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND "
            "c.relname = %s AND a.attnum > 0" % (quote(schema), quote(name))))
        qid = next_query_id()
        session = struct.unpack('!i', self.key[:4])[0] if self.key else 0
        lines, origin, errors = [], [], 0
        def refuse(u, line, col, value, code, reason):
            self.load_error([qid, session, 0, u, line, col, (value or b'')[:1024].decode(errors='replace'),
                             code, reason])
        for u in urls:
            data = fetch(u)
            if re.search(r'\bgzip\b', options, re.I):
                data = gzip.decompress(data)
            elif re.search(r'\bzstd\b', options, re.I):
                data = subprocess.run(['zstd', '-dcq'], input=data, stdout=subprocess.PIPE, check=True).stdout
            for line, fields in csv_records(data):
                if len(fields) != len(names):
                    refuse(u, line, '', None, 1214, 'Delimiter not found')
                    errors += 1
                    continue
                out, bad = [], None
                for (value, quoted), col in zip(fields, names):
                    kind = types.get(col, '')
                    if not quoted and (value == null or (value == b'' and not kind.startswith('character'))):
                        out.append(b'\\N')
                        continue
                    size = re.match(r'character(?: varying)?\((\d+)\)', kind)
                    if size and len(value) > int(size.group(1)):
                        bad = (col, value, 1204, 'String length exceeds DDL length')
                        break
                    if kind == 'bytea':
                        value = b'\\x' + value
                    out.append(pg_copy_text(value))
                if bad:
                    refuse(u, line, bad[0], bad[1], bad[2], bad[3])
                    errors += 1
                    continue
                lines.append(b'\t'.join(out) + b'\n')
                origin.append((u, line, fields))
        # The backend's own refusals, one at a time, each line taken out and the rest sent again.
        self.backend_query('SAVEPOINT rs_copy')
        while True:
            refused = self.copy_in(table, cols, lines)
            if refused is None:
                break
            self.backend_query('ROLLBACK TO SAVEPOINT rs_copy')
            at, col, text = refused
            u, line, fields = origin[at]
            value = fields[names.index(col)][0] if col in names else None
            refuse(u, line, col, value, 1207, text)
            errors += 1
            del lines[at], origin[at]
        self.backend_query('RELEASE SAVEPOINT rs_copy')
        log('copy %s %d %d %d' % (table_key(table), len(lines), errors, len(urls)))
        if errors > maxerror:
            raise Refusal('copy-failed', 'XX000', "Load into table '%s' failed. Check 'stl_load_errors' system table "
                          "for details." % name)
        self.last_copy = (qid, len(lines))
        return "DO 'BEGIN END'"

    def column_types(self, query):
        """The type oids of the query's columns (its row description)."""
        self.backend.sendall(message(b'Q', ('SELECT * FROM (%s) q LIMIT 0' % query).encode() + b'\0'))
        types = []
        while True:
            kind, payload = read_message(self.backend)
            if kind == b'T':
                at = 2
                for _ in range(struct.unpack('!h', payload[:2])[0]):
                    at = payload.index(b'\0', at) + 1
                    types.append(struct.unpack('!i', payload[at + 6:at + 10])[0])
                    at += 18
            elif kind == b'Z':
                return types

    def copy_rows(self, query):
        """The query's rows from the backend (COPY TO STDOUT), each as Redshift's ESCAPE text writes it."""
        hex_fields = {i for i, oid in enumerate(self.column_types(query)) if oid == 17}
        self.backend.sendall(message(b'Q', ('COPY (%s) TO STDOUT' % query).encode() + b'\0'))
        rows, error = [], None
        while True:
            kind, payload = read_message(self.backend)
            if kind == b'd':
                rows.append(redshift_text(payload, hex_fields))
            elif kind == b'E':
                error = dict((f[:1].decode(), f[1:].decode()) for f in payload.split(b'\0') if f)
            elif kind == b'Z':
                break
        if self.statement_timer is not None:
            self.statement_timer.cancel()
            self.statement_timer = None
        if error is not None:
            if error.get('C') == '57014' and self.cancelled_for_wlm:
                self.cancelled_for_wlm = False
                raise wlm_abort()
            raise Refusal('unload', error.get('C', 'XX000'), error.get('M', 'UNLOAD failed'))
        return rows

    def forget(self, name=None):
        for n in list(self.cursors) if name is None else [name]:
            self.cursors.pop(n, None)
            with lock:
                open_cursor_bytes.pop((self.cid, n), None)

    def raise_sql(self, refusal, nparams=0):
        """A statement that makes the backend fail as Redshift would, taking the client's parameters."""
        log('%s %s' % (refusal.what, refusal.text))
        params = ''.join(', $%d::text' % (i + 1) for i in range(nparams))
        return 'SELECT redshift_catalog.rs_raise(%s, %s, %s%s)' % (
            quote(refusal.sqlstate), quote(refusal.text), quote(refusal.detail), params)

    # ---- WLM: a statement running too long is cancelled, and its error told as Redshift tells it ----
    def start_statement(self):
        if args.wlm_abort_after and self.key is not None:
            self.statement_timer = threading.Timer(args.wlm_abort_after, self.cancel_for_wlm)
            self.statement_timer.daemon = True
            self.statement_timer.start()

    def cancel_for_wlm(self):
        self.cancelled_for_wlm = True
        with socket.create_connection(('127.0.0.1', args.backend_port)) as c:
            c.sendall(struct.pack('!II', 16, 80877102) + self.key)

    def describe(self, payload):
        """A RowDescription: bytea columns become VARBYTE (Redshift's oid 6551), whose values follow bare."""
        count = struct.unpack('!h', payload[:2])[0]
        out, at, self.hex_fields = [payload[:2]], 2, set()
        for i in range(count):
            end = payload.index(b'\0', at) + 1
            table, attnum, oid, typlen, typmod, fmt = struct.unpack('!ihihih', payload[end:end + 18])
            if oid == 17:
                self.hex_fields.add(i)
                oid = 6551
            out.append(payload[at:end] + struct.pack('!ihihih', table, attnum, oid, typlen, typmod, fmt))
            at = end + 18
        return b''.join(out)

    def bare_hex(self, payload):
        """A DataRow with its VARBYTE values as Redshift writes them: hex without bytea's \\x."""
        count = struct.unpack('!h', payload[:2])[0]
        out, at = [payload[:2]], 2
        for i in range(count):
            length = struct.unpack('!i', payload[at:at + 4])[0]
            value = payload[at + 4:at + 4 + max(length, 0)]
            at += 4 + max(length, 0)
            if i in self.hex_fields and length >= 2 and value[:2] == b'\\x':
                value, length = value[2:], length - 2
            out.append(struct.pack('!i', length) + value)
        return b''.join(out)

    def from_backend(self, kind, payload):
        if kind == b'T':
            payload = self.describe(payload)
        elif kind == b'D' and self.hex_fields:
            payload = self.bare_hex(payload)
        if kind == b'K':
            self.key = payload
        elif kind == b'C':
            self.last_tag = payload
        if kind == b'E':
            self.failed = True
        if kind == b'Z':
            self.idle = payload == b'I'
            if self.idle:
                self.forget()
                if self.written or self.snapshot is not None or self.failed or self.cid in committing:
                    self.end_transaction()
            if self.statement_timer is not None:
                self.statement_timer.cancel()
                self.statement_timer = None
            self.cancelled_for_wlm = False
        elif kind in (b'E', b'N') and b'rs_raise' in payload:
            # The raise is this front's device: Redshift's error has no PL/pgSQL context.
            fields = [f for f in payload.split(b'\0') if f and not (f[:1] == b'W' and b'rs_raise' in f)]
            payload = b'\0'.join(fields) + b'\0\0'
        if kind == b'E' and self.cancelled_for_wlm:
            fields = dict((f[:1], f[1:]) for f in payload.split(b'\0') if f)
            if fields.get(b'C') == b'57014':
                self.cancelled_for_wlm = False
                r = wlm_abort()
                log('wlm %s' % r.text)
                out = [b'S' + fields.get(b'S', b'ERROR'), b'C' + r.sqlstate.encode(), b'M' + r.text.encode()]
                if r.detail:
                    out.append(b'D' + r.detail.encode())
                payload = b'\0'.join(out) + b'\0\0'
        return message(kind, payload)

    def from_client(self, kind, payload):
        if kind == b'Q':
            sql = payload[:-1].decode()
            if any(re.match(r'\s*(commit|end)\b', one, re.I) for one in statements(sql)):
                with lock:
                    committing.add(self.cid)
            try:
                sql = ';'.join(self.rewrite(one) for one in statements(sql))
            except Refusal as r:
                sql = self.raise_sql(r)
            self.start_statement()
            return message(kind, sql.encode() + b'\0')
        if kind == b'P':
            name, rest = payload.split(b'\0', 1)
            sql, rest = rest.split(b'\0', 1)
            sql = sql.decode()
            try:
                sql = self.rewrite(sql)
            except Refusal as r:
                sql = self.raise_sql(r, max([int(n) for n in re.findall(r'\$(\d+)', sql)] or [0]))
                rest = b'\0\0'  # no parameter types: the raise takes them as text
            return message(kind, name + b'\0' + sql.encode() + b'\0' + rest)
        if kind == b'E':
            self.start_statement()
        return message(kind, payload)

    def run(self):
        try:
            if not self.startup():
                return
            socks = [self.client, self.backend]
            while True:
                ready, _, _ = select.select(socks, [], [])
                if self.backend in ready:
                    kind, payload = read_message(self.backend)
                    self.client.sendall(self.from_backend(kind, payload))
                if self.client in ready:
                    kind, payload = read_message(self.client)
                    self.backend.sendall(self.from_client(kind, payload))
                    if kind == b'X':
                        return
        except (EOFError, ConnectionError, OSError):
            pass
        finally:
            if self.statement_timer is not None:
                self.statement_timer.cancel()
            self.forget()
            self.failed = True  # a session that goes away commits nothing more
            self.end_transaction()
            for s in (self.client, self.backend):
                try:
                    s.close()
                except OSError:
                    pass


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        Session(self.request, id(self)).run()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


parser = argparse.ArgumentParser()
parser.add_argument('--port', type=int, required=True)
parser.add_argument('--backend-port', type=int, required=True)
parser.add_argument('--nodes', type=int, default=1, help='compute nodes; 1: single-node limits on FETCH')
parser.add_argument('--cursor-cap', type=int, default=8000 << 20, help='bytes all open cursors may hold')
parser.add_argument('--wlm-abort-after', type=float, default=0, help='seconds a query may run; 0: forever')
parser.add_argument('--wlm-abort-rows', type=int, default=0,
                    help='rows an UNLOAD may return before WLM aborts it; 0: any number')
parser.add_argument('--log', required=True)
parser.add_argument('--unload-role', default='', help='the IAM role UNLOAD may write as')
parser.add_argument('--s3-endpoint', help='the S3 store UNLOAD writes to')
parser.add_argument('--s3-region', default='us-east-1')
parser.add_argument('--s3-key-id')
parser.add_argument('--s3-secret-file')
parser.add_argument('--conflict-copies', type=int, default=0, help='every Nth COPY from S3 fails with 1023')
parser.add_argument('--wlm-abort-copies', type=int, default=0, help='every Nth COPY from S3 is aborted by WLM')
args = parser.parse_args()
server = Server(('127.0.0.1', args.port), Handler)
print('rsfront listening on %d' % args.port, flush=True)
server.serve_forever()
