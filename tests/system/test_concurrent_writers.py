"""Several servers writing the same leaves through one Kafka topic
(LEAVES_TEST_KAFKA; with LEAVES_TEST_CASSANDRA they share one keyspace and
projector group, else each keeps its own embedded read store).

Twenty writers add tags to 50 leaves through three servers at once, so two
servers often decide the same next version of a leaf. A write is acknowledged
only when its event won its version (service/leaf_service.h), so: no two
acknowledgements name the same version of a leaf, every acknowledged tag is on
its leaf in every server's read models, and the log holds each acknowledged
update as the event that won its version, in version order."""

import json
import os
import random
import re
import threading
import time
import uuid

import pytest
import requests

from leaves_testlib import md5_hex

KAFKA = os.environ.get("LEAVES_TEST_KAFKA")
pytestmark = pytest.mark.skipif(not KAFKA, reason="needs LEAVES_TEST_KAFKA (a broker)")

LEAVES = 50
WRITERS = 20
WRITES_EACH = 30


def confirmation_counts(srv):
    text = requests.get(srv.base_url + "/metrics", timeout=5).text
    return {m.group(1): int(float(m.group(2))) for m in
            re.finditer(r'^leaves_write_confirmations_total\{outcome="(\w+)"\} (\S+)$', text, re.M)}


def log_history(topic, leaf_ids, timeout=60):
    """Every event of `leaf_ids` in the topic, per leaf in partition order."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": KAFKA, "group.id": "history-" + uuid.uuid4().hex[:8],
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for p in meta.partitions:
            _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > 0:
                ends[p] = high
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        events = {i: [] for i in leaf_ids}
        done = {p: False for p in ends}
        deadline = time.monotonic() + timeout
        while not all(done.values()) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            if m.offset() + 1 >= ends[m.partition()]:
                done[m.partition()] = True
            ev = json.loads(m.value())
            if ev["aggregate_id"] in events:
                events[ev["aggregate_id"]].append(ev)
        assert all(done.values()), "could not read the topic %s to its end in %d s" % (topic, timeout)
        return events
    finally:
        c.close()


def winners(history):
    """The events every projection applies: the first of each version in log order."""
    have, out = 0, []
    for ev in history:
        if ev["aggregate_version"] > have:
            have = ev["aggregate_version"]
            out.append(ev)
    return out


def test_three_servers_twenty_writers_lose_no_acknowledged_update(server_factory):
    name = "leaves-writers-" + uuid.uuid4().hex[:10]
    shared = bool(os.environ.get("LEAVES_TEST_CASSANDRA"))
    keyspace = "writers_" + uuid.uuid4().hex[:10]
    # JSON events (also when the suite runs in Avro): the test reads the topic itself.
    args = ["--partitions", "12", "--event-format", "json"]

    def make(i):
        if shared:  # one keyspace, one projector group, each server its own state mirror
            return server_factory.make(args=args, kafka_name=name, keyspace=keyspace)
        return server_factory.make(args=args, kafka_name=name, kafka_group="%s-%d" % (name, i))

    servers = [make(i) for i in range(3)]
    for s in servers:
        deadline = time.monotonic() + 60
        while requests.get(s.base_url + "/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "server not ready in 60 s\n%s" % s.stderr_tail(30)
            time.sleep(0.2)

    urls = ["https://writers.example/%s/%d" % (name, i) for i in range(LEAVES)]
    ids = []
    for i, u in enumerate(urls):
        r = requests.post(servers[i % 3].base_url + "/v1/leaves", json={"url": u, "title": "leaf %d" % i}, timeout=15)
        assert r.status_code == 201, "saving %s: expected 201, got %d %s" % (u, r.status_code, r.text[:300])
        ids.append(r.json()["id"])
        assert ids[-1] == md5_hex(u)

    acked = []          # (leaf id, version, tag)
    refused = []        # (status, error code) of writes not acknowledged
    lock = threading.Lock()
    start = threading.Event()

    def writer(w):
        rng = random.Random(w)
        sessions = [requests.Session() for _ in servers]
        start.wait()
        for i in range(WRITES_EACH):
            k = rng.randrange(len(servers))
            leaf = ids[rng.randrange(LEAVES)]
            tag = "w%d-%d" % (w, i)
            try:
                r = sessions[k].post("%s/v1/leaves/%s/tags" % (servers[k].base_url, leaf), json={"tags": [tag]},
                                     timeout=30)
            except requests.RequestException as e:
                with lock:
                    refused.append((0, type(e).__name__))
                continue
            with lock:
                if r.status_code == 200:
                    acked.append((leaf, r.json()["version"], tag))
                else:
                    refused.append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    start.set()
    for t in threads:
        t.join(timeout=300)
    took = time.monotonic() - t0
    counts = [confirmation_counts(s) for s in servers]
    print("concurrent writers: %d acknowledged, %d refused in %.1f s; confirmations per server %s; refused %s" % (
        len(acked), len(refused), took, counts, refused[:5]))
    assert not any(t.is_alive() for t in threads), "writers still running after 300 s"
    assert len(acked) >= WRITERS * WRITES_EACH * 0.95, \
        "expected nearly all %d writes acknowledged, got %d; refused: %s" % (
            WRITERS * WRITES_EACH, len(acked), refused[:10])
    lost = sum(c.get("lost", 0) for c in counts)
    assert lost > 0, "the servers never raced for a version (confirmations %s): the test proved nothing" % counts

    # No two acknowledgements of one leaf name the same version.
    by_version = {}
    for leaf, version, tag in acked:
        other = by_version.setdefault((leaf, version), tag)
        assert other == tag, "leaf %s version %d acknowledged twice: tags %s and %s" % (leaf, version, other, tag)

    # Every server's read models end with every acknowledged tag.
    want = {}
    for leaf, version, tag in acked:
        v, tags = want.get(leaf, (0, set()))
        want[leaf] = (max(v, version), tags | {tag})
    for s in servers:
        for leaf, (version, tags) in want.items():
            deadline = time.monotonic() + 60
            while True:
                got = requests.get("%s/v1/leaves/%s" % (s.base_url, leaf), timeout=15).json()
                if got.get("version", 0) >= version or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            missing = tags - set(got.get("tags") or [])
            assert not missing, "%s: leaf %s at version %s lacks acknowledged tags %s" % (
                s.base_url, leaf, got.get("version"), sorted(missing))

    # The log holds each acknowledged update as the winner of its version.
    history = log_history(name, ids)
    for leaf in ids:
        won = winners(history[leaf])
        assert [e["aggregate_version"] for e in won] == list(range(1, len(won) + 1)), \
            "leaf %s: the winning events' versions are not 1..n: %s" % (leaf, [e["aggregate_version"] for e in won])
        at = {e["aggregate_version"]: e for e in won}
        for (l, version), tag in by_version.items():
            if l != leaf:
                continue
            ev = at.get(version)
            assert ev is not None and ev["type"] == "leaf.tags_added" and ev["data"]["tags"] == [tag], \
                "leaf %s version %d: acknowledged as tag %s, but the log's winning event is %s" % (
                    leaf, version, tag, ev)
