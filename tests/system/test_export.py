"""GET /v1/export?format=jsonl|json|csv|html and `leaves import` of every
format (and of browser and Pocket files): round trips between two servers,
filters, who sees what, CSV formula neutralising, errors. docs/api.md."""

import csv
import io
import json

from leaves_testlib import (Client, describe, describe_cli, expect, expect_error, new_url, run_cli, unique,
                            wait_until)
from test_auth import ADMIN_TOKEN, as_user, make_user

HOSTILE_TITLE = '=HYPERLINK("http://evil.example","x"), <script>alert(1)</script> "quoted"'
FIELDS = ("url", "title", "tags", "is_starred", "is_archived", "is_public", "content_text")  # CSV: no content_text


def seed(client, tag):
    leaves = [
        dict(url=new_url(), title=HOSTILE_TITLE, tags=[tag, "csv-injection"], is_public=True,
             content_text="line one\n\nline two, with a comma & an <angle>"),
        dict(url=new_url(), title="Ünïcödé title — 東京", tags=[tag], is_starred=True, is_archived=True,
             content_text="plain"),
        dict(url=new_url(), title="private one", tags=[tag, "private"], is_public=False),
        dict(url=new_url(), title="+plus, -minus @at", tags=["other"], is_public=True),
        # A title with an apostrophe of its own first; tags holding either separator and a backslash.
        dict(url=new_url(), title="'=quoted already", tags=["pipe|tag", "comma,tag", "back\\slash|,"],
             is_public=True),
    ]
    for body in leaves:
        expect(client.post("/v1/leaves", json=body), 201, "save %s" % body["url"])
    return leaves


def export(client, fmt, query="", status=200):
    r = client.get("/v1/export?format=%s%s" % (fmt, query))
    expect(r, status, "export as %s" % fmt)
    return r


def import_file(leaves_bin, srv, path, *extra):
    res = run_cli(leaves_bin, ["import", str(path), "--server", srv.base_url] + list(extra), timeout=120)
    assert res.returncode == 0, "import of %s: expected exit 0\n  %s" % (path.name, describe_cli(res))
    return res.stdout.splitlines()[0]


def listed(client, query=""):
    return client.list_all(query)[0]


def by_url(client):
    return {l["url"]: l for l in listed(client)}


def test_every_format_round_trips_through_import(leaves_bin, server_factory, tmp_path):
    src = server_factory.make()
    a = Client(src.base_url)
    tag = unique("exp")
    seeded = seed(a, tag)
    wait_until(lambda: len(listed(a)) >= len(seeded), what="the seeded leaves listed")
    want = by_url(a)
    for fmt, ctype in (("jsonl", "application/x-ndjson"), ("json", "application/json"), ("csv", "text/csv"),
                       ("html", "text/html")):
        r = export(a, fmt)
        assert r.headers.get("Content-Type", "").startswith(ctype), "%s: Content-Type\n  %s" % (fmt, describe(r))
        assert r.headers.get("Transfer-Encoding") == "chunked", "%s: the export should stream\n  %s" % (fmt, describe(r))
        disp = r.headers.get("Content-Disposition", "")
        assert disp.startswith("attachment; filename=\"leaves-") and disp.endswith('.%s"' % fmt), describe(r)
        if fmt == "jsonl":
            assert len([l for l in r.text.splitlines() if l.strip()]) == len(want), r.text[:2000]
        if fmt == "json":
            assert len(json.loads(r.text)) == len(want), r.text[:2000]
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(r.text)))
            assert len(rows) == len(want), r.text[:2000]
            hostile = [row for row in rows if row["title"].startswith("'=")]
            assert len(hostile) == 1, ("a title that starts like a formula should be written with a leading "
                                       "apostrophe, got titles %r" % [row["title"] for row in rows])
            assert all(not row["title"][:1] in "=+-@" for row in rows), [row["title"] for row in rows]
        if fmt == "html":
            assert r.text.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>"), r.text[:300]
            assert "<script>" not in r.text, "titles must be escaped in the bookmark file"
        path = tmp_path / ("export." + fmt)
        path.write_bytes(r.content)
        dst = server_factory.make()
        summary = import_file(leaves_bin, dst, path)
        assert summary.startswith("imported %d," % len(want)), "%s: %s" % (fmt, summary)
        b = Client(dst.base_url)
        got = wait_until(lambda: (lambda m: m if len(m) == len(want) else None)(by_url(b)),
                         what="%s import listed" % fmt)
        for url, leaf in want.items():
            for f in FIELDS:
                if f == "content_text" and fmt == "csv":
                    continue  # CSV carries no page text
                assert got[url][f] == leaf[f], "%s round trip: %s of %s\n  expected %r\n  got      %r" % (
                    fmt, f, url, leaf[f], got[url][f])
            # Netscape files carry seconds; the others the milliseconds too.
            n = 19 if fmt == "html" else 24
            assert got[url]["created_at"][:n] == leaf["created_at"][:n], "%s: created_at %r -> %r" % (
                fmt, leaf["created_at"], got[url]["created_at"])
        # An export imported again into its own server changes nothing.
        if fmt != "html":
            again = import_file(leaves_bin, src, path)
            assert again.startswith("imported 0, unchanged %d" % len(want)), "%s into its source: %s" % (fmt, again)
        dst.stop()


