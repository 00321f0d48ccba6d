"""Kernels of the AIA degradation: epoch choice, the aiapy cubic, binning, quiet-Sun level."""

from __future__ import annotations

import numpy as np
import pytest

from lascoproc.kernels.aia_degradation import (
    bin_frames,
    disk_mask,
    epoch_factor,
    quiet_sun_level,
    select_epoch,
)


def test_select_epoch_start_inclusive_stop_exclusive_last_row_wins():
    start = np.array([0, 10, 20, 10])
    stop = np.array([10, 20, 30, 15])  # row 3 re-covers part of row 1 (a later computation)
    obs = np.array([-1, 0, 9, 10, 14, 15, 19, 20, 29, 30])
    assert select_epoch(obs, start, stop).tolist() == [-1, 0, 0, 3, 3, 1, 1, 2, 2, -1]
    t = np.datetime64("2011-01-27T15:00", "ns")
    times = np.array([t - np.timedelta64(1, "ns"), t], dtype="datetime64[ns]")
    starts = np.array(["2010-03-24", "2011-01-27T15:00"], dtype="datetime64[ns]")
    stops = np.array(["2011-01-27T15:00", "2011-04-13T18:00"], dtype="datetime64[ns]")
    assert select_epoch(times, starts, stops).tolist() == [0, 1]


def test_epoch_factor_is_ratio_times_cubic():
    # 0.5 * (1 + 0.01*10 + 0.001*100 + 0.0001*1000) = 0.5 * 1.3
    assert epoch_factor(10.0, 0.5, 0.01, 0.001, 0.0001) == pytest.approx(0.65, abs=1e-15)
    out = epoch_factor(np.array([0.0, 2.0]), np.array([1.0, 2.0]), -0.5, 0.0, 0.0)
    np.testing.assert_allclose(out, [1.0, 0.0])


def test_bin_frames_block_means():
    frames = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    out = bin_frames(frames, 2)
    assert out.dtype == np.float32 and out.shape == (2, 2, 2)
    # top-left block of frame 0: 0, 1, 4, 5
    assert out[0, 0, 0] == pytest.approx(2.5)
    assert out[1, 1, 1] == pytest.approx((26 + 27 + 30 + 31) / 4)
    assert bin_frames(frames, 1) is not None and bin_frames(frames, 1).shape == (2, 4, 4)
    with pytest.raises(ValueError, match="not a multiple"):
        bin_frames(np.zeros((5, 5)), 2)


def test_disk_mask_and_quiet_sun_level():
    mask = disk_mask(8, 2.0)
    # centre (3.5, 3.5): pixels within 2 px -> the 4x4 centre minus its corners (distance 2.12)
    assert mask.sum() == 12
    frames = np.zeros((1, 2, 8, 8))
    frames[0, 0][mask] = 5.0
    frames[0, 1][mask] = np.arange(12)
    np.testing.assert_allclose(quiet_sun_level(frames, mask), [[5.0, 5.5]])


def test_decimate_takes_every_nth_pixel():
    from lascoproc.kernels.aia_degradation import decimate_frames

    frames = np.arange(2 * 4 * 4, dtype=np.float64).reshape(2, 4, 4)
    out = decimate_frames(frames, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [[0, 2], [8, 10]])
    np.testing.assert_array_equal(out[1], [[16, 18], [24, 26]])
    with pytest.raises(ValueError, match="not a multiple"):
        decimate_frames(frames[:, :3], 2)


def test_huber_location_by_hand():
    from lascoproc.kernels.aia_degradation import huber_location

    # 1, 2, 3 and an outlier 100, scale 1: at mu = 2.5 the residuals are -1.5 (clipped to
    # -1.345), -0.5, 0.5 and 97.5 (clipped to +1.345): they sum to zero
    assert huber_location(np.array([1.0, 2.0, 3.0, 100.0]), np.ones(4)) == pytest.approx(
        2.5, abs=1e-8)
    # no outlier beyond c: the mean
    assert huber_location(np.array([1.0, 2.0, 3.0]), np.full(3, 10.0)) == pytest.approx(2.0)


def test_aggregate_bin_by_hand():
    from lascoproc.kernels.aia_degradation import aggregate_bin

    values = np.array([0.50, 0.52, 0.48, 0.51, 0.90])
    sigma = np.full(5, 0.02)
    median, u_median = aggregate_bin(values, sigma, "median")
    assert median == 0.51
    # mad = 1.4826 x median(|x - 0.51|) = 1.4826 x 0.01 = 0.014826; s**2 = (5 x 0.014826**2
    # + 3 x 0.02**2) / 8 = 0.000287381; sqrt(pi / 2) x 0.0169523 / sqrt(5) = 0.0095018
    assert u_median == pytest.approx(0.0095018, abs=2e-7)
    mean, _ = aggregate_bin(values, sigma, "mean")
    assert mean == pytest.approx(0.582)
    huber, _ = aggregate_bin(values, sigma, "huber")
    assert 0.50 < huber < 0.52  # the 0.90 frame barely counts
    one, u_one = aggregate_bin(values[:1], sigma[:1], "median")
    # one frame: its own uncertainty, sqrt(3 x 0.02**2 / 4) x sqrt(pi / 2) = 0.021708
    assert (one, u_one) == (0.5, pytest.approx(0.0217080, abs=2e-7))
    with pytest.raises(ValueError, match="unknown aggregate"):
        aggregate_bin(values, sigma, "mode")


def test_interpolate_series():
    from lascoproc.kernels.aia_degradation import interpolate_series

    np.testing.assert_allclose(interpolate_series([0.0, 10.0], [1.0, 0.5], [0.0, 2.5, 10.0,
                                                                            12.0]),
                               [1.0, 0.875, 0.5, 0.5])
