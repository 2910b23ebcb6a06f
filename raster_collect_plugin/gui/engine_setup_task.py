"""Create or repair the engine in a cancellable background QgsTask (pip runs in a child)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from qgis.core import QgsSettings, QgsTask

from ..engine import install
from ..engine.setup_env import proxy_url


class EngineSetupTask(QgsTask):
    """``engine.install.create_engine`` with QgsTask progress and cancel. ``run()`` stores the
    report or the error; ``on_done(task)`` runs on the main thread."""

    def __init__(self, venv_dir: Path, base_python: str, log_path: Path, *,
                 find_links: Optional[str], on_done: Callable[[EngineSetupTask], None]):
        super().__init__("Raster Collect: setting up the processing engine",
                         QgsTask.Flag.CanCancel)
        self.venv_dir, self.base_python, self.log_path = venv_dir, base_python, log_path
        self.find_links, self.on_done = find_links, on_done
        self.report: Optional[Dict] = None
        self.error: Optional[Exception] = None
        self.message = ""
        self.proxy = qgis_proxy()  # read here, on the main thread

    def run(self) -> bool:
        def progress(fraction: float, message: str) -> None:
            self.message = message
            self.setProgress(100.0 * fraction)

        try:
            proxy, no_proxy = self.proxy
            self.report = install.create_engine(
                self.venv_dir, self.base_python, log_path=self.log_path,
                find_links=self.find_links, progress=progress, cancel=self.isCanceled,
                proxy=proxy, no_proxy=no_proxy)
            return bool(self.report.get("ready"))
        except Exception as error:  # reported on the main thread
            self.error = error
            return False

    def finished(self, ok: bool) -> None:
        self.on_done(self)


def qgis_proxy() -> Tuple[Optional[str], str]:
    """QGIS's network proxy (Settings → Options → Network) as a URL for pip, and its
    excluded hosts as NO_PROXY; (None, "") when QGIS uses none, the system's (already in the
    environment) or a SOCKS proxy (pip cannot use one without PySocks)."""
    settings = QgsSettings()
    enabled = str(settings.value("proxy/proxyEnabled", False)).lower() in ("true", "1")
    kind = str(settings.value("proxy/proxyType", "") or "")
    host = str(settings.value("proxy/proxyHost", "") or "").strip()
    if not enabled or not host or kind not in ("HttpProxy", "HttpCachingProxy", ""):
        return None, ""
    port = str(settings.value("proxy/proxyPort", "") or "").strip()
    url = proxy_url(host, int(port) if port.isdigit() else None,
                    str(settings.value("proxy/proxyUser", "") or ""),
                    str(settings.value("proxy/proxyPassword", "") or ""))
    excluded = settings.value("proxy/proxyExcludedUrls", "") or ""
    if isinstance(excluded, (list, tuple)):
        excluded = "|".join(excluded)
    hosts = [h.split("://")[-1].strip("/") for h in str(excluded).split("|") if h.strip()]
    return url, ",".join(hosts)
