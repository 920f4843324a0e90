"""Users, API tokens, roles and scopes, and what anonymous callers may do
(--anonymous all|read|none): 401 with WWW-Authenticate, 403, 404 for what a
caller may not see, revocation and expiry at once, the actor of events.
docs/auth.md."""

import hashlib
import os
import re
import subprocess
import time

import pytest

from leaves_testlib import (Client, SSEClient, describe, describe_cli, expect, expect_error, new_url, raw_http, run_cli,
                            unique, wait_until)

ADMIN_TOKEN = "test-admin-token-" + "0123456789abcdef" * 2
TOKEN_RE = re.compile(r"lv_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def as_user(srv, token):
    c = Client(srv.base_url)
    if token:
        c.session.headers["Authorization"] = "Bearer " + token
    return c


def make_user(admin, name, role):
    expect(admin.post("/v1/users", json={"name": name, "role": role}), 201, "create user %s" % name)
    body = expect(admin.post("/v1/users/%s/tokens" % name, json={"name": "test"}), 201, "token for %s" % name)
    assert TOKEN_RE.fullmatch(body["token"]), "a new token should look like lv_<id>_<secret>, got %r" % body["token"]
    return body["token"], body["id"]


def expect_401(resp, what, code="unauthenticated"):
    expect_error(resp, 401, code, what)
    challenge = resp.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer realm=\"leaves\""), (
        "%s: a 401 must carry WWW-Authenticate: Bearer realm=\"leaves\", got %r\n  %s" % (what, challenge, describe(resp)))


