"""Interop with Debian's python3-cassandra (LEAVES_TEST_CASSANDRA set): rows leaves
wrote read back field for field from the reference table `leaves`, and rows the
Python driver inserts (INSERT ... JSON, as the workshop's tools do) are served by
the API at once."""

import datetime
import json
import os

import pytest

from leaves_testlib import ServerStartError, cassandra_session, expect, md5_hex, new_url, unique

CASSANDRA = os.environ.get("LEAVES_TEST_CASSANDRA")
pytestmark = pytest.mark.skipif(not CASSANDRA, reason="LEAVES_TEST_CASSANDRA not set (no node)")


def iso_ms(dt):
    return dt.replace(tzinfo=datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_rows_leaves_wrote_read_back_field_for_field(server):
    c = server.client
    url = new_url()
    body = {"url": url, "title": "Interop ünïcode", "content": "<p>hi</p>", "content_text": "hi",
            "tags": ["cassandra", "interop"], "all": ["a", "b"], "links": ["https://x.example/1"],
            "is_archived": True, "is_starred": False, "is_public": True, "user_id": 42, "user_name": "ada",
            "user_email": "ada@example.com", "mimetype": "text/html", "language": "en", "reading_time": 7,
            "preview_picture": "https://x.example/p.png", "http_status": "200", "domain_name": "x.example"}
    leaf = c.create(**body)
    ref = expect(c.get("/api/leaves/" + leaf["id"]), 200, "reference GET")  # read-your-writes: projected
    row = cassandra_session().execute("SELECT * FROM %s.leaves WHERE id = %%s" % server.keyspace, [leaf["id"]]).one()
    assert row is not None, "no row for %s in %s.leaves" % (leaf["id"], server.keyspace)
    got = row._asdict()
    assert got["id"] == md5_hex(url)
    for k in ("url", "title", "content", "content_text", "user_name", "user_email", "mimetype", "language",
              "preview_picture", "http_status", "domain_name"):
        assert got[k] == body[k], "column %s: API wrote %r, Cassandra holds %r" % (k, body[k], got[k])
    assert got["tags"] == body["tags"] and got["slugs"] == body["tags"], got
    assert got["all"] == body["all"] and got["links"] == body["links"], got
    assert got["is_archived"] == 1 and got["is_starred"] == 0 and got["is_public"] is True, got
    assert got["user_id"] == 42 and got["reading_time"] == 7, got
    assert iso_ms(got["created_at"]) == ref["created_at"], (got["created_at"], ref["created_at"])
    assert iso_ms(got["updated_at"]) == ref["updated_at"], (got["updated_at"], ref["updated_at"])
    assert set(got) == set(ref), "the reference table's columns and the reference API's fields differ: %s" % (
        sorted(set(got) ^ set(ref)))


def test_rows_the_python_driver_inserts_are_served(server):
    c = server.client
    url = new_url()
    lid = md5_hex(url)
    doc = {"id": lid, "url": url, "title": "Inserted by " + unique("py"), "tags": ["external"],
           "is_archived": 0, "is_starred": 1, "is_public": False, "user_id": 7, "user_name": "bob",
           "created_at": "2024-05-06 07:08:09.123Z", "updated_at": "2024-05-06 07:08:09.123Z",
           "reading_time": 3, "content": "external content", "domain_name": "example.org"}
    cassandra_session().execute("INSERT INTO %s.leaves JSON %%s" % server.keyspace, [json.dumps(doc)])
    ref = expect(c.get("/api/leaves/" + lid, consistent=False), 200, "reference GET of a row the driver inserted")
    assert ref["title"] == doc["title"] and ref["url"] == url and ref["tags"] == ["external"], ref
    assert ref["is_starred"] == 1 and ref["is_public"] is False and ref["user_id"] == 7, ref
    assert ref["created_at"] == "2024-05-06T07:08:09.123Z", ref
    v1 = expect(c.get("/v1/leaves/" + lid, consistent=False), 200, "v1 GET of a row the driver inserted")
    assert v1["title"] == doc["title"] and v1["content"] == "external content", v1
    # The reference list reads the table itself, as the workshop's API did:
    # the row is listed at once, in the table's token order.
    listed = [x["id"] for x in expect(c.get("/api/leaves", consistent=False), 200, "GET /api/leaves")]
    table = [r.id for r in cassandra_session().execute("SELECT id FROM %s.leaves" % server.keyspace)]
    assert lid in listed, "GET /api/leaves does not list a row the driver inserted (%d listed)" % len(listed)
    assert listed == table, "GET /api/leaves is not the table in token order:\n  listed: %s\n  table:  %s" % (
        listed[:10], table[:10])
    # The API can change it like any other leaf (its version starts from the row).
    r = c.post("/v1/leaves/%s/tags" % lid, json={"tags": ["more"]})
    expect(r, 200, "add a tag to a driver-inserted leaf")
    expect(c.get("/v1/leaves/" + lid), 200, "read-your-writes GET")  # waits until projected
    got = cassandra_session().execute("SELECT tags FROM %s.leaves WHERE id = %%s" % server.keyspace, [lid]).one()
    assert sorted(got.tags) == ["external", "more"], got


def test_lz4_compression_to_the_node(server_factory):
    srv = server_factory.make(args=["--cassandra-compression", "lz4"])
    c = srv.client
    leaf = c.create(url=new_url(), title="compressed " + "x" * 3000, tags=["lz4"])
    got = expect(c.get("/v1/leaves/" + leaf["id"]), 200, "GET through an lz4 session")
    assert got["title"] == leaf["title"], "title read back through lz4 differs"
    items = expect(c.get("/v1/leaves?tag=lz4"), 200, "tag listing through an lz4 session")["items"]
    assert leaf["id"] in [it["id"] for it in items], "the leaf is missing from its tag's listing: %r" % items
    with open(srv.stderr_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    assert "lz4 compression" in log, "the start log should say the Cassandra session compresses:\n" + log[-2000:]


def test_an_unknown_compression_stops_the_start(server_factory):
    srv = server_factory.make(args=["--cassandra-compression", "snappy"], start=False)
    with pytest.raises(ServerStartError) as e:
        srv.start(timeout=30)
    assert "unknown Cassandra compression 'snappy' (none or lz4)" in str(e.value), str(e.value)
