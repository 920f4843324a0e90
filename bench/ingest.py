"""Ingest benchmarks (issue 14), against one running server with an admin
token and --schema-registry:

  1. REST-Proxy produce (POST /topics/{topic}, batches of 100) of N JSON
     records, beside POST /v1/bulk/leaves of N leaves in batches of 100 (the
     same leaves' fields): records/s acknowledged.
  2. Ingest into the read models: from the first produce until the
     ingester saved all N (GET /v1/ops/ingest), for JSON records and for
     Avro records (the REST Proxy's avro format: leaves encodes them in the
     wire format, the ingester decodes them through the registry).
  3. With KAFKA set: the raw consume rate of the same topic (kcat, from the
     beginning to the end), the limit of 2.

  bench/ingest.py BASE ADMIN_TOKEN TOPIC N       (Debian's /usr/bin/python3)
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

base, token, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
run = "%x" % int(time.time() * 1000)
SCHEMA = json.dumps({"type": "record", "name": "Leaves", "namespace": "org.anant.demo.leaves", "fields": [
    {"name": "url", "type": "string"}, {"name": "title", "type": "string"},
    {"name": "tags", "type": ["null", {"type": "array", "items": "string"}]},
    {"name": "content_text", "type": ["string", "null"]}]})


def call(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def record(kind, i):
    return {"url": "https://bench.example/%s/%s/%d" % (run, kind, i), "title": "%s %d" % (kind, i),
            "tags": ["tag%d" % (i % 20)], "content_text": "x" * 400}


def saved():
    return call("GET", "/v1/ops/ingest")["ingest"]["saved"]


def produce(kind):
    """Produces n records of `kind` (json, avro); returns (produce seconds, until-saved seconds)."""
    before = saved()
    t0 = time.monotonic()
    for start in range(0, n, 100):
        recs = [record(kind, i) for i in range(start, min(n, start + 100))]
        if kind == "json":
            body = call("POST", "/topics/" + topic, {"records": [{"value": r} for r in recs]},
                        "application/vnd.kafka.json.v2+json")
        else:
            vals = [dict(r, tags={"array": r["tags"]}, content_text={"string": r["content_text"]}) for r in recs]
            body = call("POST", "/topics/" + topic, {"value_schema": SCHEMA, "records": [{"value": v} for v in vals]},
                        "application/vnd.kafka.avro.v2+json")
        assert all(o["error_code"] is None for o in body["offsets"]), body
    t1 = time.monotonic()
    while saved() < before + n:
        if time.monotonic() - t1 > 600:
            raise SystemExit("ingest did not save %d %s records within 600 s" % (n, kind))
        time.sleep(0.02)
    return t1 - t0, time.monotonic() - t0


def bulk():
    t0 = time.monotonic()
    for start in range(0, n, 100):
        items = [record("bulk", i) for i in range(start, min(n, start + 100))]
        body = call("POST", "/v1/bulk/leaves", {"items": items})
        assert body["rejected"] == 0, body
    return time.monotonic() - t0


bulk_s = bulk()
json_produce, json_ingest = produce("json")
avro_produce, avro_ingest = produce("avro")
print("| workload | records | seconds | records/s |")
print("|---|---|---|---|")
print("| POST /v1/bulk/leaves, batches of 100 (acknowledged) | %d | %.2f | %.0f |" % (n, bulk_s, n / bulk_s))
print("| REST-Proxy produce, JSON, batches of 100 (acknowledged) | %d | %.2f | %.0f |" % (n, json_produce, n / json_produce))
print("| REST-Proxy produce, Avro (leaves encodes, registry), batches of 100 | %d | %.2f | %.0f |" % (
    n, avro_produce, n / avro_produce))
print("| JSON ingest: first produce until the ingester saved all | %d | %.2f | %.0f |" % (n, json_ingest, n / json_ingest))
print("| Avro ingest (wire format, registry): first produce until saved | %d | %.2f | %.0f |" % (
    n, avro_ingest, n / avro_ingest))
kafka = os.environ.get("KAFKA")
if kafka:
    t0 = time.monotonic()
    out = subprocess.run(["kcat", "-b", kafka, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n"],
                         capture_output=True, text=True, timeout=600).stdout
    t = time.monotonic() - t0
    count = out.count("\n")
    print("| raw consume of the topic (kcat, beginning to end) | %d | %.2f | %.0f |" % (count, t, count / t))
