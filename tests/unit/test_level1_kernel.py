"""The per-frame level-1 kernel: photometry in one pass equals the lasco_factors formula bit
for bit; flags as the level-1 chain defines them."""

import numpy as np
import pytest

from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels.level1 import FramePlan, calibrate_frame, photometry
from lascoproc.kernels.quality import MISSING, OUTSIDE


@pytest.mark.parametrize("subtract_bias,ramp", [(True, True), (True, False), (False, False)])
def test_photometry_equals_photometric_calibration_bit_for_bit(subtract_bias, ramp):
    rng = np.random.default_rng(0)
    counts = rng.integers(300, 16383, (64, 48), dtype=np.uint16)
    counts[:32, :32] = 0  # a lost block
    vig = rng.uniform(0.5, 40, (64, 48)).astype(np.float32)
    ramp_image = rng.uniform(-1e-12, 1e-12, (64, 48)).astype(np.float32) if ramp else None
    expected = lf.photometric_calibration(
        counts, bias=418.861, exptime=17.6929, calfac=5.77e-12, vignetting=vig,
        ramp=0.0 if ramp_image is None else ramp_image, subtract_bias=subtract_bias,
        dtype=np.float32)
    expected[counts <= 0] = np.nan
    got = photometry(counts, bias=418.861, exptime=17.6929, calfac=5.77e-12, vignetting=vig,
                     ramp=ramp_image, subtract_bias=subtract_bias)
    np.testing.assert_array_equal(got, expected)


def test_hand_computed_pixel():
    # (1000 - 400) / 20 * 2 * 1e-11 - 1e-12 = 30 * 2e-11 - 1e-12 = 5.99e-10 MSB
    got = photometry(np.array([[1000, 0]], np.uint16), bias=400.0, exptime=20.0, calfac=1e-11,
                     vignetting=np.array([[2.0, 2.0]], np.float32),
                     ramp=np.array([[1e-12, 1e-12]], np.float32))
    assert got[0, 0] == pytest.approx(5.99e-10, rel=1e-6) and np.isnan(got[0, 1])


def test_flags_outside_missing_and_nan():
    counts = np.full((64, 64), 1000, np.uint16)
    counts[32:64, 0:32] = 0
    mask = np.ones((64, 64), np.float32)
    mask[:8, :] = 0
    plan = FramePlan(bias=400.0, exptime=10.0, calfac=1e-11, subtract_bias=True,
                     binning=(1, 1), occulter_xy=(32.0, 32.0), rotation=0.0,
                     pivot_xy=(32.0, 32.0), keyhole=False)
    b, q = calibrate_frame(counts, plan, detector="C3", vignetting=np.ones((64, 64)),
                           mask=mask, distortion=False)
    assert (q[:8] == OUTSIDE).all() and np.isnan(b[:8]).all()
    assert (q[32:, :32] == MISSING).all() and np.isnan(b[32:, :32]).all()
    assert (q[8:32] == 0).all()
    np.testing.assert_allclose(b[8:32], 600 / 10 * 1e-11, rtol=1e-6)
    assert ((q != 0) == np.isnan(b)).all()
