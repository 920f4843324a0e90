"""The permissions matrix (docs/auth.md): every kind of caller against every
leaf route, on a leaf of its own, someone else's private one, someone
else's private one shared with the caller's team through a collection, and
someone else's public one; the account routes against one's own user and
another's.
Under the default --anonymous read. Each cell says the status it expects;
a failure lists every cell that differs, not only the first.

Collections and teams have their own matrix in test_collections.py."""

import json
import xml.etree.ElementTree as ET

from leaves_testlib import new_url, unique, wait_until
from test_auth import ADMIN_TOKEN, as_user, make_user

# Who asks: the anonymous caller, a reader, the curator who owns the leaf,
# another curator, an admin.
WHO = ("anon", "reader", "owner", "other", "admin")


def leaf_reads(leaf_id, at):
    return [
        ("GET /v1/leaves/{id}", lambda c: c.get("/v1/leaves/" + leaf_id)),
        ("GET /v1/leaves/{id}/content", lambda c: c.get("/v1/leaves/%s/content" % leaf_id)),
        ("GET /v1/leaves/{id}/history", lambda c: c.get("/v1/leaves/%s/history" % leaf_id)),
        ("GET /v1/leaves/{id}?at=", lambda c: c.get("/v1/leaves/%s?at=%s" % (leaf_id, at))),
        ("GET /api/leaves/{id}", lambda c: c.get("/api/leaves/" + leaf_id)),
        ("GET /api/leaves/{id}/tags", lambda c: c.get("/api/leaves/%s/tags" % leaf_id)),
    ]


def leaf_writes(leaf_id):
    return [
        ("PATCH /v1/leaves/{id}", lambda c: c.patch("/v1/leaves/" + leaf_id, json={"title": "changed"})),
        ("POST /v1/leaves/{id}/tags", lambda c: c.post("/v1/leaves/%s/tags" % leaf_id, json={"tags": ["t1"]})),
        ("PUT /v1/leaves/{id}/tags", lambda c: c.put("/v1/leaves/%s/tags" % leaf_id, json={"tags": ["t2"]})),
        ("DELETE /v1/leaves/{id}/tags", lambda c: c.request("DELETE", "/v1/leaves/%s/tags" % leaf_id,
                                                            json={"tags": ["t2"]})),
        ("PATCH /api/leaves/{id}", lambda c: c.patch("/api/leaves/" + leaf_id, json={"title": "changed"})),
        ("POST /api/leaves/{id}/tags", lambda c: c.post("/api/leaves/%s/tags" % leaf_id, json={"tags": ["t3"]})),
        ("DELETE /api/leaves/{id}/tags", lambda c: c.delete("/api/leaves/%s/tags" % leaf_id)),
        ("DELETE /v1/leaves/{id}", lambda c: c.delete("/v1/leaves/" + leaf_id)),
        ("DELETE /api/leaves/{id}", lambda c: c.delete("/api/leaves/" + leaf_id)),
    ]


# Expected status per caller, by kind of route and whose leaf it is.
READ = {
    "private": {"anon": 404, "reader": 404, "owner": 200, "other": 404, "admin": 200},
    # In a collection shared with the team of the reader and the other curator.
    "shared": {"anon": 404, "reader": 200, "owner": 200, "other": 200, "admin": 200},
    "public": {"anon": 200, "reader": 200, "owner": 200, "other": 200, "admin": 200},
}
WRITE = {
    # No token: 401; a reader's role has no write scope: 403 before the leaf
    # is looked at; another curator: a private leaf is not there (404), a
    # public one is not theirs (403).
    "private": {"anon": 401, "reader": 403, "owner": 200, "other": 404, "admin": 200},
    # Seen through the collection, not the other's to change: 403.
    "shared": {"anon": 401, "reader": 403, "owner": 200, "other": 403, "admin": 200},
    "public": {"anon": 401, "reader": 403, "owner": 200, "other": 403, "admin": 200},
}


