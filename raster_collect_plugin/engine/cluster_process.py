"""The QGIS session's local dask cluster: started lazily in the processing Python, stopped
when the plugin unloads (no orphan workers). QGIS-free and light, like ``bridge``.

The child's first stdout line is read by a thread with a timeout (``select`` works on sockets
only on Windows, never on pipes)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from typing import Callable, Optional, Union

from .interpreter import engine_python
from .processes import child_environment, popen_options


class LocalClusterProcess:
    """``python -m raster_collect_plugin cluster`` as a child process."""

    def __init__(self, *, workers: Optional[int] = None, threads: int = 2,
                 memory_limit: str = "2GB",
                 python: Union[None, str, Callable[[], str]] = None):
        """``python`` may be a callable, asked at each start (the engine may change)."""
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
        env = child_environment()
        python = self.python() if callable(self.python) else self.python
        command = [engine_python(python), "-m", "raster_collect_plugin", "cluster",
                   "--threads", str(self.threads), "--memory-limit", self.memory_limit]
        if self.workers:
            command += ["--workers", str(self.workers)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                        text=True, encoding="utf-8", errors="replace",
                                        env=env, **popen_options())
        first_line: queue.Queue = queue.Queue()
        stream = self.process.stdout
        threading.Thread(target=lambda: first_line.put(stream.readline()), daemon=True).start()
        try:
            line = first_line.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError("the local dask cluster did not start in time") from None
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
        if self.process.stdout is not None:
            self.process.stdout.close()  # else an "unclosed file" ResourceWarning
        self.process = None
        self.scheduler_address = None

    def stop_in_background(self, timeout: float = 20.0) -> Optional[threading.Thread]:
        """Ask the cluster to stop and return at once (plugin unload must not freeze the
        UI while dask closes its workers): a daemon thread waits, kills after ``timeout``
        and closes the pipe. Returns that thread (None if nothing ran)."""
        process, self.process = self.process, None
        self.scheduler_address = None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()

        def reap() -> None:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()

        reaper = threading.Thread(target=reap, name="raster-collect-cluster-stop", daemon=True)
        reaper.start()
        return reaper
