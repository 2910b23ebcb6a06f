"""The control charts that gate an anomaly: JRC nrt's EWMA (``nrt.monitor.ewma.EWMA``) or
CuSum (``nrt.monitor.cusum.CuSum``, the OLS-CUSUM of R's bfast/strucchange), one value per
pixel updated one observation at a time. Each keeps its process in the state's ``ewma`` array
(the name predates CuSum) and its boundary in ``boundary``."""

from __future__ import annotations

import math
import warnings

import numpy as np

METHODS = ("ewma", "cusum")


def cusum_critical_value(alpha: float) -> float:
    """The OLS-CUSUM critical value for significance ``alpha``: the root of
    2 (Phi(x) - x phi(x)) + alpha - 2 = 0 (nrt ``utils_efp._cusum_ols_test_crit``, solved
    there by golden section; here by bisection, to 1e-12)."""
    def f(x: float) -> float:
        cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))
        pdf = math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        return 2 * (cdf - x * pdf) + alpha - 2

    low, high = 0.0, 10.0  # f(0) = alpha - 1 < 0, f(10) = alpha > 0
    while high - low > 1e-12:
        middle = (low + high) / 2
        low, high = (middle, high) if f(middle) < 0 else (low, middle)
    return (low + high) / 2


def init_chart(arrays, residuals: np.ndarray, params, columns: int, pixels: slice) -> None:
    """The chart's state at the end of the history for ``pixels`` (residuals: observed -
    expected, NaN where screened or not clear; ``columns``: regressors of the model)."""
    if params.method == "cusum":
        # nrt CuSum.fit: sigma with ddof = regressors, the process is the history's sum of
        # residuals / (sigma sqrt(history size)) (about 0 for an OLS fit with an intercept)
        size = np.sum(np.isfinite(residuals), axis=0)
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            sigma = np.nanstd(residuals, axis=0, ddof=columns)
            scale = sigma * np.sqrt(size)
            process = np.nansum(residuals, axis=0) / scale
        arrays["history_size"][pixels] = size
        arrays["scale"][pixels] = scale
        arrays["ewma"][pixels] = np.where(np.isfinite(process), process, 0.0)
        return
    # nrt EWMA._init_process: the EWMA over the history, NaN skipped
    lambda_ = params.lambda_
    ewma = np.zeros(residuals.shape[1])
    for row in residuals:
        ewma = np.where(np.isnan(row), ewma, (1 - lambda_) * ewma + lambda_ * row)
    arrays["ewma"][pixels] = ewma


def init_boundary(arrays, params) -> None:
    """The boundary after the fit: EWMA's is fixed (L sigma sqrt(lambda / (2 - lambda)));
    CuSum's grows with the monitoring period and is set at every observation."""
    if params.method == "cusum":
        arrays["boundary"][:] = np.nan
        return
    arrays["boundary"][:] = params.sensitivity * arrays["sigma"] * np.sqrt(
        params.lambda_ / (2 - params.lambda_))


def update_chart(arrays, residual: np.ndarray, valid: np.ndarray, params) -> np.ndarray:
    """Add one observation's (clipped) residuals where ``valid``; returns where the process
    is beyond its boundary in the disturbance direction."""
    sign = -1.0 if params.direction == "decrease" else 1.0
    if params.method == "cusum":
        # nrt CuSum._update_process: n counts the history and every valid observation since;
        # x = n / history size; boundary sqrt(x (x - 1) (crit^2 + ln(x / (x - 1))))
        size = arrays["history_size"].astype(np.float64)
        n = size + arrays["observations"] + valid
        with np.errstate(invalid="ignore", divide="ignore"):
            x = n / size
            boundary = np.sqrt(x * (x - 1) * (cusum_critical_value(params.alpha) ** 2
                                              + np.log(x / (x - 1))))
            step = residual / arrays["scale"]
        arrays["boundary"] = np.where(valid, boundary, arrays["boundary"])
        arrays["ewma"] = np.where(valid, arrays["ewma"] + step, arrays["ewma"])
    else:
        lambda_ = params.lambda_
        arrays["ewma"] = np.where(valid, (1 - lambda_) * arrays["ewma"] + lambda_ * residual,
                                  arrays["ewma"])
    with np.errstate(invalid="ignore"):
        return sign * arrays["ewma"] >= arrays["boundary"]
