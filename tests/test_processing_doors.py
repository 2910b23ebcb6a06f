"""Processing says what the command line and a job spec say, on the offline sample: a forest
outside every scene is named (not a failure), a Windows path is refused naming the
parameter, cancelling leaves nothing a rerun would trust."""

import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException

from raster_collect_plugin.processing.provider import PROVIDER_ID
from tests.test_processing import source_parameters


def run(algorithm, parameters, feedback=None):
    import processing

    return processing.run(f"{PROVIDER_ID}:{algorithm}", parameters,
                          context=QgsProcessingContext(), feedback=feedback)


@pytest.mark.parametrize("parameter", ["CATALOG", "OUTPUT_FOLDER"])
def test_a_windows_path_is_refused_naming_the_parameter(raster_collect_provider, small_sample,
                                                        tmp_path, monkeypatch, parameter):
    """Made absolute against the working folder, C:\\x\\catalog.json was "/cwd/C:\\x\\catalog.json
    does not exist", and C:\\runs an output folder literally called that, holding a run."""
    monkeypatch.chdir(tmp_path)
    parameters = source_parameters(small_sample, OUTPUT_FOLDER=str(tmp_path / "out"))
    parameters[parameter] = "C:\\runs" if parameter == "OUTPUT_FOLDER" else "C:\\x\\catalog.json"
    with pytest.raises(QgsProcessingException) as refused:
        run("compute_composites", parameters)
    message = str(refused.value)
    assert "is a Windows path" in message and "\n" not in message
    label = "'Output folder'" if parameter == "OUTPUT_FOLDER" else "'Static STAC catalog"
    assert message.startswith(label)
    assert list(tmp_path.iterdir()) == []  # no C:\runs, no out/
