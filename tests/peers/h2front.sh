#!/usr/bin/env bash
# Put Debian's nginx in front of HTTPS peers as an HTTP/2 (and HTTP/1.1) TLS front, the way a
# real API server or a CDN-served signature store speaks: the Python test API server and the
# Python store speak only HTTP/1.1. nginx logs, for every request, the serial number of the
# client connection it came on, so tests and the benchmark can count connections per host.
#
# Usage: h2front.sh DIR CERT KEY UPSTREAM_URL...
#   DIR           a fresh directory for nginx's config, logs and pid file
#   CERT, KEY     the server certificate and key the fronts present (the peers' TLS_CERT/TLS_KEY)
#   UPSTREAM_URL  https://127.0.0.1:PORT or http://127.0.0.1:PORT of each peer to front
# Prints one line per upstream, in order: FRONT_<i>=https://127.0.0.1:<port>, once every front
# answers. nginx runs in the background; stop it with: kill "$(cat DIR/nginx.pid)".
# Access log: DIR/access.log, one line per request:
#   <front port> <connection serial> <protocol> <method> <uri> <status>
set -euo pipefail

[[ $# -ge 4 ]] || { echo "usage: h2front.sh DIR CERT KEY UPSTREAM_URL..." >&2; exit 2; }
DIR=$1 CERT=$2 KEY=$3
shift 3
mkdir -p "$DIR/tmp"
DIR=$(cd "$DIR" && pwd)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "h2front.sh: nginx is not installed (apt-get install nginx)" >&2; exit 1; }

read -r -a PORTS < <(python3 - "$#" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

{
  # The master reads the key; when it runs as root the worker must still read the temp dirs.
  [[ $(id -u) -eq 0 ]] && echo "user root;"
  cat <<EOF
worker_processes 1;
daemon on;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
events { worker_connections 512; }
http {
  log_format conn '\$server_port \$connection \$server_protocol \$request_method \$request_uri \$status';
  access_log $DIR/access.log conn;
  client_body_temp_path $DIR/tmp/body;
  proxy_temp_path $DIR/tmp/proxy;
  fastcgi_temp_path $DIR/tmp/fastcgi;
  uwsgi_temp_path $DIR/tmp/uwsgi;
  scgi_temp_path $DIR/tmp/scgi;
  client_max_body_size 0;
  proxy_buffering off;
  proxy_request_buffering on;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  # Upstreams are our own peers on loopback with the same test certificate.
  proxy_ssl_verify off;
  keepalive_requests 10000;
  http2_max_concurrent_streams 256;
EOF
  i=0
  for up in "$@"; do
    scheme=${up%%://*}
    hostport=${up#*://}
    cat <<EOF
  upstream peer$i { server $hostport; keepalive 64; }
  server {
    listen 127.0.0.1:${PORTS[$i]} ssl http2;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    location / { proxy_pass $scheme://peer$i; }
  }
EOF
    i=$((i + 1))
  done
  echo "}"
} >"$DIR/nginx.conf"

"$NGINX" -e "$DIR/error.log" -p "$DIR" -c "$DIR/nginx.conf"

i=0
for _ in "$@"; do
  port=${PORTS[$i]}
  for _try in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  echo "FRONT_$i=https://127.0.0.1:$port"
  i=$((i + 1))
done
