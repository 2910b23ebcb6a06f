"""What the Sentinel Hub tests share: a one-acquisition-a-month sample, a month of several
acquisitions with different clouds, a starter of loopback fixture servers
(tests/servers/sentinel_hub.py) stopped after the test, and the settings that point the client
at one."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterator

from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sentinel_hub.client import CopernicusSettings
from tests.servers.sentinel_hub import SentinelHubServer


def monthly_sample(folder):
    """Sentinel-2 only, one acquisition per month (the 5th), so a monthly composite and a
    Statistical API mosaic see the same pixels."""
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,))
    scenes = [s for s in sd.default_scenes(spec) if s.when.day == 5]
    return sc.make_sample(folder, spec, scenes=scenes)


def server_starter(sample, monkeypatch, client_id: str, secret: str,
                   server_class: type = SentinelHubServer
                   ) -> Iterator[Callable[..., SentinelHubServer]]:
    """Yields ``start(**options)``, which starts a fixture server (a ``server_class``); every
    one is stopped (and sentinelhub-py's token cache cleared) when the test ends."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the loopback server speaks http
    started = []

    def start(**options) -> SentinelHubServer:
        server = server_class(sample, client_id=client_id, client_secret=secret,
                              **options).start()
        started.append(server)
        return server

    SentinelHubDownloadClient.clear_cache()
    yield start
    for server in started:
        server.stop()
    SentinelHubDownloadClient.clear_cache()


def settings_for(server, client_id: str, secret: str, **extra) -> CopernicusSettings:
    """Client settings for ``server`` with short retry pauses."""
    return CopernicusSettings(base_url=server.base_url, token_url=server.token_url,
                              client_id=client_id, client_secret=secret,
                              retry_sleep_seconds=0.05, **extra)


def several_scenes_sample(folder):
    """Sentinel-2 only, October 2025 with four acquisitions and different clouds: a clear one,
    one with a small cloud in the east, another clear one, and a last one whose large cloud
    (and its shadow) covers the western half. A monthly composite of clear pixels sees every
    pixel; the most recent mosaic (SIMPLE mosaicking) sees only the last scene's clear half."""
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,), months=1)
    left, bottom, right, top = sd.scene_extent(spec)
    width, middle = right - left, (bottom + top) / 2
    small = sd.Cloud(left + 0.8 * width, middle, 250.0)
    large = sd.Cloud(left + 0.15 * width, middle, 0.5 * width)
    scenes = [sd.Scene(sd.S2_COLLECTION, datetime(2025, 10, day, 23, 50, tzinfo=timezone.utc),
                       platform, clouds)
              for day, platform, clouds in ((3, "Sentinel-2A", ()),
                                            (13, "Sentinel-2B", (small,)),
                                            (18, "Sentinel-2A", ()),
                                            (28, "Sentinel-2B", (large,)))]
    return sc.make_sample(folder, spec, scenes=scenes)


def basic_auth_config(name: str, username: str, password: str) -> str:
    """Store a Basic QGIS authentication configuration (the test master password set) and
    return its id."""
    from qgis.core import QgsApplication, QgsAuthMethodConfig

    manager = QgsApplication.authManager()
    manager.setMasterPassword("raster-collect-test-master", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName(name)
    config.setConfig("username", username)
    config.setConfig("password", password)
    assert manager.storeAuthenticationConfig(config)
    return config.id()
