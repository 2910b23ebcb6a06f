"""The QGIS session's local dask cluster: started lazily in the processing Python, stopped
when the plugin unloads (no orphan workers). QGIS-free and light, like ``bridge``."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Optional

from .bridge import PLUGINS_DIR, engine_python


class LocalClusterProcess:
    """``python -m raster_collect_plugin cluster`` as a child process."""

    def __init__(self, *, workers: Optional[int] = None, threads: int = 2,
                 memory_limit: str = "2GB", python: Optional[str] = None):
        self.workers, self.threads, self.memory_limit = workers, threads, memory_limit
        self.python = python
        self.process: Optional[subprocess.Popen] = None
        self.scheduler_address: Optional[str] = None
        self.dashboard: Optional[str] = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_started(self, timeout: float = 60.0) -> str:
        """Start the cluster unless it runs; returns the scheduler address."""
        if self.running and self.scheduler_address:
            return self.scheduler_address
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PLUGINS_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        command = [engine_python(self.python), "-m", "raster_collect_plugin", "cluster",
                   "--threads", str(self.threads), "--memory-limit", self.memory_limit]
        if self.workers:
            command += ["--workers", str(self.workers)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env=env)
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            self.stop()
            raise RuntimeError("the local dask cluster did not start in time")
        line = self.process.stdout.readline()
        try:
            event = json.loads(line)
        except ValueError:
            self.stop()
            raise RuntimeError(f"the local dask cluster failed to start: {line.strip()}") from None
        self.scheduler_address, self.dashboard = event["scheduler"], event["dashboard"]
        return self.scheduler_address

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the cluster and its workers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.scheduler_address = None
