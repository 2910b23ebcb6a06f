"""The plugin on the QGIS of Debian 13 (3.40 LTR, Python 3.13) and sid (3.44, Python 3.14):
tools/qgis_matrix.sh in a debootstrap root (cached in /var/cache/raster-collect), compared with
the same run on this machine's QGIS.

Runs when RC_QGIS_MATRIX names the legs ("3.40", "3.40 3.44") or in CI (CI=true: the 3.40 LTR
leg); needs root, debootstrap (installed if missing), chroot and mount, and Debian's archive and
PyPI (package registries only). A cold 3.40 leg takes minutes (see the README).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.qgis_matrix


def requested_legs():
    legs = os.environ.get("RC_QGIS_MATRIX", "").split()
    if not legs and os.environ.get("CI") == "true":
        legs = ["3.40"]
    return legs


def why_not_runnable():
    if not requested_legs():
        return "set RC_QGIS_MATRIX=3.40 (or \"3.40 3.44\"; CI=true runs 3.40) to run the leg"
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mount): run `sudo make test-qgis-matrix`"
    missing = [tool for tool in ("chroot", "mount", "umount") if shutil.which(tool) is None]
    if missing or not (shutil.which("debootstrap") or shutil.which("apt-get")):
        return f"missing {missing or ['debootstrap (and apt-get to install it)']}"
    return ""


@pytest.mark.skipif(bool(why_not_runnable()), reason=why_not_runnable() or "runnable")
def test_plugin_loads_and_runs_on_debian_qgis(tmp_path):
    """Per leg: root + QGIS, plugin installed from the zip and loaded without warnings from
    its code, the engine made by the plugin's set-up, a qgis_process job, a dock run, and the
    outputs identical to this machine's run (tables equal, raster arrays equal)."""
    env = dict(os.environ, QGIS_MATRIX_OUT=str(tmp_path), REFERENCE_ENGINE=sys.executable,
               COMPARE_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    legs = requested_legs()
    result = subprocess.run([str(ROOT / "tools" / "qgis_matrix.sh"), *legs], env=env,
                            capture_output=True, text=True, timeout=3600)
    summary = (tmp_path / "summary.txt").read_text() if (tmp_path / "summary.txt").exists() \
        else ""
    print(result.stdout[-4000:])
    assert result.returncode == 0, summary + result.stdout[-3000:] + result.stderr[-2000:]
    for leg in legs:
        steps = {line.split("|")[1]: line.split("|")[2] for line in summary.splitlines()
                 if line.startswith(f"{leg}|")}
        for step in ("plugin loads", "engine created", "qgis_process job", "dock run"):
            assert steps.get(step) == "ok", (leg, step, summary)
        compared = [name for name in steps if name.startswith("outputs identical")]
        assert compared and steps[compared[0]] == "ok", summary
        assert (tmp_path / leg / "job" / "composites").is_dir()
    mounted = subprocess.run(["mount"], capture_output=True, text=True).stdout
    assert "raster-collect/roots" not in mounted and "/tmp/qgis-matrix" not in mounted
