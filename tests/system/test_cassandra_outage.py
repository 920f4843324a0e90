"""Cassandra outage (LEAVES_TEST_CASSANDRA set; the node is the one scripts/cassandra
runs): stop Cassandra for 15 s while writes continue (two writers at up to 50 writes/s
each, so the catch-up and the comparison stay short). Writes keep being
acknowledged (they are in the log; the write side falls back to the local state
mirror), the projector pauses without losing or skipping events, and after the
node returns the read models catch up and equal a replay of the log.

Runs on both logs: on the embedded log the mirror is written with the read
models; on Kafka each process feeds its own mirror from every partition
(--state-mirror, on by default) and falls back to it once it holds the leaf's
partition up to the log's end."""

import os
import pathlib
import random
import subprocess
import time

import pytest

from leaves_testlib import describe_cli, expect, run_cli, wait_until
from test_durability import Writers, wait_all_present

CASSANDRA = os.environ.get("LEAVES_TEST_CASSANDRA")
SCRIPT = str(pathlib.Path(__file__).resolve().parents[2] / "scripts" / "cassandra")
pytestmark = [
    pytest.mark.skipif(not CASSANDRA, reason="LEAVES_TEST_CASSANDRA not set (no node)"),
]


def cassandra(cmd):
    res = subprocess.run([SCRIPT, cmd], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, "scripts/cassandra %s failed: %s" % (cmd, res.stderr)


def observable(client, tag, sample):
    """What the read models show for the writers' leaves."""
    items, _ = client.list_all("tag=" + tag, limit=100, max_pages=2000)
    leaves = {lid: expect(client.get("/v1/leaves/" + lid, consistent=False), 200, "GET " + lid) for lid in sample}
    counts, _ = client.tags()
    return {"listed": [it["id"] for it in items], "leaves": leaves, "tag count": counts.get(tag)}


def test_cassandra_outage_during_writes(server_factory, leaves_bin):
    srv = server_factory.make()
    w = Writers(srv.base_url, n=2, pause=0.02).start()
    try:
        time.sleep(2)
        acked_before = len(w.acked)
        cassandra("stop")
        stopped = time.monotonic()
        time.sleep(15)
        acked_during = len(w.acked) - acked_before
        assert srv.running(), "the server died during the outage:\n" + srv.stderr_tail()
        lag = expect(srv.client.get("/readyz", consistent=False), 503, "readyz while Cassandra is down")
        cassandra("start")
        print("outage lasted %.0f s" % (time.monotonic() - stopped))
        time.sleep(2)
    finally:
        w.stop()
    print("cassandra outage: %d acked before, %d during, %d total, statuses %s, readyz %s" % (
        acked_before, acked_during, len(w.acked), w.statuses, lag))
    assert acked_before > 0
    assert acked_during >= 50, "writes should keep being acknowledged while Cassandra is down: %d in 15 s, " \
                               "statuses %s\n%s" % (acked_during, w.statuses, srv.stderr_tail(60))
    bad = {s: n for s, n in w.statuses.items() if s not in (200, 201)}
    assert not bad, "every write should be acknowledged during a Cassandra outage, got %s\n%s" % (
        w.statuses, srv.stderr_tail(60))
    # The projector retries its writes (backoff up to 5 s), then catches up:
    # ready again once the read models hold every event. (GET by id may
    # answer before that, from the state mirror on Kafka.)
    ready = {}

    def caught_up():
        r = srv.client.get("/readyz", consistent=False)
        ready["last"] = "%d %s" % (r.status_code, r.text[:300])
        return r.status_code == 200
    try:
        wait_until(caught_up, timeout=90, interval=0.2, what="readyz 200 after Cassandra returned")
    except AssertionError as e:
        raise AssertionError("%s; last readyz: %s\n%s" % (e, ready.get("last"), srv.stderr_tail(40))) from None
    missing = wait_all_present(srv.client, w.acked, timeout=30)
    assert not missing, "%d of %d acknowledged leaves missing after Cassandra returned, e.g. %s\n%s" % (
        len(missing), len(w.acked), sorted(missing)[:5], srv.stderr_tail(40))

    sample = random.Random(7).sample(sorted(w.acked), min(200, len(w.acked)))
    before = observable(srv.client, w.tag, sample)
    assert len(before["listed"]) == len(w.acked), "listing by tag: %d of %d acknowledged leaves" % (
        len(before["listed"]), len(w.acked))
    assert before["tag count"] == len(w.acked), "tag count %s, expected %d" % (before["tag count"], len(w.acked))
    srv.stop()
    res = run_cli(leaves_bin, ["replay", "--data-dir", srv.data_dir] + srv.backend_args, timeout=300)
    assert res.returncode == 0, "leaves replay: expected exit 0\n  %s" % describe_cli(res)
    srv.start()
    after = observable(srv.client, w.tag, sample)
    for k in before:
        assert before[k] == after[k], "after the outage the read models differ from a replay in %s:\n" \
                                      "  caught up: %s\n  replayed:  %s" % (k, str(before[k])[:800], str(after[k])[:800])
