"""A loopback Sentinel Hub deployment following the documented API contracts, serving the
synthetic sample's Sentinel-2 scenes:

- ``POST /oauth/token``: OAuth2 client credentials -> bearer token with ``expires_in``;
- ``POST /api/v1/catalog/1.0.0/search``: STAC item search (collection, bbox, datetime);
- ``POST /api/v1/statistics``: per-interval statistics of the evalscript's outputs over the
  request geometry (SIMPLE mosaicking, most recent first), ``dataMask`` as no-data.

It cannot run JavaScript: it recognises the evalscript's declared outputs (NDVI, EVI) and
computes them with numpy from the COGs, as Sentinel Hub would from the same pixels.
Failure modes for tests: ``rate_limit_after`` (HTTP 429 with Retry-After in ms after N
statistics requests), short token lifetimes (401 for expired tokens).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import parse_qs

import numpy as np
import rasterio
from rasterio import features
from shapely.geometry import box, shape

SCL_INVALID = (0, 3, 8, 9, 10)


class SentinelHubServer:
    def __init__(self, sample, *, client_id: str, client_secret: str,
                 token_lifetime: float = 3600.0, rate_limit_after: Optional[int] = None,
                 revoke_tokens_after: Optional[float] = None):
        self.sample, self.client_id, self.client_secret = sample, client_id, client_secret
        self.token_lifetime, self.rate_limit_after = token_lifetime, rate_limit_after
        # tokens the server stops accepting before their advertised expiry (401 Unauthorized)
        self.revoke_tokens_after = revoke_tokens_after
        self.tokens: Dict[str, float] = {}
        self.log: List[dict] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    def start(self) -> SentinelHubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, path: str) -> List[dict]:
        return [entry for entry in self.log if entry["path"] == path]

    # ------------------------------------------------------------------ handlers

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, payload, headers: Optional[dict] = None):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                path = self.path.split("?")[0]
                with server.lock:
                    server.log.append({"path": path, "body": raw.decode(errors="replace"),
                                       "headers": dict(self.headers)})
                if path == "/oauth/token":
                    return self._token(raw)
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                expiry = server.tokens.get(token)
                if expiry is None or expiry < time.monotonic():
                    return self._reply(401, {"error": {"status": 401, "reason": "Unauthorized",
                                                       "message": "Token expired or invalid"}})
                payload = json.loads(raw or b"{}")
                if path == "/api/v1/catalog/1.0.0/search":
                    return self._reply(200, server.catalog(payload))
                if path == "/api/v1/statistics/batch":
                    return self._reply(403, {"error": {
                        "status": 403, "reason": "Forbidden",
                        "message": "Batch Statistical API is not available for this account"}})
                if path == "/api/v1/process":
                    return self._tiff(server.process(payload))
                if path == "/api/v1/statistics":
                    calls = len(server.requests_to(path))
                    if server.rate_limit_after is not None and calls > server.rate_limit_after:
                        return self._reply(429, {"error": {"status": 429,
                                                           "reason": "Too Many Requests"}},
                                           {"Retry-After": "50"})
                    return self._reply(200, server.statistics(payload))
                return self._reply(404, {"error": {"status": 404, "message": path}})

            def _tiff(self, array):
                import io

                import tifffile

                buffer = io.BytesIO()
                tifffile.imwrite(buffer, array)
                body = buffer.getvalue()
                self.send_response(200)
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _token(self, raw: bytes):
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                client_id, secret = form.get("client_id"), form.get("client_secret")
                authorization = self.headers.get("Authorization", "")
                if authorization.startswith("Basic "):
                    import base64

                    client_id, secret = base64.b64decode(authorization[6:]).decode().split(":")
                if (client_id, secret) != (server.client_id, server.client_secret) or \
                        form.get("grant_type") != "client_credentials":
                    return self._reply(401, {"error": "invalid_client"})
                token = f"token-{len(server.tokens) + 1}"
                server.tokens[token] = time.monotonic() + (server.revoke_tokens_after or
                                                           server.token_lifetime)
                return self._reply(200, {"access_token": token, "token_type": "Bearer",
                                         "expires_in": server.token_lifetime})

        return Handler

    # ------------------------------------------------------------------ API behaviour

    def _scenes(self) -> List[dict]:
        return self.sample.items["sentinel-2-l2a"]

    def catalog(self, payload: dict) -> dict:
        start, end = payload["datetime"].split("/")
        area = box(*payload["bbox"])
        features_out = [dict(item, assets={}, links=[]) for item in self._scenes()
                        if start[:10] <= item["properties"]["datetime"][:10] <= end[:10]
                        and shape(item["geometry"]).intersects(area)]
        return {"type": "FeatureCollection", "features": features_out,
                "context": {"limit": payload.get("limit", 100), "returned": len(features_out)}}

    def _read(self, item: dict, key: str):
        with rasterio.open(Path(self.sample.root) / item["assets"][key]["href"]) as dataset:
            return dataset.read(1), dataset.transform

    def statistics(self, payload: dict) -> dict:
        evalscript = payload["aggregation"]["evalscript"]
        outputs = re.findall(r'id: "([A-Za-z0-9_]+)", bands: 1, sampleType', evalscript)
        time_range = payload["aggregation"]["timeRange"]
        geometry = shape(payload["input"]["bounds"]["geometry"])
        intervals = _months(time_range["from"][:10], time_range["to"][:10])
        data = []
        for begin, end in intervals:
            scenes = sorted((i for i in self._scenes()
                             if begin <= i["properties"]["datetime"][:10] < end),
                            key=lambda i: i["properties"]["datetime"], reverse=True)
            values, valid, zone = self._mosaic(scenes, geometry, outputs)
            if zone is None:
                continue
            stats = {}
            for name in outputs:
                chosen = values[name][zone & valid]
                sample_count = int(zone.sum())
                entry = {"sampleCount": sample_count,
                         "noDataCount": int(sample_count - (zone & valid).sum())}
                if chosen.size:
                    entry.update(min=float(chosen.min()), max=float(chosen.max()),
                                 mean=float(chosen.mean()), stDev=float(chosen.std()),
                                 percentiles={f"{k:.1f}": float(np.percentile(chosen, k))
                                              for k in (10, 50, 90)})
                else:
                    entry.update(min="NaN", max="NaN", mean="NaN", stDev="NaN")
                stats[name] = {"bands": {"B0": {"stats": entry}}}
            data.append({"interval": {"from": f"{begin}T00:00:00Z", "to": f"{end}T00:00:00Z"},
                         "outputs": stats})
        return {"data": data, "status": "OK"}

    def process(self, payload: dict):
        """The evalscript's indices over the request bbox at the requested size (the sample's
        10 m grid), most recent scene first, NaN where not clear."""
        evalscript = payload["evalscript"]
        outputs = re.findall(r"var ([A-Za-z0-9_]+)_value = ", evalscript)
        xmin, ymin, xmax, ymax = payload["input"]["bounds"]["bbox"]
        data = payload["input"]["data"][0]["dataFilter"]["timeRange"]
        width, height = payload["output"]["width"], payload["output"]["height"]
        first, last = data["from"][:10], data["to"][:10]
        scenes = sorted((i for i in self._scenes()
                         if first <= i["properties"]["datetime"][:10] <= last),
                        key=lambda i: i["properties"]["datetime"], reverse=True)
        values, valid, _ = self._mosaic(scenes, box(xmin, ymin, xmax, ymax), outputs)
        _, transform = self._read(scenes[0], "B04")
        col = int(round((xmin - transform.c) / transform.a))
        row = int(round((transform.f - ymax) / -transform.e))
        bands = [np.where(valid, values[name], np.nan)[row:row + height, col:col + width]
                 for name in outputs]
        return np.stack(bands, axis=-1).astype("float32")

    def _mosaic(self, scenes, geometry, outputs):
        if not scenes:
            return {}, None, None
        red, transform = self._read(scenes[0], "B04")
        height, width = red.shape
        zone = features.rasterize([(geometry, 1)], out_shape=(height, width),
                                  transform=transform, fill=0, dtype="uint8").astype(bool)
        filled = np.zeros((height, width), bool)
        values = {name: np.full((height, width), np.nan) for name in outputs}
        valid = np.zeros((height, width), bool)
        for item in scenes:  # most recent first: a pixel keeps the first scene with data
            dn = {key: self._read(item, key)[0].astype(float) for key in ("B02", "B04", "B08")}
            scl = np.repeat(np.repeat(self._read(item, "SCL")[0], 2, 0), 2, 1)[:height, :width]
            has_data = (dn["B04"] > 0) & (scl > 0)
            take = has_data & ~filled
            baseline = float(item["properties"].get("s2:processing_baseline", "5"))
            offset = 1000 if baseline >= 4 else 0
            blue, red_r, nir = ((dn[k] - offset) / 10000 for k in ("B02", "B04", "B08"))
            computed = {"NDVI": (nir - red_r) / (nir + red_r + 1e-10),
                        "EVI": 2.5 * (nir - red_r) / (nir + 6 * red_r - 7.5 * blue + 1 + 1e-10)}
            for name in outputs:
                values[name][take] = computed[name][take]
            valid[take] = ~np.isin(scl[take], SCL_INVALID)
            filled |= take
        return values, valid, zone


def _months(first: str, last: str):
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last[:7]:
        next_year, next_month = year + month // 12, month % 12 + 1
        begin = f"{year:04d}-{month:02d}-01"
        end = f"{next_year:04d}-{next_month:02d}-01"
        out.append((max(begin, first), min(end, last) if last < end else end))
        year, month = next_year, next_month
    return out
