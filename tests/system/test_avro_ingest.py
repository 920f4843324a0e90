"""Avro leaf records through a real Schema Registry (issue 14): the real
Confluent clients (2.x AvroSerializer from PyPI, the legacy 1.7 AvroProducer
the workshop's importer calls) write the reference schema's records; leaves
decodes them with the writer schema it asks the registry for, resolved against
its reader schema. Runs when LEAVES_TEST_REGISTRY names the registry's
Confluent-compatible URL (scripts/registry) and LEAVES_TEST_PYENV the python of
scripts/pyenv; the Kafka flows also need LEAVES_TEST_KAFKA."""

import base64
import http.server
import json
import os
import pathlib
import subprocess
import threading
import time
import urllib.request

import pytest

from leaves_testlib import Client, SSEClient, expect, free_port, md5_hex, new_url, wait_until
from leaves_testlib import reference_record as base_reference_record

REGISTRY = os.environ.get("LEAVES_TEST_REGISTRY")
PYENV = os.environ.get("LEAVES_TEST_PYENV")
KAFKA = os.environ.get("LEAVES_TEST_KAFKA")
pytestmark = pytest.mark.skipif(not (REGISTRY and PYENV),
                                reason="LEAVES_TEST_REGISTRY and LEAVES_TEST_PYENV not set (scripts/registry, scripts/pyenv)")
