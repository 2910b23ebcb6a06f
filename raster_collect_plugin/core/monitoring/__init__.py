"""Monitoring: per-pixel disturbance monitoring of one index series that updates as each new
scene arrives: a stable-history harmonic fit, an EWMA control chart and fordead's rule
(``confirm`` consecutive anomalies confirm, ``recover`` normal ones end), per-pixel status,
dates, magnitude and confidence; per compartment and hexagon areas; the state kept beside the
outputs so a rerun processes only newer scenes.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "ALERTS_SINCE_DEFAULT": "state",
    "ALERT_COLOURS": "state",
    "CONFIDENCE_NAMES": "state",
    "FORESTS_NAME": "folder_forests",
    "MonitorParams": "state",
    "MonitorState": "state",
    "STATUS_NAMES": "state",
    "StateError": "state",
    "default_params": "state",
    "fit_state": "detector",
    "late_warning": "late",
    "monitor_series": "detector",
    "placed_forests": "folder_forests",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
