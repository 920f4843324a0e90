"""The workshop-compatible reference API under /api/leaves: status codes, string bodies,
JSON types per field, and that reads right after a write see it (no Min-Position header)."""

import time

import requests

from leaves_testlib import cassandra_session, describe, expect, md5_hex, new_url, unique, unique_user, wait_until

NOT_FOUND = "This item does not exist"

# field -> allowed exact Python types of the reference Cassandra table's JSON form
REF_TYPES = {
    "id": (str,), "url": (str,), "title": (str, type(None)), "content": (str, type(None)),
    "content_text": (str, type(None)), "tags": (list, type(None)), "slugs": (list, type(None)),
    "all": (list, type(None)), "links": (list, type(None)), "domain_name": (str, type(None)),
    "is_archived": (int,), "is_starred": (int,), "is_public": (bool,),
    "created_at": (str,), "updated_at": (str,), "user_id": (int, type(None)),
    "user_name": (str, type(None)), "user_email": (str, type(None)), "mimetype": (str, type(None)),
    "language": (str, type(None)), "reading_time": (int,), "preview_picture": (str, type(None)),
    "http_status": (str, type(None)),
}


def check_ref_form(leaf, what):
    assert isinstance(leaf, dict), "%s: expected a JSON object, got %r" % (what, leaf)
    missing = sorted(set(REF_TYPES) - set(leaf))
    assert not missing, "%s: reference leaf lacks %s (keys: %s)" % (what, missing, sorted(leaf))
    bad = {k: "%r (%s)" % (leaf[k], type(leaf[k]).__name__) for k, ts in REF_TYPES.items()
           if not any(type(leaf[k]) is t for t in ts)}
    assert not bad, "%s: wrong JSON types (is_archived/is_starred int 0/1, is_public bool, http_status " \
                    "str|null, user_id int|null, reading_time int): %s" % (what, bad)
    extra = sorted({"version", "published_at", "published_by"} & set(leaf))
    assert not extra, "%s: the reference form has no %s" % (what, extra)
    for k in ("is_archived", "is_starred"):
        assert leaf[k] in (0, 1), "%s: %s must be 0 or 1, got %r" % (what, k, leaf[k])
    for k in ("created_at", "updated_at"):
        assert len(leaf[k]) >= 19 and leaf[k][4] == "-" and leaf[k][10] == "T", (
            "%s: %s should be an ISO string, got %r" % (what, k, leaf[k]))


def expect_string_body(resp, status, text, what):
    expect(resp, status, what)
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    assert body == text, "%s: expected body %r, got\n  %s" % (what, text, describe(resp))


def ref_post(client, **fields):
    fields.setdefault("url", new_url())
    r = client.post("/api/leaves", json=fields)
    leaf = expect(r, 201, "POST /api/leaves")
    check_ref_form(leaf, "POST /api/leaves response")
    return leaf


def test_post_and_get(client):
    url = new_url()
    uid = unique_user()
    leaf = ref_post(client, url=url, title="Ref", is_archived=True, is_starred=1, is_public=1,
                    user_id=uid, http_status=200, reading_time=5, created_at="2019-08-02T21:45:12Z")
    assert leaf["id"] == md5_hex(url), "id: expected md5(url) %s, got %s" % (md5_hex(url), leaf["id"])
    want = {"url": url, "title": "Ref", "is_archived": 1, "is_starred": 1, "is_public": True,
            "user_id": uid, "http_status": "200", "reading_time": 5}
    diff = {k: (v, leaf[k]) for k, v in want.items() if leaf[k] != v}
    assert not diff, "POST /api/leaves field (expected, got): %s" % diff
    assert leaf["created_at"].startswith("2019-08-02T21:45:12"), leaf["created_at"]

    r = client.get("/api/leaves/" + leaf["id"], consistent=False)
    got = expect(r, 200, "GET /api/leaves/{id} right after POST")
    check_ref_form(got, "GET /api/leaves/{id}")
    assert got == leaf, "GET right after POST differs:\n  POST %r\n  GET  %r" % (leaf, got)


