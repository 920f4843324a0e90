"""What connections and stream subscribers cost a leaves server in memory.
Debian's /usr/bin/python3, standard library only.

  bench/hold.py conns BASE PID N        N keep-alive connections, each after one
                                        GET /healthz, held open together
  bench/hold.py subscribers BASE PID N EVENTS
                                        N SSE subscribers of /v1/stream, then
                                        EVENTS leaves posted through the bulk
                                        endpoint; waits until every subscriber
                                        received every event (or 120 s)

Prints the server's RSS (VmRSS of PID) before, while held, and the cost per
connection or subscriber, as one line. Loopback only; closes what it opens."""
import json
import selectors
import socket
import sys
import time
import urllib.parse
import urllib.request


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


def settle_rss(pid, seconds=1.0):
    time.sleep(seconds)
    return rss_kib(pid)


def connect(host, port, path):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: keep-alive\r\n\r\n" % (path, host, port)).encode())
    return s


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("the server closed a connection before answering: %r" % data[:200])
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise SystemExit("expected 200, got %r" % status)
    return head, rest


def hold_conns(host, port, pid, n):
    before = settle_rss(pid)
    socks = []
    for _ in range(n):
        s = connect(host, port, "/healthz")
        head, rest = read_head(s)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            rest += s.recv(4096)
        socks.append(s)
    held = settle_rss(pid)
    # Every connection is still open: a second request on each answers.
    for s in socks[:: max(1, n // 20)]:
        s.sendall(("GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host, port)).encode())
        read_head(s)
    for s in socks:
        s.close()
    after = settle_rss(pid, 2.0)
    print("%d keep-alive connections: RSS %.1f MiB before, %.1f MiB held, %.1f MiB after closing; %.1f KiB a connection"
          % (n, before / 1024, held / 1024, after / 1024, (held - before) / n))


def hold_subscribers(base, host, port, pid, n, events):
    before = settle_rss(pid)
    sel = selectors.DefaultSelector()
    received = {}
    tails = {}

    def take(s, chunk):  # counts frames ("id: ..." at a line's start) across chunk boundaries
        data = tails[s] + chunk
        received[s] += data.count(b"\nid:")
        tails[s] = data[-3:]

    for i in range(n):
        s = connect(host, port, "/v1/stream")
        _, rest = read_head(s)
        s.setblocking(False)
        received[s], tails[s] = 0, b"\n"
        take(s, rest)
        sel.register(s, selectors.EVENT_READ)
    idle = settle_rss(pid)
    start = time.monotonic()
    for first in range(0, events, 1000):
        items = [{"url": "https://bench.example/hold/%d/%d" % (int(start), i), "title": "held %d" % i,
                  "tags": ["held"], "content_text": "y" * 200}
                 for i in range(first, min(events, first + 1000))]
        req = urllib.request.Request(base + "/v1/bulk/leaves", data=json.dumps({"items": items}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=120).read()
    peak = idle
    deadline = time.monotonic() + 120
    while min(received.values()) < events and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(s)
                raise SystemExit("the server ended a stream after %d events" % received[s])
            take(s, chunk)
        peak = max(peak, rss_kib(pid))
    took = time.monotonic() - start
    got = min(received.values())
    for s in received:
        s.close()
    after = settle_rss(pid, 2.0)
    print("%d SSE subscribers: RSS %.1f MiB before, %.1f MiB subscribed (%.1f KiB a subscriber), %.1f MiB peak while "
          "%d events reached each (%d messages in %.1f s; fewest received %d), %.1f MiB after closing"
          % (n, before / 1024, idle / 1024, (idle - before) / n, peak / 1024, events, n * events, took, got,
             after / 1024))
    if got < events:
        raise SystemExit("a subscriber received %d of %d events" % (got, events))


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in ("conns", "subscribers"):
        raise SystemExit(__doc__)
    base, pid, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    u = urllib.parse.urlsplit(base)
    if sys.argv[1] == "conns":
        hold_conns(u.hostname, u.port, pid, n)
    else:
        hold_subscribers(base, u.hostname, u.port, pid, n, int(sys.argv[5]) if len(sys.argv) > 5 else 1000)


main()
