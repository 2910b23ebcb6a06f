"""Before/after pair for one forest: the clearest scenes nearest the storm, side by side."""

from datetime import datetime, timezone

import numpy as np
import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtWidgets import QLabel

from raster_collect_plugin.core import imagery
from raster_collect_plugin.core.pixels import bands
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.gui import before_after
from tests.test_imagery_layers import render, wait_for_tasks


def when(month, day):
    return datetime(2025, month, day, 23, 50, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def storm_sample(tmp_path_factory):
    """A damaged compartment seen clear in early October, under a cloud on 5 November,
    overcast on 20 November and clear again on 28 November (storm: 13 November)."""
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,), months=2)
    ids, rings = sd.forest_grid(spec)
    damaged = [i for i, f in sd.storm_damage(spec, ids).items() if f == 1.0][0]
    ring = np.array(rings[ids.index(damaged)])
    cloud = sd.Cloud(float(ring[:, 0].mean()), float(ring[:, 1].mean()), 900.0)
    left, bottom, right, top = sd.scene_extent(spec)
    overcast = sd.Cloud((left + right) / 2, (bottom + top) / 2, 5000.0)
    scenes = [sd.Scene(sd.S2_COLLECTION, when(10, 5), "Sentinel-2A"),
              sd.Scene(sd.S2_COLLECTION, when(11, 5), "Sentinel-2B", (cloud,)),
              sd.Scene(sd.S2_COLLECTION, when(11, 20), "Sentinel-2A", (overcast,)),
              sd.Scene(sd.S2_COLLECTION, when(11, 28), "Sentinel-2B")]
    sample = sc.make_sample(tmp_path_factory.mktemp("storm-sample"), spec, scenes)
    return sample, damaged


def test_clearest_scenes_before_and_after_side_by_side(storm_sample, qgis_new_project):
    sample, damaged = storm_sample
    scenes = [imagery.describe_item(item, bands.PLANETARY_COMPUTER_S2, provider="Sample",
                                    provider_kind="static")
              for item in sample.item_collection(sd.S2_COLLECTION, str(sample.root))["features"]]
    forests = QgsVectorLayer(f"{sample.forests_path}|layername=forests", "forests", "ogr")
    [forest] = [f for f in forests.getFeatures() if f["forest_id"] == damaged]
    centre = forest.geometry().centroid().asPoint()
    assert before_after.forest_at(forests, centre)["forest_id"] == damaged  # the click

    shown, messages = [], []
    task = before_after.open_before_after(scenes, "2025-11-13", forest.geometry(),
                                          forests.crs(), done=shown.append,
                                          report=messages.append)
    wait_for_tasks()
    assert messages == [] and shown and shown[0] is not None
    dialog = shown[0]
    ids = {s["datetime"][:10]: s["id"] for s in scenes}
    assert task.clear[ids["2025-11-05"]] < 0.5  # the cloud over the forest
    assert ids["2025-11-20"] not in task.clear  # overcast scene: skipped by its cloud cover
    assert task.clear[ids["2025-10-05"]] == 1.0 and task.clear[ids["2025-11-28"]] == 1.0
    titles = [label.text() for label in dialog.findChildren(QLabel)]
    assert any(t.startswith("2025-10-05") for t in titles)
    assert any(t.startswith("2025-11-28") for t in titles)
    before_layer, after_layer = (c.layers()[1] for c in dialog.canvases)
    for canvas in dialog.canvases:  # zoomed to the forest, in both views
        extent = canvas.extent()
        assert extent.contains(before_layer.extent().center())
        assert extent.width() < 2 * forest.geometry().boundingBox().width()
    assert before_layer.id() in QgsProject.instance().mapLayers()
    # the windthrow shows: red rises from healthy pine (0.035) to damaged (0.09)
    red_before = render(before_layer)[..., 0]
    red_after = render(after_layer)[..., 0]
    middle = np.s_[red_before.shape[0] // 3: 2 * red_before.shape[0] // 3,
                   red_before.shape[1] // 3: 2 * red_before.shape[1] // 3]
    assert np.median(red_before[middle]) == pytest.approx(0.035 / 0.2 * 255, abs=8)
    assert np.median(red_after[middle]) == pytest.approx(0.09 / 0.2 * 255, abs=8)
    dialog.close()


def test_no_clear_scene_after_the_event_is_explained(storm_sample, qgis_new_project):
    sample, damaged = storm_sample
    items = sample.item_collection(sd.S2_COLLECTION, str(sample.root))["features"][:3]
    scenes = [imagery.describe_item(item, bands.PLANETARY_COMPUTER_S2, provider="Sample",
                                    provider_kind="static") for item in items]
    forests = QgsVectorLayer(f"{sample.forests_path}|layername=forests", "forests", "ogr")
    [forest] = [f for f in forests.getFeatures() if f["forest_id"] == damaged]
    messages = []
    before_after.open_before_after(scenes, "2025-11-13", forest.geometry(), forests.crs(),
                                   report=messages.append)
    wait_for_tasks()
    assert messages and "No scene sees this forest clear after 2025-11-13" in messages[0]
