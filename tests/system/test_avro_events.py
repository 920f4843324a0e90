"""leaves' own events in Avro (--event-format avro, issue 14 "Avro out"): the
schema (docs/schemas/avro/leaves-event.avsc, derived from the JSON Schemas by
scripts/avro-schema) is registered in the real registry under
<topic>-value; the real Python AvroDeserializer reads every event type off
Kafka; the real registry's BACKWARD rule holds between every released version
of the schema and this one. Runs with LEAVES_TEST_REGISTRY and
LEAVES_TEST_PYENV (scripts/registry, scripts/pyenv); the consumer also needs
LEAVES_TEST_KAFKA. (ctest system_avro_events runs the whole system suite with
the events in Avro, embedded.)"""

import http.server
import json
import pathlib
import threading
import time

import pytest

from leaves_testlib import Client, expect, md5_hex, new_url, wait_until
from test_avro_ingest import ADMIN_TOKEN, KAFKA, PYENV, REGISTRY, client, needs_kafka, schema_file

pytestmark = pytest.mark.skipif(not (REGISTRY and PYENV),
                                reason="LEAVES_TEST_REGISTRY and LEAVES_TEST_PYENV not set (scripts/registry, scripts/pyenv)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
AVRO_DIR = ROOT / "docs" / "schemas" / "avro"
CURRENT = AVRO_DIR / "leaves-event.avsc"


def schema_types():
    """The event types the schema has a `data` branch for."""
    s = json.loads(CURRENT.read_text())
    [data] = [f for f in s["fields"] if f["name"] == "data"]
    return sorted(b["leaves"][len("event:"):] for b in data["type"])


def as_token(srv, token):
    c = Client(srv.base_url)
    c.session.headers["Authorization"] = "Bearer " + token
    return c


def test_every_released_event_schema_is_read_by_this_one_under_the_registrys_backward_rule(tmp_path):
    """Each released version (docs/schemas/avro/history, oldest first), then
    the current schema, registered under one subject of the real registry,
    whose default rule is BACKWARD: a change that old events could not be read
    with is refused. And the rule does refuse: a field without a default."""
    subject = "leaves-compat-%s-value" % md5_hex(new_url())[:10]
    released = sorted(AVRO_DIR.glob("history/leaves-event-v*.avsc"), key=lambda p: int(p.stem.rsplit("-v", 1)[1]))
    assert released, "no released schema under %s" % (AVRO_DIR / "history")
    ids = []
    for path in released + [CURRENT]:
        got = client(tmp_path, PYENV, "register", REGISTRY, subject, str(path))
        assert "id" in got, "the registry refused %s after %s: %r" % (path.name, [p.name for p in released], got)
        ids.append(got["id"])
    assert json.loads(released[-1].read_text()) == json.loads(CURRENT.read_text()) or len(set(ids)) >= 2, ids

    broken = json.loads(CURRENT.read_text())
    broken["fields"].append({"name": "shard", "type": "long"})  # no default: old events have none
    got = client(tmp_path, PYENV, "register", REGISTRY, subject, schema_file(tmp_path, broken))
    assert got.get("status") == 409, "an incompatible change should be refused (409), got %r" % got


def test_avro_events_are_read_back_after_a_switch_to_json(server_factory):
    """Written in Avro, the events stay readable by a server writing JSON (it
    fetches the writer schema by id from the registry): its history, its
    read models after a rebuild, and the log mixes both formats."""
    srv = server_factory.make(args=["--event-format", "avro", "--schema-registry", REGISTRY])
    c = srv.client
    made = c.create(url=new_url(), title="in avro", tags=["a"], content="<p>x</p>")
    expect(c.patch("/v1/leaves/%s" % made["id"], json={"content": None, "title": "still avro"}), 200)
    assert "events are written in Avro" in srv.stderr_tail(400), "the start says the format"
    data_dir, names = srv.data_dir, {"kafka_name": getattr(srv, "kafka_topics", {}).get("events")}
    srv.stop()

    again = server_factory.make(data_dir=data_dir, args=["--schema-registry", REGISTRY], **names)
    c = again.client
    expect(c.post("/v1/leaves/%s/tags" % made["id"], json={"tags": ["json"]}), 200)
    h = expect(c.get("/v1/leaves/%s/history" % made["id"]), 200, "history")
    assert [e["type"] for e in h["items"]] == ["leaf.created", "leaf.updated", "leaf.tags_added"], h
    changes = h["items"][1]["changes"]
    assert changes["title"] == "still avro" and "content" in changes and changes["content"] is None, changes
    got = c.get_leaf(made["id"])
    assert got["title"] == "still avro" and got["tags"] == ["a", "json"], got


def test_avro_needs_a_registry_and_says_so(server_factory):
    srv = server_factory.make(args=["--event-format", "avro"], start=False)
    with pytest.raises(AssertionError) as e:
        srv.start(timeout=10)
    assert "--event-format avro needs --schema-registry" in str(e.value) + srv.stderr_tail(400), srv.stderr_tail(400)


class Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/page":
            body = b"<html lang='en'><head><title>A page</title></head><body><p>Some text to read.</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        else:
            body = b"gone"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@needs_kafka
def test_the_python_avro_deserializer_reads_every_event_type_off_kafka(server_factory, tmp_path):
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % pages.server_address[1]
    try:
        srv = server_factory.make(
            args=["--event-format", "avro", "--schema-registry", REGISTRY, "--anonymous", "none",
                  "--enrich", "true", "--fetch-allow-private", "--enrich-host-interval-ms", "0",
                  "--webhook-allow-private"],
            env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
        admin = as_token(srv, ADMIN_TOKEN)
        # Leaves: every kind of change, a fetched page and a failed fetch.
        leaf = expect(admin.post("/v1/leaves", json={"url": new_url(), "title": "t", "tags": ["a", "b"],
                                                     "content": "<p>x</p>"}), 201)["id"]
        expect(admin.patch("/v1/leaves/" + leaf, json={"title": "u", "content": None}), 200)
        expect(admin.post("/v1/leaves/%s/tags" % leaf, json={"tags": ["c"]}), 200)
        expect(admin.delete("/v1/leaves/%s/tags" % leaf, json={"tags": ["a"]}), 200)
        expect(admin.put("/v1/leaves/%s/tags" % leaf, json={"tags": ["x"]}), 200)
        fetched = expect(admin.post("/v1/leaves", json={"url": base + "/page"}), 201)["id"]
        failed = expect(admin.post("/v1/leaves", json={"url": base + "/missing"}), 201)["id"]
        wait_until(lambda: admin.get_leaf(fetched)["title"] == "A page", timeout=20, what="the fetched page")
        expect(admin.post("/v1/leaves/%s/refetch" % fetched), 202)
        # Users, tokens, passwords, webhooks.
        expect(admin.post("/v1/users", json={"name": "ava", "role": "curator"}), 201)
        expect(admin.patch("/v1/users/ava", json={"role": "reader"}), 200)
        token = expect(admin.post("/v1/users/ava/tokens", json={"name": "t"}), 201)
        expect(admin.delete("/v1/users/ava/tokens/" + token["id"]), 200)
        expect(admin.put("/v1/users/ava/password", json={"password": "ava's long password"}), 200)
        # A reader's own star on another's public leaf.
        shown = expect(admin.post("/v1/leaves", json={"url": new_url(), "title": "p", "is_public": True}), 201)["id"]
        reader = as_token(srv, expect(admin.post("/v1/users/ava/tokens", json={"name": "m"}), 201)["token"])
        expect(reader.put("/v1/leaves/%s/marks" % shown, json={"is_starred": True}), 200)
        hook = expect(admin.post("/v1/users/admin/webhooks", json={"url": base + "/hook"}), 201)["id"]
        expect(admin.patch("/v1/users/admin/webhooks/" + hook, json={"enabled": False}), 200)
        expect(admin.delete("/v1/users/admin/webhooks/" + hook), 200)
        # Teams and collections.
        team = expect(admin.post("/v1/teams", json={"name": "T"}), 201)["id"]
        expect(admin.patch("/v1/teams/" + team, json={"name": "T2"}), 200)
        expect(admin.put("/v1/teams/%s/members/ava" % team, json={"role": "member"}), 200)
        expect(admin.delete("/v1/teams/%s/members/ava" % team), 200)
        col = expect(admin.post("/v1/collections", json={"name": "C"}), 201)["id"]
        expect(admin.patch("/v1/collections/" + col, json={"description": "d"}), 200)
        expect(admin.post("/v1/collections/%s/leaves" % col, json={"id": leaf}), 201)
        expect(admin.post("/v1/collections/%s/leaves" % col, json={"id": fetched}), 201)
        expect(admin.put("/v1/collections/%s/leaves/%s" % (col, fetched), json={"position": 0}), 200)
        expect(admin.delete("/v1/collections/%s/leaves/%s" % (col, leaf)), 200)
        expect(admin.put("/v1/collections/%s/shares/%s" % (col, team), json={"role": "viewer"}), 200)
        expect(admin.delete("/v1/collections/%s/shares/%s" % (col, team)), 200)
        expect(admin.delete("/v1/collections/" + col), 204)
        expect(admin.delete("/v1/teams/" + team), 204)
        expect(admin.delete("/v1/leaves/" + leaf), 200)

        def seen():
            got = client(tmp_path, PYENV, "consume-events", REGISTRY, KAFKA, srv.kafka_topics["events"])
            types = {r["value"]["type"] for r in got}
            return got if set(schema_types()) <= types else None
        records = wait_until(seen, timeout=90, interval=2, what="every event type on the topic")
    finally:
        pages.shutdown()

    by_type = {}
    for r in records:
        v = r["value"]
        assert r["key"] == v["aggregate_id"], r
        assert v["schema_version"] == 1 and v["event_id"] and v["actor"], v
        by_type.setdefault(v["type"], v)
    [created] = [r["value"] for r in records if r["value"]["type"] == "leaf.created" and r["key"] == leaf]
    assert created["data"]["leaf"]["title"] == "t" and created["context"]["tags"] == ["a", "b"], created
    updated = [r["value"] for r in records if r["value"]["type"] == "leaf.updated" and r["key"] == leaf][0]
    changes = updated["data"]["changes"]
    assert {"content", "title"} <= set(changes["present_fields"]) and changes["title"] == "u", changes
    assert changes["content"] is None and changes["tags"] is None and "tags" not in changes["present_fields"], changes
    [gone] = [r["value"] for r in records if r["value"]["type"] == "leaf.enrich_failed" and r["key"] == failed]
    assert json.loads(gone["data"]["page"])["http_status"] == 404, gone
    [ava] = [r["value"] for r in records if r["value"]["type"] == "user.created" and r["key"] == "user:ava"]
    assert ava["data"]["name"] == "ava" and ava["data"]["role"] == "curator" and ava["context"] is None, ava
    assert by_type["collection.leaf_moved"]["data"]["position"] == 0, by_type["collection.leaf_moved"]
    marked = by_type["user.leaf_marked"]
    assert marked["aggregate_id"] == "user:ava", marked
    assert marked["data"] == {"leaf": shown, "starred": True, "archived": False}, marked
