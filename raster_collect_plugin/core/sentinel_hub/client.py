"""The Sentinel Hub client every API shares: the account settings (Copernicus Data Space by
default), the OAuth session with a token renewed once when it expires, and how a failed call
is named (HTTP status, rate limiting)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..sources.endpoints import CDSE_BASE_URL, CDSE_TOKEN_URL
from ..sources.providers.base import ProviderError
from . import rules as rules

PROVIDER_NAME = "Copernicus Data Space"
COLLECTION = "sentinel-2-l2a"


class MissingCredentials(ProviderError):
    """No client id / secret: the user's to set (exit 2, the one line with the fix), not a
    failure of the service."""

    exit_kind = "bad_input"  # errors.classify: one line, exit 2 (a job's error event too)


@dataclass(frozen=True)
class CopernicusSettings:
    """Where and how to reach Sentinel Hub (CDSE by default)."""

    base_url: str = CDSE_BASE_URL
    token_url: str = CDSE_TOKEN_URL
    client_id: Optional[str] = None
    client_secret: Optional[str] = None
    max_retries: int = 3
    retry_sleep_seconds: float = 5.0
    timeout_seconds: float = 120.0
    catalog_page_size: int = 100  # Catalog API: 10 a page by default, at most 100
    # a 429 asking to wait longer than this stops the run with the reset time (download.py)
    max_retry_wait_seconds: float = 30.0

    def __repr__(self) -> str:  # never print the secret
        return (f"CopernicusSettings(base_url={self.base_url!r}, token_url={self.token_url!r}, "
                f"client_id={'set' if self.client_id else None})")

    def sh_config(self, *, required: bool = True):
        """A sentinelhub SHConfig; credentials from this object or the environment. A dry
        run, which builds its requests but sends none, passes ``required=False``: without
        credentials it still shows its estimate."""
        from sentinelhub import SHConfig

        client_id = self.client_id or os.environ.get("SH_CLIENT_ID")
        client_secret = self.client_secret or os.environ.get("SH_CLIENT_SECRET")
        if required and not (client_id and client_secret):
            raise MissingCredentials(
                f"{PROVIDER_NAME}: no OAuth credentials. In QGIS store the client id and "
                "secret in the authentication database; on the command line set SH_CLIENT_ID "
                "and SH_CLIENT_SECRET.")
        if required and not self.token_url.lower().startswith("https://") and \
                not os.environ.get("OAUTHLIB_INSECURE_TRANSPORT"):  # was a traceback
            raise MissingCredentials(
                f"{PROVIDER_NAME}: the OAuth token URL {self.token_url} is not https://, and "
                "the client secret is never sent in clear: give an https:// --token-url "
                "('token_url')")
        _silence_credential_logging()
        config = SHConfig(use_defaults=True)
        config.sh_client_id, config.sh_client_secret = client_id, client_secret
        config.sh_base_url, config.sh_token_url = self.base_url, self.token_url
        config.max_download_attempts = self.max_retries
        config.max_retries = self.max_retries
        config.download_sleep_time = self.retry_sleep_seconds
        config.download_timeout_seconds = self.timeout_seconds
        return config

    def data_collection(self):
        """Sentinel-2 L2A on this deployment (not the commercial endpoint)."""
        from sentinelhub import DataCollection

        name = f"SENTINEL2_L2A_{abs(hash(self.base_url)) % 10**8}"
        return DataCollection.SENTINEL2_L2A.define_from(name, service_url=self.base_url)


def _silence_credential_logging() -> None:
    """requests-oauthlib logs the token request, client secret included, at DEBUG level:
    never let those records exist, whatever the application's logging level."""
    import logging

    for name in ("requests_oauthlib", "oauthlib"):
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def _get_with_fresh_token(request, *, save: bool, max_wait_seconds: float = 30.0,
                          decode: bool = True):
    """``get_data``; if the service refuses a token the client still thought valid (401),
    drop the cached session and try once more with a new token. A 429 asking to wait longer
    than ``max_wait_seconds`` raises ``download.QuotaExhausted`` at once."""
    from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient
    from sentinelhub.exceptions import DownloadFailedException

    from .download import use_capped_client

    use_capped_client(request, max_wait_seconds)
    try:
        return request.get_data(save_data=save, decode_data=decode)
    except DownloadFailedException as error:
        if http_status(error) != 401:
            raise
        SentinelHubDownloadClient.clear_cache()
        return request.get_data(save_data=save, decode_data=decode)


def _reason(error: Exception) -> str:
    """One line: the HTTP status and the service's own message when there is one (no URL)."""
    import re

    text = str(error).strip()
    status = re.search(r"\b([45]\d\d) (?:Client|Server) Error", text)
    server = re.search(r'Server response: "(.*)"', text, re.S)
    if server:
        message = " ".join(server.group(1).split())
        return f"HTTP {status.group(1)}: {message}"[:300] if status else message[:300]
    lines = [line for line in text.splitlines() if line and not line.startswith("http")]
    return " ".join(lines[-1:] or [type(error).__name__])[:300]


def http_status(error: Exception) -> Optional[int]:
    """The HTTP status of a failed download (None when there was no response). Judged from
    the response, never from digits in the message: a loopback port such as 42913 or a size
    may contain "429"."""
    response = getattr(getattr(error, "request_exception", None), "response", None)
    return None if response is None else int(response.status_code)


def is_rate_limited(error: Exception) -> bool:
    """Whether a failed download was an HTTP 429 (Too Many Requests)."""
    status = http_status(error)
    return status == 429 if status is not None else "Too Many Requests" in str(error)
