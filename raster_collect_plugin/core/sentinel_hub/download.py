"""sentinelhub-py's download clients with two changes the project needs.

- A rate-limit or quota answer (HTTP 429) whose ``Retry-After`` is longer than a small cap
  stops at once with the reset time (``QuotaExhausted``) instead of sleeping it out: the
  client would otherwise sleep the full wait, uncapped, up to ``max_retries`` times (about
  20 minutes when the monthly quota is spent). Shorter waits are still waited and retried.
  CDSE documentation, ``APIs/SentinelHub/Overview/RateLimiting.qmd``: 429 Too Many Requests,
  ``Retry-After`` in milliseconds.
- An interval ``error`` given as a plain string (``"error": "EXECUTION_ERROR"``, as in
  sentinelhub-py's recorded ``tests/TestInputs/normal_stat_partial_result.json``) is handled
  like the object form (``{"type": "EXECUTION_ERROR"}``) instead of crashing the client's
  interval retry.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from ..sources.providers.base import ProviderError

MAX_RETRY_WAIT_SECONDS = 30.0


class QuotaExhausted(ProviderError):
    """The service asked to wait longer than the cap: stop now, say when it resets."""

    def __init__(self, wait_seconds: float, now: Optional[datetime] = None):
        self.wait_seconds = wait_seconds
        self.resets_at = (now or datetime.now(timezone.utc)) + timedelta(seconds=wait_seconds)
        minutes = max(1, math.ceil(wait_seconds / 60))
        super().__init__(f"quota exhausted; it resets at {self.resets_at:%H:%M} UTC (in "
                         f"{minutes} min); completed work is kept")


def interval_error_type(error: Any) -> Optional[str]:
    """The error type of a Statistical API interval ``error``: an object with ``type`` or a
    plain string; None when there is none."""
    if not error:
        return None
    if isinstance(error, dict):
        return str(error.get("type") or error.get("message") or error)
    return str(error)


def _retry_after_seconds(headers, default_ms: float) -> float:
    try:
        return float(headers.get("Retry-After", default_ms)) / 1000
    except (TypeError, ValueError):
        return float(default_ms) / 1000


@functools.cache
def _clients():
    from sentinelhub.download.rate_limit import SentinelHubRateLimit
    from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient
    from sentinelhub.download.sentinelhub_statistical_client import (
        SentinelHubStatisticalDownloadClient,
    )

    class CappedRateLimit(SentinelHubRateLimit):
        def __init__(self, max_wait_seconds: float, **kwargs):
            super().__init__(**kwargs)
            self.max_wait_seconds = max_wait_seconds

        def update(self, headers: dict, *, default: float) -> None:
            wait = _retry_after_seconds(headers, default)
            if wait > self.max_wait_seconds:
                raise QuotaExhausted(wait)
            super().update(headers, default=default)

    class CappedClient(SentinelHubDownloadClient):
        def __init__(self, *args, max_wait_seconds: float = MAX_RETRY_WAIT_SECONDS, **kwargs):
            super().__init__(*args, **kwargs)
            self.rate_limit = CappedRateLimit(
                max_wait_seconds, num_processes=self.config.number_of_download_processes)

    class CappedStatisticalClient(SentinelHubStatisticalDownloadClient):
        def __init__(self, *args, max_wait_seconds: float = MAX_RETRY_WAIT_SECONDS, **kwargs):
            super().__init__(*args, **kwargs)
            self.rate_limit = CappedRateLimit(
                max_wait_seconds, num_processes=self.config.number_of_download_processes)

        def _has_retriable_error(self, stat_info: dict) -> bool:
            return interval_error_type(stat_info.get("error")) in self._RETRIABLE_ERRORS

    return SentinelHubStatisticalDownloadClient, CappedClient, CappedStatisticalClient


def use_capped_client(request, max_wait_seconds: float = MAX_RETRY_WAIT_SECONDS) -> None:
    """Make a sentinelhub-py request download through the capped client of its kind."""
    statistical, plain, capped_statistical = _clients()
    kind = capped_statistical if issubclass(_base(request.download_client_class), statistical) \
        else plain
    request.download_client_class = functools.partial(kind, max_wait_seconds=max_wait_seconds)


def _base(client_class):
    return client_class.func if isinstance(client_class, functools.partial) else client_class
