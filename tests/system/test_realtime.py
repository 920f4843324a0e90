"""Realtime: SSE /v1/stream and WebSocket /v1/ws."""

import time

import pytest

from leaves_testlib import POSITION_RE, SSEClient, WSClient, expect, new_url, unique, unique_user

EVENT_KEYS = {"type", "leaf_id", "version", "position", "time", "changed", "tags", "user_id", "cursor"}
SETTLE = 0.3  # let a fresh subscription register before writing


@pytest.fixture
def sse(client):
    opened = []

    def open_(query="", headers=None):
        s = SSEClient(client.host, client.port, "/v1/stream" + query, headers=headers)
        opened.append(s)
        assert s.status == 200, "GET /v1/stream%s: expected 200, got %s %s" % (query, s.status, s.headers)
        ctype = s.headers.get("content-type", "")
        assert ctype.startswith("text/event-stream"), "SSE content-type: got %r" % ctype
        return s

    yield open_
    for s in opened:
        s.close()


def check_message(msg, what):
    assert isinstance(msg, dict), "%s: data is not a JSON object: %r" % (what, msg)
    missing = EVENT_KEYS - set(msg)
    assert not missing, "%s: event lacks %s: %r" % (what, sorted(missing), msg)
    assert POSITION_RE.match(msg["position"]), "%s: position should be p:o, got %r" % (what, msg["position"])
    assert isinstance(msg["changed"], list), "%s: changed must be a list: %r" % (what, msg["changed"])
    assert type(msg["version"]) is int, msg
    assert msg["user_id"] is None or type(msg["user_id"]) is int, msg
    assert msg["tags"] is None or isinstance(msg["tags"], list), msg
    assert isinstance(msg["cursor"], str) and msg["cursor"], msg


def for_leaf(leaf_id):
    return lambda evs: any(e["json"] and e["json"].get("leaf_id") == leaf_id for e in evs)


def test_sse_receives_created_event(client, sse):
    s = sse("?from=now")
    time.sleep(SETTLE)
    url = new_url()
    t0 = time.monotonic()
    r = client.post("/v1/leaves", json={"url": url, "tags": ["rt"]})
    leaf = expect(r, 201, "POST while subscribed")
    evs = s.collect(2.0, until=for_leaf(leaf["id"]))
    took = time.monotonic() - t0
    mine = [e for e in evs if e["json"] and e["json"].get("leaf_id") == leaf["id"]]
    assert mine, "no SSE event for leaf %s within 2 s (got %d other events: %s)" % (
        leaf["id"], len(evs), [e["data"][:200] for e in evs[:5]])
    assert took < 2.0
    ev = mine[0]
    msg = ev["json"]
    check_message(msg, "SSE leaf.created")
    assert ev["event"] == "leaf.created" and msg["type"] == "leaf.created", (
        "SSE event/type: expected leaf.created, got event=%r type=%r" % (ev["event"], msg["type"]))
    assert msg["position"] == r.headers.get("Leaves-Position"), (
        "event position %r should equal the POST's Leaves-Position %r" % (msg["position"], r.headers.get(
            "Leaves-Position")))
    assert ev["id"] == msg["cursor"], "SSE id: should be the cursor: id=%r cursor=%r" % (ev["id"], msg["cursor"])
    assert msg["version"] == 1 and msg["tags"] == ["rt"], msg


