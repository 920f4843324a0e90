"""v1 leaf CRUD: POST/GET/PATCH/DELETE /v1/leaves, tag endpoints, leaf form, ETag/If-Match,
Leaves-Position."""

from leaves_testlib import (ISO_MS_RE, POSITION_RE, describe, expect, expect_error, md5_hex, new_url,
                            unique, unique_user)

V1_FIELDS = {
    "id": (str,), "url": (str,), "title": (str,), "content": (str, type(None)),
    "content_text": (str, type(None)), "tags": (list, type(None)), "slugs": (list, type(None)),
    "all": (list,), "links": (list,), "domain_name": (str,), "is_archived": (bool,),
    "is_starred": (bool,), "is_public": (bool,), "created_at": (str,), "updated_at": (str,),
    "user_id": (int, type(None)), "user_name": (str,), "user_email": (str,),
    "mimetype": (str, type(None)), "language": (str, type(None)), "reading_time": (int,),
    "preview_picture": (str, type(None)), "http_status": (str, type(None)),
    "published_at": (list, type(None)), "published_by": (list, type(None)), "version": (int,),
}


def check_v1_form(leaf, what="leaf"):
    assert isinstance(leaf, dict), "%s: expected a JSON object, got %r" % (what, leaf)
    missing = sorted(set(V1_FIELDS) - set(leaf))
    assert not missing, "%s: v1 leaf lacks fields %s; got keys %s" % (what, missing, sorted(leaf))
    bad = {}
    for k, types in V1_FIELDS.items():
        v = leaf[k]
        ok = any(type(v) is t for t in types)  # exact: bool is not int, int is not bool
        if not ok:
            bad[k] = "%r (%s), want %s" % (v, type(v).__name__, "/".join(t.__name__ for t in types))
    assert not bad, "%s: wrong JSON types: %s" % (what, bad)
    for k in ("created_at", "updated_at"):
        assert ISO_MS_RE.match(leaf[k]), "%s: %s should look like 2019-08-02T21:45:12.000Z, got %r" % (
            what, k, leaf[k])


def position_of(resp, what="write"):
    h = resp.headers.get("Leaves-Position")
    assert h is not None, "%s: missing Leaves-Position header\n  %s" % (what, describe(resp))
    assert POSITION_RE.match(h), "%s: Leaves-Position should be <partition>:<offset>, got %r" % (what, h)
    return h


def etag_version(resp, what="write"):
    h = resp.headers.get("ETag")
    assert h is not None, "%s: missing ETag header\n  %s" % (what, describe(resp))
    assert h.startswith('"') and h.endswith('"') and h[1:-1].isdigit(), (
        "%s: ETag should be \"<version>\", got %r" % (what, h))
    return int(h[1:-1])


# ------------------------------------------------------------------- create / get


def test_create_new_leaf_defaults(client):
    url = new_url("https://example.com/a/")
    r = client.post("/v1/leaves", json={"url": url, "title": "Hello"})
    leaf = expect(r, 201, "POST /v1/leaves new url")
    check_v1_form(leaf, "POST /v1/leaves response")
    lid = md5_hex(url)
    assert leaf["id"] == lid, "id must be md5 hex of url: expected %s, got %s" % (lid, leaf["id"])
    assert leaf["url"] == url and leaf["title"] == "Hello", leaf
    assert leaf["domain_name"] == "https://example.com", "domain_name: expected %r, got %r" % (
        "https://example.com", leaf["domain_name"])
    assert leaf["links"] == ["api/entries/%s" % lid], "links: expected %r, got %r" % (
        ["api/entries/%s" % lid], leaf["links"])
    assert leaf["tags"] == [] and leaf["slugs"] == [], "new leaf: tags/slugs expected [], got %r/%r" % (
        leaf["tags"], leaf["slugs"])
    assert leaf["is_archived"] is False and leaf["is_starred"] is False and leaf["is_public"] is False
    assert leaf["version"] == 1, "new leaf version: expected 1, got %r" % leaf["version"]
    position_of(r, "POST /v1/leaves")
    assert etag_version(r, "POST /v1/leaves") == 1

    got = client.get_leaf(lid)
    check_v1_form(got, "GET /v1/leaves/{id}")
    assert got == leaf, "GET after POST differs from POST response:\n  POST: %r\n  GET:  %r" % (leaf, got)


def test_domain_name_keeps_port_and_scheme(client):
    url = "http://Example.org:8080/x/" + unique()
    leaf = client.create(url=url)
    assert leaf["domain_name"] in ("http://Example.org:8080", "http://example.org:8080"), (
        "domain_name: expected scheme://host:port, got %r" % leaf["domain_name"])


