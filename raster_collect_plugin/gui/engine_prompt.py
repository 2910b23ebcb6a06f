"""The dock's first-run prompt: shown while the processing engine is not ready, one sentence
and a button that opens the engine set-up (Settings → Options → Raster Collect)."""

from __future__ import annotations

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from .engine_state import engine_state


class EnginePrompt(QFrame):
    """Hidden when the engine is ready; otherwise says what is missing and offers set-up."""

    def __init__(self, iface, parent=None):
        super().__init__(parent)
        self.iface = iface
        self.setObjectName("RasterCollectEnginePrompt")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#RasterCollectEnginePrompt { background: #fff4ce; "
                           "border: 1px solid #e0b400; border-radius: 3px; }")
        layout = QVBoxLayout(self)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # commands are shown whole
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label)
        buttons = QHBoxLayout()
        self.setup_button = QPushButton("Set up the engine…", self)
        self.setup_button.setObjectName("raster_collect_setup_engine")
        self.check_button = QPushButton("Check again", self)
        buttons.addWidget(self.setup_button)
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.setup_button.clicked.connect(self.open_setup)
        self.check_button.clicked.connect(lambda: engine_state().refresh(force=True))
        engine_state().changed.connect(self.update_from_state)
        self.update_from_state()

    def update_from_state(self) -> None:
        state = engine_state()
        if state.ready is False:
            problems = (state.report or {}).get("problems") or []
            self.label.setText(
                f"Raster Collect needs its processing engine, a Python of its own, before "
                f"it can search or compute. The one in use is not ready "
                f"({len(problems)} problem(s), details in the tooltip): set it up or repair "
                f"it in a few clicks.")
            self.setToolTip(state.message())
        self.setVisible(state.ready is False)

    def open_setup(self) -> None:
        from .engine_options import open_engine_options

        open_engine_options(self.iface)