def test_sse_event_types_in_order(client, sse):
    tag = unique("ty")
    s = sse("?from=now&tag=" + tag)
    time.sleep(SETTLE)
    leaf = client.create(tags=[tag, "other"])
    lid = leaf["id"]
    expect(client.patch("/v1/leaves/" + lid, json={"title": "changed"}), 200)
    expect(client.post("/v1/leaves/%s/tags" % lid, json={"tags": ["new"]}), 200)
    expect(client.delete("/v1/leaves/%s/tags" % lid, json={"tags": ["other"]}), 200)
    expect(client.put("/v1/leaves/%s/tags" % lid, json={"tags": [tag, "z"]}), 200)
    expect(client.delete("/v1/leaves/" + lid), 200)
    want = ["leaf.created", "leaf.updated", "leaf.tags_added", "leaf.tags_removed", "leaf.tags_replaced",
            "leaf.deleted"]
    evs = s.collect(3.0, until=lambda evs: len(evs) >= len(want))
    got = [(e["event"], e["json"]["type"], e["json"]["version"]) for e in evs]
    assert got == [(t, t, i + 1) for i, t in enumerate(want)], "SSE sequence (event, type, version): %s" % got
    upd = evs[1]["json"]
    assert "title" in upd["changed"], "leaf.updated changed should name title: %r" % upd["changed"]
    assert "tags" in evs[2]["json"]["changed"], "leaf.tags_added changed should name tags: %r" % evs[2]["json"]
    assert evs[2]["json"]["tags"] == [tag, "other", "new"], "tags after add: %r" % evs[2]["json"]["tags"]
    assert evs[4]["json"]["tags"] == [tag, "z"], "tags after replace: %r" % evs[4]["json"]["tags"]
    assert evs[5]["json"]["changed"] == [], "leaf.deleted changed should be []: %r" % evs[5]["json"]["changed"]
    assert "url" in evs[0]["json"]["changed"], "leaf.created changed lists all fields: %r" % evs[0]["json"]["changed"]


def test_sse_tag_filter(client, sse):
    tag = unique("flt")
    s = sse("?from=now&tag=" + tag)
    time.sleep(SETTLE)
    other = client.create(tags=["not-" + tag])
    mine = client.create(tags=[tag])
    evs = s.collect(2.0, until=for_leaf(mine["id"]))
    evs += s.collect(0.5)
    ids = [e["json"]["leaf_id"] for e in evs]
    assert mine["id"] in ids, "tag-filtered stream missed the tagged leaf: got %s" % ids
    assert other["id"] not in ids, "tag-filtered stream delivered an untagged leaf"
    assert set(ids) == {mine["id"]}, "tag-filtered stream delivered unexpected events: %s" % ids


def test_sse_user_filter(client, sse):
    user = unique_user()
    s = sse("?from=now&user=%d" % user)
    time.sleep(SETTLE)
    other = client.create(user_id=user + 1)
    mine = client.create(user_id=user)
    evs = s.collect(2.0, until=for_leaf(mine["id"]))
    evs += s.collect(0.5)
    ids = [e["json"]["leaf_id"] for e in evs]
    assert ids == [mine["id"]], "user-filtered stream: expected only %s, got %s (other: %s)" % (
        mine["id"], ids, other["id"])
    assert evs[0]["json"]["user_id"] == user


def test_sse_resume(client, sse):
    tag = unique("res")
    s = sse("?from=now&tag=" + tag)
    time.sleep(SETTLE)
    made = [client.create(tags=[tag])["id"] for _ in range(4)]
    evs = s.collect(3.0, until=lambda e: len(e) >= 4)
    got = [e["json"]["leaf_id"] for e in evs]
    assert sorted(got) == sorted(made), "live stream: expected 4 created events, got %s" % got
    s.close()
    first = evs[0]
    rest = set(got[1:])
    # Last-Event-ID
    s2 = sse("?tag=" + tag, headers={"Last-Event-ID": first["id"]})
    evs2 = s2.collect(2.0, until=lambda e: len(e) >= 3)
    evs2 += s2.collect(0.7)
    got2 = [e["json"]["leaf_id"] for e in evs2]
    assert sorted(got2) == sorted(rest), (
        "resume with Last-Event-ID %s: expected exactly the 3 later events %s, got %s" % (first["id"], sorted(rest),
                                                                                         got2))
    # ?from=<cursor>
    s3 = sse("?tag=%s&from=%s" % (tag, first["id"]))
    evs3 = s3.collect(2.0, until=lambda e: len(e) >= 3)
    evs3 += s3.collect(0.7)
    got3 = [e["json"]["leaf_id"] for e in evs3]
    assert sorted(got3) == sorted(rest), "resume with ?from=<cursor>: expected %s, got %s" % (sorted(rest), got3)
    # from the last cursor: nothing more
    s4 = sse("?tag=%s&from=%s" % (tag, evs[-1]["id"]))
    extra = s4.collect(1.0)
    assert not extra, "resume from the last cursor should replay nothing, got %s" % [e["data"] for e in extra]


