#!/usr/bin/python3
"""tests/tools/s3front.py — an S3 front end for the tests: checks what s3rver does not, then hands the request on.

s3rver stores objects and multipart uploads as S3 does, but checks no
Signature Version 4 and has no ListMultipartUploads or AbortMultipartUpload.
This front sits before it on loopback and, for every request:

  - takes the test's key, or temporary credentials tests/tools/awsmeta.py
    issued until they expire (400 ExpiredToken after);
  - recomputes the SigV4 signature with botocore (an implementation nobody
    here wrote) from the request as it arrived: the query re-encoded and
    sorted, the path re-encoded as S3 does, only the headers the request
    names as signed; any difference is 403 SignatureDoesNotMatch, an unknown
    key 403 InvalidAccessKeyId;
  - checks x-amz-content-sha256, Content-MD5 and x-amz-checksum-crc32c
    against the body (400 XAmzContentSHA256Mismatch / BadDigest);
  - keeps the open multipart uploads, so ListMultipartUploads lists them and
    AbortMultipartUpload ends them (a part or a completion for an upload no
    longer open is 404 NoSuchUpload), as S3 does;
  - takes virtual-host requests too: a Host of "<bucket>.<--virtual-domain>"
    (default s3.test, which resolves nowhere: a test reaches it with this
    front as ferry's HTTP proxy) names the bucket, the path is the key, and
    the request goes on to s3rver path-style;
  - injects faults read from --faults before each request: lines of
    "<operation> <what> <count>", where what is an HTTP status with an S3
    code (503:SlowDown, 500:InternalError; "@N" adds Retry-After: N), "200error" (a 200 whose body is
    an <Error>, for CompleteMultipartUpload), "cut" (the connection closed
    after half the body is read) or "huge" (the true answer, padded past
    9 MiB with an XML comment); count is how many such requests fail.

Each request is logged to --log as "<operation> <status>", and its Host header to --hosts.
"""
import argparse
import base64
import datetime
import hashlib
import http.client
import http.server
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

lock = threading.Lock()
uploads = {}  # upload id -> (bucket, key, initiated)
faults = []   # [operation, what, remaining]
faults_mtime = None


def issued_credentials(key_id):
    """(secret, token) of temporary credentials tests/tools/awsmeta.py issued; token 'expired' once they are."""
    if not args.issued:
        return None, None
    try:
        with open(args.issued) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4 and parts[0] == key_id:
                    return parts[1], parts[2] if time.time() < int(parts[3]) else 'expired'
    except FileNotFoundError:
        pass
    return None, None


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return (crc ^ 0xFFFFFFFF).to_bytes(4, 'big')


def operation(method, key, query):
    if method == 'POST' and 'uploads' in query:
        return 'CreateMultipartUpload'
    if method == 'POST' and 'uploadId' in query:
        return 'CompleteMultipartUpload'
    if method == 'PUT' and 'uploadId' in query:
        return 'UploadPart'
    if method == 'DELETE' and 'uploadId' in query:
        return 'AbortMultipartUpload'
    if method == 'GET' and not key and 'uploads' in query:
        return 'ListMultipartUploads'
    if method == 'GET' and not key:
        return 'ListObjects'
    return {'PUT': 'PutObject', 'GET': 'GetObject', 'DELETE': 'DeleteObject', 'HEAD': 'HeadObject'}.get(method, method)


