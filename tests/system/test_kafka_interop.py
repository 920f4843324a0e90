"""Kafka interop (runs when LEAVES_TEST_KAFKA names the broker scripts/kafka started):
external producers write to the ingest topic with Debian's confluent-kafka, bad
records land in the dead-letter topic with their reasons, and events keyed by
leaf id sit in Kafka's murmur2(key) % partitions, as kcat shows."""

import json
import os
import shutil
import subprocess
import time

import pytest

from leaves_testlib import SSEClient, expect, md5_hex, reference_record, unique, wait_until

KAFKA = os.environ.get("LEAVES_TEST_KAFKA")
pytestmark = pytest.mark.skipif(not KAFKA, reason="LEAVES_TEST_KAFKA not set (no broker)")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest = length % 4
    base = length - rest
    if rest == 3:
        h ^= data[base + 2] << 16
    if rest >= 2:
        h ^= data[base + 1] << 8
    if rest >= 1:
        h ^= data[base]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def test_murmur2_port_matches_kafka_vectors():
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-longer-string") == -1486304829


def test_external_producer_records_reach_api_stream_and_dlq(server):
    from confluent_kafka import Consumer, Producer

    topics = server.kafka_topics
    sse = SSEClient("127.0.0.1", server.port, "/v1/stream?tag=ingested&from=now")
    assert sse.status == 200
    tag = unique("ing")
    good = [reference_record("https://ingest.example/%s/%d" % (tag, i), tags=["ingested", tag]) for i in range(5)]
    bad = [b"{not json", json.dumps({"title": "no url"}).encode(), json.dumps({"url": "ftp://x/"}).encode()]
    p = Producer({"bootstrap.servers": KAFKA})
    for i, rec in enumerate(good):
        # keyed and keyless records are both accepted
        p.produce(topics["ingest"], json.dumps(rec).encode(), key=rec["id"].encode() if i % 2 else None)
    for b in bad:
        p.produce(topics["ingest"], b)
    assert p.flush(15) == 0, "the test producer could not deliver its records"

    client = server.client
    for rec in good:
        def present(rec=rec):
            r = client.get("/v1/leaves/" + rec["id"], consistent=False)
            return r.status_code == 200
        wait_until(present, timeout=20, what="ingested leaf %s in the API" % rec["id"])
        leaf = expect(client.get("/v1/leaves/" + rec["id"], consistent=False), 200)
        assert leaf["title"] == "From Kafka" and leaf["is_starred"] is True and leaf["http_status"] == "200", leaf
        assert leaf["created_at"].startswith("2019-08-02T21:45:12"), leaf["created_at"]

    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < len(good) and time.monotonic() < deadline:
        ev = sse.next_event(1.0)
        if ev and ev["json"]:
            seen.add(ev["json"]["leaf_id"])
    sse.close()
    assert {r["id"] for r in good} <= seen, "SSE delivered %d of %d ingested leaves" % (
        len({r["id"] for r in good} & seen), len(good))

    c = Consumer({"bootstrap.servers": KAFKA, "group.id": "dlq-check-" + tag, "auto.offset.reset": "earliest"})
    c.subscribe([topics["dlq"]])
    dead = []
    deadline = time.monotonic() + 20
    while len(dead) < len(bad) and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        dead.append(m)
    c.close()
    assert len(dead) == len(bad), "expected %d dead-lettered records, got %d" % (len(bad), len(dead))
    by_value = {m.value(): dict((k, v.decode()) for k, v in (m.headers() or [])) for m in dead}
    for b in bad:
        h = by_value.get(b)
        assert h is not None, "bad record %r not in the DLQ" % b
        assert h["leaves-source-topic"] == topics["ingest"], h
        assert int(h["leaves-source-offset"]) >= 0 and "leaves-source-partition" in h, h
        assert h["leaves-error"], h
    assert "not JSON" in by_value[bad[0]]["leaves-error"]
    assert "url" in by_value[bad[1]]["leaves-error"]
    assert "http or https" in by_value[bad[2]]["leaves-error"]


