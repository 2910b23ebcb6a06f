"""A loopback HTTP file server that honours ``Range`` requests and counts the bytes it serves.

GDAL's /vsicurl/ needs Range support for windowed COG reads (Python's http.server has none).
The server also accepts absolute-form request targets (``GET http://host/path``), so GDAL can
use it as an HTTP proxy for hostnames that must never be contacted for real (e.g. Azure blob
URLs that planetary-computer signs), and it can check Azure-style SAS tokens (``se=`` expiry).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, Optional
from urllib.parse import parse_qs, unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class TrafficLog:
    """What the server sent: bytes per path, request count, denied requests."""

    bytes_by_path: Dict[str, int] = field(default_factory=dict)
    requests: int = 0
    denied: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_path.values())

    def add(self, path: str, sent: int) -> None:
        with self.lock:
            self.requests += 1
            self.bytes_by_path[path] = self.bytes_by_path.get(path, 0) + sent

    def reset(self) -> None:
        with self.lock:
            self.bytes_by_path.clear()
            self.requests = 0
            self.denied = 0


def sas_expiry_check(clock: Callable[[], datetime]) -> Callable[[Dict[str, list]], bool]:
    """A token check like Azure blob storage's: the ``se`` (signed expiry) must be in the future
    of ``clock()``; unsigned requests are refused."""

    def allowed(query: Dict[str, list]) -> bool:
        if "se" not in query or "sig" not in query:
            return False
        expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
        return expiry > clock()

    return allowed


class RangeFileServer:
    """Serves files under ``root`` on 127.0.0.1 with Range support."""

    def __init__(self, root: Path, token_check: Optional[Callable[[dict], bool]] = None):
        self.root = Path(root).resolve()
        self.token_check = token_check
        self.log = TrafficLog()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> RangeFileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _resolve(self):
                parts = urlsplit(self.path)
                relative = os.path.normpath(unquote(parts.path).lstrip("/"))
                if relative.startswith(".."):  # no escaping the served folder
                    return None, parts
                return server.root / relative, parts

            def _send_error(self, code: int, message: str) -> None:
                body = message.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _serve(self, with_body: bool) -> None:
                target, parts = self._resolve()
                if server.token_check is not None and not server.token_check(parse_qs(parts.query)):
                    with server.log.lock:
                        server.log.denied += 1
                    self._send_error(403, "AuthenticationFailed: Signature not valid or expired")
                    return
                if target is None or not target.is_file():
                    self._send_error(404, "not found")
                    return
                size = target.stat().st_size
                start, end = 0, size - 1
                header = self.headers.get("Range")
                status = 200
                if header:
                    match = _RANGE.match(header.strip())
                    if not match:
                        self._send_error(416, "bad range")
                        return
                    first, last = match.groups()
                    if first == "":
                        start, end = max(size - int(last), 0), size - 1
                    else:
                        start = int(first)
                        end = min(int(last), size - 1) if last else size - 1
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                length = end - start + 1
                self.send_response(status)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Content-Length", str(length))
                self.send_header("Last-Modified", "Mon, 01 Dec 2025 00:00:00 GMT")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if not with_body:
                    return
                with open(target, "rb") as handle:
                    handle.seek(start)
                    payload = handle.read(length)
                # counted before it is sent: a client that has read the body must find it logged
                server.log.add(urlsplit(self.path).path, len(payload))
                self.wfile.write(payload)

            def do_GET(self):  # noqa: N802
                self._serve(with_body=True)

            def do_HEAD(self):  # noqa: N802
                self._serve(with_body=False)

        return Handler


def short_lived_clock(offset: timedelta = timedelta(0)) -> Callable[[], datetime]:
    """A clock that can be moved forward by tests (``clock.advance(seconds)``)."""
    state = {"offset": offset}

    def clock() -> datetime:
        return datetime.now(timezone.utc) + state["offset"]

    def advance(seconds: float) -> None:
        state["offset"] += timedelta(seconds=seconds)

    clock.advance = advance  # type: ignore[attr-defined]
    return clock
