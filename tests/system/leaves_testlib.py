"""Helpers for the leaves black-box system tests (stdlib + requests only).

- ServerProcess: starts/stops a real `leaves serve` process.
- Client: base URL + requests.Session, remembers the Leaves-Position of its writes
  so reads can ask for read-your-writes (Leaves-Min-Position).
- expect()/expect_error(): status/body assertions with readable messages.
- raw_http(): a raw-socket HTTP exchange for cases where requests would choke
  (413 before the body is read, 431 huge headers).
- SSEClient / WSClient: minimal Server-Sent-Events and WebSocket clients.
"""

import base64
import hashlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import requests

DEFAULT_TIMEOUT = 5.0
POSITION_RE = re.compile(r"^\d+:\d+$")
ISO_MS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# --------------------------------------------------------------------------- misc


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_counter = itertools.count()


def unique(prefix="t"):
    """A short unique token for tags, titles, URLs."""
    return "%s%s%d" % (prefix, uuid.uuid4().hex[:10], next(_counter))


def metric(client, name):
    """The value of an unlabelled sample in the server's /metrics."""
    r = client.get("/metrics", consistent=False)
    assert r.status_code == 200, "GET /metrics: expected 200, got %s %s" % (r.status_code, r.text[:300])
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("metric %s not found in /metrics" % name)


def new_url(prefix="https://example.com/"):
    return "%s%s" % (prefix, unique("p"))


def md5_hex(s):
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def reference_record(url, **over):
    """A leaf record with every field of data/leaves-record-schema.avsc (as the
    workshop's importer sends it), `over` replacing some."""
    rec = {
        "is_archived": 0, "all": [], "is_starred": 1, "user_name": "ingest", "user_email": "i@example.com",
        "user_id": 7, "tags": ["ingested"], "slugs": ["ingested"], "is_public": False, "id": md5_hex(url),
        "title": "From Kafka", "url": url, "content_text": "text", "created_at": 1564782312000,
        "updated_at": 1564782318000, "mimetype": "text/html", "language": "en", "reading_time": 3,
        "domain_name": "example.org", "preview_picture": None, "http_status": 200,
        "_links": ["/api/entries/x"], "published_by": None, "published_at": None, "content": "<p>text</p>",
    }
    rec.update(over)
    return rec


def unique_user():
    return int(uuid.uuid4().int % 900_000_000) + 100_000_000


def trunc(s, n=800):
    if s is None:
        return "<none>"
    if isinstance(s, bytes):
        s = s.decode("utf-8", "replace")
    return s if len(s) <= n else s[:n] + "...(%d bytes)" % len(s)


def describe(resp):
    """One-paragraph description of a requests.Response for assertion messages."""
    req = resp.request
    body = req.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    hdrs = {k: v for k, v in resp.headers.items()
            if k.lower() in ("content-type", "leaves-position", "etag", "allow", "location")}
    return "%s %s%s\n  -> HTTP %s %s\n  response body: %s" % (
        req.method, req.url,
        ("\n  request body: %s" % trunc(body, 300)) if body else "",
        resp.status_code, hdrs, trunc(resp.text))


def expect(resp, status, what=""):
    """Asserts the status code; returns the parsed JSON body (or None if not JSON)."""
    statuses = status if isinstance(status, (tuple, list, set)) else (status,)
    assert resp.status_code in statuses, "%sexpected HTTP %s, got %s\n  %s" % (
        (what + ": ") if what else "", "/".join(map(str, statuses)), resp.status_code, describe(resp))
    try:
        return resp.json()
    except ValueError:
        return None


