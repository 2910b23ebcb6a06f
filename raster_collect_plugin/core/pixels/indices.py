"""The single registry of spectral indices. Local computation and server-side evalscripts are
both generated from these definitions, so each formula exists once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .expression import Expression, ExpressionError, parse

# the ``units`` tag of a composite in decibels (10·log10 of linear power): zonal statistics
# average such bands in linear power (``zonal.reader.decibel_bands``)
DECIBELS = "dB"


@dataclass(frozen=True)
class SpectralIndex:
    """A named band expression with adjustable constants."""

    name: str
    formula: str
    description: str
    parameters: Mapping[str, float] = field(default_factory=dict)
    value_range: Tuple[float, float] = (-1.0, 1.0)
    sensors: Tuple[str, ...] = ("sentinel-2", "landsat", "worldview")
    decibels: bool = False  # linear power: composite in linear units, report in dB
    # constants in reflectance units (EVI's L = 1, SAVI's L = 0.5): meaningless on digital
    # numbers (Maxar Open Data's rule "none"), which only ratio indices such as NDVI tolerate
    reflectance: bool = False

    @property
    def units(self) -> str:
        """The composites' ``units`` tag: DECIBELS, or "index"."""
        return DECIBELS if self.decibels else "index"

    @property
    def expression(self) -> Expression:
        return parse(self.formula)

    @property
    def bands(self) -> Tuple[str, ...]:
        return tuple(sorted(self.expression.names - set(self.parameters)))

    def compute(self, bands: Mapping[str, Any], **overrides: float) -> Any:
        """Evaluate on band arrays; ``overrides`` replace default constants (e.g. L=0.5)."""
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise ExpressionError(f"{self.name} has no parameters {unknown}")
        values: Dict[str, Any] = dict(self.parameters)
        values.update(overrides)
        values.update(bands)
        return self.expression.evaluate(values)

    def describe(self, **overrides: float) -> dict:
        """Formula and constants as recorded in outputs' metadata."""
        constants = dict(self.parameters)
        constants.update(overrides)
        return {"name": self.name, "formula": self.formula, "constants": constants}


EPS = "1e-10"  # keeps divisions finite where both bands are zero
INDICES: Dict[str, SpectralIndex] = {index.name: index for index in (
    SpectralIndex("NDVI", f"(nir - red) / (nir + red + {EPS})",
                  "Normalised difference vegetation index"),
    SpectralIndex("EVI", f"G * (nir - red) / (nir + C1 * red - C2 * blue + L + {EPS})",
                  "Enhanced vegetation index", {"G": 2.5, "C1": 6.0, "C2": 7.5, "L": 1.0},
                  value_range=(-1.0, 1.0), reflectance=True),
    SpectralIndex("NDMI", f"(nir - swir16) / (nir + swir16 + {EPS})",
                  "Normalised difference moisture index", sensors=("sentinel-2", "landsat")),
    SpectralIndex("NBR", f"(nir - swir22) / (nir + swir22 + {EPS})",
                  "Normalised burn ratio (also sensitive to canopy loss)",
                  sensors=("sentinel-2", "landsat")),
    SpectralIndex("SAVI", f"(1 + L) * (nir - red) / (nir + red + L + {EPS})",
                  "Soil-adjusted vegetation index", {"L": 0.5}, reflectance=True),
    SpectralIndex("NDWI", f"(green - nir) / (green + nir + {EPS})",
                  "Normalised difference water index (McFeeters)"),
    SpectralIndex("NDRE", f"(nir - rededge1) / (nir + rededge1 + {EPS})",
                  "Normalised difference red-edge index", sensors=("sentinel-2",)),
    SpectralIndex("VHVV", f"vh / (vv + {EPS})", "Sentinel-1 cross-pol ratio (linear)",
                  value_range=(0.0, 1.0), sensors=("sentinel-1",)),
    SpectralIndex("VV", "vv", "Sentinel-1 VV backscatter (gamma0, dB)", value_range=(-25, 0),
                  sensors=("sentinel-1",), decibels=True),
    SpectralIndex("VH", "vh", "Sentinel-1 VH backscatter (gamma0, dB)", value_range=(-30, -5),
                  sensors=("sentinel-1",), decibels=True),
)}


