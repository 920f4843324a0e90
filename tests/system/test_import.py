"""`leaves import FILE --server URL`: Solr export, JSON array, JSON lines; summary and exit codes."""

import json
import pathlib
import re

import pytest

from leaves_testlib import describe_cli, free_port, md5_hex, new_url, run_cli, unique, wait_until

SAMPLE = pathlib.Path("/work/shared/data/solr-leaves-sample.json")
SUMMARY_RE = re.compile(r"^imported (\d+), unchanged (\d+), rejected (\d+)\b")
EXACT_SUMMARY_RE = re.compile(r"^imported \d+, unchanged \d+, rejected \d+$")


def summary(res):
    lines = res.stdout.splitlines()
    assert lines, "import printed nothing on stdout\n  %s" % describe_cli(res)
    m = SUMMARY_RE.match(lines[0].strip())
    assert m, "first stdout line should start 'imported N, unchanged M, rejected K'\n  %s" % describe_cli(res)
    return tuple(int(x) for x in m.groups()), lines[1:]


def run_import(leaves_bin, server, path):
    return run_cli(leaves_bin, ["import", str(path), "--server", server.base_url], timeout=60)


def get_leaf_eventually(client, leaf_id):
    def probe():
        r = client.get("/v1/leaves/" + leaf_id)
        return r.json() if r.status_code == 200 else None
    return wait_until(probe, timeout=5, what="leaf %s after import" % leaf_id)


def test_import_solr_sample_twice(leaves_bin, server):
    if not SAMPLE.exists():
        pytest.skip("sample file %s missing" % SAMPLE)
    docs = json.loads(SAMPLE.read_text())["response"]["docs"]
    res = run_import(leaves_bin, server, SAMPLE)
    assert res.returncode == 0, "first import of the sample: expected exit 0\n  %s" % describe_cli(res)
    assert summary(res)[0] == (len(docs), 0, 0), "first import: expected 'imported %d, unchanged 0, rejected 0'\n  %s" % (
        len(docs), describe_cli(res))
    c = server.client
    for d in docs:
        leaf = get_leaf_eventually(c, d["id"])
        want = {"url": d["url"], "title": d["title"], "tags": d["tags"], "slugs": d["slugs"],
                "is_archived": bool(d["is_archived"]), "is_starred": bool(d["is_starred"]),
                "user_id": d["user_id"], "http_status": str(d["http_status"]), "links": d["_links"],
                "domain_name": d["domain_name"], "reading_time": d["reading_time"]}
        diff = {k: (v, leaf.get(k)) for k, v in want.items() if leaf.get(k) != v}
        assert not diff, "imported leaf %s: field (expected, got): %s" % (d["id"], diff)
        assert leaf["created_at"].startswith(d["created_at"][:19]), (leaf["created_at"], d["created_at"])

    res = run_import(leaves_bin, server, SAMPLE)
    assert res.returncode == 0, "second import of the sample: expected exit 0\n  %s" % describe_cli(res)
    assert summary(res)[0] == (0, len(docs), 0), "second import: expected 'imported 0, unchanged %d, rejected 0'\n  %s" % (
        len(docs), describe_cli(res))


def test_import_solr_format_small(leaves_bin, server, tmp_path):
    # The sample's docs with short "all"/content, to exercise the Solr format independently of field limits.
    if not SAMPLE.exists():
        pytest.skip("sample file %s missing" % SAMPLE)
    src = json.loads(SAMPLE.read_text())
    docs = []
    for d in src["response"]["docs"]:
        d = dict(d)
        d["id"] = "small-" + d["id"] + "-" + unique()
        d["url"] = d["url"] + "?small=" + unique()
        d["all"] = [x for x in d["all"] if len(x) < 200]
        d["content"] = d["content"][:500]
        d["content_text"] = d["content_text"][:500]
        docs.append(d)
    src["response"]["docs"] = docs
    f = tmp_path / "solr-small.json"
    f.write_text(json.dumps(src))
    res = run_import(leaves_bin, server, f)
    assert res.returncode == 0 and summary(res)[0] == (2, 0, 0), (
        "Solr export (2 docs, short fields): expected exit 0 and 'imported 2, unchanged 0, rejected 0'\n  %s"
        % describe_cli(res))
    for d in docs:
        leaf = get_leaf_eventually(server.client, d["id"])
        assert leaf["url"] == d["url"] and leaf["tags"] == d["tags"] and leaf["is_archived"] is True, leaf
        assert leaf["links"] == d["_links"] and leaf["http_status"] == "200", leaf
    res = run_import(leaves_bin, server, f)
    assert res.returncode == 0 and summary(res)[0] == (0, 2, 0), (
        "second import of the same Solr export: expected 'imported 0, unchanged 2, rejected 0'\n  %s" % describe_cli(res))


