"""The storm ranking as a QGIS attribute table (sorted by rank, "zoom to" and "flash" built in)
whose selection is the forests' selection: selecting rows selects the same forests on the
dock's polygon layer (so the chart follows) and the reverse (main thread only)."""

from __future__ import annotations

from typing import List, Optional

from qgis.core import QgsExpression, QgsFeatureRequest, QgsVectorLayer
from qgis.PyQt.QtCore import QObject


def _ids(layer: QgsVectorLayer, id_field: str, values: List) -> List[int]:
    """Feature ids of ``layer`` whose ``id_field`` is one of ``values``."""
    if not values:
        return []
    quoted = ", ".join(QgsExpression.quotedValue(v) for v in values)
    request = QgsFeatureRequest().setFilterExpression(
        f"{QgsExpression.quotedColumnRef(id_field)} IN ({quoted})")
    request.setNoAttributes()
    request.setFlags(QgsFeatureRequest.Flag.NoGeometry)
    return [f.id() for f in layer.getFeatures(request)]


class SelectionLink(QObject):
    """Keeps two layers' selections equal by a shared id field (both ways, no echo)."""

    def __init__(self, ranked: QgsVectorLayer, forests: QgsVectorLayer, id_field: str):
        super().__init__(ranked)
        self.ranked, self.forests, self.id_field = ranked, forests, id_field
        self._busy = False
        ranked.selectionChanged.connect(self._from_ranked)
        forests.selectionChanged.connect(self._from_forests)

    def _copy(self, source: QgsVectorLayer, target: QgsVectorLayer) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            values = [f[self.id_field] for f in source.getSelectedFeatures()]
            target.selectByIds(_ids(target, self.id_field, values))
        finally:
            self._busy = False

    def _from_ranked(self, *_args) -> None:
        self._copy(self.ranked, self.forests)

    def _from_forests(self, *_args) -> None:
        self._copy(self.forests, self.ranked)

    def close(self) -> None:
        for layer, slot in ((self.ranked, self._from_ranked), (self.forests, self._from_forests)):
            try:
                layer.selectionChanged.disconnect(slot)
            except (TypeError, RuntimeError):
                pass


def link_selection(ranked: Optional[QgsVectorLayer], forests, id_field: str
                   ) -> Optional[SelectionLink]:
    """Link the ranked layer's selection to the forests' (None when either is missing or the
    forests have no such field)."""
    if not isinstance(ranked, QgsVectorLayer) or not isinstance(forests, QgsVectorLayer):
        return None
    if forests.fields().indexOf(id_field) < 0 or ranked.fields().indexOf(id_field) < 0:
        return None
    return SelectionLink(ranked, forests, id_field)


def open_ranked_table(iface, layer: QgsVectorLayer):
    """The damage layer's attribute table (its config sorts by rank); None without a GUI."""
    show = getattr(iface, "showAttributeTable", None)
    if show is None or layer is None:
        return None
    return show(layer)
