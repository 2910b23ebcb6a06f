"""Loopback stand-ins for scale-out deployments: an S3 server (moto) and dask workers that share
nothing with the client but the network (a private mount namespace with its own /tmp,
listening on 127.0.0.2). Used by the tests and by ``benchmarks/scale_out.py``."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

ROOT = Path(__file__).resolve().parents[2]
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def start_listening(command: Callable[[int], List[str]], host: str = "127.0.0.1", *,
                    tries: int = 3, timeout: float = 30.0,
                    **popen: object) -> Tuple[subprocess.Popen, int]:
    """Start ``command(port)`` on a free port and wait until **that process** listens there.
    ``free_port`` closes its probe before the server binds, so another server (an xdist
    worker's moto) can take the port in between: then a connect succeeds on the wrong server
    while ours fails to bind and exits. Ours is checked by its own sockets; on exit, another
    port is tried."""
    import psutil

    for _ in range(tries):
        port = free_port(host)
        process = subprocess.Popen(command(port), **popen)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            try:
                sockets = psutil.Process(process.pid).net_connections(kind="tcp")
            except psutil.Error:
                sockets = []
            if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
                return process, port
            time.sleep(0.1)
        if process.poll() is None:  # alive but never listening: not a port race
            process.terminate()
            process.wait(timeout=30)
            raise RuntimeError(f"{command(port)[0]} did not listen on {host}:{port} in "
                               f"{timeout:g} s")
    raise RuntimeError(f"{command(0)[0]} exited {tries} times before listening (ports taken?)")


@contextlib.contextmanager
def moto_s3(bucket: str = "raster-collect", *,
            conditional: bool = True) -> Iterator[Dict[str, str]]:
    """``moto_server`` on 127.0.0.1 with ``bucket`` created; yields the AWS environment
    (endpoint and dummy credentials) a client or worker needs to use it. ``conditional=False``:
    a store that ignores ``If-None-Match`` (``tests.servers.unconditional_s3``)."""
    command = [str(Path(sys.executable).parent / "moto_server")] if conditional else \
        [sys.executable, "-m", "tests.servers.unconditional_s3"]
    server, port = start_listening(
        lambda port: [*command, "-H", "127.0.0.1", "-p", str(port)], cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        env = dict(S3_CREDENTIALS, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
        import boto3

        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1"
                     ).create_bucket(Bucket=bucket)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)


def namespaces_available() -> bool:
    """``unshare -m`` works here (root, or a user namespace is allowed)."""
    if shutil.which("unshare") is None:
        return False
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                             "mount -t tmpfs tmpfs /tmp"], capture_output=True)
    return result.returncode == 0


def hidden_folder() -> Path:
    """What the workers must not see: the temporary folder (the client's test inputs and
    outputs), or only pytest's part of it when the checkout or its venv lives there too."""
    temp = Path(tempfile.gettempdir()).resolve()
    needed = (ROOT.resolve(), Path(sys.prefix).resolve())
    if any(temp == path or temp in path.parents for path in needed):
        return temp / f"pytest-of-{getpass.getuser()}"
    return temp


def worker_command(address: str, *, nthreads: int = 1, memory: str = "1GB",
                   host: str = "127.0.0.2") -> List[str]:
    """A ``dask worker`` in a private mount namespace whose temporary folder is an empty
    tmpfs: it sees none of the client's temporary files (test inputs, outputs) and listens on
    ``host``."""
    dask = str(Path(sys.executable).parent / "dask")
    hidden = hidden_folder()
    inner = (f"mkdir -p {hidden} && mount -t tmpfs tmpfs {hidden} && "
             f"exec {dask} worker {address} --host {host} "
             f"--nthreads {nthreads} --nworkers 1 --memory-limit {memory} --no-dashboard")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", inner]


@contextlib.contextmanager
def namespaced_cluster(env: Dict[str, str], *, workers: int = 2, nthreads: int = 1,
                       memory: str = "1GB") -> Iterator[str]:
    """A ``dask scheduler`` on 127.0.0.1 and ``workers`` namespaced workers on 127.0.0.2;
    yields the scheduler address. ``env`` is added to the workers' environment (S3)."""
    dask = str(Path(sys.executable).parent / "dask")
    child_env = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    scheduler, port = start_listening(
        lambda port: [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--dashboard-address", ":0"], env=child_env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    processes = [scheduler]
    address = f"tcp://127.0.0.1:{port}"
    try:
        for _ in range(workers):
            processes.append(subprocess.Popen(
                worker_command(address, nthreads=nthreads, memory=memory), env=child_env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=10) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def worker_peak_rss_mb(address: str) -> Dict[str, float]:
    """Peak resident memory of each worker process (VmHWM), in MB."""
    from distributed import Client

    def peak():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    with Client(address, timeout=10) as client:
        return client.run(peak)
