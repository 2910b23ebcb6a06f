"""A synthetic Sentinel-2 L2A static catalog for the benchmarks (not a benchmark itself):
blue, red and NIR at 10 m and SCL at 20 m, one scene a month with a cloud band across it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Tuple

import numpy as np

LEFT, TOP = 450_000.0, 7_050_000.0  # the grid's upper-left corner (UTM 56S, 10 m pixels)


def write_s2_catalog(folder: Path, *, width: int, height: int, months: int, first_year: int,
                     cloud_rows: int) -> Tuple[float, float]:
    """Write the scenes' COGs and their static catalog into ``folder``; ``cloud_rows`` SCL
    rows (20 m) of each scene are cloud. Returns the grid's (left, top)."""
    from affine import Affine

    from raster_collect_plugin.core.outputs.files import write_cog
    from raster_collect_plugin.core.sample import catalog as sc
    from raster_collect_plugin.core.sample import scenes as sd

    rng = np.random.default_rng(0)
    transform = Affine(10, 0, LEFT, 0, -10, TOP)
    scl_transform = Affine(20, 0, LEFT, 0, -20, TOP)
    items = []
    for month in range(months):
        when = datetime(first_year + month // 12, month % 12 + 1, 10, 23, 50,
                        tzinfo=timezone.utc)
        item_id = f"S2A_MSIL2A_{when:%Y%m%d}T235000_R016_T56JNS"
        base = Path(sd.S2_COLLECTION) / item_id
        assets = {}
        for key, reflectance in (("B02", 0.03), ("B04", 0.04), ("B08", 0.30)):
            dn = (1000 + 10_000 * (reflectance + rng.normal(0, 0.01, (height, width)))).clip(1)
            href = f"{base}/{key}.tif"
            write_cog(folder / href, dn.astype("uint16"), transform=transform,
                      crs=sd.SCENE_CRS, nodata=0)
            assets[key] = sc._asset(href, transform, width, height, ["data"])
        scl = np.full((height // 2, width // 2), 4, "uint8")
        y0 = rng.integers(0, height // 2 - cloud_rows)
        scl[y0:y0 + cloud_rows, :] = 9  # a cloud band across the grid
        href = f"{base}/SCL.tif"
        write_cog(folder / href, scl, transform=scl_transform, crs=sd.SCENE_CRS, nodata=0)
        assets["SCL"] = sc._asset(href, scl_transform, width // 2, height // 2, ["data"])
        scene = sd.Scene(sd.S2_COLLECTION, when, "Sentinel-2A")
        items.append(sc._item(item_id, sd.S2_COLLECTION, scene, transform, width, height,
                              {"eo:cloud_cover": 10.0, "s2:processing_baseline": "05.11"},
                              assets))
    sc.write_static_catalog(folder, {sd.S2_COLLECTION: items}, sd.SampleSpec())
    return LEFT, TOP
