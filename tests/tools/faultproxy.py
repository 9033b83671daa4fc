#!/usr/bin/python3
"""tests/tools/faultproxy.py — an HTTP proxy on loopback that hands every request on unchanged, or fails it as told.

  faultproxy.py --port N --backend-port M --faults FILE --log FILE

For stores that check their own signatures (Azurite checks Shared Key over the
path and headers, which pass through untouched). Before each request the proxy
reads --faults: lines of "<operation> <what> <count>", where operation is
Azure's (PutBlob, PutBlock, PutBlockList, GetBlob, ListBlobs, DeleteBlob),
optionally ":<suffix>" for requests whose blob name ends so, and
what is a status with a code (503:ServerBusy, 500:InternalError; "@N" adds
Retry-After: N) or "cut" (the connection closed after half the body is read).
Each request is logged to --log as "<operation> <status>[ <code>]".
"""
import argparse
import http.client
import http.server
import os
import socketserver
import threading
import urllib.parse

lock = threading.Lock()
faults, faults_mtime = [], None


def operation(method, path, query):
    comp = query.get('comp')
    if method == 'PUT':
        return {'block': 'PutBlock', 'blocklist': 'PutBlockList'}.get(comp, 'PutBlob')
    if method == 'GET':
        return 'ListBlobs' if comp == 'list' else 'GetBlob'
    if method == 'DELETE':
        return 'DeleteBlob'
    return method


def take_fault(op, path):
    global faults, faults_mtime
    with lock:
        try:
            mtime = os.stat(args.faults).st_mtime_ns
        except FileNotFoundError:
            faults, faults_mtime = [], None
            return None
        if mtime != faults_mtime:
            faults_mtime = mtime
            with open(args.faults) as f:
                faults = [[p[0], p[1], int(p[2])] for p in (line.split() for line in f) if len(p) == 3]
        for fault in faults:
            name, _, suffix = fault[0].partition(':')
            if name == op and path.endswith(suffix) and fault[2] > 0:
                fault[2] -= 1
                return fault[1]
    return None


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *a):
        pass

    def record(self, status, code=''):
        with lock, open(args.log, 'a') as log:
            log.write('%s %d%s\n' % (self.op, status, ' ' + code if code else ''))

    def handle_one(self):
        split = urllib.parse.urlsplit(self.path)
        self.op = operation(self.command, split.path, dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)))
        length = int(self.headers.get('Content-Length', '0'))
        fault = take_fault(self.op, urllib.parse.unquote(split.path))
        if fault == 'cut':
            self.rfile.read(length // 2)
            self.record(0, 'cut')
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = self.rfile.read(length) if length else b''
        if fault is not None:
            fault, _, after = fault.partition('@')
            status, _, code = fault.partition(':')
            answer = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>injected by the test'
                      '</Message></Error>' % code).encode()
            self.send_response(int(status))
            if after:
                self.send_header('Retry-After', after)
            self.send_header('Content-Type', 'application/xml')
            self.send_header('Content-Length', str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return self.record(int(status), code)
        conn = http.client.HTTPConnection('127.0.0.1', args.backend_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != 'content-length'}
        headers['Content-Length'] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        answer = r.read()
        self.send_response(r.status)
        for name, value in r.getheaders():
            if name.lower() not in ('content-length', 'transfer-encoding', 'connection', 'keep-alive'):
                self.send_header(name, value)
        self.send_header('Content-Length', str(len(answer)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(answer)
        conn.close()
        self.record(r.status)

    def do_GET(self):
        self.handle_one()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


parser = argparse.ArgumentParser()
parser.add_argument('--port', type=int, required=True)
parser.add_argument('--backend-port', type=int, required=True)
parser.add_argument('--faults', required=True)
parser.add_argument('--log', required=True)
args = parser.parse_args()
Server(('127.0.0.1', args.port), Proxy).serve_forever()
