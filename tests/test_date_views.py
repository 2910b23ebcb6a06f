"""One map view per date for a selected forest (issue 32): synchronised views, stepping through
the dates the scene table shows, layers kept out of the project."""

from qgis.core import (
    QgsMapRendererParallelJob,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
)

from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)
from tests.test_imagery_layers import wait_for_tasks
from tests.test_scene_table import COLLECTIONS


def rendered(canvas):
    job = QgsMapRendererParallelJob(canvas.mapSettings())
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def test_views_by_date_step_and_move_together(dock, forests, qgis_iface):  # noqa: F811
    dock.custom_collections.setText(COLLECTIONS)
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    wait_for_tasks()  # thumbnails
    tools = dock.scene_table
    assert tools.open_date_views() is None  # nothing selected: the reason is given
    assert "Select one forest" in dock.last_error

    [forest] = [f for f in forests.getFeatures() if f["forest_id"] == 285]
    forests.selectByIds([forest.id()])
    tools.sensor_combo.setCurrentText("sentinel-2-l2a")  # the table's filter decides
    shown = tools.visible_scene_ids()
    dialog = tools.open_date_views()
    wait_for_tasks()
    assert dialog is not None and len(dialog.canvases) == min(4, len(shown))
    dates = sorted(dock.scene_actions.scenes[s]["datetime"][:10] for s in shown)
    assert [label.text()[:10] for label in dialog.labels] == dates[:len(dialog.canvases)]
    assert all("sentinel-2-l2a, forest" in label.text() for label in dialog.labels)
    for canvas in dialog.canvases:
        outline, layer = canvas.layers()
        assert isinstance(layer, QgsRasterLayer) and layer.isValid()
        assert layer.id() not in QgsProject.instance().mapLayers()  # nothing to ask on exit
        assert outline.featureCount() == 1
    # the forest in the first view: a picture with detail, not a blank canvas
    image = rendered(dialog.canvases[0])
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    assert len(colours) > 20

    # zooming one view moves the others
    box = QgsRectangle(forest.geometry().boundingBox())
    box.scale(0.5)
    dialog.canvases[1].setExtent(box)
    for canvas in dialog.canvases:  # the same centre; each shows the box (its own aspect)
        assert canvas.extent().center().distance(box.center()) < 1.0
        assert canvas.extent().width() < forest.geometry().boundingBox().width()
        assert canvas.extent().contains(box) or canvas.extent().height() < box.height() + 1

    # stepping: one date later, then clamped at the last dates
    if len(shown) > len(dialog.canvases):
        second = dialog.labels[1].text()
        dialog.forward_button.click()
        wait_for_tasks()
        assert dialog.labels[0].text() == second
        assert dialog.canvases[-1].layers()[1].isValid()
    for _ in range(len(shown)):
        dialog.step(1)
    assert not dialog.forward_button.isEnabled() and dialog.back_button.isEnabled()
    assert dialog.labels[-1].text()[:10] == dates[-1]
    dialog.step(-100)
    assert dialog.start == 0 and not dialog.back_button.isEnabled()
    dialog.close()
