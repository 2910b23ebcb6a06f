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



RESOLUTION = "'Resolution in metres (0 = the sensor's own)'"
BUDGET = "a larger 'Memory budget' (advanced parameters) if the machine has the memory"
# 0.25 m pixels over the sample, fifty years of months, the optical indices: 71 GB; refused
# after the search of the sample's catalog, before any pixel is read (3 s)
HUGE = {"START": "1976-01-01", "END": "2025-12-31", "INDICES": list(range(7))}


def _refused(algorithm, parameters) -> str:
    with pytest.raises(QgsProcessingException) as refused:
        run(algorithm, parameters)
    message = str(refused.value)
    assert message.startswith("too large for the memory budget of ") and "\n" not in message
    return message


def test_composites_over_the_budget_say_what_to_change_in_processing(
        raster_collect_provider, small_sample, tmp_path):
    """It said "(--resolution 1.5 needs about ...), a dask cluster (--scheduler) with the
    budget raised, or a larger --memory-budget": options and a budget Processing has not."""
    from tests.test_processing import source_parameters

    message = _refused("compute_composites", source_parameters(
        small_sample, RESOLUTION=0.25, OUTPUT_FOLDER=str(tmp_path / "out"), **HUGE))
    coarser = message.split(f"use a coarser resolution ({RESOLUTION} ")[1].split()[0]
    assert float(coarser) > 0.25
    assert message.endswith(f"a smaller area or fewer indices, or {BUDGET}")
    assert "--scheduler" not in message and "--resolution" not in message
    assert list(tmp_path.iterdir()) == []


def test_zonal_statistics_over_the_budget_name_the_hexagon_parameter(
        raster_collect_provider, small_sample, tmp_path):
    from tests.test_processing import source_parameters

    message = _refused("zonal_timeseries", source_parameters(
        small_sample, HEX_AREA=0.001, OUTPUT_FOLDER=str(tmp_path / "out"), **HUGE))
    assert message.endswith(
        "use larger hexagons ('Also per hexagon of this area in ha (0 = no hexagons)'), fewer "
        f"or smaller forests per run, a coarser {RESOLUTION}, or {BUDGET}")
    assert list(tmp_path.iterdir()) == []


def _composite_refusal(budget: int) -> str:
    """The engine's own line for the sample-sized grid of 2000 x 2000 px over ``budget``."""
    from raster_collect_plugin.core.composites.sizing import CompositeSize, SizeError, check

    with pytest.raises(SizeError) as refused:
        check(CompositeSize("Static catalog sentinel-2-l2a", 2000, 2000, 10.0, 12, 4, 2, 3),
              budget)
    return str(refused.value)


def test_a_storm_over_the_budget_names_the_resolution_as_the_command_lines(
        raster_collect_provider):
    """Processing's storm has no resolution parameter: the way out is the command line's,
    not a parameter the dialog does not have; and with the engine alone over the budget,
    no resolution fits: the budget the run needs is the algorithm's 'Memory budget'."""
    from raster_collect_plugin.processing.messages import for_processing

    storm = raster_collect_provider.algorithm("storm_damage")
    said = for_processing(_composite_refusal(600 * 2**20), storm)
    assert "use a coarser resolution (the command line's --resolution " in said
    assert said.endswith(f"a smaller area or fewer indices, or {BUDGET}")
    floor = for_processing(_composite_refusal(2**20), storm)
    assert "no resolution fits: give a 'Memory budget' (advanced parameters) of at least " \
        in floor
    from raster_collect_plugin.core.composites.sizing import default_budget, human

    assert floor.endswith("(or leave it empty: half this machine's memory, "
                          f"{human(default_budget())})")
    assert "--memory-budget" not in floor


def test_too_many_periods_name_the_dates_and_the_period(raster_collect_provider, small_sample,
                                                        tmp_path):
    """It said "choose a longer --period (quarter or year) or fewer years between --start and
    --end"."""
    from tests.test_processing import source_parameters

    with pytest.raises(QgsProcessingException) as refused:
        run("compute_composites", source_parameters(
            small_sample, START="1970-01-01", END="2100-12-31",
            OUTPUT_FOLDER=str(tmp_path / "out")))
    assert str(refused.value) == (
        "'Start date' 1970-01-01 to 'End date' 2100-12-31 makes 1,572 monthly periods, more "
        "than the 600 one run writes (a band each, empty ones too): choose a longer 'Composite "
        "period' (quarter or year) or fewer years between 'Start date' and 'End date' (split "
        "the dates into runs)")
    assert list(tmp_path.iterdir()) == []


def test_the_output_crs_of_the_command_line_is_a_processing_parameter(
        raster_collect_provider, small_sample, tmp_path):
    """Processing had no --crs: its composites were always on the scenes' UTM zone. A CRS in
    metres is used (Australian Albers over the sample); Web Mercator is refused as the
    command line refuses it, naming the parameter."""
    import rasterio

    from tests.test_processing import source_parameters

    result = run("compute_composites", source_parameters(
        small_sample, INDICES=[0], CRS="EPSG:3577", OUTPUT_FOLDER=str(tmp_path / "albers")))
    [ndvi] = [p for p in result["RASTERS"] if p.endswith("_NDVI_monthly_median.tif")]
    with rasterio.open(ndvi) as cog:
        assert cog.crs.to_epsg() == 3577
    with pytest.raises(QgsProcessingException) as refused:
        run("compute_composites", source_parameters(
            small_sample, INDICES=[0], CRS="EPSG:3857",
            OUTPUT_FOLDER=str(tmp_path / "mercator")))
    message = str(refused.value)
    label = "'Output CRS (empty = the scenes' own UTM zone)'"
    assert message.startswith(f"{label} EPSG:3857 does not measure true metres over the "
                              "forests"), message
    assert message.endswith(f"or leave {label} out for the scenes' own UTM zone")
    assert "--crs" not in message
    assert not (tmp_path / "mercator").exists() or not any((tmp_path / "mercator").iterdir())


def test_an_output_crs_with_an_existing_raster_is_refused(raster_collect_provider,
                                                          small_sample, tmp_path):
    """A zonal-raster job takes no 'crs' (its statistics are of the raster's own pixels):
    said in the dialog's words, not as the spec's refused key."""
    from tests.test_processing import write_raster_over

    write_raster_over(small_sample, tmp_path / "r.tif")
    with pytest.raises(QgsProcessingException, match="An output CRS is for imagery runs only"):
        run("zonal_timeseries", {"INPUT": str(small_sample.forests_path),
                                 "RASTER": str(tmp_path / "r.tif"), "CRS": "EPSG:3577",
                                 "OUTPUT_FOLDER": str(tmp_path / "z")})
    assert not (tmp_path / "z").exists()
