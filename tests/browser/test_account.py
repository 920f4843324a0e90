"""The account page (/account) of a signed-in curator: its API tokens (a new
one shown once, then revoked), its webhooks (one that follows a collection,
its deliveries from a receiver on 127.0.0.1), and a password change; checked
against the API and with axe-core."""

import http.server
import threading

import pytest
from leaves_testlib import Client, expect, new_url, unique
from conftest import assert_axe_clean, by_id, serve, sign_in, texts, wait_for
from selenium.webdriver.common.by import By

ADMIN_TOKEN = "browser-admin-token-" + "fedcba9876543210" * 2
PASSWORD = "val's long password"


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    yield from serve(leaves_bin, tmp_path_factory, "account",
                     args=["--anonymous", "read", "--webhook-allow-private", "--webhook-retry-ms", "50"],
                     env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})


class Receiver:
    def __init__(self):
        self.bodies = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                outer.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_tokens_webhooks_and_password_on_the_account_page(server, browser, axe):
    admin = Client(server.base_url)
    admin.session.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
    expect(admin.post("/v1/users", json={"name": "val", "role": "curator"}), 201, "create val")
    expect(admin.put("/v1/users/val/password", json={"password": PASSWORD}), 200, "val's password")
    api_token = expect(admin.post("/v1/users/val/tokens", json={"name": "api"}), 201, "val's API token")["token"]
    val = Client(server.base_url)
    val.session.headers["Authorization"] = "Bearer " + api_token
    shelf = expect(val.post("/v1/collections", json={"name": "Hooked shelf"}), 201, "val's collection")["id"]

    sign_in(browser, "val", PASSWORD, next_path="/account")
    wait_for(browser, lambda: browser.path() == "/account", what="the account page after signing in")
    rows = wait_for(browser, lambda: texts(browser, "#token-list tbody tr"), what="the token list")
    assert any("this session" in r for r in rows) and any(r.startswith("api") for r in rows), (
        "the token list should show the session (marked) and the API token: %r" % rows)
    assert_axe_clean(browser, axe, "the account page")

    # A new read-only token, shown once; it works, then the page revokes it.
    browser.d.find_element(By.CSS_SELECTOR, "#tokens details summary").click()
    by_id(browser, "token-name").send_keys("ci reader")
    for box in browser.d.find_elements(By.CSS_SELECTOR, ".token-scope"):
        if box.get_attribute("value") != "read" and box.is_selected():
            box.click()
    browser.d.find_element(By.CSS_SELECTOR, "#new-token button[type=submit]").click()
    secret = wait_for(browser, lambda: browser.d.find_elements(By.ID, "new-token-secret"), what="the new token")[0]
    token = secret.get_attribute("value")
    assert token.startswith("lv_"), "the token is shown once: %r" % token
    reader = Client(server.base_url)
    reader.session.headers["Authorization"] = "Bearer " + token
    me = expect(reader.get("/v1/me", consistent=False), 200, "the new token")
    assert "read" in me["scopes"] and "write" not in me["scopes"], "only the read scope was ticked: %r" % me
    row = [r for r in browser.d.find_elements(By.CSS_SELECTOR, "#token-list tbody tr") if r.text.startswith("ci reader")][0]
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    browser.d.switch_to.alert.accept()
    wait_for(browser, lambda: not [r for r in texts(browser, "#token-list tbody tr") if r.startswith("ci reader")],
             what="the revoked token gone from the list")
    assert reader.get("/v1/me", consistent=False).status_code == 401, "the revoked token must fail at once"

    # A webhook that follows the collection; its deliveries on the page.
    rx = Receiver()
    try:
        browser.d.find_element(By.CSS_SELECTOR, "#webhooks details summary").click()
        by_id(browser, "webhook-url").send_keys(rx.url)
        browser.d.find_element(By.CSS_SELECTOR, "#webhook-collection option[value='%s']" % shelf).click()
        browser.d.find_element(By.CSS_SELECTOR, "#new-webhook button[type=submit]").click()
        wait_for(browser, lambda: browser.d.find_elements(By.ID, "new-webhook-secret"), what="the webhook's secret")
        item = wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#webhook-list li"), what="the list")[0]
        assert "collection Hooked shelf" in item.text and rx.url in item.text, item.text
        hooks = expect(val.get("/v1/users/val/webhooks"), 200, "val's webhooks")["items"]
        assert [w["collection"] for w in hooks] == [shelf], hooks
        leaf = expect(val.post("/v1/leaves", json={"url": new_url(), "title": unique("hooked")}), 201)["id"]
        expect(val.post("/v1/collections/%s/leaves" % shelf, json={"id": leaf}), 201, "a leaf into the collection")
        wait_for(browser, lambda: rx.bodies, timeout=10, what="the delivery at the receiver")
        item.find_element(By.CSS_SELECTOR, "button.show-deliveries").click()
        wait_for(browser, lambda: "collection.leaf_added" in item.find_element(By.CSS_SELECTOR, ".deliveries").text,
                 what="the delivery in the page's log")
        assert_axe_clean(browser, axe, "the account page with a webhook and its deliveries")
    finally:
        rx.httpd.shutdown()

    # The password, changed with the current one.
    by_id(browser, "password-current").send_keys(PASSWORD)
    by_id(browser, "password-new").send_keys("val's newer password")
    browser.d.find_element(By.CSS_SELECTOR, "#password-form button[type=submit]").click()
    wait_for(browser, lambda: "Password changed" in by_id(browser, "password-status").text, what="the change")
    fresh = Client(server.base_url)
    expect(fresh.post("/v1/session", json={"name": "val", "password": "val's newer password"}), 201,
           "signing in with the new password")
    browser.shot("account")
