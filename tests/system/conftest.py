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
