"""The people page (/people) of an admin: the users (a new one with a
password, a role changed, one disabled) and the audit of what was done,
each checked against the API; hidden from and refused to others; pages the
browser loads directly (a reload) are served; axe-core clean."""

import pytest
from leaves_testlib import Client, expect
from conftest import assert_axe_clean, by_id, serve, sign_in, texts, wait_for
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ADMIN_TOKEN = "browser-admin-token-" + "0123456789abcdef" * 2
ADMIN_PASSWORD = "the admin's long password"
PIA_PASSWORD = "pia's own long password"


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    yield from serve(leaves_bin, tmp_path_factory, "people", args=["--anonymous", "read"],
                     env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})


def row_text(browser, name):
    """A user's row's text, read in one script (the table redraws after each change)."""
    got = texts(browser, "#user-list tr[data-name='%s']" % name)
    return got[0] if got else ""


def user_row(browser, name):
    return wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#user-list tr[data-name='%s']" % name),
                    what="the row of " + name)[0]


def test_an_admin_manages_users_and_reads_the_audit(server, browser, axe):
    admin = Client(server.base_url)
    admin.session.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
    expect(admin.put("/v1/users/admin/password", json={"password": ADMIN_PASSWORD}), 200, "the admin's password")
    expect(admin.post("/v1/users", json={"name": "cora", "role": "curator"}), 201, "create cora")

    # Not signed in: no People link, and the page says who may use it.
    browser.open("/people")
    wait_for(browser, lambda: "as an admin" in by_id(browser, "main").text, what="the page refusing a visitor")
    assert not by_id(browser, "nav-people").is_displayed(), "the People link is for admins only"

    sign_in(browser, "admin", ADMIN_PASSWORD, next_path="/people")
    wait_for(browser, lambda: browser.path() == "/people", what="the people page after signing in")
    user_row(browser, "cora")
    assert by_id(browser, "nav-people").is_displayed(), "an admin sees the People link"
    assert_axe_clean(browser, axe, "the people page")

    # A new curator with a password, made on the page.
    browser.d.find_element(By.CSS_SELECTOR, "#users details summary").click()
    by_id(browser, "user-name").send_keys("pia")
    by_id(browser, "user-email").send_keys("pia@example.org")
    Select(by_id(browser, "user-role")).select_by_value("curator")
    by_id(browser, "user-password").send_keys(PIA_PASSWORD)
    browser.d.find_element(By.CSS_SELECTOR, "#new-user button[type=submit]").click()
    user_row(browser, "pia")
    row = row_text(browser, "pia")
    assert "pia@example.org" in row and "set" in row, "pia's row: %r" % row
    pia = expect(admin.get("/v1/users/pia"), 200, "pia through the API")
    assert pia["role"] == "curator" and pia["has_password"] and not pia["disabled"], pia
    expect(Client(server.base_url).post("/v1/session", json={"name": "pia", "password": PIA_PASSWORD}), 201,
           "pia signs in with the password the page set")

    # The admin cannot demote or disable itself here.
    assert browser.d.execute_script(
        "const r = document.querySelector(\"#user-list tr[data-name='admin']\");"
        "return r.querySelector('select.user-role').disabled && r.querySelector('button.user-toggle').disabled"), (
        "the admin's own role and access controls should be disabled")

    # cora becomes a reader: pick, then Save (the table is drawn again).
    row = user_row(browser, "cora")
    Select(row.find_element(By.CSS_SELECTOR, "select.user-role")).select_by_value("reader")
    row.find_element(By.CSS_SELECTOR, "button.user-role-save").click()
    wait_for(browser, lambda: browser.d.execute_script(
        "const s = document.querySelector(\"#user-list tr[data-name='cora'] select.user-role\");"
        "return s && s.value === 'reader' && document.activeElement === s"), what="cora's row redrawn as a reader, focus kept")
    assert expect(admin.get("/v1/users/cora"), 200)["role"] == "reader"

    # pia is disabled (after a confirmation): she can no longer sign in.
    user_row(browser, "pia").find_element(By.CSS_SELECTOR, "button.user-toggle").click()
    WebDriverWait(browser.d, 5).until(EC.alert_is_present()).accept()
    wait_for(browser, lambda: "disabled" in row_text(browser, "pia"), what="pia shown disabled")
    assert expect(admin.get("/v1/users/pia"), 200)["disabled"] is True
    assert Client(server.base_url).post("/v1/session", json={"name": "pia", "password": PIA_PASSWORD}).status_code == 401, (
        "a disabled user must not sign in")

    # The audit: what the admin did to users, newest first.
    Select(by_id(browser, "audit-type")).select_by_value("user.")
    by_id(browser, "audit-actor").send_keys("admin")
    browser.d.find_element(By.CSS_SELECTOR, "#audit-filter button[type=submit]").click()
    want = ["user.updated", "user.updated", "user.password_set", "user.created"]  # pia off, cora reader, pia's password, pia made
    got = wait_for(browser, lambda: (lambda t: t if t[:4] == want else None)(
        browser.d.execute_script("return [...document.querySelectorAll('#audit-list tbody tr')].map(r => r.dataset.type)")),
        what="the admin's user events newest first")
    rows = texts(browser, "#audit-list tbody tr")
    assert "user:pia" in rows[0] and "disabled" in rows[0], "the newest event disables pia: %r" % rows[:2]
    assert "user:cora" in rows[1] and "role" in rows[1], "then cora's role: %r" % rows[:2]
    assert all(t.startswith("user.") for t in got), got
    assert_axe_clean(browser, axe, "the people page with the audit filtered")
    browser.shot("people")

    # A reload of the page, and of the account page, is served (not 404).
    browser.open("/people")
    user_row(browser, "pia")
    browser.open("/account")
    wait_for(browser, lambda: browser.d.find_elements(By.CSS_SELECTOR, "#token-list tbody tr"), what="the account page")


def test_the_people_routes_are_admin_only(server):
    expect(Client(server.base_url).get("/people", consistent=False), 200, "the page itself is the UI's one page")
    admin = Client(server.base_url)
    admin.session.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
    expect(admin.post("/v1/users", json={"name": "rob", "role": "curator"}), 201)
    token = expect(admin.post("/v1/users/rob/tokens", json={"name": "t"}), 201)["token"]
    rob = Client(server.base_url)
    rob.session.headers["Authorization"] = "Bearer " + token
    for path in ("/v1/users", "/v1/audit"):
        r = rob.get(path, consistent=False)
        assert r.status_code == 403, "a curator reads %s: expected 403, got %s %s" % (path, r.status_code, r.text[:200])
