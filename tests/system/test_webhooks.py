"""Webhooks (docs/webhooks.md): a user's webhook receives the leaf events
that user may see, signed with HMAC-SHA256; failures are retried, then the
webhook is disabled; the delivery log; internal targets refused unless
--webhook-allow-private. The receiver is a real HTTP server on loopback."""

import hashlib
import hmac
import http.server
import json
import threading
import time

from leaves_testlib import expect, expect_error, new_url, unique, wait_until
from test_auth import ADMIN_TOKEN, as_user, make_user


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers with
    the next status of `statuses` (the last one repeats)."""

    def __init__(self):
        self.got = []
        self.statuses = [200]
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.got.append((dict(self.headers), body))
                    status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook?x=1" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def bodies(self):
        with self.lock:
            return [(h, json.loads(b)) for h, b in self.got]

    def close(self):
        self.httpd.shutdown()


def verify(secret, headers, raw):
    sig = dict(p.split("=", 1) for p in headers["Leaves-Signature"].split(","))
    want = hmac.new(secret.encode(), (sig["t"] + ".").encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig["v1"], want), "the signature does not verify: %r" % headers["Leaves-Signature"]
    assert abs(int(sig["t"]) - time.time()) < 120, "the signed time is not now: %r" % sig["t"]


def test_deliveries_signed_filtered_retried_and_disabled(server_factory):
    srv = server_factory.make(args=["--anonymous", "none", "--webhook-allow-private", "--webhook-retry-ms", "50",
                                    "--webhook-attempts", "2", "--webhook-disable-after", "3"],
                              env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    rx = Receiver()
    try:
        cal_token, _ = make_user(admin, "cal", "curator")
        other_token, _ = make_user(admin, "oli", "curator")
        cal, oli = as_user(srv, cal_token), as_user(srv, other_token)
        tag = unique("hook")
        made = expect(cal.post("/v1/users/cal/webhooks", json={"url": rx.url, "tag": tag}), 201, "create a webhook")
        secret, hook_id = made["secret"], made["id"]
        assert len(secret) == 64 and made["enabled"] is True and made["tag"] == tag, made
        listed = expect(cal.get("/v1/users/cal/webhooks"), 200, "list")["items"]
        assert [w["id"] for w in listed] == [hook_id] and "secret" not in listed[0], listed
        expect_error(oli.get("/v1/users/cal/webhooks"), 404, "user_not_found", "another user's webhooks")

        mine = expect(cal.post("/v1/leaves", json={"url": new_url(), "tags": [tag]}), 201, "cal's private leaf")["id"]
        expect(cal.post("/v1/leaves", json={"url": new_url(), "tags": ["other"]}), 201, "untagged")
        hidden = expect(oli.post("/v1/leaves", json={"url": new_url(), "tags": [tag]}), 201, "oli's private")["id"]
        public = expect(oli.post("/v1/leaves", json={"url": new_url(), "tags": [tag], "is_public": True}), 201,
                        "oli's public leaf")["id"]
        got = wait_until(lambda: (lambda b: b if len(b) >= 2 else None)(rx.bodies()), what="two deliveries")
        time.sleep(0.5)
        got = rx.bodies()
        leaf_ids = [b["event"]["leaf_id"] for _, b in got]
        assert leaf_ids == [mine, public], (
            "expected the events of cal's own leaf and of oli's public one (tag %s), got %r (oli's private: %s)"
            % (tag, leaf_ids, hidden))
        with rx.lock:
            raw = [b for _, b in rx.got]
        for (h, b), r in zip(got, raw):
            verify(secret, h, r)
            assert h["Leaves-Event"] == "leaf.created" and b["event"]["type"] == "leaf.created", (h, b)
            assert h["Leaves-Delivery"] == b["delivery_id"] and b["webhook_id"] == hook_id and b["user"] == "cal", b
            assert h["Content-Type"] == "application/json", h

        # A 500 is retried; the delivery log says how it went.
        rx.statuses = [500, 200]
        again = expect(cal.post("/v1/leaves", json={"url": new_url(), "tags": [tag]}), 201, "a third leaf")["id"]
        wait_until(lambda: len(rx.bodies()) >= 4, what="a failed and a retried delivery")
        log = expect(cal.get("/v1/users/cal/webhooks/%s/deliveries" % hook_id), 200, "the delivery log")["items"]
        assert log[0]["leaf_id"] == again and log[0]["attempts"] == 2 and log[0]["ok"] is True, log[0]
        assert log[0]["status"] == 200 and all(x["ok"] for x in log), log

        # Failing deliveries: each tried twice, then after three the webhook is off.
        rx.statuses = [503]
        for _ in range(3):
            expect(cal.post("/v1/leaves", json={"url": new_url(), "tags": [tag]}), 201, "a leaf to a failing hook")
        off = wait_until(lambda: (lambda w: w if not w["enabled"] else None)(
            expect(cal.get("/v1/users/cal/webhooks"), 200, "list")["items"][0]), timeout=15,
            what="the webhook disabled after three failed deliveries")
        assert "3 deliveries in a row failed" in off["disabled_reason"] and "503" in off["disabled_reason"], off
        log = expect(cal.get("/v1/users/cal/webhooks/%s/deliveries" % hook_id), 200, "the log")["items"]
        assert [x["ok"] for x in log[:3]] == [False] * 3 and log[0]["attempts"] == 2, log[:3]
        count = len(rx.bodies())
        expect(cal.post("/v1/leaves", json={"url": new_url(), "tags": [tag]}), 201, "a leaf while it is off")
        time.sleep(1.0)
        assert len(rx.bodies()) == count, "a disabled webhook should receive nothing"
        # Turned on again, it delivers.
        rx.statuses = [200]
        on = expect(cal.patch("/v1/users/cal/webhooks/" + hook_id, json={"enabled": True}), 200, "turn it on")
        assert on["enabled"] is True, on
        time.sleep(1.2)  # the dispatcher picks the change up within a second
        last = expect(cal.post("/v1/leaves", json={"url": new_url(), "tags": [tag]}), 201, "a leaf after")["id"]
        wait_until(lambda: any(b["event"]["leaf_id"] == last for _, b in rx.bodies()), what="delivery after on")
        expect_error(cal.patch("/v1/users/cal/webhooks/" + hook_id, json={"enabled": "yes"}), 422, "invalid_field",
                     "enabled must be a boolean")
        expect(cal.delete("/v1/users/cal/webhooks/" + hook_id), 200, "delete it")
        assert expect(cal.get("/v1/users/cal/webhooks"), 200, "list")["items"] == []
        expect_error(cal.delete("/v1/users/cal/webhooks/" + hook_id), 404, "webhook_not_found", "delete twice")
        log_text = open(srv.stderr_path).read()
        assert secret not in log_text, "a webhook secret appears in the server's log"
    finally:
        rx.close()


def test_internal_targets_are_refused_by_default(server_factory):
    srv = server_factory.make(args=["--anonymous", "none"], env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    for url in ("http://127.0.0.1:9/x", "http://localhost:9/", "http://[::1]/", "http://10.1.2.3/",
                "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"):
        r = admin.post("/v1/users/admin/webhooks", json={"url": url})
        expect_error(r, 422, "private_address", "a webhook to %s" % url)
        assert "--webhook-allow-private" in r.json()["error"]["message"], r.text
    for url in ("ftp://example.com/", "http://user:pw@example.com/", "/relative", "http://"):
        expect_error(admin.post("/v1/users/admin/webhooks", json={"url": url}), 422, "invalid_url", url)
    expect_error(admin.post("/v1/users/admin/webhooks", json={"url": "http://x.example/", "color": 1}), 422,
                 "invalid_field", "an unknown field")


def test_a_webhook_sees_what_the_token_that_made_it_may_read(server_factory):
    """An admin's token without the admin scope reads public leaves and its
    own: a webhook it makes gets no more. A token without read makes none."""
    srv = server_factory.make(args=["--anonymous", "none", "--webhook-allow-private"],
                              env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    rx_all, rx_limited = Receiver(), Receiver()
    try:
        narrow = expect(admin.post("/v1/users/admin/tokens", json={"name": "narrow", "scopes": ["read", "write"]}),
                        201, "an admin's token without the admin scope")["token"]
        write_only = expect(admin.post("/v1/users/admin/tokens", json={"name": "w", "scopes": ["write"]}), 201,
                            "a write-only token")["token"]
        tag = unique("scope")
        expect_error(as_user(srv, write_only).post("/v1/users/admin/webhooks", json={"url": rx_all.url}), 403,
                     "permission_denied", "a webhook from a token that may not read")
        full = expect(admin.post("/v1/users/admin/webhooks", json={"url": rx_all.url, "tag": tag}), 201, "full")
        limited = expect(as_user(srv, narrow).post("/v1/users/admin/webhooks", json={"url": rx_limited.url,
                                                                                      "tag": tag}), 201, "narrow")
        assert full["sees"] == "all" and limited["sees"] == "visible", (full, limited)
        other_token, _ = make_user(admin, unique("p"), "curator")
        private = expect(as_user(srv, other_token).post("/v1/leaves", json={"url": new_url(), "tags": [tag]}), 201,
                         "another user's private leaf")["id"]
        public = expect(as_user(srv, other_token).post("/v1/leaves", json={"url": new_url(), "tags": [tag],
                                                                           "is_public": True}), 201, "public")["id"]
        wait_until(lambda: len(rx_all.bodies()) >= 2 and len(rx_limited.bodies()) >= 1, what="deliveries")
        time.sleep(0.5)
        assert {b["event"]["leaf_id"] for _, b in rx_all.bodies()} == {private, public}, rx_all.bodies()
        assert [b["event"]["leaf_id"] for _, b in rx_limited.bodies()] == [public], (
            "the narrow token's webhook must not carry another user's private leaf: %r" % rx_limited.bodies())
    finally:
        rx_all.close()
        rx_limited.close()


def test_a_collections_webhook_sends_what_its_stream_carries(server_factory):
    """A webhook of a collection: the events of its leaves that reach the
    user through it (a teammate's private leaf included) and its own events,
    nothing else; refused for a collection the user may not view."""
    srv = server_factory.make(args=["--anonymous", "none", "--webhook-allow-private"],
                              env={"LEAVES_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = as_user(srv, ADMIN_TOKEN)
    rx = Receiver()
    try:
        ann_name, bob_name = unique("ann"), unique("bob")
        ann = as_user(srv, make_user(admin, ann_name, "curator")[0])
        bob = as_user(srv, make_user(admin, bob_name, "curator")[0])
        inside = expect(ann.post("/v1/leaves", json={"url": new_url()}), 201, "ann's private leaf")["id"]
        outside = expect(ann.post("/v1/leaves", json={"url": new_url(), "is_public": True}), 201, "public")["id"]
        cid = expect(ann.post("/v1/collections", json={"name": "Hooked"}), 201, "a collection")["id"]
        hooks = "/v1/users/%s/webhooks" % bob_name
        expect_error(bob.post(hooks, json={"url": rx.url, "collection": cid}), 404, "collection_not_found",
                     "a webhook of a collection bob may not view")
        expect_error(bob.post(hooks, json={"url": rx.url, "collection": "not-an-id"}), 404, "collection_not_found",
                     "a malformed collection id")
        smart = expect(ann.post("/v1/collections", json={"name": "Smart", "query": "kafka"}), 201, "smart")["id"]
        expect_error(ann.post("/v1/users/%s/webhooks" % ann_name, json={"url": rx.url, "collection": smart}), 422,
                     "smart_collection", "a webhook of a smart collection")
        tid = expect(ann.post("/v1/teams", json={"name": "Hook team"}), 201)["id"]
        expect(ann.put("/v1/teams/%s/members/%s" % (tid, bob_name), json={}), 200, "bob joins")
        expect(ann.put("/v1/collections/%s/shares/%s" % (cid, tid), json={}), 200, "shared with the team")
        made = expect(bob.post(hooks, json={"url": rx.url, "collection": cid}), 201, "bob's collection webhook")
        assert made["collection"] == cid, made
        assert [w["collection"] for w in expect(bob.get(hooks), 200, "list")["items"]] == [cid]

        expect(ann.post("/v1/collections/%s/leaves" % cid, json={"id": inside}), 201, "add the private leaf")
        expect(ann.patch("/v1/leaves/" + outside, json={"title": "not in the collection"}), 200)
        expect(ann.patch("/v1/leaves/" + inside, json={"title": "in the collection"}), 200)

        def seen():
            # The collection was made and shared before the webhook existed,
            # but the projector that publishes may be behind the directory
            # that made the webhook: those events may come too
            # (docs/webhooks.md).
            return [(b["event"]["type"], b["event"].get("leaf_id")) for _, b in rx.bodies()
                    if b["event"]["type"] not in ("collection.created", "collection.shared")]
        wait_until(lambda: len(seen()) >= 2, what="two deliveries")
        time.sleep(0.5)
        assert seen() == [("collection.leaf_added", inside), ("leaf.updated", inside)], (
            "bob's webhook should get the collection's leaf_added and its leaf's update, nothing of %s; got %r"
            % (outside, seen()))
        with rx.lock:
            got = list(rx.got)
        for h, raw in got:
            verify(made["secret"], h, raw)
        first = [b for _, b in rx.bodies() if b["event"]["type"] == "collection.leaf_added"][0]
        assert first["event"]["collection_id"] == cid and first["user"] == bob_name, first

        # Unshared: bob may no longer view it, and his webhook sends nothing.
        expect(ann.delete("/v1/collections/%s/shares/%s" % (cid, tid)), 200, "unshare")
        expect(ann.patch("/v1/leaves/" + inside, json={"title": "after the unshare"}), 200)
        time.sleep(1.0)
        # (The unshare itself may reach him or not, as the directory and the
        # projector race; nothing after it does.)
        after = [e for e in seen()[2:] if e[0] != "collection.unshared"]
        assert after == [], "after the unshare bob's webhook sent %r" % after
    finally:
        rx.close()
