#!/usr/bin/env bash
# Stop what tests/peers/up.sh started (by pid file). Leaves the state dir in place, so the next
# up.sh only restarts the daemons. The env file is renamed to env.stopped so that tests fail
# with "peers are not running" instead of connecting to dead ports.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${OCRS_PEERS_DIR:-$REPO/target/peers}
if [[ ! -d $STATE ]]; then
  echo "down.sh: no state dir $STATE, nothing to stop" >&2
  exit 0
fi
STATE=$(cd "$STATE" && pwd)

stop() { # name pattern
  local f="$STATE/$1.pid" pid i
  [[ -s $f ]] || return 0
  pid=$(<"$f")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "down.sh: stopped $1 (pid $pid)" >&2
  fi
  rm -f "$f"
}

stop store store.py
stop registry docker-registry
stop registry-anon docker-registry

if [[ -d $STATE/gnupg ]]; then
  GNUPGHOME="$STATE/gnupg" gpgconf --kill all >/dev/null 2>&1 || true
fi
if [[ -f $STATE/env ]]; then
  mv -f "$STATE/env" "$STATE/env.stopped"
fi
