#!/usr/bin/env python3
"""Fake OCI registry for the two edge cases the real peer cannot produce (Python stdlib only).

Debian's docker-registry (the real peer started by up.sh) covers basic auth and anonymous
access. It cannot issue bearer tokens without a separate JWT token service, and it never lies
about Docker-Content-Digest. This fake exists for exactly those cases and nothing more; it is
NOT a registry implementation (no blobs, no push, no catalog, one repository).

Usage: fake_registry.py --port 0 --ready-file F --cert CERT --key KEY --manifest FILE
                        --mode token|bad-digest --log FILE [--bind 127.0.0.1]

Serves repository `ocp/release` over HTTPS (the peers' TLS cert/key):

- Tags: `denied-<arch>` -> 403 {"errors":[{"code":"DENIED",...}]}; a tag ending in
  `-x86_64`, `-aarch64`, `-s390x`, `-ppc64le` or `-multi` -> the --manifest bytes, whatever the
  version (Content-Type from the manifest's `mediaType`); anything else (other tags, other
  repositories, blobs) -> 404 {"errors":[{"code":"MANIFEST_UNKNOWN",...}]} (NAME_UNKNOWN for
  other repositories).
- `--mode token`: the bearer-token dance of quay.io / registry.redhat.io.
  `GET /v2/` and manifest requests without `Authorization: Bearer tok-123` -> 401 with
  `WWW-Authenticate: Bearer realm="https://127.0.0.1:PORT/token",service="fake-registry"`
  (manifests add `,scope="repository:ocp/release:pull"`).
  `GET /token?scope=repository:ocp/release:pull&service=fake-registry` with HTTP Basic
  `tester:s3cret` -> 200 {"token":"tok-123","access_token":"tok-123","expires_in":300};
  wrong or missing Basic, or a wrong service/scope -> 401.
- `--mode bad-digest`: anonymous; manifests are served with a Docker-Content-Digest header of a
  DIFFERENT sha256 than the body's (the sha256 of the body with a byte appended).
- `--ready-file`: once listening, the port number is written to this file (atomically).
- `--log`: one `METHOD PATH STATUS AUTH-SCHEME` line per request (PATH without the query
  string, AUTH-SCHEME `Basic`, `Bearer` or `-`), flushed per line. Credentials and tokens are
  never logged.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER = "tester"
PASSWORD = "s3cret"
TOKEN = "tok-123"
SERVICE = "fake-registry"
REPOSITORY = "ocp/release"
SCOPE = f"repository:{REPOSITORY}:pull"
ARCH_SUFFIXES = ("-x86_64", "-aarch64", "-s390x", "-ppc64le", "-multi")

LOCK = threading.Lock()
ARGS = None
LOG = None
MANIFEST = b""
MEDIA_TYPE = ""
PORT = 0


def log_line(method, path, status, scheme):
    with LOCK:
        LOG.write(f"{method} {path} {status} {scheme}\n")
        LOG.flush()


def error_body(code, message):
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


class Handler(BaseHTTPRequestHandler):
    server_version = "ocrs-fake-registry/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # silence the default stderr log
        pass

    # -- helpers ------------------------------------------------------------------------------
    def auth_scheme(self):
        value = self.headers.get("Authorization", "")
        return value.split(" ", 1)[0] if value else "-"

    def has_bearer(self):
        return self.headers.get("Authorization", "") == f"Bearer {TOKEN}"

    def basic_ok(self):
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(value[len("Basic "):].strip(), validate=True).decode()
        except Exception:
            return False
        return decoded == f"{USER}:{PASSWORD}"

    def challenge(self, with_scope):
        value = f'Bearer realm="https://127.0.0.1:{PORT}/token",service="{SERVICE}"'
        if with_scope:
            value += f',scope="{SCOPE}"'
        return value

    def send(self, status, body, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log_line(self.command, self.path_only, status, self.auth_scheme())

    def unauthorized(self, with_scope):
        self.send(
            401,
            error_body("UNAUTHORIZED", "authentication required"),
            headers={"WWW-Authenticate": self.challenge(with_scope)},
        )

    # -- routes -------------------------------------------------------------------------------
    def do_GET(self):
        parsed = urllib.parse.urlsplit(self.path)
        self.path_only = parsed.path
        path = parsed.path
        if path == "/token":
            return self.token(urllib.parse.parse_qs(parsed.query))
        if path in ("/v2", "/v2/"):
            if ARGS.mode == "token" and not self.has_bearer():
                return self.unauthorized(False)
            return self.send(200, b"{}")
        m = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        if m is None:
            if ARGS.mode == "token" and not self.has_bearer():
                return self.unauthorized(True)
            return self.send(404, error_body("NOT_FOUND", "not found"))
        repo, ref = m.group(1), m.group(2)
        if ARGS.mode == "token" and not self.has_bearer():
            return self.unauthorized(True)
        if repo != REPOSITORY:
            return self.send(404, error_body("NAME_UNKNOWN", "repository name not known to registry"))
        if ref.startswith("denied-"):
            return self.send(403, error_body("DENIED", "requested access to the resource is denied"))
        if not ref.endswith(ARCH_SUFFIXES):
            return self.send(404, error_body("MANIFEST_UNKNOWN", "manifest unknown"))
        real = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
        if ARGS.mode == "bad-digest":
            header = "sha256:" + hashlib.sha256(MANIFEST + b"\n").hexdigest()
        else:
            header = real
        return self.send(200, MANIFEST, MEDIA_TYPE, {"Docker-Content-Digest": header})

    do_HEAD = do_GET

    def token(self, query):
        if ARGS.mode != "token":
            return self.send(404, error_body("NOT_FOUND", "no token service in this mode"))
        scopes = query.get("scope", [])
        services = query.get("service", [])
        if not self.basic_ok() or services != [SERVICE] or SCOPE not in scopes:
            return self.send(
                401,
                json.dumps({"details": "incorrect username or password"}).encode(),
            )
        body = json.dumps({"token": TOKEN, "access_token": TOKEN, "expires_in": 300}).encode()
        return self.send(200, body)

    def refuse(self):
        self.path_only = urllib.parse.urlsplit(self.path).path
        self.send(405, error_body("UNSUPPORTED", "method not allowed"))

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse


class TLSServer(ThreadingHTTPServer):
    """Handshakes in the per-connection thread, so one stuck client cannot block accept()."""

    daemon_threads = True
    ssl_context = None

    def finish_request(self, request, client_address):
        request.settimeout(30)
        tls = self.ssl_context.wrap_socket(request, server_side=True)
        super().finish_request(tls, client_address)

    def handle_error(self, request, client_address):
        print(f"fake_registry: error serving {client_address}: {sys.exc_info()[1]}", file=sys.stderr)


def main():
    global ARGS, LOG, MANIFEST, MEDIA_TYPE, PORT
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--mode", choices=["token", "bad-digest"], required=True)
    p.add_argument("--log", required=True)
    ARGS = p.parse_args()

    with open(ARGS.manifest, "rb") as f:
        MANIFEST = f.read()
    MEDIA_TYPE = json.loads(MANIFEST).get(
        "mediaType", "application/vnd.oci.image.manifest.v1+json"
    )
    LOG = open(ARGS.log, "a", buffering=1)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    server = TLSServer((ARGS.bind, ARGS.port), Handler)
    server.ssl_context = ctx
    PORT = server.server_address[1]

    tmp = ARGS.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{PORT}\n")
    os.replace(tmp, ARGS.ready_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
