#!/usr/bin/env python3
"""Test signature store: serves a directory over HTTPS, GET only (Python stdlib only).

Usage: store.py --dir DIR --port PORT --cert CERT --key KEY --log FILE [--flaky FILE]
                [--delay-file FILE] [--bind 127.0.0.1] [--plain] [--ready-file FILE]

- --plain serves plain HTTP, only for use behind the TLS front of h2front.sh (the benchmark),
  so the front's many upstream connections cost no Python TLS handshakes.
- --port 0 picks a free port; --ready-file receives the port once listening.

- Files under DIR are served at the same path (`/sha256=<hex>/signature-1`); 404 when missing.
- Other methods than GET answer 405.
- Flaky list (--flaky): one URL path per line. The first GET of such a path answers 503 and the
  path is removed from the file, so the next GET is served normally. The file is re-read on
  every request, so `up.sh` (or a test) can re-arm it by rewriting the file.
- Delay: every request sleeps STORE_DELAY_MS milliseconds (environment of this process); a
  number in the --delay-file, when that file exists, overrides it (re-read per request).
- Access log: one `METHOD PATH STATUS` line per request appended to --log, flushed each line.
"""

import argparse
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
LOCK = threading.Lock()
ARGS = None
LOG = None


def log_line(method, path, status):
    with LOCK:
        LOG.write(f"{method} {path} {status}\n")
        LOG.flush()


def take_flaky(path):
    """True when `path` is armed in the flaky file; disarms it."""
    if not ARGS.flaky:
        return False
    with LOCK:
        try:
            with open(ARGS.flaky) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return False
        entries = [l.strip() for l in lines if l.strip()]
        if path not in entries:
            return False
        entries.remove(path)
        tmp = ARGS.flaky + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(e + "\n" for e in entries))
        os.replace(tmp, ARGS.flaky)
        return True


def delay_seconds():
    ms = os.environ.get("STORE_DELAY_MS", "")
    if ARGS.delay_file:
        try:
            with open(ARGS.delay_file) as f:
                ms = f.read().strip()
        except FileNotFoundError:
            pass
    try:
        return max(0.0, float(ms) / 1000.0) if ms else 0.0
    except ValueError:
        return 0.0


class Handler(BaseHTTPRequestHandler):
    server_version = "ocrs-test-store/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # silence the default stderr log
        pass

    def send_plain(self, status, text, method):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == 405:
            self.send_header("Allow", "GET")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)
        log_line(method, self.path, status)

    def do_GET(self):
        d = delay_seconds()
        if d:
            time.sleep(d)
        url_path = urllib.parse.urlsplit(self.path).path
        if take_flaky(url_path):
            return self.send_plain(503, "Service Unavailable (flaky test store)", "GET")
        rel = urllib.parse.unquote(url_path).lstrip("/")
        root = os.path.realpath(ARGS.dir)
        full = os.path.realpath(os.path.join(root, rel))
        if not (full == root or full.startswith(root + os.sep)) or not os.path.isfile(full):
            return self.send_plain(404, "Not Found", "GET")
        with open(full, "rb") as f:
            data = f.read(MAX_BODY)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        log_line("GET", self.path, 200)

    def not_allowed(self):
        # Drain a request body so the connection stays usable.
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(min(n, MAX_BODY))
        self.send_plain(405, "Method Not Allowed", self.command)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = not_allowed


class TLSServer(ThreadingHTTPServer):
    """TLS handshake in the per-connection thread, so a slow client cannot block accept()."""

    daemon_threads = True
    request_queue_size = 128
    ctx = None

    def finish_request(self, request, client_address):
        try:
            if self.ctx is not None:
                request = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(request, client_address)
        finally:
            try:
                request.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    global ARGS, LOG
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--flaky")
    p.add_argument("--delay-file")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--ready-file")
    ARGS = p.parse_args()
    LOG = open(ARGS.log, "a", buffering=1)

    ctx = None
    if not ARGS.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
    httpd = TLSServer((ARGS.bind, ARGS.port), Handler)
    httpd.ctx = ctx
    port = httpd.server_address[1]
    if ARGS.ready_file:
        with open(ARGS.ready_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(ARGS.ready_file + ".tmp", ARGS.ready_file)
    scheme = "http" if ARGS.plain else "https"
    print(f"store serving {ARGS.dir} on {scheme}://{ARGS.bind}:{port}/", file=sys.stderr, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
