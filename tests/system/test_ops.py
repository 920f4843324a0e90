"""Operational endpoints and process behaviour: /healthz, /readyz, /metrics, /openapi.json,
startup log line, env-var configuration, SIGTERM exit code."""

import re

import pytest

from leaves_testlib import describe, describe_cli, expect, expect_error, new_url, run_cli

# Every route of docs/dev/api-contract.md: path -> methods that must be documented.
CONTRACT_ROUTES = {
    "/v1/leaves": {"get", "post"},
    "/v1/leaves/{}": {"get", "patch", "delete"},
    "/v1/leaves/{}/tags": {"post", "put", "delete"},
    "/v1/tags": {"get"},
    "/v1/bulk/leaves": {"post"},
    "/v1/stream": {"get"},
    "/v1/ws": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
    "/openapi.json": {"get"},
    "/api/leaves": {"get", "post"},
    "/api/leaves/{}": {"get", "patch", "delete"},
    "/api/leaves/{}/tags": {"get", "post", "delete"},
}


def test_healthz(client):
    r = client.get("/healthz", consistent=False)
    body = expect(r, 200, "GET /healthz")
    assert body == {"status": "ok"}, "GET /healthz: expected {\"status\":\"ok\"}, got %r" % body


def test_readyz(client):
    r = client.get("/readyz", consistent=False)
    body = expect(r, 200, "GET /readyz on an idle running server")
    assert isinstance(body, dict) and body.get("status") == "ready", (
        "GET /readyz: expected {\"status\":\"ready\",...}, got\n  %s" % describe(r))


