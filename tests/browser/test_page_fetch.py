"""The leaf page of a server that fetches saved pages (--enrich): a leaf
saved by its URL alone shows the page's title, text and the page's state
(fetched, or not and why), and "Fetch page" asks for it again. The page is
served from 127.0.0.1 by the test (private fetching allowed for it)."""

import http.server
import pathlib
import threading

import pytest
from leaves_testlib import expect, unique, wait_until
from conftest import serve, wait_for
from selenium.webdriver.common.by import By

ARTICLE = (pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pages" / "article.html").read_bytes()


class Pages(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        ok = self.path not in self.server.broken
        body = ARTICLE if ok else b"<h1>Gone</h1>"
        self.send_response(200 if ok else 410)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def pages():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    srv.daemon_threads = True
    srv.broken = set()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.base = "http://127.0.0.1:%d" % srv.server_address[1]
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    yield from serve(leaves_bin, tmp_path_factory, "enrich",
                     args=["--enrich", "true", "--fetch-allow-private", "--enrich-host-interval-ms", "0"])


def answers(c, leaf_id):
    items = expect(c.get("/v1/leaves/%s/history" % leaf_id), 200, "history")["items"]
    return [e for e in items if e["type"] in ("leaf.enriched", "leaf.enrich_failed")]


def page_state(browser):
    found = browser.d.find_elements(By.ID, "page-state")
    return (found[0].get_attribute("data-state"), found[0].text) if found else None


def test_the_leaf_page_shows_the_fetched_page_and_fetches_it_again(server, pages, browser):
    c = server.client
    path = "/story/" + unique("p")
    leaf = expect(c.post("/v1/leaves", json={"url": pages.base + path}), 201, "save by URL")
    wait_until(lambda: answers(c, leaf["id"]), timeout=15, what="the page's fetch")
    wait_until(lambda: c.get_leaf(leaf["id"])["title"], timeout=15, what="the fetched title in the read model")
    browser.open("/leaf/" + leaf["id"])
    wait_for(browser, lambda: browser.d.find_element(By.TAG_NAME, "h1").text == "Log compaction, explained",
             what="the fetched title as the heading")
    wait_for(browser, lambda: (page_state(browser) or ("",))[0] == "done", what="the page's state: fetched")
    excerpt = browser.d.find_element(By.ID, "excerpt").text
    assert excerpt.startswith("How a compacted topic keeps"), "the page's description as its excerpt, got %r" % excerpt
    canonical = browser.d.find_element(By.ID, "canonical").get_attribute("href")
    assert canonical.endswith("/2026/11/log-compaction"), canonical
    wait_for(browser, lambda: "A compacted topic keeps" in browser.d.find_element(By.ID, "content").text,
             what="the article's text")
    assert "Great article" not in browser.d.find_element(By.ID, "content").text, "a comment was kept"
    browser.shot("leaf-fetched-page")
    # The page goes away; "Fetch page" asks again and the failure is shown with its reason.
    pages.broken.add(path)
    browser.d.find_element(By.ID, "refetch").click()
    wait_until(lambda: len(answers(c, leaf["id"])) == 2, timeout=15, what="the second answer")
    browser.open("/leaf/" + leaf["id"])
    wait_for(browser, lambda: (page_state(browser) or ("",))[0] == "failed", what="the page's state: failed")
    assert "410" in page_state(browser)[1], page_state(browser)
    assert browser.d.find_element(By.TAG_NAME, "h1").text == "Log compaction, explained", "the title stays"
