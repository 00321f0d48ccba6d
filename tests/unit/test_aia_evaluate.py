"""The paper's success-rate metric and the quiet-Sun baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from lascoproc.degradation.config import Architecture, Augmentation, ModelConfig, Preprocessing
from lascoproc.degradation.data import DimmedPairs
from lascoproc.degradation.evaluate import (
    QuietSunBaseline,
    evaluate,
    format_table,
    success_rate,
)
from lascoproc.degradation.model import DegradationModel, build_network
from lascoproc.kernels.aia_degradation import disk_mask

PREP = Preprocessing(channels=(171, 304), size=32, scaling=(100.0, 10.0))


def test_success_rate_by_hand():
    true = np.array([[0.5, 0.5], [0.2, 0.9], [0.7, 0.1], [0.3, 0.3]])
    pred = np.array([[0.54, 0.62], [0.26, 0.84], [0.7, 0.3], [0.244, 0.299]])
    # |err| channel 0: 0.04, 0.06, 0, 0.056; channel 1: 0.12, 0.06, 0.2, 0.001 (no ties)
    np.testing.assert_allclose(success_rate(pred, true, 0.05), [0.5, 0.25])
    np.testing.assert_allclose(success_rate(pred, true, 0.1), [1.0, 0.5])


def _sun(n=6):
    """Uniform disks with a bright 'active region' moving around: quiet level 100 and 10."""
    mask = disk_mask(32, PREP.radius_px)
    frames = np.zeros((n, 2, 32, 32), dtype=np.float32)
    frames[:, 0][:, mask] = 100.0
    frames[:, 1][:, mask] = 10.0
    for i in range(n):
        frames[i, :, 10 + i, 12:15] *= 20.0
    times = np.datetime64("2010-10-01", "ns") + np.arange(n) * np.timedelta64(1, "D")
    return xr.DataArray(frames, dims=("time", "channel", "y", "x"),
                        coords={"time": times, "channel": [171, 304]})


def test_quiet_sun_baseline_recovers_a_uniform_dimming_exactly():
    frames = _sun().values
    baseline = QuietSunBaseline.fit(frames, PREP)
    assert baseline.reference_level == pytest.approx((100.0, 10.0))
    alpha = np.array([[0.3, 0.8], [0.55, 0.01]])
    dimmed = frames[:2] * alpha[:, :, None, None]
    np.testing.assert_allclose(baseline.predict(dimmed), alpha, rtol=1e-6)


def test_evaluate_scores_every_estimator_on_the_same_samples():
    frames = _sun()
    test = DimmedPairs(frames, Augmentation(), batch_size=5, seed=2)
    baseline = QuietSunBaseline.fit(frames.values, PREP)
    torch.manual_seed(0)
    config = ModelConfig(preprocessing=PREP, architecture=Architecture(width=2))
    model = DegradationModel(network=build_network(config).eval(), config=config,
                             name="random.pt", sha256="0" * 64, training={})
    result = evaluate({"multi-channel": model}, test, baseline, PREP, draws=4)
    assert result["estimator"].values.tolist() == ["multi-channel", "baseline"]
    assert result.attrs["n_samples"] == 6 * 4
    np.testing.assert_allclose(result["success_005"].sel(estimator="baseline"), 1.0)
    np.testing.assert_allclose(result["mae"].sel(estimator="baseline"), 0.0, atol=1e-6)
    assert float(result["mae"].sel(estimator="multi-channel").mean()) > 0.05  # untrained
    table = format_table(result)
    assert table.splitlines()[0].startswith("| channel | multi-channel @0.05")
    assert "| 304 |" in table and "| mean |" in table
    other = ModelConfig(preprocessing=Preprocessing(channels=(171, 304), size=16,
                                                    scaling=(1.0, 1.0)),
                        architecture=Architecture(width=2))
    wrong = DegradationModel(network=build_network(other), config=other, name="x.pt",
                             sha256="1" * 64, training={})
    with pytest.raises(ValueError, match="size 16"):
        evaluate({"wrong": wrong}, test, baseline, PREP)
