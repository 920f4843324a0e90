"""A subscriber that stops reading is dropped with a reason; the others keep up."""

import json
import socket
import time

from leaves_testlib import SSEClient, expect, metric, unique, wait_until


def test_slow_subscriber_is_dropped_and_others_are_not_slowed(server):
    client = server.client
    # A client that never reads, with a tiny receive window, so the server's
    # writes stall and its per-subscriber queue (4096 events) fills.
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(10)
    slow.connect(("127.0.0.1", server.port))
    slow.sendall(b"GET /v1/stream?from=now HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    fast = SSEClient("127.0.0.1", server.port, "/v1/stream?from=now")
    assert fast.status == 200, "fast subscriber: expected 200, got %s" % fast.status
    wait_until(lambda: metric(client, "leaves_stream_subscribers") >= 2, timeout=5, what="two subscribers")
    dropped_before = metric(client, "leaves_stream_dropped_total")

    tag = unique("slow")
    total = 0
    received = 0
    deadline = time.monotonic() + 60
    while metric(client, "leaves_stream_dropped_total") <= dropped_before:
        assert time.monotonic() < deadline, (
            "expected the non-reading subscriber to be dropped after %d events; it was not" % total)
        items = [{"url": "https://slow.example/%s/%d" % (tag, total + i), "tags": [tag]} for i in range(1000)]
        r = client.post("/v1/bulk/leaves", json={"items": items})
        expect(r, 200, "bulk write")
        total += len(items)
        # The fast subscriber keeps reading throughout.
        received += len(fast.collect(0.2, until=lambda evs: False))

    # The fast subscriber was never dropped: it gets every event of this test.
    def all_received():
        nonlocal received
        received += len(fast.collect(0.5))
        return received >= total
    wait_until(all_received, timeout=30, what="fast subscriber to receive all %d events" % total)
    fast.close()

    # The slow one, once it reads, finds the drop notice at the end of its stream.
    slow.settimeout(10)
    data = b""
    while True:
        chunk = slow.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    slow.close()
    tail = data.replace(b"\r\n", b"\n").rstrip(b"\n").rsplit(b"\n\n", 1)[-1].decode()
    assert "event: dropped" in tail, "expected the stream to end with 'event: dropped', got: %r" % tail[-300:]
    payload = json.loads(tail.split("data: ", 1)[1])
    assert payload["type"] == "dropped" and "slow subscriber" in payload["reason"], payload
