"""POST /v1/bulk/leaves."""

from leaves_testlib import describe, expect, expect_error, md5_hex, new_url, unique, wait_until


def bulk(client, items, status=200, what="POST /v1/bulk/leaves"):
    r = client.post("/v1/bulk/leaves", json={"items": items}, timeout=30)
    body = expect(r, status, what)
    assert isinstance(body, dict) and isinstance(body.get("results"), list), "bulk body: %s" % describe(r)
    for k in ("created", "updated", "unchanged", "rejected"):
        assert type(body.get(k)) is int, "bulk body lacks int %r: %s" % (k, describe(r))
    assert len(body["results"]) == len(items), "bulk: %d results for %d items" % (len(body["results"]), len(items))
    assert [x["index"] for x in body["results"]] == list(range(len(items))), (
        "bulk results must be index 0..n-1 in order: %s" % [x.get("index") for x in body["results"]])
    return r, body


def statuses(body):
    return [x["status"] for x in body["results"]]


def counts(body):
    return {k: body[k] for k in ("created", "updated", "unchanged", "rejected")}


def wait_leaf(client, leaf_id, pred=lambda l: True, what=""):
    def probe():
        r = client.get("/v1/leaves/" + leaf_id)
        return r.json() if r.status_code == 200 and pred(r.json()) else None
    return wait_until(probe, timeout=5, what=what or "leaf %s after bulk" % leaf_id)


def test_bulk_mixed(client):
    a, b, c = new_url(), new_url(), new_url()
    custom = unique("custom-")
    tag = unique("bulk")
    items = [
        {"url": a, "title": "A", "tags": [tag]},
        {"url": b, "id": custom, "title": "B", "is_starred": 1},
        {"url": "ftp://example.com/x"},
        {"url": c, "colour": "red", "title": "C"},
        {"title": "no url"},
    ]
    r, body = bulk(client, items)
    assert statuses(body) == ["created", "created", "rejected", "created", "rejected"], (
        "bulk statuses: expected created,created,rejected,created,rejected got %s\n  %s" % (statuses(body), describe(r)))
    assert counts(body) == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 2}, counts(body)
    res = body["results"]
    assert res[0]["id"] == md5_hex(a), "entry without id: expected md5(url) %s, got %r" % (md5_hex(a), res[0]["id"])
    assert res[1]["id"] == custom, "entry with id keeps it: expected %r, got %r" % (custom, res[1]["id"])
    assert res[3]["id"] == md5_hex(c)
    for i in (2, 4):
        err = res[i].get("error")
        assert isinstance(err, dict) and isinstance(err.get("code"), str) and isinstance(err.get("message"), str), (
            "rejected result %d needs error {code,message}: %r" % (i, res[i]))
    assert res[2]["error"]["code"] == "invalid_field" and "url" in res[2]["error"]["message"], res[2]
    for i in (0, 1, 3):
        assert "error" not in res[i] or res[i]["error"] is None, "accepted result %d has an error: %r" % (i, res[i])

    la = wait_leaf(client, md5_hex(a))
    assert la["title"] == "A" and la["tags"] == [tag], la
    lb = wait_leaf(client, custom)
    assert lb["url"] == b and lb["is_starred"] is True, lb
    lc = wait_leaf(client, md5_hex(c))
    assert lc["title"] == "C" and "colour" not in lc, lc
    r = client.get("/v1/leaves/" + md5_hex(b))
    expect_error(r, 404, "leaf_not_found", "a bulk entry with an explicit id is not stored under md5(url)")

    # same again: unchanged; one changed title: updated
    items2 = [dict(items[0]), dict(items[1]), dict(items[3])]
    items2[1]["title"] = "B2"
    r, body = bulk(client, items2, what="bulk again")
    assert statuses(body) == ["unchanged", "updated", "unchanged"], "re-run statuses: %s" % statuses(body)
    assert counts(body) == {"created": 0, "updated": 1, "unchanged": 2, "rejected": 0}, counts(body)
    wait_leaf(client, custom, lambda l: l["title"] == "B2", "bulk update of title to B2")


def test_bulk_empty(client):
    r, body = bulk(client, [], what="bulk with no items")
    assert counts(body) == {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}


def test_bulk_1000_ok(client):
    tag = unique("k")
    items = [{"url": new_url(), "tags": [tag]} for _ in range(1000)]
    r, body = bulk(client, items, what="bulk of 1000 entries")
    assert body["created"] == 1000, counts(body)
    def probe():
        t = expect(client.get("/v1/tags?limit=1000"), 200)
        return {it["tag"]: it["count"] for it in t["items"]}.get(tag) == 1000
    wait_until(probe, timeout=10, what="tag count 1000 after bulk of 1000")


def test_bulk_over_1000_rejected(client):
    items = [{"url": new_url()} for _ in range(1001)]
    r = client.post("/v1/bulk/leaves", json={"items": items}, timeout=30)
    assert 400 <= r.status_code < 500, "bulk of 1001 entries: expected a 4xx error, got\n  %s" % describe(r)
    expect_error(r, r.status_code, None, "bulk of 1001 entries")


def test_bulk_items_not_array(client):
    r = client.post("/v1/bulk/leaves", json={"items": "nope"})
    assert r.status_code in (400, 422), "bulk items not an array: expected 400/422, got\n  %s" % describe(r)
    expect_error(r, r.status_code, None, "bulk items not an array")


def test_bulk_same_url_twice_in_one_batch(client):
    url = new_url()
    r, body = bulk(client, [{"url": url, "title": "x"}, {"url": url, "title": "y"}, {"url": url, "title": "y"}])
    assert statuses(body) == ["created", "updated", "unchanged"], (
        "one URL three times in a batch (x, y, y): expected created, updated, unchanged; got %s" % statuses(body))
    wait_leaf(client, md5_hex(url), lambda l: l["title"] == "y", "title y after bulk")
