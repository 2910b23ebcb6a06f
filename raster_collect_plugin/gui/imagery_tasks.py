"""Imagery work after a layer is open: re-signing layers whose signed hrefs expire (in a task, on
demand and when a project is opened) and saving a clipped copy."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from osgeo import gdal
from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsProject, QgsRasterLayer, QgsTask

from ..core import imagery as core
from .imagery import (
    EXPIRES_PROPERTY,
    PROPERTY,
    Signer,
    engine_signer,
    imagery_layers,
    needs_signing,
    remove_vrt,
    scene_hrefs,
    sign_for,
    style_layer,
    write_vrt,
)
from .tasks import LOG_TAG


def resign_layer(layer: QgsRasterLayer, *, signer: Optional[Signer] = None) -> None:
    """Sign the layer's stored (unsigned) hrefs again and point it at a fresh VRT."""
    stored = json.loads(layer.customProperty(PROPERTY))
    scene, rendering = stored["scene"], stored["rendering"]
    bounds = tuple(stored["bounds"]) if stored.get("bounds") else None
    spec = core.layer_spec(scene, rendering, boa_offset=stored.get("boa_offset"))
    signed, expires = sign_for(scene, scene_hrefs(scene, spec), signer, fresh=True)
    old = Path(layer.source())
    path = write_vrt(spec, scene, signed, bounds)
    renderer = layer.renderer().clone() if layer.renderer() is not None else None
    layer.setDataSource(str(path), layer.name(), "gdal")
    if renderer is not None and spec.kind != "radar":
        layer.setRenderer(renderer)
    else:
        style_layer(layer, spec)
    layer.setCustomProperty(EXPIRES_PROPERTY, expires or "")
    layer.triggerRepaint()
    # the old VRT is this layer's own, unless the user duplicated the layer (same source)
    if not any(Path(other.source()) == old
               for other in QgsProject.instance().mapLayers().values()):
        remove_vrt(old)


def resign_expired(project: Optional[QgsProject] = None, *, force: bool = False,
                   signer: Optional[Signer] = None) -> int:
    """Re-sign every imagery layer whose token expired (all of them with ``force``); returns
    how many were renewed. Failures are logged, the other layers still renew."""
    renewed = 0
    for layer in imagery_layers(project):
        if not (force or needs_signing(layer)):
            continue
        try:
            resign_layer(layer, signer=signer)
            renewed += 1
        except Exception as error:  # network/engine failures: report, keep going
            QgsMessageLog.logMessage(f"{layer.name()}: cannot renew its access ({error})",
                                     LOG_TAG, Qgis.MessageLevel.Warning)
    return renewed


class ResignTask(QgsTask):
    """Re-signs expired imagery layers: the sign jobs run in the worker, layers change in
    ``finished`` (main thread)."""

    def __init__(self, layers: List[QgsRasterLayer], signer: Optional[Signer] = None):
        super().__init__("Raster Collect: renew imagery access", QgsTask.Flag.CanCancel)
        self.targets = [(layer.id(), json.loads(layer.customProperty(PROPERTY))) for layer in
                        layers]
        self.signer = signer or engine_signer()
        self.results: Dict[str, Tuple[Dict[str, str], Optional[str]]] = {}
        self.error: Optional[Exception] = None

    def run(self) -> bool:
        try:
            for layer_id, stored in self.targets:
                if self.isCanceled():
                    return False
                scene = stored["scene"]
                spec = core.layer_spec(scene, stored["rendering"])
                self.results[layer_id] = sign_for(scene, scene_hrefs(scene, spec),
                                                  self.signer, fresh=True,
                                                  cancel=self.isCanceled)
            return True
        except Exception as error:  # reported in finished()
            self.error = error
            return False

    def finished(self, ok: bool) -> None:
        if self.error is not None:
            QgsMessageLog.logMessage(f"renewing imagery access failed: {self.error}", LOG_TAG,
                                     Qgis.MessageLevel.Warning)
        project = QgsProject.instance()
        for layer_id, (signed, expires) in self.results.items():
            layer = project.mapLayer(layer_id)
            if layer is not None:
                resign_layer(layer, signer=lambda hrefs, _s, signed=signed, expires=expires,
                             **_: {"hrefs": signed, "expires": expires})


def resign_on_project_open() -> None:
    """``QgsProject.readProject`` hook: renew expired layers in the background."""
    layers = [layer for layer in imagery_layers() if needs_signing(layer)]
    if layers:
        start_task(ResignTask(layers))


_TASKS: List[QgsTask] = []  # Python task objects must outlive the task manager's run


def start_task(task: QgsTask) -> None:
    """Queue a task, keeping its Python object alive until it ends."""
    _TASKS.append(task)
    task.taskCompleted.connect(lambda: _forget(task))
    task.taskTerminated.connect(lambda: _forget(task))
    QgsApplication.taskManager().addTask(task)


def _forget(task: QgsTask) -> None:
    if task in _TASKS:
        _TASKS.remove(task)


_HOOK: List = []  # the project-open connection, while the plugin is loaded


def _on_read_project(*_args) -> None:
    resign_on_project_open()


def install_project_hook() -> None:
    """Connect the project-open re-signing once per QGIS session."""
    if not _HOOK:
        QgsProject.instance().readProject.connect(_on_read_project)
        _HOOK.append(_on_read_project)


def uninstall_project_hook() -> None:
    """Plugin unload: stop listening to project opens."""
    while _HOOK:
        try:
            QgsProject.instance().readProject.disconnect(_HOOK.pop())
        except (TypeError, RuntimeError):
            pass


def save_clipped(layer: QgsRasterLayer, destination: str) -> Path:
    """Download the layer's clipped window as a GeoTIFF (physical values, styled bands)."""
    stored = json.loads(layer.customProperty(PROPERTY))
    if needs_signing(layer, margin_seconds=60):
        resign_layer(layer)
    destination = Path(destination)
    partial = destination.with_name(f".{destination.name}.part")
    options = gdal.TranslateOptions(format="GTiff", creationOptions=[
        "COMPRESS=DEFLATE", "TILED=YES", "PREDICTOR=" + ("2" if stored["rendering"] ==
                                                           "cloud-mask" else "3")])
    dataset = gdal.Translate(str(partial), layer.source(), options=options)
    if dataset is None:
        raise core.ImageryError(f"saving failed: {gdal.GetLastErrorMsg()}")
    dataset = None
    os.replace(partial, destination)
    return destination
