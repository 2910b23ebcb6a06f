"""The dock's *Memory budget* (Outputs & compute; the command line's --memory-budget): kept in
the settings, read as the command line reads it, and sent with the runs that size themselves
(composites and statistics, storm, monitoring), whose job refuses a run over it."""

from raster_collect_plugin import settings
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)


def test_a_run_over_the_budget_is_refused_by_the_job(dock, tmp_path):  # noqa: F811
    dock.budget_edit.setText(" 1MB ")
    dock.start_compute()
    assert dock.current_task.spec["memory_budget"] == "1MB"
    assert wait_for_job(dock) == "zonal"
    assert dock.state == "failed"
    assert dock.last_error.startswith("too large for the memory budget of 1.0 MB: ")
    assert "Outputs & compute → Memory budget" in dock.last_error  # not --memory-budget
    assert settings.value("memory_budget") == "1MB"  # kept for the next session
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir())


def test_a_search_takes_no_budget(dock):  # noqa: F811
    dock.budget_edit.setText("1MB")
    dock.start_search()
    assert "memory_budget" not in dock.current_task.spec  # a search's spec refuses it
    assert wait_for_job(dock) == "search", dock.last_error
    assert dock.state == "done" and dock.search_rows


def test_an_unreadable_budget_is_refused_before_the_run(dock):  # noqa: F811
    dock.budget_edit.setText("8XB")
    dock.start_compute()
    assert dock.current_task is None
    assert dock.last_error == "cannot read the memory budget '8XB': use a size like 4GB or 512MB"


def test_the_budget_comes_back_in_a_new_dock(dock):  # noqa: F811
    settings.set_value("memory_budget", "12GB")
    dock.load_settings()
    assert dock.budget_edit.text() == "12GB"


def test_the_storm_and_monitoring_runs_take_it_too(dock, tmp_path):  # noqa: F811
    dock.budget_edit.setText("1MB")
    dock.storm_button.click()
    assert dock.current_task.spec["kind"] == "storm"
    assert dock.current_task.spec["memory_budget"] == "1MB"
    assert wait_for_job(dock) == "storm"
    assert dock.last_error.startswith("too large for the memory budget of 1.0 MB: ")
    dock.catalog_edit.setFilePath(str(tmp_path / "own" / "catalog.json"))  # not the sample
    dock.monitoring_section.folder.setFilePath(str(tmp_path / "monitoring"))
    dock.monitoring_section.run_button.click()
    assert dock.current_task.spec["kind"] == "monitor"
    assert dock.current_task.spec["memory_budget"] == "1MB"
    wait_for_job(dock)
