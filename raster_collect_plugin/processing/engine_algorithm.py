"""What every Raster Collect algorithm shares around its job: the engine is checked before the
run, and the job's scratch folder (spec, exported inputs, log) is gone after it."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, List, Optional

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterFolderDestination,
)

from ..default_outputs import default_output_root

_RUNS = threading.local()  # the scratch folders of the run on this thread


def engine_problem() -> Optional[str]:
    """None when the engine's Python can run jobs, else one sentence with the fix."""
    from .. import settings
    from ..engine import bridge

    try:
        bridge.require_ready(bridge.engine_python(settings.engine_python()))
    except bridge.EngineNotReady as error:
        return str(error)
    return None


class EngineAlgorithm(QgsProcessingAlgorithm):
    """An algorithm that runs a job in the processing engine."""

    def checkParameterValues(self, parameters, context):  # noqa: N802
        # a not-ready engine is refused here, before the run: the toolbox and qgis_process
        # then show its one sentence once (a QgsProcessingException from the run is printed
        # by the message log, the feedback and qgis_process, three times)
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        problem = self._dates_problem(parameters, context) or engine_problem()
        return (False, problem) if problem else (True, "")

    def _dates_problem(self, parameters, context) -> Optional[str]:
        """The period's dates in the wrong order, said in the parameters' words."""
        if self.parameterDefinition("START") is None or self.parameterDefinition("END") is None:
            return None
        start = self.parameterAsDateTime(parameters, "START", context).date()
        end = self.parameterAsDateTime(parameters, "END", context).date()
        if start.isValid() and end.isValid() and end < start:
            return (f"The end date ({end.toString('yyyy-MM-dd')}) is before the start date "
                    f"({start.toString('yyyy-MM-dd')}): swap them.")
        return None

    def output_folder(self, parameters, name: str, context) -> str:
        """The chosen output folder; its default (beside the project) when none is given."""
        definition = self.parameterDefinition(name)
        return local_path(self.parameterAsString(parameters, name, context)
                          or definition.defaultValue(), definition.description())


def local_path(value: str, where: str = "") -> str:
    """A relative local path made absolute against this process's working folder, where
    qgis_process and native algorithms read it (the engine runs in the job's scratch folder);
    URLs (s3://, https://, file://) and empty values unchanged. A Windows path on macOS or
    Linux is refused with the job spec's line naming the parameter ``where`` (made absolute,
    it was "/cwd/C:\\x does not exist", or an output folder literally called ``C:\\runs``)."""
    if not value or "://" in value:
        return value
    from ..core.jobs.spec import windows_path_problem

    problem = windows_path_problem(f"'{where}'" if where else "the path", value)
    if problem:
        raise QgsProcessingException(problem[0].upper() + problem[1:] + ".")
    return os.path.abspath(value)


def output_folder_parameter(name: str, subfolder: str = ""
                            ) -> QgsProcessingParameterFolderDestination:
    """The "Output folder" parameter, defaulting beside the project (else in Documents), not
    in the temp folder: made when the algorithm is created, so it follows the open project."""
    default = default_output_root() / subfolder if subfolder else default_output_root()
    # optional: a script or qgis_process run that names no folder gets the default too
    return QgsProcessingParameterFolderDestination(name, "Output folder",
                                                   defaultValue=str(default), optional=True)


def scratch_folder() -> Path:
    """A new temporary folder for a job's spec, exported inputs and log; removed when the
    ``removes_scratch`` method running on this thread ends."""
    folder = Path(tempfile.mkdtemp(prefix="raster-collect-job-"))
    stack: List[List[Path]] = getattr(_RUNS, "stack", [])
    if stack:
        stack[-1].append(folder)
    return folder


def removes_scratch(process: Callable) -> Callable:
    """Decorate ``processAlgorithm``: its scratch folders go when it returns, fails or is
    cancelled (outputs live elsewhere: the output folder or the sinks)."""

    @functools.wraps(process)
    def run(self, *args, **kwargs):
        stack = _RUNS.__dict__.setdefault("stack", [])
        stack.append([])
        try:
            return process(self, *args, **kwargs)
        finally:
            for folder in stack.pop():
                shutil.rmtree(folder, ignore_errors=True)

    return run
