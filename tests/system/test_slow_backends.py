"""No HTTP I/O thread waits on a slow backend (LEAVES_TEST_CASSANDRA set): with
2 I/O threads and many reads in flight whose Cassandra answers are held back
by a delaying TCP proxy, /healthz still answers at once."""

import os
import socket
import threading
import time

import pytest
import requests

from leaves_testlib import expect, free_port

pytestmark = pytest.mark.skipif(not os.environ.get("LEAVES_TEST_CASSANDRA"),
                                reason="LEAVES_TEST_CASSANDRA not set (no node)")


class DelayingProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk from the target back
    for `delay` seconds (set at any time; 0 forwards at once)."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.delay = 0.0
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.settimeout(0.2)
        self.stopping = threading.Event()
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src, dst, delayed):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delayed and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping.set()
        self.listener.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def test_healthz_answers_while_cassandra_answers_are_slow(server_factory):
    host, _, port = os.environ["LEAVES_TEST_CASSANDRA"].partition(":")
    proxy = DelayingProxy(host, int(port))
    try:
        srv = server_factory.make(args=["--threads", "2"], start=False)
        i = srv.args.index("--cassandra")
        srv.args[i + 1] = "127.0.0.1:%d" % proxy.port
        srv.start(timeout=60)
        ids = [srv.client.create(title="slow %d" % n)["id"] for n in range(8)]
        expect(srv.client.get("/v1/leaves/" + ids[-1]), 200, "read-your-writes GET before the slowdown")

        proxy.delay = 1.5
        results = []

        def slow_read(path):
            t0 = time.monotonic()
            try:
                r = requests.get(srv.base_url + path, timeout=30)
                results.append((path, r.status_code, time.monotonic() - t0))
            except requests.RequestException as e:
                results.append((path, repr(e), time.monotonic() - t0))

        paths = ["/v1/leaves/" + x for x in ids] + ["/v1/leaves?limit=5", "/v1/tags", "/api/leaves"] * 4
        readers = [threading.Thread(target=slow_read, args=(p,)) for p in paths]
        for t in readers:
            t.start()
        time.sleep(0.4)  # every read is now waiting on Cassandra
        health = []
        for _ in range(5):
            t0 = time.monotonic()
            r = requests.get(srv.base_url + "/healthz", timeout=10)
            health.append((r.status_code, round((time.monotonic() - t0) * 1000, 1)))
            time.sleep(0.05)
        in_flight = sum(1 for t in readers if t.is_alive())
        for t in readers:
            t.join(60)
        proxy.delay = 0
        print("slow backends: /healthz (status, ms) %s with %d of %d reads in flight; reads took %s s" % (
            health, in_flight, len(paths), sorted(round(x[2], 1) for x in results)))
        assert in_flight >= len(paths) // 2, \
            "the reads should still be waiting on the delayed node (%d of %d in flight)" % (in_flight, len(paths))
        slow = [h for h in health if h[0] != 200 or h[1] > 250]
        assert not slow, "/healthz with %d Cassandra reads in flight on 2 I/O threads: expected 200 within " \
            "250 ms each, got %s" % (in_flight, health)
        failed = [x for x in results if x[1] != 200]
        assert not failed, "the delayed reads should all succeed, slowly: %s" % failed[:5]
    finally:
        proxy.close()
