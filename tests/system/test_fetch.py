"""The page fetcher and extractor of enrichment (docs/fetch.md), through
`leaves fetch URL`, against a local HTTP server on 127.0.0.1 serving pages
shaped like the real web (tests/fixtures/pages) and misbehaving servers:
redirect chains and loops, a trickling answer, a huge page, a gzip bomb,
errors, non-UTF-8 charsets. Private fetching is allowed for these (the
fixtures are on loopback), except in the tests that prove it is refused by
default. Needs no backend: runs in the embedded suite only."""
import gzip
import http.server
import json
import os
import pathlib
import subprocess
import threading
import time

import pytest

from leaves_testlib import tiny_pdf

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("LEAVES_TEST_KAFKA") or os.environ.get("LEAVES_TEST_CASSANDRA")),
    reason="the fetcher does not use the backends: it runs in the embedded suite",
)

PAGES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pages"
BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", ctype="text/html", headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, to, status=302):
        self.send(status, b"", None, [("Location", to)])

    def do_GET(self):  # noqa: C901 (one route per case)
        p = self.path
        self.server.seen.append((p, self.headers.get("User-Agent", ""), self.headers.get("Accept-Encoding", "")))
        if p == "/2026/11/log-compaction":
            self.send(200, (PAGES / "article.html").read_bytes(), "text/html; charset=utf-8")
        elif p == "/latin1":
            self.send(200, (PAGES / "latin1.html").read_bytes(), "text/html; charset=ISO-8859-1")
        elif p == "/blog/meta-charset":
            self.send(200, (PAGES / "meta-charset.html").read_bytes(), "text/html")
        elif p.startswith("/hop/"):
            n = int(p.split("/")[2])
            self.redirect("/hop/%d" % (n - 1) if n > 1 else "/2026/11/log-compaction", 301 if n % 2 else 302)
        elif p == "/loop":
            self.redirect("/loop")
        elif p == "/to-file":
            self.redirect("file:///etc/passwd")
        elif p.startswith("/to-internal/"):
            self.redirect("http://%s:%d/2026/11/log-compaction" % (p.split("/")[2], self.server.server_address[1]))
        elif p == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
        elif p == "/huge":
            self.send(200, b"<p>" + b"a" * (6 * 1024 * 1024) + b"</p>")
        elif p == "/bomb":
            self.send(200, BOMB, "text/html", [("Content-Encoding", "gzip")])
        elif p == "/gzip-page":
            self.send(200, gzip.compress((PAGES / "article.html").read_bytes()), "text/html; charset=utf-8",
                      [("Content-Encoding", "gzip")])
        elif p == "/missing":
            self.send(404, b"<h1>Not found</h1>")
        elif p == "/broken":
            self.send(500, b"<h1>Oops</h1>")
        elif p == "/busy":
            self.send(429, b"slow down", "text/plain", [("Retry-After", "7")])
        elif p == "/paper.pdf":
            self.send(200, tiny_pdf("Compaction in Practice", ["Log compaction keeps the last value of a key.",
                                                               "Tombstones delete keys."]), "application/pdf")
        elif p == "/broken.pdf":
            self.send(200, b"%PDF-1.4\nthis is not really a PDF at all", "application/pdf")
        elif p == "/picture.png":
            self.send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
        else:
            self.send(404, b"no such fixture")


@pytest.fixture(scope="module")
def site():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.seen = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def fetch(leaves_bin, url, *flags, private=True, timeout=30):
    args = [leaves_bin, "fetch", url] + (["--allow-private"] if private else []) + list(flags)
    started = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - started
    assert p.returncode in (0, 1), "leaves fetch %s: exit %d, stderr %s" % (url, p.returncode, p.stderr)
    out = json.loads(p.stdout)
    out["_exit"] = p.returncode
    out["_elapsed"] = elapsed
    return out


def base(site):
    return "http://127.0.0.1:%d" % site.server_address[1]


