"""Index registry, safe band expressions and cloud-mask tables."""

import numpy as np
import pytest

from raster_collect_plugin.core.pixels import masks
from raster_collect_plugin.core.pixels.expression import ExpressionError, parse
from raster_collect_plugin.core.pixels.indices import INDICES, get_index


def test_ndvi_and_evi_follow_the_seed_definitions():
    bands = {"nir": np.array([0.30, 0.0]), "red": np.array([0.04, 0.0]),
             "blue": np.array([0.03, 0.0])}
    ndvi = INDICES["NDVI"].compute(bands)
    np.testing.assert_allclose(ndvi, [0.26 / (0.34 + 1e-10), 0.0])
    evi = INDICES["EVI"].compute(bands)
    np.testing.assert_allclose(evi[0], 2.5 * 0.26 / (0.30 + 6 * 0.04 - 7.5 * 0.03 + 1 + 1e-10))
    assert INDICES["EVI"].parameters == {"G": 2.5, "C1": 6.0, "C2": 7.5, "L": 1.0}
    adjusted = INDICES["EVI"].compute(bands, L=0.5)
    np.testing.assert_allclose(adjusted[0], 2.5 * 0.26 / (0.30 + 0.24 - 0.225 + 0.5 + 1e-10))


def test_every_registered_index_names_its_bands():
    assert INDICES["NBR"].bands == ("nir", "swir22")
    assert INDICES["NDRE"].bands == ("nir", "rededge1")
    assert INDICES["VHVV"].bands == ("vh", "vv")
    assert set(INDICES) >= {"NDVI", "EVI", "NDMI", "NBR", "SAVI", "NDWI", "NDRE", "VHVV"}


def test_user_expression_is_parsed_safely():
    custom = get_index("GNDVI", "(nir - green) / (nir + green)")
    assert custom.bands == ("green", "nir")
    np.testing.assert_allclose(custom.compute({"nir": 0.3, "green": 0.1}), 0.5)
    for bad in ('__import__("os").system("id")', "nir.__class__", "open('x')",
                "[nir for nir in red]", "lambda: 1", "nir if red else 0", "True"):
        with pytest.raises(ExpressionError):
            parse(bad)
    with pytest.raises(ExpressionError, match="unknown index"):
        get_index("NOPE")


def test_expression_renders_javascript_for_evalscripts():
    js = parse("G * (nir - red) ** 2").to_javascript({"nir": "s.B08", "red": "s.B04"})
    assert js == "(G * Math.pow((s.B08 - s.B04), 2))"


def test_scl_mask_uses_chosen_classes():
    scl = np.array([0, 1, 3, 4, 5, 8, 9, 10, 11])
    clear = masks.clear_from_scl(scl, masks.DEFAULT_MASK_CLASSES)  # {0, 1, 3, 8, 9, 10}
    assert list(clear) == [False, False, False, True, True, False, False, False, True]
    with_snow = masks.clear_from_scl(scl, masks.DEFAULT_MASK_CLASSES | {"snow"})
    assert list(with_snow) == [False, False, False, True, True, False, False, False, False]
    keep_saturated = masks.clear_from_scl(scl, masks.DEFAULT_MASK_CLASSES - {"saturated"})
    assert list(keep_saturated) == [False, True, False, True, True, False, False, False, True]
    with pytest.raises(ValueError, match="unknown cloud-mask classes"):
        masks.clear_from_scl(scl, {"fog"})


def test_qa_pixel_mask_does_not_trust_the_clear_bit_alone():
    clear_word = (1 << 6) | (1 << 8)
    clear_and_cirrus = clear_word | (1 << 2)
    clear_and_shadow = clear_word | (1 << 4)
    fill = 1
    snow = (1 << 5)
    qa = np.array([clear_word, clear_and_cirrus, clear_and_shadow, fill, snow], dtype="uint16")
    assert list(masks.clear_from_qa_pixel(qa, masks.DEFAULT_MASK_CLASSES)) == [
        True, False, False, False, True]
    assert list(masks.clear_from_qa_pixel(qa, {"snow"})) == [True, True, True, False, False]
    assert masks.describe("landsat", masks.DEFAULT_MASK_CLASSES)["invalid_bits"] == [0, 1, 2, 3, 4]


def test_default_mask_is_stated_once():
    assert masks.scl_invalid_values(masks.DEFAULT_MASK_CLASSES) == (0, 1, 3, 8, 9, 10)
    described = masks.describe("sentinel-2", masks.DEFAULT_MASK_CLASSES)
    assert described["invalid_values"] == [0, 1, 3, 8, 9, 10]
    assert described["invalid_names"][1] == "saturated/defective"
    text = masks.default_mask_text()
    assert "SCL classes {0, 1, 3, 8, 9, 10}" in text and "QA_RADSAT" in text
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert text in readme.read_text().replace("\n", " ")  # the README quotes masks.py


def test_landsat_radiometric_saturation_is_masked_by_default():
    not_saturated, band4, occluded, dropped = 0, 1 << 3, 1 << 11, 1 << 9
    radsat = np.array([not_saturated, band4, occluded, dropped], dtype="uint16")
    assert list(masks.clear_from_qa_radsat(radsat, masks.DEFAULT_MASK_CLASSES)) == [
        True, False, True, False]
    assert masks.clear_from_qa_radsat(radsat, {"cloud_high"}).all()
    described = masks.describe("landsat", masks.DEFAULT_MASK_CLASSES, radsat=True)
    assert described["saturation_band"] == "QA_RADSAT" and described["saturation_applied"]
    assert described["saturation_bits"] == list(range(10))


def test_mask_band_data_excludes_scl_no_data_and_landsat_fill():
    """A cloud buffer grows from what the mask band marks where it has data, never from
    no-data or fill (the swath's edge)."""
    scl = np.array([0, 1, 3, 4, 8, 9, 10, 11], dtype="uint8")
    assert masks.mask_has_data("scl", scl).tolist() == [False] + [True] * 7
    qa = np.array([1, 0, 1 << 3, (1 << 3) | 1, 21824], dtype="uint16")  # fill, clear, cloud
    assert masks.mask_has_data("qa_pixel", qa).tolist() == [False, True, True, False,
                                                                   True]
    with pytest.raises(ValueError, match="unknown mask band"):
        masks.mask_has_data("fmask", scl)
