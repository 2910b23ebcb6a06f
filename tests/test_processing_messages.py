"""Processing's refusals in a toolbox user's words: the parameters (by their labels in the
dialog) to change, not the command line's options or a job spec's keys, which a toolbox or
qgis_process user cannot give."""

import pytest
from qgis.core import QgsProcessingException

from tests.test_processing_doors import run


@pytest.mark.parametrize("parameter, label", [("BEFORE_ITEMS", "Before scenes"),
                                              ("AFTER_ITEMS", "After scenes")])
def test_a_storm_scene_given_as_a_windows_path(raster_collect_provider, small_sample, tmp_path,
                                               monkeypatch, parameter, label):
    """It was passed on as it was and the job said "cannot read the STAC item C:\\x\\a.json
    ... No such file", where every other path parameter gives the Windows-path line."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(QgsProcessingException) as refused:
        run("storm_damage", {"INPUT": str(small_sample.forests_path), "ID_FIELD": "forest_id",
                             "EVENT_DATE": "2025-11-01", parameter: "C:\\x\\a.json",
                             "OUTPUT_FOLDER": str(tmp_path / "out")})
    message = str(refused.value)
    assert message.startswith(f"'{label}: STAC items, one per line (optional)' is a Windows "
                              "path (C:\\x\\a.json), which this Linux machine cannot use")
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_a_monitoring_end_on_the_history_end_names_the_parameters(raster_collect_provider,
                                                                  small_sample, tmp_path):
    """The end on the history's last day passed Processing's "end before the history" check
    and the job refused it naming the spec's keys ('end', 'history_end')."""
    folder = tmp_path / "monitoring"
    with pytest.raises(QgsProcessingException) as refused:
        run("monitor_disturbance", {
            "INPUT": str(small_sample.forests_path), "ID_FIELD": "forest_id",
            "SOURCES": [3], "CATALOG": str(small_sample.catalog_path), "START": "2025-01-01",
            "END": "2025-11-30", "HISTORY_END": "2025-11-30", "OUTPUT_FOLDER": str(folder)})
    assert str(refused.value) == (
        "'End date' (2025-11-30) must be after 'End of the stable history (monitoring starts "
        "the day after)' (2025-11-30): monitoring starts the day after the history; give a "
        "later end date.")
    assert not folder.exists()
