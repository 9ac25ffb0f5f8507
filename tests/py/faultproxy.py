#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for tests: forwards to an S3/Glue-compatible server
and, for a deterministic share of requests, answers 503 SlowDown or 500 instead, or
cuts a GetObject response body short; requests for buckets named `*-denied-*` get
403 AccessDenied, and Glue requests naming `lakeformation` get the AccessDeniedException
of a Lake Formation-managed catalog. GET /__stats returns the counts as JSON.

The share is picked by a request counter, but one request (method, path, Glue target
and body) is never faulted more than MAX_FAULTS_PER_REQUEST times: a retried request
always gets through within a client's retry budget, whatever the interleaving of
concurrent requests does to the counter.

usage: faultproxy.py UPSTREAM_URL PORT_FILE [FAULT_EVERY [PUT_DELAY_MS [LATENCY_MS]]]
  Listens on 127.0.0.1 at a free port, written to PORT_FILE once ready.
  FAULT_EVERY 0: no faults. PUT_DELAY_MS: every S3 PUT (uploads, manifests) is held
  that long before it is forwarded, so a test can kill a run in the middle of a commit.
  LATENCY_MS: every request is held that long (a distant endpoint).
  Listings (ListObjectsV2) are counted, and their prefixes kept, in the stats; so are
  the regions S3 requests were signed for, by bucket and method ("signed").
"""
import hashlib
import http.client
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

UPSTREAM = urlsplit(sys.argv[1])
EVERY = int(sys.argv[3]) if len(sys.argv) > 3 else 5
PUT_DELAY = (int(sys.argv[4]) if len(sys.argv) > 4 else 0) / 1000.0
LATENCY = (int(sys.argv[5]) if len(sys.argv) > 5 else 0) / 1000.0
LOCK = threading.Lock()
STATS = {"requests": 0, "slowdown": 0, "internal": 0, "cut": 0, "denied": 0, "lists": 0, "list_prefixes": [], "signed": {}, "gets": {}}
MAX_FAULTS_PER_REQUEST = 2
FAULTS = {}


def may_fault(request):
    """Count one injected fault on `request`, unless it already had its share."""
    with LOCK:
        if FAULTS.get(request, 0) >= MAX_FAULTS_PER_REQUEST:
            return False
        FAULTS[request] = FAULTS.get(request, 0) + 1
        return True

S3_ERROR = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, payload, ctype="application/xml", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        # A HEAD response has no body (its Content-Length is the GET's): bytes sent
        # anyway would be read as the start of the next response on the connection.
        if self.command != "HEAD":
            self.wfile.write(payload)

    def handle_any(self):
        data = self.body()
        if self.path == "/__stats":
            with LOCK:
                return self.reply(200, json.dumps(STATS).encode(), "application/json")
        with LOCK:
            STATS["requests"] += 1
            n = STATS["requests"]
        is_glue = "AWSGlue" in self.headers.get("X-Amz-Target", "")
        query = parse_qs(urlsplit(self.path).query)
        if self.command == "GET" and "list-type" in query:
            with LOCK:
                STATS["lists"] += 1
                STATS["list_prefixes"].append(query.get("prefix", [""])[0])
        elif self.command == "GET" and not is_glue and urlsplit(self.path).path.count("/") > 1:
            with LOCK:
                path = urlsplit(self.path).path
                STATS["gets"][path] = STATS["gets"].get(path, 0) + 1
        if LATENCY:
            time.sleep(LATENCY)
        auth = self.headers.get("Authorization", "")
        if "Credential=" in auth and not is_glue:
            region = auth.split("Credential=")[1].split("/")[2]
            bucket = urlsplit(self.path).path.split("/")[1]
            with LOCK:
                regions = STATS["signed"].setdefault(bucket, {}).setdefault(self.command, [])
                if region not in regions:
                    regions.append(region)
        if "-denied-" in self.path or "-denied-" in self.headers.get("Host", ""):
            with LOCK:
                STATS["denied"] += 1
            return self.reply(403, S3_ERROR.format(code="AccessDenied", msg="Access Denied").encode())
        if is_glue and b"lakeformation" in data:
            # A catalog managed by Lake Formation, without grants for this caller.
            return self.reply(400, json.dumps({"__type": "AccessDeniedException", "Message": "Insufficient Lake Formation permission(s): Required Describe on the database"}).encode(), "application/x-amz-json-1.1")
        if PUT_DELAY and self.command == "PUT" and not is_glue:
            time.sleep(PUT_DELAY)
        request = (self.command, self.path, self.headers.get("X-Amz-Target", ""), hashlib.sha256(data).hexdigest())
        if EVERY == 0:
            pass
        elif n % EVERY == 0 and may_fault(request):
            with LOCK:
                STATS["slowdown"] += 1
            if is_glue:
                return self.reply(400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}', "application/x-amz-json-1.1")
            return self.reply(503, S3_ERROR.format(code="SlowDown", msg="Please reduce your request rate.").encode())
        if EVERY and n % (EVERY * 3 + 1) == 0 and may_fault(request):
            with LOCK:
                STATS["internal"] += 1
            return self.reply(500, S3_ERROR.format(code="InternalError", msg="We encountered an internal error.").encode())
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
        headers["Content-Length"] = str(len(data))
        conn.request(self.command, self.path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        # Cut every fourth successful object download short (not listings, not Glue).
        object_get = self.command == "GET" and resp.status == 200 and "list-type" not in self.path \
            and not is_glue and len(payload) > 64 and self.path.count("/") >= 2
        if EVERY and object_get and n % 4 == 1 and may_fault(request):
            with LOCK:
                STATS["cut"] += 1
            self.relay_headers(resp, payload)
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.relay_headers(resp, payload)
        if self.command != "HEAD":
            self.wfile.write(payload)

    def relay_headers(self, resp, payload):
        """The upstream status and headers, with the full payload's Content-Length."""
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os

    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    server.serve_forever()


if __name__ == "__main__":
    main()
