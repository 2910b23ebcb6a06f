"""Loopback servers that misbehave on purpose: accept and never answer, or answer slowly.

``StallingServer`` accepts TCP connections and never sends a byte (a hung API).
``SlowStacApi`` is a minimal STAC API (landing page, conformance, paged ``/search``) that
waits ``delay`` seconds before every answer and serves ``count`` items in pages.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List
from urllib.parse import parse_qs, urlsplit

from .json_reply import send_json


class StallingServer:
    """Accepts connections on 127.0.0.1 and never answers."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.accepted: List[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def _accept(self) -> None:
        self.socket.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.accepted.append(connection)  # held open, never read or answered

    def start(self) -> StallingServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        for connection in self.accepted:
            connection.close()
        self.socket.close()


class TricklingServer:
    """Answers every request with headers, then one byte of body every ``interval`` seconds
    (each read arrives inside any per-read timeout; the answer never completes)."""

    def __init__(self, interval: float = 0.3):
        self.interval = interval
        trickle = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                try:
                    for _ in range(100_000):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(trickle.interval)
                except OSError:
                    pass

            do_POST = do_GET  # noqa: N815

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    def start(self) -> TricklingServer:
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def _item(n: int) -> dict:
    day = 1 + n % 28
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"scene-{n:05d}",
            "collection": "slow", "bbox": [152.9, -26.9, 153.0, -26.8],
            "geometry": {"type": "Polygon", "coordinates": [[[152.9, -26.9], [153.0, -26.9],
                                                            [153.0, -26.8], [152.9, -26.8],
                                                            [152.9, -26.9]]]},
            "properties": {"datetime": f"2025-10-{day:02d}T00:00:00Z", "eo:cloud_cover": 1},
            "links": [], "assets": {"red": {"href": f"http://127.0.0.1:1/{n}.tif"}}}


class SlowStacApi:
    """A paged STAC API that sleeps ``delay`` seconds before each answer."""

    def __init__(self, count: int, *, delay: float = 0.0, page: int = 100):
        self.count, self.delay, self.page = count, delay, page
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, payload: dict) -> None:
                server.requests += 1
                time.sleep(server.delay)
                send_json(self, payload)

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                base = server.url
                if parts.path in ("", "/"):
                    return self._json({
                        "type": "Catalog", "id": "slow", "stac_version": "1.0.0",
                        "description": "slow", "conformsTo": [
                            "https://api.stacspec.org/v1.0.0/core",
                            "https://api.stacspec.org/v1.0.0/item-search"],
                        "links": [{"rel": "self", "href": base + "/"},
                                  {"rel": "root", "href": base + "/"},
                                  {"rel": "search", "href": base + "/search",
                                   "method": "GET", "type": "application/geo+json"},
                                  {"rel": "search", "href": base + "/search",
                                   "method": "POST", "type": "application/geo+json"}]})
                if parts.path == "/search":
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    return self._page(query, post=False)
                self.send_error(404)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if urlsplit(self.path).path != "/search":
                    return self.send_error(404)
                return self._page(body, post=True)

            def _page(self, query: dict, post: bool) -> None:
                base = server.url
                start = int(query.get("token", 0))
                limit = min(int(query.get("limit", server.page)), server.page)
                end = min(start + limit, server.count)
                links = []
                if end < server.count:
                    links.append({"rel": "next", "method": "POST", "href": f"{base}/search",
                                  "body": {"token": end}, "merge": True} if post else
                                 {"rel": "next", "method": "GET",
                                  "href": f"{base}/search?limit={limit}&token={end}"})
                return self._json({"type": "FeatureCollection", "links": links,
                                   "features": [_item(n) for n in range(start, end)]})

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    def start(self) -> SlowStacApi:
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
