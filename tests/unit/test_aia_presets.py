"""The presets: the paper exactly as its code runs it, the fast recipe, the choice by device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lascoproc.degradation.config import ModelConfig, SeriesRecipe
from lascoproc.degradation.model import build_network
from lascoproc.degradation.presets import PAPER_APODISE, choose_preset, recipe


def test_paper_preset_is_the_published_recipe():
    paper = recipe("paper")
    prep = paper.preprocessing
    assert (prep.size, prep.resample, prep.transform) == (256, "decimate", "linear")
    # sdo.io.AUNIT_BYCH: 94 10, 131 80, 171 2000, 193 3000, 211 1000, 304 500, 335 80
    assert prep.scaling == (10.0, 80.0, 2000.0, 3000.0, 1000.0, 500.0, 80.0)
    # dist < 200 / subsample px at 256: 100 px, the SDOML disk being 101.64 px there
    assert prep.apodise * prep.radius_px == pytest.approx(100.0)
    assert PAPER_APODISE == pytest.approx(960 / 976)  # 200 px x 4.8 arcsec / 976 arcsec
    arch = paper.architecture
    assert (arch.kind, arch.width, arch.kernel, arch.pool, arch.padding, arch.head,
            arch.alpha_max) == ("multi", 64, 3, 3, "valid", "dense", 1.0)
    aug = paper.augmentation
    assert (aug.alpha_min, aug.alpha_max, aug.flips, aug.rotate) == (0.01, 1.0, False, False)
    split = paper.split
    assert (split.start[:10], split.end[:10]) == ("2010-01-01", "2013-12-31")
    assert split.train_months == (1, 2, 3, 4, 5, 6, 7)
    assert split.test_months == (8, 9, 10) and split.holdout_months == (11, 12)
    assert split.hours == (0, 6, 12, 18)
    assert paper.series == SeriesRecipe(cadence="MS", aggregate="median",
                                        days=(1, 8, 15, 22, 29), hours=(0, 6, 12, 18),
                                        normalise_reference=True)
    assert paper.options() == {"batch_size": 64, "learning_rate": 1e-3,
                               "schedule": "constant", "epochs": 1000, "weight_decay": 0.0,
                               "torch_threads": None}


def test_paper_network_is_autocalibration6():
    paper = recipe("paper")
    config = ModelConfig(paper.preprocessing, paper.architecture, paper.augmentation)
    net = build_network(config)
    # conv 7 -> 64 (3x3): 7*64*9 + 64 = 4096; conv 64 -> 128: 64*128*9 + 128 = 73856;
    # 256 -> 254 -> pool 84 -> 82 -> pool 27: dense 128*27*27 -> 7: 93312*7 + 7 = 653191
    counts = [p.numel() for p in net.parameters()]
    assert counts == [4032, 64, 73728, 128, 653184, 7]
    assert sum(counts) == 731143
    out = net(torch.rand(2, 7, 256, 256) * 100)
    assert out.shape == (2, 7) and torch.all((out > 0) & (out < 1))


def test_split_keeps_the_paper_hours():
    split = recipe("paper").split
    times = np.array(["2011-02-01T00:03", "2011-02-01T05:55", "2011-02-01T06:07",
                      "2011-02-01T09:00", "2011-09-01T18:00", "2011-11-01T12:00"],
                     dtype="datetime64[ns]")
    masks = split.masks(times)
    assert masks["train"].tolist() == [True, True, False, False, False, False]
    assert masks["test"].tolist() == [False, False, False, False, True, False]
    assert masks["holdout"].tolist() == [False] * 5 + [True]
    recipe_days = recipe("paper").series.keep(np.array(
        ["2012-03-08T06:00", "2012-03-09T06:00", "2012-03-29T18:02", "2012-03-29T19:00"],
        dtype="datetime64[ns]"))
    assert recipe_days.tolist() == [True, False, True, False]


def test_choice_by_device_and_overrides():
    assert choose_preset(None, "cpu")[0] == "fast"
    assert choose_preset("auto", "cuda:0")[0] == "paper"
    name, reason = choose_preset("paper", "cpu")
    assert name == "paper" and reason == "--preset paper"
    assert "GPU" in choose_preset(None, "cuda")[1] and "CPU" in choose_preset(None, "cpu")[1]
    with pytest.raises(ValueError, match="unknown preset"):
        choose_preset("slow", "cpu")
    fast = recipe("fast", size=32, alpha_max=1.1, test_months=(11, 12), epochs=5)
    assert fast.preprocessing.size == 32 and fast.epochs == 5
    assert fast.architecture.alpha_max == fast.augmentation.alpha_max == 1.1
    assert fast.split.test_months == (11, 12)
    # channels given to the paper preset keep the paper's constants for those channels
    assert recipe("paper", channels=(171, 304)).preprocessing.scaling == (2000.0, 500.0)
    with pytest.raises(ValueError, match="unknown recipe options"):
        recipe("fast", colour="blue")
    # the paper's networks in the fast recipe drop the level network's radial rings
    multi = recipe("fast", kind="multi")
    assert multi.architecture.kind == "multi" and multi.architecture.profile_bins == 0
