"""Processing outputs load like any Processing output: each algorithm registers its result
layers with ``context.addLayerToLoadOnCompletion`` (so the toolbox, batch runs and models add
them to the project when 'Open output file' applies) and a post-processor styles them the way
the dock does (fixed, comparable index styles)."""

from __future__ import annotations

from collections import deque
from typing import Deque, Optional, Sequence

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingUtils,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..gui import layers as _layers  # noqa: F401 (accepts the engine's GeoPackage 1.4)


class _StyleIndexRaster(QgsProcessingLayerPostProcessorInterface):
    """Fixed colour ramp of the index, showing the latest period (the last band)."""

    def __init__(self, index: str):
        super().__init__()
        self.index = index

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        from ..gui.layers import style_index_raster

        if isinstance(layer, QgsRasterLayer):
            style_index_raster(layer, layer.bandCount(), self.index)
            layer.triggerRepaint()


class _StyleLatest(QgsProcessingLayerPostProcessorInterface):
    """Fixed, ordered classes of the first index that has a latest-values column."""

    def __init__(self, indices: Sequence[str]):
        super().__init__()
        self.indices = list(indices)

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from ..gui.layers import latest_field, style_latest_layer

        if isinstance(layer, QgsVectorLayer):
            found = latest_field(layer, self.indices) or latest_field(layer, [])
            if found:
                style_latest_layer(layer, *found)
                layer.triggerRepaint()


# Python must keep its post-processors alive until Processing has loaded the layers (the
# details that hold them are copied between contexts): the latest ones are kept here
_ALIVE: Deque[QgsProcessingLayerPostProcessorInterface] = deque(maxlen=256)


def index_raster_styler(index: str) -> QgsProcessingLayerPostProcessorInterface:
    return _StyleIndexRaster(index)


def latest_styler(indices: Sequence[str]) -> QgsProcessingLayerPostProcessorInterface:
    return _StyleLatest(indices)


def load_on_completion(context: QgsProcessingContext, uri: str, name: str, output_name: str,
                       *, raster: bool = False,
                       post: Optional[QgsProcessingLayerPostProcessorInterface] = None) -> None:
    """Ask Processing to add ``uri`` to the project as ``name`` once the algorithm ends."""
    hint = QgsProcessingUtils.LayerHint.Raster if raster else QgsProcessingUtils.LayerHint.Vector
    details = QgsProcessingContext.LayerDetails(name, context.project(), output_name, hint)
    if post is not None:  # before adding: the context keeps a copy of ``details``
        _ALIVE.append(post)
        details.setPostProcessor(post)
    context.addLayerToLoadOnCompletion(uri, details)
