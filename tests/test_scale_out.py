"""Scale-out: workers that share nothing with the client but the network (private mount
namespace, own /tmp, 127.0.0.2) compute and write the composites and the zonal statistics to
an S3 server (moto on loopback); the outputs equal a threads run byte for byte in values.
Shared storage is decided by a probe; a local catalog the workers cannot read fails early."""

import json
import pickle
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.errors

from raster_collect_plugin.core.compute.cluster import workers_share_storage
from raster_collect_plugin.core.jobs.run import run_job
from raster_collect_plugin.core.runs.storage import gdal_s3_options
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from tests.servers.scale_out import moto_s3, namespaced_cluster, namespaces_available

needs_namespaces = pytest.mark.skipif(not namespaces_available(),
                                      reason="unshare -m is not permitted here")


@pytest.fixture(scope="module")
def s3():
    """One S3 server for the module (fsspec caches its filesystems per endpoint)."""
    with moto_s3() as env, pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield env


@pytest.fixture(scope="module")
def remote_workers(s3):
    with namespaced_cluster(s3, workers=2) as address:
        yield address


def zonal_spec(forests, sources, output, **extra):
    spec = {"kind": "zonal", "aoi": str(forests), "sources": sources,
            "start": "2025-10-01", "end": "2025-11-30", "indices": ["NDVI", "EVI"],
            "max_cloud_cover": 100, "output_dir": str(output), "hexagon_area_m2": 40_000}
    spec.update(extra)
    return spec


def read_raster(location):
    with rasterio.Env(**gdal_s3_options()), rasterio.open(location) as dataset:
        return dataset.read(), dataset.descriptions, dataset.tags()


class ClientSide:
    """What the client process receives from the cluster (the pickled results of every
    cluster compute) and which zone tables it writes itself."""

    def __init__(self, monkeypatch):
        from raster_collect_plugin.core.compute import scheduling
        from raster_collect_plugin.core.outputs import tables

        self.received, self.tables = 0, []
        compute, write_table = scheduling.compute, tables.write_table

        def counted_compute(*collections, local=False, **options):
            results = compute(*collections, local=local, **options)
            if not local and scheduling.active_client() is not None:
                self.received += len(pickle.dumps(results, protocol=5))
            return results

        def recorded_write_table(table, stem, **options):
            self.tables.append(Path(stem).name)
            return write_table(table, stem, **options)

        monkeypatch.setattr(scheduling, "compute", counted_compute)
        monkeypatch.setattr(tables, "write_table", recorded_write_table)


@pytest.fixture
def sample_api(tmp_path, file_server, stac_api):
    sample = sc.make_sample(tmp_path / "sample", sd.small_spec(sensors=(sd.S2_COLLECTION,)))
    files = file_server(sample.root)
    api = stac_api({"s2": sample.item_collection(sd.S2_COLLECTION, files.url)})
    return sample, [{"kind": "stac", "url": api.url, "collections": [sd.S2_COLLECTION]}]


