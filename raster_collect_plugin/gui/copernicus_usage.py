"""The options page's Copernicus Data Space box: which authentication configuration holds the
OAuth client, the monthly processing-unit budget, and this month's spending as the ledger
knows it (reported costs where the service gave them) with a link to the CDSE dashboard, the
account's own figures (a link only: never fetched)."""

from __future__ import annotations

from qgis.gui import QgsAuthConfigSelect
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QPushButton

from .. import settings


class CopernicusUsageBox(QGroupBox):
    """Credentials choice, budget and this month's usage."""

    def __init__(self, parent=None):
        super().__init__("Copernicus Data Space (Sentinel Hub)", parent)
        from ..core.sentinel_hub import DASHBOARD_URL

        form = QFormLayout(self)
        self.auth_select = QgsAuthConfigSelect(self)
        self.auth_select.setConfigId(settings.value("copernicus/auth_config_id"))
        form.addRow("OAuth client (Basic: id / secret)", self.auth_select)
        self.budget_spin = QDoubleSpinBox(self)
        self.budget_spin.setRange(0, 10_000_000)
        self.budget_spin.setDecimals(0)
        self.budget_spin.setSuffix(" PU a month")
        self.budget_spin.setValue(settings.value("copernicus/pu_budget"))
        self.budget_spin.valueChanged.connect(self.refresh)
        form.addRow("Budget", self.budget_spin)
        self.usage_label = QLabel(self)
        self.usage_label.setObjectName("copernicus_usage")
        self.usage_label.setWordWrap(True)
        self.usage_label.setTextFormat(Qt.TextFormat.PlainText)
        form.addRow(self.usage_label)
        link = QLabel(f'<a href="{DASHBOARD_URL}">Open the CDSE dashboard</a> for the '
                      "account's own usage (all clients, all tools).", self)
        link.setObjectName("dashboard_link")
        link.setTextFormat(Qt.TextFormat.RichText)
        link.setOpenExternalLinks(True)
        form.addRow(link)
        refresh = QPushButton("Refresh", self)
        refresh.clicked.connect(self.refresh)
        form.addRow(refresh)
        self.refresh()

    def refresh(self) -> None:
        """Read the ledger again (it is written by jobs in the engine's Python)."""
        from ..core.sentinel_hub import default_usage_ledger, month_usage

        try:
            month = month_usage(default_usage_ledger(), self.budget_spin.value())
            self.usage_label.setText(month.sentence())
        except (OSError, ValueError) as error:  # a damaged ledger file
            self.usage_label.setText(f"The usage ledger cannot be read: {error}")

    def apply(self) -> None:
        settings.set_value("copernicus/auth_config_id", self.auth_select.configId())
        settings.set_value("copernicus/pu_budget", float(self.budget_spin.value()))
