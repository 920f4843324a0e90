"""Broker outage (LEAVES_TEST_KAFKA set; the broker is the one scripts/kafka runs):
stop Kafka for 20 s during writes. Writes that cannot be made durable answer
503 with a clear error, no acknowledged write is lost, the server stays up and
writes and projection resume when the broker returns."""

import os
import pathlib
import subprocess
import time

import pytest
import requests

from leaves_testlib import expect, new_url
from test_durability import Writers, wait_all_present

KAFKA = os.environ.get("LEAVES_TEST_KAFKA")
SCRIPT = str(pathlib.Path(__file__).resolve().parents[2] / "scripts" / "kafka")
pytestmark = pytest.mark.skipif(not KAFKA, reason="LEAVES_TEST_KAFKA not set (no broker)")


def kafka(cmd):
    res = subprocess.run([SCRIPT, cmd], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, "scripts/kafka %s failed: %s" % (cmd, res.stderr)


def test_broker_outage_during_writes(server_factory):
    srv = server_factory.make()
    w = Writers(srv.base_url, n=4).start()
    try:
        time.sleep(2)
        acked_before = len(w.acked)
        kafka("stop")
        outage_started = time.monotonic()
        # During the outage, a write must fail clearly (never hang forever, never 500).
        r = requests.post(srv.base_url + "/v1/leaves", json={"url": new_url()}, timeout=30)
        assert r.status_code == 503, "a write during the outage: expected 503, got %s %s\n%s" % (
            r.status_code, r.text, srv.stderr_tail())
        assert r.json()["error"]["code"] == "log_unavailable", r.text
        time.sleep(max(0.0, 20 - (time.monotonic() - outage_started)))
        assert srv.running(), "the server died during the outage:\n" + srv.stderr_tail()
        kafka("start")
        acked_at_return = len(w.acked)
        deadline = time.monotonic() + 60
        while len(w.acked) < acked_at_return + 50 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        w.stop()
    print("outage: %d acked before, %d total, statuses %s" % (acked_before, len(w.acked), w.statuses))
    assert acked_before > 0
    assert len(w.acked) >= acked_at_return + 50, "writes did not resume after the broker returned: %s\n%s" % (
        w.statuses, srv.stderr_tail(60))
    bad = {s: n for s, n in w.statuses.items() if s not in (200, 201, 503)}
    assert not bad, "writes should answer 201/200 or 503 during an outage, got %s\n%s" % (
        w.statuses, srv.stderr_tail(60))
    # After the broker returns, the consumer group must rejoin (the coordinator reloads
    # its state first); that has taken over 20 s here, so allow a minute.
    missing = wait_all_present(srv.client, w.acked, timeout=60)
    assert not missing, "%d of %d acknowledged leaves missing after the outage, e.g. %s" % (
        len(missing), len(w.acked), sorted(missing)[:5])
    ready = srv.client.get("/readyz", consistent=False)
    expect(ready, 200, "readyz after the broker returned")
