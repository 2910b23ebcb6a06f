"""A loopback Planetary Computer SAS token service (``GET {sas_url}/{account}/{container}``)
answering like the real one: ``{"msft:expiry": ..., "token": "st=...&se=...&sp=rl&...&sig=..."}``.
Tokens live ``lifetime`` seconds on the given clock."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SasTokenServer:
    def __init__(self, clock, lifetime_seconds: float = 90.0):
        self.clock = clock
        self.lifetime = timedelta(seconds=lifetime_seconds)
        self.requests: list = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def sas_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/sas/v1/token"

    def start(self) -> SasTokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                parts = self.path.split("?")[0].rstrip("/").split("/")
                if len(parts) < 6 or parts[1:4] != ["api", "sas", "v1"] or parts[4] != "token":
                    self.send_error(404)
                    return
                now = service.clock()
                expiry = now + service.lifetime
                stamp = "%Y-%m-%dT%H:%M:%SZ"
                number = len(service.requests) + 1
                token = (f"st={now.strftime(stamp)}&se={expiry.strftime(stamp)}&sp=rl&sv=2021-06-08"
                         f"&sr=c&skoid=loopback&sig=token{number}")
                service.requests.append(parts[5:])
                body = json.dumps({"msft:expiry": expiry.strftime(stamp), "token": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
