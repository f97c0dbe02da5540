#!/usr/bin/env bash
# The project's one test command: start the real peers, run every test, stop the peers.
# Extra arguments go to `cargo test`. Exits with cargo's exit code.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OCRS_PEERS_DIR="${OCRS_PEERS_DIR:-$PWD/target/peers}"

trap 'bash tests/peers/down.sh' EXIT
bash tests/peers/up.sh || { echo "run-all.sh: tests/peers/up.sh failed" >&2; exit 1; }

rc=0
cargo test --all-targets --locked "$@" || rc=$?
exit "$rc"
