"""The HTTP edge against a hostile or unlucky client: request smuggling
vectors, Host rules, absolute-form targets, Expect: 100-continue, 408 on a
request timeout, bounded /metrics labels, and the limit on request bodies
being read at once."""

import json
import socket
import time

import requests

from leaves_testlib import _Conn, new_url, raw_http


def host_port(srv):
    return "127.0.0.1", srv.port


def post_bytes(body, extra=b""):
    return (b"POST /v1/leaves HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
            b"\r\n" + body)


def wait_closed(conn, seconds=5.0):
    """True when the server closed the connection (EOF) within `seconds`, reading whatever comes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not conn._recv(deadline) and conn.closed:
            return True
    return conn.closed


def test_unknown_transfer_codings_are_refused_and_the_connection_closed(server_factory):
    srv = server_factory.make()
    smuggled = b"GET /v1/leaves HTTP/1.1\r\nHost: x\r\n\r\n"
    for te in (b"xchunked", b"chunked, identity", b"identity", b"gzip, chunked"):
        c = _Conn(*host_port(srv))
        try:
            body = b"0\r\n\r\n" + smuggled
            c.sendall(post_bytes(body, b"Transfer-Encoding: " + te + b"\r\n"))
            status, _ = c.read_head(time.monotonic() + 5)
            assert status == 501, "Transfer-Encoding %r: expected 501, got %d" % (te, status)
            c.raw = b""
            assert wait_closed(c), "Transfer-Encoding %r: the connection stayed open" % te
            assert b"HTTP/1.1" not in c.raw, "Transfer-Encoding %r: the body was served as a request: %r" % (
                te, c.raw[:200])
        finally:
            c.close()


def test_transfer_encoding_with_content_length_is_refused(server_factory):
    srv = server_factory.make()
    body = b"0\r\n\r\n"
    r = raw_http(*host_port(srv), post_bytes(body, b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"))
    assert r.status_code == 400, "expected 400, got %r" % r


def test_http11_needs_exactly_one_host(server_factory):
    srv = server_factory.make()
    r = raw_http(*host_port(srv), b"GET /healthz HTTP/1.1\r\n\r\n")
    assert r.status_code == 400 and b"Host" in r.body, "no Host: expected 400, got %r" % r
    r = raw_http(*host_port(srv), b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert r.status_code == 400, "two Hosts: expected 400, got %r" % r
    r = raw_http(*host_port(srv), b"GET /healthz HTTP/1.0\r\n\r\n")
    assert r.status_code == 200, "HTTP/1.0 needs no Host: expected 200, got %r" % r


def test_absolute_form_targets_are_served(server_factory):
    srv = server_factory.make()
    r = raw_http(*host_port(srv), b"GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert r.status_code == 200, "absolute-form /healthz: expected 200, got %r" % r
    r = raw_http(*host_port(srv), b"GET http://127.0.0.1/v1/leaves?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert r.status_code == 200 and "items" in r.json(), "absolute-form with a query: got %r" % r


def test_expect_100_continue_is_answered_at_once(server_factory):
    srv = server_factory.make()
    body = json.dumps({"url": new_url(), "title": "x" * 4000}).encode()
    c = _Conn(*host_port(srv))
    try:
        t0 = time.monotonic()
        c.sendall(b"POST /v1/leaves HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        status, _ = c.read_head(time.monotonic() + 5)
        waited = time.monotonic() - t0
        assert status == 100 and waited < 0.5, "expected 100 Continue at once, got %d after %.2fs" % (status, waited)
        c.sendall(body)
        status, _ = c.read_head(time.monotonic() + 5)
        assert status == 201, "expected 201 after the body, got %d" % status
    finally:
        c.close()
    r = raw_http(*host_port(srv), b"GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n")
    assert r.status_code == 417, "Expect: something-else: expected 417, got %r" % r


def test_a_request_timeout_answers_408(server_factory):
    srv = server_factory.make(args=["--request-timeout-ms", "500", "--idle-timeout-ms", "500"])
    for partial in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n",                                  # a head never finished
                    post_bytes(b'{"url": "https://e', b"Content-Length: 100\r\n")):      # a body never finished
        c = _Conn(*host_port(srv))
        try:
            c.sendall(partial)
            t0 = time.monotonic()
            status, _ = c.read_head(time.monotonic() + 5)
            took = time.monotonic() - t0
            assert status == 408, "expected 408, got %d" % status
            assert took < 3, "408 after %.1fs with a 500 ms request timeout" % took
        finally:
            c.close()
    # An idle connection with nothing sent closes quietly.
    c = _Conn(*host_port(srv))
    try:
        assert wait_closed(c, 5), "an idle connection was not closed"
        assert c.raw == b"", "an idle connection got %r" % c.raw[:100]
    finally:
        c.close()


def test_a_refused_body_still_gets_its_answer(server_factory):
    """A body over the limit is answered 413, and the server reads what the
    client keeps sending before it closes (a lingering close): closing with
    unread bytes resets the connection and can destroy the 413 unread."""
    srv = server_factory.make(args=["--max-body-bytes", "65536"])
    for attempt in range(3):
        c = _Conn(*host_port(srv))
        try:
            body = b"x" * (8 << 20)
            err = c.sendall(post_bytes(body, b"Content-Length: %d\r\n" % len(body)))
            assert err is None, "attempt %d: sending the refused body failed (the server reset the " \
                "connection instead of draining it): %r" % (attempt, err)
            status, _ = c.read_head(time.monotonic() + 5)
            assert status == 413, "attempt %d: expected 413, got %d" % (attempt, status)
            assert wait_closed(c), "attempt %d: the connection stayed open after the 413" % attempt
        finally:
            c.close()
    assert requests.get(srv.base_url + "/healthz", timeout=5).status_code == 200


def test_metrics_labels_stay_bounded(server_factory):
    srv = server_factory.make()
    for i in range(40):
        raw_http(*host_port(srv), b"M%dETHOD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    text = requests.get(srv.base_url + "/metrics", timeout=10).text
    assert "M7ETHOD" not in text, "a method string became a /metrics series"
    assert 'method="other"' in text, "expected unknown methods counted as method=\"other\""


def test_bodies_being_read_at_once_are_bounded(server_factory):
    srv = server_factory.make(args=["--max-buffered-body-mb", "1", "--max-body-bytes", "1048576"])
    hold = _Conn(*host_port(srv))
    try:
        # A body of 900 KB announced and only begun: it holds 900 KB of the 1 MiB budget.
        hold.sendall(post_bytes(b'{"url": "', b"Content-Length: 900000\r\n"))
        time.sleep(0.3)
        r = raw_http(*host_port(srv), post_bytes(b"x" * 10, b"Content-Length: 200000\r\n"))
        assert r.status_code == 503, "expected 503 over the buffered-body budget, got %r" % r
        small = requests.post(srv.base_url + "/v1/leaves", json={"url": new_url()}, timeout=10)
        assert small.status_code == 201, "a small body within the budget: expected 201, got %d %s" % (
            small.status_code, small.text[:200])
    finally:
        hold.close()
    time.sleep(0.3)
    big = requests.post(srv.base_url + "/v1/leaves", json={"url": new_url(), "title": "t" * 500000}, timeout=10)
    assert big.status_code in (201, 422), "the budget was not given back: got %d %s" % (
        big.status_code, big.text[:200])


def test_server_survives_all_of_the_above(server_factory):
    srv = server_factory.make()
    for payload in (b"\x00\xff" * 100, b"GET / HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" * 3):
        s = socket.create_connection(host_port(srv), timeout=5)
        try:
            s.sendall(payload)
            s.settimeout(2)
            try:
                s.recv(4096)
            except OSError:
                pass
        finally:
            s.close()
    assert requests.get(srv.base_url + "/healthz", timeout=5).status_code == 200


def subscribers(srv):
    for line in requests.get(srv.base_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("leaves_stream_subscribers "):
            return int(float(line.split()[1]))
    raise AssertionError("no leaves_stream_subscribers in /metrics")


def test_a_closed_sse_subscriber_gives_its_slot_back_at_once(server_factory):
    srv = server_factory.make()
    conns = []
    for _ in range(50):
        c = _Conn(*host_port(srv))
        c.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        status, _ = c.read_head(time.monotonic() + 5)
        assert status == 200, "SSE: expected 200, got %d" % status
        conns.append(c)
    assert subscribers(srv) == 50, "expected 50 subscribers, got %d" % subscribers(srv)
    for c in conns:
        c.close()
    deadline = time.monotonic() + 2  # the heartbeat is 15 s: the slots must come back well before it
    while time.monotonic() < deadline and subscribers(srv) != 0:
        time.sleep(0.05)
    assert subscribers(srv) == 0, "closed SSE subscribers still hold %d slots" % subscribers(srv)


def test_websocket_handshake_errors_are_json(server_factory):
    srv = server_factory.make()
    base = (b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
    r = raw_http(*host_port(srv), base + b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: not-a-key\r\n\r\n")
    assert r.status_code == 400 and r.json()["error"]["code"] == "websocket_handshake", (
        "garbage Sec-WebSocket-Key: expected a JSON 400, got %r" % r)
    r = raw_http(*host_port(srv), base + b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert r.status_code == 426 and r.headers.get("sec-websocket-version") == "13", (
        "version 8: expected 426 with Sec-WebSocket-Version: 13, got %r" % r)
    assert r.json()["error"]["code"] == "websocket_version", r
    r = raw_http(*host_port(srv), b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status_code == 400 and r.json()["error"]["code"] == "websocket_required", r
    assert subscribers(srv) == 0, "refused handshakes left %d subscriptions" % subscribers(srv)
