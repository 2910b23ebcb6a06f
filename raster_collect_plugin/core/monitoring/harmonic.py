"""The stable-history model of one index per pixel: intercept, optional linear trend and annual
harmonics, fitted by least squares over the clear observations of the history period.

The regressors follow JRC ``nrt`` (``nrt.utils.build_regressors``): decimal year for the
harmonics, days since 1970 for the trend; outliers of the history (missed clouds, shadows) are
screened with a Shewhart chart as in ``nrt.outliers.shewhart`` (Brooks et al. 2014): a first
fit, then every residual beyond ``L`` standard deviations is dropped and the model refitted.
"""

from __future__ import annotations

import warnings
from datetime import date
from typing import Optional, Sequence, Tuple

import numpy as np


def decimal_years(times: Sequence) -> np.ndarray:
    """Decimal years of datetimes (numpy datetime64), e.g. 2024-07-02 -> 2024.5."""
    days = np.asarray(times, dtype="datetime64[ns]").astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    first = years.astype("datetime64[D]")
    last = (years + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    fraction = (np.asarray(times, dtype="datetime64[ns]") - first.astype("datetime64[ns]")) / \
        (last - first).astype("timedelta64[ns]")
    return years.astype(int) + 1970 + fraction.astype(float)


YEAR_DAYS = 365  # an annual harmonic sees each season once a year


def short_history_note(history_start: date, history_end: date,
                       harmonic_order: int) -> Optional[str]:
    """The warning for a model with annual harmonics fitted on less than a year (None
    otherwise): the seasons it has not seen depart from it, in intact stands too."""
    days = (history_end - history_start).days + 1
    if harmonic_order < 1 or days >= YEAR_DAYS:
        return None
    return (f"the stable history ({history_start} .. {history_end}) is {days} days, less than "
            "a year: the model's annual harmonics cannot learn the seasons from it, so the "
            "seasons it has not seen are flagged as disturbance, in intact stands too; give a "
            "stable history of a year or more (e.g. two)")


def coefficients(harmonic_order: int = 2, trend: bool = False) -> int:
    """The model's coefficients: intercept, optional trend, a cosine and a sine per
    harmonic (``design_matrix``'s columns)."""
    return 1 + int(bool(trend)) + 2 * harmonic_order


def design_matrix(times: Sequence, *, harmonic_order: int = 2, trend: bool = False
                  ) -> np.ndarray:
    """Regressors (observations, 1 + trend + 2 * harmonic_order) for ``times``."""
    times = np.asarray(times, dtype="datetime64[ns]")
    columns = [np.ones(len(times))]
    if trend:
        columns.append((times.astype("datetime64[D]").astype(np.int64)).astype(float))
    if harmonic_order:
        angle = 2 * np.pi * decimal_years(times)
        columns += [np.cos(angle * (i + 1)) for i in range(harmonic_order)]
        columns += [np.sin(angle * (i + 1)) for i in range(harmonic_order)]
    return np.stack(columns, axis=1)


def _least_squares(X: np.ndarray, y: np.ndarray, min_obs: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-pixel least squares ignoring NaN: beta (k, n) and whether the pixel had enough
    observations for a determined fit."""
    valid = np.isfinite(y)
    weights = valid.astype(np.float64)
    filled = np.where(valid, y, 0.0)
    k = X.shape[1]
    # X'WX of every pixel as one matrix product (BLAS), not a loop over pixels
    products = (X[:, :, np.newaxis] * X[:, np.newaxis, :]).reshape(len(X), k * k)
    normal = (weights.T @ products).reshape(-1, k, k)
    right = filled.T @ X
    count = valid.sum(axis=0)
    enough = count >= max(min_obs, k + 1)
    # a pixel without enough observations gets the identity (beta 0) and is marked unfit
    normal[~enough] = np.eye(k)
    right[~enough] = 0.0
    determinant_ok = np.abs(np.linalg.det(normal)) > 1e-12
    normal[~determinant_ok] = np.eye(k)
    right[~determinant_ok] = 0.0
    beta = np.linalg.solve(normal, right[..., np.newaxis])[..., 0].T
    return beta, enough & determinant_ok


def fit_history(X: np.ndarray, y: np.ndarray, *, screen_sigma: float = 5.0, min_obs: int = 10
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit the history (observations, pixels), NaN where not clear.

    Returns beta (k, pixels), residuals (observed - expected, NaN where screened or not clear),
    sigma (standard deviation of those residuals) and whether each pixel could be fitted."""
    y = np.asarray(y, dtype=np.float64)
    beta, fitted = _least_squares(X, y, min_obs)
    if screen_sigma:
        residuals = y - X @ beta
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            sigma = np.nanstd(np.where(fitted, residuals, np.nan), axis=0)
            y = np.where(np.abs(residuals) > screen_sigma * sigma, np.nan, y)
        beta, fitted = _least_squares(X, y, min_obs)
    residuals = y - X @ beta
    residuals[:, ~fitted] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: sigma NaN
        sigma = np.nanstd(residuals, axis=0)
    return beta, residuals, sigma, fitted
