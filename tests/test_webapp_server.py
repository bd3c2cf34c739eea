"""webapp.server: the tests' server is the child we started, even when its port was taken first."""

from __future__ import annotations

import os
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emofusion.webapp.server import _serve, free_port

# Stands in for `emofusion webapp`: gradio's two messages (port in use; listening), then /config.
CHILD = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(sys.argv[1])
class Config(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ours")
    def log_message(self, *a):
        pass
try:
    server = HTTPServer(("127.0.0.1", port), Config)
except OSError:
    sys.exit(f"emofusion webapp: error: cannot serve on 127.0.0.1:{port}: Cannot find empty port in range")
print(f"* Running on local URL:  http://127.0.0.1:{port}", flush=True)
server.serve_forever()
"""


def command(port: int) -> list[str]:
    return [sys.executable, "-c", CHILD, str(port)]


@pytest.fixture
def foreign_server():
    """Another program's HTTP server that also answers /config with 200."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"someone else")

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url + "/config", timeout=5) as r:
        return r.read()


def test_a_taken_port_is_retried_never_served_by_someone_else(foreign_server, tmp_path):
    log = tmp_path / "server.log"
    assert get(f"http://127.0.0.1:{foreign_server}") == b"someone else"  # it would pass a bare /config poll
    with _serve(command, log, dict(os.environ), 30, ports=[foreign_server, free_port()]) as url:
        assert not url.endswith(f":{foreign_server}")
        assert get(url) == b"ours"
        assert "Cannot find empty port" not in log.read_text()  # the log is the serving attempt's


def test_only_taken_ports_is_an_error(foreign_server, tmp_path):
    with pytest.raises(RuntimeError, match="no free port"):
        with _serve(command, tmp_path / "server.log", dict(os.environ), 30, ports=[foreign_server]):
            pass
