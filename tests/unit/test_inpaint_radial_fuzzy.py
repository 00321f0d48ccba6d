"""The classical fills as kernels: radial interpolation and NRL's fuzzy_image, on hand cases."""

from __future__ import annotations

import numpy as np
import pytest

from lascoproc.kernels import fuzzy_fill as fz
from lascoproc.kernels.inpaint_radial import radial_fill

# --- radial ----------------------------------------------------------------------------------


def test_radial_fill_along_a_row_is_linear_between_the_nearest_observed_pixels():
    """Centre on the row (left of the array): rays run along the row. Observed 2 at x=2 and 10
    at x=6; x = 3, 4, 5 are 1, 2, 3 px from x=2 and 3, 2, 1 from x=6: 2 + 8 * (1, 2, 3) / 4."""
    v = np.array([[1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 10.0, 11.0, 12.0, 13.0]])
    holes = np.zeros(v.shape, bool)
    holes[0, 3:6] = True
    out = radial_fill(v, holes, (-10.0, 0.0))
    np.testing.assert_allclose(out[0], [1, 1, 2, 4, 6, 8, 10, 11, 12, 13], rtol=0, atol=1e-12)


def test_radial_fill_along_a_column_is_linear_in_r_not_the_truth():
    """v = y^2 on a column through the centre: y = 3, 4, 5 between 4 (y=2) and 36 (y=6) are
    4 + 32 * (1, 2, 3) / 4 = 12, 20, 28 (not 9, 16, 25: the fill is linear along the ray)."""
    y = np.arange(10.0)[:, None] ** 2 * np.ones((1, 3))
    holes = np.zeros(y.shape, bool)
    holes[3:6, 1] = True
    out = radial_fill(np.where(holes, np.nan, y), holes, (1.0, -5.0))
    np.testing.assert_allclose(out[3:6, 1], [12.0, 20.0, 28.0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out[~holes], y[~holes])


def test_radial_fill_stops_at_the_occulter_and_the_frame_edge():
    # inwards the walk meets NaN (outside the field) first: the outward value alone
    v = np.array([[np.nan, np.nan, 0.0, 0.0, 0.0, 7.0, 8.0]])
    holes = np.zeros(v.shape, bool)
    holes[0, 2:5] = True
    out = radial_fill(v, holes, (-1.0, 0.0))
    np.testing.assert_array_equal(out[0, 2:5], [7.0, 7.0, 7.0])
    # no observed pixel on either side: left NaN for the caller
    v = np.array([[np.nan, 0.0, 0.0, np.nan]])
    holes = np.array([[False, True, True, False]])
    assert np.isnan(radial_fill(v, holes, (-3.0, 0.0))[0, 1:3]).all()
    # the centre itself has no ray
    v = np.ones((5, 5))
    holes = np.zeros((5, 5), bool)
    holes[2, 2] = True
    assert np.isnan(radial_fill(v, holes, (2.0, 2.0))[2, 2])


def test_radial_fill_refuses_bad_arguments():
    with pytest.raises(ValueError, match="center"):
        radial_fill(np.ones((4, 4)), np.zeros((4, 4), bool), (np.nan, 1.0))
    with pytest.raises(ValueError, match="shape"):
        radial_fill(np.ones((4, 4)), np.zeros((4, 5), bool), (1.0, 1.0))


# --- fuzzy_image: the IDL building blocks ---------------------------------------------------


def test_grad_map_hand_values():
    """grad(3, 2, theta): theta 0 -> x; pi/4 -> (x + y) (pix_dist sqrt 2); pi/2 -> y (origin
    at the corner (nx - 1, 0))."""
    np.testing.assert_allclose(fz.grad_map(3, 2, 0.0), [[0, 1, 2], [0, 1, 2]], atol=1e-12)
    np.testing.assert_allclose(fz.grad_map(3, 2, np.pi / 4), [[0, 1, 2], [1, 2, 3]],
                               atol=1e-12)
    np.testing.assert_allclose(fz.grad_map(3, 2, np.pi / 2), [[0, 0, 0], [1, 1, 1]],
                               atol=1e-12)


def test_multi_interp_is_a_natural_spline_of_the_rank_on_the_line():
    """One line (map all 0). Present (0, 0), (1, 1), (3, 9): natural spline, M1 = 3, at 2:
    3 * 1 / 12 + (1/2 - 3 * 2 / 6) * 1 + (9/2) * 1 = 4.25; a linear line stays linear."""
    values = np.array([[0.0, 1.0, 0.0, 9.0]])
    present = np.array([[True, True, False, True]])
    out = fz.multi_interp(values, present, np.zeros((1, 4)), np.pi / 2)
    assert out[0, 2] == pytest.approx(4.25, abs=1e-12)
    out = fz.multi_interp(np.array([[1.0, 0.0, 3.0, 0.0, 5.0]]),
                          np.array([[True, False, True, False, True]]), np.zeros((1, 5)),
                          np.pi / 2)
    np.testing.assert_allclose(out[0], [1, 2, 3, 4, 5], atol=1e-12)


def test_multi_smooth_is_idl_smooth_3_along_each_line():
    out = fz.multi_smooth(np.array([[1.0, 2.0, 6.0, 4.0, 10.0]]), np.zeros((1, 5)), np.pi / 2)
    np.testing.assert_allclose(out[0], [1.0, 3.0, 4.0, 20.0 / 3.0, 10.0], atol=1e-12)
    short = np.array([[1.0, 5.0, 2.0]])  # IDL smooths only lines longer than the width
    np.testing.assert_array_equal(fz.multi_smooth(short, np.zeros((1, 3)), np.pi / 2), short)


def test_zones_merge_blocks_within_two_blocks():
    blocks = np.zeros((8, 8), bool)
    blocks[0, 0] = blocks[0, 2] = blocks[0, 5] = blocks[3, 5] = True
    zones = fz.missing_zones(blocks)
    assert zones[0, 0] == zones[0, 2] == 0  # 2 apart: one zone
    assert zones[0, 5] == 1 and zones[3, 5] == 2  # 3 apart: separate
    assert (zones[~blocks] == -1).all()


def test_subspectra_regions():
    mask = fz.subspectra_mask(32)
    assert mask[0, 0] == 0 and mask[0, 1] == 1 and mask[2, 2] == 1  # DC, low
    assert mask[0, 10] == 2 and mask[10, 0] == 3 and mask[10, 10] == 4  # horiz, vert, diag
    assert mask[31, 31] == 5  # high: |k| > 28.8


def test_idl_range_subscripts_with_the_zero_one_array():
    """``all_sub_sp(where(all_sub_sp) ne 0)``: elements 0/1 of IDL's memory order (kx fastest,
    then ky, ii, jj)."""
    sub = np.zeros((3, 3, 4, 4))
    sub[1, 1, 2, 2] = 9.0
    assert fz._idl_range(sub) == (0.0, 0.0)  # elements 0 and 1 are 0: min = max = 0
    sub[0, 0, 0, 1] = 5.0  # element 1
    assert fz._idl_range(sub) == (5.0, 5.0)
    sub[0, 0, 0, 0] = -2.0  # element 0 too
    assert fz._idl_range(sub) == (-2.0, 5.0)


def test_fuzzy_block_zeroes_the_main_wedge_of_the_missing_block():
    """Every block holds 3 + a cosine along x of DCT index kx = 10 (the horizontal wedge, main
    orientation of all 9): with min = max = 0 the wedge of the centre is set to 0, so the
    centre comes back as the constant 3."""
    x = np.arange(32)
    wave = np.cos(np.pi * 10 * (2 * x + 1) / 64)[None, :] * np.ones((32, 1))
    hood = np.tile(3.0 + wave, (3, 3))
    np.testing.assert_allclose(fz.fuzzy_block(hood), np.full((32, 32), 3.0), atol=1e-10)


def test_hcie_of_a_ramp_is_the_ramp_shifted_by_half_a_pixel():
    """HCIE on f = 0.3 x + 2 (gradient along x: angle 0, lines of constant value are columns):
    cell means sit at cell centres 1.5 + 4 i but TRI_SURF places them at 2 + 4 i (xgrid =
    [2, 4]), so the fill is f(x - 0.5) = 0.3 x + 1.85. The final SMOOTH(3) along rows then
    meets the observed pixels at the hole's first and last columns: (f(31) + 2 f(32 - 0.5) ...)
    / 3 adds 0.15 / 3 = 0.05 there."""
    yy, xx = np.mgrid[0:96, 0:96].astype(float)
    f = 0.3 * xx + 2.0
    missing = np.zeros(f.shape, bool)
    missing[32:64, 32:64] = True
    assert fz.gradient_angle(np.where(missing, 0.0, f), ~missing) == 0.0
    out = fz.hcie_zone(np.where(missing, 0.0, f), missing)
    expected = 0.3 * xx + 1.85
    expected[:, 32] += 0.05
    expected[:, 63] += 0.05
    np.testing.assert_allclose(out[missing], expected[missing], atol=1e-9)
    np.testing.assert_array_equal(out[~missing], f[~missing])


def test_hcie_of_an_oblique_ramp_is_close():
    """Oblique lines are digital (a cell thick), their rank is the abscissa of IDL's spline:
    not exact, within a few per cent of the zone's range."""
    yy, xx = np.mgrid[0:96, 0:96].astype(float)
    f = 0.3 * xx + 0.1 * yy + 2.0
    missing = np.zeros(f.shape, bool)
    missing[32:64, 32:64] = True
    out = fz.hcie_zone(np.where(missing, 0.0, f), missing)
    assert np.abs(out[missing] - f[missing]).mean() < 0.05 * np.ptp(f)


def test_fuzzy_fill_keeps_observed_pixels_and_refuses_what_fuzzy_image_refuses():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:160, 0:160].astype(float)
    image = 1.0 + 0.01 * xx + 0.02 * yy + 0.05 * rng.standard_normal(xx.shape)
    image[:, :8] = np.nan  # outside the field
    holes = np.zeros(image.shape, bool)
    holes[64:96, 64:96] = True  # one block
    out = fz.fuzzy_fill(np.where(holes, 0.0, image), holes)
    np.testing.assert_array_equal(out[~holes], np.where(holes, 0.0, image)[~holes])
    assert np.isfinite(out[holes]).all()
    assert np.abs(out[holes] - image[holes]).mean() < 0.1
    # a zone with more missing than present pixels stays unfilled (NaN): 5 x 5 blocks in a
    # 7 x 7 zone, 25 600 missing and 24 576 present pixels
    big = np.ones((256, 256))
    many = np.zeros(big.shape, bool)
    many[64:224, 64:224] = True
    out = fz.fuzzy_fill(big, many)
    assert np.isnan(out[many]).all()


