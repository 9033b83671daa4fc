#!/usr/bin/python3
"""tests/tools/awsmeta.py — where AWS hands out temporary credentials, for the tests: IMDSv2 and STS.

  awsmeta.py --port N --issued FILE --lifetime S --web-token FILE --log FILE

Instance metadata, version 2 only (as an instance that requires it):
  PUT /latest/api/token                           (X-aws-ec2-metadata-token-ttl-seconds) -> a session token
  GET /latest/meta-data/iam/security-credentials/ (X-aws-ec2-metadata-token) -> the role's name
  GET /latest/meta-data/iam/security-credentials/ferry-role -> credentials, JSON, that expire in S seconds
  any GET without a valid session token -> 401
STS:
  POST / Action=AssumeRoleWithWebIdentity&RoleArn=…&RoleSessionName=…&WebIdentityToken=…
      -> credentials, XML, when the token is the one in --web-token; else 403 AccessDenied

Every issue makes new credentials and appends "<id> <secret> <token> <expires epoch>" to --issued,
which s3front reads to accept them until they expire; --log gets "imds <id>" or "sts <id>".
"""
import argparse
import datetime
import http.server
import secrets
import socketserver
import threading
import time
import urllib.parse

lock = threading.Lock()
sessions = set()


def issue(kind):
    key_id = 'ASIA' + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(30)
    token = 'FwoGZX' + secrets.token_urlsafe(90)
    expires = int(time.time()) + args.lifetime
    with lock:
        with open(args.issued, 'a') as f:
            f.write('%s %s %s %d\n' % (key_id, secret, token, expires))
        with open(args.log, 'a') as f:
            f.write('%s %s\n' % (kind, key_id))
    stamp = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return key_id, secret, token, stamp


class Meta(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *a):
        pass

    def answer(self, status, body, content_type='text/plain'):
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        self.rfile.read(int(self.headers.get('Content-Length', '0')))
        if self.path != '/latest/api/token' or not self.headers.get('X-aws-ec2-metadata-token-ttl-seconds'):
            return self.answer(400, 'bad request')
        session = secrets.token_urlsafe(32)
        with lock:
            sessions.add(session)
        self.answer(200, session)

    def do_GET(self):
        with lock:
            valid = self.headers.get('X-aws-ec2-metadata-token') in sessions
        if not valid:
            return self.answer(401, 'Unauthorized')
        if self.path == '/latest/meta-data/iam/security-credentials/':
            return self.answer(200, 'ferry-role')
        if self.path == '/latest/meta-data/iam/security-credentials/ferry-role':
            key_id, secret, token, stamp = issue('imds')
            return self.answer(200, ('{\n  "Code" : "Success",\n  "LastUpdated" : "%s",\n  "Type" : "AWS-HMAC",\n'
                                     '  "AccessKeyId" : "%s",\n  "SecretAccessKey" : "%s",\n  "Token" : "%s",\n'
                                     '  "Expiration" : "%s"\n}') % (stamp, key_id, secret, token, stamp),
                               'application/json')
        self.answer(404, 'Not Found')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0'))).decode()
        form = dict(urllib.parse.parse_qsl(body))
        with open(args.web_token) as f:
            expected = f.read().strip()
        if form.get('Action') != 'AssumeRoleWithWebIdentity' or not form.get('RoleArn'):
            return self.answer(400, '<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>', 'text/xml')
        if form.get('WebIdentityToken') != expected:
            return self.answer(403, '<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized to '
                                    'perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>', 'text/xml')
        key_id, secret, token, stamp = issue('sts')
        self.answer(200, ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                          '<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>%s</AccessKeyId>'
                          '<SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>'
                          '<Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult>'
                          '</AssumeRoleWithWebIdentityResponse>') % (key_id, secret, token, stamp), 'text/xml')


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


parser = argparse.ArgumentParser()
parser.add_argument('--port', type=int, required=True)
parser.add_argument('--issued', required=True)
parser.add_argument('--lifetime', type=int, default=3600)
parser.add_argument('--web-token', required=True)
parser.add_argument('--log', required=True)
args = parser.parse_args()
Server(('127.0.0.1', args.port), Meta).serve_forever()
