"""Catalogs and STAC APIs that answer badly or are laid out unusually: one line naming the
source and the fix (exit 1: a source failed), the right scenes, never a traceback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from raster_collect_plugin import cli


class _NotStac:
    """A loopback server answering /404 with an HTML 404 page, /html with a login page and
    /json with JSON that is not a STAC catalog."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                if self.path.startswith("/404"):
                    return self.send_error(404)
                body, kind = ((b"<html><body>Sign in</body></html>", "text/html")
                              if self.path.startswith("/html") else
                              (b'{"hello": 1}', "application/json"))
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def not_stac():
    server = _NotStac()
    yield server
    server.stop()


@pytest.mark.parametrize("path,expected", [
    ("404", "cannot open the STAC API at {url}/404 (HTTP 404); check the URL"),
    ("html", "{url}/html did not answer as a STAC API while opening"),
    ("json", "{url}/json did not answer as a STAC API while opening")])
def test_stac_url_that_is_not_a_stac_api(small_sample, not_stac, capsys, path, expected):
    """An HTML page (a login, a 404) or other JSON at --stac-url said
    'stac: JSONDecodeError: Expecting value...' or quoted the page's '<!DOCTYPE HTML>'; now
    one line naming the URL and what to check, exit 1 (a source failed), as --json too."""
    args = ["search", "--gpkg", str(small_sample.forests_path), "--stac-url",
            f"{not_stac.url}/{path}", "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-10-31"]
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"raster-collect: error: stac: {expected.format(url=not_stac.url)}")
    assert "JSONDecodeError" not in lines[0] and "DOCTYPE" not in lines[0]
    assert cli.main(["--json", *args]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenes"] == 0
    assert summary["errors"]["stac"] == lines[0].removeprefix("raster-collect: error: ")
