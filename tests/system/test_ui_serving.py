"""How the Leaves Reader is served (HTTP only; tests/browser drives it in chromium)."""

import gzip
import re

import requests
from leaves_testlib import expect, expect_error, new_url

CSP_NEEDS = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
             "base-uri 'none'", "connect-src 'self'"]


def page(client, path="/", **headers):
    return requests.get(client.url(path), headers=headers, timeout=5)


def assets_of(html):
    return re.findall(r'(?:src|href)="(/ui/[^"]+)"', html)


def test_the_page_is_served_at_its_routes_with_strict_security_headers(client):
    for path in ["/", "/?q=kafka&tag=x", "/leaf/abc", "/tags", "/save", "/import", "/ops"]:
        r = page(client, path, **{"Accept-Encoding": "identity"})
        expect(r, 200, "GET " + path)
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        csp = r.headers.get("Content-Security-Policy", "")
        for part in CSP_NEEDS:
            assert part in csp, "%s: CSP has %r, got %r" % (path, part, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert r.headers.get("Cache-Control") == "no-cache"
        assert "<script" in r.text and "Leaves Reader" in r.text
        # No inline script or style: every script has a src, there is no style element or attribute.
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), "an inline script in the page"
        assert "<style" not in r.text and "style=" not in r.text
    expect_error(page(client, "/nope"), 404, "not_found")


def test_assets_have_hashed_names_are_immutable_and_precompressed(client):
    html = page(client, "/").text
    assets = assets_of(html)
    assert len(set(assets)) >= 3, "the page names its script, stylesheet and icon, got %r" % assets
    total = len(html.encode())
    for path in set(assets):
        assert re.match(r"^/ui/[a-z]+\.[0-9a-f]{12}\.(js|css|svg)$", path), path
        plain = page(client, path, **{"Accept-Encoding": "identity"})
        expect(plain, 200, path)
        assert "Content-Encoding" not in plain.headers
        assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert plain.headers["X-Content-Type-Options"] == "nosniff"
        gz = requests.get(client.url(path), headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True)
        assert gz.headers.get("Content-Encoding") == "gzip"
        assert gzip.decompress(gz.raw.read()) == plain.content, "the gzip copy of %s is the same file" % path
        br = requests.get(client.url(path), headers={"Accept-Encoding": "gzip, br"}, timeout=5, stream=True)
        assert br.headers.get("Content-Encoding") in ("br", "gzip"), "br preferred when built with brotli"
        if br.headers.get("Content-Encoding") == "br":
            assert len(br.raw.read()) < len(plain.content)
        total += len(plain.content)
        etag = plain.headers["ETag"]
        again = page(client, path, **{"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", "304 for a known ETag, got %d" % again.status_code
    assert total < 200 * 1024, "the page with its assets weighs %d bytes, the budget is 200 KB" % total
    r = page(client, "/ui/app.000000000000.js")
    expect_error(r, 404, "not_found")
    expect_error(page(client, "/ui/index.html"), 404, "not_found")
    expect_error(page(client, "/ui/../docs/openapi.json"), 404)


def test_a_leafs_content_is_served_sanitised(client):
    made = client.create(url=new_url(), title="hostile", content=(
        '<p>kept <b onclick="x()">bold</b></p><script>alert(1)</script>'
        '<img src="https://img.example/a.png" onerror="alert(2)" width="20">'
        '<img src="javascript:alert(3)" alt="alt text">'
        '<a href="javascript:alert(4)">js</a><a href="https://ok.example/">ok</a>'
        '<iframe src="https://x.example/"></iframe><form action="/v1/leaves"><input></form>'
        '<div style="background:url(javascript:alert(5))">styled</div>'))
    r = client.get("/v1/leaves/%s/content" % made["id"])
    body = expect(r, 200, "content")
    assert body["id"] == made["id"] and body["version"] == made["version"]
    html = body["html"]
    assert html == ('<p>kept <b>bold</b></p>'
                    '<img src="https://img.example/a.png" width="20" loading="lazy" referrerpolicy="no-referrer">'
                    'alt text<a>js</a>'
                    '<a href="https://ok.example/" rel="noopener noreferrer nofollow" target="_blank">ok</a>'
                    '<div>styled</div>'), "sanitised content, got %r" % html
    assert r.headers["ETag"] == '"%d"' % made["version"]
    empty = client.create(url=new_url(), title="no content")
    assert expect(client.get("/v1/leaves/%s/content" % empty["id"]), 200)["html"] == ""
    expect_error(client.get("/v1/leaves/%s/content" % ("f" * 32)), 404, "leaf_not_found")
    expect_error(client.get("/v1/leaves/%s/content?x=1" % made["id"]), 400, "invalid_query")
