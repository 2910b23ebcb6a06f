"""A real STAC API on loopback: ``rustac serve`` loaded with JSON written by the test."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, List


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rustac_executable() -> str:
    beside_python = Path(sys.executable).parent / "rustac"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("rustac")
    if not found:
        raise RuntimeError("rustac is not installed: run `make setup`")
    return found


class StacApiServer:
    """Runs ``rustac serve`` on 127.0.0.1 for the given FeatureCollections / collections."""

    def __init__(self, workdir: Path, feature_collections: Dict[str, dict],
                 collections: List[dict] = ()):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.hrefs = []
        for collection in collections:
            path = self.workdir / f"collection-{collection['id']}.json"
            path.write_text(json.dumps(collection))
            self.hrefs.append(str(path))
        for name, collection_items in feature_collections.items():
            path = self.workdir / f"items-{name}.json"
            path.write_text(json.dumps(collection_items))
            self.hrefs.append(str(path))
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> StacApiServer:
        command = [rustac_executable(), "serve", "--addr", f"127.0.0.1:{self.port}",
                   "--create-collections", *self.hrefs]
        self.log_path = self.workdir / "rustac.log"
        self.process = subprocess.Popen(command, stdout=open(self.log_path, "w"),
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rustac serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/collections", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("rustac serve did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