def test_defaults_types(client):
    leaf = ref_post(client)
    assert leaf["is_archived"] == 0 and leaf["is_starred"] == 0 and leaf["is_public"] is False, leaf
    assert leaf["user_id"] is None and leaf["http_status"] is None, leaf


def test_same_url_twice_is_201_and_one_leaf(client):
    url = new_url()
    a = ref_post(client, url=url, title="first")
    r = client.post("/api/leaves", json={"url": url, "title": "second"})
    b = expect(r, 201, "POST same url again")
    assert a["id"] == b["id"]
    r = client.get("/api/leaves", consistent=False)
    arr = expect(r, 200, "GET /api/leaves")
    assert isinstance(arr, list), "GET /api/leaves must be an array, got %s" % type(arr).__name__
    mine = [x for x in arr if x["url"] == url]
    assert len(mine) == 1, "same url posted twice: expected 1 leaf in /api/leaves, got %d" % len(mine)


def test_list_newest_first_and_sees_writes(server):
    """Newest first, or in Cassandra mode the leaves table in its token order
    (as the reference API answered it from the table)."""
    client = server.client
    made = []
    for i in range(3):
        made.append(ref_post(client, title="n%d" % i))
        time.sleep(0.005)
    arr = expect(client.get("/api/leaves", consistent=False), 200, "GET /api/leaves")
    for x in arr[:50]:
        check_ref_form(x, "GET /api/leaves item")
    pos = {x["id"]: i for i, x in enumerate(arr)}
    missing = [m["id"] for m in made if m["id"] not in pos]
    assert not missing, "GET /api/leaves right after POSTs lacks %s" % missing
    if server.keyspace:
        rows = cassandra_session().execute("SELECT id FROM %s.leaves" % server.keyspace)
        table = [r.id for r in rows]
        assert [x["id"] for x in arr] == table, "Cassandra mode: GET /api/leaves is not the leaves table in " \
            "token order:\n  listed: %s\n  table:  %s" % ([x["id"] for x in arr][:10], table[:10])
        return
    order = [pos[m["id"]] for m in made]
    assert order == sorted(order, reverse=True), "newest first: positions of 3 consecutive POSTs %s" % order
    cs = [x["created_at"] for x in arr]
    assert cs == sorted(cs, reverse=True), "GET /api/leaves not sorted newest first"


def test_get_missing(client):
    r = client.get("/api/leaves/" + md5_hex(new_url()), consistent=False)
    expect_string_body(r, 404, NOT_FOUND, "GET /api/leaves/{unknown}")


def test_patch(client):
    leaf = ref_post(client, title="old")
    r = client.patch("/api/leaves/" + leaf["id"], json={"title": "new", "is_starred": True})
    got = expect(r, 201, "PATCH /api/leaves/{id}")
    check_ref_form(got, "PATCH response")
    assert got["title"] == "new" and got["is_starred"] == 1, got
    g = expect(client.get("/api/leaves/" + leaf["id"], consistent=False), 200, "GET right after PATCH")
    assert g["title"] == "new" and g["is_starred"] == 1, "GET right after PATCH sees old data: %r" % g


def test_patch_missing(client):
    r = client.patch("/api/leaves/" + md5_hex(new_url()), json={"title": "x"})
    expect_string_body(r, 404, NOT_FOUND, "PATCH /api/leaves/{unknown}")


def test_delete(client):
    leaf = ref_post(client)
    r = client.delete("/api/leaves/" + leaf["id"])
    expect_string_body(r, 201, "Item Deleted", "DELETE /api/leaves/{id}")
    r = client.get("/api/leaves/" + leaf["id"], consistent=False)
    expect_string_body(r, 404, NOT_FOUND, "GET right after DELETE")
    r = client.delete("/api/leaves/" + leaf["id"])
    expect_string_body(r, 404, NOT_FOUND, "DELETE twice")
    arr = expect(client.get("/api/leaves", consistent=False), 200)
    assert leaf["id"] not in {x["id"] for x in arr}, "deleted leaf still listed in /api/leaves"


