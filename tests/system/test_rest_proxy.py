"""Kafka REST Proxy-compatible produce (docs/rest-proxy.md): v2 `POST
/topics/{topic}` (json and binary embedded formats) and v3 `POST
/v3/clusters/leaves/topics/{topic}/records` write leaf records to the ingest
topic, which the ingester saves or dead-letters. Embedded, an embedded log
plays the topic; with LEAVES_TEST_KAFKA the records go to the real broker's
topic, where a plain Kafka consumer reads them too."""

import base64
import json
import os

import requests

from leaves_testlib import Client, expect, expect_error, md5_hex, new_url, wait_until

ADMIN_TOKEN = "test-admin-token-" + "fedcba9876543210" * 2
V2_JSON = "application/vnd.kafka.json.v2+json"
V2_BINARY = "application/vnd.kafka.binary.v2+json"


def ingest_topic(srv):
    topics = getattr(srv, "kafka_topics", None)
    return topics["ingest"] if topics else "leaves-ingest"


def admin_of(srv):
    c = Client(srv.base_url)
    c.session.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
    return c


def produce(client, path, ctype, body):
    return client.session.post(client.url(path), data=json.dumps(body), headers={"Content-Type": ctype}, timeout=30)


def proxy_error(resp, status, code, what):
    assert resp.status_code == status, "%s: expected %d, got %d %s" % (what, status, resp.status_code, resp.text[:300])
    body = resp.json()
    assert body.get("error_code") == code, "%s: expected error_code %d, got %r" % (what, code, body)
    assert body.get("message"), "%s: a message says why: %r" % (what, body)
    return body


def wait_leaf(client, url, what):
    lid = md5_hex(url)
    return wait_until(lambda: client.get("/v1/leaves/" + lid, consistent=False).status_code == 200 and lid,
                      timeout=30, what=what)


def test_v2_json_and_binary_records_become_leaves_and_bad_ones_dead_letters(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv)
    u1, u2, u3 = new_url(), new_url(), new_url()
    resp = produce(admin, "/topics/" + topic, V2_JSON, {"records": [
        {"value": {"url": u1, "title": "Through REST Proxy", "tags": ["proxy"]}},
        {"key": u2, "value": {"url": u2, "title": "Keyed"}, "partition": 1},
        {"value": {"title": "no url"}},
    ]})
    body = expect(resp, 200, "a v2 json produce")
    assert resp.headers["Content-Type"].startswith("application/vnd.kafka.v2+json"), resp.headers
    offsets = body["offsets"]
    assert len(offsets) == 3 and all(o["error_code"] is None and o["offset"] >= 0 for o in offsets), body
    assert offsets[1]["partition"] == 1, "an explicit partition is kept: %r" % offsets
    assert body["key_schema_id"] is None and body["value_schema_id"] is None, body

    record = json.dumps({"url": u3, "title": "Binary", "tags": ["bin"]}).encode()
    resp = produce(admin, "/topics/" + topic, V2_BINARY, {"records": [
        {"key": base64.b64encode(b"k3").decode(), "value": base64.b64encode(record).decode()},
        {"value": base64.b64encode(b"\xff\xfe not json").decode()},
    ]})
    expect(resp, 200, "a v2 binary produce")

    for u in (u1, u2, u3):
        wait_leaf(admin, u, "the produced leaf %s" % u)
    leaf = expect(admin.get("/v1/leaves/" + md5_hex(u1)), 200, "the first leaf")
    assert leaf["title"] == "Through REST Proxy" and leaf["tags"] == ["proxy"], leaf
    assert expect(admin.get("/v1/leaves/" + md5_hex(u3)), 200, "the binary leaf")["tags"] == ["bin"]

    def dead():
        view = expect(admin.get("/v1/ops/ingest"), 200, "the ingest view")["ingest"]
        return view if view["dead_lettered"] >= 2 else None
    view = wait_until(dead, timeout=30, what="two dead letters")
    reasons = " | ".join(d["code"] + ": " + d["reason"] for d in view["dead_letters"])
    assert "url" in reasons and "JSON" in reasons, "the dead letters say why (no url; not JSON): %s" % reasons
    assert view["topic"] == topic, view