def test_fuzzy_fill_with_small_blocks():
    """A rebinned frame's 4-pixel blocks: the spectral regions scale (no empty-region NaN)."""
    rng = np.random.default_rng(1)
    image = 5.0 + rng.standard_normal((40, 40)) * 0.1
    holes = np.zeros(image.shape, bool)
    holes[16:20, 20:24] = True
    with np.errstate(all="raise"):
        out = fz.fuzzy_fill(image, holes, block=4)
    assert np.isfinite(out[holes]).all() and np.abs(out[holes] - 5.0).max() < 1.0


def test_small_blocks_keep_the_first_order_coefficients_in_the_low_region():
    """Blocks of 8 or 4 pixels: the scaled low-frequency radius (1 and 0.5) would hold no
    coefficient; it is at least 1.5, so (0, 1), (1, 0) and (1, 1) are low, as at block 16
    (radius 2), and (0, 2) is not."""
    for block in (4, 8, 16):
        mask = fz.subspectra_mask(block)
        assert mask[0, 1] == mask[1, 0] == mask[1, 1] == 1, block
        assert mask[0, 2] != 1 and mask[2, 0] != 1, block
    assert int(np.sum(fz.subspectra_mask(32) == 1)) == 14  # IDL's block: unchanged


def test_fuzzy_keeps_the_gradient_of_a_ramp_in_small_blocks():
    """A smooth ramp exp(4 x / n) with one interior block of 8 (n = 64): stage 3 used to set
    the first-order coefficients to 0 and the fill was off by 529%; now within 5%."""
    n, block = 64, 8
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    image = np.exp(4.0 * xx / n)
    holes = np.zeros(image.shape, bool)
    holes[24:32, 32:40] = True
    out = fz.fuzzy_fill(np.where(holes, 0.0, image), holes, block=block)
    error = np.abs(out[holes] - image[holes]) / image[holes]
    assert error.max() < 0.05


def test_a_zone_with_uninterpolable_cell_lines_is_left_unfilled():
    """A hole in the frame's corner: lines of cells along the gradient that hold fewer than
    two present cells (IDL leaves them 0, and the surface then overshot to the frame's
    maximum, 37.8 where the truth is 0.06) leave the zone unfilled (NaN: the caller's fallback
    fills it); an interior hole of the same frame is filled."""
    yy, xx = np.mgrid[0:128, 0:128].astype(float)
    image = np.hypot(xx - 100.0, yy - 100.0 + 0.5) ** -2.5 * 1e3
    corner = np.zeros(image.shape, bool)
    corner[0:32, 0:32] = True
    out = fz.fuzzy_fill(np.where(corner, 0.0, image), corner)
    assert np.isnan(out[corner]).all()
    inner = np.zeros(image.shape, bool)
    inner[32:64, 32:64] = True
    out = fz.fuzzy_fill(np.where(inner, 0.0, image), inner)
    assert np.isfinite(out[inner]).all()
    assert np.median(np.abs(out[inner] - image[inner]) / image[inner]) < 0.1
