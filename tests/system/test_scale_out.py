"""Scale-out on one machine (LEAVES_TEST_KAFKA and LEAVES_TEST_CASSANDRA set):
three `leaves serve` processes in one consumer group over a 12-partition topic,
sharing one Cassandra keyspace. Writes go to all three; one is killed with
SIGKILL mid-burst. Every acknowledged write ends up in the read models, and the
read models equal a single-process replay of the log (each event applied once)."""

import os
import random
import re
import time
import uuid

import pytest
import requests

from leaves_testlib import describe_cli, expect, run_cli
from test_cassandra_outage import observable
from test_durability import Writers, wait_all_present

pytestmark = pytest.mark.skipif(
    not (os.environ.get("LEAVES_TEST_KAFKA") and os.environ.get("LEAVES_TEST_CASSANDRA")),
    reason="needs LEAVES_TEST_KAFKA and LEAVES_TEST_CASSANDRA (a broker and a node)")


def applied(srv):
    text = requests.get(srv.base_url + "/metrics", timeout=5).text
    m = re.search(r"^leaves_projector_events_applied_total (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def test_three_servers_one_group_kill9_one(server_factory, leaves_bin):
    name = "leaves-scale-" + uuid.uuid4().hex[:10]
    keyspace = "scale_" + uuid.uuid4().hex[:10]
    servers = [server_factory.make(args=["--partitions", "12"], kafka_name=name, keyspace=keyspace) for _ in range(3)]
    writers = [Writers(s.base_url, n=2, tag="scale%d-%s" % (i, name[-6:]), pause=0.005) for i, s in enumerate(servers)]
    for w in writers:
        w.start()
    try:
        # Members join one after the other; wait until the group has spread the
        # partitions so that every server projects some of the burst.
        deadline = time.monotonic() + 40
        projected = [applied(s) for s in servers]
        while min(projected) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            projected = [applied(s) for s in servers]
        servers[2].kill()
        time.sleep(16)  # the group notices after session.timeout.ms (10 s) and moves the partitions
    finally:
        for w in writers:
            w.stop()
    acked = {}
    for w in writers:
        acked.update(w.acked)
    print("scale-out: acked per server %s, events projected per server before the kill %s, statuses %s" % (
        [len(w.acked) for w in writers], projected, [w.statuses for w in writers]))
    assert all(len(w.acked) > 0 for w in writers), "every server should have acknowledged writes"
    assert min(projected) > 0, \
        "the partitions should be spread over the group (events projected per server: %s)" % projected
    missing = wait_all_present(servers[0].client, acked, timeout=90)
    assert not missing, "%d of %d acknowledged leaves missing after kill -9, e.g. %s\n%s" % (
        len(missing), len(acked), sorted(missing)[:5], servers[0].stderr_tail(40))

    sample = random.Random(3).sample(sorted(acked), min(200, len(acked)))
    before = {w.tag: observable(servers[0].client, w.tag, sample if w is writers[0] else []) for w in writers}
    for w in writers:
        listed = set(before[w.tag]["listed"])
        lost = set(w.acked) - listed
        assert not lost, "tag %s: %d acknowledged leaves not listed, e.g. %s" % (w.tag, len(lost), sorted(lost)[:5])
        # The killed server may have made durable a write whose answer never
        # reached its client (at most one in flight per writer thread).
        extra = listed - set(w.acked)
        allowed = w.n if w is writers[2] else 0
        assert len(extra) <= allowed, "tag %s: %d listed leaves were never acknowledged (at most %d allowed)" % (
            w.tag, len(extra), allowed)
        assert before[w.tag]["tag count"] == len(listed), "tag %s count %s, but %d leaves listed" % (
            w.tag, before[w.tag]["tag count"], len(listed))
    for s in servers[:2]:
        s.stop()
    res = run_cli(leaves_bin, ["replay", "--data-dir", servers[0].data_dir] + servers[0].backend_args, timeout=300)
    assert res.returncode == 0, "leaves replay: expected exit 0\n  %s" % describe_cli(res)
    servers[0].start()
    after = {w.tag: observable(servers[0].client, w.tag, sample if w is writers[0] else []) for w in writers}
    for tag in before:
        for k in before[tag]:
            assert before[tag][k] == after[tag][k], "tag %s: %s after the kill -9 differs from a single-process " \
                "replay:\n  group:  %s\n  replay: %s" % (tag, k, str(before[tag][k])[:800], str(after[tag][k])[:800])
    expect(servers[0].client.get("/readyz", consistent=False), 200, "readyz")


def wait_ready(srv, timeout):
    """Seconds until /readyz answers 200, or None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if requests.get(srv.base_url + "/readyz", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return None


def test_member_restarted_after_kill9_is_ready_within_a_bound(server_factory):
    """A server restarted after kill -9 in the shared group must not wait on
    the other members: the partitions they project are covered by their
    commits, its own come back once the dead member's session (10 s) ends."""
    name = "leaves-ready-" + uuid.uuid4().hex[:10]
    keyspace = "ready_" + uuid.uuid4().hex[:10]
    servers = [server_factory.make(args=["--partitions", "12"], kafka_name=name, keyspace=keyspace) for _ in range(2)]
    for s in servers:
        assert wait_ready(s, 60) is not None, "server never ready at first start\n%s" % s.stderr_tail(30)
    writers = Writers(servers[0].base_url, n=2, tag="ready-" + name[-6:], pause=0.01)
    writers.start()
    try:
        deadline = time.monotonic() + 40
        while min(applied(s) for s in servers) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert min(applied(s) for s in servers) > 0, "the group should have spread the partitions over both servers"
        servers[1].kill()
        servers[1].start()
        took = wait_ready(servers[1], 45)
    finally:
        writers.stop()
    print("scale-out: restarted member ready after %s s (writes acked meanwhile: %d)" % (
        None if took is None else round(took, 1), len(writers.acked)))
    assert took is not None, "the restarted member was not ready within 45 s (bound: the 10 s session of its " \
        "dead self plus a rebalance)\n%s" % servers[1].stderr_tail(40)
    missing = wait_all_present(servers[1].client, writers.acked, timeout=60)
    assert not missing, "%d acknowledged leaves not readable through the restarted member, e.g. %s" % (
        len(missing), sorted(missing)[:5])