def test_tags(client):
    leaf = ref_post(client, tags=["first"])
    path = "/api/leaves/%s/tags" % leaf["id"]
    r = client.get(path, consistent=False)
    tags = expect(r, 200, "GET tags")
    assert tags == ["first"], "GET tags: expected ['first'], got %r" % (tags,)

    r = client.post(path, json={"tags": ["hello world", "second"]})
    got = expect(r, 201, "POST /api/leaves/{id}/tags")
    check_ref_form(got, "POST tags response")
    assert got["tags"] == ["first", "hello.world", "second"], "appended, spaces->dots: got %r" % (got["tags"],)
    assert got["slugs"] == got["tags"], "slugs = tags: %r vs %r" % (got["slugs"], got["tags"])
    assert expect(client.get(path, consistent=False), 200) == got["tags"], "GET tags right after POST tags"

    r = client.delete(path)
    got = expect(r, 200, "DELETE /api/leaves/{id}/tags")
    check_ref_form(got, "DELETE tags response")
    assert got["tags"] is None and got["slugs"] is None, "after delete-tags: tags/slugs null, got %r/%r" % (
        got["tags"], got["slugs"])
    r = client.get(path, consistent=False)
    assert expect(r, 200, "GET tags after delete-tags") is None, "GET tags after delete-tags: expected null\n  %s" % (
        describe(r))
    g = expect(client.get("/api/leaves/" + leaf["id"], consistent=False), 200)
    assert g["tags"] is None and g["slugs"] is None, g

    # tags can be added again after delete-tags
    got = expect(client.post(path, json={"tags": ["again"]}), 201, "POST tags after delete-tags")
    assert got["tags"] == ["again"] and got["slugs"] == ["again"], got


def test_tags_missing_leaf(client):
    path = "/api/leaves/%s/tags" % md5_hex(new_url())
    expect(client.get(path, consistent=False), 404, "GET tags of unknown leaf")
    expect(client.post(path, json={"tags": ["a"]}), 404, "POST tags of unknown leaf")
    expect(client.delete(path), 404, "DELETE tags of unknown leaf")


def test_reference_and_v1_share_data(client):
    leaf = ref_post(client, title="shared", tags=[unique("sh")])
    r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(
        client.get("/v1/leaves/" + leaf["id"], consistent=True)), timeout=5,
        what="v1 GET of a leaf saved through /api/leaves")
    v1 = r.json()
    assert v1["title"] == "shared" and v1["is_archived"] is False, v1


def rss_mb(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_the_reference_list_is_streamed_with_bounded_memory(server_factory):
    import socket
    import time
    srv = server_factory.make()
    big = "w" * (800 * 1024)
    made = set()
    for i in range(60):
        made.add(srv.client.create(title="big %d" % i, content_text=big)["id"])
    full = srv.client.get("/api/leaves", timeout=60)
    assert full.status_code == 200, full.status_code
    answer_mb = len(full.content) / 2**20
    assert made <= {x["id"] for x in full.json()}, "the streamed list misses leaves"
    before = rss_mb(srv)
    socks = []
    for _ in range(4):  # clients that ask and never read
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /api/leaves HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    time.sleep(2)
    grown = rss_mb(srv) - before
    print("reference list of %.0f MB, 4 clients not reading: RSS grew %.0f MB" % (answer_mb, grown))
    for s in socks:
        s.close()
    assert grown < 2 * answer_mb, ("4 clients that do not read a %.0f MB list grew the server by %.0f MB: "
                                   "the answer is built whole" % (answer_mb, grown))
    assert requests.get(srv.base_url + "/healthz", timeout=5).status_code == 200


def test_the_reference_list_over_http_1_0_is_plain_json(server):
    import json
    import socket
    server.client.create()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"GET /api/leaves HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head[:100]
    assert b"chunked" not in head.lower(), "chunked coding sent to an HTTP/1.0 client: %r" % head
    assert isinstance(json.loads(body), list), "the body is not the JSON list: %r" % body[:200]