@needs_namespaces
def test_namespaced_workers_and_s3_give_the_threads_outputs(tmp_path, sample_api,
                                                             remote_workers, monkeypatch):
    import fsspec

    sample, sources = sample_api
    threads = run_job(zonal_spec(sample.forests_path, sources, tmp_path / "threads",
                                 hexagon_area_m2=10_000))
    client = ClientSide(monkeypatch)
    remote = run_job(zonal_spec(sample.forests_path, sources, "s3://raster-collect/run-1",
                                hexagon_area_m2=10_000,
                                compute={"mode": "remote",
                                         "scheduler_address": remote_workers}))
    assert remote["output_dir"] == "s3://raster-collect/run-1"
    [local_collection] = threads["collections"]
    [remote_collection] = remote["collections"]
    for index in ("NDVI", "EVI"):
        location = remote_collection["indices"][index]
        assert location.startswith("s3://raster-collect/run-1/")
        ours, labels, tags = read_raster(location)
        theirs, their_labels, their_tags = read_raster(local_collection["indices"][index])
        np.testing.assert_array_equal(ours, theirs)
        assert labels == their_labels == ("2025-10", "2025-11") and tags == their_tags
        assert np.isfinite(ours).mean() > 0.3
    np.testing.assert_array_equal(read_raster(remote_collection["clear_count"])[0],
                                  read_raster(local_collection["clear_count"])[0])
    for name in ("forests_parquet", "hexagons_parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(remote["files"][name]),
                                      pd.read_parquet(threads["files"][name]))
    hexagons = pd.read_parquet(threads["files"]["hexagons_parquet"])
    assert len(hexagons) > 1000 and hexagons["mean"].notna().mean() > 0.3
    fsspec.filesystem("s3").get(remote["files"]["hexagons_latest"], str(tmp_path / "l.gpkg"))
    latest = gpd.read_file(tmp_path / "l.gpkg")
    their_latest = gpd.read_file(threads["files"]["hexagons_latest"])
    pd.testing.assert_frame_equal(latest, their_latest)
    assert json.loads(fsspec.filesystem("s3").cat(remote["files"]["hexagons_metadata"])) == \
        json.loads(Path(threads["files"]["hexagons_metadata"]).read_text())
    # the workers wrote the hexagon table and layer; the client got back the small forest
    # table and a few numbers: a fraction of the hexagon table (before: all of it)
    assert "zonal_hexagons" not in client.tables and "zonal_forests" in client.tables
    table_bytes = len(pickle.dumps(hexagons, protocol=5))
    assert client.received < 0.1 * table_bytes, (client.received, table_bytes)
    s3 = fsspec.filesystem("s3")
    keys = [key.split("/", 2)[2] for key in s3.find("raster-collect/run-1")]
    # published: the manifest lists every file; no scratch, partial or .part objects remain
    manifest = json.loads(s3.cat("raster-collect/run-1/manifest.json"))
    assert set(manifest["files"]) == set(keys) - {"manifest.json"}
    assert not [k for k in keys if k.startswith(".") or ".part" in k or ".zarr" in k]
    assert {"scenes.csv", "zonal_forests.parquet", "forests_latest.gpkg"} <= set(keys)


@needs_namespaces
def test_cancel_while_the_workers_write_the_tables_leaves_no_partial_objects(sample_api,
                                                                           remote_workers):
    """Cancel once the hexagon tasks are on the workers: the staging area (parts included)
    is removed after the running tasks stopped, and no zone table is published."""
    import time

    import fsspec

    from raster_collect_plugin.core.composites.requests import Cancelled

    sample, sources = sample_api
    checks = []

    def progress(fraction, message):
        if "per hexagon" in message:
            checks.append("hexagons")

    def cancel():  # the check before submitting passes; the next one, while computing, stops
        if checks:
            checks.append("check")
        return len(checks) > 2

    with pytest.raises(Cancelled):
        run_job(zonal_spec(sample.forests_path, sources, "s3://raster-collect/run-3",
                           hexagon_area_m2=10_000,
                           compute={"mode": "remote", "scheduler_address": remote_workers}),
                progress=progress, cancel=cancel)
    time.sleep(2)  # a task still running now would write into the removed staging area
    keys = [key.split("/", 2)[2] for key in fsspec.filesystem("s3").find("raster-collect/run-3")]
    assert "scenes.csv" in keys  # the composites were published before the zonal step
    assert not [k for k in keys if k.startswith(".") or "zonal_" in k or "hexagons" in k]


@needs_namespaces
def test_local_catalog_with_workers_that_cannot_read_it_fails_early(small_sample, tmp_path,
                                                                    remote_workers):
    spec = zonal_spec(small_sample.forests_path,
                      [{"kind": "static", "href": str(small_sample.catalog_path)}],
                      "s3://raster-collect/run-2",
                      compute={"mode": "remote", "scheduler_address": remote_workers})
    with pytest.raises(ValueError, match="local files the dask workers cannot read.*HTTP"):
        run_job(spec)
    import fsspec

    assert fsspec.filesystem("s3").find("raster-collect/run-2") == []  # nothing written


