"""The valid values of the monitoring keys (README's table): ``MonitorParams.check`` refuses by
them and the doors bound their controls by them (Processing's advanced parameters); the
defaults are ``MonitorParams``'s own. Light: QGIS's Python reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MAX_RUN = 1000  # most observations confirm / recover may ask for (~6 years of clear scenes)


@dataclass(frozen=True)
class Range:
    """From ``least`` (excluded when ``above``) up to ``most`` (none: no upper bound;
    excluded when ``below``)."""

    least: float
    most: Optional[float] = None
    above: bool = False
    below: bool = False

    def holds(self, value) -> bool:
        # written as "inside" comparisons so that NaN is refused too
        low = value > self.least if self.above else value >= self.least
        high = self.most is None or (value < self.most if self.below else value <= self.most)
        return bool(low and high)

    def words(self) -> str:
        """E.g. "more than 0 and at most 1", "0 or more", "between 0 and 4"."""
        if self.most is None:
            return f"more than {self.least:g}" if self.above else f"{self.least:g} or more"
        if not (self.above or self.below):
            return f"between {self.least:g} and {self.most:g}"
        low = f"more than {self.least:g}" if self.above else f"at least {self.least:g}"
        return f"{low} and {'less than' if self.below else 'at most'} {self.most:g}"


# confirm / recover: whole observations (the per-pixel counters are int16); min_history_obs:
# at least one more than the model's coefficients (MonitorParams.least_history_obs)
RANGES = {
    "confirm": Range(1, MAX_RUN),
    "recover": Range(1, MAX_RUN),
    "alpha": Range(0, 1, above=True, below=True),
    "lambda_": Range(0, 1, above=True),
    "harmonic_order": Range(0, 4),
    "threshold": Range(0),
    "min_drop": Range(0),
    "outlier_sigma": Range(0),
    "sensitivity": Range(0, above=True),
    "screen_sigma": Range(0, above=True),
}