def expect_error(resp, status, code=None, what="", message_contains=None):
    """Asserts an error response {"error":{"code","message"}} with the given status/code."""
    body = expect(resp, status, what)
    prefix = (what + ": ") if what else ""
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (
        "%sexpected JSON error body {\"error\":{\"code\",\"message\"}}, got\n  %s" % (prefix, describe(resp)))
    err = body["error"]
    assert isinstance(err.get("code"), str) and isinstance(err.get("message"), str), (
        "%serror must have string code and message, got %r\n  %s" % (prefix, err, describe(resp)))
    if code is not None:
        codes = code if isinstance(code, (tuple, list, set)) else (code,)
        assert err["code"] in codes, "%sexpected error code %s, got %r\n  %s" % (
            prefix, "/".join(codes), err["code"], describe(resp))
    if message_contains is not None:
        assert message_contains in err["message"], (
            "%serror message should name %r, got %r\n  %s" % (prefix, message_contains, err["message"],
                                                             describe(resp)))
    return err


def parse_positions(header):
    """'p:o[,p:o...]' -> {p: o}."""
    out = {}
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        p, o = part.split(":")
        out[int(p)] = max(out.get(int(p), -1), int(o))
    return out


def format_positions(pos):
    return ",".join("%d:%d" % (p, o) for p, o in sorted(pos.items()))