def take_fault(op):
    global faults, faults_mtime
    path = args.faults
    if path is None:
        return None
    with lock:
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            faults, faults_mtime = [], None
            return None
        if mtime != faults_mtime:
            faults_mtime = mtime
            faults = []
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 3:
                        faults.append([parts[0], parts[1], int(parts[2])])
        for fault in faults:
            if fault[0] == op and fault[2] > 0:
                fault[2] -= 1
                return fault[1]
    return None


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *a):
        pass

    def reply(self, status, code=None, message='', body=None, headers=()):
        if body is None and code is not None and status >= 300:
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>'
                    % (code, message)).encode()
        body = body or b''
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        self.record(status, code)

    def record(self, status, code=None):
        with lock, open(args.log, 'a') as log:
            log.write('%s %d%s\n' % (self.op, status, ' ' + code if code else ''))

    def verify(self, body):
        auth = self.headers.get('Authorization', '')
        m = re.fullmatch(r'AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, '
                         r'SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})', auth)
        if not m:
            return 403, 'AccessDenied', 'no SigV4 Authorization header'
        key_id, day, region, signed, signature = m.groups()
        secret, token = (args.secret, args.token) if key_id == args.key_id else issued_credentials(key_id)
        if secret is None:
            return 403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'
        if token == 'expired':
            return 400, 'ExpiredToken', 'The provided token has expired.'
        if region != args.region:
            return 400, 'AuthorizationHeaderMalformed', 'the region is wrong; expecting ' + args.region
        amz_date = self.headers.get('x-amz-date', '')
        try:
            when = datetime.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ').replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return 403, 'AccessDenied', 'no x-amz-date'
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900 or amz_date[:8] != day:
            return 403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'
        if token and self.headers.get('x-amz-security-token') != token:
            return 403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'
        content_sha = self.headers.get('x-amz-content-sha256')
        if content_sha != hashlib.sha256(body).hexdigest():
            return 400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'
        md5 = self.headers.get('Content-MD5')
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            return 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.'
        crc = self.headers.get('x-amz-checksum-crc32c')
        if crc is not None and crc != base64.b64encode(crc32c(body)).decode():
            return 400, 'BadDigest', 'The CRC32C you specified did not match the calculated checksum.'
        # The request as S3 sees it: the path decoded and encoded again, the query re-encoded and sorted.
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.quote(urllib.parse.unquote(split.path), safe='/~')
        params = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        headers = {name: self.headers.get(name) for name in signed.split(';')}
        if None in headers.values():
            return 403, 'AccessDenied', 'a signed header is missing'
        request = AWSRequest(method=self.command, url='http://%s%s' % (headers['host'], path),
                             headers=headers, data=body, params=params)
        request.context['timestamp'] = amz_date
        signer = S3SigV4Auth(Credentials(key_id, secret, token or None), 's3', args.region)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if expected != signature:
            return 403, 'SignatureDoesNotMatch', ('The request signature we calculated does not match the signature '
                                                  'you provided. Check your key and signing method.')
        return None

    def handle_one(self):
        split = urllib.parse.urlsplit(self.path)  # a proxy's request line carries the whole URL
        with lock, open(args.hosts, 'a') as hosts:
            hosts.write(self.headers.get('Host', '') + '\n')
        host = self.headers.get('Host', '').rsplit(':', 1)[0]
        query_part = '?' + split.query if split.query else ''
        if host.endswith('.' + args.virtual_domain):
            bucket = host[:-len(args.virtual_domain) - 1]
            key = urllib.parse.unquote(split.path.lstrip('/'))
            self.backend_path = '/' + urllib.parse.quote(bucket) + split.path + query_part
        else:
            parts = split.path.lstrip('/').split('/', 1)
            bucket = urllib.parse.unquote(parts[0])
            key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ''
            self.backend_path = split.path + query_part
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        self.op = operation(self.command, key, query)
        length = int(self.headers.get('Content-Length', '0'))
        fault = take_fault(self.op)
        if fault == 'cut':
            self.rfile.read(length // 2)
            self.record(0, 'cut')
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = self.rfile.read(length) if length else b''
        failed = self.verify(body)
        if failed:
            return self.reply(*failed)
        if fault == '200error':
            # S3's way of failing a completion late: the upload stays open, no object is made.
            answer = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                      b'<Message>We encountered an internal error. Please try again.</Message></Error>')
            return self.reply(200, '200error', body=answer, headers=[('Content-Type', 'application/xml')])
        if fault is not None and fault != 'huge':
            fault, _, after = fault.partition('@')
            status, _, code = fault.partition(':')
            return self.reply(int(status), code or 'InternalError', 'injected by the test',
                              headers=[('Retry-After', after)] if after else ())
        upload_id = query.get('uploadId')
        if upload_id is not None and upload_id not in uploads:
            return self.reply(404, 'NoSuchUpload', 'The specified upload does not exist.')
        if self.op == 'AbortMultipartUpload':
            with lock:
                uploads.pop(upload_id, None)
            return self.reply(204)
        if self.op == 'ListMultipartUploads':
            return self.list_uploads(bucket, query.get('prefix', ''))
        status, headers, answer = self.forward(body)
        if self.op == 'CreateMultipartUpload' and status == 200:
            m = re.search(rb'<UploadId>([^<]+)</UploadId>', answer)
            if m:
                with lock:
                    uploads[m.group(1).decode()] = (bucket, key, datetime.datetime.utcnow())
        if self.op == 'CompleteMultipartUpload' and status == 200:
            with lock:
                uploads.pop(upload_id, None)
        if fault == 'huge':
            answer += b'<!--' + b' ' * (9 << 20) + b'-->'
        self.reply(status, 'huge' if fault == 'huge' else None, body=answer, headers=headers)

    def forward(self, body):
        conn = http.client.HTTPConnection('127.0.0.1', args.backend_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ('authorization', 'content-length')}
        headers['Content-Length'] = str(len(body))
        conn.request(self.command, self.backend_path, body=body, headers=headers)
        r = conn.getresponse()
        answer = r.read()
        keep = [(k, v) for k, v in r.getheaders() if k.lower() in ('etag', 'content-type', 'last-modified')]
        conn.close()
        return r.status, keep, answer

    def list_uploads(self, bucket, prefix):
        with lock:
            mine = sorted((k, u) for u, (b, k, _) in uploads.items() if b == bucket and k.startswith(prefix))
        items = ''.join('<Upload><Key>%s</Key><UploadId>%s</UploadId></Upload>'
                        % (k.replace('&', '&amp;').replace('<', '&lt;'), u) for k, u in mine)
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>%s</Bucket>'
                '<IsTruncated>false</IsTruncated>%s</ListMultipartUploadsResult>' % (bucket, items)).encode()
        self.reply(200, body=body, headers=[('Content-Type', 'application/xml')])

    def do_GET(self):
        self.handle_one()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


parser = argparse.ArgumentParser()
parser.add_argument('--port', type=int, required=True)
parser.add_argument('--backend-port', type=int, required=True)
parser.add_argument('--key-id', required=True)
parser.add_argument('--secret-file', required=True)
parser.add_argument('--token', default='')
parser.add_argument('--region', default='us-east-1')
parser.add_argument('--faults')
parser.add_argument('--issued', help='temporary credentials awsmeta.py issued: "<id> <secret> <token> <expires>" lines')
parser.add_argument('--log', required=True)
parser.add_argument('--hosts', default=os.devnull, help='where each request\'s Host header is written')
parser.add_argument('--virtual-domain', default='s3.test', help='the endpoint host of virtual-host requests')
args = parser.parse_args()
with open(args.secret_file) as f:
    args.secret = f.read().strip()
server = Server(('127.0.0.1', args.port), Front)
print('s3front listening on %d' % args.port, flush=True)
server.serve_forever()
