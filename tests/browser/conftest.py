"""Fixtures for the browser tests: the real binary and Debian's chromium,
driven by python3-selenium through chromium-driver (no mock of either).

- leaves_bin, server (module scope): tests/system's fixtures, one `leaves serve` on a fresh data dir.
- browser (module scope): a headless chromium; `browser.shot(name)` saves a
  screenshot under $LEAVES_UI_ARTIFACTS (default build/ui-screenshots).
- axe (session scope): the source of axe-core (AXE_VERSION, fetched once from
  npm with `npm pack` into ~/.cache/leaves/axe-core-VERSION/), or None when
  npm is not on this machine (the accessibility test is then skipped).
- Each test fails on any Content-Security-Policy violation or script error
  the page logged (console messages of level SEVERE, pictures that did not
  load aside).
"""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "system"))
pytest.register_assert_rewrite("leaves_testlib")

from leaves_testlib import ServerProcess  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = os.environ.get("LEAVES_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("LEAVES_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = pathlib.Path(os.environ.get("LEAVES_UI_ARTIFACTS") or (REPO / "build" / "ui-screenshots"))


# The binary and server fixtures are tests/system's own (leaves_bin, server),
# loaded under another module name: both directories have a conftest.py.
_spec = importlib.util.spec_from_file_location("system_conftest", REPO / "tests" / "system" / "conftest.py")
_system = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_system)
leaves_bin = _system.leaves_bin
server = _system.server


def serve(leaves_bin, tmp_path_factory, name, args=(), env=None):
    """A module's own server (a generator for a fixture: `yield from serve(...)`)."""
    base = tmp_path_factory.mktemp(name)
    srv = ServerProcess(leaves_bin, base / "data", base / "logs", args=list(args), env=env)
    srv.start()
    yield srv
    srv.stop(timeout=15, expect_code=0)
    srv.drop_keyspace()


def wait_for(browser, fn, timeout=5.0, what="condition"):
    """fn() until it is truthy (its value), else a failure naming `what` and the page."""
    try:
        return WebDriverWait(browser.d, timeout, poll_frequency=0.05).until(lambda d: fn())
    except TimeoutException:
        raise AssertionError("timed out after %.1fs waiting for %s (page at %s)" % (timeout, what, browser.path()))


def by_id(browser, id_):
    return browser.d.find_element(By.ID, id_)


def sign_in(browser, name, password, next_path=None):
    """Fills and sends the sign-in form (/login, or /login?next=PATH); the
    caller waits for what it expects next."""
    browser.open("/login" + ("?next=" + next_path if next_path else ""))
    wait_for(browser, lambda: browser.d.find_elements(By.ID, "login-name"), what="the sign-in form")
    by_id(browser, "login-name").send_keys(name)
    by_id(browser, "login-password").send_keys(password)
    browser.d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def texts(browser, selector):
    """The text of each element (read in one script: the page may redraw between two WebDriver calls)."""
    return browser.d.execute_script("return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)",
                                    selector)


AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(browser, axe):
    browser.d.execute_script(axe)
    return browser.d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: %s}}).then("
        "  r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        "    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))),"
        "  e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));" % json.dumps(AXE_RULES))


def assert_axe_clean(browser, axe, what):
    """No axe-core violation on the page as it is (skipped without axe: see the axe fixture)."""
    if not axe:
        return
    bad = axe_violations(browser, axe)
    assert not bad, "axe-core on %s (expected no violations):\n%s" % (what, "\n".join(
        "%s (%s): %s at %s" % (v["id"], v["impact"], v["help"], v["nodes"]) for v in bad))


AXE_VERSION = "4.14.1"


@pytest.fixture(scope="session")
def axe():
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "leaves" / (
        "axe-core-" + AXE_VERSION)
    js = cache / "axe.min.js"
    if not js.exists():
        npm = shutil.which("npm")
        if not npm:
            return None
        cache.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([npm, "pack", "axe-core@" + AXE_VERSION, "--silent", "--pack-destination", str(cache)],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            pytest.fail("npm pack axe-core@%s failed (exit %d): %s" % (AXE_VERSION, r.returncode, r.stderr[-800:]),
                        pytrace=False)
        with tarfile.open(cache / ("axe-core-%s.tgz" % AXE_VERSION)) as t:
            for name in ("package/axe.min.js", "package/LICENSE"):
                (cache / pathlib.Path(name).name).write_bytes(t.extractfile(name).read())
    return js.read_text()


class Browser:
    def __init__(self, driver, base_url):
        self.d = driver
        self.base = base_url

    def open(self, path):
        self.d.get(self.base + path)

    def path(self):
        return self.d.execute_script("return location.pathname + location.search")

    def shot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(ARTIFACTS / (name + ".png")))

    def problems(self):
        """Console errors since the last call, lost pictures aside."""
        out = []
        for e in self.d.get_log("browser"):
            msg = e.get("message", "")
            if e.get("level") != "SEVERE":
                continue
            if "Failed to load resource" in msg and ("ERR_NAME_NOT_RESOLVED" in msg or "ERR_CONNECTION_REFUSED" in msg
                                                     or "ERR_ADDRESS_UNREACHABLE" in msg or "404" in msg):
                continue
            out.append(msg[:400])
        return out


@pytest.fixture(scope="module")
def browser(server):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("the browser tests need %s and %s (scripts/install-deps installs chromium and chromium-driver)"
                    % (CHROMIUM, CHROMEDRIVER), pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900", "--no-first-run", "--disable-extensions"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    b = Browser(driver, server.base_url)
    yield b
    driver.quit()


@pytest.fixture(autouse=True)
def no_page_errors(request):
    yield
    if "browser" in request.fixturenames:
        b = request.getfixturevalue("browser")
        problems = b.problems()
        assert not problems, "the page logged errors (expected none):\n" + "\n".join(problems)
