"""Degradation model configuration: validation, month split, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest

from lascoproc.degradation.config import (
    SDOML_RSUN_FRACTION,
    Architecture,
    Augmentation,
    ModelConfig,
    Preprocessing,
    ReferenceSplit,
)


def test_preprocessing_validates_and_derives():
    prep = Preprocessing(channels=("94A", 171, "335"), size=64)
    assert prep.channels == (94, 171, 335)
    assert prep.binning(512) == 8 and prep.binning(128) == 2
    assert prep.radius_px == pytest.approx(64 * 976 / 2457.6)
    assert SDOML_RSUN_FRACTION * 512 == pytest.approx(203.33, abs=0.01)
    with pytest.raises(ValueError, match="cannot be binned"):
        prep.binning(96)
    with pytest.raises(ValueError, match="size must divide"):
        Preprocessing(size=100)
    with pytest.raises(ValueError, match="repeated"):
        Preprocessing(channels=(94, 94))
    with pytest.raises(ValueError, match="transform"):
        Preprocessing(transform="sqrt")
    with pytest.raises(ValueError, match="one positive value per channel"):
        Preprocessing(channels=(94, 171), scaling=(1.0,))
    assert prep.with_scaling([2, 3, 4]).scaling == (2.0, 3.0, 4.0)


def test_architecture_and_augmentation_validate():
    with pytest.raises(ValueError, match="kind"):
        Architecture(kind="triple")
    with pytest.raises(ValueError, match="odd"):
        Architecture(kernel=4)
    with pytest.raises(ValueError, match="alpha_min < alpha_max"):
        Augmentation(alpha_min=0.5, alpha_max=0.5)


def test_split_by_calendar_month():
    split = ReferenceSplit()
    times = np.array(["2010-05-13", "2010-08-11", "2010-09-30T23:59", "2010-10-01",
                      "2011-01-08", "2011-12-31T23:00"], dtype="datetime64[ns]")
    masks = split.masks(times)
    assert masks["train"].tolist() == [True, False, False, False, True, False]
    assert masks["holdout"].tolist() == [False, True, True, False, False, False]
    assert masks["test"].tolist() == [False, False, False, True, False, True]
    with pytest.raises(ValueError, match="overlap"):
        ReferenceSplit(train_months=(1, 2), test_months=(2, 3))
    with pytest.raises(ValueError, match="before it starts"):
        ReferenceSplit(start="2012-01-01", end="2011-01-01")
    with pytest.raises(ValueError):
        ReferenceSplit(sample_every="often")


def test_model_config_json_round_trip():
    config = ModelConfig(
        preprocessing=Preprocessing(size=64, transform="log", scaling=tuple(range(1, 8))),
        architecture=Architecture(kind="single", width=8, alpha_max=1.2),
        augmentation=Augmentation(alpha_max=1.2, flips=True),
        split=ReferenceSplit(end="2014-12-31", sample_every="6h"),
    )
    again = ModelConfig.from_json(config.to_json())
    assert again == config
    assert hash(again) == hash(config)
    with pytest.raises(ValueError, match="not a degradation model configuration"):
        ModelConfig.from_dict({"preprocessing": {}})
