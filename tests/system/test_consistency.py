"""Leaves-Position on writes, read-your-writes via Leaves-Min-Position / ?min_position=, 504."""

import time

import pytest

from leaves_testlib import Client, describe, expect, expect_error, md5_hex, new_url, parse_positions, unique


def pos(resp, what):
    h = resp.headers.get("Leaves-Position")
    assert h, "%s: missing Leaves-Position\n  %s" % (what, describe(resp))
    p = parse_positions(h)
    assert len(p) == 1, "%s: Leaves-Position should be one <partition>:<offset>, got %r" % (what, h)
    return h, list(p.items())[0]


def test_position_format_and_partition(client):
    url = new_url()
    r1 = client.post("/v1/leaves", json={"url": url})
    expect(r1, 201)
    h1, (p1, o1) = pos(r1, "create")
    assert 0 <= p1 < 8, "default 8 partitions: partition %d out of range" % p1
    r2 = client.patch("/v1/leaves/" + md5_hex(url), json={"title": "x"})
    expect(r2, 200)
    h2, (p2, o2) = pos(r2, "patch")
    assert p2 == p1 and o2 > o1, "same leaf -> same partition, later offset: %s then %s" % (h1, h2)


def test_read_your_writes_header(server):
    # A fresh client without tracked positions: pass the header explicitly.
    c = Client(server.base_url)
    for i in range(20):
        url = new_url()
        r = c.post("/v1/leaves", json={"url": url, "title": "v%d" % i})
        expect(r, 201, "create")
        h, _ = pos(r, "create")
        g = c.get("/v1/leaves/" + md5_hex(url), consistent=False, headers={"Leaves-Min-Position": h})
        leaf = expect(g, 200, "GET with Leaves-Min-Position %s right after POST" % h)
        assert leaf["title"] == "v%d" % i
        r = c.patch("/v1/leaves/" + md5_hex(url), json={"title": "w%d" % i})
        expect(r, 200, "patch")
        h2, _ = pos(r, "patch")
        g = c.get("/v1/leaves/%s?min_position=%s" % (md5_hex(url), h2), consistent=False)
        leaf = expect(g, 200, "GET ?min_position=%s right after PATCH" % h2)
        assert leaf["title"] == "w%d" % i, "read-your-writes: expected title w%d, got %r" % (i, leaf["title"])


def test_read_your_writes_list_and_tags(server):
    c = Client(server.base_url)
    tag = unique("ryw")
    r = c.post("/v1/leaves", json={"url": new_url(), "tags": [tag]})
    leaf_id = expect(r, 201, "create")["id"]
    h, _ = pos(r, "create")
    body = expect(c.get("/v1/leaves?tag=%s&min_position=%s" % (tag, h), consistent=False), 200)
    assert len(body["items"]) == 1, "list with min_position right after POST: expected 1 item, got %d" % len(
        body["items"])
    body = expect(c.get("/v1/tags?limit=1000", consistent=False, headers={"Leaves-Min-Position": h}), 200)
    counts = {it["tag"]: it["count"] for it in body["items"]}
    assert counts.get(tag) == 1, "tags with Leaves-Min-Position right after POST: %s -> %r" % (tag, counts.get(tag))
    r = c.delete("/v1/leaves/" + leaf_id)
    expect(r, 200, "delete")
    h, _ = pos(r, "delete")
    g = c.get("/v1/leaves/" + leaf_id, consistent=False, headers={"Leaves-Min-Position": h})
    expect_error(g, 404, "leaf_not_found", "GET with min position right after DELETE")


def test_multi_partition_min_position(client):
    positions = {}
    for _ in range(12):
        r = client.post("/v1/leaves", json={"url": new_url()})
        expect(r, 201)
        for p, o in parse_positions(r.headers["Leaves-Position"]).items():
            positions[p] = max(positions.get(p, -1), o)
    header = ",".join("%d:%d" % kv for kv in sorted(positions.items()))
    r = client.get("/v1/leaves", consistent=False, headers={"Leaves-Min-Position": header})
    expect(r, 200, "GET with multi-partition Leaves-Min-Position %s" % header)
    r = client.get("/v1/leaves?min_position=" + header, consistent=False)
    expect(r, 200, "GET with multi-partition ?min_position=%s" % header)


def test_reached_min_position_is_fast(client):
    r = client.post("/v1/leaves", json={"url": new_url()})
    h, _ = pos(r, "create")
    expect(client.get("/healthz", consistent=False, headers={"Leaves-Min-Position": h}), 200)
    t = time.monotonic()
    expect(client.get("/v1/leaves?limit=1", consistent=False, headers={"Leaves-Min-Position": h}), 200)
    assert time.monotonic() - t < 1.0, "a min position already applied should not wait"


@pytest.fixture(scope="module")
def short_wait_server(leaves_bin, tmp_path_factory):
    from leaves_testlib import ServerProcess
    base = tmp_path_factory.mktemp("shortwait")
    srv = ServerProcess(leaves_bin, base / "data", base / "logs", args=["--read-wait-ms", "300", "--partitions", "2"])
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("how", ["header", "query"])
@pytest.mark.parametrize("path", ["/v1/leaves", "/v1/tags", "/v1/leaves/0123456789abcdef0123456789abcdef"])
def test_min_position_in_future_gives_504(short_wait_server, how, path):
    c = short_wait_server.client
    far = "0:1000000000"
    t = time.monotonic()
    if how == "header":
        r = c.get(path, consistent=False, headers={"Leaves-Min-Position": far})
    else:
        r = c.get(path + "?min_position=" + far, consistent=False)
    took = time.monotonic() - t
    expect_error(r, 504, "deadline_exceeded", "GET %s with min position %s (%s), --read-wait-ms 300" % (path, far, how))
    assert 0.2 <= took < 3.0, "504 should come after ~300 ms (--read-wait-ms 300), took %.2fs" % took


def test_partitions_flag(short_wait_server):
    c = short_wait_server.client
    seen = set()
    for _ in range(20):
        r = c.post("/v1/leaves", json={"url": new_url()})
        expect(r, 201)
        seen |= set(parse_positions(r.headers["Leaves-Position"]))
    assert seen <= {0, 1}, "--partitions 2: positions must name partition 0 or 1, saw %s" % sorted(seen)
    # reads with the real positions still succeed quickly on the short-wait server
    expect(c.get("/v1/leaves?limit=100"), 200, "GET with reached positions on --partitions 2")
