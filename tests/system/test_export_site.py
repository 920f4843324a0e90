"""leaves export-site: the public leaves as a static site, from a running server or a data dir."""

import json
import os
import pathlib
import subprocess
import xml.etree.ElementTree as ET

from leaves_testlib import expect, new_url, unique

ATOM = "{http://www.w3.org/2005/Atom}"


def export(leaves_bin, out, *args, expect_code=0):
    r = subprocess.run([leaves_bin, "export-site", "--out", str(out)] + list(args), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == expect_code, "export-site %s: exit %d (expected %d)\nstdout: %s\nstderr: %s" % (
        " ".join(args), r.returncode, expect_code, r.stdout, r.stderr[-2000:])
    return r.stdout + r.stderr


def every_file(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in pathlib.Path(out).rglob("*") if p.is_file()}


def slug_of(out, tag):
    index = (pathlib.Path(out) / "index.html").read_text()
    for f in (pathlib.Path(out) / "tag").iterdir():
        if ("<h1>#%s</h1>" % tag) in f.read_text():
            return f.stem
    raise AssertionError("no tag page for %r (index: %s)" % (tag, index[:300]))


def seed(client, tag):
    made = {
        "a": client.create(url=new_url(), title="alpha " + tag, is_public=True, tags=[tag, "x-" + tag],
                           content="<p>alpha body</p>"),
        "b": client.create(url=new_url(), title="beta " + tag, is_public=True, tags=[tag],
                           content="<p>beta</p><script>window.__pwned=1</script><img src=x onerror=alert(1)>"
                                   "<a href=\"javascript:alert(2)\">j</a>"),
        "c": client.create(url=new_url(), title="gamma " + tag, is_public=True, tags=[tag, "Kafka Streams"]),
        "private": client.create(url=new_url(), title="secret " + tag, is_public=False, tags=[tag]),
    }
    return made


def test_a_site_from_a_running_server_is_complete_safe_and_incremental(server, leaves_bin, tmp_path):
    c = server.client
    tag = unique("site")
    made = seed(c, tag)
    out = tmp_path / "site"
    said = export(leaves_bin, out, "--server", server.base_url, "--min-position", c.min_position(), "--tag", tag,
                  "--title", "My <site>")
    assert "3 public leaves" in said, said
    files = every_file(out)
    for name in ["index.html", "search.json", "search.js", "style.css", "feed/all.xml", ".leaves-export.json"]:
        assert name in files, "%s is exported, got %r" % (name, sorted(files)[:20])
    for k in ["a", "b", "c"]:
        assert "leaf/%s.html" % made[k]["id"] in files
    # Nothing of the private leaf, anywhere.
    for name, data in files.items():
        assert made["private"]["id"].encode() not in data and b"secret " not in data, "the private leaf is in %s" % name
    index = files["index.html"].decode()
    assert "My &lt;site&gt;" in index and "<site>" not in index, "the title is escaped"
    assert "Content-Security-Policy" in index and "script-src 'self'" in index
    page_b = files["leaf/%s.html" % made["b"]["id"]].decode()
    body_b = page_b[page_b.index('<div class="content">'):]
    assert "<p>beta</p>" in body_b and "<script" not in body_b and "onerror" not in body_b \
        and "javascript:" not in body_b, "the content is sanitised: %s" % body_b[:400]
    # A page per tag, an Atom feed per tag.
    s = slug_of(out, tag)
    tag_page = files["tag/%s.html" % s].decode()
    for k in ["a", "b", "c"]:
        assert made[k]["id"] in tag_page
    stored = [t for t in made["c"]["tags"] if t != tag][0]  # as the server normalised it
    kafka_slug = slug_of(out, stored)
    assert kafka_slug.startswith("kafka-streams-"), kafka_slug
    feed = ET.fromstring(files["feed/%s.xml" % s])
    entries = feed.findall(ATOM + "entry")
    assert len(entries) == 3, "3 entries in the tag's feed, got %d" % len(entries)
    assert {e.find(ATOM + "id").text for e in entries} == {"urn:leaves:leaf:" + made[k]["id"] for k in "abc"}
    assert feed.find(ATOM + "updated").text.endswith("Z")
    search = json.loads(files["search.json"])
    assert sorted(e[1] for e in search) == sorted(made[k]["title"] for k in "abc")

    # Again with nothing changed: nothing written.
    said = export(leaves_bin, out, "--server", server.base_url, "--min-position", c.min_position(), "--tag", tag,
                  "--title", "My <site>")
    assert " 0 files written" in said, said
    # One leaf changes: its page, its tags' pages and feeds, the index and the
    # search index are written; the other leaves' pages are not.
    untouched = out / ("leaf/%s.html" % made["a"]["id"])
    mtime = os.stat(untouched).st_mtime_ns
    expect(c.patch("/v1/leaves/%s" % made["c"]["id"], json={"title": "gamma renamed " + tag}), 200)
    said = export(leaves_bin, out, "--server", server.base_url, "--min-position", c.min_position(), "--tag", tag,
                  "--title", "My <site>")
    assert "(1 leaf pages rendered)" in said, said
    assert os.stat(untouched).st_mtime_ns == mtime, "an unchanged leaf's page is not rewritten"
    assert "gamma renamed" in (out / ("leaf/%s.html" % made["c"]["id"])).read_text()
    # A leaf made private is removed from the site.
    expect(c.patch("/v1/leaves/%s" % made["b"]["id"], json={"is_public": False}), 200)
    said = export(leaves_bin, out, "--server", server.base_url, "--min-position", c.min_position(), "--tag", tag,
                  "--title", "My <site>")
    assert " 1 removed" in said, said
    assert not (out / ("leaf/%s.html" % made["b"]["id"])).exists()
    assert made["b"]["id"] not in (out / "search.json").read_text()


def test_a_site_from_a_data_dir_matches_the_one_from_the_server(server_factory, leaves_bin, tmp_path):
    srv = server_factory.make()
    tag = unique("dd")
    seed(srv.client, tag)
    from_server = tmp_path / "from-server"
    export(leaves_bin, from_server, "--server", srv.base_url, "--min-position", srv.client.min_position(), "--tag", tag)
    srv.stop()
    from_dir = tmp_path / "from-dir"
    said = export(leaves_bin, from_dir, "--data-dir", srv.data_dir, "--tag", tag, *srv.backend_args)
    assert "3 public leaves" in said and "log position" in said, said
    a, b = every_file(from_server), every_file(from_dir)
    a.pop(".leaves-export.json")
    b.pop(".leaves-export.json")
    assert a == b, "the same site either way; differing files: %r" % sorted(
        k for k in set(a) | set(b) if a.get(k) != b.get(k))


def test_export_site_refuses_bad_options_clearly(server, leaves_bin, tmp_path):
    said = export(leaves_bin, tmp_path / "x", expect_code=2)
    assert "one of --server URL or --data-dir DIR" in said
    said = export(leaves_bin, tmp_path / "x", "--server", "http://127.0.0.1:9", "--data-dir", str(tmp_path),
                  expect_code=2)
    assert "one of --server URL or --data-dir DIR" in said
    said = export(leaves_bin, tmp_path / "x", "--server", "http://127.0.0.1:1", expect_code=2)
    assert "cannot reach http://127.0.0.1:1" in said, said
    said = export(leaves_bin, tmp_path / "x", "--server", "ftp://h", expect_code=2)
    assert "http:// URL" in said, said
    said = export(leaves_bin, tmp_path / "x", "--data-dir", str(tmp_path), "--min-position", "0:1", expect_code=2)
    assert "--min-position goes with --server" in said, said
    said = export(leaves_bin, tmp_path / "x", "--server", server.base_url, "--min-position", "bad", expect_code=2)
    assert "400" in said and "position" in said, said
    said = export(leaves_bin, tmp_path / "x", "--data-dir", str(tmp_path / "none"), expect_code=2)
    assert "no data dir" in said, said
