"""The engine's one-line errors in Processing's words: core names the command line's options
(``--output``, ``--overwrite``), which a toolbox or ``qgis_process`` user cannot pass."""

from __future__ import annotations

from ..core.runs import REPLACE_ADVICE

# longest first: each phrase is replaced once, before the shorter ones it contains
_PHRASES = (
    (REPLACE_ADVICE,
     "choose another output folder, or delete those results and run again"),
    ("the folder 'raster-collect monitor --output' wrote",
     "the monitoring folder 'Disturbance monitoring' wrote"),
    ("choose a folder you can write to (--output)",
     "choose an output folder you can write to"),
    ("choose another --output", "choose another output folder"),
    ("(check --collections or the spec's sources)", "(check the Collections parameter)"),
)


def for_processing(message: str) -> str:
    """``message`` with the command-line options it names put as the algorithm's parameters."""
    for cli, processing in _PHRASES:
        message = message.replace(cli, processing)
    return message