def test_startup_line_on_stderr(server):
    want = "leaves: listening on http://127.0.0.1:%d" % server.port
    with open(server.stderr_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert want in log, "expected stderr line %r, stderr tail:\n%s" % (want, server.stderr_tail())


def _metric_sum(text, prefix):
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(prefix) and not line.startswith("#"):
            try:
                total += float(line.rsplit(" ", 1)[1])
                found = True
            except (IndexError, ValueError):
                pass
    return total if found else None


def test_metrics(client):
    r = client.get("/metrics", consistent=False)
    expect(r, 200, "GET /metrics")
    assert r.headers.get("Content-Type", "").startswith("text/plain"), (
        "GET /metrics: Prometheus text should be text/plain, got %r" % r.headers.get("Content-Type"))
    before = _metric_sum(r.text, "leaves_http_requests_total")
    assert before is not None, "GET /metrics: no line starting with leaves_http_requests_total:\n%s" % r.text[:3000]
    lag = [line for line in r.text.splitlines()
           if line.startswith("leaves_") and "lag" in line.split(" ")[0].split("{")[0]]
    assert lag, "GET /metrics: no projector lag metric (a leaves_*lag* line):\n%s" % r.text[:3000]
    for _ in range(3):
        expect(client.get("/healthz", consistent=False), 200)
    after = _metric_sum(client.get("/metrics", consistent=False).text, "leaves_http_requests_total")
    assert after >= before + 3, "leaves_http_requests_total should grow by >= 3 after 3 requests: %s -> %s" % (
        before, after)


def _norm(path):
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_openapi(client):
    r = client.get("/openapi.json", consistent=False)
    doc = expect(r, 200, "GET /openapi.json")
    assert isinstance(doc, dict), "GET /openapi.json is not a JSON object:\n  %s" % describe(r)
    assert str(doc.get("openapi", "")).startswith("3.1"), "openapi version should be 3.1.x, got %r" % doc.get(
        "openapi")
    paths = {_norm(p): {m.lower() for m in ops} for p, ops in (doc.get("paths") or {}).items()}
    missing = [p for p in CONTRACT_ROUTES if p not in paths]
    assert not missing, "openapi.json lacks paths %s; has %s" % (missing, sorted(paths))
    missing_ops = {p: sorted(CONTRACT_ROUTES[p] - paths[p]) for p in CONTRACT_ROUTES if CONTRACT_ROUTES[p] - paths[p]}
    assert not missing_ops, "openapi.json lacks operations: %s" % missing_ops


def test_env_var_configuration(server_factory):
    # LEAVES_LISTEN / LEAVES_DATA_DIR instead of flags, LEAVES_READ_WAIT_MS for the wait.
    srv = server_factory.make(use_env_config=True, env={"LEAVES_READ_WAIT_MS": "300"})
    c = srv.client
    expect(c.get("/healthz", consistent=False), 200, "healthz on env-configured server")
    r = c.get("/v1/leaves", consistent=False, headers={"Leaves-Min-Position": "0:1000000000"})
    expect_error(r, 504, "deadline_exceeded", "LEAVES_READ_WAIT_MS=300 and unreachable min position")
    assert r.elapsed.total_seconds() < 3, "with LEAVES_READ_WAIT_MS=300 the 504 took %.1fs" % (
        r.elapsed.total_seconds())
    srv.stop()


@pytest.mark.parametrize("args,says", [
    (["--max-unprojected=-1"], "--max-unprojected must be between 0 and 100000000, got a negative number"),
    (["--cassandra-meta-cache", "-5"], "--cassandra-meta-cache must be between 0 and 100000000, got a negative number"),
    (["--partitions", "0"], "--partitions must be between 1 and 1024, got 0"),
    (["--read-wait-ms", "-3"], "--read-wait-ms must be between 0 and 3600000, got -3"),
    (["--max-body-bytes", "100"], "--max-body-bytes must be between 1024 and 67108864, got 100"),
    (["--cassandra-compression", "snappy"], "unknown Cassandra compression 'snappy' (none or lz4)"),
    (["--fetch-allow-network", "10.0.0.0/8", "--fetch-allow-network", "10.0.0.0/40"],
     "--fetch-allow-network: '10.0.0.0/40' is not an address range: the prefix length is over 32"),
])
def test_an_option_out_of_range_is_named(leaves_bin, tmp_path, args, says):
    for cmd in ("serve", "replay"):
        res = run_cli(leaves_bin, [cmd, "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:1"] + args, timeout=20)
        assert res.returncode == 2, "%s with %s: expected exit 2\n  %s" % (cmd, args, describe_cli(res))
        assert says in res.stderr, "%s with %s: expected stderr to say %r\n  %s" % (cmd, args, says, describe_cli(res))


def test_sigterm_idle_exits_zero(server_factory):
    srv = server_factory.make()
    c = srv.client
    c.create(url=new_url())
    assert srv.stop(timeout=15, expect_code=0) == 0


def test_sigint_exits_zero(server_factory):
    import signal
    import subprocess
    srv = server_factory.make()
    srv.proc.send_signal(signal.SIGINT)
    try:
        srv.proc.wait(15)
    except subprocess.TimeoutExpired:
        srv.kill()
        raise AssertionError("server did not exit within 15s of SIGINT\n" + srv.stderr_tail())
    assert srv.stop(expect_code=None) == 0, "exit code after SIGINT: expected 0, got %s\n%s" % (
        srv.proc.returncode, srv.stderr_tail())


def test_config_file(server_factory, tmp_path):
    import subprocess
    import time

    import requests

    from leaves_testlib import free_port
    port = free_port()
    cfg = tmp_path / "leaves.conf"
    cfg.write_text("listen = 127.0.0.1:%d\ndata-dir = %s\nread-wait-ms = 300\n" % (port, tmp_path / "cfgdata"))
    # only --config (ServerProcess always passes --listen/--data-dir, so run this one by hand)
    log = open(tmp_path / "cfg-stderr.log", "wb")
    proc = subprocess.Popen([server_factory.binary, "serve", "--config", str(cfg)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        ok = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get("http://127.0.0.1:%d/healthz" % port, timeout=1).status_code == 200:
                    ok = True
                    break
            except requests.RequestException:
                time.sleep(0.05)
        assert ok, "server with --config %s (listen = 127.0.0.1:%d) never answered /healthz; stderr:\n%s" % (
            cfg, port, (tmp_path / "cfg-stderr.log").read_text(errors="replace")[-2000:])
        r = requests.get("http://127.0.0.1:%d/v1/leaves" % port, headers={"Leaves-Min-Position": "0:999999999"},
                         timeout=10)
        expect_error(r, 504, "deadline_exceeded", "read-wait-ms = 300 from the config file")
        assert r.elapsed.total_seconds() < 3, "config read-wait-ms = 300 not applied: 504 after %.1fs" % (
            r.elapsed.total_seconds())
    finally:
        if proc.poll() is None:
            proc.terminate()
        code = proc.wait(15)
        log.close()
    assert code == 0, "exit code after SIGTERM: %s" % code
