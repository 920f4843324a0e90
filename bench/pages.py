"""A page server for bench/enrich.sh: every path answers the fixture article
(tests/fixtures/pages/article.html), on each loopback address given, one
port. Stops when its parent dies (or on SIGTERM).
  python3 bench/pages.py PORT 127.0.0.1 127.0.0.2 ..."""
import http.server
import os
import pathlib
import sys
import threading
import time

BODY = (pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pages" / "article.html").read_bytes()


class Page(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


def main():
    port = int(sys.argv[1])
    for addr in sys.argv[2:]:
        srv = http.server.ThreadingHTTPServer((addr, port), Page)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
