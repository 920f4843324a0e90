"""scripts/corpus: real leaves from `apt-cache dumpavail`; valid, reproducible, importable, searchable."""

import collections
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse

import pytest

from leaves_testlib import describe_cli, expect, md5_hex, run_cli, trunc, wait_until

REPO = pathlib.Path(__file__).resolve().parents[2]
CORPUS = REPO / "scripts" / "corpus"
SUMMARY_RE = re.compile(r"^corpus: wrote (\d+) entries from (\d+) packages in [\d.]+ s\b", re.M)
TITLE_RE = re.compile(r"^([a-z0-9][a-z0-9+.-]*)(?: \(copy (\d+)\))?: \S")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIRST, LAST = "2019-01-01T00:00:00Z", "2026-11-30T23:59:59Z"
PACKAGES_URL = "https://packages.debian.org/bookworm/"
LIMIT = 500

pytestmark = pytest.mark.skipif(shutil.which("apt-cache") is None,
                                reason="apt-cache is absent: scripts/corpus reads `apt-cache dumpavail` (Debian only)")


def describe(res):
    return "command: %s\n  exit code: %s\n  stderr: %s" % (" ".join(map(str, res.args)), res.returncode,
                                                          trunc(res.stderr, 1500))


def run_corpus(*args, env=None, timeout=60):
    return subprocess.run([str(CORPUS)] + list(args), capture_output=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def summary(res):
    m = SUMMARY_RE.search(res.stderr.decode("utf-8", "replace"))
    assert res.returncode == 0 and m, "expected exit 0 and 'corpus: wrote N entries from M packages in S s'\n  %s" % (
        describe(res))
    return int(m.group(1)), int(m.group(2))


def entries_of(data, what):
    out = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            raise AssertionError("%s: line %d is not JSON (%s): %s" % (what, n, e, trunc(line, 300)))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two runs of --limit 500 at once: (path of the first, its bytes, the second's bytes, package count)."""
    d = tmp_path_factory.mktemp("corpus")
    paths = [d / "a.jsonl", d / "b.jsonl"]
    procs = [subprocess.Popen([str(CORPUS), "--limit", str(LIMIT), "-o", str(p)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in paths]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    wrote, packages = summary(results[0])
    summary(results[1])
    assert wrote == min(LIMIT, packages), "--limit %d with %d packages: expected %d entries written, got %d" % (
        LIMIT, packages, min(LIMIT, packages), wrote)
    return paths[0], paths[0].read_bytes(), paths[1].read_bytes(), packages


def check_entry(e, where):
    problems = []
    m = TITLE_RE.match(e.get("title", ""))
    if not m:
        problems.append("title %r is not '<pkg>: <short description>'" % e.get("title"))
    url = e.get("url", "")
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname or "#" in url or " " in url:
        problems.append("url %r is not an http(s) URL without a fragment" % url)
    elif e.get("domain_name") != u.hostname:
        problems.append("domain_name %r is not the url's host %r" % (e.get("domain_name"), u.hostname))
    for f in ("created_at", "updated_at"):
        v = e.get(f, "")
        if not ISO_RE.match(v) or not FIRST <= v <= LAST:
            problems.append("%s %r is not YYYY-MM-DDTHH:MM:SSZ in %s..%s" % (f, v, FIRST, LAST))
    if e.get("updated_at", "") < e.get("created_at", ""):
        problems.append("updated_at %s before created_at %s" % (e.get("updated_at"), e.get("created_at")))
    tags = e.get("tags")
    if not isinstance(tags, list) or not 1 <= len(tags) <= 12 or len(set(tags)) != len(tags):
        problems.append("tags %r: expected 1-12 distinct tags, the Section first" % tags)
    else:
        for t in tags:
            if not isinstance(t, str) or not re.match(r"^[a-z0-9+.\-]{1,64}$", t):
                problems.append("tag %r: expected lower case, no ':' or spaces, at most 64 characters" % t)
    for f in ("is_starred", "is_archived", "is_public"):
        if e.get(f) not in (0, 1) or isinstance(e.get(f), bool):
            problems.append("%s %r: expected 0 or 1" % (f, e.get(f)))
    if not e.get("content_text") or not str(e.get("content", "")).startswith("<p>"):
        problems.append("content_text must not be empty and content must be <p> paragraphs")
    if (e.get("language"), e.get("mimetype")) != ("en", "text/html"):
        problems.append("language/mimetype %r/%r: expected en/text/html" % (e.get("language"), e.get("mimetype")))
    if not e.get("user_name"):
        problems.append("user_name is empty")
    assert not problems, "%s: %s\n  entry: %s" % (where, "; ".join(problems), trunc(json.dumps(e), 600))
    return m.group(1)


def test_limit_writes_valid_unique_sorted_entries_and_the_same_bytes_twice(corpus):
    path, data, again, packages = corpus
    assert data == again, "two runs of --limit %d: expected identical bytes, got %d and %d bytes (first difference at %d)" % (
        LIMIT, len(data), len(again), next((i for i, (a, b) in enumerate(zip(data, again)) if a != b),
                                           min(len(data), len(again))))
    entries = entries_of(data, str(path))
    assert len(entries) == min(LIMIT, packages), "expected %d lines, got %d" % (min(LIMIT, packages), len(entries))
    names = [check_entry(e, "line %d" % n) for n, e in enumerate(entries, 1)]
    assert names == sorted(names) and len(set(names)) == len(names), (
        "expected entries sorted by package name, each package once; got %s..." % names[:20])
    urls = [e["url"] for e in entries]
    dup = [u for u, c in collections.Counter(urls).items() if c > 1]
    assert not dup, "expected unique urls, these repeat: %s" % dup[:10]
    flags = collections.Counter(k for e in entries for k in ("is_starred", "is_archived", "is_public") if e[k])
    assert all(0 < flags[k] < len(entries) / 2 for k in ("is_starred", "is_archived", "is_public")), (
        "flags should be set on some entries (~10%%/5%%/30%%), got %s of %d" % (dict(flags), len(entries)))


def test_count_beyond_the_packages_adds_numbered_copies(corpus):
    packages = corpus[3]
    n = packages + 5
    res = run_corpus("--count", str(n))
    assert summary(res) == (n, packages), "--count %d: expected 'wrote %d entries from %d packages'\n  %s" % (
        n, n, packages, describe(res))
    entries = entries_of(res.stdout, "--count %d" % n)
    assert len(entries) == n, "--count %d: expected exactly %d lines, got %d" % (n, n, len(entries))
    urls = collections.Counter(e["url"] for e in entries)
    assert len(urls) == n, "--count %d: expected %d unique urls, got %d (repeated: %s)" % (
        n, n, len(urls), [u for u, c in urls.items() if c > 1][:10])
    for first, copy in zip(entries[:5], entries[packages:]):
        name = TITLE_RE.match(first["title"]).group(1)
        want_url, want_title = PACKAGES_URL + name + "?copy=1", first["title"].replace(name + ":", name + " (copy 1):", 1)
        assert (copy["url"], copy["title"]) == (want_url, want_title), (
            "copy of %s: expected url %s and title %r, got %s and %r" % (name, want_url, want_title, copy["url"],
                                                                        copy["title"]))
        check_entry(copy, "copy of " + name)
    limited = entries_of(corpus[1], "--limit")
    assert entries[:len(limited)] == limited, "--count's first entries should be --limit's (same machine, same seed)"


def test_bad_arguments_and_a_missing_or_failing_apt_cache(tmp_path):
    res = run_corpus("--limit", "3", "--count", "3")
    assert res.returncode == 2 and b"not allowed with" in res.stderr, (
        "--limit with --count: expected exit 2 naming the clash\n  %s" % describe(res))
    res = run_corpus("--limit", "-1")
    assert res.returncode == 2, "--limit -1: expected exit 2\n  %s" % describe(res)
    empty = tmp_path / "empty"
    empty.mkdir()
    res = subprocess.run([sys.executable, str(CORPUS)], capture_output=True, timeout=30,
                         env=dict(os.environ, PATH=str(empty)))
    assert res.returncode == 1 and b"apt-cache not found" in res.stderr, (
        "without apt-cache on PATH: expected exit 1 and 'apt-cache not found'\n  %s" % describe(res))
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-cache").write_text("#!/bin/sh\necho 'E: the cache is broken' >&2\nexit 100\n")
    (fake / "apt-cache").chmod(0o755)
    res = run_corpus(env=dict(os.environ, PATH="%s%s%s" % (fake, os.pathsep, os.environ.get("PATH", ""))))
    assert res.returncode == 1 and b"exit code 100" in res.stderr and b"the cache is broken" in res.stderr, (
        "a failing apt-cache: expected exit 1 naming its exit code and message\n  %s" % describe(res))


FAKE_DUMP = """\
Package: zz-corpus-alpha
Version: 1.0-1
Maintainer: "Doe, Jane" <jane@example.org>
Description: the first <test> & package
 This paragraph is folded
 over two lines.
 .
 A list:
   * one <b>
   * two
 .
 Last paragraph.
Homepage: https://example.org/alpha#readme
Description-md5: 0123456789abcdef0123456789abcdef
Section: contrib/Python
Tag: devel::lang:python, special::not-yet-tagged,
 role::program

Package: zz-corpus-alpha
Version: 0.9-1
Maintainer: Old <old@example.org>
Description: an older stanza, ignored
Section: old

Package: zz-corpus-beta
Maintainer: Team Beta <beta@example.org>
Description: second package
Homepage: https://example.org/alpha
Section: libs

Package: zz-corpus-gamma
Maintainer: nobody-without-brackets
Description: third package
Homepage: ftp://example.org/gamma
Section: non-free/games
"""


def test_fields_from_a_known_dumpavail(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (tmp_path / "dump.txt").write_text(FAKE_DUMP)
    (fake / "apt-cache").write_text("#!/bin/sh\nexec cat '%s'\n" % (tmp_path / "dump.txt"))
    (fake / "apt-cache").chmod(0o755)
    env = dict(os.environ, PATH="%s%s%s" % (fake, os.pathsep, os.environ.get("PATH", "")))
    res = run_corpus("--count", "4", env=env)
    assert summary(res) == (4, 3), "3 packages (one listed twice), --count 4\n  %s" % describe(res)
    got = entries_of(res.stdout, "fake dumpavail")
    want = [
        {"url": "https://example.org/alpha", "title": "zz-corpus-alpha: the first <test> & package",
         "content_text": "This paragraph is folded over two lines.\n\nA list:\n  * one <b>\n  * two\n\nLast paragraph.",
         "content": "<p>This paragraph is folded over two lines.</p><p>A list:<br>\n  * one &lt;b&gt;<br>\n  * two</p>"
                    "<p>Last paragraph.</p>",
         "tags": ["python", "devel.lang-python", "role.program"], "user_name": "Doe, Jane",
         "user_email": "jane@example.org", "domain_name": "example.org"},
        {"url": PACKAGES_URL + "zz-corpus-beta", "title": "zz-corpus-beta: second package",
         "content_text": "second package", "content": "<p>second package</p>", "tags": ["libs"],
         "user_name": "Team Beta", "user_email": "beta@example.org", "domain_name": "packages.debian.org"},
        {"url": PACKAGES_URL + "zz-corpus-gamma", "title": "zz-corpus-gamma: third package",
         "tags": ["games"], "user_name": "nobody-without-brackets", "user_email": ""},
        {"url": PACKAGES_URL + "zz-corpus-alpha?copy=1", "title": "zz-corpus-alpha (copy 1): the first <test> & package",
         "tags": ["python", "devel.lang-python", "role.program"], "domain_name": "packages.debian.org"},
    ]
    assert len(got) == len(want), "expected %d entries, got %d: %s" % (len(want), len(got), got)
    for g, w in zip(got, want):
        diff = {k: (v, g.get(k)) for k, v in w.items() if g.get(k) != v}
        assert not diff, "entry %s: field (expected, got): %s" % (w["url"], diff)
        check_entry(g, w["url"])
    other_seed = entries_of(run_corpus("--count", "4", "--seed", "7", env=env).stdout, "--seed 7")
    assert [e["created_at"] for e in other_seed] != [e["created_at"] for e in got], (
        "--seed should move the derived dates")


def test_import_then_list_search_and_facets_agree_with_the_file(corpus, leaves_bin, server_factory):
    path, data = corpus[0], corpus[1]
    entries = entries_of(data, str(path))
    srv = server_factory.make()
    res = run_cli(leaves_bin, ["import", str(path), "--server", srv.base_url], timeout=120)
    want = "imported %d, unchanged 0, rejected 0" % len(entries)
    assert res.returncode == 0 and res.stdout.startswith(want), "expected exit 0 and %r\n  %s" % (
        want, describe_cli(res))
    c = srv.client

    def search(query):
        return expect(c.get("/v1/search?" + query), 200, "search " + query)

    wait_until(lambda: search("limit=1")["total"] == len(entries), timeout=30,
               what="the search index to hold all %d imported leaves" % len(entries))
    # The read models are a projection of their own, which may be behind the
    # index (on Cassandra, by seconds under load): the list waits for them.
    items = wait_until(lambda: (lambda got: got if len(got) >= len(entries) else None)(c.list_all("limit=100")[0]),
                       timeout=30, what="the read models to list all %d imported leaves" % len(entries))
    assert sorted(it["url"] for it in items) == sorted(e["url"] for e in entries), (
        "GET /v1/leaves: expected the %d urls of the file, got %d items" % (len(entries), len(items)))

    one = entries[len(entries) // 2]
    leaf = expect(c.get("/v1/leaves/" + md5_hex(one["url"])), 200, "the imported leaf of " + one["url"])
    for f in ("title", "tags", "content_text", "user_name", "user_email"):
        assert leaf[f] == one[f], "imported %s: %s expected %r, got %r" % (one["url"], f, one[f], leaf[f])
    assert leaf["created_at"].startswith(one["created_at"][:19]) and leaf["is_public"] == bool(one["is_public"]), (
        one, leaf)

    # The rarest word of the titles' short descriptions finds its leaf.
    words = collections.Counter()
    for e in entries:
        words.update(set(re.findall(r"[a-z]{5,}", e["title"].split(": ", 1)[1].lower())))
    word = min((w for w in words if words[w] == 1), default=None)
    assert word, "expected some title word that occurs once in %d titles" % len(entries)
    owner = next(e for e in entries if word in e["title"].split(": ", 1)[1].lower())
    body = search("q=%s&limit=100" % word)
    assert md5_hex(owner["url"]) in {it["id"] for it in body["items"]}, (
        "q=%s: expected the leaf %r among the results, got %s" % (
            word, owner["title"], [it["title"] for it in body["items"]]))

    # Facets: the Section tag's leaves, counted by the server and over the file.
    section = owner["tags"][0]
    with_section = [e for e in entries if section in e["tags"]]
    body = search("tag=%s&facets=tags&facet_limit=100&limit=1" % urllib.parse.quote(section))
    assert body["total"] == len(with_section), "tag=%s: expected total %d (count over the file), got %d" % (
        section, len(with_section), body["total"])
    brute = collections.Counter(t for e in with_section for t in e["tags"])
    got = {f["value"]: f["count"] for f in body["facets"]["tags"]}
    assert got[section] == len(with_section) and all(brute[t] == n for t, n in got.items()), (
        "tag=%s facets: expected counts %s, got %s" % (section, dict(brute), got))
    everything = collections.Counter(t for e in entries for t in e["tags"])
    body = search("facets=tags&facet_limit=100&limit=1")
    got = {f["value"]: f["count"] for f in body["facets"]["tags"]}
    wrong = {t: (everything[t], n) for t, n in got.items() if everything[t] != n}
    assert not wrong, "facets over all leaves, tag: (count over the file, server's): %s" % wrong
    assert sorted(got.values(), reverse=True) == sorted(everything.values(), reverse=True)[:len(got)], (
        "the top %d tag counts should be the file's top counts: expected %s, got %s" % (
            len(got), sorted(everything.values(), reverse=True)[:len(got)], sorted(got.values(), reverse=True)))
