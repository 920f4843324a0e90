"""Input at the edge (the reliability issue's list): URLs with fragments and
bad ports, bulk ids, "tags": null, impossible dates, C1 control characters,
and configuration errors that must stop the start."""

import os

import pytest

from leaves_testlib import describe_cli, expect, expect_error, md5_hex, new_url, run_cli, unique


def test_url_with_a_fragment_is_saved_with_it(client):
    url = new_url() + "#section-2"
    leaf = client.create(url=url)
    assert leaf["url"] == url and leaf["id"] == md5_hex(url), "expected the fragment kept, got %s" % leaf
    got = client.get_leaf(leaf["id"])
    assert got["url"] == url, got


@pytest.mark.parametrize("port", ["0", "-1", "99999", "65536", "", "8o"])
def test_url_with_a_bad_port_is_refused(client, port):
    r = client.post("/v1/leaves", json={"url": "https://e.org:%s/p" % port})
    assert r.status_code == 422, "port %r: expected 422, got %d %s" % (port, r.status_code, r.text[:200])
    assert r.json()["error"]["code"] == "invalid_field", r.text


def test_url_with_a_good_port(client):
    leaf = client.create(url="https://e.org:8443/" + unique("p"))
    assert leaf["domain_name"] == "https://e.org:8443", leaf


@pytest.mark.parametrize("bad_id", [".", ".."])
def test_bulk_ids_that_are_path_segments_are_refused(client, bad_id):
    r = client.post("/v1/bulk/leaves", json={"items": [{"id": bad_id, "url": new_url()}]})
    body = expect(r, 200, "bulk with id %r" % bad_id)
    item = body["results"][0]
    assert item["status"] == "rejected" and item["error"]["code"] == "invalid_field", (
        "expected id %r rejected, got %s" % (bad_id, item))


def test_tags_null_is_no_tags(client):
    leaf = client.create(tags=None)
    assert leaf["tags"] == [], "expected \"tags\": null stored as [], got %r" % leaf["tags"]
    r = client.patch("/v1/leaves/" + leaf["id"], json={"tags": None})
    assert expect(r, 200)["tags"] == [], r.text


@pytest.mark.parametrize("date", ["2026-02-30", "2026-04-31", "2025-02-29", "2026-13-01"])
def test_impossible_dates_are_refused(client, date):
    r = client.get("/v1/leaves?since=" + date, consistent=False)
    expect_error(r, 400, "invalid_query", "since=%s" % date)


def test_leap_day_is_a_date(client):
    expect(client.get("/v1/leaves?since=2024-02-29", consistent=False), 200, "since=2024-02-29")


@pytest.mark.parametrize("ch", ["\u0085", "\u009f", "\u0080"])
def test_c1_control_characters_in_tags_are_refused(client, ch):
    r = client.post("/v1/leaves", json={"url": new_url(), "tags": ["a" + ch + "b"]})
    expect_error(r, 422, "invalid_field", "tag with U+%04X" % ord(ch), message_contains="control")


def test_non_control_characters_above_u0080_are_fine(client):
    leaf = client.create(tags=["caf\u00e9", "\u00a0nbsp".strip(), "\u4e2d\u6587"])
    assert "caf\u00e9" in leaf["tags"], leaf


def start_fails_with_2(binary, args, env=None, what=""):
    res = run_cli(binary, ["serve"] + args, timeout=20, env=env)
    assert res.returncode == 2, "%s: expected exit 2\n%s" % (what, describe_cli(res))
    return res.stderr


def test_config_errors_stop_the_start(leaves_bin, tmp_path):
    data = str(tmp_path / "d")
    listen = ["--listen", "127.0.0.1:1"]  # never reached: every case stops before listening
    inner = tmp_path / "inner.conf"
    inner.write_text("read-wait-ms = 10\n")
    outer = tmp_path / "outer.conf"
    outer.write_text("config = %s\n" % inner)
    err = start_fails_with_2(leaves_bin, listen + ["--data-dir", data, "--config", str(outer)], what="nested config")
    assert "cannot name another" in err, err
    err = start_fails_with_2(leaves_bin, listen + ["--data-dir", data, "--config", str(tmp_path)],
                             what="--config DIR")
    assert "is a directory" in err, err
    err = start_fails_with_2(leaves_bin, listen + ["--data-dir", data], env={"LEAVES_LOG_LEVEL": "verbose"},
                             what="LEAVES_LOG_LEVEL=verbose")
    assert "--log-level" in err and "verbose" in err, err
    err = start_fails_with_2(leaves_bin, listen + ["--data-dir", ""], what="--data-dir ''")
    assert "--data-dir" in err, err
    assert not os.path.exists(data), "a failed start created the data dir"
