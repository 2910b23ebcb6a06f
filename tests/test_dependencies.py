"""Dependency check: missing packages give one clear message and a disabled plugin."""

from importlib import metadata

import raster_collect_plugin
from raster_collect_plugin import dependencies
from raster_collect_plugin.missing_dependencies import MissingDependenciesPlugin
from tests.recording_iface import RecordingIface


def fake_versions(installed):
    def version_of(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    return version_of


def test_missing_and_old_packages_are_reported():
    required = {"odc-stac": "0.3.10", "numpy": "1.24", "xarray": "2024.1"}
    installed = {"numpy": "1.26.4", "xarray": "2023.12.0"}
    problems = dependencies.find_problems(required, fake_versions(installed))
    assert [(p.package, p.installed) for p in problems] == [
        ("odc-stac", None), ("xarray", "2023.12.0")]
    message = dependencies.problems_message(problems)
    assert "odc-stac (missing, need >= 0.3.10)" in message
    assert "xarray 2023.12.0 (too old, need >= 2024.1)" in message
    assert '-m pip install --user "odc-stac>=0.3.10" "xarray>=2024.1" "numpy<2"' in message
    assert dependencies.interpreter_path() in message


def test_current_environment_satisfies_requirements():
    assert dependencies.find_problems() == []


def test_version_comparison_handles_calendar_and_rc_versions():
    assert dependencies._version_tuple("2024.10.0rc1") == (2024, 10, 0)
    assert dependencies._version_tuple("1.4.4") > dependencies._version_tuple("1.3.9")


def test_class_factory_disables_plugin_when_packages_missing(monkeypatch, qgis_iface):
    monkeypatch.setitem(dependencies.REQUIRED_PACKAGES, "surely-not-installed-pkg", "1.0")
    iface = RecordingIface(qgis_iface.mainWindow())
    plugin = raster_collect_plugin.classFactory(iface)
    assert isinstance(plugin, MissingDependenciesPlugin)
    plugin.initGui()  # must not raise
    assert iface.toolbar_actions == [] and iface.menu_actions == [] and iface.docks == []
    [(title, text, _level)] = iface.messageBar().messages
    assert "surely-not-installed-pkg (missing, need >= 1.0)" in text
    assert "pip install" in text
    plugin.unload()
