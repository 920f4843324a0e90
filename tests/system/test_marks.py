"""Starred and archived are each user's own (docs/auth.md): on another user's
leaf a reader keeps its own marks (PUT /v1/leaves/{id}/marks, or PATCH with
is_starred/is_archived), shown to it alone in GET, lists, search, facets and
exports; the owner's star is the leaf's own flag and is not the reader's."""

import json
import time
import urllib.parse

from leaves_testlib import SSEClient, describe, expect, expect_error, new_url, unique
from test_auth import ADMIN_TOKEN, as_user, make_user


def flags(leaf):
    return (leaf["is_starred"], leaf["is_archived"])


def listed_ids(client, query):
    body = expect(client.get("/v1/leaves?" + query), 200, "list ?" + query)
    return {item["id"] for item in body["items"]}


def searched(client, query):
    body = expect(client.get("/v1/search?" + query), 200, "search ?" + query)
    return {hit["id"]: flags(hit) for hit in body["items"]}


def exported(client, query=""):
    r = client.get("/v1/export?format=jsonl" + query)
    expect(r, 200, "export jsonl")
    return {leaf["id"]: flags(leaf) for leaf in map(json.loads, r.text.splitlines())}


def test_two_readers_of_one_leaf_each_keep_their_own_star(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    word = unique("marks")
    names = {r: unique(r) for r in ("cara", "rita", "ravi")}
    owner = as_user(srv, make_user(admin, names["cara"], "curator")[0])
    rita = as_user(srv, make_user(admin, names["rita"], "reader")[0])
    ravi = as_user(srv, make_user(admin, names["ravi"], "curator")[0])

    # The owner stars its public leaf; a second public leaf and a private one.
    shown = owner.create(url=new_url(), title="shown " + word, is_public=True, is_starred=True)["id"]
    plain = owner.create(url=new_url(), title="plain " + word, is_public=True)["id"]
    private = owner.create(url=new_url(), title="private " + word)["id"]
    for c in (rita, ravi):
        c.positions = dict(owner.positions)  # read after the owner's writes

    got = expect(rita.get("/v1/leaves/" + shown), 200, "the reader reads the public leaf")
    assert flags(got) == (False, False), "the owner's star is not the reader's: got %r" % (flags(got),)

    # A reader (no write scope) marks with PUT .../marks; the answer is the
    # leaf as the reader now sees it.
    r = rita.put("/v1/leaves/%s/marks" % plain, json={"is_starred": True})
    assert flags(expect(r, 200, "a reader stars another's leaf")) == (True, False), describe(r)
    r = rita.put("/v1/leaves/%s/marks" % shown, json={"is_archived": True})
    assert flags(expect(r, 200, "a reader archives another's leaf")) == (False, True), describe(r)
    # A curator that is not the owner marks through PATCH too.
    r = ravi.patch("/v1/leaves/" + shown, json={"is_starred": True, "is_archived": True})
    assert flags(expect(r, 200, "PATCH of flags on another's leaf")) == (True, True), describe(r)
    # ...but PATCH of anything else is still the owner's.
    expect_error(ravi.patch("/v1/leaves/" + shown, json={"title": "mine now"}), 403, None,
                 "another curator changing the title")

    views = {
        "owner": (owner, {shown: (True, False), plain: (False, False)}),
        "rita": (rita, {shown: (False, True), plain: (True, False)}),
        "ravi": (ravi, {shown: (True, True), plain: (False, False)}),
    }

    def check_all(when):
        for who, (c, want) in views.items():
            for leaf_id, f in want.items():
                got = flags(expect(c.get("/v1/leaves/" + leaf_id), 200, "%s reads %s" % (who, leaf_id)))
                assert got == f, "%s: %s sees (starred, archived) of %s as %r, expected %r" % (
                    when, who, leaf_id, got, f)
            starred = {i for i, f in want.items() if f[0]}
            got = listed_ids(c, "starred=true&limit=100") & set(want)
            assert got == starred, "%s: %s's list ?starred=true: expected %r, got %r" % (when, who, starred, got)
            got = listed_ids(c, "starred=false&limit=100") & set(want)
            assert got == set(want) - starred, "%s: %s's list ?starred=false: expected %r, got %r" % (
                when, who, set(want) - starred, got)
            for q in ("q=%s+is:starred" % word, "q=%s&starred=true" % word):
                hits = searched(c, q)
                assert set(hits) == starred, "%s: %s's search ?%s: expected %r, got %r" % (
                    when, who, q, starred, set(hits))
                assert all(hits[i] == want[i] for i in hits), "%s: %s's search hits show %r, expected %r" % (
                    when, who, hits, want)
            archived = {i for i, f in want.items() if f[1]}
            got = set(searched(c, "q=%s+is:archived" % word))
            assert got == archived, "%s: %s's is:archived: expected %r, got %r" % (when, who, archived, got)
            ex = exported(c)
            assert {i: ex.get(i) for i in want} == want, "%s: %s's export shows %r, expected %r" % (
                when, who, {i: ex.get(i) for i in want}, want)

    check_all("after marking")
    srv.restart()
    for c in (admin, owner, rita, ravi):  # the restarted server's port
        c.base = srv.base_url.rstrip("/")
    check_all("after a restart")

    # Unmarking forgets; an owner's PUT .../marks is the leaf's own flag.
    r = rita.put("/v1/leaves/%s/marks" % plain, json={"is_starred": False})
    assert flags(expect(r, 200, "unstar")) == (False, False), describe(r)
    r = owner.put("/v1/leaves/%s/marks" % plain, json={"is_starred": True})
    assert flags(expect(r, 200, "the owner stars through marks")) == (True, False), describe(r)
    rita.positions = dict(owner.positions)
    assert flags(rita.get_leaf(plain)) == (False, False), "the owner's new star is not shown to the reader"
    assert flags(owner.get_leaf(plain)) == (True, False)

    # The reader's marks are events of its user, in the log like the rest.
    events = expect(admin.get("/v1/audit?type=user.leaf_marked&aggregate=user:%s" % names["rita"]), 200,
                    "the audit log")["items"]
    assert len(events) == 3 and all(e["actor"] == names["rita"] for e in events), (
        "rita's three marks should be three user.leaf_marked events of hers, got %r" % events)
    newest = {k: events[0].get(k) for k in ("leaf", "starred", "archived")}
    assert newest == {"leaf": plain, "starred": False, "archived": False}, (
        "the newest of rita's user.leaf_marked events: got %r" % events[0])

    # Errors: what a mark is, a leaf the caller may not see, no token.
    for body, why in (({}, "an empty mark"), ({"is_starred": "yes"}, "a non-boolean"),
                      ({"is_starred": True, "title": "x"}, "another field")):
        expect_error(rita.put("/v1/leaves/%s/marks" % plain, json=body), 422, "invalid_field", why)
    expect_error(rita.put("/v1/leaves/%s/marks" % private, json={"is_starred": True}), 404, "leaf_not_found",
                 "marking a private leaf the reader may not see")
    expect_error(rita.put("/v1/leaves/nope-%s/marks" % word, json={"is_starred": True}), 404, "leaf_not_found",
                 "marking a leaf that does not exist")

    # A leaf deleted after the reader marked it: the mark can be cleared (it
    # would count against the reader's bound forever), not set again.
    expect(owner.delete("/v1/leaves/" + shown), 200, "the owner deletes a leaf rita archived")
    expect_error(rita.put("/v1/leaves/%s/marks" % shown, json={"is_starred": True}), 404, "leaf_not_found",
                 "starring a deleted leaf")
    r = rita.put("/v1/leaves/%s/marks" % shown, json={"is_archived": False})
    assert expect(r, 200, "clearing the mark of a deleted leaf") == {
        "id": shown, "is_starred": False, "is_archived": False, "gone": True}, describe(r)
    expect_error(rita.put("/v1/leaves/%s/marks" % shown, json={"is_archived": False}), 404, "leaf_not_found",
                 "clearing it again: nothing is kept")
    expect_error(as_user(srv, None).put("/v1/leaves/%s/marks" % plain, json={"is_starred": True}), 401,
                 "unauthenticated", "an anonymous mark")


def test_a_live_search_and_a_smart_collection_follow_the_readers_own_marks(server_factory):
    """A live search (GET /v1/stream?q=) and a smart collection's stream match
    is:starred by the subscriber's own marks, as its search does: the update
    of a leaf it starred comes; that of a leaf only the owner starred does
    not (and the owner's own stream shows the opposite)."""
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    word = unique("livemarks")
    owner_token = make_user(admin, unique("cara"), "curator")[0]
    ravi_token = make_user(admin, unique("ravi"), "curator")[0]
    owner, ravi = as_user(srv, owner_token), as_user(srv, ravi_token)
    theirs = owner.create(url=new_url(), title="theirs " + word, is_public=True, is_starred=True)["id"]
    mine = owner.create(url=new_url(), title="mine " + word, is_public=True)["id"]
    ravi.positions = dict(owner.positions)
    expect(ravi.put("/v1/leaves/%s/marks" % mine, json={"is_starred": True}), 200, "ravi stars the owner's leaf")
    smart = expect(ravi.post("/v1/collections", json={"name": "My stars", "query": "is:starred " + word}), 201,
                   "ravi's smart collection")["id"]

    query = "/v1/stream?q=" + urllib.parse.quote("is:starred " + word)
    streams = {
        "ravi's live search": (SSEClient("127.0.0.1", srv.port, query, headers={"Authorization": "Bearer " + ravi_token}),
                               mine, theirs),
        "ravi's smart collection": (SSEClient("127.0.0.1", srv.port, "/v1/stream?collection=" + smart,
                                              headers={"Authorization": "Bearer " + ravi_token}), mine, theirs),
        "the owner's live search": (SSEClient("127.0.0.1", srv.port, query,
                                              headers={"Authorization": "Bearer " + owner_token}), theirs, mine),
    }
    try:
        for name, (sse, _, _) in streams.items():
            assert sse.status == 200, "%s: expected 200, got %s" % (name, sse.status)
        time.sleep(0.2)
        for lid in (theirs, mine):
            expect(owner.patch("/v1/leaves/" + lid, json={"title": "updated " + word}), 200, "the owner updates")
        for name, (sse, want, not_want) in streams.items():
            sse.collect(5.0, until=lambda evs, w=want: any((e.get("json") or {}).get("leaf_id") == w for e in evs))
            sse.collect(0.5)  # the other leaf may sit on another partition
            got = [e["json"]["leaf_id"] for e in sse.events_seen if e.get("json") and "leaf_id" in e["json"]]
            assert got == [want], "%s should carry the update of %s (starred as it sees it) and not of %s; got %r" % (
                name, want, not_want, got)
    finally:
        for sse, _, _ in streams.values():
            sse.close()
