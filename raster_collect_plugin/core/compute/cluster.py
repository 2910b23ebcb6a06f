"""Where dask computes: threads in the job process (default), a local cluster of worker
processes, or an existing scheduler (``dask scheduler`` / dask-jobqueue / dask-gateway) given
by address. The same graphs run on all three; only the client differs.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional
from urllib.parse import urlsplit

from .options import COMPUTE_MODES, DEFAULT_NO_WORKER_GRACE, check_compute_options

CHECKED_PACKAGES = ("python", "dask", "distributed", "numpy", "msgpack", "cloudpickle")


class ClusterError(RuntimeError):
    """The cluster cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class ComputeSettings:
    """How to compute: ``threads`` (no cluster), ``local`` (a LocalCluster) or ``remote``."""

    mode: str = "threads"
    scheduler_address: Optional[str] = None
    workers: Optional[int] = None  # local: default from the machine's cores
    threads_per_worker: int = 2
    memory_limit: str = "2GB"
    connect_timeout: float = 5.0
    no_worker_grace: float = DEFAULT_NO_WORKER_GRACE  # seconds without workers before failing

    def __post_init__(self):
        if self.mode not in COMPUTE_MODES:
            raise ClusterError(f"compute mode must be one of {COMPUTE_MODES}, not {self.mode!r}")
        if self.mode == "remote" and not self.scheduler_address:
            raise ClusterError("remote compute needs a scheduler address, e.g. "
                               "tcp://10.0.0.5:8786")

    @classmethod
    def from_dict(cls, values: Optional[Dict]) -> ComputeSettings:
        """Settings from a job spec's ``compute`` object (checked: ComputeOptionsError)."""
        return cls(**check_compute_options(values))

    def local_workers(self) -> int:
        return self.workers or max(1, (os.cpu_count() or 2) // max(self.threads_per_worker, 1))


def shown_address(address: str) -> str:
    """A scheduler address as messages show it: credentials in it (``user:password@``)
    replaced by ``***``, so they never reach a log."""
    scheme, sep, rest = str(address).rpartition("://")
    host = rest.split("/", 1)[0]
    if "@" not in host:
        return str(address)
    return f"{scheme}{sep}***@{rest.split('@', 1)[1]}"


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast, with advice, when nothing listens at a scheduler address."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    shown = shown_address(address)
    if not parts.hostname or not parts.port:
        raise ClusterError(f"{shown!r} is not a scheduler address like tcp://host:8786")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            pass
    except OSError as error:
        raise ClusterError(
            f"the dask scheduler at {shown} is unreachable ({error}); start it with "
            "`dask scheduler` and workers with `dask worker <address>`, or check the address "
            "and firewall") from None


def version_problems(versions: Dict) -> List[str]:
    """Mismatches between this client, the scheduler and the workers (major.minor)."""
    def short(value) -> Optional[str]:
        return ".".join(str(value).split(".")[:2]) if value else None

    def packages(entry: Dict) -> Dict[str, Optional[str]]:
        found = dict(entry.get("packages", {}))
        found["python"] = found.get("python") or entry.get("host", {}).get("python")
        return {name: short(found.get(name)) for name in CHECKED_PACKAGES}

    mine = packages(versions.get("client", {}))
    problems = []
    others = {"scheduler": versions.get("scheduler", {})}
    others.update({f"worker {name}": entry for name, entry in
                   (versions.get("workers") or {}).items()})
    for who, entry in others.items():
        for package, version in packages(entry).items():
            if version and mine.get(package) and version != mine[package]:
                problems.append(f"{package} {version} on {who} but {mine[package]} here")
    return problems


def start_local_cluster(settings: ComputeSettings):
    """A LocalCluster of worker processes on loopback, sized by ``settings``."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=settings.local_workers(),
                        threads_per_worker=settings.threads_per_worker,
                        memory_limit=settings.memory_limit, processes=True,
                        dashboard_address="127.0.0.1:0", host="127.0.0.1")


@contextlib.contextmanager
def compute_client(settings: Optional[ComputeSettings], *,
                   gdal_options: Optional[Dict[str, str]] = None) -> Iterator[Optional[object]]:
    """A dask.distributed client for the settings (None for plain threads). While open it is
    the default scheduler of every ``dask.compute``; closing it cancels outstanding work."""
    if settings is None or settings.mode == "threads":
        yield None
        return
    from distributed import Client

    from .scheduling import no_worker_grace

    cluster = None
    if settings.mode == "remote":
        check_reachable(settings.scheduler_address, timeout=min(settings.connect_timeout, 3.0))
        try:
            client = Client(settings.scheduler_address, timeout=settings.connect_timeout)
        except OSError as error:
            address, shown = settings.scheduler_address, shown_address(settings.scheduler_address)
            raise ClusterError(f"cannot connect to the dask scheduler at {shown}: "
                               f"{str(error).replace(address, shown)}") from None
        problems = version_problems(client.get_versions(check=False))
        if problems:
            client.close()
            raise ClusterError("the cluster's software differs from this machine's: "
                               + "; ".join(problems) + ". Install the same versions on the "
                               "workers (see README: remote clusters)")
    else:
        cluster = start_local_cluster(settings)
        client = Client(cluster)
    try:
        if gdal_options is not None:
            from .worker_plugin import GdalOptionsPlugin

            client.register_plugin(GdalOptionsPlugin(gdal_options))
        with no_worker_grace(settings.no_worker_grace):
            yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dashboard_link(client) -> Optional[str]:
    return getattr(client, "dashboard_link", None) if client is not None else None


def _read_token(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def workers_share_storage(client, folder) -> bool:
    """True when every worker reads the same files as this process under ``folder``: a token
    file is written there and every worker must read it back (a probe, not a guess from
    addresses: workers on this host may have a private /tmp, workers on others may mount the
    same NFS share)."""
    import uuid
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    probe = folder / f".raster-collect-probe-{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        answers = client.run(_read_token, str(probe))
    finally:
        probe.unlink(missing_ok=True)
    return bool(answers) and all(answer == token for answer in answers.values())


def _missing(paths: List[str]) -> List[str]:
    return [path for path in paths if not os.path.exists(path)]


def files_workers_cannot_read(client, paths: List[str]) -> List[str]:
    """The local ``paths`` that at least one worker cannot see."""
    answers = client.run(_missing, list(paths))
    return sorted({path for missing in answers.values() for path in missing})