def test_first_start_prints_the_admin_token_once(server_factory):
    open_srv = server_factory.make(args=["--anonymous", "all"])
    assert TOKEN_RE.findall(open(open_srv.stderr_path).read()) == [], (
        "under --anonymous all no admin is made without LEAVES_ADMIN_TOKEN")
    expect_401(as_user(open_srv, None).get("/v1/users"), "user administration needs a token even under all")
    # The default, with no --anonymous at all: anonymous callers read only,
    # and the first start makes an admin.
    srv = server_factory.make(anonymous=None)
    expect_401(as_user(srv, None).post("/v1/leaves", json={"url": new_url()}), "an anonymous write by default")
    assert expect(as_user(srv, None).get("/v1/me", consistent=False), 200, "/v1/me")["sees"] == "public", (
        "by default anonymous callers see public leaves")
    first = TOKEN_RE.findall(open(srv.stderr_path).read())
    assert len(first) == 1, "the first start should print one admin token, got %r\n%s" % (first, srv.stderr_tail())
    admin = as_user(srv, first[0])
    me = expect(admin.get("/v1/me", consistent=False), 200, "GET /v1/me as admin")
    assert me["user"]["name"] == "admin" and me["user"]["role"] == "admin" and set(me["scopes"]) == {
        "read", "write", "admin", "feed"}, "the first user should be admin with every scope, got %r" % me
    srv.restart()
    again = TOKEN_RE.findall(open(srv.stderr_path).read())
    assert again == [], "a restart must not print a token again, got %r" % again
    expect(as_user(srv, first[0]).get("/v1/users", consistent=False), 200, "the admin token after a restart")
    # The token is in no file under the data directory (only its hash is).
    for root, _dirs, files in os.walk(srv.data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert first[0].encode() not in fh.read(), "the token is stored in clear in %s" % os.path.join(root, f)


def test_a_revoked_admin_token_stays_revoked_across_restarts(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    other = expect(admin.post("/v1/users/admin/tokens", json={"name": "spare"}), 201, "a second admin token")["token"]
    env_id = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()[:12]
    expect(admin.delete("/v1/users/admin/tokens/" + env_id), 200, "revoke the LEAVES_ADMIN_TOKEN token")
    srv.restart()  # with the same LEAVES_ADMIN_TOKEN in its environment
    expect_401(as_user(srv, ADMIN_TOKEN).get("/v1/users", consistent=False), "the revoked token after a restart",
               code="invalid_token")
    expect(as_user(srv, other).get("/v1/users", consistent=False), 200, "the spare admin token")
    assert "LEAVES_ADMIN_TOKEN is not usable" in open(srv.stderr_path).read(), srv.stderr_tail()


def test_anonymous_readers_see_public_leaves_only(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    anon = as_user(srv, None)
    tag = unique("pub")
    public = admin.create(title="open " + tag, tags=[tag, tag + "-open"], is_public=True)
    private = admin.create(title="closed " + tag, tags=[tag, tag + "-secret"], is_public=False)
    sse = SSEClient("127.0.0.1", srv.port, "/v1/stream?from=beginning&tag=" + tag)
    assert sse.status == 200, "an anonymous reader may stream, got %s" % sse.status
    anon.positions = dict(admin.positions)

    expect_401(anon.post("/v1/leaves", json={"url": new_url()}), "anonymous write under --anonymous read")
    expect_401(anon.delete("/v1/leaves/" + public["id"]), "anonymous delete")
    expect_401(anon.get("/v1/users"), "anonymous users list")
    expect(anon.get("/v1/leaves/" + public["id"]), 200, "anonymous read of a public leaf")
    expect_error(anon.get("/v1/leaves/" + private["id"]), 404, "leaf_not_found", "anonymous read of a private leaf")
    expect_error(anon.get("/v1/leaves/%s/content" % private["id"]), 404, "leaf_not_found", "private content")
    expect_error(anon.get("/v1/leaves/%s/history" % private["id"]), 404, "leaf_not_found", "private history")
    assert anon.get("/api/leaves/" + private["id"]).status_code == 404, "the reference API shows a private leaf"

    ids = [l["id"] for l in expect(anon.get("/v1/leaves?tag=" + tag), 200, "anonymous list")["items"]]
    assert ids == [public["id"]], "an anonymous list should hold the public leaf only, got %r" % ids
    none = expect(anon.get("/v1/leaves?public=false&tag=" + tag), 200, "anonymous list of private leaves")
    assert none["items"] == [], "public=false must give an anonymous reader nothing, got %r" % none
    ref_ids = [l["id"] for l in expect(anon.get("/api/leaves"), 200, "anonymous reference list")]
    assert public["id"] in ref_ids and private["id"] not in ref_ids, (
        "the reference list should hold public leaves only, got %r" % ref_ids)

    def searched():
        r = anon.get("/v1/search?q=%s&facets=tags" % tag, consistent=False)
        return r if r.status_code == 200 and r.json()["items"] else None
    body = wait_until(searched, what="the public leaf in the search index").json()
    assert [h["id"] for h in body["items"]] == [public["id"]], "anonymous search should find the public leaf only, got %r" % body
    facet_tags = {f["value"] for f in body["facets"]["tags"]}
    assert tag + "-secret" not in facet_tags, "anonymous facets count a private leaf's tag: %r" % facet_tags
    counts = {t["tag"] for t in expect(anon.get("/v1/tags?limit=1000"), 200, "anonymous tag counts")["items"]}
    assert tag + "-open" in counts and tag + "-secret" not in counts, (
        "anonymous tag counts should count public leaves only, got %r" % sorted(counts))
    prefix = {t["tag"] for t in expect(anon.get("/v1/tags?prefix=" + tag), 200, "anonymous tag prefix")["items"]}
    assert tag + "-secret" not in prefix, "anonymous tag suggestions show a private leaf's tag: %r" % prefix

    events = sse.collect(3.0, until=lambda evs: len(evs) >= 1)
    time.sleep(0.5)
    events += sse.collect(0.5)
    sse.close()
    got = {e["json"]["leaf_id"] for e in events if e.get("json") and "leaf_id" in e["json"]}
    assert got == {public["id"]}, "an anonymous stream should carry the public leaf's event only, got %r" % got
    # A token holder sees both.
    seen = [l["id"] for l in expect(admin.get("/v1/leaves?tag=" + tag), 200, "admin list")["items"]]
    assert sorted(seen) == sorted([public["id"], private["id"]]), "the admin should see both leaves, got %r" % seen


def test_anonymous_none_needs_a_token_everywhere_but_the_open_routes(server_factory):
    srv = server_factory.make(args=["--anonymous", "none"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    anon = as_user(srv, None)
    for path in ("/v1/leaves", "/v1/search?q=x", "/v1/tags", "/api/leaves", "/metrics", "/v1/stream"):
        expect_401(anon.get(path, consistent=False), "GET %s under --anonymous none" % path)
    for path in ("/healthz", "/readyz", "/openapi.json", "/"):
        assert anon.get(path, consistent=False).status_code == 200, "%s should stay open" % path
    me = expect(anon.get("/v1/me", consistent=False), 200, "/v1/me is open")
    assert me == {"anonymous": True, "scopes": [], "public_only": False, "sees": "none"}, "anonymous /v1/me, got %r" % me
    admin = as_user(srv, ADMIN_TOKEN)
    leaf = admin.create(title="with a token")
    expect(admin.get("/v1/leaves/" + leaf["id"]), 200, "a read with the admin token")


def test_roles_scopes_and_who_sees_which_user(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    reader_token, _ = make_user(admin, "rita", "reader")
    curator_token, _ = make_user(admin, "carla", "curator")
    reader, curator = as_user(srv, reader_token), as_user(srv, curator_token)

    leaf = curator.create(title="by carla", tags=["roles"], is_public=True)
    reader.positions = dict(curator.positions)
    expect(reader.get("/v1/leaves/" + leaf["id"]), 200, "a reader reads")
    err = expect_error(reader.post("/v1/leaves", json={"url": new_url()}), 403, "permission_denied", "a reader writes")
    assert "rita" in err["message"] and "write" in err["message"], "the 403 should say who and what: %r" % err
    expect_error(curator.get("/v1/users"), 403, "permission_denied", "a curator lists users")
    expect_error(curator.post("/v1/users", json={"name": "x"}), 403, "permission_denied", "a curator creates a user")

    # The envelope names the actor.
    hist = expect(curator.get("/v1/leaves/%s/history" % leaf["id"]), 200, "history")
    assert hist["items"][0].get("actor") == "carla", "the event's actor should be carla, got %r" % hist["items"][0]

    # Own record yes, another's no (404: its existence is not revealed).
    me = expect(reader.get("/v1/users/rita", consistent=False), 200, "own user record")
    assert "hash" not in str(me), "a user record must not show token hashes: %r" % me
    expect_error(reader.get("/v1/users/carla", consistent=False), 404, "user_not_found", "another user's record")
    expect_error(reader.get("/v1/users/carla/tokens", consistent=False), 404, "user_not_found", "another's tokens")

    # Tokens never carry more than the role, nor more than the token that asks.
    expect_error(reader.post("/v1/users/rita/tokens", json={"scopes": ["write"]}), 422, "invalid_scopes",
                 "a reader asks for a write token")
    ro = expect(curator.post("/v1/users/carla/tokens", json={"scopes": ["read"], "name": "ro"}), 201, "read-only token")
    expect_error(as_user(srv, ro["token"]).post("/v1/users/carla/tokens", json={"scopes": ["read", "write"]}), 403,
                 "permission_denied", "a read-only token mints a write token")
    expect_error(as_user(srv, ro["token"]).post("/v1/leaves", json={"url": new_url()}), 403, "permission_denied",
                 "a read-only token of a curator writes")
    expect_error(as_user(srv, ro["token"]).put("/v1/users/carla/password", json={"password": "a long password"}), 403,
                 "permission_denied", "a read-only token sets a password (and so gets a writing session)")

    # Input is checked at the edge.
    expect_error(admin.post("/v1/users", json={"name": "Bad Name"}), 422, "invalid_user_name", "a bad user name")
    expect_error(admin.post("/v1/users", json={"name": "rita"}), 409, "user_exists", "a user twice")
    expect_error(admin.post("/v1/users", json={"name": "zed", "role": "root"}), 422, "invalid_field", "a bad role")
    expect_error(admin.post("/v1/users", json={"name": "zed", "bogus": 1}), 422, "invalid_field", "an unknown field")
    expect_error(admin.post("/v1/users/rita/tokens", json={"expires_in_days": 0}), 422, "invalid_field",
                 "expires_in_days 0")


def test_revoked_expired_and_disabled_fail_at_once(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    token, token_id = make_user(admin, "vic", "curator")
    vic = as_user(srv, token)
    expect(vic.get("/v1/me", consistent=False), 200, "the new token works at once")
    expect(vic.delete("/v1/users/vic/tokens/" + token_id), 200, "revoke own token")
    expect_401(vic.get("/v1/leaves"), "the revoked token, at once", code="invalid_token")
    assert "revoked" in vic.get("/v1/leaves").json()["error"]["message"]

    soon = expect(admin.post("/v1/users/vic/tokens",
                             json={"expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))}),
                  201, "a token that expires in 2 s")
    expect(as_user(srv, soon["token"]).get("/v1/leaves"), 200, "before it expires")
    time.sleep(2.2)
    expect_401(as_user(srv, soon["token"]).get("/v1/leaves"), "after it expired", code="invalid_token")

    fresh = expect(admin.post("/v1/users/vic/tokens", json={}), 201, "another token")["token"]
    expect(admin.patch("/v1/users/vic", json={"disabled": True}), 200, "disable vic")
    expect_401(as_user(srv, fresh).get("/v1/leaves"), "a disabled user's token", code="invalid_token")
    expect(admin.patch("/v1/users/vic", json={"disabled": False}), 200, "enable vic again")
    expect(as_user(srv, fresh).get("/v1/leaves"), 200, "an enabled user's token")

    expect_error(admin.patch("/v1/users/admin", json={"role": "reader"}), 409, "last_admin", "demote the last admin")
    expect_error(admin.patch("/v1/users/admin", json={"disabled": True}), 409, "last_admin", "disable the last admin")

    expect_401(as_user(srv, "lv_000000000000_" + "A" * 43).get("/v1/leaves"), "an unknown token", code="invalid_token")
    bad = as_user(srv, None)
    bad.session.headers["Authorization"] = "Basic YWRtaW46YWRtaW4="
    expect_401(bad.get("/v1/leaves"), "Basic authentication", code="invalid_request")


def test_a_leaf_belongs_to_whoever_saved_it(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    carla_token, _ = make_user(admin, "carla", "curator")
    dave_token, _ = make_user(admin, "dave", "curator")
    rita_token, _ = make_user(admin, "rita", "reader")
    carla, dave, rita = as_user(srv, carla_token), as_user(srv, dave_token), as_user(srv, rita_token)
    carla_id = expect(carla.get("/v1/me", consistent=False), 200, "carla's /v1/me")["user"]["user_id"]
    tag = unique("own")
    sse = SSEClient("127.0.0.1", srv.port, "/v1/stream?from=beginning&tag=" + tag,
                    headers={"Authorization": "Bearer " + dave_token})
    assert sse.status == 200, "dave may stream, got %s" % sse.status

    mine = carla.create(title="carla's private " + tag, tags=[tag, tag + "-secret"], is_public=False)
    shared = carla.create(title="carla's public " + tag, tags=[tag, tag + "-open"], is_public=True)
    assert mine["user_id"] == carla_id and mine["user_name"] == "carla", (
        "a saved leaf should belong to its saver, got user_id=%r user_name=%r" % (mine["user_id"], mine["user_name"]))
    for c in (dave, rita, admin):
        c.positions = dict(carla.positions)

    expect_error(dave.get("/v1/leaves/" + mine["id"]), 404, "leaf_not_found", "another's private leaf")
    expect_error(rita.get("/v1/leaves/" + mine["id"]), 404, "leaf_not_found", "a reader, another's private leaf")
    expect(carla.get("/v1/leaves/" + mine["id"]), 200, "the owner reads her private leaf")
    expect(admin.get("/v1/leaves/" + mine["id"]), 200, "an admin reads every leaf")
    expect(dave.get("/v1/leaves/" + shared["id"]), 200, "another's public leaf")

    for who, client, want in (("dave", dave, [shared["id"]]), ("carla", carla, [shared["id"], mine["id"]]),
                              ("admin", admin, [shared["id"], mine["id"]])):
        ids = [l["id"] for l in expect(client.get("/v1/leaves?tag=" + tag), 200, "%s lists" % who)["items"]]
        assert sorted(ids) == sorted(want), "%s should list %r, got %r" % (who, want, ids)

    def dave_searches():
        r = dave.get("/v1/search?q=%s&facets=tags" % tag, consistent=False)
        return r.json() if r.status_code == 200 and r.json()["items"] else None
    found = wait_until(dave_searches, what="dave's search to find the public leaf")
    assert [h["id"] for h in found["items"]] == [shared["id"]], "dave's search shows %r" % found["items"]
    assert tag + "-secret" not in {f["value"] for f in found["facets"]["tags"]}, "dave's facets count carla's secret"
    counts = {t["tag"] for t in expect(dave.get("/v1/tags?limit=1000"), 200, "dave's tag counts")["items"]}
    assert tag + "-secret" not in counts and tag + "-open" in counts, "dave's tag counts: %r" % sorted(counts)
    carla_counts = {t["tag"] for t in expect(carla.get("/v1/tags?limit=1000"), 200, "carla's tag counts")["items"]}
    assert tag + "-secret" in carla_counts, "carla's tag counts should count her private leaf"

    # Changing another's leaf: a private one does not exist, a public one is not yours.
    expect_error(dave.patch("/v1/leaves/" + mine["id"], json={"title": "x"}), 404, "leaf_not_found", "patch private")
    expect_error(dave.patch("/v1/leaves/" + shared["id"], json={"title": "x"}), 403, "leaf_not_yours", "patch public")
    expect_error(dave.delete("/v1/leaves/" + shared["id"]), 403, "leaf_not_yours", "delete another's public leaf")
    expect_error(dave.post("/v1/leaves/%s/tags" % shared["id"], json={"tags": ["mine"]}), 403, "leaf_not_yours",
                 "tag another's public leaf")
    expect_error(dave.post("/v1/leaves", json={"url": mine["url"]}), 409, "leaf_not_yours",
                 "save the URL of another's private leaf")
    expect_error(dave.post("/v1/leaves", json={"url": new_url(), "user_id": carla_id}), 403, "leaf_not_yours",
                 "save a leaf in another's name")
    expect(carla.patch("/v1/leaves/" + shared["id"], json={"title": "still carla's"}), 200, "the owner edits")
    expect(admin.patch("/v1/leaves/" + mine["id"], json={"title": "an admin edits"}), 200, "an admin edits any leaf")
    imported = expect(admin.post("/v1/leaves", json={"url": new_url(), "user_id": 4242, "user_name": "Someone"}),
                      201, "an admin saves in another's name (imports)")
    assert imported["user_id"] == 4242, "an admin's user_id should be kept, got %r" % imported["user_id"]

    events = sse.collect(3.0, until=lambda evs: len(evs) >= 2)
    time.sleep(0.3)
    events += sse.collect(0.3)
    sse.close()
    got = {e["json"]["leaf_id"] for e in events if e.get("json") and "leaf_id" in e["json"]}
    assert got == {shared["id"]}, "dave's stream should carry the public leaf only, got %r" % got


def test_the_audit_lists_every_event_newest_first(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    token, token_id = make_user(admin, "amy", "curator")
    amy = as_user(srv, token)
    made = [amy.create(title="audit %d" % i) for i in range(12)]
    expect(amy.patch("/v1/leaves/" + made[0]["id"], json={"title": "changed"}), 200, "patch")
    expect_error(amy.get("/v1/audit"), 403, "permission_denied", "a curator reads the audit")

    page = expect(admin.get("/v1/audit?limit=5", consistent=False), 200, "the audit's first page")
    first = page["items"]
    assert len(first) == 5 and page["next_before"], "a first page of 5 with more to come, got %r" % page
    assert first[0]["type"] == "leaf.updated" and first[0]["actor"] == "amy" and first[0]["changed"][0] in (
        "title", "updated_at"), "the newest event is amy's update, got %r" % first[0]
    seen, before = [], None
    for _ in range(20):
        q = "/v1/audit?limit=5" + ("&before=" + before if before else "")
        page = expect(admin.get(q, consistent=False), 200, "an audit page")
        seen += page["items"]
        before = page["next_before"]
        if not before:
            break
    positions = [e["position"] for e in seen]
    assert len(positions) == len(set(positions)), "pages must not repeat an event: %r" % positions
    types = [e["type"] for e in seen]
    assert types.count("leaf.created") == 12 and types.count("leaf.updated") == 1, types
    assert types.count("user.created") == 2, "admin's and amy's creation, got %r" % types
    # Newest first by the time the log stamped each record (partitions have
    # no order between them; within one, offsets go down).
    logged = [e["logged"] for e in seen]
    assert logged == sorted(logged, reverse=True), "newest first by logged, got %r" % logged
    by_partition = {}
    for e in seen:
        part, off = e["position"].split(":")
        by_partition.setdefault(part, []).append(int(off))
    for part, offs in by_partition.items():
        assert offs == sorted(offs, reverse=True), "partition %s backwards, got %r" % (part, offs)
    assert all("hash" not in e for e in seen), "the audit must not show token hashes"
    tokens = [e for e in seen if e["type"] == "user.token_created" and e.get("aggregate_id") == "user:amy"]
    assert tokens and tokens[0]["token_id"] == token_id, "the token's creation names its id: %r" % tokens

    only = expect(admin.get("/v1/audit?type=user.&limit=100", consistent=False), 200, "user events")["items"]
    assert only and all(e["type"].startswith("user.") for e in only), only
    by_amy = expect(admin.get("/v1/audit?actor=amy&limit=100", consistent=False), 200, "amy's events")["items"]
    assert len(by_amy) == 13 and all(e["actor"] == "amy" for e in by_amy), by_amy
    one = expect(admin.get("/v1/audit?aggregate=%s&limit=100" % made[0]["id"], consistent=False), 200, "one leaf")
    assert [e["type"] for e in one["items"]] == ["leaf.updated", "leaf.created"], one
    expect_error(admin.get("/v1/audit?before=garbage", consistent=False), 400, "invalid_query", "a bad cursor")


def test_signing_in_with_a_password_gives_a_cookie_session_with_csrf(server_factory, leaves_bin):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    token, _ = make_user(admin, "sam", "curator")
    sam = as_user(srv, token)
    expect_error(sam.put("/v1/users/sam/password", json={"password": "short"}), 422, "weak_password", "a short one")
    expect(sam.put("/v1/users/sam/password", json={"password": "sam's long password"}), 200, "sam sets his own")
    expect_error(sam.put("/v1/users/sam/password", json={"password": "another long one"}), 403, "invalid_credentials",
                 "changing it without the current one")
    expect(sam.put("/v1/users/sam/password", json={"password": "another long one",
                                                   "current_password": "sam's long password"}), 200, "with it")
    # The CLI reads it from stdin.
    res = subprocess.run([leaves_bin, "users", "password", "sam"], input="the final password\n", text=True,
                         capture_output=True, timeout=60,
                         env=dict(os.environ, LEAVES_SERVER=srv.base_url, LEAVES_TOKEN=ADMIN_TOKEN))
    assert res.returncode == 0 and "password set for sam" in res.stdout, describe_cli(res)

    browser = as_user(srv, None)
    bad = browser.post("/v1/session", json={"name": "sam", "password": "another long one"})
    expect_error(bad, 401, "invalid_credentials", "the old password")
    expect_error(browser.post("/v1/session", json={"name": "nobody", "password": "whatever it is"}), 401,
                 "invalid_credentials", "a user that does not exist: the same answer")
    r = browser.post("/v1/session", json={"name": "sam", "password": "the final password"})
    body = expect(r, 201, "sign in")
    cookie = r.headers.get("Set-Cookie", "")
    for part in ("leaves_session=lv_", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=1209600"):
        assert part in cookie, "the session cookie should have %r: %r" % (part, cookie)
    assert "Secure" not in cookie, "no Secure flag over plain HTTP without X-Forwarded-Proto: %r" % cookie
    me = expect(browser.get("/v1/me", consistent=False), 200, "/v1/me with the cookie")
    assert me["user"]["name"] == "sam" and me["csrf"] == body["csrf"] and me["sees"] == "public_and_own", me
    expect_error(browser.post("/v1/leaves", json={"url": new_url()}), 403, "csrf_failed", "a write without the CSRF token")
    expect_error(browser.post("/v1/leaves", json={"url": new_url()}, headers={"X-CSRF-Token": "0" * 32}), 403,
                 "csrf_failed", "a write with a wrong CSRF token")
    leaf = expect(browser.post("/v1/leaves", json={"url": new_url()}, headers={"X-CSRF-Token": body["csrf"]}), 201,
                  "a write with the CSRF token")
    assert leaf["user_name"] == "sam", "the session's writes are sam's: %r" % leaf
    tokens = expect(sam.get("/v1/users/sam/tokens", consistent=False), 200, "sam's tokens")["items"]
    assert any(t["id"] == body["token_id"] and t["name"] == "session (browser)" for t in tokens), tokens

    expect_error(browser.delete("/v1/session"), 403, "csrf_failed", "sign out without the CSRF token")
    out = browser.delete("/v1/session", headers={"X-CSRF-Token": body["csrf"]})
    expect(out, 200, "sign out")
    assert "Max-Age=0" in out.headers.get("Set-Cookie", ""), "sign-out clears the cookie: %r" % out.headers
    # The browser may still send the old cookie: it no longer signs anyone in.
    stale = as_user(srv, None)
    stale.session.headers["Cookie"] = cookie.split(";")[0]
    assert expect(stale.get("/v1/me", consistent=False), 200, "a stale cookie")["anonymous"] is True
    expect_error(sam.delete("/v1/session"), 422, "not_a_session", "DELETE /v1/session with a bearer token")

    # Five failures lock the name for the rest of the window: two above (the
    # old password, a wrong current_password), three more here.
    for _ in range(3):
        expect_error(browser.post("/v1/session", json={"name": "sam", "password": "wrong password"}), 401,
                     "invalid_credentials", "a wrong password")
    locked = browser.post("/v1/session", json={"name": "sam", "password": "the final password"})
    expect_error(locked, 429, "too_many_attempts", "the sixth attempt, even a right one")
    assert int(locked.headers.get("Retry-After", "0")) > 0, "429 should say when: %r" % locked.headers


def test_parallel_sign_ins_cannot_pass_the_limit_together(server_factory):
    import concurrent.futures
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    make_user(admin, "lee", "reader")
    expect(admin.put("/v1/users/lee/password", json={"password": "lee's real password"}), 200, "a password")

    def attempt(_):
        return as_user(srv, None).post("/v1/session", json={"name": "lee", "password": "a wrong guess"}).status_code
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(attempt, range(24)))
    assert codes.count(401) <= 5 and codes.count(429) >= 19, (
        "24 guesses at once: at most 5 may be tried (401), the rest refused (429), got %r" % sorted(codes))
    # Guesses of the current password in a password change are limited the same way.
    bea_token, _ = make_user(admin, "bea", "reader")
    bea = as_user(srv, bea_token)
    expect(bea.put("/v1/users/bea/password", json={"password": "bea's real password"}), 200, "a first password")

    def change(_):
        return as_user(srv, bea_token).put("/v1/users/bea/password", json={
            "password": "bea's new password", "current_password": "a wrong guess"}).status_code
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(change, range(24)))
    assert codes.count(403) <= 5 and codes.count(429) >= 19, (
        "24 current-password guesses at once: at most 5 may be tried (403), the rest refused (429), got %r"
        % sorted(codes))
    # A right password after a right one does not count against the name.
    make_user(admin, "ann", "reader")
    expect(admin.put("/v1/users/ann/password", json={"password": "ann's real password"}), 200, "a password")
    for _ in range(8):
        expect(as_user(srv, None).post("/v1/session", json={"name": "ann", "password": "ann's real password"}), 201,
               "a right sign-in never locks the name")


def test_one_address_cannot_try_a_password_on_every_user(server_factory):
    srv = server_factory.make(args=["--anonymous", "read", "--sign-in-attempts-per-address", "4"],
                              env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    for name in ("ua", "ub", "uc", "ud", "ue"):
        make_user(admin, name, "reader")
        expect(admin.put("/v1/users/%s/password" % name, json={"password": name + "'s real password"}), 200,
               "a password")
    browser = as_user(srv, None)
    expect(browser.post("/v1/session", json={"name": "ue", "password": "ue's real password"}), 201,
           "a right sign-in does not count against the address")
    # One wrong guess per name: no name reaches its own limit of 5, but the
    # address reaches its 4.
    for name in ("ua", "ub", "uc", "ud"):
        expect_error(browser.post("/v1/session", json={"name": name, "password": "password123"}), 401,
                     "invalid_credentials", "a guess at " + name)
    locked = browser.post("/v1/session", json={"name": "ue", "password": "ue's real password"})
    err = expect_error(locked, 429, "too_many_attempts", "a fifth attempt from the address, even a right one")
    assert "from this address" in err["message"], "the 429 should say the address is limited: %r" % err
    assert int(locked.headers.get("Retry-After", "0")) > 0, "429 should say when: %r" % locked.headers
    # A token still works: the limit is on sign-ins, not on the users.
    expect(admin.get("/v1/users", consistent=False), 200, "the admin's token")

    # 0 turns the address limit off: the per-name limit alone applies.
    srv2 = server_factory.make(args=["--anonymous", "read", "--sign-in-attempts-per-address", "0"],
                               env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin2 = as_user(srv2, ADMIN_TOKEN)
    names = ["v%d" % i for i in range(24)]  # beyond the default of 20 an address
    for name in names:
        make_user(admin2, name, "reader")
    browser2 = as_user(srv2, None)
    for name in names:
        expect_error(browser2.post("/v1/session", json={"name": name, "password": "password123"}), 401,
                     "invalid_credentials", "a guess at " + name + " with no address limit")


def test_two_admins_demoted_at_once_leave_one(server_factory):
    """Each of two admins demotes the other at the same moment: one of them
    must stay an admin (the last-admin rule holds across concurrent
    requests)."""
    import concurrent.futures
    srv = server_factory.make(args=["--anonymous", "none"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admins = {"admin": ADMIN_TOKEN}
    for round_ in range(4):
        (a, a_token), = admins.items()
        b = unique("admin")
        b_token, _ = make_user(as_user(srv, a_token), b, "admin")
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda job: as_user(srv, job[0]).patch("/v1/users/" + job[1],
                                                                         json={"role": "reader"}),
                                    [(a_token, b), (b_token, a)]))
        still = {n: t for n, t in ((a, a_token), (b, b_token))
                 if as_user(srv, t).get("/v1/users", consistent=False).status_code == 200}
        assert len(still) == 1, "round %d: two admins demoting each other at once should leave one, left %r; " \
            "answers %r" % (round_, sorted(still), [(r.status_code, r.text[:200]) for r in answers])
        admins = still


def test_a_new_password_ends_the_other_sessions(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    token, _ = make_user(admin, "kim", "curator")
    kim = as_user(srv, token)
    expect(kim.put("/v1/users/kim/password", json={"password": "kim's first password"}), 200, "kim sets one")
    expect_error(kim.post("/v1/users/kim/tokens", json={"name": "session (browser)"}), 422, "invalid_field",
                 "an API token named like the UI's sessions")
    sessions = []
    for _ in range(2):
        b = as_user(srv, None)
        body = expect(b.post("/v1/session", json={"name": "kim", "password": "kim's first password"}), 201, "sign in")
        sessions.append((b, body))
    (keep, keep_body), (other, _) = sessions
    changed = keep.put("/v1/users/kim/password", headers={"X-CSRF-Token": keep_body["csrf"]},
                       json={"password": "kim's second password", "current_password": "kim's first password"})
    expect(changed, 200, "kim changes the password from one session")
    me = lambda c: expect(c.get("/v1/me", consistent=False), 200, "/v1/me")
    assert me(keep)["anonymous"] is False, "the session that changed the password stays signed in"
    assert me(other)["anonymous"] is True, "the other session ends with the old password"
    assert me(kim)["anonymous"] is False, "API tokens are not sessions: they stay"
    # An admin setting it ends every session of the user.
    expect(admin.put("/v1/users/kim/password", json={"password": "kim's third password"}), 200, "the admin sets it")
    assert me(keep)["anonymous"] is True, "an admin's reset ends the user's sessions too"


def test_a_stream_ends_when_its_token_is_revoked_or_its_user_disabled_or_demoted(server_factory):
    srv = server_factory.make(args=["--anonymous", "none"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    tag = unique("revoke")
    owner, _ = make_user(admin, unique("owner"), "curator")
    for how in ("revoke", "disable", "demote"):
        name = unique("streamer")
        token, token_id = make_user(admin, name, "admin" if how == "demote" else "reader")
        sse = SSEClient("127.0.0.1", srv.port, "/v1/stream?tag=" + tag,
                        headers={"Authorization": "Bearer " + token})
        assert sse.status == 200, "a reader opens a stream"
        before = expect(admin.post("/v1/leaves", json={"url": new_url(), "tags": [tag], "is_public": True}), 201,
                        "a leaf")["id"]
        got = sse.collect(10, until=lambda evs: any(e["json"] and e["json"].get("leaf_id") == before for e in evs))
        assert any(e["json"] and e["json"].get("leaf_id") == before for e in got), (
            "the stream should carry the leaf saved while it may read, got %r" % got)
        if how == "revoke":
            expect(admin.delete("/v1/users/%s/tokens/%s" % (name, token_id)), 200, "revoke the reader's token")
        elif how == "disable":
            expect(admin.patch("/v1/users/" + name, json={"disabled": True}), 200, "disable the reader")
        else:
            expect(admin.patch("/v1/users/" + name, json={"role": "reader"}), 200, "the admin made a reader")
        # Demoted: a private leaf of another user, which an admin's stream would carry and a reader's not.
        after = expect(as_user(srv, owner).post("/v1/leaves", json={"url": new_url(), "tags": [tag],
                                                                    "is_public": how != "demote"}), 201,
                       "a leaf after")["id"]
        rest = sse.collect(10, until=lambda evs: any(e["event"] == "dropped" for e in evs))
        assert not any(e["json"] and e["json"].get("leaf_id") == after for e in rest), (
            "%s: the stream carried an event after its access ended: %r" % (how, rest))
        dropped = [e for e in rest if e["event"] == "dropped"]
        assert dropped and dropped[0]["json"]["reason"] == "unauthenticated", (
            "%s: the stream should end with a dropped event, reason unauthenticated, got %r" % (how, rest))
        sse.close()


def test_a_websocket_from_another_site_is_refused(server_factory):
    srv = server_factory.make()
    def handshake(origin):
        head = ("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" % srv.port)
        if origin:
            head += "Origin: %s\r\n" % origin
        return raw_http("127.0.0.1", srv.port, (head + "\r\n").encode(), timeout=3)
    r = handshake("https://evil.example")
    assert r.status_code == 403 and b"websocket_origin" in r.body, "another site's page: expected 403, got %r" % r
    for origin in ("http://127.0.0.1:%d" % srv.port, None):
        r = handshake(origin)
        assert r.status_code == 101, "Origin %r: the handshake should succeed, got %r" % (origin, r)


def test_each_token_has_a_rate_limit(server_factory):
    """--rate-limit/--rate-burst: a token past its burst gets 429 with
    Retry-After and RateLimit-* headers; another token, anonymous callers and
    the open routes are not held back; the bucket refills."""
    srv = server_factory.make(args=["--anonymous", "read", "--rate-limit", "2", "--rate-burst", "4"],
                              env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    token, _ = make_user(admin, unique("rl"), "curator")  # two requests of the admin's burst
    user = as_user(srv, token)
    seen = []
    for i in range(4):
        r = user.get("/v1/leaves", consistent=False)
        expect(r, 200, "request %d of a burst of 4" % (i + 1))
        seen.append(int(r.headers.get("RateLimit-Remaining", "-1")))
        assert r.headers.get("RateLimit-Limit") == "4", "RateLimit-Limit should be the burst\n  %s" % describe(r)
    assert seen[0] >= seen[-1] and seen[-1] <= 1, "RateLimit-Remaining should count down, got %r" % seen
    r = user.get("/v1/leaves", consistent=False)
    expect_error(r, 429, "rate_limited", "the fifth request at once")
    retry = int(r.headers.get("Retry-After", "0"))
    assert 1 <= retry <= 2, "Retry-After should say when a request is allowed again, got %r\n  %s" % (retry, describe(r))
    assert r.headers.get("RateLimit-Remaining") == "0", describe(r)
    expect(as_user(srv, None).get("/v1/leaves", consistent=False), 200, "an anonymous reader is not limited by it")
    expect(user.get("/healthz", consistent=False), 200, "an open route with the limited token")
    other, _ = make_user(admin, unique("rl"), "reader")
    expect(as_user(srv, other).get("/v1/leaves", consistent=False), 200, "another token has its own bucket")
    time.sleep(retry)
    expect(user.get("/v1/leaves", consistent=False), 200, "the limited token after Retry-After")


def test_the_users_command(server_factory, leaves_bin):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    env = {"LEAVES_SERVER": srv.base_url, "LEAVES_TOKEN": ADMIN_TOKEN}

    def cli(*args, code=0, token=ADMIN_TOKEN):
        e = dict(env, LEAVES_TOKEN=token) if token else {"LEAVES_SERVER": srv.base_url, "LEAVES_TOKEN": ""}
        res = run_cli(leaves_bin, ["users"] + list(args), env=e)
        assert res.returncode == code, "expected exit %d\n  %s" % (code, describe_cli(res))
        return res

    cli("create", "ursula", "--role", "curator", "--email", "u@example.org")
    listed = cli("list").stdout
    assert re.search(r"^ursula\s+curator\s+false", listed, re.M), "users list should show ursula:\n" + listed
    token = cli("token", "ursula", "--name", "cli", "--scopes", "read,write", "--expires-in-days", "7").stdout.strip()
    assert TOKEN_RE.fullmatch(token), "users token should print the token alone on stdout, got %r" % token
    expect(as_user(srv, token).post("/v1/leaves", json={"url": new_url()}), 201, "a write with the CLI's token")
    tokens = cli("tokens", "ursula").stdout
    token_id = token[3:15]
    assert token_id in tokens and "read,write" in tokens, "users tokens should list %s:\n%s" % (token_id, tokens)
    assert token not in tokens, "users tokens must not print a secret"
    cli("list", code=1, token=token)  # a curator is refused (403)
    res = cli("list", code=1, token=None)
    assert "LEAVES_TOKEN" in res.stderr, "a 401 should point at LEAVES_TOKEN: %s" % res.stderr
    cli("disable", "ursula")
    expect_401(as_user(srv, token).get("/v1/leaves"), "a token of a user disabled by the CLI", code="invalid_token")
    cli("enable", "ursula")
    cli("revoke", "ursula", token_id)
    expect_401(as_user(srv, token).get("/v1/leaves"), "a token revoked by the CLI", code="invalid_token")
    cli("bogus", code=2)


@pytest.mark.skipif(not os.environ.get("LEAVES_TEST_KAFKA"), reason="two servers on one log need Kafka")
def test_a_revocation_reaches_every_server(server_factory):
    name = "leaves-sys-auth-" + unique("k")
    a = server_factory.make(kafka_name=name, env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    b = server_factory.make(kafka_name=name, kafka_group=name + "-b", env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin_a = as_user(a, ADMIN_TOKEN)
    token, token_id = make_user(admin_a, "kim", "reader")
    on_b = as_user(b, token)
    wait_until(lambda: on_b.get("/v1/me", consistent=False).status_code == 200, timeout=10,
               what="kim's token to work on the second server")
    expect(admin_a.delete("/v1/users/kim/tokens/" + token_id), 200, "revoke on the first server")
    t0 = time.monotonic()
    wait_until(lambda: on_b.get("/v1/me", consistent=False).status_code == 401, timeout=5,
               what="the revoked token to fail on the second server")
    assert time.monotonic() - t0 < 2.0, "the revocation took %.1f s to reach the second server" % (time.monotonic() - t0)
