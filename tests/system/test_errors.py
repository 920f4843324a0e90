"""Every error case of the contract: 400, 404, 405, 412 (in test_leaves_v1), 413, 415, 422, 431."""

import json

import pytest

from leaves_testlib import describe, expect, expect_error, md5_hex, new_url, raw_http, trunc


def nested(depth):
    """A JSON object whose nesting depth (counting the outer object) is `depth`."""
    inner = "[" * (depth - 1) + "1" + "]" * (depth - 1)
    return ('{"title": %s}' % inner).encode()


# ------------------------------------------------------------------- 400 invalid_json


@pytest.mark.parametrize("body", [b"not json", b'{"url": ', b"", b"[1,2]", b'"str"', b"42", b"null",
                                  b'{"url": "https://e.com/a"} trailing'],
                         ids=["text", "truncated", "empty", "array", "string", "number", "null", "trailing"])
def test_post_invalid_json(client, body):
    r = client.post("/v1/leaves", data=body, headers={"Content-Type": "application/json"})
    expect_error(r, 400, "invalid_json", "POST /v1/leaves body %r" % body)


@pytest.mark.parametrize("depth", [40, 1000, 100000])
def test_json_too_deep(client, depth):
    r = client.post("/v1/leaves", data=nested(depth), headers={"Content-Type": "application/json"})
    expect_error(r, 400, "invalid_json", "POST JSON nested %d deep" % depth)


def test_json_too_deep_checked_before_fields(client):
    body = json.dumps({"url": new_url(), "unknown_x": 1})[:-1] + ', "t": ' + "[" * 40 + "]" * 40 + "}"
    r = client.post("/v1/leaves", data=body.encode(), headers={"Content-Type": "application/json"})
    expect_error(r, 400, "invalid_json", "POST JSON nested 40 deep with an unknown field")


def test_moderate_depth_is_fine(client):
    # depth 10 is parsed; the value is then a semantic error (title must be a string).
    r = client.post("/v1/leaves", data=nested(10), headers={"Content-Type": "application/json"})
    expect_error(r, 422, None, "POST JSON nested 10 deep (title not a string)")


def test_patch_invalid_json(client):
    leaf = client.create()
    r = client.patch("/v1/leaves/" + leaf["id"], data=b"{bad", headers={"Content-Type": "application/json"})
    expect_error(r, 400, "invalid_json", "PATCH with broken JSON")
    r = client.patch("/v1/leaves/" + leaf["id"], json=[1])
    expect_error(r, 400, "invalid_json", "PATCH with an array body")


def test_bulk_invalid_json(client):
    r = client.post("/v1/bulk/leaves", data=b"{", headers={"Content-Type": "application/json"})
    expect_error(r, 400, "invalid_json", "bulk with broken JSON")
    r = client.post("/v1/bulk/leaves", json=[{"url": new_url()}])
    expect_error(r, 400, "invalid_json", "bulk with an array body")


# ------------------------------------------------------------------- 400 invalid_query


@pytest.mark.parametrize("query", [
    "limit=0", "limit=101", "limit=-1", "limit=abc", "page_token=%%%%garbage", "page_token=not-a-token",
    "sort=bogus", "order=sideways", "starred=maybe", "archived=2", "public=yes!", "since=yesterday",
    "until=2019-13-45", "min_position=abc", "min_position=1", "min_position=0:x",
])
def test_list_invalid_query(client, query):
    r = client.get("/v1/leaves?" + query, consistent=False)
    expect_error(r, 400, "invalid_query", "GET /v1/leaves?%s" % query)


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x"])
def test_tags_invalid_query(client, query):
    expect_error(client.get("/v1/tags?" + query, consistent=False), 400, "invalid_query", "GET /v1/tags?" + query)


def test_bad_min_position_header(client):
    r = client.get("/v1/leaves", consistent=False, headers={"Leaves-Min-Position": "nonsense"})
    expect_error(r, 400, "invalid_query", "Leaves-Min-Position: nonsense")


def test_limits_in_range_ok(client):
    expect(client.get("/v1/leaves?limit=1", consistent=False), 200)
    expect(client.get("/v1/leaves?limit=100", consistent=False), 200)
    expect(client.get("/v1/tags?limit=1", consistent=False), 200)
    expect(client.get("/v1/tags?limit=1000", consistent=False), 200)


# ------------------------------------------------------------------- 404


