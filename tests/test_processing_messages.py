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