def test_filters_errors_and_who_sees_what(server_factory):
    srv = server_factory.make(args=["--anonymous", "read"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    tag = unique("exp")
    seed(admin, tag)
    token, _ = make_user(admin, unique("reader"), "curator")
    mine = as_user(srv, token)
    own = new_url()
    expect(mine.post("/v1/leaves", json={"url": own, "tags": [tag], "is_public": False}), 201, "a private leaf")
    wait_until(lambda: len(listed(admin, "tag=" + tag)) == 4, what="four leaves of the tag")

    def urls(client, query):
        return {json.loads(l)["url"] for l in export(client, "jsonl", query).text.splitlines() if l.strip()}

    everything = urls(admin, "&tag=" + tag)
    assert len(everything) == 4, "the admin exports every leaf of the tag, got %r" % everything
    public = urls(as_user(srv, None), "&tag=" + tag)
    assert len(public) == 1 and own not in public, "anonymous readers export public leaves only, got %r" % public
    assert urls(as_user(srv, None), "&public=false") == set(), "anonymous readers asking for private leaves: none"
    assert urls(mine, "&tag=" + tag) == public | {own}, "a curator exports public leaves and its own"
    assert len(urls(admin, "&tag=%s&starred=true" % tag)) == 1, "starred=true filters"
    expect_error(export(admin, "xml", status=400), 400, "invalid_query", "an unknown format")
    expect_error(admin.get("/v1/export?limit=5"), 400, "invalid_query", "limit on an export")
    expect_error(admin.get("/v1/export?tagg=x"), 400, "invalid_query", "an unknown parameter")
    none = server_factory.make(args=["--anonymous", "none"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    r = as_user(none, None).get("/v1/export")
    assert r.status_code == 401, "--anonymous none: an export needs a token\n  %s" % describe(r)


def test_many_leaves_stream_page_after_page(server):
    c = Client(server.base_url)
    tag = unique("many")
    n = 2500
    for start in range(0, n, 500):
        items = [{"url": new_url(), "tags": [tag], "title": "n%d" % i} for i in range(start, start + 500)]
        expect(c.post("/v1/bulk/leaves", json={"items": items}), 200, "bulk")
    wait_until(lambda: c.tags()[0].get(tag) == n, timeout=30, what="%d leaves of the tag counted" % n)
    lines = [l for l in export(c, "jsonl", "&tag=" + tag).text.splitlines() if l.strip()]
    assert len(lines) == n, "the export should carry every one of %d leaves, got %d" % (n, len(lines))
    assert len({json.loads(l)["id"] for l in lines}) == n, "no leaf twice across pages"
    created = [json.loads(l)["created_at"] for l in lines]
    assert created == sorted(created, reverse=True), "newest first"


BROWSER_FILE = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file. -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks Menu</H1>
<DL><p>
    <DT><H3 ADD_DATE="1600000000">Reading</H3>
    <DL><p>
        <DT><A HREF="{u1}" ADD_DATE="1600000001" LAST_MODIFIED="1600000002" TAGS="kafka,streams">Kafka &amp; friends</A>
        <DD>A description
        spread over lines.
        <DT><A HREF="{u2}" ADD_DATE="1600000003" PRIVATE="0" TOREAD="1">Second</A>
    </DL><p>
    <DT><A HREF="{u3}">{u3}</A>
</DL><p>
"""

POCKET_CSV = """title,url,time_added,tags,status
"Cassandra, the book",{u1},1600000100,db|cassandra,archive
{u2},{u2},1600000200,,unread
"""


def test_browser_bookmarks_and_pocket_csv(leaves_bin, server, tmp_path):
    c = Client(server.base_url)
    u = [new_url() for _ in range(3)]
    f = tmp_path / "bookmarks.html"
    f.write_text(BROWSER_FILE.format(u1=u[0], u2=u[1], u3=u[2]))
    assert import_file(leaves_bin, server, f).startswith("imported 3,")
    got = wait_until(lambda: (lambda m: m if all(x in m for x in u) else None)(by_url(c)), what="bookmarks listed")
    assert got[u[0]]["title"] == "Kafka & friends" and got[u[0]]["tags"] == ["kafka", "streams"], got[u[0]]
    assert got[u[0]]["created_at"].startswith("2020-09-13T12:26:41"), got[u[0]]["created_at"]
    assert got[u[0]]["content_text"].startswith("A description"), got[u[0]]
    assert got[u[1]]["is_public"] is True, got[u[1]]
    assert got[u[2]]["title"] == "", "a title that is the URL itself is left empty, got %r" % got[u[2]]["title"]
    p = [new_url() for _ in range(2)]
    f = tmp_path / "pocket.csv"
    f.write_text(POCKET_CSV.format(u1=p[0], u2=p[1]))
    assert import_file(leaves_bin, server, f).startswith("imported 2,")
    got = wait_until(lambda: (lambda m: m if all(x in m for x in p) else None)(by_url(c)), what="pocket listed")
    assert got[p[0]]["title"] == "Cassandra, the book" and got[p[0]]["tags"] == ["db", "cassandra"], got[p[0]]
    assert got[p[0]]["is_archived"] is True and got[p[1]]["is_archived"] is False
    assert got[p[0]]["created_at"].startswith("2020-09-13T12:28:20"), got[p[0]]["created_at"]
    # A header with quoted names (many spreadsheets write them) is CSV, not JSON.
    q = new_url()
    f = tmp_path / "quoted.csv"
    f.write_text('"url","title","tags"\n"%s","Quoted header","x|y"\n' % q)
    assert import_file(leaves_bin, server, f).startswith("imported 1,")
    got = wait_until(lambda: (lambda m: m if q in m else None)(by_url(c)), what="quoted-header CSV listed")
    assert got[q]["title"] == "Quoted header" and got[q]["tags"] == ["x", "y"], got[q]
    bad = tmp_path / "nourl.csv"
    bad.write_text("name,link\nx,y\n")
    res = run_cli(leaves_bin, ["import", str(bad), "--server", server.base_url])
    assert res.returncode == 2 and "url column" in res.stderr, describe_cli(res)
    deep = tmp_path / "deep.html"
    deep.write_text("<!DOCTYPE NETSCAPE-Bookmark-file-1>\n" + "<DL>" * 5000 + '<DT><A HREF="https://x.example/">x</A>')
    res = run_cli(leaves_bin, ["import", str(deep), "--server", server.base_url])
    assert res.returncode == 2 and "deeper than" in res.stderr, describe_cli(res)


def test_the_export_command(leaves_bin, server_factory, tmp_path):
    srv = server_factory.make(args=["--anonymous", "none"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    tag = unique("cli")
    seed(admin, tag)
    wait_until(lambda: len(listed(admin, "tag=" + tag)) == 3, what="three leaves of the tag")
    env = {"LEAVES_TOKEN": ADMIN_TOKEN}
    for fmt in ("jsonl", "json", "csv", "html"):
        out = tmp_path / ("cli." + fmt)
        res = run_cli(leaves_bin, ["export", "--server", srv.base_url, "--format", fmt, "--tag", tag, "--out",
                                   str(out)], env=env)
        assert res.returncode == 0, describe_cli(res)
        api = export(admin, fmt, "&tag=" + tag).content
        assert out.read_bytes() == api, "%s: the file should hold what GET /v1/export answers (%d vs %d bytes)" % (
            fmt, len(out.read_bytes()), len(api))
        assert not (tmp_path / ("cli.%s.partial" % fmt)).exists(), "the partial file is renamed away"
    res = run_cli(leaves_bin, ["export", "--server", srv.base_url, "--tag", tag], env=env)
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3, "to stdout\n  %s" % describe_cli(res)
    res = run_cli(leaves_bin, ["export", "--server", srv.base_url, "--out", str(tmp_path / "no.jsonl")])
    assert res.returncode == 2 and "401" in res.stderr and "LEAVES_TOKEN" in res.stderr, describe_cli(res)
    assert not (tmp_path / "no.jsonl").exists() and not (tmp_path / "no.jsonl.partial").exists()
    res = run_cli(leaves_bin, ["export", "--server", srv.base_url, "--format", "xml"], env=env)
    assert res.returncode == 2 and "--format" in res.stderr, describe_cli(res)


WALLABAG = json.dumps([{
    "id": 42, "url": "{u1}", "title": "Wallabag entry", "content": "<p>Hello <b>world</b></p>",
    "tags": ["kafka", "streams"], "is_archived": 1, "is_starred": 0, "is_public": False,
    "created_at": "2019-03-01T10:00:00+01:00", "updated_at": "2019-03-02T10:00:00+01:00",
    "mimetype": "text/html", "language": "en", "reading_time": 1, "domain_name": "wb.example",
    "preview_picture": "https://wb.example/p.png", "published_by": ["Ann"], "annotations": [], "headers": {}}])
KARAKEEP = json.dumps({"bookmarks": [
    {"createdAt": 1700000000, "title": "Karakeep one", "tags": ["rust", "db"],
     "content": {"type": "link", "url": "{u2}"}, "note": "a note", "archived": True, "favourited": True},
    {"createdAt": 1700000100, "title": None, "tags": [], "content": {"type": "text", "text": "only text"},
     "note": None, "archived": False, "favourited": False}]})
LINKWARDEN = json.dumps({"id": 1, "name": "me", "collections": [{"id": 3, "name": "Reading", "links": [
    {"id": 10, "name": "LW link", "url": "{u3}", "description": "a description",
     "tags": [{"id": 1, "name": "go"}], "createdAt": "2024-01-02T03:04:05.000Z"}]}]})
POCKET_HTML = """<!DOCTYPE html>
<html>
  <!--So long and thanks for all the fish-->
  <head>
    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
    <title>Pocket Export</title>
  </head>
  <body>
    <h1>Unread</h1>
    <ul>
      <li><a href="{u4}" time_added="1600000000" tags="reading,later">Pocket unread</a></li>
    </ul>
    <h1>Read Archive</h1>
    <ul>
      <li><a href="{u5}" time_added="1600000100" tags="">Pocket archived</a></li>
    </ul>
  </body>
</html>
"""


def test_wallabag_karakeep_linkwarden_and_pocket_html(leaves_bin, server, tmp_path):
    c = Client(server.base_url)
    u = [new_url() for _ in range(5)]
    files = {"wallabag.json": WALLABAG.replace("{u1}", u[0]), "karakeep.json": KARAKEEP.replace("{u2}", u[1]),
             "linkwarden.json": LINKWARDEN.replace("{u3}", u[2]),
             "pocket.html": POCKET_HTML.format(u4=u[3], u5=u[4])}
    summaries = {}
    for name, text in files.items():
        f = tmp_path / name
        f.write_text(text)
        res = run_cli(leaves_bin, ["import", str(f), "--server", server.base_url], timeout=60)
        summaries[name] = res
    assert summaries["wallabag.json"].returncode == 0, describe_cli(summaries["wallabag.json"])
    assert summaries["linkwarden.json"].returncode == 0, describe_cli(summaries["linkwarden.json"])
    assert summaries["pocket.html"].returncode == 0, describe_cli(summaries["pocket.html"])
    karakeep = summaries["karakeep.json"]
    assert karakeep.stdout.startswith("imported 1,") and "rejected 1" in karakeep.stdout, (
        "Karakeep: the link is imported, the text note without a URL rejected\n  %s" % describe_cli(karakeep))
    got = wait_until(lambda: (lambda m: m if all(x in m for x in u) else None)(by_url(c)), what="all listed")
    wb = got[u[0]]
    assert (wb["title"], wb["tags"], wb["is_archived"], wb["is_starred"]) == ("Wallabag entry", ["kafka", "streams"],
                                                                           True, False), wb
    assert wb["content"] == "<p>Hello <b>world</b></p>" and wb["language"] == "en", wb
    assert wb["created_at"].startswith("2019-03-01T09:00:00"), wb["created_at"]
    kk = got[u[1]]
    assert (kk["title"], kk["tags"], kk["is_archived"], kk["is_starred"]) == ("Karakeep one", ["rust", "db"],
                                                                           True, True), kk
    assert kk["content_text"] == "a note" and kk["created_at"].startswith("2023-11-14T22:13:20"), kk
    lw = got[u[2]]
    assert (lw["title"], lw["tags"], lw["content_text"]) == ("LW link", ["go"], "a description"), lw
    assert lw["created_at"].startswith("2024-01-02T03:04:05"), lw
    p1, p2 = got[u[3]], got[u[4]]
    assert (p1["title"], p1["tags"], p1["is_archived"]) == ("Pocket unread", ["reading", "later"], False), p1
    assert p1["created_at"].startswith("2020-09-13T12:26:40"), p1["created_at"]
    assert (p2["title"], p2["is_archived"]) == ("Pocket archived", True), p2


def test_an_export_of_a_search(leaves_bin, server, tmp_path):
    c = Client(server.base_url)
    word, tag = unique("needle"), unique("hay")
    hits = [c.post("/v1/leaves", json={"url": new_url(), "title": "a %s here" % word, "tags": [tag],
                                       "content_text": "page text %d" % i}).json()["id"] for i in range(3)]
    c.post("/v1/leaves", json={"url": new_url(), "title": "nothing to see", "tags": [tag]})
    wait_until(lambda: len(c.get("/v1/search?q=" + word).json().get("items", [])) == 3, what="indexed")
    r = export(c, "jsonl", "&q=" + word)
    got = [json.loads(l) for l in r.text.splitlines() if l.strip()]
    assert sorted(l["id"] for l in got) == sorted(hits), "the export of q=%s: expected %r, got %r" % (
        word, sorted(hits), [l["id"] for l in got])
    assert all(l["content_text"].startswith("page text") for l in got), "search exports carry whole leaves"
    assert [l["created_at"] for l in got] == sorted((l["created_at"] for l in got), reverse=True), "newest first"
    # With the search's filters, and from the command line.
    out = tmp_path / "search.csv"
    res = run_cli(leaves_bin, ["export", "--format", "csv", "--query", word, "--tag", tag, "--out", str(out),
                               "--server", server.base_url])
    assert res.returncode == 0, describe_cli(res)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted(r["id"] for r in rows) == sorted(hits), rows
    expect_error(c.get("/v1/export?q=%28unclosed"), 400, "invalid_query", "a query that does not parse")


def test_the_bookmark_file_reads_as_browsers_and_linkding_read_it(server):
    """Chromium reads a bookmark file a line at a time (a line `<DT><A ...>title</A>`,
    attribute values in double quotes, the title's &amp; &lt; &gt; &quot; &#39;
    unescaped, ADD_DATE in seconds below 2^32); linkding reads it with Python's
    HTMLParser (an <A>'s attributes and text, the text after <DD>). Neither
    runs here (linkding is not installable from the registries, Chromium
    imports only from its settings page), so each is checked by those rules."""
    import html.parser
    import re

    tag = unique("readers")
    leaves = [
        dict(url=new_url(), title=HOSTILE_TITLE, tags=[tag, "b"], content_text="line one\n\nline two & <three>"),
        dict(url=new_url(), title="two\nlines and a tab\there", tags=[tag], content_text="plain"),
        dict(url=new_url(), title="Ünïcödé — 東京 'single'", tags=[tag]),
    ]
    for body in leaves:
        expect(server.client.post("/v1/leaves", json=body), 201, "save %s" % body["url"])
    text = export(server.client, "html", "&tag=" + tag).text

    five = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}

    def unescape_five(s):
        s = re.sub("&lt;|&gt;|&quot;|&#39;", lambda m: five[m.group(0)], s)
        return s.replace("&amp;", "&")

    by_line = {}
    for line in (raw.strip(" \t\r") for raw in text.split("\n")):
        if not line.upper().startswith("<DT>"):
            continue
        line = line[4:].strip()
        assert line.startswith("<A"), "a <DT> line should hold an <A>: %r" % line
        end = line.find("</A>")
        assert end > 0, "a bookmark's <A ...>title</A> should be on one line: %r" % line
        tag_end = line.rfind(">", 0, end) + 1
        attrs = line[2:tag_end - 1]
        href = re.search(r'HREF="([^"]*)"', attrs)
        added = re.search(r'ADD_DATE="(\d+)"', attrs)
        assert href and added and 0 < int(added.group(1)) < 2 ** 32, "HREF and ADD_DATE in %r" % line
        by_line[unescape_five(href.group(1))] = unescape_five(line[tag_end:end])
    want = {l["url"]: l["title"].replace("\n", " ") for l in leaves}
    assert by_line == want, "read a line at a time, the file gives\n  %r\nexpected\n  %r" % (by_line, want)

    class Reader(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.items, self.open = [], None

        def handle_starttag(self, name, attrs):
            self.open = name
            if name == "a":
                self.items.append({"attrs": dict(attrs), "title": "", "text": ""})

        def handle_endtag(self, name):
            self.open = None

        def handle_data(self, data):
            if self.open == "a":
                self.items[-1]["title"] += data
            elif self.open == "dd":
                self.items[-1]["text"] += data

    reader = Reader()
    reader.feed(text)
    got = {i["attrs"]["href"]: (i["title"].strip(), sorted(i["attrs"]["tags"].split(",")), i["text"].strip(),
                                i["attrs"]["add_date"].isdigit()) for i in reader.items}
    want = {l["url"]: (l["title"].replace("\n", " ").strip(), sorted(l["tags"]), l.get("content_text", ""), True)
            for l in leaves}
    assert got == want, "read with HTMLParser, the file gives\n  %r\nexpected\n  %r" % (got, want)
