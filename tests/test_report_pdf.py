"""The print layout (issue 32): the shipped template filled with a storm or monitoring result and
exported to PDF from Processing and from the dock; the PDF's page rendered back to pixels."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtGui import QColor

from raster_collect_plugin.gui.print_layout import ITEM_IDS, fill_layout, load_template
from raster_collect_plugin.gui.report_content import storm_content
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
SEVERE, MODERATE, NONE = (215, 48, 39), (252, 141, 89), (26, 152, 80)  # the damage classes


@pytest.fixture(scope="module")
def storm_folder(small_sample, tmp_path_factory):
    """The storm assessment of the sample, made by the engine's command line (another
    process: the wheels' GDAL never loads beside QGIS's)."""
    folder = tmp_path_factory.mktemp("storm") / "storm"
    completed = subprocess.run(
        [sys.executable, "-m", "raster_collect_plugin", "storm", "--gpkg",
         str(small_sample.forests_path), "--catalog", str(small_sample.catalog_path),
         "--event-date", "2025-11-13", "--max-cloud", "100", "--output", str(folder)],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert completed.returncode == 0, completed.stderr[-2000:]
    return folder


def with_a_moderate_forest(storm_folder: Path, target: Path) -> Path:
    """A copy of the storm result where forest 281 is 'moderate' (12.3 ha): the sample has
    severe and undamaged forests only, the page must tell all classes apart."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("storm_damage.gpkg", "storm_metadata.json"):
        shutil.copy(storm_folder / name, target / name)
    layer = QgsVectorLayer(f"{target / 'storm_damage.gpkg'}|layername=storm_damage", "s", "ogr")
    [feature] = [f for f in layer.getFeatures() if f["forest_id"] == 281]
    names = layer.fields().names()
    assert layer.dataProvider().changeAttributeValues({feature.id(): {
        names.index("damage_class"): "moderate", names.index("damaged_ha"): 12.3,
        names.index("damaged_fraction"): 0.155}})
    del layer
    return target / "storm_damage.gpkg"


def page_pixels(pdf: Path, png: Path):
    """(pages, RGB array of page 1 at 100 dpi); the page is also written to ``png``."""
    dataset = gdal.OpenEx(str(pdf), open_options=["DPI=100"])
    assert dataset is not None, f"{pdf} is not a readable PDF"
    pages = len([k for k in dataset.GetMetadata("SUBDATASETS") if k.endswith("_NAME")]) or 1
    gdal.Translate(str(png), dataset, format="PNG")
    pixels = np.dstack([dataset.GetRasterBand(b).ReadAsArray() for b in (1, 2, 3)])
    return pages, pixels


def share_of(pixels, colour, tolerance=12) -> float:
    close = np.all(np.abs(pixels.astype(int) - np.array(colour)) <= tolerance, axis=2)
    return float(close.mean())


def test_storm_pdf_from_processing_has_the_map_table_chart_and_sources(
        raster_collect_provider, storm_folder, tmp_path, qgis_new_project):
    import processing

    source = with_a_moderate_forest(storm_folder, tmp_path / "storm")
    pdf = tmp_path / "report" / "storm.pdf"
    result = processing.run("raster_collect:export_report_pdf", {
        "INPUT": f"{source}|layername=storm_damage", "OUTPUT": str(pdf)})
    assert result["OUTPUT"] == str(pdf) and pdf.stat().st_size > 20_000
    pages, pixels = page_pixels(pdf, tmp_path / "storm.png")
    assert pages == 1
    assert pixels.shape[1] == 1169 and abs(pixels.shape[0] - 827) <= 1  # A4 landscape, 100 dpi
    # severe, moderate and undamaged forests in three different colours, opaque on the map
    # and in the chart's bars
    assert share_of(pixels, SEVERE) > 0.02
    assert share_of(pixels, MODERATE) > 0.005
    assert share_of(pixels, NONE) > 0.02

    layer = QgsVectorLayer(f"{source}|layername=storm_damage", "storm damage", "ogr")
    layout = load_template(QgsProject.instance())
    shown = fill_layout(layout, storm_content(layer, None))
    assert all(layout.itemById(i) is not None for i in ITEM_IDS)
    assert layout.itemById("title").currentText() == "Storm damage: event of 2025-11-13"
    assert layout.itemById("subtitle").currentText() == (
        "6 forests · 2 severe, 1 moderate, 3 none · 148.8 ha damaged")
    sources = layout.itemById("sources").currentText()
    assert "Windows: early 2025-08-15 to 2025-09-28; before 2025-09-29 to 2025-11-12; " \
           "after 2025-11-14 to 2025-12-28" in sources
    assert "sentinel-1-rtc (radar)" in sources and "severe from 50%" in sources
    rows = layout.itemById("ranked_table").multiFrame().contents()
    assert [row[:4] for row in rows[:3]] == [[1, 285, "Compartment 285", "severe"],
                                             [2, 283, "Compartment 283", "severe"],
                                             [3, 281, "Compartment 281", "moderate"]]
    assert rows[2][4:] == ["12.3", "16 %"]
    assert layout.itemById("legend").title() == "Damage class"
    assert layout.itemById("scale_bar").linkedMap() is layout.itemById("map")
    assert Path(layout.itemById("north_arrow").picturePath()).is_file()
    assert [lay.name() for lay in layout.itemById("map").layers()] == ["storm damage"]
    # labels on the page's copy: id and name, damaged ha where there is damage
    assert shown.labelsEnabled()
    assert "damaged_ha" in shown.labeling().settings().fieldName
    colours = {c.value(): c.symbol().color().name() for c in shown.renderer().categories()}
    assert colours["severe"] != colours["moderate"] != colours["none"]
    assert layer.renderer().type() != "categorizedSymbol" or layer.labelsEnabled() is False


