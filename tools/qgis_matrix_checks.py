"""The plugin on one QGIS, as a user gets it: the packaged zip in a clean profile, the engine
made by the plugin's own set-up, the plugin loaded, one job through qgis_process and one dock
run offscreen. Runs with the Python QGIS embeds (inside a Debian root by tools/qgis_matrix.sh,
or on the host for the reference run). Standard library + QGIS only.

    python3 qgis_matrix_checks.py WORK OUT [--engine PYTHON]

WORK holds plugin.zip and recording_iface.py (optionally constraints.txt / requirements.txt
replacing the shipped engine pins); OUT receives the logs, the outputs and steps.txt
("step|ok|seconds" lines). Exit status 0 when every step passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

PLUGIN = "raster_collect_plugin"
SAMPLE_SOURCE = "3"  # "Static STAC catalog" in processing/common.SOURCE_NAMES
PERIOD = ("2025-10-01", "2025-12-31")
EVENT = "2025-11-13"  # the sample's storm


class Steps:
    """Runs named steps, logs their times to OUT/steps.txt, stops at the first failure."""

    def __init__(self, out: Path) -> None:
        self.file = out / "steps.txt"
        self.file.write_text("")

    def run(self, name: str, function, *args):
        started = time.monotonic()
        print(f"-- {name} ...", flush=True)
        try:
            result = function(*args)
        except Exception as error:  # noqa: BLE001 - every failure is reported, then re-raised
            self._record(name, "FAILED", started, f"{type(error).__name__}: {error}")
            raise
        self._record(name, "ok", started)
        return result

    def _record(self, name, status, started, detail=""):
        seconds = time.monotonic() - started
        print(f"-- {name}: {status} in {seconds:.0f} s {detail}", flush=True)
        with self.file.open("a") as handle:
            handle.write(f"{name}|{status}|{seconds:.0f}|{' '.join(detail.split())[:300]}\n")


def install_plugin(work: Path, config: Path) -> Path:
    """The zip into a clean profile (QGIS_CUSTOM_CONFIG_PATH=config), pins overridden if asked."""
    shutil.rmtree(config, ignore_errors=True)
    plugins = config / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    zipfile.ZipFile(work / "plugin.zip").extractall(plugins)
    # the engine reads the lock of its own Python (constraints-pyXY.txt)
    lock = f"constraints-py{sys.version_info[0]}{sys.version_info[1]}.txt"
    for name, target in (("constraints.txt", lock), ("requirements.txt", "requirements.txt")):
        if (work / name).is_file():
            print(f"   override: {target} replaced by {work / name}")
            shutil.copyfile(work / name, plugins / PLUGIN / target)
    return plugins


def create_engine(plugins: Path, target: Path, out: Path) -> str:
    """`raster-collect setup-engine` (the options page's button) from the system python3."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(plugins)
    with (out / "engine-setup.log").open("w") as log:
        code = subprocess.call(
            [sys.executable, "-m", PLUGIN, "setup-engine", "--target", str(target),
             "--base-python", sys.executable, "--yes"],
            env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1800)
    shutil.copyfile(target.parent / "raster_collect_engine_setup.log", out / "engine-pip.log")
    if code != 0:
        tail = (out / "engine-setup.log").read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"setup-engine exit {code}: {' / '.join(tail)}")
    return str(target / "bin" / "python")


def qgis_process_binary() -> str:
    # Debian 12's qgis_process wrapper passes --noversioncheck, which qgis_process rejects
    for candidate in ("/usr/bin/qgis_process.bin", shutil.which("qgis_process")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("qgis_process is not installed")


def qgis_process(config: Path, engine: str, out: Path, *arguments: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(config),
               RASTER_COLLECT_PYTHON=engine)
    result = subprocess.run([qgis_process_binary(), *arguments], env=env, capture_output=True,
                            text=True, timeout=900)
    with (out / "qgis_process.log").open("a") as log:
        log.write(f"$ qgis_process {' '.join(arguments)}\n{result.stdout}\n{result.stderr}\n")
    if result.returncode != 0:
        raise RuntimeError(f"qgis_process {arguments[:3]} exit {result.returncode}: "
                           f"{(result.stdout + result.stderr).strip()[-400:]}")
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if "Warning" in line and f"{os.sep}{PLUGIN}{os.sep}" in line]
    if ours:
        raise RuntimeError(f"warnings from the plugin under qgis_process: {ours}")
    text = result.stdout
    return json.loads(text[text.index("{"):]) if "--json" in arguments else {}


