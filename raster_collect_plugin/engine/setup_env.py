"""The environment of the children that make the engine (the base-Python probe, venv, pip):
none of QGIS's own Python or GDAL/PROJ settings, and the network settings a corporate
network needs (proxy, custom certificate authority) passed through."""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional
from urllib.parse import quote, urlsplit, urlunsplit

# set by QGIS (or its launcher) for its own Python and libraries: a foreign PYTHONHOME makes
# another Python crash at start ("No module named 'encodings'"); GDAL/PROJ data of QGIS would
# shadow the data inside the engine's wheels
FOREIGN_VARIABLES = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE",
                     "PYTHONUSERBASE", "__PYVENV_LAUNCHER__", "PIP_USER", "PIP_TARGET",
                     "PIP_PREFIX", "PROJ_DATA", "PROJ_LIB", "GDAL_DATA", "GDAL_DRIVER_PATH",
                     "CONDA_PREFIX", "VIRTUAL_ENV")
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
CA_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def proxy_url(host: str, port: Optional[int] = None, user: str = "", password: str = "",
              scheme: str = "http") -> str:
    """``http://user:password@host:port`` (credentials percent-encoded)."""
    if "://" in host:
        scheme, host = host.split("://", 1)
    credentials = ""
    if user:
        credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password
                                              else "") + "@"
    return f"{scheme}://{credentials}{host.rstrip('/')}" + (f":{port}" if port else "")


def redact(url: str) -> str:
    """A proxy URL for the log: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def setup_environment(base: Optional[Mapping[str, str]] = None, *,
                      proxy: Optional[str] = None, no_proxy: str = "") -> Dict[str, str]:
    """The environment for the probe, venv and pip children: ``base`` (default os.environ)
    without QGIS's Python/GDAL/PROJ settings, with ``proxy`` (e.g. from QGIS's network
    settings) as HTTP(S)_PROXY unless the user's environment already sets one, and a custom
    CA bundle (SSL_CERT_FILE / REQUESTS_CA_BUNDLE) handed to pip as PIP_CERT."""
    env = dict(os.environ if base is None else base)
    for variable in FOREIGN_VARIABLES:
        env.pop(variable, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if proxy and not any(env.get(v) for v in PROXY_VARIABLES):
        env["HTTPS_PROXY"] = env["HTTP_PROXY"] = proxy
        if no_proxy:
            env.setdefault("NO_PROXY", no_proxy)
    if not env.get("PIP_CERT"):
        bundle = next((env[v] for v in CA_VARIABLES[1:] if env.get(v)), None)
        if bundle and os.path.isfile(bundle):
            env["PIP_CERT"] = bundle
    return env


def describe_network(env: Mapping[str, str]) -> str:
    """One log line: the proxy (password hidden) and the certificate bundle pip uses."""
    proxy = next((env[v] for v in PROXY_VARIABLES if env.get(v)), None)
    return (f"proxy: {redact(proxy) if proxy else '(none)'}; certificates: "
            f"{env.get('PIP_CERT') or '(pip default)'}")
