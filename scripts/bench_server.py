#!/usr/bin/env python3
"""Time to first token of `bitnet serve` (or any OpenAI-compatible server),
alone and while K other clients stream long completions.

Starts nothing itself: point it at a running server whose --parallel is at
least K + 1 (otherwise the probe waits for a slot, which is a different thing
to measure). Python 3 standard library only.

  scripts/bench_server.py --url http://127.0.0.1:8080 [--load 3] [--repeats 5]

Each probe is a streamed /v1/completions request; its TTFT is the time from
sending it to the first streamed text. Every probe's prompt starts with a
fresh number, so no slot's cached prefix beyond <|begin_of_text|> serves it.
Under load, K streams are started, the probe is sent once all K are
streaming, and the streams are closed (the server drops them) --settle
seconds after the probe's first token. The streams' aggregate rate counts
their SSE text chunks (one per token, unless a token ends mid-character)
from the moment all K were streaming until they were closed.
"""
import argparse
import http.client
import json
import socket
import statistics
import sys
import threading
import time
import urllib.parse

DEFAULT_PROMPT = (
    "The history of the printing press begins with movable type in East Asia and continues with "
    "Gutenberg's workshop in Mainz, where a screw press, oil-based ink and cast metal letters made "
    "books cheap enough to spread across Europe within a few decades. Describe what changed next:"
)


class Target:
    def __init__(self, url, api_key, model):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", ""):
            sys.exit(f"bench_server: --url: only http:// URLs are supported, got {url!r}")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.base = u.path.rstrip("/")
        if self.base.endswith("/v1"):
            self.base = self.base[:-3]
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = "Bearer " + api_key
        self.model = model


class Stream:
    """One streamed completion: records when its first text arrived and how
    many text chunks came; close() hangs up from another thread."""

    def __init__(self, target, prompt, max_tokens, timeout):
        self.target = target
        self.body = json.dumps({"model": target.model, "prompt": prompt, "max_tokens": max_tokens,
                                "temperature": 0, "stream": True})
        self.timeout = timeout
        self.sent = None
        self.first_text = None
        self.chunks = 0
        self.chunk_times = []
        self.error = None
        self.first_event = threading.Event()
        self.conn = None
        self.closed = False

    def run(self):
        try:
            self.conn = http.client.HTTPConnection(self.target.host, self.target.port, timeout=self.timeout)
            self.sent = time.perf_counter()
            self.conn.request("POST", self.target.base + "/v1/completions", self.body, self.target.headers)
            resp = self.conn.getresponse()
            if resp.status != 200:
                self.error = f"HTTP {resp.status}: {resp.read(500).decode(errors='replace')}"
                return
            while True:
                line = resp.fp.readline()
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data: "):
                    continue
                data = line[6:]
                if data == b"[DONE]":
                    break
                event = json.loads(data)
                if "error" in event:
                    self.error = event["error"].get("message", str(event))
                    break
                choices = event.get("choices") or [{}]
                if choices[0].get("text"):
                    now = time.perf_counter()
                    if self.first_text is None:
                        self.first_text = now
                        self.first_event.set()
                    self.chunks += 1
                    self.chunk_times.append(now)
        except (OSError, http.client.HTTPException, ValueError) as e:
            if not self.closed:
                self.error = f"{type(e).__name__}: {e}"
        finally:
            self.first_event.set()
            if self.conn is not None:
                self.conn.close()

    def close(self):
        self.closed = True
        try:
            if self.conn is not None and self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def ttft_ms(self):
        return None if self.first_text is None else (self.first_text - self.sent) * 1000.0


def start(stream):
    t = threading.Thread(target=stream.run, daemon=True)
    t.start()
    return t


def probe(target, args, n):
    s = Stream(target, f"Request {n}. {args.prompt}", args.probe_tokens, args.timeout)
    s.run()
    if s.error or s.first_text is None:
        sys.exit(f"bench_server: probe {n} failed: {s.error or 'no text streamed'}")
    return s.ttft_ms()


def probe_under_load(target, args, n):
    loaders = [Stream(target, f"Stream {n}.{k}. {args.prompt}", args.load_tokens, args.timeout)
               for k in range(args.load)]
    threads = [start(s) for s in loaders]
    for s in loaders:
        if not s.first_event.wait(args.timeout) or s.error or s.first_text is None:
            for other in loaders:
                other.close()
            sys.exit(f"bench_server: load stream failed: {s.error or 'no text within --timeout'}")
    window_start = time.perf_counter()
    ttft = probe(target, args, n)
    time.sleep(args.settle)
    window_end = time.perf_counter()
    ended_early = sum(1 for t in threads if not t.is_alive())
    for s in loaders:
        s.close()
    for t in threads:
        t.join(args.timeout)
    chunks = sum(1 for s in loaders for at in s.chunk_times if window_start <= at <= window_end)
    return ttft, chunks / (window_end - window_start), ended_early


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL (default %(default)s)")
    p.add_argument("--api-key", default="", help="sent as 'Authorization: Bearer KEY'")
    p.add_argument("--model", default="bitnet", help="model field of the requests (default %(default)s)")
    p.add_argument("--load", type=int, default=3, help="streams running while the probe is timed (default 3)")
    p.add_argument("--repeats", type=int, default=5, help="probes alone and under load (default 5)")
    p.add_argument("--probe-tokens", type=int, default=4, help="max_tokens of a probe (default 4)")
    p.add_argument("--load-tokens", type=int, default=1024,
                   help="max_tokens of a load stream; it must outlast the probe (default 1024)")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds the load streams go on after the probe, for their rate (default 1)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help="probe and load prompt (a number is put in front)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for any one response")
    args = p.parse_args()
    for name in ("load", "repeats", "probe_tokens", "load_tokens"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.settle < 0:
        p.error("--settle must be >= 0")
    target = Target(args.url, args.api_key, args.model)

    probe(target, args, 0)  # warm-up, not counted
    alone = [probe(target, args, 1 + i) for i in range(args.repeats)]
    loaded, rates, early = [], [], 0
    for i in range(args.repeats):
        ttft, rate, ended_early = probe_under_load(target, args, 1000 + i)
        loaded.append(ttft)
        rates.append(rate)
        early += ended_early
    a, l = summary(alone), summary(loaded)
    print(f"server {args.url}, {args.repeats} probes each, probe prompt {len(args.prompt)} chars + a number")
    print(f"{'':28} {'median':>9} {'min':>9} {'max':>9}")
    print(f"{'TTFT alone (ms)':28} {a[0]:9.1f} {a[1]:9.1f} {a[2]:9.1f}")
    print(f"{f'TTFT with {args.load} streams (ms)':28} {l[0]:9.1f} {l[1]:9.1f} {l[2]:9.1f}")
    print(f"{'ratio (medians)':28} {l[0] / a[0]:9.2f}   (issue 11 target: <= 1.5)")
    r = summary(rates)
    print(f"{f'{args.load} streams, tokens/s':28} {r[0]:9.1f} {r[1]:9.1f} {r[2]:9.1f}   (aggregate, SSE text chunks)")
    if early:
        print(f"warning: {early} load stream(s) ended before they were closed; raise --load-tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
