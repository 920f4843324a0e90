"""Waits until every projection of a leaves server has caught up with the log
(/readyz: lag_total 0 for each), so that a benchmark's next phase does not
share the CPU with a projection still applying the last one's writes (the
search index indexes a burst of POSTs for a while after it). Prints how long
that took. Debian's /usr/bin/python3.
  bench/settle.py http://127.0.0.1:PORT [TIMEOUT_SECONDS]"""
import json
import sys
import time
import urllib.request

base = sys.argv[1]
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 300
start = time.monotonic()
lags = {}
while time.monotonic() - start < timeout:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
            body = json.load(r)
    except Exception:  # 503 while catching up carries the same body
        body = None
    if body:
        lags = {name: p.get("lag_total", 0) for name, p in body.get("projections", {}).items()}
        if all(v == 0 for v in lags.values()):
            print("projections caught up after %.1f s" % (time.monotonic() - start))
            sys.exit(0)
    time.sleep(0.2)
print("projections still behind after %.0f s: %s" % (timeout, lags))
sys.exit(1)
