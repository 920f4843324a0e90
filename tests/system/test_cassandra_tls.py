"""`leaves serve` on a real Cassandra node over TLS with PasswordAuthenticator
(LEAVES_TEST_CASSANDRA_TLS=host:port of a node started with CASSANDRA_AUTH=password
and CASSANDRA_TLS, LEAVES_TEST_CASSANDRA_TLS_CA its test CA): the server verifies
the node's certificate, logs in with a role of its own whose password comes from
the environment, and never writes that password anywhere."""

import os
import ssl
import uuid

import pytest

from leaves_testlib import ServerProcess, ServerStartError, expect, new_url

NODE = os.environ.get("LEAVES_TEST_CASSANDRA_TLS")
CA = os.environ.get("LEAVES_TEST_CASSANDRA_TLS_CA")
pytestmark = pytest.mark.skipif(not NODE or not CA, reason="LEAVES_TEST_CASSANDRA_TLS(_CA) not set (no TLS node)")

ROLE = "leaves_tls_" + uuid.uuid4().hex[:8]
SECRET = "S3cret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def admin():
    """The superuser over TLS (python3-cassandra), which makes a role for the server."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster

    host, _, port = NODE.partition(":")
    cluster = Cluster([host], port=int(port or 9042), connect_timeout=10,
                      ssl_context=ssl.create_default_context(cafile=CA),
                      auth_provider=PlainTextAuthProvider("cassandra", "cassandra"))
    session = cluster.connect()
    session.execute("CREATE ROLE %s WITH PASSWORD = '%s' AND LOGIN = true" % (ROLE, SECRET))
    session.execute("GRANT CREATE ON ALL KEYSPACES TO %s" % ROLE)
    yield session
    session.execute("DROP ROLE IF EXISTS %s" % ROLE)
    cluster.shutdown()


def serve(leaves_bin, tmp_path, keyspace, ca):
    args = ["--cassandra", NODE, "--cassandra-keyspace", keyspace, "--cassandra-consistency", "one",
            "--cassandra-tls", "--cassandra-tls-ca-file", ca, "--cassandra-username", ROLE]
    srv = ServerProcess(leaves_bin, tmp_path / "data", tmp_path / "logs", args=args,
                        env={"LEAVES_CASSANDRA_PASSWORD": SECRET})
    assert not srv.backend_args, "run this file alone, without LEAVES_TEST_CASSANDRA or LEAVES_TEST_KAFKA"
    return srv


def test_serves_over_tls_with_its_own_role_and_never_logs_the_password(leaves_bin, tmp_path, admin):
    keyspace = "tls_" + uuid.uuid4().hex[:10]
    srv = serve(leaves_bin, tmp_path, keyspace, CA)
    srv.start(timeout=60)
    try:
        leaf = srv.client.create(url=new_url(), title="over TLS", tags=["tls"])
        got = expect(srv.client.get("/api/leaves/" + leaf["id"]), 200, "reference GET over TLS")
        assert got["title"] == "over TLS" and got["tags"] == ["tls"], got
        ready = expect(srv.client.get("/readyz"), 200, "readyz")
        assert ready["projector"]["store_ok"] is True and ready["status"] == "ready", ready
        row = admin.execute("SELECT title FROM %s.leaves WHERE id = %%s" % keyspace, [leaf["id"]]).one()
        assert row is not None and row.title == "over TLS", "the row is not in %s.leaves: %r" % (keyspace, row)
    finally:
        srv.stop(timeout=15, expect_code=0)
        admin.execute("DROP KEYSPACE IF EXISTS %s" % keyspace)
    with open(srv.stderr_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    assert SECRET not in log, "the Cassandra password appears in the server's log"


def test_a_node_certificate_no_trusted_ca_signed_stops_the_start(leaves_bin, tmp_path, admin):
    srv = serve(leaves_bin, tmp_path, "tls_never", "/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(ServerStartError) as e:
        srv.start(timeout=60)
    assert "certificate" in str(e.value), "the start failure should name the certificate problem: %s" % e.value
    assert SECRET not in str(e.value), "the Cassandra password appears in the start error"