def test_article_in_boilerplate_is_extracted_with_its_metadata(leaves_bin, site):
    r = fetch(leaves_bin, base(site) + "/2026/11/log-compaction")
    assert r["_exit"] == 0 and r["http_status"] == 200, r
    page = r["page"]
    b = base(site)
    assert page["title"] == "Log compaction, explained"
    assert page["excerpt"].startswith("How a compacted topic keeps the last value"), page["excerpt"]
    assert page["preview_picture"] == b + "/media/compaction-cover.jpg"
    assert page["canonical_url"] == b + "/2026/11/log-compaction"
    assert page["favicon"] == b + "/static/favicon-32.png"
    assert page["language"] == "en"
    assert page["published_by"] == "Rosa Kafkaesque"
    assert page["published_at"] == "2026-11-28T09:30:00Z"
    text = page["content_text"]
    # The article, all of it ...
    for words in ("A compacted topic keeps, for every key", "A record with a key and a null value is a tombstone",
                  "Compaction is not immediate"):
        assert words in text, "article text missing %r in %r" % (words, text)
    # ... and none of the page's boilerplate.
    for junk in ("Trending", "StreamCorp", "cookies", "42 comments", "Great article", "All rights reserved",
                 "Subscribe", "Related", "trackRead", "dataLayer"):
        assert junk not in text, "boilerplate %r kept in the article: %r" % (junk, text)
    html = page["content"]
    assert '<img src="%s/media/cleaner-diagram.png"' % b in html, html
    assert 'href="%s/tutorials/consumers"' % b in html, html
    assert "<script" not in html and "onclick" not in html
    words = len(text.split())
    assert 200 < words < 400, words
    assert page["reading_time"] == (words + 199) // 200, (page["reading_time"], words)


def test_the_client_names_itself_and_takes_compressed_pages(leaves_bin, site):
    r = fetch(leaves_bin, base(site) + "/gzip-page")
    assert r["_exit"] == 0, r
    assert r["page"]["title"] == "Log compaction, explained"
    path, agent, encodings = [s for s in site.seen if s[0] == "/gzip-page"][-1]
    assert agent.startswith("leaves/"), agent
    assert "gzip" in encodings and "br" in encodings, encodings


def test_charsets_are_decoded_to_utf8(leaves_bin, site):
    r = fetch(leaves_bin, base(site) + "/latin1")
    assert r["charset"] == "iso-8859-1"
    assert r["page"]["title"] == "Café crème"
    assert r["page"]["language"] == "fr"
    # Latin-1 is read as windows-1252 (as browsers do): 0x80 is the euro sign.
    assert "naïvement, € 2 le verre" in r["page"]["content_text"], r["page"]["content_text"]
    m = fetch(leaves_bin, base(site) + "/blog/meta-charset")
    assert m["charset"] == "", "the header names no charset: the page's meta element does"
    assert m["page"]["charset_used"] == "windows-1252"
    assert m["page"]["title"] == "\u201cQuoted\u201d title \u2013 dash"
    assert m["page"]["preview_picture"] == base(site) + "/pics/cover.png", "a relative og:image is made absolute"


def test_redirects_are_followed_up_to_five(leaves_bin, site):
    r = fetch(leaves_bin, base(site) + "/hop/3")
    assert r["_exit"] == 0 and r["redirects"] == 3, r
    assert r["final_url"] == base(site) + "/2026/11/log-compaction"
    assert r["page"]["title"] == "Log compaction, explained"
    six = fetch(leaves_bin, base(site) + "/hop/6")
    assert six["_exit"] == 1 and six["error"] == "more than 5 redirects", six
    loop = fetch(leaves_bin, base(site) + "/loop")
    assert loop["_exit"] == 1 and loop["error"] == "more than 5 redirects", loop
    f = fetch(leaves_bin, base(site) + "/to-file")
    assert f["_exit"] == 1 and "another scheme" in f["error"], f


def test_a_trickling_server_is_cut_off_by_the_total_timeout(leaves_bin, site):
    r = fetch(leaves_bin, base(site) + "/trickle", "--timeout-ms", "1500")
    assert r["_exit"] == 1 and r["error"].startswith("timed out"), r
    assert r["retryable"] is True
    assert r["_elapsed"] < 5, "took %.1f s for a 1.5 s limit" % r["_elapsed"]


def test_bodies_are_capped_after_decompression(leaves_bin, site):
    huge = fetch(leaves_bin, base(site) + "/huge")
    assert huge["_exit"] == 1 and huge["error"] == "the page is larger than 5242880 bytes", huge
    bomb = fetch(leaves_bin, base(site) + "/bomb", "--max-bytes", "1000000")
    assert bomb["_exit"] == 1 and bomb["error"] == "the page is larger than 1000000 bytes", bomb
    assert bomb["_elapsed"] < 10


