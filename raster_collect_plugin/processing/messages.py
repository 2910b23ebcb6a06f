"""The engine's one-line errors in Processing's words: core names the command line's options
(``--output``, ``--overwrite``, ``--resolution``), which a toolbox or ``qgis_process`` user
cannot pass; they become the algorithm's parameters, by their labels in the dialog."""

from __future__ import annotations

import re
from typing import Mapping, Optional, Tuple

from ..core.composites.sizing import BUDGET_ADVICE, CLUSTER_ADVICE
from ..core.runs import REPLACE_ADVICE
from ..core.runs.conflict import Namer, conflict_message, spec_words

# the algorithms that size a run have the advanced parameter (common.MEMORY_BUDGET_LABEL)
_BUDGET = "a larger 'Memory budget' (advanced parameters) if the machine has the memory"

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
    (CLUSTER_ADVICE, f"or {_BUDGET}"),  # a cluster is sized against the same budget
    (BUDGET_ADVICE, _BUDGET),
)

# the engine alone over the budget (sizing.budget_floor): only the command line can raise it
_BUDGET_FLOOR = re.compile(r"give a --memory-budget of at least (.+?) \(or leave it out: half "
                           r"the machine's memory, ([^)]+)\)")

# command-line option -> the Processing parameter (by name) that sets the same
OPTION_PARAMETERS = {"--resolution": "RESOLUTION", "--hex-area-ha": "HEX_AREA",
                     "--start": "START", "--end": "END", "--period": "PERIOD", "--crs": "CRS"}
_OPTION = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, OPTION_PARAMETERS))
                     + r")(?![\w-])")


def for_processing(message: str, algorithm: Optional[object] = None) -> str:
    """``message`` with the command-line options it names put as ``algorithm``'s parameters
    (their labels, quoted); an option it has no parameter for is "the command line's"."""
    for cli, processing in _PHRASES:
        message = message.replace(cli, processing)
    message = _BUDGET_FLOOR.sub(
        r"give a 'Memory budget' (advanced parameters) of at least \1 (or leave it empty: half "
        r"this machine's memory, \2)", message)
    if algorithm is None:
        return message

    def label(match: re.Match) -> str:
        definition = algorithm.parameterDefinition(OPTION_PARAMETERS[match.group(1)])
        return (f"'{definition.description()}'" if definition is not None
                else f"the command line's {match.group(1)}")

    return _OPTION.sub(label, message)


# a run record's parameter key -> the Processing parameter (by name) setting it, and the factor
# from the key's unit to the parameter's; a ``monitoring`` key is its own name in capitals
RUN_KEY_PARAMETERS = {"max_cloud_cover": ("MAX_CLOUD", 1.0), "hexagon_area_m2": ("HEX_AREA", 1e-4),
                      "cloud_buffer_m": ("CLOUD_BUFFER", 1.0)}


def parameter_words(algorithm) -> Namer:
    """A run record's key in ``algorithm``'s words (the label of the parameter setting it,
    quoted), as the command line names its options; else the job spec's."""
    def label(name: str) -> Optional[str]:
        definition = algorithm.parameterDefinition(name)
        return f"'{definition.description()}'" if definition is not None else None

    def name(key: str) -> Tuple[str, float]:
        if key == "sources":  # (geometry: the spec's words are the dock's and ours)
            given = [w for w in map(label, ("SOURCES", "CATALOG", "STAC_URL", "COLLECTIONS"))
                     if w]
            return (f"sources ({', '.join(given)})", 1.0) if given else spec_words(key)
        parameter, factor = RUN_KEY_PARAMETERS.get(
            key, (key.rpartition(".")[2].rstrip("_").upper(), 1.0))
        word = label(parameter)
        return (word, factor) if word else spec_words(key)

    return name


def conflict_for_processing(conflict: Mapping, algorithm) -> str:
    """A refused rerun (the job's ``conflict``: location and both runs) in ``algorithm``'s
    words: "different 'Maximum scene cloud cover (%)' (the folder's run: 80, this run: none)"."""
    return for_processing(conflict_message(conflict["location"], conflict["old"],
                                           conflict["record"], parameter_words(algorithm)))
