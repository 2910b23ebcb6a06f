"""The dock's storm assessment: event date, before/after windows and the damage thresholds
(their defaults and wording from ``core/storm/classes.py``), run as a ``storm`` job spec
through the engine like Processing's *Storm damage assessment* and the ``storm`` command.

``storm_state`` / ``restore_storm_state`` are the one way in and out of these fields (the
project-state code saves and restores them)."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Dict

from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtCore import QDate, QTimer
from qgis.PyQt.QtWidgets import (
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QPushButton,
    QSpinBox,
    QToolButton,
)

from ..core.runs import run_name
from ..core.storm import (
    AFTER_DAYS,
    BEFORE_DAYS,
    MIN_AFTER_DAYS,
    MIN_BEFORE_DAYS,
    THRESHOLD_TEXT,
    DamageThresholds,
)
from .project_fields import register_state
from .sections import checked_keys

DATE = "yyyy-MM-dd"
# sources whose sensor has one of these is used (optical NDVI and radar VH both give evidence)
STORM_EVIDENCE = ["NDVI", "VH"]
# (spin box range, step, decimals) per threshold unit
_RANGES = {"fraction": (0.0, 1.0, 0.05, 2), "ndvi": (0.0, 1.0, 0.05, 2),
           "db": (0.0, 20.0, 0.5, 1)}


def _unit(name: str) -> str:
    return "fraction" if name.endswith("fraction") else "db" if name.endswith("db") else "ndvi"


class StormSection(QgsCollapsibleGroupBox):
    """Event date, days before/after, thresholds (collapsed) and the run button."""

    def __init__(self, parent=None):
        super().__init__("Storm assessment", parent)
        self.setObjectName("raster_collect_storm")
        self.setSaveCollapsedState(False)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.storm_event_date = QDateEdit(QDate(2025, 11, 13), self)
        self.storm_event_date.setCalendarPopup(True)
        self.storm_event_date.setDisplayFormat(DATE)
        self.before_days_spin = QSpinBox(self)
        self.before_days_spin.setRange(MIN_BEFORE_DAYS, 730)
        self.before_days_spin.setValue(BEFORE_DAYS)
        self.before_days_spin.setSuffix(" days")
        self.before_days_spin.setToolTip("Composites of the days before the event (ending the "
                                         "day before); its first half shows harvesting")
        self.after_days_spin = QSpinBox(self)
        self.after_days_spin.setRange(MIN_AFTER_DAYS, 365)
        self.after_days_spin.setValue(AFTER_DAYS)
        self.after_days_spin.setSuffix(" days")
        self.after_days_spin.setToolTip("Composites of the days after the event")
        form.addRow("Event date", self.storm_event_date)
        form.addRow("Before", self.before_days_spin)
        form.addRow("After", self.after_days_spin)

        self.threshold_box = QgsCollapsibleGroupBox("Damage thresholds", self)
        self.threshold_box.setObjectName("raster_collect_storm_thresholds")
        self.threshold_box.setSaveCollapsedState(False)
        self.threshold_box.setCollapsed(True)
        thresholds = QFormLayout(self.threshold_box)
        thresholds.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.threshold_spins: Dict[str, QDoubleSpinBox] = {}
        for field in fields(DamageThresholds):
            low, high, step, decimals = _RANGES[_unit(field.name)]
            spin = QDoubleSpinBox(self.threshold_box)
            spin.setRange(low, high)
            spin.setSingleStep(step)
            spin.setDecimals(decimals)
            spin.setObjectName(f"threshold_{field.name}")
            text = THRESHOLD_TEXT[field.name]
            spin.setToolTip(f"{field.name}: {text} (default {field.default:g})")
            self.threshold_spins[field.name] = spin
            thresholds.addRow(text[0].upper() + text[1:], spin)
        self.defaults_button = QToolButton(self.threshold_box)
        self.defaults_button.setText("Defaults")
        self.defaults_button.setToolTip("Back to the documented defaults (README: storm)")
        self.defaults_button.clicked.connect(self.reset_thresholds)
        thresholds.addRow(self.defaults_button)
        form.addRow(self.threshold_box)
        self.storm_button = QPushButton("Assess storm damage", self)
        self.storm_button.setToolTip(
            "Damaged hectares, share of the stand and class (none / light / moderate / severe) "
            "per forest from before/after composites: the same engine as Processing's 'Storm "
            "damage assessment' and the 'storm' command")
        form.addRow(self.storm_button)
        self.reset_thresholds()

    def reset_thresholds(self) -> None:
        """Every threshold back to its default (``DamageThresholds``)."""
        defaults = DamageThresholds()
        for name, spin in self.threshold_spins.items():
            spin.setValue(getattr(defaults, name))

    def thresholds(self) -> Dict[str, float]:
        """The thresholds as a job spec's ``thresholds`` (checked by ``DamageThresholds``)."""
        return {name: round(spin.value(), 6) for name, spin in self.threshold_spins.items()}

    def event_date(self) -> date:
        chosen = self.storm_event_date.date()
        return date(chosen.year(), chosen.month(), chosen.day())


