"""Moved to :mod:`raster_collect_plugin.engine.bridge` (kept so older imports keep working)."""

from .engine.bridge import *  # noqa: F401,F403
from .engine.bridge import JobCancelled, JobFailed, engine_python, run_job  # noqa: F401