def test_every_caller_on_every_leaf_route(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    names = {"reader": unique("r"), "owner": unique("o"), "other": unique("c")}
    tokens = {k: make_user(admin, n, "reader" if k == "reader" else "curator")[0] for k, n in names.items()}
    clients = {"anon": as_user(srv, None), "admin": admin}
    clients.update({k: as_user(srv, t) for k, t in tokens.items()})
    owner = clients["owner"]
    # The owner's collection, shared (as editor) with a team of the reader and the other curator.
    shelf = owner.post("/v1/collections", json={"name": "Shared shelf"}).json()["id"]
    team = owner.post("/v1/teams", json={"name": "Readers"}).json()["id"]
    for k in ("reader", "other"):
        assert owner.put("/v1/teams/%s/members/%s" % (team, names[k]), json={}).status_code == 200
    assert owner.put("/v1/collections/%s/shares/%s" % (shelf, team), json={"role": "editor"}).status_code == 200

    def fresh(kind):
        body = owner.post("/v1/leaves", json={"url": new_url(), "title": "t", "tags": ["m"], "content": "<p>c</p>",
                                              "is_public": kind == "public"})
        assert body.status_code == 201, "the owner saves a %s leaf: %s" % (kind, body.text)
        position = body.headers["Leaves-Position"]
        if kind == "shared":
            added = owner.post("/v1/collections/%s/leaves" % shelf, json={"id": body.json()["id"]})
            assert added.status_code == 201, "the owner adds the leaf to the shared collection: %s" % added.text
        for c in clients.values():
            c.positions = dict(owner.positions)
        return body.json()["id"], position

    wrong = []
    for kind in ("private", "shared", "public"):
        leaf_id, at = fresh(kind)
        for route, call in leaf_reads(leaf_id, at):
            for who in WHO:
                got = call(clients[who]).status_code
                if got != READ[kind][who]:
                    wrong.append("%s by %s on the owner's %s leaf: expected %d, got %d" % (route, who, kind,
                                                                                        READ[kind][who], got))
        for i, (route, _) in enumerate(leaf_writes(leaf_id)):
            for who in WHO:
                want = WRITE[kind][who]
                # A success changes the leaf (a delete removes it): each on a fresh one.
                target = fresh(kind)[0] if want == 200 else leaf_id
                got = leaf_writes(target)[i][1](clients[who]).status_code
                ok = got == want or (want == 200 and got in (200, 201, 204))
                if not ok:
                    wrong.append("%s by %s on the owner's %s leaf: expected %d, got %d" % (route, who, kind, want,
                                                                                        got))
        # What was refused changed nothing: the leaf still reads as it was saved.
        after = admin.get("/v1/leaves/" + leaf_id).json()
        if after.get("title") != "t" or after.get("tags") != ["m"]:
            wrong.append("a refused write changed the %s leaf: %r" % (kind, after))
    assert not wrong, "%d cells of the permissions matrix differ:\n  %s" % (len(wrong), "\n  ".join(wrong))


def test_every_caller_on_the_account_routes(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    names = {"reader": unique("r"), "owner": unique("o"), "other": unique("c")}
    tokens = {"reader": make_user(admin, names["reader"], "reader")[0],
              "owner": make_user(admin, names["owner"], "curator")[0],
              "other": make_user(admin, names["other"], "curator")[0]}
    clients = {"anon": as_user(srv, None), "admin": admin}
    clients.update({k: as_user(srv, t) for k, t in tokens.items()})
    me = names["owner"]
    # Each route against the owner's account: who may (the owner, an admin),
    # who may not see it exists (404), who needs a token (401), who lacks the role (403).
    own = {"anon": 401, "reader": 404, "owner": 200, "other": 404, "admin": 200}
    admin_only = {"anon": 401, "reader": 403, "owner": 403, "other": 403, "admin": 200}
    routes = [
        ("GET /v1/users/{me}", lambda c: c.get("/v1/users/" + me), own),
        ("GET /v1/users/{me}/tokens", lambda c: c.get("/v1/users/%s/tokens" % me), own),
        ("GET /v1/users/{me}/webhooks", lambda c: c.get("/v1/users/%s/webhooks" % me), own),
        ("GET /v1/users", lambda c: c.get("/v1/users"), admin_only),
        ("GET /v1/audit", lambda c: c.get("/v1/audit?limit=1"), admin_only),
        ("POST /v1/users", lambda c: c.post("/v1/users", json={"name": unique("n"), "role": "reader"}),
         {"anon": 401, "reader": 403, "owner": 403, "other": 403, "admin": 201}),
        ("PATCH /v1/users/{me}", lambda c: c.patch("/v1/users/" + me, json={"email": "x@example.com"}),
         {"anon": 401, "reader": 403, "owner": 403, "other": 403, "admin": 200}),
        ("POST /v1/users/{me}/tokens", lambda c: c.post("/v1/users/%s/tokens" % me, json={"name": "t"}),
         {"anon": 401, "reader": 404, "owner": 201, "other": 404, "admin": 201}),
    ]
    wrong = []
    for route, call, want in routes:
        for who in WHO:
            got = call(clients[who]).status_code
            if got != want[who]:
                wrong.append("%s by %s: expected %d, got %d" % (route, who, want[who], got))
    assert not wrong, "%d cells of the account matrix differ:\n  %s" % (len(wrong), "\n  ".join(wrong))


def test_every_listing_shows_each_caller_what_it_may_see(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    clients = {"anon": as_user(srv, None), "admin": admin}
    for who, role in (("reader", "reader"), ("owner", "curator"), ("other", "curator")):
        clients[who] = as_user(srv, make_user(admin, unique(who[0]), role)[0])
    tag = unique("seen")
    ids = {}
    for kind in ("private", "public"):
        r = clients["owner"].post("/v1/leaves", json={"url": new_url(), "title": "%s %s" % (kind, tag), "tags": [tag],
                                                      "is_public": kind == "public"})
        assert r.status_code == 201, r.text
        ids[kind] = r.json()["id"]
    for c in clients.values():
        c.positions = dict(clients["owner"].positions)
    sees_all = {"owner", "admin"}
    atom = "{http://www.w3.org/2005/Atom}"
    listings = {
        "GET /v1/leaves?tag=": lambda c: {l["id"] for l in c.get("/v1/leaves?tag=" + tag).json()["items"]},
        "GET /v1/search?q=": lambda c: {h["id"] for h in c.get("/v1/search?q=" + tag).json()["items"]},
        "GET /v1/export?tag=": lambda c: {json.loads(l)["id"] for l in c.get("/v1/export?tag=" + tag).text.splitlines() if l.strip()},
        "GET /v1/feed?tag=": lambda c: {e.find(atom + "id").text.rsplit(":", 1)[1] for e in ET.fromstring(
            c.get("/v1/feed?tag=" + tag).content).findall(atom + "entry")},
        "GET /v1/tags (count)": lambda c: {ids["public"]} | ({ids["private"]} if next(
            t["count"] for t in c.get("/v1/tags?limit=1000").json()["items"] if t["tag"] == tag) == 2 else set()),
    }
    wait_until(lambda: len(admin.get("/v1/search?q=" + tag).json().get("items", [])) == 2, what="both indexed")
    wrong = []
    for name, seen in listings.items():
        for who, c in clients.items():
            want = set(ids.values()) if who in sees_all else {ids["public"]}
            got = seen(c)
            if got != want:
                wrong.append("%s for %s: expected %s, got %s" % (
                    name, who, sorted(k for k, v in ids.items() if v in want),
                    sorted(k for k, v in ids.items() if v in got) + sorted(got - set(ids.values()))))
    assert not wrong, "%d listings show the wrong leaves:\n  %s" % (len(wrong), "\n  ".join(wrong))