def link_event_dates(dock) -> None:
    """The storm's event date and the period section's are one date: editing either sets both
    (setDate with an unchanged date emits nothing, so this does not loop)."""
    dock.storm_event_date.dateChanged.connect(dock.event_date.setDate)
    dock.event_date.dateChanged.connect(dock.storm_event_date.setDate)
    dock.storm_event_date.setDate(dock.event_date.date())


def storm_spec(dock, workdir: Path) -> Dict:
    """The ``storm`` job spec from the dock's forests, sources and storm fields."""
    from .dock_form import DockInputError

    section = dock.storm_section
    try:
        DamageThresholds.from_mapping(section.thresholds())
    except ValueError as problem:
        raise DockInputError(f"Storm thresholds: {problem}") from None
    spec = dock.export_aoi(workdir)
    name = run_name()
    spec.update(kind="storm", sources=dock.chosen_sources(STORM_EVIDENCE),
                max_cloud_cover=dock.max_cloud.value(),
                mask_classes=checked_keys(dock.mask_list),
                event_date=section.event_date().isoformat(),
                before_days=section.before_days_spin.value(),
                after_days=section.after_days_spin.value(),
                thresholds=section.thresholds(),
                hexagon_area_m2=dock.hexagon_spin.value() * 10_000 or None,
                output_dir=str(dock.output_root() / name), run_name=name)
    if dock.resolution_spin.value():
        spec["resolution"] = dock.resolution_spin.value()
    compute = dock.compute_spec()
    if compute:
        spec["compute"] = compute
    return spec


def start_storm(dock) -> None:
    """Run the storm assessment as a background task (results in ``show_storm``)."""
    dock._start("storm", lambda workdir: storm_spec(dock, workdir))
    if dock.current_task is not None and dock.current_task.spec.get("kind") == "storm":
        dock._run_context["event_date"] = dock.storm_section.event_date()


def storm_state(dock) -> Dict[str, str]:
    """The storm fields as text entries (for the project): event date, windows, thresholds."""
    return section_state(dock.storm_section)


def restore_storm_state(dock, state: Dict[str, str]) -> None:
    """Put back what ``storm_state`` gave (missing or unreadable entries keep their value)."""
    restore_section_state(dock.storm_section, state)


def section_state(section: StormSection) -> Dict[str, str]:
    """``storm_state`` of one storm section."""
    state = {"storm/event": section.storm_event_date.date().toString(DATE),
             "storm/before_days": str(section.before_days_spin.value()),
             "storm/after_days": str(section.after_days_spin.value())}
    state.update({f"storm/{name}": repr(value) for name, value in section.thresholds().items()})
    return state


def restore_section_state(section: StormSection, state: Dict[str, str]) -> None:
    """``restore_storm_state`` of one storm section."""
    event = QDate.fromString(state.get("storm/event") or "", DATE)
    if event.isValid():
        section.storm_event_date.setDate(event)
    for key, spin in (("storm/before_days", section.before_days_spin),
                      ("storm/after_days", section.after_days_spin)):
        try:
            spin.setValue(int(state[key]))
        except (KeyError, TypeError, ValueError):
            pass
    for name, spin in section.threshold_spins.items():
        try:
            spin.setValue(float(state[f"storm/{name}"]))
        except (KeyError, TypeError, ValueError):
            pass


# the storm fields travel with the project (gui/project_fields): one entry, the section's state
register_state("storm_section", "storm_section", section_state, restore_section_state)


def show_storm(dock, spec: Dict, result: Dict) -> None:
    """Main thread, the storm task finished: layers on top, the ranked table open and linked
    to the forests' selection, the counts in the status line."""
    from .ranked_table import link_selection, open_ranked_table
    from .storm_results import show_storm_run, storm_summary

    previous = getattr(dock, "storm_link", None)
    if previous is not None:
        previous.close()
    run = show_storm_run(spec, result, keep=dock.keep_runs.isChecked())
    dock.storm_run = run
    dock._last_storm_spec = spec
    dock.outputs_left_out.refresh()
    dock.storm_link = link_selection(run.damage, dock.layer_combo.currentLayer(),
                                     spec.get("id_field") or "forest_id")
    dock.storm_table = open_ranked_table(dock.iface, run.damage)
    dock.set_status(storm_summary(result, run))
    canvas = dock.iface.mapCanvas() if dock.iface is not None else None
    if canvas is not None:
        canvas.refresh()
    QTimer.singleShot(0, lambda: _show_expanded(run))


def _show_expanded(run) -> None:
    """QGIS 3.22's layer panel shows a new group collapsed whatever its node says: toggle the
    nodes once the panel has them, so the classes' legend is in view."""
    shown = [run.group, run.group.findLayer(run.damage.id()) if run.damage else None]
    for node in run.group.findLayers() + shown:
        if node is not None:
            keep = node in shown
            node.setExpanded(not keep)
            node.setExpanded(keep)  # the other layers' legends folded away
