"""Compare two runs of tools/qgis_matrix_checks.py (e.g. QGIS 3.40 against the host's 3.22):
identical tables and equal raster arrays. Run with a Python that has rasterio and pandas
(the project's venv), outside QGIS.

    python qgis_matrix_compare.py REFERENCE_OUT OTHER_OUT
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Dict, List

RUN_FOLDER = re.compile(r"raster-collect-\d{8}-\d{6}-[0-9a-f]{4}")
# per-run facts (times, versions, absolute paths), not results
SKIPPED = {".json", ".log", ".txt", ".xml", ".aux"}


def outputs(out: Path) -> Dict[str, Path]:
    """The result files of a run keyed by their path with run-folder names replaced."""
    files = {}
    for folder in ("job", "dock"):
        for path in sorted((out / folder).rglob("*")):
            if path.is_file() and path.suffix not in SKIPPED:
                files[RUN_FOLDER.sub("RUN", str(path.relative_to(out)))] = path
    return files


def same_raster(a: Path, b: Path) -> str:
    import numpy as np
    import rasterio

    with rasterio.open(a) as first, rasterio.open(b) as second:
        for attribute in ("crs", "transform", "count", "dtypes", "descriptions", "nodata"):
            if repr(getattr(first, attribute)) != repr(getattr(second, attribute)):
                return f"{attribute}: {getattr(first, attribute)} != {getattr(second, attribute)}"
        one, two = first.read(), second.read()
    if not np.array_equal(one, two, equal_nan=True):
        differ = ~((one == two) | (np.isnan(one) & np.isnan(two))
                   if one.dtype.kind == "f" else one == two)
        return f"{int(differ.sum())} of {one.size} values differ"
    return ""


def table(path: Path, out: Path):
    import pandas as pd

    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:  # GeoPackage: attributes and geometries (as WKB) of every layer
        import pyogrio

        frames = []
        for layer, _ in pyogrio.list_layers(path):
            part = pyogrio.read_dataframe(path, layer=layer)
            wkb = part.geometry.to_wkb() if "geometry" in part.columns else None
            part = pd.DataFrame(part).assign(_layer=layer)
            if wkb is not None:
                part["geometry"] = wkb
            frames.append(part)
        frame = pd.concat(frames, ignore_index=True)
    # absolute paths name the run's own folder
    return frame.replace(str(out), "OUT", regex=True)


def same_table(a: Path, b: Path, out_a: Path, out_b: Path) -> str:
    first, second = table(a, out_a), table(b, out_b)
    if list(first.columns) != list(second.columns):
        return f"columns {list(first.columns)} != {list(second.columns)}"
    if first.equals(second):
        return ""
    return f"{len(first)} vs {len(second)} rows; first different column(s): " + ", ".join(
        c for c in first.columns if not first[c].equals(second[c]))[:300]


def compare(out_a: Path, out_b: Path) -> List[str]:
    """The differences, one line each (empty: identical)."""
    files_a, files_b = outputs(out_a), outputs(out_b)
    problems = [f"only in {out_a}: {name}" for name in sorted(set(files_a) - set(files_b))]
    problems += [f"only in {out_b}: {name}" for name in sorted(set(files_b) - set(files_a))]
    compared = 0
    for name in sorted(set(files_a) & set(files_b)):
        a, b = files_a[name], files_b[name]
        if a.suffix == ".tif":
            difference = same_raster(a, b)
        elif a.suffix in (".csv", ".parquet", ".gpkg"):
            difference = same_table(a, b, out_a, out_b)
        else:
            difference = "" if a.read_bytes() == b.read_bytes() else "bytes differ"
        compared += 1
        if difference:
            problems.append(f"{name}: {difference}")
    if compared == 0:
        problems.append("no outputs to compare")
    print(f"compared {compared} files of {out_a} and {out_b}: "
          f"{'identical' if not problems else f'{len(problems)} difference(s)'}")
    return problems


if __name__ == "__main__":
    found = compare(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
    for line in found:
        print("  " + line)
    sys.exit(1 if found else 0)
