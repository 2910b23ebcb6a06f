"""The Copernicus Data Space Catalog source of the *Search imagery* algorithm: its parameters
(credentials from the QGIS authentication database, the deployment's addresses) and the job
source entries they fill. Not an algorithm: a helper of search_imagery.py."""

from __future__ import annotations

from typing import Dict, List, Optional

from qgis.core import QgsProcessingParameterAuthConfig, QgsProcessingParameterString

from .. import settings
from ..core.sources.endpoints import CDSE_BASE_URL, CDSE_TOKEN_URL

AUTH, SH_URL, SH_OAUTH_URL = "SH_AUTH", "SH_URL", "SH_OAUTH_URL"


def add_copernicus_parameters(algorithm) -> None:
    """Credentials and addresses used when the Copernicus Data Space source is selected."""
    algorithm.addParameter(QgsProcessingParameterAuthConfig(
        AUTH, "Copernicus Data Space credentials (Catalog source)", optional=True))
    algorithm.addParameter(QgsProcessingParameterString(
        SH_URL, "Copernicus Data Space: Sentinel Hub URL", defaultValue=CDSE_BASE_URL,
        optional=True))
    algorithm.addParameter(QgsProcessingParameterString(
        SH_OAUTH_URL, "Copernicus Data Space: OAuth token URL", defaultValue=CDSE_TOKEN_URL,
        optional=True))


def copernicus_sources(algorithm, parameters, context, sources: List[Dict],
                       feedback) -> Optional[Dict[str, str]]:
    """Fill the Copernicus entries of ``sources`` with the addresses; the credentials for the
    job's environment (None: SH_CLIENT_ID / SH_CLIENT_SECRET from QGIS's environment)."""
    from .sentinel_hub_statistics import credentials_from_auth_config

    chosen = [s for s in sources if s.get("kind") == "copernicus"]
    if not chosen:
        return None
    for entry in chosen:
        entry.update(url=algorithm.parameterAsString(parameters, SH_URL, context)
                     or CDSE_BASE_URL,
                     token_url=algorithm.parameterAsString(parameters, SH_OAUTH_URL, context)
                     or CDSE_TOKEN_URL)
        entry.pop("collections", None)  # Sentinel-2 L2A, the Catalog source's one collection
        entry["pu_budget"] = settings.value("copernicus/pu_budget")  # the options page's
    auth_id = algorithm.parameterAsString(parameters, AUTH, context)
    if not auth_id:
        feedback.pushInfo("No Copernicus authentication configuration: using SH_CLIENT_ID / "
                          "SH_CLIENT_SECRET from the environment.")
        return None
    return credentials_from_auth_config(auth_id)
