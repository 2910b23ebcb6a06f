"""The minimum clear fraction every door takes (``--min-clear``, ``--min-clear-fraction``, the
job spec's ``min_clear_fraction``, Processing and the dock): its range and its message, in
one place, checked before any work."""

from __future__ import annotations

import math


class ClearFractionError(ValueError):
    """The minimum clear fraction is not a fraction from 0 to 1 (bad input: exit 2)."""

    exit_kind = "bad_input"


def check_min_clear_fraction(value, name: str = "the minimum clear fraction") -> float:
    """``value`` as a float from 0 to 1, or ClearFractionError saying what to give, naming
    it as ``name`` (the command line's option as typed)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not 0 <= number <= 1:
        hint = f"; for {number:g} % give {number / 100:g}" if 1 < number <= 100 else ""
        raise ClearFractionError(
            f"{name} must be a fraction from 0 to 1 (0.5: at least half "
            f"of a zone's pixels clear), not {value!r}{hint}")
    return number
