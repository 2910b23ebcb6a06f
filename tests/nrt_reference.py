"""Run JRC ``nrt`` on a small series and save what the parity test compares (run by
``tests/nrt_venv.py`` in a subprocess with nrt on its path, never inside pytest's process:
nrt pulls fiona/rasterio wheels with their own GDAL).

Usage: python nrt_reference.py INPUT.npz OUTPUT.npz
INPUT: values (time, y, x) float64, times (int64 ns), history_end (int64 ns), monitor (bool per
time: the observations to monitor after the fit)."""

import datetime
import sys

import numpy as np
import xarray as xr
from nrt.monitor.cusum import CuSum
from nrt.monitor.ewma import EWMA


def main(source: str, destination: str) -> None:
    data = np.load(source)
    values, times = data["values"], data["times"].astype("datetime64[ns]")
    history = times <= data["history_end"].astype("datetime64[ns]")
    cube = xr.DataArray(values, dims=("time", "y", "x"),
                        coords={"time": times, "y": np.arange(values.shape[1], 0, -1) * 10.0,
                                "x": np.arange(values.shape[2]) * 10.0})
    out = {}
    ewma = EWMA(trend=False, harmonic_order=2, lambda_=0.3, sensitivity=2)
    ewma.fit(cube.isel(time=np.flatnonzero(history)), method="OLS",
             screen_outliers="Shewhart", L=5)
    out.update(ewma_beta=ewma.beta, ewma_sigma=ewma.sigma, ewma_boundary=ewma.boundary,
               ewma_process=ewma.process)
    cusum = CuSum(trend=False, harmonic_order=2, sensitivity=0.05)
    cusum.fit(cube.isel(time=np.flatnonzero(history)), method="OLS",
              screen_outliers="Shewhart", L=5)
    out.update(cusum_beta=cusum.beta, cusum_sigma=cusum.sigma, cusum_fit_process=cusum.process,
               cusum_critval=np.float64(cusum.critval), cusum_histsize=cusum.histsize)
    for position in np.flatnonzero(data["monitor"]):
        when = times[position].astype("datetime64[us]").astype(datetime.datetime)
        cusum.monitor(values[position], when, update_mask=False)
    out.update(cusum_process=cusum.process, cusum_boundary=cusum.boundary)
    np.savez(destination, **{k: np.asarray(v, dtype=np.float64) for k, v in out.items()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
