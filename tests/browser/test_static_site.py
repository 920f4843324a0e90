"""A site made by `leaves export-site`, served by a plain static file server
on 127.0.0.1 and opened in chromium: pages render, the client-side search
finds leaves as you type, and hostile content runs nothing."""

import functools
import http.server
import subprocess
import threading
import time

import pytest
from leaves_testlib import unique
from conftest import wait_for
from selenium.webdriver.common.by import By


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def static_host(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, "http://127.0.0.1:%d/" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_an_exported_site_renders_searches_and_runs_nothing_hostile(server, browser, leaves_bin, static_host):
    root, url = static_host
    c = server.client
    tag, word = unique("st"), unique("w")
    plain = c.create(title="%s plain page" % word, is_public=True, tags=[tag], content="<p>%s body text</p>" % word)
    hostile = c.create(title="%s <img src=x onerror=window.__pwned=1>" % word, is_public=True, tags=[tag, "<b>b</b>"],
                       content=('<p>%s kept</p><script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">'
                                '<a href="javascript:window.__pwned=4">j</a><iframe src="javascript:1"></iframe>') % word,
                       preview_picture="javascript:window.__pwned=5")
    c.create(title="%s private" % word, is_public=False, tags=[tag])
    r = subprocess.run([leaves_bin, "export-site", "--out", str(root), "--server", server.base_url, "--tag", tag,
                        "--min-position", c.min_position(),
                        "--title", "Static " + tag], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "export-site exit %d: %s" % (r.returncode, r.stderr[-1500:])

    browser.d.get(url + "index.html")
    items = browser.d.find_elements(By.CSS_SELECTOR, "ul.leaves > li")
    assert len(items) == 2, "2 public leaves on the index, got %d" % len(items)
    box = browser.d.find_element(By.ID, "site-search")
    box.send_keys(word + " body")
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#site-results li a"), what="search results")
    hits = [a.text for a in browser.d.find_elements(By.CSS_SELECTOR, "#site-results li a")]
    assert hits == [plain["title"]], "typing '%s body' finds the one leaf with both words, got %r" % (word, hits)
    browser.shot("site-search")
    box.clear()
    box.send_keys("nothing-has-this-" + word)
    wait_for(browser, lambda: browser.d.find_element(By.ID, "site-results").text == "Nothing matches.",
             what="'Nothing matches.'")

    browser.d.get(url + "leaf/%s.html" % hostile["id"])
    title = browser.d.find_element(By.TAG_NAME, "h1").text
    assert "onerror=window.__pwned=1" in title, "the title is text, got %r" % title
    content = browser.d.find_element(By.CSS_SELECTOR, ".content")
    assert word + " kept" in content.text
    for sel in ["script", "iframe", "[onerror]", "a[href^='javascript']"]:
        assert not content.find_elements(By.CSS_SELECTOR, sel), "no %s in the exported content" % sel
    tag_links = [a.text for a in browser.d.find_elements(By.CSS_SELECTOR, "a[href*='tag/']")]
    assert "#<b>b</b>" in tag_links, "tags are text, got %r" % tag_links
    time.sleep(0.3)
    assert browser.d.execute_script("return window.__pwned === undefined"), \
        "hostile content ran: window.__pwned = %r" % browser.d.execute_script("return window.__pwned")
    browser.shot("site-leaf-hostile")
    # The tag links of a leaf page lead to real pages.
    browser.d.find_element(By.CSS_SELECTOR, "a[href$='tag/%s.html']" % tag).click()
    wait_for(browser, lambda: browser.d.find_element(By.TAG_NAME, "h1").text == "#" + tag, what="the tag page")
    assert len(browser.d.find_elements(By.CSS_SELECTOR, "ul.leaves > li")) == 2