def test_create_with_all_fields_and_lenient_input(client):
    url = new_url()
    uid = unique_user()
    body = {
        "url": url, "title": "T", "content": "<p>c</p>", "content_text": "c",
        "tags": ["  hello world  ", "a", "a", "x\ty"], "all": ["1", "x"],
        "_links": ["/api/entries/77"], "domain_name": "example.com",
        "is_archived": 1, "is_starred": True, "is_public": 0,
        "created_at": 1564782312000, "updated_at": "2019-08-02T21:45:18Z",
        "user_id": uid, "user_name": "admin", "user_email": "a@b.c", "mimetype": "text/html",
        "language": "en", "reading_time": 17, "preview_picture": "https://example.com/p.png",
        "http_status": 200, "published_at": ["2019-01-01"], "published_by": ["me"],
    }
    r = client.post("/v1/leaves", json=body)
    leaf = expect(r, 201, "POST with every field")
    check_v1_form(leaf)
    want = {
        "tags": ["hello.world", "a", "x.y"], "slugs": ["hello.world", "a", "x.y"], "all": ["1", "x"],
        "links": ["/api/entries/77"], "domain_name": "example.com", "is_archived": True,
        "is_starred": True, "is_public": False, "created_at": "2019-08-02T21:45:12.000Z",
        "updated_at": "2019-08-02T21:45:18.000Z", "user_id": uid, "http_status": "200",
        "reading_time": 17, "language": "en", "published_at": ["2019-01-01"], "published_by": ["me"],
        "content": "<p>c</p>", "content_text": "c", "preview_picture": "https://example.com/p.png",
    }
    diff = {k: (v, leaf.get(k)) for k, v in want.items() if leaf.get(k) != v}
    assert not diff, "field: (expected, got): %s" % diff
    assert client.get_leaf(leaf["id"]) == leaf


def test_http_status_string_and_null(client):
    leaf = client.create(http_status="404")
    assert leaf["http_status"] == "404", leaf["http_status"]
    leaf = client.create(http_status=None)
    assert leaf["http_status"] is None, leaf["http_status"]


def test_post_existing_url_updates_or_is_unchanged(client):
    url = new_url()
    first = client.create(url=url, title="one")
    r = client.post("/v1/leaves", json={"url": url, "title": "two"})
    leaf = expect(r, 200, "POST existing url with a new title")
    assert leaf["title"] == "two" and leaf["version"] == first["version"] + 1, (
        "expected title 'two' at version %d, got %r at %r" % (first["version"] + 1, leaf["title"], leaf["version"]))
    position_of(r, "POST existing url (changed)")
    r = client.post("/v1/leaves", json={"url": url, "title": "two"})
    same = expect(r, 200, "POST existing url unchanged")
    assert same["version"] == leaf["version"], "unchanged POST must not bump version: %r -> %r" % (
        leaf["version"], same["version"])
    assert "Leaves-Position" not in r.headers, (
        "unchanged POST must not answer Leaves-Position (nothing written)\n  %s" % describe(r))
    assert client.get_leaf(leaf["id"])["title"] == "two"


def test_get_missing_leaf(client):
    r = client.get("/v1/leaves/" + md5_hex(new_url()))
    expect_error(r, 404, "leaf_not_found", "GET unknown leaf")


# ------------------------------------------------------------------- patch


def test_patch_updates_fields_and_version(client):
    leaf = client.create(title="before")
    r = client.patch("/v1/leaves/" + leaf["id"], json={"title": "after", "is_starred": 1, "reading_time": 3})
    got = expect(r, 200, "PATCH")
    check_v1_form(got, "PATCH response")
    assert got["title"] == "after" and got["is_starred"] is True and got["reading_time"] == 3, got
    assert got["version"] == leaf["version"] + 1, "PATCH version: expected %d, got %r" % (
        leaf["version"] + 1, got["version"])
    position_of(r, "PATCH")
    assert etag_version(r, "PATCH") == got["version"]
    assert client.get_leaf(leaf["id"]) == got


def test_patch_tags_slugs_follow(client):
    leaf = client.create()
    got = expect(client.patch("/v1/leaves/" + leaf["id"], json={"tags": ["a b", "c"]}), 200, "PATCH tags")
    assert got["tags"] == ["a.b", "c"] and got["slugs"] == ["a.b", "c"], (
        "PATCH tags: expected tags=slugs=['a.b','c'], got tags=%r slugs=%r" % (got["tags"], got["slugs"]))


def test_patch_missing_leaf(client):
    r = client.patch("/v1/leaves/" + md5_hex(new_url()), json={"title": "x"})
    expect_error(r, 404, "leaf_not_found", "PATCH unknown leaf")


def test_patch_same_url_is_allowed(client):
    leaf = client.create()
    r = client.patch("/v1/leaves/" + leaf["id"], json={"url": leaf["url"], "title": "t2"})
    got = expect(r, 200, "PATCH with the same url")
    assert got["title"] == "t2"