@pytest.mark.parametrize("method,path", [
    ("GET", "/nope"), ("GET", "/v1/nope"), ("GET", "/v1/leaves/abc/def/ghi"), ("POST", "/v1/unknown"),
    ("GET", "/api/nope"), ("GET", "/v2/leaves"),
])
def test_unknown_route(client, method, path):
    r = client.request(method, path, json={} if method == "POST" else None)
    expect_error(r, 404, "not_found", "%s %s" % (method, path))


# ------------------------------------------------------------------- 405


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/v1/leaves", {"GET", "POST"}),
    ("DELETE", "/v1/leaves", {"GET", "POST"}),
    ("POST", "/v1/leaves/ID", {"GET", "PATCH", "DELETE"}),
    ("PUT", "/v1/leaves/ID", {"GET", "PATCH", "DELETE"}),
    ("GET", "/v1/leaves/ID/tags", {"POST", "PUT", "DELETE"}),
    ("PATCH", "/v1/leaves/ID/tags", {"POST", "PUT", "DELETE"}),
    ("POST", "/v1/tags", {"GET"}),
    ("GET", "/v1/bulk/leaves", {"POST"}),
    ("POST", "/healthz", {"GET"}),
    ("DELETE", "/metrics", {"GET"}),
    ("PUT", "/api/leaves", {"GET", "POST"}),
    ("PUT", "/api/leaves/ID", {"GET", "PATCH", "DELETE"}),
    ("PUT", "/api/leaves/ID/tags", {"GET", "POST", "DELETE"}),
])
def test_method_not_allowed(client, method, path, allowed):
    path = path.replace("ID", md5_hex(new_url()))
    kw = {"json": {"tags": ["a"]}} if method in ("POST", "PUT", "PATCH") else {}
    r = client.request(method, path, **kw)
    expect_error(r, 405, "method_not_allowed", "%s %s" % (method, path))
    allow = r.headers.get("Allow")
    assert allow is not None, "405 must carry an Allow header\n  %s" % describe(r)
    got = {m.strip().upper() for m in allow.split(",") if m.strip()}
    assert allowed <= got, "Allow for %s: expected at least %s, got %r" % (path, sorted(allowed), allow)
    assert method not in got, "Allow for %s lists the rejected method %s: %r" % (path, method, allow)


# ------------------------------------------------------------------- 413


