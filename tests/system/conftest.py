"""Fixtures for the leaves system tests.

- leaves_bin: path of the binary (env LEAVES_BIN, default <repo>/build/leaves).
- server (module scope): one running `leaves serve` on a fresh data dir; yields a ServerProcess
  (server.client is a leaves_testlib.Client with base URL and a requests.Session).
- client (module scope): shorthand for server.client.
- server_factory (function scope): make(data_dir=None, args=(), ...) -> started ServerProcess;
  the test can stop()/kill()/start()/restart() it; leftovers are stopped at teardown.
"""

import os
import pathlib

import pytest

pytest.register_assert_rewrite("leaves_testlib")

from leaves_testlib import ServerProcess  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]

# The suite runs again on each backend (LEAVES_TEST_KAFKA, LEAVES_TEST_CASSANDRA,
# both, and with the events in Avro: tests/CMakeLists.txt). Tests that touch
# neither the event log nor the read models run in the embedded suite only:
# those that start no server (command-line tools, scripts; but not in the
# modules about a backend, which run only with it), and the modules of the
# HTTP edge and of how the UI's files are served.
EDGE_ONLY_MODULES = {"test_http_edge.py", "test_ui_serving.py"}
SERVER_FIXTURES = {"server", "client", "server_factory"}
BACKEND_WORDS = ("kafka", "cassandra", "avro")


def _on_a_backend():
    return bool(os.environ.get("LEAVES_TEST_KAFKA") or os.environ.get("LEAVES_TEST_CASSANDRA")
                or os.environ.get("LEAVES_TEST_EVENT_FORMAT") == "avro")


def pytest_collection_modifyitems(config, items):
    if not _on_a_backend():
        return
    skip = pytest.mark.skip(reason="independent of the backends: runs in the embedded suite")
    for item in items:
        name = item.path.name
        serverless = not SERVER_FIXTURES & set(item.fixturenames)
        if name in EDGE_ONLY_MODULES or (serverless and not any(w in name for w in BACKEND_WORDS)):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def leaves_bin():
    path = os.environ.get("LEAVES_BIN") or str(REPO / "build" / "leaves")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("leaves binary not found or not executable: %s (set LEAVES_BIN)" % path, pytrace=False)
    return path


@pytest.fixture(scope="module")
def server(leaves_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("srv")
    srv = ServerProcess(leaves_bin, base / "data", base / "logs")
    srv.start()
    yield srv
    srv.stop(timeout=15, expect_code=0)
    srv.drop_keyspace()


@pytest.fixture(scope="module")
def client(server):
    return server.client


class ServerFactory:
    def __init__(self, binary, tmp_path):
        self.binary = binary
        self.tmp = tmp_path
        self.servers = []
        self._n = 0

    def new_data_dir(self):
        self._n += 1
        d = self.tmp / ("data%d" % self._n)
        d.mkdir()
        return d

    def make(self, data_dir=None, args=(), env=None, use_env_config=False, start=True, **names):
        """names: kafka_name= / keyspace= to share a topic, group or keyspace between servers."""
        data_dir = data_dir or self.new_data_dir()
        srv = ServerProcess(self.binary, data_dir, self.tmp / "logs", args=args, env=env,
                            use_env_config=use_env_config, **names)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def cleanup(self):
        errors = []
        for srv in self.servers:
            if srv.running():
                try:
                    srv.stop(timeout=15, expect_code=0)
                except AssertionError as e:
                    errors.append(str(e))
            srv.drop_keyspace()
        if errors:
            pytest.fail("server teardown: " + "\n".join(errors), pytrace=False)


@pytest.fixture
def server_factory(leaves_bin, tmp_path):
    f = ServerFactory(leaves_bin, tmp_path)
    try:
        yield f
    finally:
        f.cleanup()
