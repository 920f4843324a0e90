"""A search of more matches than --search-exact-up-to in the Leaves Reader:
the summary says the answer came from the newest matches and offers to
search them all, which asks again with exact=true (docs/search.md)."""

import pytest
from leaves_testlib import expect, unique
from conftest import by_id, serve, wait_for
from selenium.webdriver.common.by import By


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    yield from serve(leaves_bin, tmp_path_factory, "sample", args=["--anonymous", "all", "--search-exact-up-to", "20"])


def test_a_sampled_search_says_so_and_searches_them_all(server, browser):
    c = server.client
    word = unique("w")
    items = [{"url": "https://example.org/%s/%d" % (word, i), "title": "%s note %03d" % (word, i),
              "content_text": "about " + word, "created_at": 1700000000000 + i * 3600 * 1000} for i in range(100)]
    body = expect(c.post("/v1/bulk/leaves", json={"items": items}, timeout=30), 200, "bulk")
    assert body["created"] == 100, body
    api = expect(c.get("/v1/search?exact=true&q=" + word, headers={"Leaves-Min-Position": c.min_position()}), 200,
                 "search")
    assert api["total"] == 100, api["total"]

    browser.open("/?q=%s&sort=newest" % word)
    summary = wait_for(browser, lambda: (lambda t: t if "newest matches" in t else None)(by_id(browser, "summary").text),
                       what="the summary naming the newest matches")
    assert "about" in summary and "search them all" in summary, summary
    titles = [c.find_element(By.CSS_SELECTOR, "h3").text for c in browser.d.find_elements(By.CSS_SELECTOR, "#results .card")]
    assert titles[:3] == ["%s note %03d" % (word, i) for i in (99, 98, 97)], titles[:3]
    by_id(browser, "exact").click()
    wait_for(browser, lambda: "exact=1" in browser.path(), what="exact=1 in the URL")
    wait_for(browser, lambda: by_id(browser, "summary").text.startswith("1–30 of 100 leaves"),
             what="the exact summary '1–30 of 100 leaves'")
    assert not browser.d.find_elements(By.ID, "sample"), "an exact answer has no sample note"