def get_index(name: str, custom_formula: Optional[str] = None) -> SpectralIndex:
    """A registered index by (case-insensitive) name, or a user-defined one from a formula."""
    if custom_formula is not None:
        if name.upper() in INDICES:  # the outputs would carry the built-in's name
            raise ExpressionError(
                f"custom index {name!r} has the name of a built-in index: name your formula "
                f"otherwise (e.g. {name}_custom=...), or choose {name} without a formula")
        _check_name(name)
        _check_band_names(name, parse(custom_formula))  # validate now, with a clear message
        return SpectralIndex(name, custom_formula, "User-defined band expression",
                             value_range=(float("-inf"), float("inf")),
                             sensors=("sentinel-2", "landsat", "sentinel-1", "worldview"))
    try:
        return INDICES[name.upper()]
    except KeyError:
        raise ExpressionError(
            f"unknown index {name!r}; choose from {sorted(INDICES)} or give a band expression"
        ) from None


def listed_once(indices: List[SpectralIndex]) -> List[SpectralIndex]:
    """``indices`` when no index is in it twice (NDVI and ndvi are one index: it would be
    computed twice into one output, and counted twice in the memory estimate)."""
    names = [index.name.upper() for index in indices]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ExpressionError(f"index {repeated[0]} is given more than once: list each index "
                              "once")
    return indices


# characters a file name cannot hold (on Windows or anywhere): the name names the outputs
NOT_IN_NAMES = '/\\:*?"<>|'


def _check_name(name: str) -> None:
    """A custom index's name names its output files: no path separators, no characters
    Windows refuses, nothing invisible (else the run fails when it writes, or writes
    elsewhere)."""
    bad = sorted({c for c in name if c in NOT_IN_NAMES or not c.isprintable()})
    if not name.strip() or bad or name != name.strip():
        shown = " ".join(repr(c) for c in bad) or ("spaces at its ends" if name.strip()
                                                    else "empty")
        raise ExpressionError(
            f"custom index name {name!r} cannot be a file name ({shown}): use letters, "
            "digits, _ or -, e.g. GNDVI")


def _check_band_names(name: str, expression: Expression) -> None:
    """A user's formula names only bands some sensor has: an unknown name would otherwise
    make every sensor skip the index without a word."""
    from .bands import band_names

    unknown = sorted(expression.names - set(band_names()))
    if unknown:
        raise ExpressionError(
            f"custom index {name!r} uses unknown band(s) {', '.join(unknown)}; the band names "
            f"are {', '.join(band_names())}")


def indices_for(indices: Sequence[SpectralIndex], profile, collection: str
                ) -> Tuple[List[SpectralIndex], Dict[str, str]]:
    """The indices a collection (its band ``profile``: ``assets``, ``sensor``) can give, and
    why each other one cannot (index name -> reason)."""
    usable: List[SpectralIndex] = []
    skipped: Dict[str, str] = {}
    for index in indices:
        missing = [b for b in index.bands if b not in profile.assets]
        if index.reflectance and getattr(profile, "rule", None) == "none" and not missing \
                and profile.sensor in index.sensors:
            skipped[index.name] = (f"{index.name} needs surface reflectance and {collection}'s "
                                   "values are digital numbers: use NDVI")
        elif profile.sensor not in index.sensors or missing:
            skipped[index.name] = (f"{collection} has no {' or '.join(missing)} band" if missing
                                   else f"{index.name} is not defined for {profile.sensor}")
        else:
            usable.append(index)
    return usable, skipped


def profile_for_scenes(profile, items: Sequence, indices: Sequence[SpectralIndex],
                       collection: str, colours: Callable[[object], Mapping] = lambda _: {}):
    """The band profile a run over ``items`` uses: without the bands no scene found has
    (``bands.bands_of_scenes``: a collection document may name a band its scenes lack) when
    an index (or a colour composite: ``colours(profile)``) remains computable, so that only
    the indices needing a missing band are skipped (NDMI without B11, NDVI from every scene);
    else ``profile`` as it is, and the scenes are skipped with what each lacks."""
    from .bands import bands_of_scenes

    narrowed = bands_of_scenes(profile, items)
    if narrowed is profile:
        return profile
    return narrowed if indices_for(indices, narrowed, collection)[0] or colours(narrowed) \
        else profile