def test_sse_from_beginning_replays_history(client, sse):
    tag = unique("hist")
    made = [client.create(tags=[tag])["id"] for _ in range(3)]
    expect(client.patch("/v1/leaves/" + made[0], json={"title": "h"}), 200)
    s = sse("?from=beginning&tag=" + tag)
    evs = s.collect(3.0, until=lambda e: len(e) >= 4)
    evs += s.collect(0.5)
    got = [(e["json"]["type"], e["json"]["leaf_id"]) for e in evs]
    want = [("leaf.created", i) for i in made] + [("leaf.updated", made[0])]
    assert sorted(got) == sorted(want), "from=beginning: expected %s, got %s" % (want, got)
    assert got.index(("leaf.created", made[0])) < got.index(("leaf.updated", made[0])), "per-leaf order broken"


def test_sse_default_is_now(client, sse):
    tag = unique("now")
    client.create(tags=[tag])
    s = sse("?tag=" + tag)
    time.sleep(SETTLE)
    later = client.create(tags=[tag])
    evs = s.collect(2.0, until=for_leaf(later["id"]))
    evs += s.collect(0.5)
    ids = [e["json"]["leaf_id"] for e in evs]
    assert ids == [later["id"]], "default from=now: expected only the leaf written after connecting, got %s" % ids


def test_sse_bad_from(client):
    r = client.get("/v1/stream?from=garbage", consistent=False, timeout=3, stream=True)
    try:
        assert r.status_code == 400, "GET /v1/stream?from=garbage: expected 400, got %s" % r.status_code
    finally:
        r.close()


# ------------------------------------------------------------------- WebSocket


def test_ws_receives_created_event(client):
    ws = WSClient(client.host, client.port, "/v1/ws?from=now")
    try:
        assert ws.status == 101, "WebSocket upgrade: expected 101, got %r %s" % (ws.status_line, ws.headers)
        assert ws.accept_ok, "Sec-WebSocket-Accept does not match the key: %s" % ws.headers
        time.sleep(SETTLE)
        r = client.post("/v1/leaves", json={"url": new_url(), "tags": ["ws"]})
        leaf = expect(r, 201)
        msgs = ws.collect_json(2.0, until=lambda ms: any(m.get("leaf_id") == leaf["id"] for m in ms))
        mine = [m for m in msgs if m.get("leaf_id") == leaf["id"]]
        assert mine, "no WebSocket message for leaf %s within 2 s (got %s)" % (leaf["id"], msgs[:5])
        check_message(mine[0], "WS leaf.created")
        assert mine[0]["type"] == "leaf.created" and mine[0]["position"] == r.headers.get("Leaves-Position"), mine[0]
    finally:
        ws.close()


def test_ws_tag_filter(client):
    tag = unique("wst")
    ws = WSClient(client.host, client.port, "/v1/ws?from=now&tag=" + tag)
    try:
        assert ws.status == 101, ws.status_line
        time.sleep(SETTLE)
        client.create(tags=["x" + tag])
        mine = client.create(tags=[tag])
        msgs = ws.collect_json(2.0, until=lambda ms: any(m.get("leaf_id") == mine["id"] for m in ms))
        msgs += ws.collect_json(0.5)
        ids = [m.get("leaf_id") for m in msgs]
        assert ids == [mine["id"]], "WS tag filter: expected only %s, got %s" % (mine["id"], ids)
    finally:
        ws.close()


def test_ws_from_beginning(client):
    tag = unique("wsh")
    made = [client.create(tags=[tag])["id"] for _ in range(2)]
    ws = WSClient(client.host, client.port, "/v1/ws?from=beginning&tag=" + tag)
    try:
        assert ws.status == 101, ws.status_line
        msgs = ws.collect_json(2.0, until=lambda ms: len(ms) >= 2)
        assert sorted(m.get("leaf_id") for m in msgs) == sorted(made), "WS from=beginning: got %s" % msgs
    finally:
        ws.close()


def test_ws_without_upgrade_is_rejected(client):
    r = client.get("/v1/ws", consistent=False, timeout=3)
    assert 400 <= r.status_code < 500, "plain GET /v1/ws without Upgrade: expected 4xx, got %s" % r.status_code