def process_job(config: Path, engine: str, out: Path) -> None:
    """The sample, then composites of it, through qgis_process (what a batch user runs)."""
    qgis_process(config, engine, out, "plugins", "enable", PLUGIN)
    job = out / "job"
    shutil.rmtree(job, ignore_errors=True)
    sample = qgis_process(config, engine, out, "--json", "run",
                          "raster_collect:create_sample_data", "--",
                          f"OUTPUT_FOLDER={job / 'sample'}", "SMALL=true")["results"]
    forests = sample["FORESTS"].split("|")[0]
    qgis_process(config, engine, out, "--json", "run", "raster_collect:compute_composites", "--",
                 f"INPUT={forests}", "ID_FIELD=forest_id", f"SOURCES={SAMPLE_SOURCE}",
                 f"CATALOG={sample['CATALOG']}", "COLLECTIONS=sentinel-2-l2a",
                 f"START={PERIOD[0]}", f"END={PERIOD[1]}", "MAX_CLOUD=100", "INDICES=0,1",
                 f"OUTPUT_FOLDER={job / 'composites'}")


class Session:
    """QGIS started in this process (offscreen) with the message log and Python warnings
    recorded, so each step can fail on warnings that come from the plugin's own code."""

    def __init__(self, plugins: Path, work: Path, out: Path, engine: str) -> None:
        import warnings

        # before recording: qgis.utils replaces warnings.showwarning when first imported
        import qgis.utils  # noqa: F401
        from qgis.core import QgsApplication

        os.environ["RASTER_COLLECT_PYTHON"] = engine
        self.plugins, self.work, self.out = plugins, work, out
        self.app = QgsApplication([], True)
        self.app.initQgis()
        self.messages: list = []
        self.app.messageLog().messageReceived.connect(
            lambda message, tag, level: self.messages.append((tag, int(level), message)))
        self._catcher = warnings.catch_warnings(record=True)
        self.caught = self._catcher.__enter__()
        warnings.simplefilter("always")

    def check_warnings(self) -> None:
        from qgis.core import Qgis

        self.app.processEvents()
        (self.out / "message-log.txt").write_text("".join(
            f"{tag} [{level}]: {text}\n" for tag, level, text in self.messages))
        (self.out / "python-warnings.txt").write_text("".join(
            f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n"
            for w in self.caught))
        ours = [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
                for w in self.caught if f"{os.sep}{PLUGIN}{os.sep}" in w.filename]
        ours += [f"message log {tag}: {text}" for tag, level, text in self.messages
                 if level >= int(Qgis.MessageLevel.Warning)
                 and (tag == "raster-collect" or PLUGIN in text)]
        if ours:
            raise RuntimeError(f"{len(ours)} warning(s) from the plugin: " +
                               " | ".join(ours)[:1500])

    def load(self) -> None:
        """QGIS's own plugin loader on the installed copy, with the project's recording iface."""
        import qgis.utils
        from qgis.gui import QgsMapCanvas
        from qgis.PyQt.QtWidgets import QMainWindow

        sys.path.insert(0, str(self.plugins))
        qgis.utils.plugin_paths = [str(self.plugins)]
        qgis.utils.updateAvailablePlugins()
        sys.path.insert(0, str(self.work))
        from recording_iface import RecordingIface

        self.window = QMainWindow()
        self.iface = qgis.utils.iface = RecordingIface(self.window, QgsMapCanvas(self.window))
        if not (qgis.utils.loadPlugin(PLUGIN) and qgis.utils.startPlugin(PLUGIN)):
            raise RuntimeError("qgis.utils could not load/start the plugin")
        if not sys.modules[PLUGIN].__file__.startswith(str(self.plugins)):
            raise RuntimeError(f"loaded from {sys.modules[PLUGIN].__file__}")
        if len(self.iface.docks) != 1 or len(self.iface.toolbar_actions) != 1:
            raise RuntimeError(f"the plugin added {len(self.iface.docks)} docks")
        self.check_warnings()

    def dock_run(self) -> None:
        """The dock's zonal run before/after the sample's storm (the dock tests' pattern)."""
        import qgis.utils
        from qgis.core import QgsProject, QgsVectorLayer
        from qgis.PyQt.QtCore import QDate, QEventLoop, Qt, QTimer

        from raster_collect_plugin.gui.dock import SOURCES

        dock, sample = self.iface.docks[0], self.out / "job" / "sample"
        forests = QgsVectorLayer(f"{sample / 'forests.gpkg'}|layername=forests", "forests",
                                 "ogr")
        if not forests.isValid():
            raise RuntimeError(f"no sample forests in {sample} (the qgis_process step makes it)")
        QgsProject.instance().addMapLayer(forests)
        dock.layer_combo.setLayer(forests)
        dock.source_list.item([k for k, _, _ in SOURCES].index("catalog")).setCheckState(
            Qt.CheckState.Checked)
        dock.catalog_edit.setFilePath(str(next(sample.rglob("catalog.json"))))
        dock.custom_collections.setText("sentinel-2-l2a")
        # before/after the sample's storm: the run also writes the change layer
        dock.preset_combo.setCurrentText("Before/after an event")
        dock.event_date.setDate(QDate.fromString(EVENT, "yyyy-MM-dd"))
        dock.start_date.setDate(QDate.fromString(PERIOD[0], "yyyy-MM-dd"))
        dock.end_date.setDate(QDate.fromString(PERIOD[1], "yyyy-MM-dd"))
        dock.max_cloud.setValue(100)
        for row in range(dock.index_list.count()):
            item = dock.index_list.item(row)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole)
                               == "NDVI" else Qt.CheckState.Unchecked)
        shutil.rmtree(self.out / "dock", ignore_errors=True)
        dock.output_folder.setFilePath(str(self.out / "dock"))
        loop, finished = QEventLoop(), []
        dock.job_finished.connect(lambda kind: (finished.append(kind), loop.quit()))
        QTimer.singleShot(600_000, loop.quit)
        dock.start_compute()
        loop.exec()
        if finished != ["zonal"] or dock.last_error:
            raise RuntimeError(f"dock run: finished={finished} error={dock.last_error!r}")
        layers = sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())
        print(f"   dock run added the layers {layers}", flush=True)
        qgis.utils.unloadPlugin(PLUGIN)
        self.check_warnings()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--engine", help="use this engine Python instead of creating one")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    steps = Steps(args.out)
    config = args.work / "config"
    from qgis.core import Qgis

    print(f"QGIS {Qgis.version()}, Python {sys.version.split()[0]}", flush=True)
    (args.out / "versions.txt").write_text(f"{Qgis.version()}\n{sys.version.split()[0]}\n")
    try:
        plugins = steps.run("plugin installed", install_plugin, args.work, config)
        engine = args.engine or steps.run(
            "engine created", create_engine, plugins,
            config / "profiles" / "default" / "raster_collect_engine", args.out)
    except Exception:  # noqa: BLE001 - reported by Steps; nothing runs without an engine
        return 1
    session = Session(plugins, args.work, args.out, engine)
    failed = False
    # the dock run needs only the sample from the job: each step is reported on its own
    for name, function, arguments in (("plugin loads", session.load, ()),
                                      ("qgis_process job", process_job, (config, engine,
                                                                         args.out)),
                                      ("dock run", session.dock_run, ())):
        try:
            steps.run(name, function, *arguments)
        except Exception:  # noqa: BLE001 - reported by Steps
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