def test_import_json_lines_with_a_rejected_item(leaves_bin, server, tmp_path):
    urls = [new_url(), new_url()]
    f = tmp_path / "entries.jsonl"
    lines = [json.dumps({"url": urls[0], "title": "L1", "tags": ["jl"]}),
             json.dumps({"url": "ftp://example.com/bad"}),
             json.dumps({"url": urls[1], "title": "L2"})]
    f.write_text("\n".join(lines) + "\n")
    res = run_import(leaves_bin, server, f)
    assert res.returncode == 1, "JSON lines with one bad entry: expected exit 1\n  %s" % describe_cli(res)
    (imp, unch, rej), rest = summary(res)
    assert (imp, unch, rej) == (2, 0, 1), "expected 'imported 2, unchanged 0, rejected 1'\n  %s" % describe_cli(res)
    rest = [x for x in rest if x.strip()]
    assert len(rest) == 1, "expected one line per rejected item (1)\n  %s" % describe_cli(res)
    assert "url" in rest[0], "the rejected line should give the reason (naming url): %r" % rest[0]
    for u in urls:
        get_leaf_eventually(server.client, md5_hex(u))


def test_import_json_array(leaves_bin, server, tmp_path):
    tag = unique("arr")
    entries = [{"url": new_url(), "title": "A%d" % i, "tags": [tag], "id": unique("arr-id-")} for i in range(3)]
    f = tmp_path / "entries.json"
    f.write_text(json.dumps(entries))
    res = run_import(leaves_bin, server, f)
    assert res.returncode == 0, "JSON array import: expected exit 0\n  %s" % describe_cli(res)
    assert summary(res)[0] == (3, 0, 0), "JSON array import summary\n  %s" % describe_cli(res)
    for e in entries:
        leaf = get_leaf_eventually(server.client, e["id"])
        assert leaf["title"] == e["title"] and leaf["tags"] == [tag], leaf
    res = run_import(leaves_bin, server, f)
    assert res.returncode == 0 and summary(res)[0] == (0, 3, 0), "re-import array: expected unchanged 3\n  %s" % (
        describe_cli(res))


@pytest.mark.parametrize("content", [b"this is not json {", b"\x00\x01\x02\xff"], ids=["garbage", "binary"])
def test_import_bad_file_exits_2(leaves_bin, server, tmp_path, content):
    f = tmp_path / "bad.json"
    f.write_bytes(content)
    res = run_import(leaves_bin, server, f)
    assert res.returncode == 2, "import of a bad file: expected exit 2\n  %s" % describe_cli(res)


def test_import_missing_file_exits_2(leaves_bin, server, tmp_path):
    res = run_import(leaves_bin, server, tmp_path / "does-not-exist.json")
    assert res.returncode == 2, "import of a missing file: expected exit 2\n  %s" % describe_cli(res)


def test_import_server_unreachable_exits_2(leaves_bin, tmp_path):
    f = tmp_path / "one.json"
    f.write_text(json.dumps([{"url": new_url()}]))
    res = run_cli(leaves_bin, ["import", str(f), "--server", "http://127.0.0.1:%d" % free_port()], timeout=60)
    assert res.returncode == 2, "import to an unreachable server: expected exit 2\n  %s" % describe_cli(res)


