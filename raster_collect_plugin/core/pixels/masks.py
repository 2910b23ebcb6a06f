"""Cloud masks as data: Sentinel-2 SCL classes and Landsat QA_PIXEL bits by one vocabulary.

Users choose *which* conditions count as cloud with the names in ``MASK_CLASSES``; the tables
translate them for each sensor. Nodata / fill pixels are always invalid.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, Optional, Tuple

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
# Landsat Collection 2 QA_RADSAT: bits 0-8 radiometric saturation of a band (Landsat 4-7: bands
# 1-8; Landsat 8/9: bands 1-7 and 9), bit 9 dropped pixel (Landsat 4-7). Bit 11 (terrain
# occlusion, Landsat 8/9) is not saturation and is kept.
QA_RADSAT_BITS: Dict[str, int] = {"saturated": 0x3FF}
QA_RADSAT_ASSET = "qa_radsat"

MASK_CLASSES: Tuple[str, ...] = tuple(sorted(set(SCL_VALUES) | set(QA_PIXEL_BITS)))
# The default cloud mask, stated once: the README, the dock, the CLI help and every output's
# metadata read it from here (``default_mask_text``, ``describe``). Sentinel-2: SCL
# {0, 1, 3, 8, 9, 10}; Landsat: QA_PIXEL fill, dilated cloud, cirrus, cloud, cloud shadow and
# QA_RADSAT saturation where the items have that asset.
DEFAULT_MASK_CLASSES: FrozenSet[str] = frozenset(
    {"saturated", "cloud_shadow", "cloud_medium", "cloud_high", "thin_cirrus", "dilated_cloud"})


def validate_classes(classes: Iterable[str]) -> FrozenSet[str]:
    """Check mask class names; unknown names raise a ValueError listing the valid ones."""
    chosen = frozenset(classes)
    unknown = sorted(chosen - set(MASK_CLASSES))
    if unknown:
        raise ValueError(f"unknown cloud-mask classes {unknown}; choose from {list(MASK_CLASSES)}")
    return chosen


def chosen_classes(given: Optional[Iterable[str]]) -> FrozenSet[str]:
    """The classes a door was given: None (left out) is the default mask; an empty list is
    no cloud class at all (no-data pixels are still masked), as the dock's unticked boxes."""
    return DEFAULT_MASK_CLASSES if given is None else validate_classes(given)


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


def mask_has_data(mask_band: str, values):
    """True where a mask band (``"scl"`` or ``"qa_pixel"``) has data: SCL not no-data,
    QA_PIXEL without the fill bit (numpy and xarray/dask arrays)."""
    if mask_band == "scl":
        return values != SCL_NODATA
    if mask_band == "qa_pixel":
        return (values & (1 << QA_FILL_BIT)) == 0
    raise ValueError(f"unknown mask band {mask_band!r}")


def qa_radsat_invalid_bits(classes: Iterable[str]) -> int:
    """A bit mask of QA_RADSAT bits that make a pixel unusable (0 when saturation is kept)."""
    bits = 0
    for name in validate_classes(classes):
        bits |= QA_RADSAT_BITS.get(name, 0)
    return bits


def clear_from_qa_radsat(radsat, classes: Iterable[str]):
    """True where a Landsat pixel is not radiometrically saturated (when "saturated" is
    chosen); numpy and xarray/dask arrays."""
    return (radsat & qa_radsat_invalid_bits(classes)) == 0


def describe(sensor: str, classes: Iterable[str], *, radsat: Optional[bool] = None) -> dict:
    """What was masked, for outputs' metadata (``radsat``: whether QA_RADSAT was read)."""
    chosen = sorted(validate_classes(classes))
    if sensor == "sentinel-2":
        values = scl_invalid_values(chosen)
        return {"band": "SCL", "classes": chosen, "invalid_values": list(values),
                "invalid_names": [SCL_NAMES[v] for v in values]}
    if sensor == "landsat":
        bits = qa_pixel_invalid_bits(chosen)
        described = {"band": "QA_PIXEL", "classes": chosen,
                     "invalid_bits": [b for b in range(16) if bits & (1 << b)]}
        radsat_bits = qa_radsat_invalid_bits(chosen)
        if radsat_bits:
            described["saturation_band"] = "QA_RADSAT"
            described["saturation_bits"] = [b for b in range(16) if radsat_bits & (1 << b)]
            if radsat is not None:
                described["saturation_applied"] = radsat
        return described
    return {"band": None, "classes": [], "note": f"no cloud mask for {sensor}"}


def default_mask_text() -> str:
    """The default mask in one sentence (README, dock, CLI help)."""
    values = scl_invalid_values(DEFAULT_MASK_CLASSES)
    scl = ", ".join(f"{v} {SCL_NAMES[v]}" for v in values)
    bits = qa_pixel_invalid_bits(DEFAULT_MASK_CLASSES)
    qa_names = {0: "fill", 1: "dilated cloud", 2: "cirrus", 3: "cloud", 4: "cloud shadow",
                5: "snow"}
    qa = ", ".join(f"bit {b} {qa_names[b]}" for b in range(16) if bits & (1 << b))
    return (f"Default cloud mask: Sentinel-2 SCL classes {{{', '.join(map(str, values))}}} "
            f"({scl}); Landsat QA_PIXEL {qa}, and QA_RADSAT radiometric saturation (bits 0-9) "
            "where the scenes have it. Snow/ice, dark area and unclassified are kept unless "
            "chosen.")


def _isin(values, candidates: Tuple[int, ...]):
    if hasattr(values, "isin"):
        return values.isin(list(candidates))
    return np.isin(values, candidates)
