"""Each test starts from the plugin's default settings: a dock closed by one test saved its
form under /raster_collect/ (a cloud limit of 100 %), the next test's dock loaded it, and
the disturbance sample's monitoring found 119 new scenes instead of 80, by test order."""

from raster_collect_plugin import settings


def test_a_test_leaves_a_setting_behind():
    settings.set_value("max_cloud_cover", 100.0)
    settings.set_value("output_folder", "/somewhere/else")
    assert settings.value("max_cloud_cover") == 100.0


def test_the_next_test_starts_from_the_defaults():
    assert settings.value("max_cloud_cover") == settings.DEFAULTS["max_cloud_cover"] == 80.0
    assert settings.value("output_folder") == ""