def test_patch_if_match(client):
    leaf = client.create()
    lid, v = leaf["id"], leaf["version"]
    r = client.patch("/v1/leaves/" + lid, json={"title": "x"}, headers={"If-Match": '"%d"' % (v + 5)})
    expect_error(r, 412, "version_mismatch", "PATCH with wrong If-Match")
    assert client.get_leaf(lid)["version"] == v, "a 412 PATCH must not change the leaf"
    r = client.patch("/v1/leaves/" + lid, json={"title": "x"}, headers={"If-Match": '"%d"' % v})
    got = expect(r, 200, "PATCH with matching quoted If-Match")
    r = client.patch("/v1/leaves/" + lid, json={"title": "y"}, headers={"If-Match": str(got["version"])})
    expect(r, 200, "PATCH with matching unquoted If-Match")


# ------------------------------------------------------------------- delete


def test_delete(client):
    leaf = client.create()
    lid = leaf["id"]
    r = client.delete("/v1/leaves/" + lid)
    body = expect(r, 200, "DELETE")
    assert body == {"id": lid, "deleted": True, "version": leaf["version"] + 1}, (
        "DELETE body: expected %r, got %r" % ({"id": lid, "deleted": True, "version": leaf["version"] + 1}, body))
    position_of(r, "DELETE")
    expect_error(client.get("/v1/leaves/" + lid), 404, "leaf_not_found", "GET after DELETE")
    expect_error(client.delete("/v1/leaves/" + lid), 404, "leaf_not_found", "second DELETE")
    expect_error(client.patch("/v1/leaves/" + lid, json={"title": "z"}), 404, "leaf_not_found",
                 "PATCH after DELETE")
    # The URL can be saved again.
    again = client.create(url=leaf["url"], title="back")
    assert again["id"] == lid and again["title"] == "back"
    assert client.get_leaf(lid)["title"] == "back"


def test_delete_if_match(client):
    leaf = client.create()
    r = client.delete("/v1/leaves/" + leaf["id"], headers={"If-Match": '"%d"' % (leaf["version"] + 1)})
    expect_error(r, 412, "version_mismatch", "DELETE with wrong If-Match")
    client.get_leaf(leaf["id"])
    r = client.delete("/v1/leaves/" + leaf["id"], headers={"If-Match": '"%d"' % leaf["version"]})
    expect(r, 200, "DELETE with matching If-Match")


def test_delete_missing(client):
    expect_error(client.delete("/v1/leaves/" + md5_hex(new_url())), 404, "leaf_not_found", "DELETE unknown")


# ------------------------------------------------------------------- tag endpoints


def test_tag_endpoints(client):
    leaf = client.create(tags=["a"])
    path = "/v1/leaves/%s/tags" % leaf["id"]

    r = client.post(path, json={"tags": ["b", " c d ", "a"]})
    got = expect(r, 200, "POST tags (add)")
    check_v1_form(got, "POST tags response")
    assert got["tags"] == ["a", "b", "c.d"] and got["slugs"] == got["tags"], (
        "add tags: expected tags=slugs=['a','b','c.d'], got %r / %r" % (got["tags"], got["slugs"]))
    position_of(r, "POST tags")
    assert etag_version(r) == got["version"] == leaf["version"] + 1

    r = client.delete(path, json={"tags": ["b", "zzz"]})
    got = expect(r, 200, "DELETE tags (remove)")
    assert got["tags"] == ["a", "c.d"] and got["slugs"] == ["a", "c.d"], got

    r = client.put(path, json={"tags": ["x", "y"]})
    got = expect(r, 200, "PUT tags (replace)")
    assert got["tags"] == ["x", "y"] and got["slugs"] == ["x", "y"], got

    # No-op add answers 200 without a position.
    r = client.post(path, json={"tags": ["x"]})
    same = expect(r, 200, "POST tags no-op")
    assert same["version"] == got["version"], "no-op tag add must not bump the version"
    assert "Leaves-Position" not in r.headers, "no-op tag add: Leaves-Position must be absent\n  %s" % describe(r)

    cur = client.get_leaf(leaf["id"])
    assert cur["tags"] == ["x", "y"] and cur["version"] == got["version"], cur


def test_tag_endpoints_errors(client):
    missing = "/v1/leaves/%s/tags" % md5_hex(new_url())
    for method in ("POST", "PUT", "DELETE"):
        r = client.request(method, missing, json={"tags": ["a"]})
        expect_error(r, 404, "leaf_not_found", "%s tags of unknown leaf" % method)
    leaf = client.create()
    path = "/v1/leaves/%s/tags" % leaf["id"]
    for method in ("POST", "PUT", "DELETE"):
        r = client.request(method, path, json={"tags": ["a"]}, headers={"If-Match": '"%d"' % (leaf["version"] + 3)})
        expect_error(r, 412, "version_mismatch", "%s tags with wrong If-Match" % method)
    expect_error(client.post(path, json={"tags": "a"}), 422, "invalid_field", "tags not an array",
                 message_contains="tags")
    expect_error(client.post(path, json=["a"]), 400, "invalid_json", "tags body not an object")
    r = client.post(path, json={"tags": ["ok"]}, headers={"If-Match": '"%d"' % leaf["version"]})
    expect(r, 200, "POST tags with matching If-Match")


