"""A damaged data dir: a missing store/ is rebuilt from the log before the
server is ready, a missing log/ or a log the read models were not built from
is refused, a corrupt WAL is refused unless --salvage, and `leaves check`
compares log, store and index."""

import os
import shutil
import subprocess
import time

import pytest
import requests

from leaves_testlib import ServerStartError, describe_cli, expect, new_url, run_cli, unique, wait_until

KAFKA = bool(os.environ.get("LEAVES_TEST_KAFKA"))
CASSANDRA = bool(os.environ.get("LEAVES_TEST_CASSANDRA"))


def fill(client, n, tag):
    ids = {}
    for i in range(n):
        url = new_url("https://safety.example.com/%d/" % i)
        leaf = client.create(url=url, title="safety %d" % i, tags=[tag])
        ids[leaf["id"]] = url
    return ids


def wait_ready(srv, timeout=60):
    def ready():
        try:
            return requests.get(srv.base_url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False
    wait_until(ready, timeout=timeout, what="server ready\n" + srv.stderr_tail())


def start_fails(srv, timeout=20):
    with pytest.raises(ServerStartError) as e:
        srv.start(timeout=timeout)
    return str(e.value)


@pytest.mark.skipif(CASSANDRA, reason="the read models are in Cassandra, not under the data dir")
def test_missing_store_is_rebuilt_from_the_log_before_ready(server_factory):
    srv = server_factory.make()
    tag = unique("lost")
    ids = fill(srv.client, 25, tag)
    first_id, first_url = next(iter(ids.items()))
    expect(srv.client.patch("/v1/leaves/" + first_id, json={"title": "edited"}), 200)
    srv.stop()
    shutil.rmtree(os.path.join(srv.data_dir, "store"))

    srv.start()
    wait_ready(srv)
    assert "lost data" in srv.stderr_tail(80), "expected a log line about the lost store, got:\n" + srv.stderr_tail()
    for leaf_id in ids:
        r = expect(srv.client.get("/v1/leaves/" + leaf_id), 200, "leaf %s after the store was rebuilt" % leaf_id)
        if leaf_id == first_id:
            assert r["title"] == "edited" and r["version"] == 2, "expected the edit (version 2), got %s" % r
    # The acknowledged leaf is still known: saving its URL again is an update, not a version 1.
    r = srv.client.post("/v1/leaves", json={"url": first_url, "title": "again"})
    assert r.status_code == 200 and r.json()["version"] == 3, "expected 200 version 3, got %d %s" % (
        r.status_code, r.text[:300])


@pytest.mark.skipif(KAFKA, reason="the log is a Kafka topic, not under the data dir")
def test_missing_log_is_refused(server_factory):
    srv = server_factory.make()
    fill(srv.client, 3, unique("nolog"))
    srv.stop()
    shutil.rmtree(os.path.join(srv.data_dir, "log"))
    msg = start_fails(srv)
    assert "log/" in msg and "missing" in msg, "expected the start to fail naming log/, got:\n" + msg
    assert not os.path.exists(os.path.join(srv.data_dir, "log")), "a fresh log/ was created"


@pytest.mark.skipif(CASSANDRA, reason="a Cassandra store keeps no log position of its own")
def test_store_ahead_of_the_log_is_refused(server_factory):
    srv = server_factory.make()
    fill(srv.client, 5, unique("ahead"))
    srv.stop()
    if KAFKA:
        # Another (empty) topic under the same data dir.
        other = server_factory.make(data_dir=srv.data_dir, start=False, kafka_name="leaves-sys-" + unique("x"))
    else:
        empty = server_factory.make()
        empty.stop()
        shutil.rmtree(os.path.join(srv.data_dir, "log"))
        shutil.copytree(os.path.join(empty.data_dir, "log"), os.path.join(srv.data_dir, "log"))
        other = srv
    msg = start_fails(other)
    assert "not the one these read models were built from" in msg, "expected a refusal, got:\n" + msg


def corrupt_wal(log_dir, nbytes=64, suffix=".log"):
    """Writes random bytes into the middle of the largest WAL (or, suffix=".sst", table) of a RocksDB directory."""
    wals = [os.path.join(log_dir, f) for f in os.listdir(log_dir) if f.endswith(suffix)]
    assert wals, "no WAL file under %s: %s" % (log_dir, os.listdir(log_dir))
    wal = max(wals, key=os.path.getsize)
    size = os.path.getsize(wal)
    assert size > 4 * nbytes, "WAL %s too small (%d bytes) to corrupt in its middle" % (wal, size)
    with open(wal, "r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(nbytes))
    return wal


@pytest.mark.skipif(KAFKA, reason="the log is a Kafka topic, not under the data dir")
def test_corrupt_wal_is_refused_unless_salvaged(server_factory):
    srv = server_factory.make()
    tag = unique("wal")
    ids = fill(srv.client, 300, tag)
    srv.kill()
    corrupt_wal(os.path.join(srv.data_dir, "log"))

    msg = start_fails(srv)
    assert "damaged" in msg and "--salvage" in msg, "expected a refusal naming the damage, got:\n" + msg

    srv.args = srv.args + ["--salvage"]
    srv.start()
    wait_ready(srv)
    assert "--salvage" in srv.stderr_tail(80), srv.stderr_tail()
    survivors = [i for i in ids if srv.client.get("/v1/leaves/" + i).status_code == 200]
    assert 0 < len(survivors) < len(ids), "expected a prefix of the 300 leaves to survive, got %d" % len(survivors)
    # What is left is consistent: the list, the tag count and the search index agree.
    listed, _ = srv.client.list_all("tag=" + tag)
    assert sorted(x["id"] for x in listed) == sorted(survivors), "listing and gets disagree after salvage"
    wait_until(lambda: requests.get(srv.base_url + "/readyz", timeout=5).json()["projections"]["search"]["caught_up"],
               timeout=60, what="the index rebuilt after salvage")  # /readyz is gated by the read models only
    found = expect(srv.client.get("/v1/search?tag=%s&limit=1" % tag), 200, "search after salvage")
    assert found["total"] == len(survivors), "expected the index to hold the %d survivors, got %s" % (
        len(survivors), found["total"])
    srv.stop()
    srv.args = [a for a in srv.args if a != "--salvage"]
    srv.start()
    wait_ready(srv)
    assert len(srv.client.list_all("tag=" + tag)[0]) == len(survivors), "a restart without --salvage changed the log"


def check(srv, binary=None):
    return run_cli(binary or srv.binary, ["check", "--data-dir", srv.data_dir] + srv.backend_args, timeout=120)


def test_check_finds_a_consistent_data_dir_then_the_damage(server_factory):
    srv = server_factory.make()
    tag = unique("chk")
    ids = list(fill(srv.client, 30, tag))
    for leaf_id in ids[:5]:
        expect(srv.client.patch("/v1/leaves/" + leaf_id, json={"tags": [tag, "second"]}), 200)
    for leaf_id in ids[5:8]:
        expect(srv.client.delete("/v1/leaves/" + leaf_id), 200, "delete")
    wait_until(lambda: srv.client.get("/v1/search?tag=%s&limit=1" % tag).json().get("total") == 27,
               what="the index caught up")
    if not KAFKA:
        res = check(srv)
        assert res.returncode == 1 and "is a server running" in res.stdout, (
            "expected check to refuse a data dir in use\n" + describe_cli(res))
    srv.stop()

    res = check(srv)
    assert res.returncode == 0 and "check: ok" in res.stdout, "expected a consistent data dir\n" + describe_cli(res)
    assert "read models: at 38 of 38 events; 27 leaves; consistent" in res.stdout, describe_cli(res)
    assert "search index: at 38 of 38 events; 27 documents; consistent" in res.stdout, describe_cli(res)

    if CASSANDRA:
        return
    # Read models of another log under this one: every difference is named.
    other = server_factory.make()
    fill(other.client, 30, unique("other"))
    other.stop()
    shutil.rmtree(os.path.join(srv.data_dir, "store"))
    shutil.copytree(os.path.join(other.data_dir, "store"), os.path.join(srv.data_dir, "store"))
    res = check(srv)
    assert res.returncode == 1 and "read models:" in res.stdout and "DIFFERENT" in res.stdout, (
        "expected the swapped store to be reported\n" + describe_cli(res))
    assert "search index: at 38 of 38 events; 27 documents; consistent" in res.stdout, describe_cli(res)

    shutil.rmtree(os.path.join(srv.data_dir, "store"))
    res = check(srv)
    assert res.returncode == 1 and "read models: MISSING" in res.stdout, describe_cli(res)

    if not KAFKA:
        # The log was flushed to a table when check opened it: damage that table.
        corrupt_wal(os.path.join(srv.data_dir, "log"), nbytes=256, suffix=".sst")
        res = check(srv)
        assert res.returncode == 1 and ("log: CANNOT OPEN" in res.stdout or "log: DAMAGED" in res.stdout), (
            "expected the damaged log table to be reported\n" + describe_cli(res))


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs (root only); yields (path, grow) where grow() makes it 1 GiB."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())

    def grow():
        subprocess.run(["mount", "-o", "remount,size=1g", str(mnt)], check=True)

    try:
        yield mnt, grow
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.skipif(KAFKA or CASSANDRA, reason="fills the disk under the embedded log and store")
def test_full_disk_answers_507_then_resumes_by_itself(server_factory, small_disk):
    mnt, grow = small_disk
    srv = server_factory.make(data_dir=mnt / "data", args=["--min-free-mb", "16"])
    session = requests.Session()
    big = "x" * 60000
    acked, full = [], None
    for i in range(2000):
        r = session.post(srv.base_url + "/v1/leaves", timeout=30,
                         json={"url": "https://full.example.com/%d" % i, "title": "full disk", "content": big})
        if r.status_code == 201:
            acked.append(r.json()["id"])
            continue
        full = r
        break
    assert full is not None, "the 64 MiB disk never filled"
    assert full.status_code == 507 and full.json()["error"]["code"] == "insufficient_storage", (
        "expected 507 insufficient_storage on a full disk, got %d %s" % (full.status_code, full.text[:300]))
    assert str(mnt) not in full.text, "the answer names a path: " + full.text
    ready = requests.get(srv.base_url + "/readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["status"] == "insufficient_storage", (
        "expected /readyz 503 insufficient_storage, got %d %s" % (ready.status_code, ready.text[:300]))
    assert "is full" in srv.stderr_tail(200), "expected a log line about the full disk:\n" + srv.stderr_tail()
    for leaf_id in acked[:: max(1, len(acked) // 20)]:
        expect(srv.client.get("/v1/leaves/" + leaf_id, consistent=False), 200, "acknowledged leaf on a full disk")

    grow()
    wait_ready(srv, timeout=30)
    leaf = srv.client.create(url="https://full.example.com/after", title="full disk")
    acked.append(leaf["id"])
    found = expect(srv.client.get("/v1/search?q=%22full+disk%22&limit=1"), 200, "search after the disk is back")
    assert found["total"] == len(acked), "expected the index to hold all %d acknowledged leaves, got %s" % (
        len(acked), found["total"])
    srv.stop()  # exit 0, asserted
    srv.start()
    wait_ready(srv)
    for leaf_id in acked:
        expect(srv.client.get("/v1/leaves/" + leaf_id), 200, "acknowledged leaf after the restart")


@pytest.mark.skipif(CASSANDRA, reason="zeroes a table file of the embedded store")
def test_damaged_store_refuses_writes_as_readyz_says_then_rebuilds(server_factory):
    srv = server_factory.make()
    ids = list(fill(srv.client, 40, unique("sst")))
    srv.stop()
    srv.start()  # the store's WAL becomes a table file at open
    wait_ready(srv)
    store = os.path.join(srv.data_dir, "store")
    ssts = [os.path.join(store, f) for f in os.listdir(store) if f.endswith(".sst")]
    assert ssts, "no table file under %s: %s" % (store, os.listdir(store))
    for path in ssts:
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.write(b"\0" * size)
    # A write's projection reads the leaf's stored row. A row in a block the store read (and cached) before the
    # damage is served from memory, so write leaf after leaf until one projection reads a damaged block.
    acked = []

    def not_ready():
        r = requests.get(srv.base_url + "/readyz", timeout=5)
        return r.status_code == 503 and r.json()["status"] == "store_unavailable"
    victims = list(ids)
    while victims and not not_ready():
        leaf_id = victims.pop(0)
        r = srv.client.patch("/v1/leaves/" + leaf_id, json={"title": "after the damage"})
        assert r.status_code in (200, 503), "expected 200 or 503, got %d %s" % (r.status_code, r.text[:300])
        if r.status_code == 200:
            acked.append(leaf_id)
        time.sleep(0.2)
    wait_until(not_ready, timeout=20, what="/readyz 503 store_unavailable after %d writes\n%s" % (
        len(ids) - len(victims), srv.stderr_tail()))
    r = srv.client.patch("/v1/leaves/" + ids[-1], json={"title": "refused"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable", (
        "expected writes refused as /readyz says (503 store_unavailable), got %d %s" % (r.status_code, r.text[:300]))
    srv.stop()
    shutil.rmtree(store)
    srv.start()
    wait_ready(srv)
    for leaf_id in ids:
        expect(srv.client.get("/v1/leaves/" + leaf_id), 200, "leaf after the store was rebuilt")
    for leaf_id in acked:
        got = expect(srv.client.get("/v1/leaves/" + leaf_id), 200)
        assert got["title"] == "after the damage", "the acknowledged write is lost: %s" % got


def test_check_reports_a_damaged_index_and_leaves_it_alone(server_factory):
    srv = server_factory.make()
    fill(srv.client, 5, unique("ix"))
    srv.stop()
    search = os.path.join(srv.data_dir, "search")
    victim = os.path.join(search, "iamglass")
    assert os.path.exists(victim), "no iamglass under %s: %s" % (search, os.listdir(search))
    with open(victim, "wb") as f:
        f.write(b"\0" * 16)
    before = sorted(os.listdir(search))
    res = check(srv)
    assert res.returncode == 1 and "search index: CANNOT OPEN" in res.stdout, (
        "expected the damaged index reported\n" + describe_cli(res))
    assert sorted(os.listdir(search)) == before and open(victim, "rb").read() == b"\0" * 16, (
        "leaves check changed the index it was checking")
