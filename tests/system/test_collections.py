"""Teams and collections (docs/collections.md), in every mode of the suite:
who sees and changes a team and a collection, what a collection shows of
its leaves to whom, sharing with a team as viewer or editor, public
collections, nesting, order and paging. Each check says who asked what and
what it expected."""

import os
import time
import xml.etree.ElementTree as ET

from leaves_testlib import (SSEClient, describe_cli, expect, expect_error, metric, new_url, run_cli, unique,
                            wait_until)
from test_auth import ADMIN_TOKEN, as_user, expect_401, make_user

TOKENS = {}


def world(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    people = {"admin": admin, "anon": as_user(srv, None)}
    names = {}
    for who, role in (("ann", "curator"), ("bob", "curator"), ("dave", "curator"), ("carl", "curator"),
                      ("rita", "reader")):
        names[who] = unique(who)
        TOKENS[who] = make_user(admin, names[who], role)[0]
        people[who] = as_user(srv, TOKENS[who])
    # One history of positions for everyone: a read by one waits for the
    # others' writes (Leaves-Min-Position), as on Kafka the projections lag.
    shared = {}
    for c in people.values():
        c.positions = shared
    return srv, people, names


def save(c, public=False):
    return expect(c.post("/v1/leaves", json={"url": new_url(), "title": "t", "is_public": public}), 201, "save")["id"]


def ids(resp, what):
    return [l["id"] for l in expect(resp, 200, what)["items"]]


def test_teams_their_members_and_their_admins(server_factory):
    srv, p, n = world(server_factory)
    ann, bob, carl = p["ann"], p["bob"], p["carl"]
    expect_401(p["anon"].post("/v1/teams", json={"name": "x"}), "anonymous creates a team")
    expect_error(p["rita"].post("/v1/teams", json={"name": "x"}), 403, "permission_denied", "a reader creates a team")
    team = expect(ann.post("/v1/teams", json={"name": "Streaming"}), 201, "ann creates a team")
    tid = team["id"]
    assert team["members"] == [{"user": n["ann"], "role": "admin"}], team
    expect_error(ann.post("/v1/teams", json={"name": ""}), 422, "invalid_field", "an empty name")
    expect_error(ann.post("/v1/teams", json={"name": "x", "colour": "red"}), 422, "invalid_field", "an unknown field")

    got = expect(ann.put("/v1/teams/%s/members/%s" % (tid, n["bob"]), json={"role": "member"}), 200, "add bob")
    assert {"user": n["bob"], "role": "member"} in got["members"], got
    expect_error(ann.put("/v1/teams/%s/members/nobody-%s" % (tid, unique("x")), json={}), 404, "user_not_found",
                 "a user that does not exist")
    expect_error(ann.put("/v1/teams/%s/members/%s" % (tid, n["bob"]), json={"role": "boss"}), 422, "invalid_field")

    # Members see the team; others do not learn it exists; only its admins change it.
    assert expect(bob.get("/v1/teams/" + tid), 200, "a member reads the team")["name"] == "Streaming"
    assert tid in [t["id"] for t in expect(bob.get("/v1/teams"), 200, "bob's teams")["items"]]
    expect_error(carl.get("/v1/teams/" + tid), 404, "team_not_found", "an outsider reads the team")
    assert tid not in [t["id"] for t in expect(carl.get("/v1/teams"), 200, "carl's teams")["items"]]
    assert tid in [t["id"] for t in expect(p["admin"].get("/v1/teams"), 200, "the admin's teams")["items"]]
    expect_error(bob.put("/v1/teams/%s/members/%s" % (tid, n["carl"]), json={}), 403, "permission_denied",
                 "a member adds someone")
    expect_error(carl.patch("/v1/teams/" + tid, json={"name": "Mine"}), 404, "team_not_found", "an outsider renames")
    expect_error(bob.delete("/v1/teams/" + tid), 403, "permission_denied", "a member deletes the team")

    # The team keeps an admin.
    expect_error(ann.put("/v1/teams/%s/members/%s" % (tid, n["ann"]), json={"role": "member"}), 409,
                 "last_team_admin", "the last admin steps down")
    expect_error(ann.delete("/v1/teams/%s/members/%s" % (tid, n["ann"])), 409, "last_team_admin")
    # A member may leave by itself.
    got = expect(bob.delete("/v1/teams/%s/members/%s" % (tid, n["bob"])), 200, "bob leaves")
    assert n["bob"] not in [m["user"] for m in got["members"]]
    expect_error(bob.get("/v1/teams/" + tid), 404, "team_not_found", "bob after leaving")
    assert expect(ann.patch("/v1/teams/" + tid, json={"name": "Streams"}), 200, "rename")["name"] == "Streams"
    expect(ann.delete("/v1/teams/" + tid), 204, "ann deletes the team")
    expect_error(ann.get("/v1/teams/" + tid), 404, "team_not_found", "a deleted team")


def test_collections_shared_with_teams_and_the_public(server_factory):
    srv, p, n = world(server_factory)
    ann, bob, dave, carl, anon = p["ann"], p["bob"], p["dave"], p["carl"], p["anon"]
    mine = save(ann)                 # ann's private leaf
    theirs = save(carl, public=True)  # carl's public leaf
    secret = save(carl)              # carl's private leaf
    col = expect(ann.post("/v1/collections", json={"name": "Kafka", "description": "logs\nand streams"}), 201,
                 "ann creates a collection")
    cid = col["id"]
    assert (col["owner"], col["access"], col["is_public"], col["parent"]) == (n["ann"], "manage", False, None), col
    expect(ann.post("/v1/collections/%s/leaves" % cid, json={"id": mine}), 201, "ann adds her leaf")
    expect(ann.post("/v1/collections/%s/leaves" % cid, json={"id": theirs, "position": 0}), 201, "ann adds a public one")
    expect_error(ann.post("/v1/collections/%s/leaves" % cid, json={"id": secret}), 404, "leaf_not_found",
                 "ann adds carl's private leaf")
    assert ids(ann.get("/v1/collections/%s/leaves" % cid), "ann's view") == [theirs, mine]
    expect(ann.put("/v1/collections/%s/leaves/%s" % (cid, mine), json={"position": 0}), 200, "move to the top")
    assert ids(ann.get("/v1/collections/%s/leaves" % cid), "after the move") == [mine, theirs]
    # Paging.
    first = expect(ann.get("/v1/collections/%s/leaves?limit=1" % cid), 200, "a page of one")
    assert [l["id"] for l in first["items"]] == [mine] and first["total"] == 2 and first["next_page_token"], first
    second = expect(ann.get("/v1/collections/%s/leaves?limit=1&page_token=%s" % (cid, first["next_page_token"])), 200)
    assert [l["id"] for l in second["items"]] == [theirs] and second["next_page_token"] is None, second

    # Not shared: nobody else learns it exists.
    for who in ("bob", "carl", "anon"):
        expect_error(p[who].get("/v1/collections/" + cid), 404, "collection_not_found", who + " reads a private collection")
        assert cid not in [c["id"] for c in expect(p[who].get("/v1/collections"), 200)["items"]], who
    expect_error(bob.get("/v1/leaves/" + mine), 404, "leaf_not_found", "bob reads ann's private leaf")

    # Shared with a team as viewer: its members read it and ann's private leaf in it.
    tid = expect(ann.post("/v1/teams", json={"name": "Readers"}), 201)["id"]
    expect(ann.put("/v1/teams/%s/members/%s" % (tid, n["bob"]), json={"role": "member"}), 200)
    expect(ann.put("/v1/teams/%s/members/%s" % (tid, n["dave"]), json={"role": "editor"}), 200)
    expect(ann.put("/v1/collections/%s/shares/%s" % (cid, tid), json={"role": "viewer"}), 200, "share as viewer")
    got = expect(bob.get("/v1/collections/" + cid), 200, "bob reads the shared collection")
    assert got["access"] == "view" and got["shares"] == [{"team": tid, "role": "viewer"}], got
    assert ids(bob.get("/v1/collections/%s/leaves" % cid), "bob's view") == [mine, theirs]
    assert expect(bob.get("/v1/leaves/" + mine), 200, "bob reads ann's leaf through the collection")["id"] == mine
    expect_error(carl.get("/v1/leaves/" + mine), 404, "leaf_not_found", "carl is in no team")
    # The collection's Atom feed: what reaches the reader through it, in its order.
    feed = bob.get("/v1/feed?collection=" + cid)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("application/atom+xml"), feed.text[:300]
    entries = [e.find("{http://www.w3.org/2005/Atom}id").text
               for e in ET.fromstring(feed.content).findall("{http://www.w3.org/2005/Atom}entry")]
    assert [e.rsplit(":", 1)[-1] for e in entries] == [mine, theirs], "bob's feed of the collection: %r" % entries
    expect_error(carl.get("/v1/feed?collection=" + cid), 404, "collection_not_found", "carl's feed of it")
    expect_error(bob.patch("/v1/collections/" + cid, json={"name": "Mine"}), 403, "permission_denied",
                 "a viewer renames")
    expect_error(dave.patch("/v1/collections/" + cid, json={"name": "Mine"}), 403, "permission_denied",
                 "an editor of a team with a viewer share renames")

    # As editor: the team's editors change it (but not who sees it); its plain members still only read.
    expect(ann.put("/v1/collections/%s/shares/%s" % (cid, tid), json={"role": "editor"}), 200, "share as editor")
    got = expect(dave.patch("/v1/collections/" + cid, json={"name": "Kafka & co"}), 200, "dave renames")
    assert got["name"] == "Kafka & co" and got["access"] == "edit", got
    expect_error(dave.patch("/v1/collections/" + cid, json={"is_public": True}), 403, "permission_denied",
                 "an editor publishes")
    expect_error(dave.put("/v1/collections/%s/shares/%s" % (cid, tid), json={"role": "viewer"}), 403,
                 "permission_denied", "an editor changes the shares")
    expect_error(bob.post("/v1/collections/%s/leaves" % cid, json={"id": theirs}), 403, "permission_denied",
                 "a plain member adds a leaf")
    dave_private = save(dave)
    expect(dave.post("/v1/collections/%s/leaves" % cid, json={"id": dave_private}), 201, "dave adds his private leaf")
    assert dave_private in ids(bob.get("/v1/collections/%s/leaves" % cid), "bob after dave's add")

    # Public: everyone reads it, but a private leaf is not opened by that alone.
    expect(ann.patch("/v1/collections/" + cid, json={"is_public": True}), 200, "ann publishes")
    assert expect(anon.get("/v1/collections/" + cid), 200, "anonymous reads a public collection")["access"] == "view"
    assert ids(anon.get("/v1/collections/%s/leaves" % cid), "anonymous view") == [theirs]
    assert ids(carl.get("/v1/collections/%s/leaves" % cid), "carl's view") == [theirs]
    expect_error(carl.patch("/v1/collections/" + cid, json={"name": "x"}), 403, "permission_denied",
                 "an outsider changes a public collection")

    # Unshared: the team's members lose it at once (it is still public: they see the public part).
    expect(ann.patch("/v1/collections/" + cid, json={"is_public": False}), 200)
    expect(ann.delete("/v1/collections/%s/shares/%s" % (cid, tid)), 200, "unshare")
    expect_error(bob.get("/v1/collections/" + cid), 404, "collection_not_found", "bob after the unshare")
    expect_error(bob.get("/v1/leaves/" + mine), 404, "leaf_not_found", "bob reads ann's leaf after the unshare")

    # Removing a leaf.
    expect(ann.delete("/v1/collections/%s/leaves/%s" % (cid, theirs)), 200, "remove a leaf")
    expect_error(ann.delete("/v1/collections/%s/leaves/%s" % (cid, theirs)), 404, "leaf_not_in_collection")


def test_nested_collections_and_their_limits(server_factory):
    srv, p, n = world(server_factory)
    ann, bob = p["ann"], p["bob"]
    top = expect(ann.post("/v1/collections", json={"name": "Top"}), 201)["id"]
    mid = expect(ann.post("/v1/collections", json={"name": "Mid", "parent": top}), 201)["id"]
    low = expect(ann.post("/v1/collections", json={"name": "Low", "parent": mid}), 201)
    assert [c["name"] for c in low["breadcrumb"]] == ["Top", "Mid"], low
    assert [c["id"] for c in expect(ann.get("/v1/collections?parent=" + top), 200)["items"]] == [mid]
    assert top in [c["id"] for c in expect(ann.get("/v1/collections?parent=none"), 200)["items"]]
    expect_error(ann.patch("/v1/collections/" + top, json={"parent": low["id"]}), 422, "invalid_parent", "a cycle")
    expect_error(ann.patch("/v1/collections/" + top, json={"parent": top}), 422, "invalid_parent", "its own parent")
    expect_error(bob.post("/v1/collections", json={"name": "Mine", "parent": top}), 422, "invalid_parent",
                 "bob nests under a collection he cannot see")
    expect_error(ann.delete("/v1/collections/" + mid), 409, "has_children", "delete with a child inside")
    expect(ann.patch("/v1/collections/" + low["id"], json={"parent": None}), 200, "move to the top level")
    expect(ann.delete("/v1/collections/" + mid), 204, "delete the now empty one")
    expect_error(ann.get("/v1/collections/" + mid), 404, "collection_not_found", "a deleted collection")
    expect_error(ann.post("/v1/collections", json={"name": "x" * 201}), 422, "invalid_field", "a long name")
    expect_error(ann.get("/v1/collections/%s/leaves?page_token=zz" % top), 400, "invalid_query", "a bad token")
    expect_401(p["anon"].post("/v1/collections", json={"name": "x"}), "anonymous creates a collection")


def test_a_collections_stream_carries_its_leaves_to_who_it_reaches(server_factory):
    """GET /v1/stream?collection=: the events of the collection's leaves that
    reach the subscriber through it; after the unshare, none."""
    srv, p, n = world(server_factory)
    ann, bob = p["ann"], p["bob"]
    inside, outside = save(ann), save(ann)
    cid = expect(ann.post("/v1/collections", json={"name": "Live"}), 201)["id"]
    expect(ann.post("/v1/collections/%s/leaves" % cid, json={"id": inside}), 201)
    expect_error(bob.get("/v1/stream?collection=" + cid), 404, "collection_not_found", "bob streams before the share")
    tid = expect(ann.post("/v1/teams", json={"name": "Watchers"}), 201)["id"]
    expect(ann.put("/v1/teams/%s/members/%s" % (tid, n["bob"]), json={}), 200)
    expect(ann.put("/v1/collections/%s/shares/%s" % (cid, tid), json={}), 200)
    sse = SSEClient("127.0.0.1", srv.port, "/v1/stream?collection=" + cid,
                    headers={"Authorization": "Bearer " + TOKENS["bob"]})
    assert sse.status == 200, "bob streams the shared collection, got %s" % sse.status
    time.sleep(0.2)
    expect(ann.patch("/v1/leaves/" + outside, json={"title": "not in the collection"}), 200)
    expect(ann.patch("/v1/leaves/" + inside, json={"title": "in the collection"}), 200)
    got = sse.collect(5.0, until=lambda evs: any((e.get("json") or {}).get("leaf_id") == inside for e in evs))
    leaves = [e["json"]["leaf_id"] for e in got if e.get("json") and "leaf_id" in e["json"]]
    assert leaves == [inside], "bob's stream should carry only the collection's leaf, got %r" % leaves
    # Unshared: the stream goes on but carries nothing of the collection.
    expect(ann.delete("/v1/collections/%s/shares/%s" % (cid, tid)), 200)
    expect(ann.patch("/v1/leaves/" + inside, json={"title": "after the unshare"}), 200)
    later = sse.collect(1.5)
    sse.close()
    leaves = [e["json"]["leaf_id"] for e in later if e.get("json") and "leaf_id" in e["json"]]
    assert leaves == [], "after the unshare bob's stream carried %r" % leaves


def test_a_collections_stream_carries_its_own_events(server_factory):
    """The collection's own events (leaf added, moved, removed, renamed,
    deleted) reach its stream, live and when catching up; no other stream."""
    srv, p, n = world(server_factory)
    ann = p["ann"]
    a, b = save(ann), save(ann)
    cid = expect(ann.post("/v1/collections", json={"name": "Own events"}), 201)["id"]
    other = expect(ann.post("/v1/collections", json={"name": "Another"}), 201)["id"]
    auth = {"Authorization": "Bearer " + TOKENS["ann"]}
    live = SSEClient("127.0.0.1", srv.port, "/v1/stream?collection=" + cid, headers=auth)
    elsewhere = SSEClient("127.0.0.1", srv.port, "/v1/stream?collection=" + other, headers=auth)
    plain = SSEClient("127.0.0.1", srv.port, "/v1/stream", headers=auth)
    for s in (live, elsewhere, plain):
        assert s.status == 200, "a stream opens, got %s" % s.status
    time.sleep(0.2)
    expect(ann.post("/v1/collections/%s/leaves" % cid, json={"id": a}), 201, "add a")
    expect(ann.post("/v1/collections/%s/leaves" % cid, json={"id": b}), 201, "add b")
    expect(ann.put("/v1/collections/%s/leaves/%s" % (cid, b), json={"position": 0}), 200, "move b first")
    expect(ann.patch("/v1/collections/" + cid, json={"name": "Renamed"}), 200, "rename")
    expect(ann.delete("/v1/collections/%s/leaves/%s" % (cid, a)), 200, "remove a")
    expect(ann.delete("/v1/collections/" + cid), 204, "delete the collection")
    want = [("collection.leaf_added", a), ("collection.leaf_added", b), ("collection.leaf_moved", b),
            ("collection.updated", None), ("collection.leaf_removed", a), ("collection.deleted", None)]

    def own(evs):
        return [(e["event"], e["json"].get("leaf_id")) for e in evs
                if e.get("json") and e["event"].startswith("collection.")]
    got = live.collect(5.0, until=lambda evs: len(own(evs)) >= len(want))
    assert own(got) == want, "the collection's stream should carry its own events in order:\n  want %r\n  got  %r" % (
        want, own(got))
    last = [e["json"] for e in got if e.get("json") and e["event"] == "collection.updated"][0]
    assert last["collection_id"] == cid and last["data"].get("name") == "Renamed" and last["actor"] == n["ann"], last
    assert ":" in last["position"] and last["cursor"], last
    not_here = elsewhere.collect(0.5) + plain.collect(0.1)
    live.close(), elsewhere.close(), plain.close()
    assert own(not_here) == [], "another collection's stream and the plain stream carried %r" % own(not_here)

    # Catching up from the beginning gives the same events, from the log.
    expect(ann.post("/v1/collections/%s/leaves" % other, json={"id": a}), 201, "add a to the other")
    again = SSEClient("127.0.0.1", srv.port, "/v1/stream?collection=%s&from=beginning" % other, headers=auth)
    caught = again.collect(5.0, until=lambda evs: len(own(evs)) >= 2)
    again.close()
    assert own(caught) == [("collection.created", None), ("collection.leaf_added", a)], (
        "catch-up of the other collection from the beginning: %r" % own(caught))
    # Someone the collection does not reach cannot open its stream.
    expect_error(p["bob"].get("/v1/stream?collection=" + other), 404, "collection_not_found", "bob, not shared")

    # A public collection holding its owner's private leaf: an anonymous
    # reader's stream carries the public leaf's leaf_added, and nothing that
    # names the private one (as its leaf page hides it).
    opened = expect(ann.post("/v1/collections", json={"name": "Open", "is_public": True}), 201)["id"]
    anon = SSEClient("127.0.0.1", srv.port, "/v1/stream?collection=" + opened)
    assert anon.status == 200, "anyone streams a public collection, got %s" % anon.status
    time.sleep(0.2)
    secret, shown = save(ann), save(ann, public=True)
    expect(ann.post("/v1/collections/%s/leaves" % opened, json={"id": secret}), 201, "add the private leaf")
    expect(ann.post("/v1/collections/%s/leaves" % opened, json={"id": shown}), 201, "add the public leaf")
    seen = anon.collect(5.0, until=lambda evs: any((e.get("json") or {}).get("leaf_id") == shown for e in evs))
    anon.close()
    named = [e["json"].get("leaf_id") for e in seen if e.get("json")]
    assert shown in named and secret not in named, (
        "the anonymous stream should name the public leaf %s and never the private %s, got %r" % (shown, secret, named))


def test_a_smart_collection_is_a_saved_search(server_factory):
    """A collection with a query: its leaves are the search's matches that the
    reader may see (it opens no private leaf), newest first, live on its
    stream and in its feed; its list cannot be edited by hand."""
    srv, p, n = world(server_factory)
    ann, bob, carl = p["ann"], p["bob"], p["carl"]
    word = unique("smart")

    def save_titled(c, title, public):
        return expect(c.post("/v1/leaves", json={"url": new_url(), "title": title, "is_public": public}), 201)["id"]
    ann_private = save_titled(ann, word + " ann's notes", False)
    carl_public = save_titled(carl, word + " carl's article", True)
    save_titled(carl, "something else entirely", True)
    expect_error(ann.post("/v1/collections", json={"name": "Bad", "query": "(unclosed"}), 422, "invalid_field",
                 "a query the search cannot read")
    smart = expect(ann.post("/v1/collections", json={"name": "Smart " + word, "query": word}), 201, "a smart one")
    sid = smart["id"]
    assert smart["query"] == word, smart
    assert ids(ann.get("/v1/collections/%s/leaves" % sid), "ann's matches") == [carl_public, ann_private]
    expect_error(ann.post("/v1/collections/%s/leaves" % sid, json={"id": carl_public}), 422, "smart_collection",
                 "adding by hand to a smart collection")
    manual = expect(ann.post("/v1/collections", json={"name": "Manual"}), 201)["id"]
    expect_error(ann.patch("/v1/collections/" + manual, json={"query": word}), 422, "not_smart",
                 "giving a plain collection a query")

    tid = expect(ann.post("/v1/teams", json={"name": "Smart readers"}), 201)["id"]
    expect(ann.put("/v1/teams/%s/members/%s" % (tid, n["bob"]), json={}), 200)
    expect(ann.put("/v1/collections/%s/shares/%s" % (sid, tid), json={}), 200)
    assert ids(bob.get("/v1/collections/%s/leaves" % sid), "bob's matches") == [carl_public], (
        "a smart collection shows a reader what its search shows him")

    sse = SSEClient("127.0.0.1", srv.port, "/v1/stream?collection=" + sid,
                    headers={"Authorization": "Bearer " + TOKENS["bob"]})
    assert sse.status == 200, "bob streams the smart collection, got %s" % sse.status
    time.sleep(0.2)
    save_titled(carl, "no match here", True)
    later = save_titled(carl, word + " carl's follow-up", True)
    got = sse.collect(5.0, until=lambda evs: any((e.get("json") or {}).get("leaf_id") == later for e in evs))
    sse.close()
    leaves = [e["json"]["leaf_id"] for e in got if e.get("json") and "leaf_id" in e["json"]]
    assert leaves == [later], "bob's stream of the smart collection should carry the new match only, got %r" % leaves

    def feed_entries():
        feed = bob.get("/v1/feed?collection=" + sid)
        assert feed.status_code == 200, feed.text[:300]
        return [e.find("{http://www.w3.org/2005/Atom}id").text.rsplit(":", 1)[-1]
                for e in ET.fromstring(feed.content).findall("{http://www.w3.org/2005/Atom}entry")]
    # A feed reader sends no position: the index takes its time to have the new match.
    entries = wait_until(lambda: (lambda got: got if later in got else None)(feed_entries()), timeout=10,
                         what="the new match in the feed")
    assert entries == [later, carl_public], "bob's feed of the smart collection: %r" % entries
    got = expect(ann.patch("/v1/collections/" + sid, json={"query": word + " follow-up"}), 200, "a new query")
    assert got["query"] == word + " follow-up", got
    assert ids(ann.get("/v1/collections/%s/leaves" % sid), "after the new query") == [later]


def test_nobody_but_its_owner_makes_a_collection_open_a_private_leaf(server_factory):
    """Vouching is the owner's act: a leaf added by someone else while it was
    public stays closed once its owner makes it private, also after its
    owner is put into a team that edits the collection; a reader who sees a
    private leaf through one collection cannot open it through another."""
    srv, p, n = world(server_factory)
    ann, bob, carl, dave = p["ann"], p["bob"], p["carl"], p["dave"]
    alices = expect(carl.post("/v1/leaves", json={"url": new_url(), "title": "carl's", "is_public": True}), 201)["id"]
    cid = expect(bob.post("/v1/collections", json={"name": "Bob's"}), 201)["id"]
    expect(bob.post("/v1/collections/%s/leaves" % cid, json={"id": alices}), 201, "bob adds carl's public leaf")
    expect(carl.patch("/v1/leaves/" + alices, json={"is_public": False}), 200, "carl makes it private")
    tid = expect(bob.post("/v1/teams", json={"name": "Trap"}), 201)["id"]
    expect(bob.put("/v1/teams/%s/members/%s" % (tid, n["carl"]), json={"role": "editor"}), 200, "carl put in bob's team")
    expect(bob.put("/v1/teams/%s/members/%s" % (tid, n["dave"]), json={"role": "member"}), 200)
    expect(bob.put("/v1/collections/%s/shares/%s" % (cid, tid), json={"role": "editor"}), 200)
    assert ids(bob.get("/v1/collections/%s/leaves" % cid), "bob's view") == [], "carl's private leaf shown to bob"
    assert ids(dave.get("/v1/collections/%s/leaves" % cid), "dave's view") == [], "carl's private leaf shown to dave"
    expect_error(bob.get("/v1/leaves/" + alices), 404, "leaf_not_found", "bob reads carl's private leaf")
    assert ids(carl.get("/v1/collections/%s/leaves" % cid), "carl's own view") == [alices]

    # ann shares her own private leaf with dave's team; dave cannot pass it on through a collection of his.
    mine = save(ann)
    shared = expect(ann.post("/v1/collections", json={"name": "Ann's"}), 201)["id"]
    expect(ann.post("/v1/collections/%s/leaves" % shared, json={"id": mine}), 201)
    team = expect(ann.post("/v1/teams", json={"name": "Ann's readers"}), 201)["id"]
    expect(ann.put("/v1/teams/%s/members/%s" % (team, n["dave"]), json={}), 200)
    expect(ann.put("/v1/collections/%s/shares/%s" % (shared, team), json={}), 200)
    expect(dave.get("/v1/leaves/" + mine), 200, "dave reads ann's leaf through her collection")
    his = expect(dave.post("/v1/collections", json={"name": "Dave's"}), 201)["id"]
    expect(dave.post("/v1/collections/%s/leaves" % his, json={"id": mine}), 201, "dave adds what he may read")
    hteam = expect(dave.post("/v1/teams", json={"name": "Dave's friends"}), 201)["id"]
    expect(dave.put("/v1/teams/%s/members/%s" % (hteam, n["carl"]), json={}), 200)
    expect(dave.put("/v1/collections/%s/shares/%s" % (his, hteam), json={}), 200)
    assert ids(carl.get("/v1/collections/%s/leaves" % his), "carl through dave's collection") == [], (
        "dave passed ann's private leaf on")
    expect_error(carl.get("/v1/leaves/" + mine), 404, "leaf_not_found", "carl reads ann's leaf")
    # When the team goes, so does what it opened.
    expect(ann.delete("/v1/teams/" + team), 204, "ann deletes her team")
    expect_error(dave.get("/v1/leaves/" + mine), 404, "leaf_not_found", "dave after the team is gone")
    expect_error(dave.get("/v1/collections/" + shared), 404, "collection_not_found", "dave after the team is gone")


def test_readers_view_and_hidden_children_do_not_block(server_factory):
    srv, p, n = world(server_factory)
    ann, bob, rita = p["ann"], p["bob"], p["rita"]
    cid = expect(ann.post("/v1/collections", json={"name": "Top"}), 201)["id"]
    tid = expect(ann.post("/v1/teams", json={"name": "Editors"}), 201)["id"]
    for who in ("bob", "rita"):
        expect(ann.put("/v1/teams/%s/members/%s" % (tid, n[who]), json={"role": "editor"}), 200)
    expect(ann.put("/v1/collections/%s/shares/%s" % (cid, tid), json={"role": "editor"}), 200)
    assert expect(rita.get("/v1/collections/" + cid), 200)["access"] == "view", "a reader's role only views"
    expect_error(rita.patch("/v1/collections/" + cid, json={"name": "x"}), 403, "permission_denied", "a reader edits")
    assert expect(bob.get("/v1/collections/" + cid), 200)["access"] == "edit"
    # bob nests a collection of his own, shared with nobody, under ann's: ann cannot see it, and may still delete hers.
    expect(bob.post("/v1/collections", json={"name": "Bob's corner", "parent": cid}), 201, "bob nests his own")
    expect(ann.delete("/v1/collections/" + cid), 204, "ann deletes hers despite a child she cannot see")


def test_a_restart_loads_the_directory_model_and_replay_rebuilds_it(server_factory, leaves_bin):
    # Users, teams, collections and marks are saved to a read model (under
    # the data dir, or Cassandra's tables) with the log positions they are
    # valid through: a restart loads it and reads only the log after them.
    srv, p, n = world(server_factory)
    ann, bob = p["ann"], p["bob"]
    mine = save(ann)
    cid = expect(ann.post("/v1/collections", json={"name": "Kept"}), 201, "ann creates a collection")["id"]
    expect(ann.post("/v1/collections/%s/leaves" % cid, json={"id": mine}), 201, "ann adds her leaf")
    tid = expect(ann.post("/v1/teams", json={"name": "Keepers"}), 201, "ann creates a team")["id"]
    expect(ann.put("/v1/teams/%s/members/%s" % (tid, n["bob"]), json={"role": "member"}), 200, "bob joins")
    expect(ann.put("/v1/collections/%s/shares/%s" % (cid, tid), json={"role": "viewer"}), 200, "share with the team")
    expect(bob.put("/v1/leaves/%s/marks" % mine, json={"is_starred": True}), 200, "bob stars ann's leaf")
    appended = metric(p["admin"], "leaves_events_appended_total")

    def seen_by_bob():
        col = expect(bob.get("/v1/collections/" + cid), 200, "bob reads the shared collection")
        leaves = expect(bob.get("/v1/collections/%s/leaves" % cid), 200, "bob lists its leaves")["items"]
        teams = [t["id"] for t in expect(bob.get("/v1/teams"), 200, "bob's teams")["items"]]
        return (col["name"], col["access"], [(l["id"], l["is_starred"]) for l in leaves], teams)

    before = seen_by_bob()
    assert before == ("Kept", "view", [(mine, True)], [tid]), before

    srv.restart()
    admin = as_user(srv, ADMIN_TOKEN)
    loaded = metric(admin, "leaves_directory_model_rows_loaded")
    read = metric(admin, "leaves_directory_records_read_at_start")
    # Six users, the team, the collection, bob's mark.
    assert loaded >= 9, "a restart should load the directory model: %s rows loaded" % loaded
    # After a clean stop the model's positions are where the directory was;
    # on Kafka its consumer may still have been a poll behind.
    on_kafka = bool(os.environ.get("LEAVES_TEST_KAFKA"))
    assert read < appended if on_kafka else read == 0, (
        "a restart should read only the log after the model's positions: read %s records, this server appended %s"
        % (read, appended))
    bob = as_user(srv, TOKENS["bob"])
    assert seen_by_bob() == before, "after a restart bob sees %r, before %r" % (seen_by_bob(), before)

    srv.stop()
    res = run_cli(leaves_bin, ["replay", "--data-dir", srv.data_dir] + srv.backend_args, timeout=300)
    assert res.returncode == 0, "leaves replay: expected exit 0\n  %s" % describe_cli(res)
    assert "rebuilt the directory model" in res.stdout, "leaves replay should say it rebuilt the directory model:\n%s" \
        % describe_cli(res)
    srv.start()
    admin = as_user(srv, ADMIN_TOKEN)
    assert metric(admin, "leaves_directory_model_rows_loaded") >= 9, "the replayed model should load at the start"
    bob = as_user(srv, TOKENS["bob"])
    assert seen_by_bob() == before, "after `leaves replay` bob sees %r, before %r" % (seen_by_bob(), before)