@needs_namespaces
def test_shared_storage_is_decided_by_a_probe(tmp_path, remote_workers):
    """The workers run on this very host (loopback addresses) but with a private /tmp: the
    probe says they do not share the test's temporary folder, and do share a folder outside
    /tmp (as NFS would be) - whatever their addresses say."""
    import shutil
    import tempfile

    from distributed import Client

    shared = tempfile.mkdtemp(prefix="raster-collect-probe-test-", dir="/var/tmp")
    try:
        with Client(remote_workers, timeout=10) as client:
            hosts = {w["host"] for w in client.scheduler_info()["workers"].values()}
            assert hosts == {"127.0.0.2"}
            assert workers_share_storage(client, tmp_path) is False
            assert workers_share_storage(client, shared) is True
        assert list(tmp_path.iterdir()) == []  # the probe's token is removed
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_command_line_zonal_to_object_storage_is_one_published_run(s3, small_sample, tmp_path,
                                                                   capsys, monkeypatch):
    """``zonal --output s3://...`` runs the estate as one job (what a job spec does): the same
    tables as a local job (the provider is named differently by the two doors), listed by a
    manifest written last; --start-from is refused."""
    import fsspec

    from raster_collect_plugin import cli

    args = ["--json", "zonal", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--collections", sd.S2_COLLECTION, "--start",
            "2025-10-01", "--end", "2025-11-30", "--indices", "NDVI,EVI", "--max-cloud", "100",
            "--hex-area-ha", "4", "--output", "s3://raster-collect/cli-run"]
    monkeypatch.chdir(tmp_path)  # a URL taken for a folder name would appear here
    assert cli.main(args + ["--start-from", "2"]) == 2
    assert "drop --start-from" in capsys.readouterr().err
    assert cli.main(args + ["--raster", str(small_sample.forests_path)]) == 2
    assert "give a local --output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert fsspec.filesystem("s3").find("raster-collect/cli-run") == []
    assert cli.main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    local = run_job(zonal_spec(small_sample.forests_path,
                               [{"kind": "static", "href": str(small_sample.catalog_path),
                                 "collections": [sd.S2_COLLECTION]}],
                               tmp_path / "local"))
    for name in ("forests_parquet", "hexagons_parquet"):
        assert printed["files"][name] == f"s3://raster-collect/cli-run/zonal_{name[:-8]}.parquet"
        ours, theirs = (pd.read_parquet(location).drop(columns="provider")  # names differ
                        for location in (printed["files"][name], local["files"][name]))
        pd.testing.assert_frame_equal(ours, theirs)
        assert ours["mean"].notna().mean() > 0.3
    s3fs = fsspec.filesystem("s3")
    keys = {key.split("/", 2)[2] for key in s3fs.find("raster-collect/cli-run")}
    manifest = json.loads(s3fs.cat("raster-collect/cli-run/manifest.json"))
    assert manifest["run"]["kind"] == "zonal"
    assert set(manifest["files"]) == keys - {"manifest.json"}
    assert {"zonal_forests.parquet", "hexagons_latest.gpkg", "scenes.csv"} <= keys


def test_write_cog_to_object_storage_leaves_no_stray_files(s3, tmp_path):
    import fsspec
    from affine import Affine

    from raster_collect_plugin.core.outputs.files import write_cog

    data = np.arange(64 * 64, dtype="float32").reshape(64, 64)
    common = dict(transform=Affine(10, 0, 500_000, 0, -10, 7_000_000), crs="EPSG:32756",
                  band_descriptions=["2025-10"])
    write_cog("/vsis3/raster-collect/cogs/a.tif", data, **common)
    write_cog("s3://raster-collect/cogs/b.tif", data, **common)
    with pytest.raises(rasterio.errors.CRSError):
        write_cog("s3://raster-collect/cogs/c.tif", data, crs="not a crs",
                  transform=common["transform"])
    found = fsspec.filesystem("s3").find("raster-collect/cogs")
    keys = sorted(k.rsplit("/", 1)[-1] for k in found)
    assert keys == ["a.tif", "b.tif"]  # no .part.tif, nothing of the failed write
    for name in keys:
        values, labels, _ = read_raster(f"s3://raster-collect/cogs/{name}")
        np.testing.assert_array_equal(values[0], data)
        assert labels == ("2025-10",)


def test_cancel_inside_the_graph_stops_it_and_leaves_nothing(small_sample, tmp_path):
    from datetime import date

    from raster_collect_plugin.core.composites.pipeline import run_composites
    from raster_collect_plugin.core.composites.requests import Cancelled, CompositeRequest, Source
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider

    calls = []

    def cancel():  # the first checks pass; the user presses cancel while dask is computing
        calls.append(1)
        return len(calls) > 3

    request = CompositeRequest(
        aoi=small_sample.forests_path,
        sources=[Source(StaticCatalogProvider("Sample", str(small_sample.catalog_path)),
                        (sd.S2_COLLECTION,))],
        start=date(2025, 10, 1), end=date(2025, 12, 31), output_dir=tmp_path / "out",
        max_cloud_cover=None)
    with pytest.raises(Cancelled):
        run_composites(request, cancel=cancel)
    assert len(calls) > 3  # checked between tasks, not only before the graph
    assert list((tmp_path / "out").iterdir()) == []
