"""Seeds a leaves server with N leaves over 20 tags through the bulk endpoint
and writes their ids to a file (for get.lua); LEAVES_BENCH_PUBLIC=1 makes
them public; LEAVES_BENCH_TOKEN saves them as that token's user (else
anonymously). Debian's /usr/bin/python3."""
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

base, n, ids_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
public = os.environ.get("LEAVES_BENCH_PUBLIC") == "1"  # leaves every reader may see (bench/auth.sh)
headers = {"Content-Type": "application/json"}
if os.environ.get("LEAVES_BENCH_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["LEAVES_BENCH_TOKEN"]
ids = []
for start in range(0, n, 1000):
    items = []
    for i in range(start, min(n, start + 1000)):
        url = "https://bench.example/seed/%d" % i
        ids.append(hashlib.md5(url.encode()).hexdigest())
        items.append({"url": url, "title": "seeded %d" % i, "tags": ["tag%d" % (i % 20)],
                      "content_text": "x" * 400})
        if public:
            items[-1]["is_public"] = True
    req = urllib.request.Request(base + "/v1/bulk/leaves", data=json.dumps({"items": items}).encode(),
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=120) as r:
        body = json.load(r)
        assert body["rejected"] == 0, body
    pos = r.headers.get("Leaves-Position")
with open(ids_path, "w") as f:
    f.write("\n".join(ids) + "\n")
# Wait until the read models applied the last batch. The server bounds each
# wait (--read-wait-ms, 504 after it); a slow read store (Cassandra) can need
# several, so ask again until a 10-minute deadline.
deadline = time.monotonic() + 600
said = False
while True:
    try:
        urllib.request.urlopen(urllib.request.Request(base + "/v1/tags", headers={"Leaves-Min-Position": pos}),
                               timeout=30)
        break
    except urllib.error.HTTPError as e:
        if e.code != 504 or time.monotonic() > deadline:
            raise
        if not said:
            print("  the read models are still projecting the seed (504 from the Leaves-Min-Position wait); "
                  "waiting up to 10 minutes", file=sys.stderr)
            said = True
        time.sleep(0.2)
print("seeded %d leaves" % n)