def test_v2_refuses_what_rest_proxy_refuses(server_factory):
    # A body may be larger than a record (--max-body-bytes), so the record limit shows.
    # No registry (also when the suite runs with its events in Avro): the avro format is refused.
    srv = server_factory.make(args=["--max-body-bytes", str(4 << 20), "--event-format", "json"],
                              env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv)
    good = {"records": [{"value": {"url": new_url()}}]}
    proxy_error(produce(admin, "/topics/not-the-ingest-topic", V2_JSON, good), 404, 40401, "another topic")
    proxy_error(produce(admin, "/topics/" + topic, V2_JSON, {"records": [{"value": {}, "partition": 999}]}), 404,
                40402, "a partition the topic lacks")
    proxy_error(produce(admin, "/topics/" + topic, "application/vnd.kafka.avro.v2+json",
                        dict(good, value_schema='{"type": "string"}')), 422, 42205, "avro without --schema-registry")
    proxy_error(produce(admin, "/topics/" + topic, "application/vnd.kafka.jsonschema.v2+json", good), 415, 415,
                "jsonschema (not supported)")
    proxy_error(produce(admin, "/topics/" + topic, "text/plain", good), 415, 415, "a text body")
    proxy_error(produce(admin, "/topics/" + topic, V2_JSON, {"records": []}), 422, 422, "no records")
    proxy_error(produce(admin, "/topics/" + topic, V2_JSON, {"records": [{"value": 1}] * 1001}), 422, 422,
                "1,001 records")
    proxy_error(produce(admin, "/topics/" + topic, V2_BINARY, {"records": [{"value": "not base64!"}]}), 422, 422,
                "bad base64")
    proxy_error(produce(admin, "/topics/" + topic, V2_JSON, {"records": [{"value": "x" * (1 << 20)}]}), 422, 42201,
                "a record over 1 MiB")
    bad = admin.session.post(admin.url("/topics/" + topic), data="{not json", headers={"Content-Type": V2_JSON})
    proxy_error(bad, 400, 400, "a body that is not JSON")

    # Records are saved as the actor "ingest", not as the caller: only admins produce.
    expect(admin.post("/v1/users", json={"name": "cara", "role": "curator"}), 201, "a curator")
    token = expect(admin.post("/v1/users/cara/tokens", json={"name": "t"}), 201, "cara's token")["token"]
    cara = Client(srv.base_url)
    cara.session.headers["Authorization"] = "Bearer " + token
    expect_error(produce(cara, "/topics/" + topic, V2_JSON, good), 403, "permission_denied", "a curator produces")
    anon = requests.post(srv.base_url + "/topics/" + topic, data=json.dumps(good), headers={"Content-Type": V2_JSON})
    assert anon.status_code == 401, "an anonymous produce: expected 401, got %d %s" % (anon.status_code, anon.text)


def test_v3_one_record_a_request(server_factory):
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv)
    path = "/v3/clusters/leaves/topics/%s/records" % topic
    u1, u2 = new_url(), new_url()
    r = expect(produce(admin, path, "application/json", {"value": {"type": "JSON", "data": {"url": u1, "title": "v3"}}}),
               200, "a v3 JSON record")
    assert r["error_code"] == 200 and r["topic_name"] == topic and r["cluster_id"] == "leaves", r
    assert r["offset"] >= 0 and r["value"]["type"] == "JSON" and r["value"]["size"] > 0, r
    raw = json.dumps({"url": u2, "title": "v3 binary"}).encode()
    r = expect(produce(admin, path, "application/json", {"partition_id": 2, "key": {"type": "STRING", "data": "k"},
                                                         "value": {"type": "BINARY",
                                                                   "data": base64.b64encode(raw).decode()}}),
               200, "a v3 BINARY record")
    assert r["partition_id"] == 2 and r["key"] == {"type": "STRING", "size": 1}, r
    wait_leaf(admin, u1, "the v3 JSON leaf")
    wait_leaf(admin, u2, "the v3 binary leaf")
    proxy_error(produce(admin, "/v3/clusters/other/topics/%s/records" % topic, "application/json", {}), 404, 404,
                "another cluster")
    proxy_error(produce(admin, path, "application/json", {"value": {"type": "PROTOBUF", "data": {}}}), 400, 400,
                "a schema-registry type other than AVRO")
    proxy_error(produce(admin, path, "application/json", {"value": {"type": "STRING", "data": 7}}), 400, 400,
                "STRING data that is no string")


def test_records_reach_the_real_topic(server_factory):
    """With Kafka, the proxy's records are on the broker's ingest topic, where any consumer reads them."""
    if not os.environ.get("LEAVES_TEST_KAFKA"):
        import pytest
        pytest.skip("LEAVES_TEST_KAFKA not set (no broker)")
    from confluent_kafka import Consumer, TopicPartition
    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = admin_of(srv)
    topic = ingest_topic(srv)
    url = new_url()
    body = expect(produce(admin, "/topics/" + topic, V2_JSON, {"records": [{"value": {"url": url}, "partition": 3}]}),
                  200, "a produce")
    off = body["offsets"][0]
    c = Consumer({"bootstrap.servers": os.environ["LEAVES_TEST_KAFKA"], "group.id": "rest-proxy-test",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, off["partition"], off["offset"])])
        msg = None
        for _ in range(50):
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                break
        assert msg is not None and not msg.error(), "the record at %r should be on the broker's topic" % off
        assert json.loads(msg.value()) == {"url": url}, msg.value()
    finally:
        c.close()
    wait_leaf(admin, url, "the leaf from the broker's topic")