@pytest.mark.skipif(not shutil.which("kcat"), reason="kcat not installed")
def test_events_sit_in_murmur2_partition_of_their_key(server):
    client = server.client
    for i in range(20):
        client.create()
    out = subprocess.run(["kcat", "-b", KAFKA, "-C", "-t", server.kafka_topics["events"], "-e", "-q",
                          "-f", "%k %p\n"], capture_output=True, timeout=30, text=True)
    assert out.returncode == 0, out.stderr
    lines = [l.split() for l in out.stdout.splitlines() if l.strip()]
    assert len(lines) >= 20, "kcat read %d events" % len(lines)
    md = subprocess.run(["kcat", "-b", KAFKA, "-L", "-t", server.kafka_topics["events"], "-J"],
                        capture_output=True, timeout=30, text=True)
    partitions = len(json.loads(md.stdout)["topics"][0]["partitions"])
    for key, part in lines:
        want = (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
        assert int(part) == want, "event keyed %s is in partition %s, murmur2 says %d" % (key, part, want)


def test_event_topic_keeps_every_record(server):
    """The event topic is created with no time or size retention (the log is the source of truth);
    the ingest topic keeps the broker's default."""
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": KAFKA})
    want = {server.kafka_topics["events"]: ("-1", "-1")}
    for topic, (ms, size) in want.items():
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        configs = admin.describe_configs([res])[res].result(timeout=30)
        got = (configs["retention.ms"].value, configs["retention.bytes"].value)
        assert got == (ms, size), "topic %s: expected retention.ms/bytes %s, got %s" % (topic, (ms, size), got)
    ingest = server.kafka_topics.get("ingest")
    if ingest:
        res = ConfigResource(ConfigResource.Type.TOPIC, ingest)
        configs = admin.describe_configs([res])[res].result(timeout=30)
        assert configs["retention.ms"].value != "-1", "the ingest topic should keep the broker's default retention"


def test_events_lost_to_retention_are_reported(server_factory):
    """A topic whose first records were deleted (a retention limit set on it by hand) cannot rebuild read
    models that started before them: a server with a new projector group says which partition and offset."""
    from collections import Counter
    first = server_factory.make()
    topic = first.kafka_topics["events"]
    for _ in range(40):
        first.client.create()
    first.stop()
    out = subprocess.run(["kcat", "-b", KAFKA, "-C", "-t", topic, "-e", "-q", "-f", "%p\n"],
                         capture_output=True, timeout=30, text=True)
    assert out.returncode == 0, out.stderr
    counts = Counter(int(l) for l in out.stdout.split())
    part = max(counts, key=counts.get)
    env = dict(os.environ, KAFKA_PORT=KAFKA.rsplit(":", 1)[1])
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "kafka")
    res = subprocess.run([script, "delete-records", topic, str(part), "1"], capture_output=True, text=True,
                         timeout=180, env=env)
    assert res.returncode == 0, "scripts/kafka delete-records failed:\n%s\n%s" % (res.stdout, res.stderr)
    second = server_factory.make(kafka_name=topic, kafka_group=topic + "-fresh")
    want = "partition %d of the log starts at offset 1" % part
    log = second.stderr_tail(400)
    assert want in log, "expected the server to report %r; its log:\n%s\ndelete-records said:\n%s" % (
        want, log, res.stdout)


def test_topics_cli_and_partition_check(leaves_bin, server_factory):
    from leaves_testlib import run_cli, describe_cli
    topic = "leaves-cli-" + unique("t")
    res = run_cli(leaves_bin, ["topics", "create", "--kafka", KAFKA, "--kafka-topic", topic, "--partitions", "2"])
    assert res.returncode == 0, describe_cli(res)
    assert "topic %s: 2 partitions" % topic in res.stdout, res.stdout
    res = run_cli(leaves_bin, ["topics", "list", "--kafka", KAFKA])
    assert res.returncode == 0 and topic in res.stdout, describe_cli(res)
    res = run_cli(leaves_bin, ["topics", "describe", "--kafka", KAFKA, "--kafka-topic", topic + "-absent"])
    assert res.returncode == 3 and "Unknown topic" in res.stderr, describe_cli(res)
    # A server configured for more partitions than the topic has refuses to start, and says why.
    srv = server_factory.make(start=False)
    i = srv.args.index("--kafka-topic")
    srv.args[i + 1] = topic
    srv.args += ["--partitions", "8"]
    with pytest.raises(AssertionError) as e:
        srv.start(timeout=20)
    assert "has 2 partitions, fewer than the 8 configured" in str(e.value), str(e.value)[-2000:]
    # describe shows the group lag of a server that consumed the topic
    srv2 = server_factory.make()
    srv2.client.create()
    srv2.stop()
    res = run_cli(leaves_bin, ["topics", "describe", "--kafka", KAFKA, "--kafka-topic",
                               srv2.kafka_topics["events"], "--group", srv2.kafka_topics["events"]])
    assert res.returncode == 0, describe_cli(res)
    assert "group %s: lag 0" % srv2.kafka_topics["events"] in res.stdout, res.stdout


def test_the_operations_route_lists_the_last_dead_letters(server_factory):
    """GET /v1/ops/ingest (admins): the ingest consumer's partitions and the
    last dead letters with their reasons, as the operations page shows them."""
    from confluent_kafka import Producer
    from test_auth import ADMIN_TOKEN, as_user

    srv = server_factory.make(env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    expect(srv.client.get("/v1/ops/ingest"), 401, "the anonymous caller (--anonymous all has no admin scope)")
    bad = [b"{broken", json.dumps({"title": "no url here"}).encode(), b"\xff\xfe{binary \xe2\x82"]
    p = Producer({"bootstrap.servers": KAFKA})
    for b in bad:
        p.produce(srv.kafka_topics["ingest"], b, key=b"k-" + b[:4])
    assert p.flush(15) == 0, "the test producer could not deliver its records"

    def listed():
        body = expect(admin.get("/v1/ops/ingest"), 200, "the ingest view")["ingest"]
        return body if len(body["dead_letters"]) >= 3 else None
    # (expect() parses the answer: a binary record's bytes must not break its JSON)
    view = wait_until(listed, timeout=20, what="three dead letters in /v1/ops/ingest")
    assert view["topic"] == srv.kafka_topics["ingest"] and view["dead_lettered"] >= 2, view
    by_value = {d["value"]: d for d in view["dead_letters"]}  # two partitions: no order between them
    broken, no_url = by_value.get("{broken"), by_value.get(bad[1].decode())
    assert broken and broken["code"] == "invalid_json" and "not JSON" in broken["reason"], view["dead_letters"]
    assert no_url and "url" in no_url["reason"] and no_url["key"] == 'k-{"ti', view["dead_letters"]
    assert all(":" in d["source"] for d in (broken, no_url)), view["dead_letters"]
    assert "\ufffd\ufffd{binary \ufffd\ufffd" in by_value, (
        "bytes that are not UTF-8 show as U+FFFD, each: %r" % list(by_value))
    assert any(part["next"] >= 1 for part in view["partitions"]), view["partitions"]