def test_errors_say_whether_to_retry(leaves_bin, site):
    missing = fetch(leaves_bin, base(site) + "/missing")
    assert (missing["_exit"], missing["http_status"], missing["retryable"]) == (1, 404, False), missing
    broken = fetch(leaves_bin, base(site) + "/broken")
    assert (broken["_exit"], broken["http_status"], broken["retryable"]) == (1, 500, True), broken
    busy = fetch(leaves_bin, base(site) + "/busy")
    assert (busy["http_status"], busy["retryable"], busy.get("retry_after_s")) == (429, True, 7), busy
    pic = fetch(leaves_bin, base(site) + "/picture.png")
    assert pic["_exit"] == 0 and pic["mimetype"] == "image/png" and "page" not in pic, pic
    closed = fetch(leaves_bin, "http://127.0.0.1:9/")  # nothing listens on the discard port
    assert closed["_exit"] == 1 and closed["retryable"] is True and closed["refused"] is False, closed


@pytest.mark.parametrize("url,why", [
    ("http://127.0.0.1:%d/2026/11/log-compaction", "loopback"),
    ("http://localhost:%d/2026/11/log-compaction", "loopback"),
    ("http://[::1]:%d/", "loopback"),
    ("http://[::ffff:127.0.0.1]:%d/", "loopback"),
    ("http://10.1.2.3:%d/", "private"),
    ("http://192.168.1.1:%d/", "private"),
    ("http://169.254.169.254:%d/latest/meta-data/", "link-local"),
    ("http://100.64.0.1:%d/", "shared"),
    ("http://0.0.0.0:%d/", "unspecified"),
])
def test_internal_addresses_are_refused_by_default(leaves_bin, site, url, why):
    before = len(site.seen)
    r = fetch(leaves_bin, url % site.server_address[1], private=False, timeout=20)
    assert r["_exit"] == 1 and r["refused"] is True and r["retryable"] is False, r
    assert why in r["error"], r["error"]
    assert len(site.seen) == before, "the fixture server was reached"


@pytest.mark.parametrize("target,why", [("127.0.0.2", "loopback"), ("[::1]", "loopback"),
                                        ("10.1.2.3", "private"), ("169.254.169.254", "link-local")])
def test_internal_addresses_are_refused_behind_a_redirect(leaves_bin, site, target, why):
    """127.0.0.1 alone is allowed (--allow-network, as an intranet allows its
    own range): the first hop is fetched, the redirect to another internal
    address is refused on the address connected to."""
    before = len(site.seen)
    r = fetch(leaves_bin, base(site) + "/to-internal/" + target, "--allow-network", "127.0.0.1/32", private=False,
              timeout=20)
    assert r["_exit"] == 1 and r["refused"] is True and r["retryable"] is False, r
    assert why in r["error"], r["error"]
    assert [p for p, _, _ in site.seen[before:]] == ["/to-internal/" + target], "expected only the first hop fetched"
    # The allowed range alone: the page itself is fetched.
    ok = fetch(leaves_bin, base(site) + "/2026/11/log-compaction", "--allow-network", "127.0.0.0/8", private=False)
    assert ok["_exit"] == 0 and ok["page"]["title"] == "Log compaction, explained", ok


def test_allowed_ranges_are_checked_at_the_edge(leaves_bin):
    for bad in ("10.0.0.0/33", "10.0.0.0/0", "example.com", "10.0.0.0/x", "::/129"):
        p = subprocess.run([leaves_bin, "fetch", "http://example.com/", "--allow-network", bad], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 2 and "is not an address range" in p.stderr, (bad, p.returncode, p.stderr)


def test_pdfs_give_their_title_author_and_text(leaves_bin, site):
    r = fetch(leaves_bin, base(site) + "/paper.pdf")
    assert r["_exit"] == 0 and r["mimetype"] == "application/pdf", r
    pdf = r["pdf"]
    assert pdf["title"] == "Compaction in Practice" and pdf["author"] == "Ann Writer" and pdf["pages"] == 1, pdf
    assert "Log compaction keeps the last value of a key." in pdf["text"], pdf["text"]
    assert "Tombstones delete keys." in pdf["text"]
    broken = fetch(leaves_bin, base(site) + "/broken.pdf")
    assert broken["_exit"] == 0 and "error" in broken["pdf"], broken
