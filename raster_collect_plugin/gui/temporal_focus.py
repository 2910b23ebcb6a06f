"""A scene layer added to the map is shown: its temporal range is its acquisition day, so the
canvas's temporal controller is moved to the frame holding that day (as EO Time Series Viewer
moves to a date), keeping the controller's frames aligned with the run's periods."""

from __future__ import annotations

from typing import Optional

from qgis.core import (
    QgsDateTimeRange,
    QgsMapLayer,
    QgsTemporalNavigationObject,
)

from ..qgis_compat import qgis_enum


def _step_back(controller: QgsTemporalNavigationObject, begin, frames: int):
    """``begin`` moved back by whole frames (calendar months for monthly frames)."""
    step = controller.frameDuration()
    unit = step.originalUnit()
    if unit == qgis_enum("Qgis.TemporalUnit.Months"):
        return begin.addMonths(-int(step.originalDuration()) * frames)
    if unit == qgis_enum("Qgis.TemporalUnit.Years"):
        return begin.addYears(-int(step.originalDuration()) * frames)
    return begin.addSecs(-int(step.seconds()) * frames)


def _frame_holding(controller: QgsTemporalNavigationObject, span: QgsDateTimeRange) -> int:
    for number in range(controller.totalFrameCount()):
        if controller.dateTimeRangeForFrameNumber(number).overlaps(span):
            return number
    return -1


def bring_into_view(canvas, layer: QgsMapLayer) -> str:
    """Move the canvas's temporal controller so ``layer`` is drawn; returns what was done
    (for the status line), "" when nothing had to move."""
    properties = layer.temporalProperties() if layer is not None else None
    controller = canvas.temporalController() if canvas is not None else None
    if (properties is None or not properties.isActive()
            or not isinstance(controller, QgsTemporalNavigationObject)
            or controller.navigationMode() == qgis_enum("Qgis.TemporalNavigationMode.Disabled")):
        return ""  # no temporal filtering: the layer is drawn
    span = properties.fixedTemporalRange()
    if properties.isVisibleInTemporalRange(canvas.temporalRange()):
        return ""
    extents = controller.temporalExtents()
    if controller.navigationMode() == qgis_enum("Qgis.TemporalNavigationMode.Animated"):
        begin, end = extents.begin(), extents.end()
        if span.begin() < begin:
            frames = 1
            while _step_back(controller, begin, frames) > span.begin():
                frames += 1
            begin = _step_back(controller, begin, frames)
        if span.end() > end:
            end = span.end()
        if (begin, end) != (extents.begin(), extents.end()):
            controller.setTemporalExtents(QgsDateTimeRange(begin, end))
        number = _frame_holding(controller, span)
        if number < 0:
            return ""
        controller.setCurrentFrameNumber(number)
        shown = controller.dateTimeRangeForFrameNumber(number)
    else:  # a fixed range: widened to take the day in
        shown = QgsDateTimeRange(min(extents.begin(), span.begin()),
                                 max(extents.end(), span.end()))
        controller.setTemporalExtents(shown)
    return (f"the temporal controller now shows "
            f"{shown.begin().date().toString('yyyy-MM-dd')} to "
            f"{shown.end().addSecs(-1).date().toString('yyyy-MM-dd')}")


def temporal_controller(canvas) -> Optional[QgsTemporalNavigationObject]:
    """The canvas's temporal navigation object (QGIS desktop's Temporal Controller); a new
    one is attached to a bare canvas (tests, stand-alone scripts)."""
    if canvas is None:
        return None
    controller = canvas.temporalController()
    if isinstance(controller, QgsTemporalNavigationObject):
        return controller
    controller = QgsTemporalNavigationObject(canvas)
    canvas.setTemporalController(controller)
    return controller
