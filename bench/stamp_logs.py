#!/usr/bin/env python3
"""Follow log files and write their new lines, time-stamped, into one file (for bench/run.sh).

Usage: stamp_logs.py --out FILE --t0 EPOCH_SECONDS LABEL=PATH...

Polls every millisecond; each new line is written as `<ms since t0> <LABEL> <line>`. The test
API server and the signature store write their log line when a response has been sent, so the
stamp is (within ~1 ms) the time that request finished. Stops on SIGTERM.
"""

import argparse
import os
import signal
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    files = []
    for spec in args.files:
        label, _, path = spec.partition("=")
        pos = os.path.getsize(path) if os.path.exists(path) else 0
        files.append([label, path, pos, b""])
    out = open(args.out, "a", buffering=1)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))

    def poll():
        for f in files:
            label, path, pos, partial = f
            try:
                with open(path, "rb") as fh:
                    fh.seek(pos)
                    data = fh.read()
            except FileNotFoundError:
                continue
            if not data:
                continue
            f[2] = pos + len(data)
            data = partial + data
            *lines, f[3] = data.split(b"\n")
            t = (time.time() - args.t0) * 1000.0
            for line in lines:
                out.write(f"{t:8.1f} {label:5} {line.decode(errors='replace')}\n")

    while running[0]:
        poll()
        time.sleep(0.001)
    poll()


if __name__ == "__main__":
    sys.exit(main())
