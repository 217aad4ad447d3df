#!/usr/bin/env python3
"""Load generator for `thau serve`: STREAMS clients at once, each sending REQUESTS text
completions of MAX_TOKENS greedy tokens (POST /v1/completions, stream false), one after the
other. Prints one JSON line: aggregate completion tokens per second over the wall time of the
whole run, per-request latency median, and the tokens counted from each response's `usage`.

usage: serve_load.py BASE_URL STREAMS REQUESTS MAX_TOKENS
Standard library only (http.client, threads), so any python3 runs it.
"""
import http.client
import json
import statistics
import sys
import threading
import time
from urllib.parse import urlparse

base, streams, requests, max_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
url = urlparse(base)
PROMPTS = [
    "El barco llega al puerto y los marineros",
    "The history of the old city begins with",
    "En la biblioteca había un libro sobre",
    "Once upon a time, in a small village,",
]

tokens = []
latencies = []
errors = []
lock = threading.Lock()


def client(i):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    for r in range(requests):
        body = json.dumps({
            "model": "thau", "prompt": PROMPTS[(i + r) % len(PROMPTS)] + f" ({i}.{r})",
            "max_tokens": max_tokens, "temperature": 0,
        })
        t0 = time.perf_counter()
        conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        dt = time.perf_counter() - t0
        with lock:
            if resp.status != 200:
                errors.append(f"{resp.status}: {data[:200]!r}")
                continue
            tokens.append(json.loads(data)["usage"]["completion_tokens"])
            latencies.append(dt)
    conn.close()


threads = [threading.Thread(target=client, args=(i,)) for i in range(streams)]
t0 = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
if errors:
    print(f"{len(errors)} requests failed, first: {errors[0]}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({
    "streams": streams, "requests": len(tokens), "completion_tokens": sum(tokens), "wall_s": round(wall, 3),
    "aggregate_tok_s": round(sum(tokens) / wall, 2),
    "per_stream_tok_s": round(sum(tokens) / wall / streams, 2),
    "latency_median_s": round(statistics.median(latencies), 3),
}))
