"""Signing in to the Leaves Reader on a server where anonymous callers read
public leaves only (--anonymous read): the sign-in page, a cookie session
whose writes carry their CSRF token, what a signed-in curator sees (public
leaves and its own), signing out, a wrong password."""

import pytest
from leaves_testlib import Client, expect, unique
from conftest import serve, wait_for
from selenium.webdriver.common.by import By

ADMIN_TOKEN = "browser-admin-token-" + "0123456789abcdef" * 2
PASSWORD = "uma's long password"


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    yield from serve(leaves_bin, tmp_path_factory, "signin", args=["--anonymous", "read"],
                     env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})


def titles(browser):
    return sorted(c.find_element(By.CSS_SELECTOR, "h3").text for c in browser.d.find_elements(By.CSS_SELECTOR,
                                                                                               "#results .card"))


def account(browser):
    return browser.d.find_element(By.ID, "account").text


def test_sign_in_see_own_leaves_write_and_sign_out(server, browser):
    admin = Client(server.base_url)
    admin.session.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
    expect(admin.post("/v1/users", json={"name": "uma", "role": "curator"}), 201, "create uma")
    expect(admin.put("/v1/users/uma/password", json={"password": PASSWORD}), 200, "uma's password")
    tok = expect(admin.post("/v1/users/uma/tokens", json={}), 201, "uma's token")["token"]
    uma = Client(server.base_url)
    uma.session.headers["Authorization"] = "Bearer " + tok
    word = unique("si")
    admin.create(title="%s public" % word, is_public=True)
    admin.create(title="%s admin private" % word, is_public=False)
    uma.create(title="%s uma private" % word, is_public=False)
    for c in (admin, uma):
        expect(c.get("/v1/search?q=" + word, headers={"Leaves-Min-Position": c.min_position()}), 200, "indexed")

    browser.open("/?q=" + word)
    wait_for(browser, lambda: titles(browser) == ["%s public" % word], what="anonymous: the public leaf only")
    assert "Sign in" in account(browser), "the header offers to sign in: %r" % account(browser)

    browser.d.find_element(By.ID, "sign-in-link").click()
    wait_for(browser, lambda: browser.path() == "/login", what="the sign-in page")
    browser.shot("sign-in")
    browser.d.find_element(By.ID, "login-name").send_keys("uma")
    browser.d.find_element(By.ID, "login-password").send_keys("not the password")
    browser.d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait_for(browser, lambda: "wrong user name or password" in browser.d.find_element(By.ID, "login-status").text,
             what="the wrong password's error")
    assert browser.d.find_element(By.ID, "login-password").get_attribute("value") == "", "the password is cleared"
    browser.problems()  # the 401 of the wrong password is expected, not a page error

    browser.d.find_element(By.ID, "login-name").clear()
    browser.d.find_element(By.ID, "login-name").send_keys("uma")
    browser.d.find_element(By.ID, "login-password").send_keys(PASSWORD)
    browser.d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait_for(browser, lambda: "uma (curator)" in account(browser), what="signed in as uma")
    cookies = {c["name"]: c for c in browser.d.get_cookies()}
    assert cookies["leaves_session"]["httpOnly"] is True, "the session cookie must be HttpOnly: %r" % cookies
    assert browser.d.execute_script("return document.cookie").find("leaves_session") < 0, "script can read it"

    browser.open("/?q=" + word)
    wait_for(browser, lambda: titles(browser) == sorted(["%s public" % word, "%s uma private" % word]),
             what="signed in: the public leaf and uma's own")

    browser.open("/save")
    url = "https://example.org/" + unique("saved")
    browser.d.find_element(By.ID, "save-url").send_keys(url)
    browser.d.find_element(By.ID, "save-title").send_keys(word + " saved in the browser")
    browser.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, lambda: "Saved" in browser.d.find_element(By.CSS_SELECTOR, "main [role=status]").text,
             what="the save (a write with the session's CSRF token)")
    saved = expect(uma.get("/v1/leaves?limit=5", consistent=False), 200, "uma's leaves")["items"]
    assert any(l["url"] == url and l["user_name"] == "uma" for l in saved), "the saved leaf is uma's: %r" % saved

    browser.d.find_element(By.ID, "sign-out").click()
    wait_for(browser, lambda: "Sign in" in account(browser), what="signed out")
    browser.open("/?q=" + word)
    wait_for(browser, lambda: titles(browser) == ["%s public" % word], what="signed out: the public leaf only")