needs_kafka = pytest.mark.skipif(not KAFKA, reason="LEAVES_TEST_KAFKA not set (no broker)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIENT = str(pathlib.Path(__file__).with_name("avro_client.py"))
REFERENCE_SCHEMA = str(ROOT / "data" / "leaves-record-schema.avsc")
ADMIN_TOKEN = "test-admin-token-" + "a0b1c2d3e4f5a6b7" * 2


def reference_record(url, **over):
    """The reference record (leaves_testlib), public, tagged avro, with a searchable text."""
    fields = dict(tags=["avro"], slugs=["avro"], is_public=True, title="From Avro", content_text="searchable avrotext")
    fields.update(over)
    return base_reference_record(url, **fields)


def client(tmp_path, python, *args, records=None):
    argv = [python, CLIENT, *args]
    if records is not None:
        f = tmp_path / ("records-%d.json" % time.monotonic_ns())
        f.write_text(json.dumps(records))
        argv.append(str(f))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "%s failed (%d):\n%s" % (" ".join(args[:1]), r.returncode, r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def schema_file(tmp_path, schema):
    f = tmp_path / ("schema-%d.avsc" % time.monotonic_ns())
    f.write_text(json.dumps(schema))
    return str(f)


def evolved_schema(**extra_field):
    """The reference schema with content_text removed and a field added (with a default)."""
    s = json.loads(pathlib.Path(REFERENCE_SCHEMA).read_text())
    s["fields"] = [f for f in s["fields"] if f["name"] != "content_text"]
    s["fields"].append(extra_field or {"name": "source_system", "type": "string", "default": "crm"})
    return s


def avro_json(rec):
    """A reference record in Avro's JSON encoding (REST Proxy's avro format): a
    non-null union value is {"<type>": value}."""
    out = dict(rec)
    for k in ("tags", "slugs"):
        out[k] = None if rec[k] is None else {"array": rec[k]}
    for k in ("content_text", "mimetype", "language", "preview_picture", "content"):
        out[k] = None if rec[k] is None else {"string": rec[k]}
    out["http_status"] = None if rec["http_status"] is None else {"int": rec["http_status"]}
    return out


def admin_of(srv):
    c = Client(srv.base_url)
    c.session.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
    return c


def ingest_topic(srv):
    topics = getattr(srv, "kafka_topics", None)
    return topics["ingest"] if topics else "leaves-ingest"


def post_binary(admin, topic, values):
    body = {"records": [{"value": base64.b64encode(v).decode() if isinstance(v, bytes) else v} for v in values]}
    r = admin.session.post(admin.url("/topics/" + topic), data=json.dumps(body),
                           headers={"Content-Type": "application/vnd.kafka.binary.v2+json"}, timeout=30)
    return expect(r, 200, "a binary produce")


def wait_leaf(admin, url, what, timeout=30):
    lid = md5_hex(url)

    def found():
        r = admin.get("/v1/leaves/" + lid, consistent=False)
        return r.json() if r.status_code == 200 else None
    return wait_until(found, timeout=timeout, what=what)


def dead_letters(admin, n, timeout=30):
    def enough():
        v = expect(admin.get("/v1/ops/ingest"), 200, "the ingest view")["ingest"]
        return v if v["dead_lettered"] >= n else None
    return wait_until(enough, timeout=timeout, what="%d dead letters" % n)


def test_avro_records_through_the_rest_proxy_with_schema_evolution(server_factory, tmp_path):
    """Embedded: AvroSerializer's wire bytes through the REST-Proxy route; the
    reference schema, an evolved one (a field added with a default, one
    removed), and records that must be dead-lettered with their reason."""
    srv = server_factory.make(args=["--schema-registry", REGISTRY], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv) + "-" + new_url("")[-8:]  # a subject of this test's own in the shared registry
    u1, u2 = new_url(), new_url()
    [b1] = client(tmp_path, PYENV, "serialize", REGISTRY, topic, REFERENCE_SCHEMA, records=[reference_record(u1)])
    evolved = evolved_schema()
    rec2 = reference_record(u2, title="Evolved", source_system="crm")
    del rec2["content_text"]
    [b2] = client(tmp_path, PYENV, "serialize", REGISTRY, topic, schema_file(tmp_path, evolved), records=[rec2])
    raw1, raw2 = base64.b64decode(b1), base64.b64decode(b2)
    assert raw1[0] == 0 and raw2[0] == 0 and raw1[1:5] != raw2[1:5], "two schema ids in the Confluent frame"

    unknown = b"\x00" + (2 ** 31 - 7).to_bytes(4, "big") + raw1[5:]
    corrupt = raw1[:5] + b"\xff\xff\xff\xff\xff\xff"
    repr_record = repr(reference_record(new_url())).encode()
    sse = SSEClient("127.0.0.1", srv.port, "/v1/stream?tag=avro&from=now",
                    headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert sse.status == 200, sse.status
    post_binary(admin, ingest_topic(srv), [raw1, raw2, unknown, corrupt, repr_record])
    streamed, deadline = set(), time.monotonic() + 20
    while len(streamed) < 2 and time.monotonic() < deadline:
        ev = sse.next_event(1.0)
        if ev and ev["json"]:
            streamed.add(ev["json"].get("leaf_id"))
    sse.close()
    assert {md5_hex(u1), md5_hex(u2)} <= streamed, "the stream should carry both Avro leaves, got %r" % streamed

    leaf = wait_leaf(admin, u1, "the reference-schema leaf")
    assert leaf["title"] == "From Avro" and leaf["tags"] == ["avro"] and leaf["is_public"] is True, leaf
    assert leaf["content_text"] == "searchable avrotext", leaf
    leaf2 = wait_leaf(admin, u2, "the evolved-schema leaf")
    assert leaf2["title"] == "Evolved" and leaf2["content_text"] is None, leaf2

    view = dead_letters(admin, 3)
    codes = sorted(d["code"] for d in view["dead_letters"])
    assert codes == ["avro_corrupt", "avro_unknown_schema", "python_repr"], "dead letters: %r" % view["dead_letters"]
    assert view["avro"] >= 4, "four records in the wire format: %r" % view

    hits = wait_until(lambda: expect(admin.get("/v1/search?q=avrotext"), 200, "search")["items"] or None,
                      timeout=30, what="the Avro leaf in the search")
    assert [h["id"] for h in hits] == [md5_hex(u1)], hits


def test_an_incompatible_schema_is_refused_by_the_registry_and_dead_lettered_if_forced(server_factory, tmp_path):
    srv = server_factory.make(args=["--schema-registry", REGISTRY], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    subject = "leaves-compat-" + new_url("")[-8:] + "-value"
    ok = client(tmp_path, PYENV, "register", REGISTRY, subject, REFERENCE_SCHEMA)
    assert "id" in ok, ok
    # url as a long: not BACKWARD compatible (a new reader cannot read old records).
    bad = json.loads(pathlib.Path(REFERENCE_SCHEMA).read_text())
    bad["fields"] = [dict(f, type="long") if f["name"] == "url" else f for f in bad["fields"]]
    refused = client(tmp_path, PYENV, "register", REGISTRY, subject, schema_file(tmp_path, bad))
    assert refused.get("status") == 409, "the registry should refuse an incompatible version: %r" % refused
    # Forced onto the topic under another subject, leaves cannot read it as a leaf.
    forced_topic = "leaves-forced-" + new_url("")[-8:]
    rec = reference_record(new_url())
    rec["url"] = 12345
    [b] = client(tmp_path, PYENV, "serialize", REGISTRY, forced_topic, schema_file(tmp_path, bad), records=[rec])
    post_binary(admin, ingest_topic(srv), [base64.b64decode(b)])
    view = dead_letters(admin, 1)
    d = view["dead_letters"][0]
    assert d["code"] == "avro_schema_unresolvable" and "url" in d["reason"], d


class RegistryProxy:
    """A loopback HTTP proxy to the real registry that refuses connections
    until open() (its port is closed), to show ingest waiting for the
    registry and going on when it answers."""

    def __init__(self):
        self.port = free_port()
        self.server = None

    def open(self):
        target = REGISTRY.split("/apis/")[0]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with urllib.request.urlopen(target + self.path, timeout=10) as r:
                    body = r.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def test_ingest_waits_for_an_unreachable_registry_and_loses_nothing(server_factory, tmp_path):
    proxy = RegistryProxy()
    path = "/apis/" + REGISTRY.split("/apis/")[1]
    srv = server_factory.make(args=["--schema-registry", "http://127.0.0.1:%d%s" % (proxy.port, path)],
                              env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    try:
        topic = "leaves-wait-" + new_url("")[-8:]
        urls = [new_url() for _ in range(3)]
        blobs = client(tmp_path, PYENV, "serialize", REGISTRY, topic, REFERENCE_SCHEMA,
                       records=[reference_record(u) for u in urls])
        post_binary(admin, ingest_topic(srv), [base64.b64decode(b) for b in blobs])
        wait_until(lambda: expect(admin.get("/v1/ops/ingest"), 200, "ingest")["ingest"]["registry_waits"] >= 2,
                   timeout=30, what="the ingester waiting for the registry")
        view = expect(admin.get("/v1/ops/ingest"), 200, "ingest")["ingest"]
        assert view["dead_lettered"] == 0 and view["saved"] == 0, "nothing saved or dropped while waiting: %r" % view
        proxy.open()
        for u in urls:
            wait_leaf(admin, u, "a record held while the registry was away", timeout=40)
        assert expect(admin.get("/v1/ops/ingest"), 200, "ingest")["ingest"]["dead_lettered"] == 0
    finally:
        proxy.close()


@needs_kafka
def test_the_workshops_producers_write_to_kafka(server_factory, tmp_path):
    """SerializingProducer + AvroSerializer (2.x) and the legacy AvroProducer
    (Debian's 1.7, what the workshop's importer calls) to the broker's ingest
    topic; JSON records keep working on the same topic."""
    srv = server_factory.make(args=["--schema-registry", REGISTRY], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv)
    modern = [new_url() for _ in range(3)]
    old = [new_url() for _ in range(3)]
    client(tmp_path, PYENV, "produce", REGISTRY, KAFKA, topic, REFERENCE_SCHEMA,
           records=[reference_record(u, title="modern") for u in modern])
    client(tmp_path, "/usr/bin/python3", "legacy", REGISTRY, KAFKA, topic, REFERENCE_SCHEMA,
           records=[reference_record(u, title="legacy") for u in old])
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": KAFKA})
    plain = new_url()
    p.produce(topic, json.dumps({"url": plain, "title": "plain JSON"}).encode())
    p.flush(10)
    for u in modern:
        assert wait_leaf(admin, u, "a 2.x client's record")["title"] == "modern"
    for u in old:
        assert wait_leaf(admin, u, "the legacy AvroProducer's record")["title"] == "legacy"
    assert wait_leaf(admin, plain, "a JSON record beside them")["title"] == "plain JSON"


def test_the_rest_proxy_avro_format_as_the_workshops_importer_sends_it(server_factory, tmp_path):
    """POST /topics/{topic} with application/vnd.kafka.avro.v2+json, a
    value_schema string (the reference schema) and records in Avro's JSON
    encoding: leaves registers the schema under <topic>-value in the real
    registry, encodes each record in the wire format, and the ingester reads
    it back through the registry. Then value_schema_id, and the refusals."""
    srv = server_factory.make(args=["--schema-registry", REGISTRY], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv)
    schema = pathlib.Path(REFERENCE_SCHEMA).read_text()

    def post(body):
        return admin.session.post(admin.url("/topics/" + topic), data=json.dumps(body),
                                  headers={"Content-Type": "application/vnd.kafka.avro.v2+json"}, timeout=30)

    u1, u2 = new_url(), new_url()
    r = expect(post({"value_schema": schema, "records": [{"value": avro_json(reference_record(u1, title="Via proxy"))}]}),
               200, "an avro produce with value_schema")
    sid = r["value_schema_id"]
    assert isinstance(sid, int) and r["offsets"][0]["error_code"] is None, r
    with urllib.request.urlopen("%s/subjects/%s-value/versions/latest" % (REGISTRY, topic), timeout=10) as resp:
        latest = json.loads(resp.read())
    assert latest["id"] == sid, "the schema is registered under %s-value: %r" % (topic, latest)
    r2 = expect(post({"value_schema_id": sid, "records": [{"value": avro_json(reference_record(u2))}]}), 200,
                "an avro produce with value_schema_id")
    assert r2["value_schema_id"] == sid, r2
    assert wait_leaf(admin, u1, "the avro leaf from the proxy")["title"] == "Via proxy"
    wait_leaf(admin, u2, "the avro leaf from value_schema_id")

    u3 = new_url()
    r3 = expect(post({"key_schema": '"string"', "value_schema_id": sid,
                      "records": [{"key": "k-" + u3, "value": avro_json(reference_record(u3, title="Keyed"))}]}),
                200, "an avro produce with a key schema")
    assert isinstance(r3["key_schema_id"], int) and r3["value_schema_id"] == sid, r3
    assert wait_leaf(admin, u3, "the keyed avro leaf")["title"] == "Keyed"
    keyless = post({"value_schema_id": sid, "records": [{"key": "k", "value": avro_json(reference_record(new_url()))}]})
    assert keyless.status_code == 422 and keyless.json()["error_code"] == 42201, keyless.text

    no_schema = post({"records": [{"value": {}}]})
    assert no_schema.status_code == 422 and no_schema.json()["error_code"] == 42202, no_schema.text
    bad_value = post({"value_schema_id": sid, "records": [{"value": dict(avro_json(reference_record(new_url())), url=5)}]})
    assert bad_value.status_code == 422 and bad_value.json()["error_code"] == 42203, bad_value.text
    assert "url" in bad_value.json()["message"], bad_value.text
    incompatible = json.loads(schema)
    incompatible["fields"] = [dict(f, type="long") if f["name"] == "url" else f for f in incompatible["fields"]]
    refused = post({"value_schema": json.dumps(incompatible), "records": [{"value": {}}]})
    assert refused.status_code == 422 and refused.json()["error_code"] == 42205, refused.text
    unknown = post({"value_schema_id": 2 ** 31 - 9, "records": [{"value": {}}]})
    assert unknown.status_code == 422 and unknown.json()["error_code"] == 42205, unknown.text


def test_v3_records_with_avro_schemas_of_the_registry(server_factory, tmp_path):
    """v3 `POST /v3/clusters/leaves/topics/{topic}/records` with the
    schema-registry data type AVRO: the schema as its text (registered under
    <topic>-value), by id, by a version of the subject, or the subject's
    latest; the data in Avro's JSON encoding. And the refusals."""
    srv = server_factory.make(args=["--schema-registry", REGISTRY], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv)
    path = "/v3/clusters/leaves/topics/%s/records" % topic
    schema = pathlib.Path(REFERENCE_SCHEMA).read_text()

    def data(url, title):
        return avro_json(reference_record(url, title=title))

    def post(value, key=None):
        body = {"value": value}
        if key is not None:
            body["key"] = key
        return admin.session.post(admin.url(path), data=json.dumps(body), headers={"Content-Type": "application/json"},
                                  timeout=30)

    urls = [new_url() for _ in range(4)]
    r = expect(post({"type": "AVRO", "schema": schema, "data": data(urls[0], "v3 schema")}), 200, "AVRO with its schema")
    sid = r["value"]["schema_id"]
    assert r["value"]["type"] == "AVRO" and r["value"]["subject"] == topic + "-value" and r["value"]["size"] > 5, r
    with urllib.request.urlopen("%s/subjects/%s-value/versions/latest" % (REGISTRY, topic), timeout=10) as resp:
        latest = json.loads(resp.read())
    assert latest["id"] == sid, "registered under %s-value: %r" % (topic, latest)
    r = expect(post({"schema_id": sid, "data": data(urls[1], "v3 id")}, key={"type": "AVRO", "schema": '"string"',
                                                                               "data": "k1"}),
               200, "AVRO by id (the type implied), with an AVRO key")
    assert r["value"]["schema_id"] == sid and r["key"]["type"] == "AVRO" and r["key"]["subject"] == topic + "-key", r
    expect(post({"type": "AVRO", "schema_version": latest["version"], "data": data(urls[2], "v3 version")}), 200,
           "AVRO by a version of the subject")
    expect(post({"type": "AVRO", "data": data(urls[3], "v3 latest")}), 200, "AVRO with the subject's latest schema")
    for u, title in zip(urls, ("v3 schema", "v3 id", "v3 version", "v3 latest")):
        assert wait_leaf(admin, u, "the v3 %s leaf" % title)["title"] == title

    def refused(resp, status, what):
        assert resp.status_code == status, "%s: expected %d, got %d %s" % (what, status, resp.status_code, resp.text[:300])
        assert resp.json().get("error_code") == status and resp.json().get("message"), resp.text
    refused(post({"type": "AVRO", "schema_id": 2 ** 31 - 9, "data": {}}), 404, "an unknown schema id")
    refused(post({"type": "AVRO", "subject": "no-such-subject-" + md5_hex(new_url())[:8], "data": {}}), 404,
            "a subject the registry does not have")
    refused(post({"type": "AVRO", "schema_id": sid, "data": {"url": 7}}), 400, "data that does not fit the schema")
    refused(post({"type": "AVRO", "schema_id": sid, "schema_version": 1, "data": {}}), 400, "two ways to a schema")
    refused(post({"type": "AVRO", "subject_name_strategy": "RECORD_NAME", "data": {}}), 400, "another strategy")
    incompatible = json.dumps({"type": "record", "name": "Leaves", "namespace": "org.anant.demo.leaves",
                               "fields": [{"name": "url", "type": "long"}]})
    refused(post({"type": "AVRO", "schema": incompatible, "data": {"url": 1}}), 409, "an incompatible schema")
