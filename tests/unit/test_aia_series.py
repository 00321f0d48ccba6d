"""The per-frame estimates (lazy, dask = numpy) and the binned series."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from lascoproc.degradation.config import Architecture, ModelConfig, Preprocessing
from lascoproc.degradation.model import build_network, load_model, save_model
from lascoproc.degradation.series import (
    FramePredictor,
    add_reference,
    bin_estimates,
    estimate_frames,
)
from lascoproc.io.aia_response import read_response_table
from tests.conftest import raise_if_dask_computes


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(4)
    config = ModelConfig(preprocessing=Preprocessing(channels=(94, 171, 304), size=16,
                                                     scaling=(1.0, 50.0, 10.0)),
                         architecture=Architecture(width=4))
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(path, build_network(config), config)
    return load_model(path)


def _frames(n=11, chunks=(4, 4, 3)):
    rng = np.random.default_rng(0)
    values = (rng.gamma(2.0, 10.0, (n, 3, 16, 16))).astype(np.float32)
    times = np.datetime64("2011-01-01", "ns") + np.arange(n) * np.timedelta64(3, "D")
    return xr.DataArray(values, dims=("time", "channel", "y", "x"),
                        coords={"time": times, "channel": [94, 171, 304]}).chunk(
                            {"time": chunks})


def test_estimates_are_lazy_and_equal_the_plain_network(model):
    frames = _frames()
    with raise_if_dask_computes():
        lazy = estimate_frames(frames, model, batch_size=3)
    est = lazy["degradation"]
    assert est.dims == ("time", "channel") and est.dtype == np.float32
    assert est.chunks[0] == (4, 4, 3)
    assert est.attrs["model_sha256"] == model.sha256
    assert lazy["pixels_finite"].dtype == bool
    with raise_if_dask_computes(max_computes=1):
        values = lazy.compute()
    with torch.no_grad():
        direct = model.network(torch.from_numpy(frames.values)).numpy()
    np.testing.assert_allclose(values["degradation"].values, direct, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(values["member_spread"].values, 0.0)  # one network
    assert values["pixels_finite"].values.all()


def test_a_frame_with_non_finite_pixels_gets_no_estimate(model):
    frames = _frames().load()
    frames.values[5, 1, 3, 3] = np.nan
    frames.values[7, 2, 0, 0] = np.inf
    out = estimate_frames(frames.chunk({"time": (4, 4, 3)}), model).compute()
    bad = ~np.isfinite(out["degradation"].values)
    assert bad.any(axis=1).tolist() == [i in (5, 7) for i in range(11)]
    assert out["pixels_finite"].values[5].tolist() == [True, False, True]
    series = bin_estimates(out, start="2011-01-01", end="2011-03-01", cadence="60D")
    assert series["n_frames"].values.tolist() == [9] and series["n_left_out"].values == [2]
    assert np.isfinite(series["degradation"].values).all()


def test_estimates_check_channels_and_size(model):
    frames = _frames()
    with pytest.raises(ValueError, match="channels"):
        estimate_frames(frames.assign_coords(channel=[94, 171, 335]), model)
    with pytest.raises(ValueError, match="16x16"):
        estimate_frames(frames.isel(y=slice(0, 8), x=slice(0, 8)), model)


def test_predictor_pickles_and_tokenizes(model):
    import pickle

    from dask.base import tokenize

    predictor = FramePredictor(model)
    again = pickle.loads(pickle.dumps(predictor))
    block = _frames().values[:2]
    np.testing.assert_array_equal(again(block), predictor(block))
    assert tokenize(predictor) == tokenize(FramePredictor(model))
    assert predictor(block[:0]).shape == (0, 3, 3)


def _estimates():
    times = np.array(["2011-01-01T00:00", "2011-01-02T00:00", "2011-01-03T06:00",
                      "2011-01-20T00:00", "2011-02-15T00:00", "2011-03-30"],
                     dtype="datetime64[ns]")
    values = np.array([[1.0, 0.5], [0.8, 0.7], [0.9, 0.6], [0.7, 0.4], [0.6, 0.3],
                       [0.1, 0.1]])
    return xr.DataArray(values, dims=("time", "channel"),
                        coords={"time": times, "channel": [94, 171]})


def test_binning_median_spread_and_time():
    series = bin_estimates(_estimates(), start="2011-01-01", end="2011-02-28", cadence="7D")
    # 94 A, bin 0: frames 1.0, 0.8, 0.9: median 0.9, 1.4826 x median |x - 0.9| = 0.148260;
    # no per-frame uncertainty: s = sqrt(3 x 0.148260**2 / (3 + 3)) = 0.104836, and the
    # median's standard error sqrt(pi / 2) s / sqrt(3) = 0.075859
    assert series["degradation_uncertainty"].values[0, 0] == pytest.approx(0.075859, abs=2e-6)
    assert series["degradation_uncertainty"].values[1, 0] == 0.0  # one frame, no scatter
    assert series["n_left_out"].values.tolist() == [0, 0, 0]
    # bins of 7 days from 2011-01-01: [01-01, 01-08) holds 3 frames, [01-15, 01-22) one,
    # [02-12, 02-19) one; the 03-30 frame is after the end; empty bins are left out
    assert series.sizes["time"] == 3
    assert series["n_frames"].values.tolist() == [3, 1, 1]
    np.testing.assert_allclose(series["degradation"].values[0], [0.9, 0.6])
    np.testing.assert_allclose(series["degradation_spread"].values[0],
                               [np.std([1.0, 0.8, 0.9]), np.std([0.5, 0.7, 0.6])])
    np.testing.assert_allclose(series["degradation_spread"].values[1:], 0.0)
    assert series["time"].values[0] == np.datetime64("2011-01-02T00:00", "ns")  # median time
    assert series["time_bin_start"].values[1] == np.datetime64("2011-01-15", "ns")
    assert series["time_bin_end"].values[2] == np.datetime64("2011-02-19", "ns")
    assert series["channel"].values.tolist() == [94, 171]


def test_binning_needs_computed_estimates_and_handles_no_frames():
    with pytest.raises(TypeError, match="compute"):
        bin_estimates(_estimates().chunk(), start="2011-01-01", end="2011-02-01",
                      cadence="7D")
    empty = bin_estimates(_estimates(), start="2012-01-01", end="2012-02-01", cadence="7D")
    assert empty.sizes["time"] == 0 and empty["degradation"].shape == (0, 2)


def test_aggregates_and_calibrated_uncertainty():
    est = _estimates().to_dataset(name="degradation")
    est["member_spread"] = xr.zeros_like(est["degradation"]) + 0.01
    calibration = {"rel_rms": [0.1, 0.2], "rel_bias": [0.02, -0.05]}
    mean = bin_estimates(est, start="2011-01-01", end="2011-01-07", cadence="7D",
                         aggregate="mean", calibration=calibration)
    np.testing.assert_allclose(mean["degradation"].values, [[0.9, 0.6]])
    # 171 A: frames 0.5, 0.7, 0.6; per-frame sigma sqrt(0.01**2 + (0.2 x)**2): 0.101980,
    # 0.140357, 0.120416, median 0.120416; mad 0.148260; s**2 = (3 x 0.148260**2 + 3 x
    # 0.120416**2) / 6 = 0.018240; statistical 0.135056 / sqrt(3) = 0.077975; systematic:
    # median spread 0.01 and the test-month rms 0.2 x 0.6 = 0.12 (the bias is in the rms and
    # does not average down) in quadrature: 0.120416; total 0.143458
    assert mean["degradation_uncertainty"].values[0, 1] == pytest.approx(0.143458, abs=2e-6)
    huber = bin_estimates(est, start="2011-01-01", end="2011-01-07", cadence="7D",
                          aggregate="huber", calibration=calibration)
    np.testing.assert_allclose(huber["degradation"].values, [[0.9, 0.6]], atol=1e-3)
    assert huber.attrs["aggregate"] == "huber"


def test_add_reference_ratio():
    series = bin_estimates(_estimates(), start="2011-01-01", end="2011-02-28", cadence="7D")
    table = read_response_table()
    out = add_reference(series, table)
    assert out.attrs["response_table_sha256"] == table.sha256
    normalised = add_reference(series, table, normalise=True)
    np.testing.assert_allclose(normalised["degradation_v10"].values,
                               out["degradation_v10"].values / out["degradation_v10"].values[0])
    np.testing.assert_allclose(out["ratio_to_v10"].values,
                               out["degradation"].values / out["degradation_v10"].values)
    assert np.all(np.isfinite(out["degradation_v10"].values))


def test_bin_time_is_the_median_to_the_nanosecond():
    """The median of frame times in integer nanoseconds: float64 gave ...02.270000128."""
    from lascoproc.degradation.series import _median_ns

    t = np.array(["2010-05-13T00:00:02.270", "2010-05-13T00:06:02.270",
                  "2010-05-13T00:12:02.270"], dtype="datetime64[ns]")
    def median(x):
        return np.array(_median_ns(x)).astype("datetime64[ns]")

    assert median(t) == np.datetime64("2010-05-13T00:06:02.270")
    assert median(t[:2]) == np.datetime64("2010-05-13T00:03:02.270")
    assert median(t[[2, 0]]) == np.datetime64("2010-05-13T00:06:02.270")
