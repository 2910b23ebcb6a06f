"""HLS bandpass adjustment: Sentinel-2 MSI surface reflectance brought to Landsat 8/9 OLI.

How to call::

    from raster_collect_plugin.core.series.bandpass import adjust, coefficients
    oli_red = adjust(msi_red, "red", "sentinel-2a")          # numpy, xarray or dask
    msi_red = adjust(oli_red, "red", "sentinel-2a", inverse=True)  # OLI -> MSI (simulation)

Which table and why: the HLS Product User Guide **v2.0** table "coefficients of linear
regression used to adjust from Sentinel-2A,B/MSI to Landsat 8/OLI" (``hls_bandpass.json`` beside
this module, loaded once). v2.0 is the current HLS product and takes OLI as the reference, so
Landsat scenes are used as they are and only Sentinel-2 bands are adjusted; the older v1.4 table
(OLI -> MSI) was derived with MSI's earlier spectral responses. The reference sensor is stated in
the data file and recorded in every harmonised series' attributes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Tuple

TABLE = Path(__file__).with_name("hls_bandpass.json")
DEFAULT_PLATFORM = "sentinel-2a"


@lru_cache(maxsize=1)
def table() -> Dict[str, Any]:
    """The published coefficients and their citation (read once)."""
    return json.loads(TABLE.read_text(encoding="utf-8"))


def platform_key(platform: str | None) -> str:
    """``sentinel-2a`` / ``sentinel-2b`` from a STAC ``platform`` (``Sentinel-2B``, ``S2B``...);
    other Sentinel-2 platforms (2C, unknown) use 2A's row (see the table's notes)."""
    text = (platform or "").lower().replace("_", "-")
    if text.endswith("2b") or text.endswith("-b") or text == "s2b":
        return "sentinel-2b"
    return DEFAULT_PLATFORM


def adjusted_bands() -> Tuple[str, ...]:
    """Common band names the table adjusts (``nir`` is MSI B8A in the table)."""
    return tuple(table()["platforms"][DEFAULT_PLATFORM])


def coefficients(band: str, platform: str | None = None) -> Tuple[float, float]:
    """(slope, offset) of ``oli = slope * msi + offset`` for one band; ``nir08`` (B8A) and
    ``nir`` share the table's NIR row. Bands the table does not adjust (red edge) get (1, 0)."""
    rows = table()["platforms"][platform_key(platform)]
    name = "nir" if band == "nir08" else band
    slope, offset = rows.get(name, (1.0, 0.0))
    return float(slope), float(offset)


def adjust(values, band: str, platform: str | None = None, *, inverse: bool = False):
    """MSI reflectance adjusted to OLI (``inverse``: OLI reflectance to MSI); NaN stays NaN."""
    slope, offset = coefficients(band, platform)
    if inverse:
        return (values - offset) / slope
    return values * slope + offset


def describe() -> Dict[str, Any]:
    """What was applied, for outputs' metadata."""
    data = table()
    return {"bandpass": data["version"], "direction": data["direction"],
            "reference_sensor": data["reference_sensor"], "formula": data["formula"],
            "source": data["source"]}
