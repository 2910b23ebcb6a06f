"""The loopback Sentinel Hub fixture (tests/servers/sentinel_hub.py) with Sentinel-1 GRD on
the Process API, as CDSE documents it (``APIs/SentinelHub/Data/S1GRD.qmd``):

- data type ``sentinel-1-grd``; ``dataFilter`` ``acquisitionMode`` IW, ``polarization`` DV,
  ``resolution`` HIGH; ``processing.backCoeff`` one of BETA0, SIGMA0_ELLIPSOID,
  GAMMA0_ELLIPSOID, GAMMA0_TERRAIN; ``orthorectify``; ``demInstance`` one of COPERNICUS,
  COPERNICUS_30, COPERNICUS_90, MAPZEN; GAMMA0_TERRAIN without ``orthorectify: true`` is a 400.
- bands VV, VH (linear power) and dataMask; ``mosaicking: "ORBIT"`` gives ``samples`` as an
  array, one per orbit, most recent first (``Evalscript/V3.qmd``), run by node
  (``evalscript_runner.js``).

Each Process answer carries ``x-processingunits-spent`` (the base fixture's ``report_pu``, on here;
the CDSE documentation does not list it) computed by ``Overview/ProcessingUnit.qmd`` from what
was actually processed: the output size, VV+VH, FLOAT32 x2, one sample per orbit found, and
x2.5 for terrain correction (x2 for orthorectification alone).

Stated choice: the sample holds Planetary Computer's RTC scenes (gamma0, terrain-flattened),
so only ``backCoeff: GAMMA0_TERRAIN`` with orthorectification can be served; the other
coefficients are answered 501 FIXTURE_LIMITATION. Sample centres take the source pixel that
contains them (NEAREST); the scenes' nodata (-32768) is dataMask 0.
"""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np

from .sentinel_hub import SentinelHubServer, ServiceError, _error, _parse_time

RUNNER = Path(__file__).with_name("evalscript_runner.js")
S1_SOURCE = "sentinel-1-rtc"
BACK_COEFFICIENTS = ("BETA0", "SIGMA0_ELLIPSOID", "GAMMA0_ELLIPSOID", "GAMMA0_TERRAIN")
DEM_INSTANCES = ("COPERNICUS", "COPERNICUS_30", "COPERNICUS_90", "MAPZEN")


class Sentinel1Server(SentinelHubServer):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("report_pu", True)
        super().__init__(*args, **kwargs)
        self.spent = threading.local()  # the PU of the answer this handler thread sends

    def spent_header(self, path: str, payload: dict, answer) -> dict:
        """The base fixture's header, with the PU this fixture worked out for an S1 answer."""
        pu = getattr(self.spent, "pu", None)
        if path != "/api/v1/process" or pu is None or not self.report_pu:
            return super().spent_header(path, payload, answer)
        self.spent.pu = None
        with self.lock:
            self.reported.append(pu)
        return {"x-processingunits-spent": f"{pu:.6f}"}

    def process(self, payload: dict):
        data_spec = payload["input"]["data"][0]
        if data_spec.get("type") != "sentinel-1-grd":
            return super().process(payload)
        self._check_s1(data_spec)
        output = payload["output"]
        transform, width, height, inside = self._sample_grid(
            payload["input"]["bounds"], {"width": output["width"], "height": output["height"]})
        time_range = data_spec["dataFilter"]["timeRange"]
        begin = _parse_time(time_range["from"])
        end = _parse_time(time_range["to"]) + timedelta(seconds=1)
        items = sorted((i for i in self.sample.items.get(S1_SOURCE, [])
                        if begin <= _parse_time(i["properties"]["datetime"]) < end),
                       key=lambda i: i["properties"]["datetime"], reverse=True)
        cols, rows = np.meshgrid(np.arange(width), np.arange(height))
        xs, ys = transform * (cols + 0.5, rows + 0.5)
        orbits, scenes = [], []
        for item in items:
            vv = self._lookup(item, "vv", xs, ys).astype(float)
            vh = self._lookup(item, "vh", xs, ys).astype(float)
            mask = (vv != -32768) & (vh != -32768) & (vv != 0) & inside
            orbits.append({"VV": np.where(mask, vv, 0).ravel().tolist(),
                           "VH": np.where(mask, vh, 0).ravel().tolist(),
                           "dataMask": mask.astype(float).ravel().tolist()})
            scenes.append({"dateFrom": item["properties"]["datetime"]})
        job = json.dumps({"evalscript": payload["evalscript"], "orbits": orbits,
                          "scenes": scenes, "from": time_range["from"], "to": time_range["to"],
                          "count": width * height})
        done = subprocess.run(["node", str(RUNNER)], input=job, capture_output=True, text=True,
                              timeout=300)
        if done.returncode:
            raise ServiceError(400, _error(400, "Bad Request", "Failed to evaluate script: "
                                           + done.stderr.strip()[-300:], "RENDERER_EXCEPTION"))
        processing = data_spec.get("processing") or {}
        factor = 2.5 if processing.get("backCoeff") == "GAMMA0_TERRAIN" else \
            2.0 if processing.get("orthorectify") else 1.0
        self.spent.pu = max(0.005, max(0.01, width * height / 512**2) * 2 / 3 * 2
                            * max(1, len(items)) * factor)
        values = json.loads(done.stdout)["outputs"]["default"]
        array = np.array([[float(v) for v in band] for band in values]
                         ).reshape(len(values), height, width)
        return np.moveaxis(array, 0, -1).astype("float32")

    def _check_s1(self, data_spec: dict) -> None:
        def bad(message: str):
            raise ServiceError(400, _error(400, "Bad Request", message, "COMMON_BAD_PAYLOAD"))

        data_filter = data_spec.get("dataFilter") or {}
        for key, allowed in (("acquisitionMode", ("SM", "IW", "EW", "WV")),
                             ("polarization", ("SH", "SV", "DH", "DV", "HH", "HV", "VV", "VH")),
                             ("resolution", ("HIGH", "MEDIUM"))):
            if key in data_filter and data_filter[key] not in allowed:
                bad(f"dataFilter.{key} must be one of {allowed}")
        processing = data_spec.get("processing") or {}
        coefficient = processing.get("backCoeff", "GAMMA0_ELLIPSOID")
        if coefficient not in BACK_COEFFICIENTS:
            bad(f"backCoeff must be one of {BACK_COEFFICIENTS}")
        if processing.get("demInstance", "COPERNICUS") not in DEM_INSTANCES:
            bad(f"demInstance must be one of {DEM_INSTANCES}")
        if coefficient == "GAMMA0_TERRAIN" and not processing.get("orthorectify"):
            bad("backCoeff GAMMA0_TERRAIN requires orthorectify true")
        if coefficient != "GAMMA0_TERRAIN":
            raise ServiceError(501, _error(501, "Not Implemented", "this loopback fixture only "
                                           "serves GAMMA0_TERRAIN", "FIXTURE_LIMITATION"))
