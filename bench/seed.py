"""Seeds a leaves server with N leaves over 20 tags through the bulk endpoint
and writes their ids to a file (for get.lua). Debian's /usr/bin/python3."""
import hashlib
import json
import sys
import urllib.request

base, n, ids_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ids = []
for start in range(0, n, 1000):
    items = []
    for i in range(start, min(n, start + 1000)):
        url = "https://bench.example/seed/%d" % i
        ids.append(hashlib.md5(url.encode()).hexdigest())
        items.append({"url": url, "title": "seeded %d" % i, "tags": ["tag%d" % (i % 20)],
                      "content_text": "x" * 400})
    req = urllib.request.Request(base + "/v1/bulk/leaves", data=json.dumps({"items": items}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        body = json.load(r)
        assert body["rejected"] == 0, body
    pos = r.headers.get("Leaves-Position")
with open(ids_path, "w") as f:
    f.write("\n".join(ids) + "\n")
# wait until the read models applied the last batch
urllib.request.urlopen(urllib.request.Request(base + "/v1/tags", headers={"Leaves-Min-Position": pos}), timeout=30)
print("seeded %d leaves" % n)
