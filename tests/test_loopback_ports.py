"""The loopback servers' ports: ``free_port`` closes its probe before the server binds, so a
port can be taken in between (another xdist worker's server). The test then talked to the
wrong server, or waited on a server that had exited."""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.servers import scale_out

SERVE = ("import http.server, sys; http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), "
         "http.server.SimpleHTTPRequestHandler).serve_forever()")


def test_a_port_taken_before_the_server_binds_is_replaced(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        offered = iter([busy])  # the first offer is taken by "another worker's" server
        real = scale_out.free_port
        monkeypatch.setattr(scale_out, "free_port", lambda host: next(offered, None) or real(host))
        process, port = scale_out.start_listening(
            lambda port: [sys.executable, "-c", SERVE, str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert port != busy
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        finally:
            process.terminate()
            process.wait(timeout=10)
