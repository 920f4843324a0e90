"""GET /v1/feed: Atom feeds of a tag or a saved search, with the token in
the URL (?token=) for feed readers; feed-only tokens; revocation; what each
caller sees. docs/auth.md "Feeds"."""

import xml.etree.ElementTree as ET

from leaves_testlib import describe, expect, expect_error, new_url, unique, wait_until
from test_auth import ADMIN_TOKEN, as_user, make_user

ATOM = "{http://www.w3.org/2005/Atom}"


def entries(resp, what):
    expect(resp, 200, what)
    assert resp.headers.get("Content-Type", "").startswith("application/atom+xml"), describe(resp)
    root = ET.fromstring(resp.content)  # well-formed XML: every title escaped
    assert root.tag == ATOM + "feed", "%s: not an Atom feed: %r" % (what, resp.text[:300])
    return {e.find(ATOM + "id").text.rsplit(":", 1)[1]: e for e in root.findall(ATOM + "entry")}


def test_feeds_of_a_tag_and_a_search_with_feed_tokens(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    tag, word = unique("feed"), unique("w")
    pub = expect(admin.post("/v1/leaves", json={"url": new_url(), "tags": [tag], "is_public": True,
                                                "title": word + " <b>&amp; ]]> \u202e", "content_text": "text"}),
                 201, "a public leaf")["id"]
    hidden = expect(admin.post("/v1/leaves", json={"url": new_url(), "tags": [tag], "title": word}), 201,
                    "the admin's private leaf")["id"]
    token, _ = make_user(admin, unique("reader"), "curator")
    user = as_user(srv, token)
    me = expect(user.get("/v1/me", consistent=False), 200, "me")["user"]["name"]
    own = expect(user.post("/v1/leaves", json={"url": new_url(), "tags": [tag], "title": word}), 201,
                 "the curator's private leaf")["id"]
    feed_token = expect(user.post("/v1/users/%s/tokens" % me, json={"name": "my reader", "scopes": ["feed"]}), 201,
                        "a feed-only token")
    assert feed_token["scopes"] == ["feed"], feed_token
    anon = as_user(srv, None)
    wait_until(lambda: len(entries(admin.get("/v1/feed?tag=" + tag), "admin feed")) == 3, what="three entries")
    got = entries(anon.get("/v1/feed?tag=" + tag), "the anonymous feed of the tag")
    assert set(got) == {pub}, "anonymous readers get the public leaves only, got %r" % sorted(got)
    assert got[pub].find(ATOM + "title").text == word + " <b>&amp; ]]> \u202e", "the title round-trips as text"
    got = entries(anon.get("/v1/feed?tag=%s&token=%s" % (tag, feed_token["token"])), "the feed with ?token=")
    assert set(got) == {pub, own}, "the feed token sees public leaves and its user's own, got %r" % sorted(got)
    # The token in the URL counts on the feed only, and a feed-only token opens nothing else.
    body = expect(anon.get("/v1/leaves?tag=%s&token=%s" % (tag, feed_token["token"])), 400,
                  "?token= on another route")
    assert "token" in str(body), body
    expect_error(as_user(srv, feed_token["token"]).get("/v1/leaves?tag=" + tag), 403, "permission_denied",
                 "a feed-only token on the leaves")
    feed_only = as_user(srv, feed_token["token"])
    me_feed = expect(feed_only.get("/v1/me"), 200, "/v1/me with a feed-only token")
    assert "user" not in me_feed and me_feed["scopes"] == ["feed"], "a feed-only token names no user: %r" % me_feed
    expect_error(feed_only.post("/v1/users/%s/tokens" % me, json={"name": "escalate", "scopes": ["read"]}), 403,
                 "permission_denied", "a feed-only token minting a token")
    expect_error(feed_only.get("/v1/users/%s/tokens" % me), 403, "permission_denied",
                 "a feed-only token listing tokens")
    # A saved search.
    wait_until(lambda: (lambda r: r.status_code == 200 and len(entries(r, "search feed")) == 3)(
        admin.get("/v1/feed?q=" + word)), timeout=15, what="the search feed")
    got = entries(user.get("/v1/feed?q=%s" % word), "the curator's search feed")
    assert set(got) == {pub, own}, "a search feed shows what its caller may see, got %r" % sorted(got)
    expect_error(anon.get("/v1/feed?color=red"), 400, "invalid_query", "an unknown parameter")
    # Revoked: the feed fails at once.
    expect(user.delete("/v1/users/%s/tokens/%s" % (me, feed_token["id"])), 200, "revoke the feed token")
    r = anon.get("/v1/feed?tag=%s&token=%s" % (tag, feed_token["token"]))
    assert r.status_code == 401, "a revoked feed token: expected 401\n  %s" % describe(r)
    log = open(srv.stderr_path).read()
    assert feed_token["token"] not in log and token not in log, "a token appears in the server's log"
    assert hidden not in got
