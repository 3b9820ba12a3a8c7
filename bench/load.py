#!/usr/bin/env python3
"""Load test of `spam-cli serve`: N concurrent clients, each POSTing one SMS-sized message
per request to /v1/classify on a keep-alive connection, for a fixed time.

    python3 bench/load.py --url http://127.0.0.1:8000 --clients 100 --seconds 30 [--data FILE]

Prints requests/s (answered 200s per second of the run), p50/p99 latency of the answers
received in the run, and the share of each status (503: over the connection cap or past
the request timeout). Requests still waiting when the time is up are counted apart.
Messages come from --data (the SMS collection: label TAB text) or are made up; each
request sends a different one, since the server computes a repeated text once per batch.
Standard library only. For 1000 clients raise the open-file limit first (`ulimit -n 4096`).
"""

import argparse
import asyncio
import collections
import json
import statistics
import time
import urllib.parse


def messages(path, n):
    texts = []
    if path:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                _, _, text = line.rstrip("\n").partition("\t")
                if text.strip():
                    texts.append(text)
    if not texts:
        texts = [f"Message {i}: you have won a prize! Call 0800 {i:06d} now to claim it, "
                 "or reply STOP to opt out." for i in range(1000)]
    return [texts[i % len(texts)] + ("" if i < len(texts) else f" ({i})") for i in range(n)]


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def client(host, port, texts, stop, stats):
    reader = writer = None
    i = 0
    while time.monotonic() < stop:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as e:
                stats["connect error"] += 1
                stats.setdefault("errors", set()).add(str(e))
                await asyncio.sleep(0.1)
                continue
        body = json.dumps({"text": texts[i % len(texts)]}).encode()
        i += 1
        request = (f"POST /v1/classify HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        sent = time.monotonic()
        try:
            writer.write(request)
            await writer.drain()
            status, headers, _ = await asyncio.wait_for(read_response(reader), stop - sent + 0.001)
        except asyncio.TimeoutError:
            stats["unfinished"] += 1
            break
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
            stats["connection error"] += 1
            stats.setdefault("errors", set()).add(type(e).__name__)
            writer.close()
            writer = None
            continue
        done = time.monotonic()
        stats[status] += 1
        if status == 200:
            stats.setdefault("latency", []).append(done - sent)
        if headers.get("connection", "").lower() == "close":
            writer.close()
            writer = None
            if status == 503:
                await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--data", help="SMS collection (label TAB text) to take messages from")
    args = ap.parse_args()
    url = urllib.parse.urlparse(args.url)
    texts = messages(args.data, 20000)
    stats = collections.Counter()
    start = time.monotonic()
    stop = start + args.seconds
    per_client = [collections.Counter() for _ in range(args.clients)]
    await asyncio.gather(*(client(url.hostname, url.port or 80, texts[c::args.clients] or texts, stop, per_client[c])
                           for c in range(args.clients)))
    elapsed = time.monotonic() - start
    latency, errors = [], set()
    for s in per_client:
        latency += s.pop("latency", [])
        errors |= s.pop("errors", set())
        stats.update(s)
    answered = sum(v for k, v in stats.items() if isinstance(k, int))
    ok = stats.get(200, 0)
    print(f"clients {args.clients}, {elapsed:.1f} s: {answered} answers, {ok / elapsed:.1f} requests/s answered 200")
    if latency:
        latency.sort()
        p = lambda q: latency[min(len(latency) - 1, int(q * len(latency)))]
        print(f"latency of the 200s: p50 {p(0.50) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, "
              f"mean {statistics.mean(latency) * 1000:.0f} ms")
    for k in sorted((k for k in stats if isinstance(k, int))):
        print(f"  status {k}: {stats[k]} ({100 * stats[k] / max(answered, 1):.1f}% of answers)")
    for k in ("unfinished", "connection error", "connect error"):
        if stats.get(k):
            print(f"  {k}: {stats[k]}")
    if errors:
        print(f"  errors seen: {sorted(errors)[:5]}")


if __name__ == "__main__":
    asyncio.run(main())