def wait_until(fn, timeout=10.0, interval=0.05, what="condition"):
    """Polls fn() until it returns a truthy value; returns it; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


# --------------------------------------------------------------------------- client


class Client:
    """Base URL + requests.Session. Tracks the positions of this client's writes."""

    def __init__(self, base_url, timeout=DEFAULT_TIMEOUT):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout
        self.positions = {}
        m = re.match(r"^http://([^:/]+):(\d+)$", self.base)
        self.host, self.port = m.group(1), int(m.group(2))

    def url(self, path):
        return self.base + path

    def track(self, resp):
        h = resp.headers.get("Leaves-Position")
        if h:
            try:
                for p, o in parse_positions(h).items():
                    self.positions[p] = max(self.positions.get(p, -1), o)
            except ValueError:
                pass  # malformed header is asserted on by the tests that care
        return resp

    def min_position(self):
        return format_positions(self.positions)

    def request(self, method, path, consistent=False, timeout=None, headers=None, **kw):
        headers = dict(headers or {})
        if consistent and self.positions:
            headers.setdefault("Leaves-Min-Position", self.min_position())
        resp = self.session.request(method, self.url(path), headers=headers,
                                    timeout=timeout or self.timeout, **kw)
        return self.track(resp)

    # Reads default to read-your-writes over this client's own writes.
    def get(self, path, consistent=True, **kw):
        kw.setdefault("timeout", 10)
        return self.request("GET", path, consistent=consistent, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # --- conveniences
    def create(self, url=None, status=201, **fields):
        body = dict(fields)
        body["url"] = url or new_url()
        r = self.post("/v1/leaves", json=body)
        return expect(r, status, "create leaf")

    def get_leaf(self, leaf_id):
        return expect(self.get("/v1/leaves/%s" % leaf_id), 200, "get leaf")

    def list_all(self, query="", limit=None, max_pages=200):
        """Follows next_page_token; returns (items, pages)."""
        items, pages, token = [], [], None
        for _ in range(max_pages):
            q = query
            if limit:
                q += "&limit=%d" % limit
            if token is not None:
                q += "&page_token=%s" % requests.utils.quote(token, safe="")
            r = self.get("/v1/leaves?" + q.lstrip("&"))
            body = expect(r, 200, "list leaves")
            assert isinstance(body, dict) and isinstance(body.get("items"), list) and "next_page_token" in body, (
                "list response must be {items:[...], next_page_token}, got\n  %s" % describe(r))
            items.extend(body["items"])
            pages.append(body)
            token = body["next_page_token"]
            if token is None:
                return items, pages
            assert isinstance(token, str) and token, "next_page_token must be a non-empty string or null: %r" % token
        raise AssertionError("more than %d pages for query %r: paging does not terminate" % (max_pages, query))

    def tags(self, limit=1000):
        body = expect(self.get("/v1/tags?limit=%d" % limit), 200, "GET /v1/tags")
        return {it["tag"]: it["count"] for it in body["items"]}, body


# --------------------------------------------------------------------------- server


_cassandra = {}


def cassandra_session():
    """A python3-cassandra session to LEAVES_TEST_CASSANDRA (one per test process)."""
    if "session" not in _cassandra:
        from cassandra.cluster import Cluster

        host, _, port = os.environ["LEAVES_TEST_CASSANDRA"].partition(":")
        cluster = Cluster([host], port=int(port or 9042), connect_timeout=10)
        _cassandra["cluster"] = cluster
        _cassandra["session"] = cluster.connect()
    return _cassandra["session"]


class ServerStartError(AssertionError):
    pass


class ServerProcess:
    """One `leaves serve` process on a data dir. stderr goes to a file in log_dir."""

    _seq = itertools.count()

    def __init__(self, binary, data_dir, log_dir, args=(), env=None, use_env_config=False, kafka_name=None,
                 keyspace=None, kafka_group=None, anonymous="all"):
        self.binary = binary
        self.data_dir = str(data_dir)
        self.log_dir = str(log_dir)
        # With LEAVES_TEST_KAFKA=host:port the whole suite runs on a real Kafka
        # broker: each server gets a topic and consumer group of its own, kept
        # across restarts so it sees its own history.
        self.kafka_args = []
        kafka = os.environ.get("LEAVES_TEST_KAFKA")
        if kafka:
            name = kafka_name or "leaves-sys-" + uuid.uuid4().hex[:12]
            self.kafka_topics = {"events": name, "ingest": name + "-ingest", "dlq": name + "-dlq"}
            self.kafka_args = ["--kafka", kafka, "--kafka-topic", name, "--kafka-group", kafka_group or name,
                               "--kafka-ingest-topic", name + "-ingest", "--kafka-dlq-topic", name + "-dlq",
                               "--kafka-ingest-group", name + "-ingest", "--enrich-group", name + "-enrich"]
        # With LEAVES_TEST_CASSANDRA=host:port the read models live in a real
        # Cassandra node: each server gets a keyspace of its own, dropped when
        # the test is done (drop_keyspace()).
        self.cassandra_args = []
        self.keyspace = None
        cassandra = os.environ.get("LEAVES_TEST_CASSANDRA")
        if cassandra:
            self.keyspace = keyspace or "sys_" + uuid.uuid4().hex[:12]
            self.cassandra_args = ["--cassandra", cassandra, "--cassandra-keyspace", self.keyspace,
                                   "--cassandra-consistency", "one"]
        # With LEAVES_TEST_EVENT_FORMAT=avro (and LEAVES_TEST_REGISTRY) the
        # server writes its events in Avro, its schema registered in the real
        # registry; a test that names its own --schema-registry or
        # --event-format keeps to its own.
        self.event_format_args = []
        if (os.environ.get("LEAVES_TEST_EVENT_FORMAT") == "avro" and os.environ.get("LEAVES_TEST_REGISTRY")
                and "--schema-registry" not in args and "--event-format" not in args):
            self.event_format_args = ["--event-format", "avro", "--schema-registry",
                                      os.environ["LEAVES_TEST_REGISTRY"]]
        # What `leaves replay` and other commands need to find the same log and store.
        self.backend_args = self.kafka_args + self.cassandra_args + self.event_format_args
        # The suite's requests carry no token: servers let anonymous callers
        # read and write (--anonymous all) unless a test says otherwise
        # (args naming --anonymous, or anonymous=None for the real default;
        # test_auth.py covers the other modes).
        self.args = list(args) + self.backend_args
        if anonymous and "--anonymous" not in self.args and "LEAVES_ANONYMOUS" not in (env or {}):
            self.args += ["--anonymous", anonymous]
        # Enrichment (on by default) would fetch every URL a test saves
        # without a title, from a machine with no way out, and add an answer
        # event (and a version) to those leaves some seconds later: off
        # unless a test asks for it (test_enrich.py).
        if "--enrich" not in self.args and "LEAVES_ENRICH" not in (env or {}):
            self.args += ["--enrich", "false"]
        self.env = dict(env or {})
        self.use_env_config = use_env_config
        self.proc = None
        self.port = None
        self.stderr_path = None
        self._stderr_file = None
        self.client = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def stderr_tail(self, n=40):
        try:
            with open(self.stderr_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except (OSError, TypeError):
            return "<no stderr>"

    def start(self, timeout=20.0):
        last_err = None
        for _attempt in range(3):
            try:
                self._start_once(timeout)
                return self
            except ServerStartError as e:
                last_err = e
                if "in use" not in self.stderr_tail().lower():
                    raise
        raise last_err

    def _start_once(self, timeout):
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        os.makedirs(self.log_dir, exist_ok=True)
        self.port = free_port()
        self.stderr_path = os.path.join(self.log_dir, "stderr-%d-%d.log" % (os.getpid(), next(self._seq)))
        self._stderr_file = open(self.stderr_path, "wb")
        env = dict(os.environ)
        env.update(self.env)
        listen = "127.0.0.1:%d" % self.port
        if self.use_env_config:
            env["LEAVES_LISTEN"] = listen
            env["LEAVES_DATA_DIR"] = self.data_dir
            cmd = [self.binary, "serve"] + self.args
        else:
            cmd = [self.binary, "serve", "--listen", listen, "--data-dir", self.data_dir] + self.args
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._stderr_file,
                                     stderr=self._stderr_file, env=env)
        deadline = time.monotonic() + timeout
        last = "no response"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError("server exited with code %s during startup: %s\n--- stderr tail:\n%s" % (
                    self.proc.returncode, " ".join(cmd), self.stderr_tail()))
            try:
                r = requests.get(self.base_url + "/healthz", timeout=1)
                if r.status_code == 200:
                    self.client = Client(self.base_url)
                    return
                last = "HTTP %d %s" % (r.status_code, trunc(r.text, 200))
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise ServerStartError("server did not answer 200 on /healthz within %.0fs (last: %s): %s\n--- stderr tail:\n%s"
                               % (timeout, last, " ".join(cmd), self.stderr_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15.0, expect_code=0):
        """SIGTERM; asserts exit within `timeout` with `expect_code`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._close()
                raise AssertionError("server did not exit within %.0fs of SIGTERM (killed)\n--- stderr tail:\n%s"
                                     % (timeout, self.stderr_tail()))
        code = self.proc.returncode
        self._close()
        if expect_code is not None:
            assert code == expect_code, "expected exit code %s after SIGTERM, got %s\n--- stderr tail:\n%s" % (
                expect_code, code, self.stderr_tail())
        return code

    def kill(self):
        """SIGKILL (kill -9) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def drop_keyspace(self):
        """Drops this server's Cassandra keyspace (without waiting), if it has one."""
        if self.keyspace:
            cassandra_session().execute_async("DROP KEYSPACE IF EXISTS %s" % self.keyspace)
            self.keyspace = None

    def restart(self, timeout=20.0):
        self.stop()
        return self.start(timeout)

    def _close(self):
        if self.client is not None:
            self.client.session.close()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None


def run_cli(binary, args, timeout=60, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=e)


def describe_cli(res):
    return "command: %s\n  exit code: %s\n  stdout: %s\n  stderr: %s" % (
        " ".join(res.args), res.returncode, trunc(res.stdout, 1500), trunc(res.stderr, 1500))


# --------------------------------------------------------------------------- raw sockets


def recv_some(sock, deadline):
    """One recv() bounded by `deadline`: (data, closed). No data on timeout."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return b"", False
    sock.settimeout(remaining)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return b"", False
    except OSError:
        return b"", True
    return data, not data


class _Conn:
    """Raw socket with a read buffer and optional chunked decoding."""

    def __init__(self, host, port, timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.raw = b""
        self.closed = False
        self.chunked = False
        self.body = b""
        self._chunk_left = 0   # payload bytes left in current chunk
        self._crlf_left = 0    # bytes of the CRLF after a chunk still to skip
        self.chunk_eof = False

    def sendall(self, data):
        try:
            self.sock.sendall(data)
            return None
        except OSError as e:  # server may answer early and close (413/431)
            return e

    def _recv(self, deadline):
        if self.closed:
            return False
        data, self.closed = recv_some(self.sock, deadline)
        self.raw += data
        return bool(data)

    def read_head(self, deadline):
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline):
                raise AssertionError("no complete HTTP response head (got %r)" % trunc(self.raw, 300))
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("iso-8859-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        return status, headers

    def _decode(self):
        if not self.chunked:
            self.body += self.raw
            self.raw = b""
            return
        while self.raw and not self.chunk_eof:
            if self._crlf_left:
                n = min(self._crlf_left, len(self.raw))
                self.raw = self.raw[n:]
                self._crlf_left -= n
                continue
            if self._chunk_left == 0:
                i = self.raw.find(b"\r\n")
                if i < 0:
                    return
                size = int(self.raw[:i].split(b";")[0].strip() or b"0", 16)
                self.raw = self.raw[i + 2:]
                if size == 0:
                    self.chunk_eof = True
                    return
                self._chunk_left = size
                continue
            n = min(self._chunk_left, len(self.raw))
            self.body += self.raw[:n]
            self.raw = self.raw[n:]
            self._chunk_left -= n
            if self._chunk_left == 0:
                self._crlf_left = 2

    def read_more(self, deadline):
        """Reads more body bytes (decoded) into self.body; False on timeout/EOF.
        Bytes that came with the response head (or an earlier read) and are
        not decoded yet count: no recv() waits while they sit in self.raw."""
        before = len(self.body)
        self._decode()
        if len(self.body) > before:
            return True
        got = self._recv(deadline)
        self._decode()
        return got

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class RawResponse:
    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "HTTP %s headers=%s body=%s" % (self.status_code, self.headers, trunc(self.body, 500))


def raw_http(host, port, request_bytes, timeout=10.0):
    """Sends request bytes (ignoring send errors), returns RawResponse (reads until EOF/Content-Length)."""
    c = _Conn(host, port, timeout)
    try:
        send_err = c.sendall(request_bytes)
        deadline = time.monotonic() + timeout
        try:
            status, headers = c.read_head(deadline)
        except AssertionError as e:
            raise AssertionError("%s; send error: %r" % (e, send_err))
        length = headers.get("content-length")
        while True:
            c._decode()
            if length is not None and len(c.body) >= int(length):
                break
            if c.chunked and c.chunk_eof:
                break
            if not c.read_more(deadline):
                break
        return RawResponse(status, headers, c.body)
    finally:
        c.close()


# --------------------------------------------------------------------------- SSE


class SSEClient:
    """Minimal SSE client over a raw socket. events() yields dicts {id, event, data, json}."""

    def __init__(self, host, port, path, headers=None, timeout=DEFAULT_TIMEOUT):
        self.conn = _Conn(host, port, timeout)
        h = {"Host": "%s:%d" % (host, port), "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        h.update(headers or {})
        req = "GET %s HTTP/1.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in h.items()))
        self.conn.sendall(req.encode())
        self.status, self.headers = self.conn.read_head(time.monotonic() + timeout)
        self._buf = b""
        self.events_seen = []

    def _take_event(self):
        self._buf += self.conn.body
        self.conn.body = b""
        buf = self._buf.replace(b"\r\n", b"\n")
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            self._buf = buf
            ev = {"id": None, "event": "message", "data": None}
            data_lines = []
            for line in block.decode("utf-8", "replace").split("\n"):
                if not line or line.startswith(":"):
                    continue
                k, _, v = line.partition(":")
                if v.startswith(" "):
                    v = v[1:]
                if k == "data":
                    data_lines.append(v)
                elif k in ("id", "event", "retry"):
                    ev[k] = v
            if not data_lines:
                continue
            ev["data"] = "\n".join(data_lines)
            try:
                ev["json"] = json.loads(ev["data"])
            except ValueError:
                ev["json"] = None
            self.events_seen.append(ev)
            return ev
        self._buf = buf
        return None

    def next_event(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            ev = self._take_event()
            if ev is not None:
                return ev
            if not self.conn.read_more(deadline):
                ev = self._take_event()
                return ev

    def collect(self, duration, until=None):
        """Collects events for `duration` seconds (or until until(events) is true)."""
        out = []
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            ev = self.next_event(max(0.0, deadline - time.monotonic()))
            if ev is None:
                if self.conn.closed:
                    break
                continue
            out.append(ev)
            if until is not None and until(out):
                break
        return out

    def close(self):
        self.conn.close()


# --------------------------------------------------------------------------- WebSocket


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WSClient:
    """Minimal RFC 6455 client: handshake, read unmasked server frames, answer pings."""

    def __init__(self, host, port, path, timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n") % (path, host, port, key)
        self.sock.sendall(req.encode())
        self.buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._recv(deadline):
                raise AssertionError("WebSocket handshake: no response head (got %r)" % trunc(self.buf, 300))
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("iso-8859-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        expected_accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.accept_ok = self.headers.get("sec-websocket-accept") == expected_accept
        self.closed = False

    def _recv(self, deadline):
        data, self.closed = recv_some(self.sock, deadline)
        self.buf += data
        return bool(data)

    def _need(self, n, deadline):
        while len(self.buf) < n:
            if not self._recv(deadline):
                return False
        return True

    def _read_frame(self, deadline):
        if not self._need(2, deadline):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        fin, opcode, masked, ln = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
        hdr = 2
        if ln == 126:
            if not self._need(4, deadline):
                return None
            ln = int.from_bytes(self.buf[2:4], "big")
            hdr = 4
        elif ln == 127:
            if not self._need(10, deadline):
                return None
            ln = int.from_bytes(self.buf[2:10], "big")
            hdr = 10
        assert not masked, "server-to-client WebSocket frames must not be masked (RFC 6455 5.1)"
        if not self._need(hdr + ln, deadline):
            return None
        payload = self.buf[hdr:hdr + ln]
        self.buf = self.buf[hdr + ln:]
        return fin, opcode, payload

    def send_frame(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            hdr = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.sendall(hdr + mask + masked)
        except OSError:
            self.closed = True

    def recv_text(self, timeout):
        """Next complete text message (str), or None on timeout/close."""
        deadline = time.monotonic() + timeout
        parts, msg_opcode = [], None
        while True:
            fr = self._read_frame(deadline)
            if fr is None:
                return None
            fin, opcode, payload = fr
            if opcode == 0x9:  # ping
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                self.closed = True
                self.close_payload = payload
                return None
            if opcode in (0x1, 0x2):
                msg_opcode = opcode
                parts = [payload]
            elif opcode == 0x0:
                parts.append(payload)
            if fin:
                data = b"".join(parts)
                return data.decode("utf-8") if msg_opcode == 0x1 else data

    def collect_json(self, duration, until=None):
        out = []
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and not self.closed:
            m = self.recv_text(max(0.0, deadline - time.monotonic()))
            if m is None:
                continue
            out.append(json.loads(m))
            if until is not None and until(out):
                break
        return out

    def close(self):
        try:
            if not self.closed:
                self.send_frame(0x8, (1000).to_bytes(2, "big"))
        finally:
            try:
                self.sock.close()
            except OSError:
                pass


def wordy_pdf(words):
    """A PDF of one page holding `words` short words in a 1-point font, each
    on the page: reading its text takes poppler about 50 MiB per 100,000."""
    text = " ".join("(w%d x y z) Tj 0 -0.005 Td" % i for i in range(words))
    return pdf_of(("BT /F1 1 Tf 72 720 Td %s ET" % text).encode("latin-1"), "Words", "Many Words")


def pdf_of(stream, title, author):
    def esc(s):
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ("<< /Title (%s) /Author (%s) >>" % (esc(title), esc(author))).encode("latin-1"),
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def tiny_pdf(title, lines, author="Ann Writer"):
    """A small valid PDF (one page of Helvetica text, an Info dictionary with
    a title and author), written out with its cross-reference table."""
    def esc(s):
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    text = " ".join("(%s) Tj 0 -28 Td" % esc(l) for l in lines)
    return pdf_of(("BT /F1 18 Tf 72 720 Td %s ET" % text).encode("latin-1"), title, author)
