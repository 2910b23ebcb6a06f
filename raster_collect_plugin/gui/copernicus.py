"""The dock's Copernicus Data Space source: where it points (settings) and the credentials a
search job gets, read from the QGIS authentication database on the main thread and handed to
the job's environment only (never to settings, specs or logs)."""

from __future__ import annotations

from typing import Dict, Optional

from .. import settings
from ..core.sources.endpoints import CDSE_BASE_URL, CDSE_TOKEN_URL


def source_addresses() -> Dict[str, str]:
    """The job source's ``url``/``token_url`` (the settings, else CDSE's) and the monthly
    budget of the options page."""
    return {"url": settings.value("copernicus/base_url") or CDSE_BASE_URL,
            "token_url": settings.value("copernicus/oauth_url") or CDSE_TOKEN_URL,
            "pu_budget": settings.value("copernicus/pu_budget")}


def job_credentials(spec: Dict) -> Optional[Dict[str, str]]:
    """SH_CLIENT_ID / SH_CLIENT_SECRET for a job that uses the Copernicus source, from the
    authentication configuration chosen in the options (None: QGIS's own environment)."""
    if not any((s or {}).get("kind") == "copernicus" for s in spec.get("sources") or []):
        return None
    auth_id = settings.value("copernicus/auth_config_id")
    if not auth_id:
        return None
    from qgis.core import QgsApplication, QgsAuthMethodConfig

    config = QgsAuthMethodConfig()
    if not QgsApplication.authManager().loadAuthenticationConfig(auth_id, config, True):
        raise ValueError(f"Cannot read the Copernicus authentication configuration {auth_id}: "
                         "choose another in Options → Raster Collect.")
    client_id, secret = config.config("username"), config.config("password")
    if not client_id or not secret:
        raise ValueError("The Copernicus authentication configuration needs the OAuth client "
                         "id as username and the client secret as password.")
    return {"SH_CLIENT_ID": client_id, "SH_CLIENT_SECRET": secret}