def test_import_summary_line_is_exactly_the_contract_format(leaves_bin, server, tmp_path):
    f = tmp_path / "one.json"
    f.write_text(json.dumps([{"url": new_url()}]))
    res = run_import(leaves_bin, server, f)
    first = res.stdout.splitlines()[0] if res.stdout else ""
    assert EXACT_SUMMARY_RE.match(first.strip()), (
        "summary line should be exactly 'imported N, unchanged M, rejected K', got %r\n  %s" % (first, describe_cli(res)))


def child_max_rss_kb(args):
    """Runs a command in a child of a fresh Python, returns (CompletedProcess-like dict, its max RSS in KiB)."""
    import subprocess
    import sys
    code = ("import resource, subprocess, sys, json\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "print(json.dumps({'rc': p.returncode, 'out': p.stdout, 'err': p.stderr,\n"
            "                  'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")
    p = subprocess.run([sys.executable, "-c", code] + list(args), capture_output=True, text=True, timeout=300)
    return json.loads(p.stdout)


def test_json_lines_are_streamed_with_bounded_memory(leaves_bin, server, tmp_path):
    path = tmp_path / "big.jsonl"
    tag = unique("big")
    filler = "x" * 20000
    with open(path, "w") as f:
        for i in range(2500):  # about 50 MB
            f.write(json.dumps({"url": new_url(), "title": "big %d" % i, "content_text": filler, "tags": [tag]}) + "\n")
    size_mb = path.stat().st_size / 2**20
    res = child_max_rss_kb([leaves_bin, "import", str(path), "--server", server.base_url])
    assert res["rc"] == 0, "import of %.0f MB of JSON lines failed: %s %s" % (size_mb, res["out"], res["err"][-500:])
    assert res["out"].startswith("imported 2500,"), res["out"]
    rss_mb = res["rss"] / 1024
    # What the binary holds before reading anything (its libraries), measured the same way.
    base_mb = child_max_rss_kb([leaves_bin, "--version"])["rss"] / 1024
    grew = rss_mb - base_mb
    assert grew < size_mb / 4, "import of a %.0f MB file peaked at %.0f MB RSS, %.0f MB over the binary's own %.0f MB: " \
        "it is not streamed" % (size_mb, rss_mb, grew, base_mb)


def test_an_entry_over_the_body_limit_is_rejected_alone(leaves_bin, server, tmp_path):
    path = tmp_path / "one-big.jsonl"
    urls = [new_url() for _ in range(3)]
    with open(path, "w") as f:
        f.write(json.dumps({"url": urls[0]}) + "\n")
        f.write(json.dumps({"url": urls[1], "content_text": "y" * (900 * 1024)}) + "\n")
        f.write(json.dumps({"url": urls[2]}) + "\n")
    res = run_import(leaves_bin, server, path)
    assert res.returncode == 1, "expected exit 1 (one rejected)\n  %s" % describe_cli(res)
    assert summary(res)[0] == (2, 0, 1), "expected 'imported 2, unchanged 0, rejected 1'\n  %s" % describe_cli(res)
    assert "entry 2:" in res.stdout and "more than a request may carry" in res.stdout, describe_cli(res)


def test_a_server_that_dies_mid_import_is_reported_with_what_was_accepted(leaves_bin, server_factory, tmp_path):
    import subprocess
    import threading
    import time
    srv = server_factory.make()
    path = tmp_path / "many.jsonl"
    with open(path, "w") as f:
        for i in range(40000):
            f.write(json.dumps({"url": new_url(), "title": "many %d" % i, "content_text": "z" * 500}) + "\n")
    p = subprocess.Popen([leaves_bin, "import", str(path), "--server", srv.base_url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(1.0, srv.kill)
    killer.start()
    out, err = p.communicate(timeout=120)
    killer.join()
    assert p.returncode == 2, "expected exit 2 when the server dies\n  stdout: %s\n  stderr: %s" % (out, err[-800:])
    assert "before that: imported" in err and "import the file again" in err, (
        "expected what was accepted and how to resume, got:\n" + err[-800:])
    assert re.match(r"^imported \d+, unchanged 0, rejected 0", out), out
