"""GET /v1/leaves/{id}/history: a leaf's events, read back from the log."""

from leaves_testlib import expect, expect_error, new_url


def history(client, leaf_id, query=""):
    return expect(client.get("/v1/leaves/%s/history%s" % (leaf_id, query)), 200, "history")


def test_the_history_lists_every_event_of_the_leaf_oldest_first(client):
    made = client.create(url=new_url(), title="first", tags=["a"])
    lid = made["id"]
    # Other leaves' events in between, some in the same partition.
    for i in range(40):
        client.create(url=new_url(), title="noise %d" % i)
    expect(client.patch("/v1/leaves/%s" % lid, json={"title": "second", "is_starred": True}), 200)
    expect(client.post("/v1/leaves/%s/tags" % lid, json={"tags": ["b"]}), 200)
    expect(client.delete("/v1/leaves/%s/tags" % lid, json={"tags": ["a"]}), 200)
    h = history(client, lid)
    assert h["id"] == lid and h["complete"] is True
    types = [e["type"] for e in h["items"]]
    assert types == ["leaf.created", "leaf.updated", "leaf.tags_added", "leaf.tags_removed"], types
    assert [e["version"] for e in h["items"]] == [1, 2, 3, 4]
    assert h["items"][1]["changes"]["title"] == "second" and h["items"][1]["changes"]["is_starred"] is True
    assert "title" in h["items"][1]["changed"]
    assert h["items"][2]["tags"] == ["b"] and h["items"][3]["tags"] == ["a"]
    parts = {e["position"].split(":")[0] for e in h["items"]}
    assert len(parts) == 1, "one leaf's events are in one partition, got %r" % parts
    offsets = [int(e["position"].split(":")[1]) for e in h["items"]]
    assert offsets == sorted(offsets)
    assert h["items"][0]["time"].endswith("Z")
    # The newest N, and a deleted leaf keeps its history.
    newest = history(client, lid, "?limit=2")
    assert [e["version"] for e in newest["items"]] == [3, 4] and newest["complete"] is False
    expect(client.delete("/v1/leaves/%s" % lid), 200)
    after = history(client, lid)
    assert [e["type"] for e in after["items"]][-1] == "leaf.deleted" and after["complete"] is True


def test_history_refuses_what_it_cannot_answer(client):
    made = client.create(url=new_url(), title="x")
    expect_error(client.get("/v1/leaves/%s/history" % ("e" * 32)), 404, "leaf_not_found")
    expect_error(client.get("/v1/leaves/%s/history?limit=0" % made["id"]), 400, "invalid_query")
    expect_error(client.get("/v1/leaves/%s/history?limit=1001" % made["id"]), 400, "invalid_query")
    expect_error(client.get("/v1/leaves/%s/history?since=1" % made["id"]), 400, "invalid_query")
    long = client.create(url=new_url(), title="t", content="<p>" + "y" * 5000 + "</p>")
    expect(client.patch("/v1/leaves/%s" % long["id"], json={"title": "z" * 1000}), 200)
    cut = history(client, long["id"])["items"][1]["changes"]["title"]
    assert len(cut) == 301 and cut.endswith("…"), "long values are cut to 300 characters, got %d" % len(cut)


def test_a_leaf_as_it_was_at_a_position(client):
    made = client.post("/v1/leaves", json={"url": new_url(), "title": "first", "tags": ["a"]})
    lid = expect(made, 201, "create")["id"]
    at_create = made.headers["Leaves-Position"]
    for i in range(10):
        client.create(url=new_url(), title="noise %d" % i)
    patched = client.patch("/v1/leaves/%s" % lid, json={"title": "second"})
    at_patch = expect(patched, 200, "patch") and patched.headers["Leaves-Position"]
    tagged = client.post("/v1/leaves/%s/tags" % lid, json={"tags": ["b"]})
    at_tags = expect(tagged, 200, "tags") and tagged.headers["Leaves-Position"]
    deleted = client.delete("/v1/leaves/%s" % lid)
    at_delete = expect(deleted, 200, "delete") and deleted.headers["Leaves-Position"]

    for at, title, tags, version in ((at_create, "first", ["a"], 1), (at_patch, "second", ["a"], 2),
                                     (at_tags, "second", ["a", "b"], 3)):
        r = client.get("/v1/leaves/%s?at=%s" % (lid, at))
        leaf = expect(r, 200, "the leaf at %s" % at)
        assert (leaf["title"], leaf["tags"], leaf["version"]) == (title, tags, version), (
            "at %s expected title %r, tags %r, version %d; got %r" % (at, title, tags, version, leaf))
        assert r.headers.get("ETag") == '"%d"' % version and r.headers.get("Leaves-At") == at, r.headers
    expect_error(client.get("/v1/leaves/%s?at=%s" % (lid, at_delete)), 404, "leaf_not_found", "at its deletion")
    part, off = at_create.split(":")
    if int(off) > 0:
        expect_error(client.get("/v1/leaves/%s?at=%s:%d" % (lid, part, int(off) - 1)), 404, "leaf_not_found",
                     "before its creation")
    other = (int(part) + 1) % 8
    expect_error(client.get("/v1/leaves/%s?at=%d:0" % (lid, other)), 400, "invalid_query", "another partition")
    expect_error(client.get("/v1/leaves/%s?at=%s:99999999" % (lid, part)), 400, "invalid_query", "past the end")
    expect_error(client.get("/v1/leaves/%s?at=nope" % lid), 400, "invalid_query", "a malformed position")
    expect_error(client.get("/v1/leaves/%s?at=%s&bogus=1" % (lid, at_create)), 400, "invalid_query", "unknown param")