def test_body_too_large(client):
    big = json.dumps({"url": new_url(), "content": "x" * (1024 * 1024 + 100)}).encode()
    req = (b"POST /v1/leaves HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (client.host.encode(), client.port, len(big))) + big
    r = raw_http(client.host, client.port, req, timeout=10)
    assert r.status_code == 413, "POST body of %d bytes: expected 413, got %r" % (len(big), r)
    err = r.json().get("error", {})
    assert err.get("code") == "body_too_large", "413 code: expected body_too_large, got %r" % (r,)


def test_body_just_under_limit_ok(client):
    # content limit in the domain is 1 MiB too, so stay well under both.
    body = json.dumps({"url": new_url(), "content": "y" * (1024 * 1024 - 4096)}).encode()
    assert len(body) <= 1024 * 1024
    r = client.post("/v1/leaves", data=body, headers={"Content-Type": "application/json"}, timeout=15)
    expect(r, 201, "POST body of %d bytes (under 1 MiB)" % len(body))


def test_body_too_large_chunked(client):
    chunk = b"x" * 65536
    parts = [b'{"url": "%s", "content": "' % new_url().encode()] + [chunk] * 17 + [b'"}']
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    req = (b"POST /v1/leaves HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % (client.host.encode(), client.port)) + body
    r = raw_http(client.host, client.port, req, timeout=10)
    assert r.status_code == 413, "chunked POST body of ~1.1 MiB: expected 413, got %r" % (r,)


# ------------------------------------------------------------------- 415


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_unsupported_media_type_post(client, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = client.post("/v1/leaves", data=json.dumps({"url": new_url()}).encode(), headers=headers)
    expect_error(r, 415, "unsupported_media_type", "POST /v1/leaves with Content-Type %r" % ctype)


def test_unsupported_media_type_patch_put_bulk(client):
    leaf = client.create()
    r = client.patch("/v1/leaves/" + leaf["id"], data=b'{"title":"x"}', headers={"Content-Type": "text/plain"})
    expect_error(r, 415, "unsupported_media_type", "PATCH text/plain")
    r = client.put("/v1/leaves/%s/tags" % leaf["id"], data=b'{"tags":["a"]}', headers={"Content-Type": "text/plain"})
    expect_error(r, 415, "unsupported_media_type", "PUT tags text/plain")
    r = client.post("/v1/bulk/leaves", data=b'{"items":[]}', headers={"Content-Type": "text/csv"})
    expect_error(r, 415, "unsupported_media_type", "bulk text/csv")


# ------------------------------------------------------------------- 422


@pytest.mark.parametrize("url,why", [
    ("ftp://example.com/file", "ftp scheme"),
    ("http://", "no host"),
    ("https:///path-only", "empty host"),
    ("example.com/relative", "relative"),
    ("/just/a/path", "path only"),
    ("", "empty"),
    ("mailto:someone@example.com", "mailto"),
    ("https://example.com/" + "a" * 4100, "over 4096 bytes"),
])
def test_invalid_url(client, url, why):
    r = client.post("/v1/leaves", json={"url": url})
    expect_error(r, 422, "invalid_field", "POST url %s (%s)" % (trunc(url, 60), why), message_contains="url")


def test_url_exactly_4096_ok(client):
    prefix = "https://example.com/"
    url = prefix + "b" * (4096 - len(prefix))
    assert len(url) == 4096
    leaf = client.create(url=url)
    assert leaf["url"] == url


def test_url_wrong_type(client):
    expect_error(client.post("/v1/leaves", json={"url": 42}), 422, "invalid_field", "url: 42", message_contains="url")


def test_missing_url(client):
    r = client.post("/v1/leaves", json={"title": "no url"})
    expect_error(r, 422, None, "POST without url", message_contains="url")


def test_unknown_field(client):
    r = client.post("/v1/leaves", json={"url": new_url(), "colour": "red"})
    expect_error(r, 422, "unknown_field", "POST with unknown field", message_contains="colour")
    leaf = client.create()
    r = client.patch("/v1/leaves/" + leaf["id"], json={"favourite": True})
    expect_error(r, 422, "unknown_field", "PATCH with unknown field", message_contains="favourite")


@pytest.mark.parametrize("field,value", [
    ("is_starred", 2), ("is_archived", "yes"), ("is_public", None), ("title", 5), ("tags", "a"),
    ("tags", [1]), ("created_at", "not a time"), ("reading_time", "x"),
    ("user_id", "abc"), ("http_status", [200]), ("all", "x"),
])
def test_invalid_field_values(client, field, value):
    r = client.post("/v1/leaves", json={"url": new_url(), field: value})
    expect_error(r, 422, "invalid_field", "POST %s=%r" % (field, value), message_contains=field)


def test_url_immutable_on_patch(client):
    leaf = client.create()
    r = client.patch("/v1/leaves/" + leaf["id"], json={"url": new_url()})
    expect_error(r, 422, "url_immutable", "PATCH with a different url", message_contains="url")
    assert client.get_leaf(leaf["id"])["url"] == leaf["url"]


# ------------------------------------------------------------------- 431


def test_headers_too_large_single(client):
    req = (b"GET /v1/leaves HTTP/1.1\r\nHost: %s:%d\r\nX-Big: %s\r\nConnection: close\r\n\r\n"
           % (client.host.encode(), client.port, b"a" * 20000))
    r = raw_http(client.host, client.port, req)
    assert r.status_code == 431, "GET with a 20000-byte header: expected 431, got %r" % (r,)
    assert r.json().get("error", {}).get("code") == "headers_too_large", "431 code: got %r" % (r,)


def test_headers_too_large_many(client):
    hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
    req = b"GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n%sConnection: close\r\n\r\n" % (
        client.host.encode(), client.port, hdrs)
    r = raw_http(client.host, client.port, req)
    assert r.status_code == 431, "GET with 200 headers (~21 KiB): expected 431, got %r" % (r,)


def test_headers_under_limit_ok(client):
    r = client.get("/healthz", consistent=False, headers={"X-Medium": "m" * 8000})
    expect(r, 200, "GET with an 8000-byte header (under 16 KiB)")


def test_server_still_healthy_after_errors(client):
    expect(client.get("/healthz", consistent=False), 200, "healthz after the error tests")


def test_max_body_bytes_flag(server_factory):
    srv = server_factory.make(args=["--max-body-bytes", "2000"])
    c = srv.client
    small = {"url": new_url(), "title": "s" * 500}
    expect(c.post("/v1/leaves", json=small), 201, "1 KB body with --max-body-bytes 2000")
    big = json.dumps({"url": new_url(), "title": "b" * 3000}).encode()
    req = (b"POST /v1/leaves HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (c.host.encode(), c.port, len(big))) + big
    r = raw_http(c.host, c.port, req)
    assert r.status_code == 413, "3 KB body with --max-body-bytes 2000: expected 413, got %r" % (r,)
