"""Collections in the Leaves Reader (docs/collections.md), signed in as a
curator on a server where anonymous callers read public leaves only: make a
collection, add leaves to it from their pages, reorder them, share it with
a team, make it public; what another member of the team and an anonymous
reader then see."""

import pytest
from conftest import assert_axe_clean, serve, sign_in, wait_for
from leaves_testlib import Client, expect, unique
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

ADMIN_TOKEN = "browser-admin-token-" + "fedcba9876543210" * 2
PASSWORD = "cora's long password"


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    yield from serve(leaves_bin, tmp_path_factory, "collections", args=["--anonymous", "read"],
                     env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})


def client(server, token):
    c = Client(server.base_url)
    c.session.headers["Authorization"] = "Bearer " + token
    return c


def user(admin, server, name, password=None):
    expect(admin.post("/v1/users", json={"name": name, "role": "curator"}), 201, "create " + name)
    if password:
        expect(admin.put("/v1/users/%s/password" % name, json={"password": password}), 200, name + "'s password")
    return client(server, expect(admin.post("/v1/users/%s/tokens" % name, json={}), 201)["token"])


def text_of(browser, element_id):
    """The element's text now (the page redraws: no element reference kept)."""
    return browser.d.execute_script("const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
                                    element_id)


def listed(browser):
    return browser.d.execute_script(
        "return [...document.querySelectorAll('ol.collection-leaves > li h3')].map(e => e.textContent);")


def test_make_fill_order_and_share_a_collection(server, browser, axe):
    admin = client(server, ADMIN_TOKEN)
    cora_name, ned_name = unique("cora"), unique("ned")
    cora = user(admin, server, cora_name, PASSWORD)
    ned = user(admin, server, ned_name)
    word = unique("col")
    first = cora.create(title=word + " first", is_public=False)
    second = cora.create(title=word + " second", is_public=True)

    sign_in(browser, cora_name, PASSWORD)
    wait_for(browser, lambda: cora_name in browser.d.find_element(By.ID, "account").text, what="signed in")

    # A new collection from the collections page.
    browser.d.find_element(By.CSS_SELECTOR, ".top nav a[href='/collections']").click()
    wait_for(browser, lambda: browser.d.find_elements(By.ID, "collection-name"), what="the new collection form")
    wait_for(browser, lambda: browser.d.find_elements(By.ID, "new-team"), what="the teams section")
    assert_axe_clean(browser, axe, "the collections page")
    browser.d.find_element(By.ID, "collection-name").send_keys("Reading " + word)
    browser.d.find_element(By.ID, "collection-description").send_keys("what to read next")
    browser.d.find_element(By.CSS_SELECTOR, "#new-collection button[type=submit]").click()
    wait_for(browser, lambda: browser.path().startswith("/collection/"), what="the new collection's page")
    cid = browser.path().split("/")[2]
    wait_for(browser, lambda: text_of(browser, "collection-title") == "Reading " + word,
             what="the collection's name as its heading")

    # Both leaves added from their own pages.
    for leaf in (first, second):
        browser.open("/leaf/" + leaf["id"])
        pick = wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#add-to-collection option[value='%s']"
                                                                  % cid), what="the collection offered on the leaf page")
        Select(browser.d.find_element(By.ID, "add-to-collection")).select_by_value(cid)
        wait_for(browser, lambda: "Added to" in (text_of(browser, "toast") or ""), what="the add's toast")
        assert pick
    browser.open("/collection/" + cid)
    wait_for(browser, lambda: listed(browser) == [word + " first", word + " second"], what="both leaves, in order")
    browser.shot("collection")
    assert_axe_clean(browser, axe, "a collection's page")
    # Reordered with the arrows.
    browser.d.find_element(By.CSS_SELECTOR, "ol.collection-leaves > li:first-child button.down").click()
    wait_for(browser, lambda: listed(browser) == [word + " second", word + " first"], what="the order after ↓")
    got = expect(cora.get("/v1/collections/%s/leaves" % cid), 200)["items"]
    assert [l["id"] for l in got] == [second["id"], first["id"]], "the API's order after the move: %r" % got

    # Shared with a team ned is in: ned reads it, cora's private leaf included.
    team = expect(cora.post("/v1/teams", json={"name": "Book club " + word}), 201)["id"]
    expect(cora.put("/v1/teams/%s/members/%s" % (team, ned_name), json={"role": "member"}), 200)
    browser.open("/collection/" + cid)
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#share-team option[value='%s']" % team),
             what="the team offered for sharing")
    Select(browser.d.find_element(By.ID, "share-team")).select_by_value(team)
    browser.d.find_element(By.CSS_SELECTOR, "#share button[type=submit]").click()
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#shares li[data-team='%s']" % team)
             and "Book club " + word in (text_of(browser, "shares") or ""), what="the share listed by name")
    ned.positions = dict(cora.positions)
    seen = [l["id"] for l in expect(ned.get("/v1/collections/%s/leaves" % cid), 200, "ned reads it")["items"]]
    assert seen == [second["id"], first["id"]], "ned sees both leaves through the team: %r" % seen

    # Public: an anonymous reader sees the collection and its public leaf only.
    browser.d.find_element(By.ID, "toggle-public").click()
    wait_for(browser, lambda: text_of(browser, "toggle-public") == "Make private",
             what="made public")
    browser.d.find_element(By.ID, "sign-out").click()
    wait_for(browser, lambda: "Sign in" in browser.d.find_element(By.ID, "account").text, what="signed out")
    browser.open("/collection/" + cid)
    wait_for(browser, lambda: listed(browser) == [word + " second"], what="anonymous: the public leaf only")
    assert not browser.d.find_elements(By.ID, "toggle-public"), "an anonymous reader is offered to change it"
    browser.shot("collection-public")
