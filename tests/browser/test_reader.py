"""The Leaves Reader in a real browser (Debian's chromium, through selenium).

Every test saves its leaves with a unique word and tag, so they share one
server and one browser without seeing each other's data.
"""

import json
import time

import pytest
import requests
from leaves_testlib import Client, expect, unique
from conftest import AXE_RULES, axe_violations, wait_for
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select


def cards(browser):
    return browser.d.find_elements(By.CSS_SELECTOR, "#results .card")


def card_titles(browser):
    return [c.find_element(By.CSS_SELECTOR, "h3").text for c in cards(browser)]


def searchable(client, query):
    """Waits until the search index has applied every write of `client`; returns the API's answer."""
    r = client.get("/v1/search?" + query, headers={"Leaves-Min-Position": client.min_position()})
    return expect(r, 200, "search " + query)


def seed(client, word, tag, n, **extra):
    made = []
    for i in range(n):
        made.append(client.create(title="%s note %02d" % (word, i), content="<p>about %s number %d</p>" % (word, i),
                                  tags=[tag, "%s-%d" % (tag, i % 2)], **extra))
    return made


def results_settled(browser):
    s = browser.d.find_element(By.ID, "summary").text
    return s if s and s != "Searching…" else None


def test_search_renders_from_the_url_without_a_click(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    seed(c, word, tag, 4)
    api = searchable(c, "q=%s&tag=%s" % (word, tag))
    assert api["total"] == 4, "the API finds the 4 seeded leaves, got %r" % api["total"]
    browser.open("/?q=%s&tag=%s" % (word, tag))
    wait_for(browser, lambda: len(cards(browser)) == 4, what="4 cards")
    assert browser.d.find_element(By.ID, "q").get_attribute("value") == word
    marks = browser.d.find_elements(By.CSS_SELECTOR, "#results .snippet mark")
    assert marks and all(m.text.lower() == word.lower() for m in marks), \
        "snippets mark the query word %r, got %r" % (word, [m.text for m in marks])
    wait_for(browser, lambda: "of 4 leaves" in (results_settled(browser) or ""), what="the summary '1–4 of 4 leaves'")
    browser.shot("search")


def test_a_facet_click_filters_and_back_restores(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    seed(c, word, tag, 6)
    searchable(c, "q=%s" % word)
    browser.open("/?q=%s" % word)
    wait_for(browser, lambda: len(cards(browser)) == 6, what="6 cards")
    facet = "%s-1" % tag
    button = wait_for(browser, lambda: browser.d.find_element(By.CSS_SELECTOR, '.sidebar button[data-tag="%s"]' % facet),
                      what="the facet %s" % facet)
    assert button.find_element(By.CSS_SELECTOR, ".count").text == "3"
    button.click()
    wait_for(browser, lambda: len(cards(browser)) == 3, what="3 cards after the facet click")
    assert "tag=" + facet in browser.path(), "the URL carries the facet, got %s" % browser.path()
    pressed = browser.d.find_element(By.CSS_SELECTOR, '.sidebar button[data-tag="%s"]' % facet)
    assert pressed.get_attribute("aria-pressed") == "true"
    browser.d.back()
    wait_for(browser, lambda: len(cards(browser)) == 6, what="6 cards after back")
    assert "tag=" not in browser.path()
    browser.d.forward()
    wait_for(browser, lambda: len(cards(browser)) == 3, what="3 cards after forward")


def test_sort_and_paging_keep_the_url_shareable(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    seed(c, word, tag, 13)
    searchable(c, "q=%s" % word)
    browser.open("/?q=%s&limit=10" % word)
    wait_for(browser, lambda: len(cards(browser)) == 10, what="a first page of 10")
    Select(browser.d.find_element(By.ID, "sort")).select_by_value("za")
    wait_for(browser, lambda: "sort=za" in browser.path(), what="sort=za in the URL")
    wait_for(browser, lambda: card_titles(browser)[:1] == ["%s note 12" % word], what="Z-A order")
    titles = card_titles(browser)
    assert titles == sorted(titles, reverse=True), "Z-A order, got %r" % titles
    browser.d.find_element(By.ID, "next").click()
    wait_for(browser, lambda: len(cards(browser)) == 3, what="a second page of 3")
    assert "page=" in browser.path()
    assert browser.d.find_element(By.ID, "summary").text.startswith("11–13 of 13")
    shared = browser.path()
    browser.open(shared)  # a shared link renders the same page
    wait_for(browser, lambda: card_titles(browser) == ["%s note 02" % word, "%s note 01" % word, "%s note 00" % word],
             what="the second page again from its URL")
    browser.d.back()
    wait_for(browser, lambda: len(cards(browser)) == 10, what="the first page after back")


def test_filters_user_dates_and_clear(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    ann = unique("ann")
    seed(c, word, tag, 2, user_name=ann, user_id=4242)
    seed(c, word, tag, 3)
    searchable(c, "q=%s" % word)
    browser.open("/?q=%s" % word)
    wait_for(browser, lambda: len(cards(browser)) == 5, what="5 cards")
    sel = Select(browser.d.find_element(By.ID, "user"))
    wait_for(browser, lambda: any(o.get_attribute("value") == ann for o in sel.options), what="the user in All Users")
    sel.select_by_value(ann)
    wait_for(browser, lambda: len(cards(browser)) == 2, what="2 cards of the user")
    assert "user=" + ann in browser.path()
    browser.open("/?q=%s&to=2001-01-01" % word)
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#results .empty"), what="nothing before 2001")
    browser.d.find_element(By.ID, "clear").click()
    wait_for(browser, lambda: browser.path() == "/", what="Clear All Filters goes to /")


def test_a_leaf_posted_while_the_page_is_open_appears_within_a_second(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    gone = seed(c, word, tag, 2)
    searchable(c, "q=%s" % word)
    browser.open("/?q=%s" % word)
    wait_for(browser, lambda: len(cards(browser)) == 2, what="2 cards")
    # The page's EventSource is connected when the server counts it.
    wait_for(browser, lambda: "leaves_stream_subscribers 0" not in requests.get(server.base_url + "/metrics").text,
             what="the page's live stream to connect")
    t0 = time.monotonic()
    other = Client(server.base_url)
    other.create(title="%s fresh" % word, content="<p>%s arrives live</p>" % word, tags=[tag])
    bar = wait_for(browser, lambda: (lambda b: b if b.is_displayed() else None)(browser.d.find_element(By.ID, "newbar")),
                   timeout=1.0, what="the '1 new' bar within 1 s of the POST")
    took = time.monotonic() - t0
    assert "1 new" in bar.text, "the bar counts one new leaf, got %r" % bar.text
    browser.shot("search-live")
    # A delete removes its card without a reload.
    other.delete("/v1/leaves/%s" % gone[0]["id"])
    wait_for(browser, lambda: len(cards(browser)) == 1, what="the deleted leaf's card to go")
    bar.click()
    wait_for(browser, lambda: any("fresh" in t for t in card_titles(browser)), what="the new leaf after the click")
    print("live leaf shown %.0f ms after its POST" % (took * 1000))


HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "\u202egnp.exe",
]


def test_hostile_leaves_run_nothing(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    title = word + " " + HOSTILE[0] + HOSTILE[1] + HOSTILE[2] + "x" * 3000
    made = c.create(title=title,
                    content=('<p>%s</p><script>window.__pwned=3</script><img src=x onerror="window.__pwned=4">'
                             '<a href="javascript:window.__pwned=5">click</a><form action="/v1/leaves"><input></form>'
                             '<iframe src="javascript:window.__pwned=6"></iframe>'
                             '<div style="background:url(javascript:window.__pwned=7)">styled</div>') % word,
                    tags=[tag, "<b>bold</b>", 'x" onmouseover="window.__pwned=8'],
                    preview_picture="javascript:window.__pwned=9")
    searchable(c, "q=%s" % word)
    browser.open("/?q=%s" % word)
    wait_for(browser, lambda: len(cards(browser)) == 1, what="the hostile card")
    card = cards(browser)[0]
    shown = card.find_element(By.CSS_SELECTOR, "h3").text
    assert HOSTILE[0] in shown and HOSTILE[1] in shown, "the title is shown as text, got %r" % shown[:200]
    assert not card.find_elements(By.CSS_SELECTOR, "img"), "a javascript: preview picture is not loaded"
    tag_texts = [t.text for t in card.find_elements(By.CSS_SELECTOR, ".tags .tag")]
    assert "#<b>bold</b>" in tag_texts, "tags are text, got %r" % tag_texts
    for el in card.find_elements(By.CSS_SELECTOR, "h3 a"):
        el.send_keys(Keys.NULL)  # focus only; the link opens an external site
    browser.d.execute_script("document.querySelector('#results .card .tags .tag:last-child')"
                             ".dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))")
    browser.shot("search-hostile")
    browser.open("/leaf/%s" % made["id"])
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#content p"), what="the leaf's content")
    content = browser.d.find_element(By.ID, "content")
    assert word in content.text
    for sel in ["script", "iframe", "form", "[onerror]", "[onmouseover]", "a[href^='javascript']", "[style]"]:
        assert not content.find_elements(By.CSS_SELECTOR, sel), "no %s in the rendered content" % sel
    assert not browser.d.find_elements(By.CSS_SELECTOR, "body [onerror], body [onmouseover]")
    time.sleep(0.3)
    assert browser.d.execute_script("return window.__pwned === undefined"), \
        "hostile content ran: window.__pwned = %r" % browser.d.execute_script("return window.__pwned")
    scripts = browser.d.execute_script("return [...document.scripts].map(s => s.src)")
    assert len(scripts) == 1 and "/ui/app." in scripts[0], "only the app's own script, got %r" % scripts
    browser.shot("leaf-hostile")


def test_the_leaf_page_edits_tags_and_flags(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    made = c.create(title="%s editable" % word, content="<p>first paragraph</p><p>second paragraph</p>", tags=[tag])
    browser.open("/leaf/%s" % made["id"])
    box = wait_for(browser, lambda: browser.d.find_element(By.ID, "new-tag"), what="the tag editor")
    wait_for(browser, lambda: len(browser.d.find_elements(By.CSS_SELECTOR, "#content p")) == 2,
             what="two paragraphs of content")
    box.send_keys("added-" + tag + Keys.ENTER)
    wait_for(browser, lambda: "added-" + tag in c.get_leaf(made["id"])["tags"], what="the tag saved through the API")
    browser.d.find_element(By.ID, "is_starred").click()
    wait_for(browser, lambda: c.get_leaf(made["id"])["is_starred"] is True, what="the star saved")
    wait_for(browser, lambda: browser.d.find_element(By.ID, "is_starred").get_attribute("aria-pressed") == "true",
             what="the star button pressed")
    remove = browser.d.find_element(By.CSS_SELECTOR, '#tag-editor button[aria-label="Remove tag %s"]' % tag)
    remove.click()
    wait_for(browser, lambda: c.get_leaf(made["id"])["tags"] == ["added-" + tag], what="the first tag removed")
    # The history, from the log, names each event once the page is shown again.
    browser.open("/leaf/%s" % made["id"])
    wait_for(browser, lambda: len(browser.d.find_elements(By.CSS_SELECTOR, "#history li")) == 4,
             what="4 history entries")
    lines = [li.text for li in browser.d.find_elements(By.CSS_SELECTOR, "#history li")]
    types = [li.get_attribute("data-type") for li in browser.d.find_elements(By.CSS_SELECTOR, "#history li")]
    assert types == ["leaf.tags_replaced", "leaf.updated", "leaf.tags_replaced", "leaf.created"], \
        "newest first, got %r" % types
    assert "is_starred → true" in lines[1], "the star is in the history, got %r" % lines[1]
    browser.shot("leaf")


def test_keyboard_slash_j_k_enter(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    seed(c, word, tag, 3)
    searchable(c, "q=%s" % word)
    browser.open("/?q=%s&sort=az" % word)
    wait_for(browser, lambda: len(cards(browser)) == 3, what="3 cards")
    body = browser.d.find_element(By.TAG_NAME, "body")
    browser.d.execute_script("document.activeElement.blur()")
    body.send_keys("/")
    assert browser.d.switch_to.active_element.get_attribute("id") == "q", "/ focuses the search box"
    browser.d.execute_script("document.activeElement.blur()")
    body.send_keys("j")
    browser.d.switch_to.active_element.send_keys("j")
    active = browser.d.switch_to.active_element
    assert active.get_attribute("class").startswith("card"), "j moves to a card"
    assert active.find_element(By.CSS_SELECTOR, "h3").text == "%s note 01" % word
    active.send_keys("k")
    active = browser.d.switch_to.active_element
    assert active.find_element(By.CSS_SELECTOR, "h3").text == "%s note 00" % word
    active.send_keys(Keys.ENTER)
    wait_for(browser, lambda: browser.path().startswith("/leaf/"), what="Enter opens the leaf")


def test_tags_save_import_and_operations_pages(server, browser, tmp_path):
    c = server.client
    word, tag = unique("w"), unique("t")
    seed(c, word, tag, 3)
    expect(c.get("/v1/tags"), 200)
    browser.open("/tags")
    filt = wait_for(browser, lambda: browser.d.find_element(By.ID, "tag-filter"), what="the tag filter")
    filt.send_keys(tag)
    wait_for(browser, lambda: [li.text.split("\n") for li in browser.d.find_elements(By.CSS_SELECTOR, "#tag-list li")]
             [:1] == [[tag, "3"]], what="the tag with its count 3 first")
    browser.shot("tags")

    browser.open("/save")
    url = "https://example.com/" + unique("saved")
    browser.d.find_element(By.ID, "save-url").send_keys(url)
    browser.d.find_element(By.ID, "save-title").send_keys(word + " saved from the form")
    browser.d.find_element(By.ID, "save-tags").send_keys(tag + ", form")
    browser.d.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_for(browser, lambda: "Saved:" in browser.d.find_element(By.CSS_SELECTOR, "main p[role=status]").text,
             what="the save confirmation")
    import hashlib
    saved = c.get_leaf(hashlib.md5(url.encode()).hexdigest())
    assert saved["tags"] == [tag, "form"], "the form saved the tags, got %r" % saved["tags"]
    bm = browser.d.find_element(By.ID, "bookmarklet").get_attribute("href")
    assert bm.startswith("javascript:") and "/save?url=" in bm
    browser.shot("save")

    lines = ['{"url":"https://example.com/%s","title":"%s imported %d","tags":["%s"]}' % (unique("imp"), word, i, tag)
             for i in range(450)] + ['{"url":"ftp://nope.example.com/"}']
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")
    browser.open("/import")
    browser.d.find_element(By.ID, "import-file").send_keys(str(path))
    browser.d.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_for(browser, lambda: "451 of 451 sent: 450 saved, 0 unchanged, 1 rejected"
             in browser.d.find_element(By.ID, "import-status").text, timeout=20, what="the import to finish")
    assert browser.d.find_element(By.ID, "import-progress").get_attribute("value") == "451"
    assert "entry 451" in browser.d.find_element(By.ID, "import-status").text, "the rejected entry is named"
    links = {a.text: a.get_attribute("href") for a in browser.d.find_elements(By.CSS_SELECTOR, "#export-links a")}
    assert set(links) == {"Bookmarks (HTML, for browsers)", "CSV", "JSON lines", "JSON"}, links
    got = requests.get(links["Bookmarks (HTML, for browsers)"], timeout=10)
    assert got.status_code == 200 and got.text.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>"), got.text[:200]
    assert got.text.count(word + " imported") == 450, "the export link carries the imported leaves"
    browser.shot("import")

    browser.open("/ops")
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, 'table[data-projection="read_models"] tr td'),
             what="the read models' lag table")
    assert browser.d.find_element(By.ID, "ops-state").text.startswith("State: ready")
    # The ingest section: an anonymous caller is told who sees the dead letters.
    wait_for(browser, lambda: "Admins see the ingest consumer" in browser.d.find_element(By.ID, "ops-ingest").text,
             what="the ingest section's note")
    rows = browser.d.find_elements(By.CSS_SELECTOR, 'table[data-projection="search"] tr')
    assert len(rows) >= 2, "a row per partition of the search projection"
    wait_for(browser, lambda: "GET /v1/search" in browser.d.find_element(By.ID, "ops-requests").text,
             what="the request table to list /v1/search")
    browser.shot("ops")


def test_narrow_screen_and_dark_mode_render(server, browser):
    # Headless windows have a minimum width, so the 360 px screen is emulated.
    browser.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                              {"width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    try:
        for path, name in [("/?q=note", "search-360px"), ("/ops", "ops-360px"), ("/tags", None), ("/save", None)]:
            browser.open(path)
            time.sleep(0.5)
            width = browser.d.execute_script("return [innerWidth, document.documentElement.scrollWidth]")
            assert width[0] == 360 and width[1] <= 360, \
                "no horizontal scrolling at 360 px on %s: viewport, page width = %r" % (path, width)
            if name:
                browser.shot(name)
    finally:
        browser.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        browser.open("/?q=note")
        wait_for(browser, lambda: results_settled(browser) is not None or cards(browser), what="the home page")
        bg = browser.d.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(20, 24, 22)", "the dark palette follows the browser, body background %s" % bg
        browser.shot("search-dark")
    finally:
        browser.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_every_page_passes_axe_core_in_light_and_dark(server, browser, axe):
    if axe is None:
        pytest.skip("npm is not on this machine, so axe-core cannot be had (the test needs npm pack axe-core)")
    c = server.client
    word, tag = unique("w"), unique("t")
    made = seed(c, word, tag, 3)
    searchable(c, "q=%s" % word)
    pages = ["/?q=%s" % word, "/?tag=%s&sort=az" % tag, "/leaf/%s" % made[0]["id"], "/tags", "/save", "/import", "/ops"]
    found = {}
    for scheme in ["light", "dark"]:
        browser.d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                  {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        try:
            for path in pages:
                browser.open(path)
                wait_for(browser, lambda: not browser.d.find_elements(By.XPATH, "//*[text()='Loading…' or text()='Searching…']"),
                         what="the page to load")
                time.sleep(0.2)
                v = axe_violations(browser, axe)
                if v:
                    found["%s %s" % (scheme, path)] = v
        finally:
            browser.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert not found, "axe-core %s found violations (expected none):\n%s" % (
        "/".join(AXE_RULES), json.dumps(found, indent=1)[:4000])


def test_results_load_without_layout_shift(server, browser):
    c = server.client
    word, tag = unique("w"), unique("t")
    seed(c, word, tag, 12)
    searchable(c, "q=%s" % word)
    browser.open("/?q=%s" % word)
    wait_for(browser, lambda: len(cards(browser)) == 12, what="12 cards")
    time.sleep(0.3)
    shift = browser.d.execute_async_script(
        "const done = arguments[arguments.length - 1]; let sum = 0;"
        "new PerformanceObserver(list => { for (const e of list.getEntries()) if (!e.hadRecentInput) sum += e.value; })"
        "  .observe({type: 'layout-shift', buffered: true});"
        "setTimeout(() => done(sum), 100);")
    assert shift < 0.1, "cumulative layout shift while the results load: %.3f (good is < 0.1)" % shift
    print("cumulative layout shift %.4f" % shift)


def test_import_reads_bookmarks_pocket_and_csv_files(server, browser, tmp_path):
    """The import page reads what `leaves import` reads: a browser's bookmark
    file, Pocket's HTML and a CSV export, parsed in the page, sent in bulk."""
    c = Client(server.base_url)
    tag = unique("bm")
    u = ["https://example.com/%s" % unique("bm") for _ in range(5)]
    files = {
        "bookmarks.html": ('<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n'
                           '<DT><A HREF="%s" ADD_DATE="1600000000" TAGS="%s,pipe\\|tag">Kafka &amp; friends</A>\n'
                           '<DD>A description\n'
                           '<DT><A HREF="%s" PRIVATE="0" TAGS="%s">Second <script>alert(1)</script></A>\n</DL><p>\n'
                           % (u[0], tag, u[1], tag)),
        "pocket.html": ('<!DOCTYPE html><html><head><title>Pocket Export</title></head><body>'
                        '<h1>Unread</h1><ul><li><a href="%s" time_added="1600000000" tags="%s">Pocket one</a></li></ul>'
                        '<h1>Read Archive</h1><ul><li><a href="%s" time_added="1600000001" tags="%s">Pocket two</a>'
                        '</li></ul></body></html>' % (u[2], tag, u[3], tag)),
        "leaves.csv": ('id,url,title,tags,created_at,updated_at,is_starred,is_archived,is_public,user_name\r\n'
                       ',%s,"\'=a formula, quoted","%s|x\\,y",2020-01-01T00:00:00.000Z,2020-01-01T00:00:00.000Z,'
                       'true,false,true,\r\n' % (u[4], tag)),
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        browser.open("/import")
        browser.d.find_element(By.ID, "import-file").send_keys(str(path))
        browser.d.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
        n = 1 if name == "leaves.csv" else 2
        wait_for(browser, lambda: "%d of %d sent: %d saved" % (n, n, n)
                 in browser.d.find_element(By.ID, "import-status").text, timeout=20, what="%s imported" % name)
    got = {l["url"]: l for l in c.get("/v1/leaves?tag=%s&limit=50" % tag).json()["items"]}
    assert set(got) == set(u), "expected the five links, got %r" % sorted(got)
    assert got[u[0]]["title"] == "Kafka & friends" and got[u[0]]["tags"] == [tag, "pipe|tag"], got[u[0]]
    assert got[u[0]]["content_text"] == "A description" and got[u[0]]["created_at"].startswith("2020-09-13T12:26:40")
    assert got[u[1]]["title"] == "Second alert(1)" and got[u[1]]["is_public"] is True, got[u[1]]
    assert got[u[2]]["is_archived"] is False and got[u[3]]["is_archived"] is True, (got[u[2]], got[u[3]])
    assert got[u[4]]["title"] == "=a formula, quoted" and got[u[4]]["tags"] == [tag, "x,y"], got[u[4]]
    assert got[u[4]]["is_starred"] is True, got[u[4]]
