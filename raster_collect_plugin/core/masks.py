"""Cloud masks as data: Sentinel-2 SCL classes and Landsat QA_PIXEL bits by one vocabulary.

Users choose *which* conditions count as cloud with the names in ``MASK_CLASSES``; the tables
translate them for each sensor. Nodata / fill pixels are always invalid.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, Tuple

import numpy as np

# condition -> Sentinel-2 scene classification values
SCL_VALUES: Dict[str, Tuple[int, ...]] = {
    "saturated": (1,),
    "dark_area": (2,),
    "cloud_shadow": (3,),
    "unclassified": (7,),
    "cloud_medium": (8,),
    "cloud_high": (9,),
    "thin_cirrus": (10,),
    "snow": (11,),
}
SCL_NODATA = 0
SCL_NAMES = {0: "no data", 1: "saturated/defective", 2: "dark area", 3: "cloud shadow",
             4: "vegetation", 5: "bare soil", 6: "water", 7: "unclassified",
             8: "cloud medium probability", 9: "cloud high probability", 10: "thin cirrus",
             11: "snow/ice"}

# condition -> Landsat Collection 2 QA_PIXEL bit numbers
QA_PIXEL_BITS: Dict[str, Tuple[int, ...]] = {
    "dilated_cloud": (1,),
    "thin_cirrus": (2,),
    "cloud_medium": (3,),
    "cloud_high": (3,),
    "cloud_shadow": (4,),
    "snow": (5,),
}
QA_FILL_BIT = 0

MASK_CLASSES: Tuple[str, ...] = tuple(sorted(set(SCL_VALUES) | set(QA_PIXEL_BITS)))
DEFAULT_MASK_CLASSES: FrozenSet[str] = frozenset(
    {"cloud_shadow", "cloud_medium", "cloud_high", "thin_cirrus", "dilated_cloud"})


def validate_classes(classes: Iterable[str]) -> FrozenSet[str]:
    """Check mask class names; unknown names raise a ValueError listing the valid ones."""
    chosen = frozenset(classes)
    unknown = sorted(chosen - set(MASK_CLASSES))
    if unknown:
        raise ValueError(f"unknown cloud-mask classes {unknown}; choose from {list(MASK_CLASSES)}")
    return chosen


def scl_invalid_values(classes: Iterable[str]) -> Tuple[int, ...]:
    """SCL values that make a pixel unusable (always including no data)."""
    values = {SCL_NODATA}
    for name in validate_classes(classes):
        values.update(SCL_VALUES.get(name, ()))
    return tuple(sorted(values))


def qa_pixel_invalid_bits(classes: Iterable[str]) -> int:
    """A bit mask of QA_PIXEL bits that make a pixel unusable (always including fill)."""
    bits = 1 << QA_FILL_BIT
    for name in validate_classes(classes):
        for bit in QA_PIXEL_BITS.get(name, ()):
            bits |= 1 << bit
    return bits


def clear_from_scl(scl, classes: Iterable[str]):
    """True where a Sentinel-2 pixel is usable (works on numpy and xarray/dask arrays)."""
    invalid = scl_invalid_values(classes)
    return ~_isin(scl, invalid)


def clear_from_qa_pixel(qa, classes: Iterable[str]):
    """True where a Landsat pixel is usable: none of the chosen bits (nor fill) is set.

    The "clear" bit alone is not trusted: it can be set together with cirrus or shadow bits.
    """
    return (qa & qa_pixel_invalid_bits(classes)) == 0


def describe(sensor: str, classes: Iterable[str]) -> dict:
    """What was masked, for outputs' metadata."""
    chosen = sorted(validate_classes(classes))
    if sensor == "sentinel-2":
        values = scl_invalid_values(chosen)
        return {"band": "SCL", "classes": chosen, "invalid_values": list(values),
                "invalid_names": [SCL_NAMES[v] for v in values]}
    if sensor == "landsat":
        bits = qa_pixel_invalid_bits(chosen)
        return {"band": "QA_PIXEL", "classes": chosen,
                "invalid_bits": [b for b in range(16) if bits & (1 << b)]}
    return {"band": None, "classes": [], "note": f"no cloud mask for {sensor}"}


def _isin(values, candidates: Tuple[int, ...]):
    if hasattr(values, "isin"):
        return values.isin(list(candidates))
    return np.isin(values, candidates)
