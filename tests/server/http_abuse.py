#!/usr/bin/env python3
"""Hostile clients against a running `bitnet serve` (loopback only, every step
bounded in count and time). Usage: http_abuse.py PORT [PID]  (PID: report its RSS)."""
import socket, sys, time, threading

PORT = int(sys.argv[1])
PID = sys.argv[2] if len(sys.argv) > 2 else None


def conn(timeout=5.0):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_all(s, limit=1 << 20):
    out = b""
    try:
        while len(out) < limit:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionError):
        pass
    return out


def status(resp):
    return resp[9:12].decode() if resp.startswith(b"HTTP/1.") else "none"


def rss_mb():
    if not PID:
        return float("nan")
    for line in open(f"/proc/{PID}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(name, f):
    t = time.time()
    r = f()
    print(f"{name:44s} {r:30s} {time.time() - t:6.2f} s")


def chunked_50mb():
    s = conn()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
    sent = 0
    try:
        while sent < 50 << 20:
            s.sendall(chunk)
            sent += 0x10000
    except (ConnectionError, socket.timeout):
        pass
    return f"{status(read_all(s))} after {sent >> 20} MB sent"


def content_length(v):
    def f():
        s = conn()
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + v + b"\r\n\r\n")
        return status(read_all(s))
    return f


def slowloris():
    socks = []
    for _ in range(20):
        s = conn()
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le")
        socks.append(s)
    time.sleep(0.2)
    t = time.time()
    s = conn()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = status(read_all(s))
    took = time.time() - t
    for s in socks:
        s.close()
    return f"{r} in {took:.3f} s with 20 open"


def burst():
    worst = 0.0
    socks = []
    for _ in range(200):
        t = time.time()
        socks.append(conn())
        worst = max(worst, time.time() - t)
    for s in socks:
        s.close()
    return f"worst connect {worst * 1000:.1f} ms"


def pipelined():
    s = conn()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return f"{read_all(s).count(b'HTTP/1.1 ')} responses"


def http10_stream():
    body = b'{"prompt":"Hi","max_tokens":3,"stream":true}'
    s = conn(30)
    s.sendall(b"POST /v1/completions HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    r = read_all(s)
    head = r.split(b"\r\n\r\n")[0].lower()
    return f"{status(r)} chunked={b'transfer-encoding' in head}"


def nested_16():
    before = rss_mb()
    out = []
    def one():
        s = conn(30)
        body = b"[" * (2 << 20)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        out.append(status(read_all(s)))
    ts = [threading.Thread(target=one) for _ in range(16)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return f"{sorted(set(out))} RSS {before:.0f} -> {rss_mb():.0f} MB"


timed("chunked body of 50 MB", chunked_50mb)
for v in (b"-1", b"abc", b"99999999999999999999", b"5\r\nContent-Length: 6"):
    timed("Content-Length " + v.decode().replace("\r\n", " | "), content_length(v))
timed("20 slowloris + GET /health", slowloris)
timed("200 rapid connections", burst)
timed("2 pipelined requests", pipelined)
timed("HTTP/1.0 stream", http10_stream)
timed("16 x 2 MB nested arrays", nested_16)
