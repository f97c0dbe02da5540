#!/usr/bin/env python3
"""A TCP proxy that adds a fixed one-way delay to the client->server direction.

Usage: delay_proxy.py --target HOST:PORT [--delay-ms 50] [--ready-file F] [--log F]

Listens on 127.0.0.1:<free port> (written to --ready-file once listening) and forwards every
connection to --target. Each chunk the client sends is forwarded DELAY ms after it arrived
(order preserved, so a burst of chunks is delayed once, like a link with that latency, not once
per chunk); the server->client direction is not delayed. So one HTTP request/response round
trip on an open connection costs about DELAY, and a new TLS connection costs about 2 x DELAY
(TLS 1.3: ClientHello, then Finished together with the request). TLS passes through untouched.

--log F appends `<t> conn <id> open|close <bytes up> <bytes down>` and `<t> conn <id> up <n>`
lines (t = seconds since the proxy started), to see how many connections a client opens and
when it sends.
"""

import argparse
import asyncio
import os
import sys
import time

T0 = time.monotonic()
LOG = None
NEXT_ID = 0


def log(msg):
    if LOG:
        LOG.write(f"{time.monotonic() - T0:9.4f} {msg}\n")
        LOG.flush()


async def chunks(reader, counter):
    """Every chunk `reader` gives until EOF or a connection error, counted in counter[0]."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            counter[0] += len(data)
            yield data
    except (ConnectionError, OSError):
        return


async def pump_delayed(reader, writer, delay, cid, counter):
    """client -> server, each chunk released `delay` seconds after it arrived."""
    queue = asyncio.Queue()

    async def release():
        while True:
            item = await queue.get()
            if item is None:
                break
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    releaser = asyncio.create_task(release())
    try:
        async for data in chunks(reader, counter):
            log(f"conn {cid} up {len(data)}")
            queue.put_nowait((time.monotonic() + delay, data))
    finally:
        queue.put_nowait(None)
        try:
            await releaser
        except (ConnectionError, OSError):
            pass


async def pump(reader, writer, counter):
    """server -> client, undelayed."""
    try:
        async for data in chunks(reader, counter):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def handle(creader, cwriter, host, port, delay):
    global NEXT_ID
    NEXT_ID += 1
    cid = NEXT_ID
    try:
        sreader, swriter = await asyncio.open_connection(host, port)
    except OSError as e:
        log(f"conn {cid} upstream-error {e}")
        cwriter.close()
        return
    up, down = [0], [0]
    log(f"conn {cid} open")
    try:
        await asyncio.gather(
            pump_delayed(creader, swriter, delay, cid, up),
            pump(sreader, cwriter, down),
        )
    finally:
        for w in (swriter, cwriter):
            try:
                w.close()
            except OSError:
                pass
        log(f"conn {cid} close {up[0]} {down[0]}")


async def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-file")
    ap.add_argument("--log")
    args = ap.parse_args()
    host, _, port = args.target.rpartition(":")
    if args.log:
        LOG = open(args.log, "a", buffering=1)
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, host, int(port), delay), "127.0.0.1", args.port, backlog=128)
    bound = server.sockets[0].getsockname()[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{bound}\n")
        os.replace(tmp, args.ready_file)
    print(f"delay_proxy: 127.0.0.1:{bound} -> {args.target}, +{args.delay_ms:g} ms client->server",
          file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
