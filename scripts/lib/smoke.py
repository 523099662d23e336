#!/usr/bin/env python3
"""Client-side checks for scripts/test-images.sh, stdlib only. Each subcommand exits non-zero
with a message when its expectation fails. Run inside the test's network namespace (loopback).

    smoke.py amqp HOST PORT USER PASS [--refused]   AMQP 0-9-1 PLAIN login, then open vhost /
    smoke.py http URL [--auth U:P] [--status N] [--body TEXT] [--header NAME:VALUE]
    smoke.py redis HOST PORT PASSWORD               AUTH required, then PING and CONFIG GETs
    smoke.py stub-api PORT                          a stand-in Rodan API for nginx to proxy to
"""

import argparse
import base64
import http.server
import json
import socket
import struct
import sys
import urllib.error
import urllib.request


def fail(msg):
    print(f"smoke.py: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


# --- AMQP 0-9-1, just enough to log in -----------------------------------------------------------

def shortstr(s):
    b = s.encode()
    return struct.pack("B", len(b)) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def method_frame(channel, cls, meth, args):
    payload = struct.pack(">HH", cls, meth) + args
    return struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce"


def read_frame(sock):
    head = recv_exact(sock, 7)
    kind, channel, size = struct.unpack(">BHI", head)
    payload = recv_exact(sock, size)
    if recv_exact(sock, 1) != b"\xce":
        fail("bad AMQP frame end")
    return kind, channel, payload


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def close_reason(payload):
    code = struct.unpack(">H", payload[4:6])[0]
    text = payload[7:7 + payload[6]].decode()
    return code, text


def amqp(args):
    """True when the broker accepts USER/PASS and opens vhost /."""
    with socket.create_connection((args.host, args.port), timeout=10) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        try:
            _, _, payload = read_frame(s)  # Connection.Start
            if payload[:4] != struct.pack(">HH", 10, 10):
                fail(f"expected Connection.Start, got {payload[:4]!r}")
            response = b"\x00" + args.user.encode() + b"\x00" + args.password.encode()
            start_ok = longstr(b"") + shortstr("PLAIN") + longstr(response) + shortstr("en_US")
            # client-properties is an empty field table (a long-string of length 0)
            s.sendall(method_frame(0, 10, 11, start_ok))
            _, _, payload = read_frame(s)
        except ConnectionError:
            payload = b""
        cls_meth = payload[:4]
        if cls_meth != struct.pack(">HH", 10, 30):  # not Connection.Tune: refused
            reason = close_reason(payload) if cls_meth == struct.pack(">HH", 10, 50) else (0, "connection closed")
            if args.refused:
                print(f"amqp: {args.user} refused as expected ({reason[0]} {reason[1]})")
                return
            fail(f"amqp login as {args.user} refused: {reason}")
        if args.refused:
            fail(f"amqp login as {args.user} was accepted")
        channel_max, frame_max, heartbeat = struct.unpack(">HIH", payload[4:12])
        s.sendall(method_frame(0, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0)))  # Tune-Ok
        s.sendall(method_frame(0, 10, 40, shortstr("/") + shortstr("") + b"\x00"))  # Open vhost /
        _, _, payload = read_frame(s)
        if payload[:4] != struct.pack(">HH", 10, 41):
            fail(f"amqp: vhost / not opened for {args.user}: {close_reason(payload)}")
        s.sendall(method_frame(0, 10, 50, struct.pack(">H", 200) + shortstr("bye") + struct.pack(">HH", 0, 0)))
        print(f"amqp: {args.user} logged in and opened vhost /")


# --- HTTP ----------------------------------------------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def http_get(args):
    req = urllib.request.Request(args.url)
    if args.auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(args.auth.encode()).decode())
    opener = urllib.request.build_opener(NoRedirect)
    try:
        resp = opener.open(req, timeout=10)
        status, headers, body = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    text = body.decode(errors="replace")
    if args.status is not None and status != args.status:
        fail(f"GET {args.url}: status {status}, want {args.status}: {text[:200]}")
    if args.body is not None and args.body not in text:
        fail(f"GET {args.url}: body lacks {args.body!r}: {text[:200]}")
    for h in args.header:
        name, _, value = h.partition(":")
        if headers.get(name) != value:
            fail(f"GET {args.url}: header {name} is {headers.get(name)!r}, want {value!r}")
    print(f"http: GET {args.url} -> {status} {text[:80].strip()!r}")


# --- Redis (RESP) --------------------------------------------------------------------------------

def redis(args):
    with socket.create_connection((args.host, args.port), timeout=10) as s:
        f = s.makefile("rb")

        def cmd(*words):
            s.sendall(b"".join([f"*{len(words)}\r\n".encode()] +
                               [f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words]))
            return reply()

        def reply():
            line = f.readline().decode().rstrip("\r\n")
            if line[0] in "+-:":
                return line
            if line[0] == "$":
                n = int(line[1:])
                return None if n < 0 else f.read(n + 2)[:-2].decode()
            if line[0] == "*":
                return [reply() for _ in range(int(line[1:]))]
            fail(f"redis: unexpected reply {line!r}")

        r = cmd("PING")
        if not r.startswith("-NOAUTH"):
            fail(f"redis: PING without a password answered {r!r}, want -NOAUTH")
        r = cmd("AUTH", args.password + "-wrong")
        if not r.startswith("-WRONGPASS"):
            fail(f"redis: AUTH with a wrong password answered {r!r}")
        if cmd("AUTH", args.password) != "+OK":
            fail("redis: AUTH with the password failed")
        if cmd("PING") != "+PONG":
            fail("redis: PING after AUTH")
        want = {"dir": "/data", "protected-mode": "no", "save": "", "appendonly": "no", "port": "6379"}
        for k, v in want.items():
            got = cmd("CONFIG", "GET", k)
            if got != [k, v]:
                fail(f"redis: CONFIG GET {k} = {got}, want {v!r}")
        print(f"redis: password required, then PONG; {json.dumps(want)}")


# --- A stand-in API server for nginx -------------------------------------------------------------

class StubApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/uploads/"):
            # the API server's answer for a readable media file: nginx serves it itself
            self.send_response(200)
            self.send_header("X-Accel-Redirect", "/_media/" + self.path[len("/uploads/"):])
            self.end_headers()
            return
        body = json.dumps({"stub": "rodan-api", "path": self.path,
                           "x-forwarded-proto": self.headers.get("X-Forwarded-Proto"),
                           "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def stub_api(args):
    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), StubApi).serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("amqp")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("user")
    p.add_argument("password")
    p.add_argument("--refused", action="store_true", help="expect the login to be refused")
    p = sub.add_parser("http")
    p.add_argument("url")
    p.add_argument("--auth")
    p.add_argument("--status", type=int)
    p.add_argument("--body")
    p.add_argument("--header", action="append", default=[])
    p = sub.add_parser("redis")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("password")
    p = sub.add_parser("stub-api")
    p.add_argument("port", type=int)
    args = ap.parse_args()
    {"amqp": amqp, "http": http_get, "redis": redis, "stub-api": stub_api}[args.cmd](args)


if __name__ == "__main__":
    main()