def test_processing_says_what_to_give_when_the_layer_is_not_a_storm_result(
        raster_collect_provider, small_sample, tmp_path, qgis_new_project):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="Give a storm damage layer"):
        processing.run("raster_collect:export_report_pdf", {
            "INPUT": f"{small_sample.forests_path}|layername=forests",
            "OUTPUT": str(tmp_path / "x.pdf")})
    assert not (tmp_path / "x.pdf").exists()


def test_the_dock_exports_the_monitoring_run_as_pdf(dock, tmp_path):  # noqa: F811
    from raster_collect_plugin.gui.dock_pdf import write_pdf

    assert not dock.pdf_button.isEnabled()
    dock.preset_combo.setCurrentText("Before/after an event")
    dock.start_date.setDate(dock.start_date.date().fromString("2025-10-01", "yyyy-MM-dd"))
    dock.end_date.setDate(dock.end_date.date().fromString("2025-12-31", "yyyy-MM-dd"))
    dock.start_compute()
    assert wait_for_job(dock) == "zonal", dock.last_error
    assert dock.pdf_button.isEnabled()
    pdf = write_pdf(dock, tmp_path / "run.pdf")
    pages, pixels = page_pixels(pdf, tmp_path / "run.png")
    assert pages == 1 and pixels.shape[1] == 1169
    # the severe loss class (forests 283 and 285) opaque in its own colour on the map
    from raster_collect_plugin.core.outputs import change_classes

    severe = QColor(change_classes()[0][3]).getRgb()[:3]
    assert share_of(pixels, severe, tolerance=6) > 0.03
    # without the change since an event: the latest values, ranked lowest first
    from raster_collect_plugin.gui.print_layout import load_template
    from raster_collect_plugin.gui.report_content import run_content

    dock.presenter.run.change = None
    content = run_content(dock.presenter.run, *dock._last_run, None, tmp_path / "c.png")
    assert content.title.endswith(": latest NDVI")
    layout = load_template(QgsProject.instance())
    shown = fill_layout(layout, content)
    rows = layout.itemById("ranked_table").multiFrame().contents()
    assert len(rows) == 6 and [float(r[1]) for r in rows] == sorted(float(r[1]) for r in rows)
    assert float(rows[0][1]) < 0.5 and {rows[0][0], rows[1][0]} == {283, 285}
    assert shown.renderer().type() == "graduatedSymbol"
    assert (tmp_path / "c.png").stat().st_size > 10_000
    # the HTML report still works beside it
    assert dock.write_report(tmp_path / "report.html").stat().st_size > 10_000


def test_the_dock_exports_its_storm_assessment_as_pdf(dock, storm_folder, tmp_path):  # noqa: F811
    from types import SimpleNamespace

    from raster_collect_plugin.gui.dock_pdf import write_pdf

    layer = QgsVectorLayer(f"{storm_folder / 'storm_damage.gpkg'}|layername=storm_damage",
                           "storm damage", "ogr")
    QgsProject.instance().addMapLayer(layer)  # the storm panel's layer lives in the project
    renderer = layer.renderer().clone()
    dock.storm_run = SimpleNamespace(damage=layer)  # what the dock's storm panel keeps
    dock.job_finished.emit("storm")
    assert dock.pdf_button.isEnabled()
    pages, pixels = page_pixels(write_pdf(dock, tmp_path / "storm.pdf"), tmp_path / "s.png")
    assert pages == 1
    assert share_of(pixels, SEVERE) > 0.02 and share_of(pixels, NONE) > 0.02
    # the page drew a styled, labelled copy: the layer on the map keeps its own look
    assert not layer.labelsEnabled()
    assert layer.renderer().dump() == renderer.dump()