def test_tag_limits(client):
    r = client.post("/v1/leaves", json={"url": new_url(), "tags": ["t%d" % i for i in range(101)]})
    expect_error(r, 422, "invalid_field", "101 tags", message_contains="tags")
    r = client.post("/v1/leaves", json={"url": new_url(), "tags": ["x" * 129]})
    expect_error(r, 422, "invalid_field", "tag of 129 bytes", message_contains="tags")
    r = client.post("/v1/leaves", json={"url": new_url(), "tags": ["   "]})
    expect_error(r, 422, "invalid_field", "blank tag", message_contains="tags")
    leaf = client.create(tags=["t%d" % i for i in range(100)])
    assert len(leaf["tags"]) == 100, "100 tags: got %d" % len(leaf["tags"])
    leaf = client.create(tags=["y" * 128])
    assert leaf["tags"] == ["y" * 128]


def test_content_type_with_charset_is_json(client):
    r = client.post("/v1/leaves", data=b'{"url": "%s"}' % new_url().encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    expect(r, 201, "POST with application/json; charset=utf-8")


# ------------------------------------------------------------------- more input handling


def test_version_keeps_counting_across_delete_and_recreate(client):
    leaf = client.create()
    d = expect(client.delete("/v1/leaves/" + leaf["id"]), 200, "DELETE")
    again = client.create(url=leaf["url"])
    assert again["version"] == d["version"] + 1, (
        "re-created leaf version: expected %d (keeps counting after delete at %d), got %r" % (
            d["version"] + 1, d["version"], again["version"]))


def test_null_and_digit_strings(client):
    leaf = client.create(title=None, user_name=None, all=None, links=None, user_id="42", reading_time="7")
    assert leaf["title"] == "" and leaf["user_name"] == "" and leaf["all"] == [] and leaf["links"] == [], leaf
    assert leaf["user_id"] == 42 and leaf["reading_time"] == 7, (
        "user_id/reading_time as digit strings: expected 42/7 ints, got %r/%r" % (leaf["user_id"], leaf["reading_time"]))


def test_unicode_and_tag_byte_limit(client):
    leaf = client.create(title="Grüße 👋", tags=["€" * 42, "日本語 タグ"])
    assert leaf["title"] == "Grüße 👋", leaf["title"]
    assert leaf["tags"] == ["€" * 42, "日本語.タグ"], leaf["tags"]
    r = client.post("/v1/leaves", json={"url": new_url(), "tags": ["€" * 43]})  # 129 bytes
    expect_error(r, 422, "invalid_field", "tag of 43 euro signs (129 bytes)", message_contains="tags")
    assert client.get_leaf(leaf["id"])["title"] == "Grüße 👋"


def test_control_characters_in_tag_rejected(client):
    r = client.post("/v1/leaves", json={"url": new_url(), "tags": ["a\u0001b"]})
    expect_error(r, 422, "invalid_field", "tag with a control character", message_contains="tags")


def test_concurrent_patches_with_same_if_match(client):
    import concurrent.futures
    leaf = client.create()
    v = leaf["version"]

    def one(i):
        import requests
        return requests.patch(client.url("/v1/leaves/" + leaf["id"]), json={"title": "racer%d" % i},
                              headers={"If-Match": '"%d"' % v}, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        responses = list(ex.map(one, range(8)))
    for r in responses:
        client.track(r)  # the read below waits for the winner's position
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1 and codes.count(412) == 7, (
        "8 concurrent PATCHes with If-Match \"%d\": expected exactly one 200 and seven 412, got %s" % (v, codes))
    assert client.get_leaf(leaf["id"])["version"] == v + 1


def test_concurrent_creates_of_same_url(client):
    import concurrent.futures
    import requests
    url = new_url()

    def one(i):
        r = requests.post(client.url("/v1/leaves"), json={"url": url}, timeout=10)
        return r.status_code, r.headers.get("Leaves-Position")

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(8)))
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1 and codes.count(200) == 7, (
        "8 concurrent POSTs of one new URL: expected one 201 and seven 200, got %s" % codes)
    created_at = [pos for code, pos in results if code == 201][0]
    r = client.get("/v1/leaves/" + md5_hex(url), consistent=False, headers={"Leaves-Min-Position": created_at})
    assert expect(r, 200, "get leaf after its 201")["version"] == 1
