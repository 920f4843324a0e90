"""A signed-in reader stars and archives another's public leaf on its page:
the buttons show the reader's own marks (not the owner's), keep them across
a reload, and the owner's flags stay as they were (docs/auth.md)."""

import pytest
from leaves_testlib import Client, expect, new_url
from conftest import by_id, serve, sign_in, wait_for
from selenium.webdriver.common.by import By

ADMIN_TOKEN = "browser-admin-token-" + "fedcba9876543210" * 2
ROSA_PASSWORD = "rosa's own long password"


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    yield from serve(leaves_bin, tmp_path_factory, "marks", args=["--anonymous", "read"],
                     env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})


def pressed(browser, id_):
    return by_id(browser, id_).get_attribute("aria-pressed")


def test_a_reader_stars_anothers_leaf_for_itself(server, browser):
    admin = Client(server.base_url)
    admin.session.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
    expect(admin.post("/v1/users", json={"name": "rosa", "role": "reader"}), 201, "create rosa")
    expect(admin.put("/v1/users/rosa/password", json={"password": ROSA_PASSWORD}), 200, "rosa's password")
    leaf = admin.create(url=new_url(), title="The admin's starred leaf", is_public=True, is_starred=True)
    other = admin.create(url=new_url(), title="Another starred leaf of the admin's", is_public=True, is_starred=True)

    sign_in(browser, "rosa", ROSA_PASSWORD, next_path="/leaf/" + leaf["id"])
    wait_for(browser, lambda: browser.d.find_elements(By.ID, "is_starred"), what="the leaf's page after signing in")
    assert pressed(browser, "is_starred") == "false", "the admin's star is not rosa's"

    by_id(browser, "is_starred").click()
    wait_for(browser, lambda: pressed(browser, "is_starred") == "true", what="the star pressed after a click")
    by_id(browser, "is_archived").click()
    wait_for(browser, lambda: pressed(browser, "is_archived") == "true", what="archive pressed after a click")

    rosa = Client(server.base_url)
    token = expect(admin.post("/v1/users/rosa/tokens", json={"name": "check"}), 201, "a token of rosa's")["token"]
    rosa.session.headers["Authorization"] = "Bearer " + token
    mine = expect(rosa.get("/v1/leaves/" + leaf["id"]), 200, "rosa reads the leaf")
    assert (mine["is_starred"], mine["is_archived"]) == (True, True), "rosa's marks through the API: %r" % mine
    owners = expect(admin.get("/v1/leaves/" + leaf["id"]), 200, "the admin reads the leaf")
    assert (owners["is_starred"], owners["is_archived"]) == (True, False), (
        "the admin's own flags should not change, got %r" % owners)

    # The search page's Starred filter: rosa's star, not the admin's.
    expect(admin.get("/v1/search?q=starred&limit=5"), 200, "a search after the admin's saves (both indexed)")
    browser.open("/")
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#results .card"), what="the search page")
    by_id(browser, "starred").click()
    wait_for(browser, lambda: browser.path() == "/?starred=1" and pressed(browser, "starred") == "true",
             what="the Starred filter on")
    shown = lambda: browser.d.execute_script(
        "return [...document.querySelectorAll('#results .card')].map((c) => c.dataset.id)")
    try:
        wait_for(browser, lambda: shown() == [leaf["id"]], what="only rosa's starred leaf")
    except AssertionError:
        raise AssertionError("the Starred filter should show only %s (rosa's star; %s is the admin's), got %r"
                             % (leaf["id"], other["id"], shown()))

    browser.open("/leaf/" + leaf["id"])
    wait_for(browser, lambda: browser.d.find_elements(By.ID, "is_starred"), what="the leaf's page again")
    wait_for(browser, lambda: pressed(browser, "is_starred") == "true" and pressed(browser, "is_archived") == "true",
             what="rosa's marks after a reload")
    by_id(browser, "is_starred").click()
    wait_for(browser, lambda: pressed(browser, "is_starred") == "false", what="the star released")
    mine = expect(rosa.get("/v1/leaves/" + leaf["id"]), 200, "rosa reads the leaf again")
    assert mine["is_starred"] is False and mine["is_archived"] is True, "after unstarring: %r" % mine
