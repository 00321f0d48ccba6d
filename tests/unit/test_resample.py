"""The fused level-1 resampling kernel against hand values and the vectorised reference maps."""

import numpy as np
import pytest
from scipy import ndimage

from lascoproc.kernels import lasco_geometry as lg
from lascoproc.kernels.resample import (
    bilinear_sample,
    level1_resample,
    resample_codes,
    resample_level1,
)


def _reference(image, **geometry):
    """``map_coordinates(image, level1_map(...), order=1)``: the geometry as a stored map."""
    coords = lg.level1_map(image.shape, **geometry)
    out = ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0,
                                  prefilter=False)
    return out, coords[0] == lg.OUTSIDE


def _corona(shape, seed=0):
    """A smooth radial corona with fine structure and stars: gradients of every scale."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    r = np.hypot(y - 0.49 * ny, x - 0.51 * nx) + 5.0
    image = 1e-9 * (r / 50.0) ** -2.5 * (1.0 + 0.2 * np.sin(8 * np.arctan2(y, x)))
    image *= 1.0 + 0.05 * rng.standard_normal(shape)
    image[rng.integers(0, ny, 40), rng.integers(0, nx, 40)] *= 30.0
    return image.astype(np.float32)


def test_bilinear_sample_by_hand():
    image = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]], np.float32)
    coords = np.array([[0.5, 0.25, 1.0, -1.0], [0.5, 1.75, 2.0, 0.0]])
    # (0.5, 0.5): mean of 0, 1, 10, 11 = 5.5; (0.25, 1.75): 0.75*(0.25*1 + 0.75*2)
    # + 0.25*(0.25*11 + 0.75*12) = 1.3125 + 2.9375 = 4.25; (1, 2): the corner, 12;
    # off the frame: 0
    np.testing.assert_allclose(bilinear_sample(image, coords), [5.5, 4.25, 12.0, 0.0],
                               rtol=1e-6)


def test_nan_spreads_only_to_pixels_that_use_it():
    image = np.ones((8, 8), np.float32)
    image[3, 4] = np.nan
    identity = np.stack(np.mgrid[0:8, 0:8]).astype(np.float64)
    shifted = identity + np.array([0.0, 0.5])[:, None, None]  # half a pixel in x
    out = bilinear_sample(image, shifted)
    assert np.isnan(out).sum() == 2
    assert np.isnan(out[3, 3]) and np.isnan(out[3, 4])
    same = bilinear_sample(image, identity)  # exact grid points: zero weights left out
    assert np.isnan(same).sum() == 1 and same[3, 3] == 1.0 and same[3, 5] == 1.0


def test_quarter_turn_about_the_centre_is_an_exact_permutation():
    image = np.arange(25, dtype=np.float32).reshape(5, 5)
    out, outside, _ = level1_resample(image, detector="C2", occulter_xy=(2.0, 2.0),
                                      rotate_ccw_deg=90.0, pivot_xy=(2.0, 2.0),
                                      distortion=False)
    # counter-clockwise turn of the image (y up): output (x, y) samples (y, 4 - x) ... the
    # inverse of ROT(img, -90): out[y, x] = img[4 - x, y]
    expected = np.array([[image[4 - x, y] for x in range(5)] for y in range(5)])
    np.testing.assert_allclose(out, expected, atol=2e-6)
    assert not outside.any()


@pytest.mark.parametrize("detector", ["C2", "C3"])
@pytest.mark.parametrize("geometry", [
    {},  # distortion only
    {"rotate_ccw_deg": -7.42, "pivot_xy": (517.3, 509.8)},  # the 2023 C3 roll
    {"rotate_ccw_deg": 3.1, "pivot_xy": (500.0, 520.0), "keyhole": True},
    {"keyhole": True},
    {"rotate_ccw_deg": 178.6, "pivot_xy": (511.5, 511.5), "distortion": False},
])
def test_equals_the_reference_map_within_float32_rounding(detector, geometry):
    image = _corona((1024, 1024))
    args = {"detector": detector, "occulter_xy": (512.6, 505.3), **geometry}
    expected, off = _reference(image, **args)
    got, outside, mask_low = level1_resample(image, **args)
    assert mask_low is None
    np.testing.assert_array_equal(outside, off)
    # the same float32 positions and weights; sums in another order: float32 rounding
    np.testing.assert_allclose(got, expected, rtol=3e-7, atol=1e-7 * np.abs(expected).max())


@pytest.mark.parametrize("binning,shape,occulter", [
    ((2, 2), (512, 512), (256.3, 252.6)),
    ((4, 4), (256, 256), (129.1, 132.4)),
    ((2, 1), (1024, 512), (256.3, 505.3)),  # unequal summing: the general radius formula
])
def test_binned_frames_equal_the_reference(binning, shape, occulter):
    image = _corona(shape, seed=1)
    args = {"detector": "C3", "occulter_xy": occulter, "binning": binning,
            "rotate_ccw_deg": 2.5, "pivot_xy": (shape[1] / 2 + 0.3, shape[0] / 2 - 1.1)}
    expected, off = _reference(image, **args)
    got, outside, _ = level1_resample(image, **args)
    np.testing.assert_array_equal(outside, off)
    np.testing.assert_allclose(got, expected, rtol=3e-7, atol=1e-7 * np.abs(expected).max())


def test_drifting_roll_changes_the_result_smoothly():
    image = _corona((1024, 1024), seed=2)
    a, _, _ = level1_resample(image, detector="C3", occulter_xy=(512.6, 505.3),
                              rotate_ccw_deg=-7.420, pivot_xy=(517.3, 509.8))
    b, _, _ = level1_resample(image, detector="C3", occulter_xy=(512.6, 505.3),
                              rotate_ccw_deg=-7.423, pivot_xy=(517.3, 509.8))
    assert not np.array_equal(a, b)  # nothing cached per geometry
    expected, _ = _reference(image, detector="C3", occulter_xy=(512.6, 505.3),
                             rotate_ccw_deg=-7.423, pivot_xy=(517.3, 509.8))
    np.testing.assert_allclose(b, expected, rtol=3e-7, atol=1e-7 * np.abs(expected).max())


def test_mask_is_flipped_and_rotated_not_warped():
    rng = np.random.default_rng(3)
    mask = np.ones((256, 256), np.float32)
    y, x = np.mgrid[0:256, 0:256]
    mask[np.hypot(y - 128, x - 130) < 40] = 0  # occulter
    mask[120:136, 130:256] = 0  # pylon
    image = rng.random((256, 256)).astype(np.float32)
    rot = {"rotate_ccw_deg": 11.0, "pivot_xy": (127.5, 129.0), "keyhole": True}
    _, outside, mask_low = level1_resample(image, detector="C3", occulter_xy=(130.0, 128.0),
                                           binning=(4, 4), mask=mask, **rot)
    m = lg.north_up_map((256, 256), **rot)
    expected = ndimage.map_coordinates(mask, m, order=1, mode="constant", cval=0.0,
                                       prefilter=False) < 0.5
    np.testing.assert_array_equal(mask_low, expected)
    assert mask_low[outside].all()


def test_nan_blocks_flag_their_ring_only():
    image = np.ones((128, 128), np.float32)
    image[32:64, 64:96] = np.nan  # one lost block
    got, _, _ = level1_resample(image, detector="C2", occulter_xy=(64.0, 64.0),
                                distortion=False)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(image))  # identity: exact
    got, _, _ = level1_resample(image, detector="C2", occulter_xy=(64.0, 64.0),
                                rotate_ccw_deg=1.5, pivot_xy=(64.0, 64.0), distortion=False)
    bad = np.isnan(got)
    assert 32 * 32 <= bad.sum() <= 36 * 36  # the block, turned, and a ring of one pixel


# --------------------------------------------------------------------------------------------
# Bit-identity: the kernel's arithmetic written out in numpy, operation for operation
# --------------------------------------------------------------------------------------------

def _transcribed(image, mask, *, detector, occulter_xy, binning, rotate_ccw_deg, pivot_xy,
                 keyhole):
    """What the kernel must give, bit for bit, transcribed from its definition (module
    docstring of :mod:`lascoproc.kernels.resample`) in plain numpy: float64 roll correction
    (``north_up_coordinates``: ``xr = px + u cos + v sin``, ``yr = py - u sin + v cos``, off
    the frame beyond 1e-6, clamped), keyhole flip, the distortion about the occulter centre
    (``factor = k0 + k1 mm2 + k2 mm2^2``, ``mm2`` the squared radius in mm at full
    resolution; unequal summing scales by ``r / (xsum rho)``), clamped and rounded to float32;
    the float32 bilinear sum ``gy (gx a + fx b) + fy (gx c + fx d)``, and where it is NaN the
    sum of the terms with a non-zero weight; 0 off the frame. Codes: OFF_FRAME | MASK_LOW off
    the frame; MASK_LOW where the mask's cell at the float32 rotated position is all < 0.5, or
    mixed and the mask's bilinear value there is < 0.5."""
    ny, nx = image.shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    a = np.deg2rad(float(rotate_ccw_deg))
    cos_a, sin_a = float(np.cos(a)), float(np.sin(a))
    px, py = pivot_xy
    u, v = x - px, y - py
    xr = px + u * cos_a + v * sin_a
    yr = py - u * sin_a + v * cos_a
    xmax, ymax = float(nx - 1), float(ny - 1)
    off = (xr < -1e-6) | (xr > xmax + 1e-6) | (yr < -1e-6) | (yr > ymax + 1e-6)
    xr, yr = np.clip(xr, 0.0, xmax), np.clip(yr, 0.0, ymax)
    if keyhole:
        xr, yr = xmax - xr, ymax - yr
    c0, c1, c2 = lg.DISTORTION_COEFFS[detector]
    xsum, ysum = float(binning[0]), float(binning[1])
    ox, oy = occulter_xy
    dx, dy = xr - ox, yr - oy
    bx, by = xsum * dx, ysum * dy
    r2 = bx * bx + by * by
    mm2 = r2 * (0.021 * 0.021)
    factor = (1.0 + c0) + c1 * mm2 + c2 * mm2 * mm2
    if xsum != ysum:
        rho = np.sqrt(dx * dx + dy * dy)
        scale = np.divide(np.sqrt(r2), xsum * rho, out=np.ones_like(rho), where=rho > 0)
        factor = np.where(rho > 0, factor * scale, 1.0)
    xs = np.clip(ox + factor * dx, 0.0, xmax).astype(np.float32)
    ys = np.clip(oy + factor * dy, 0.0, ymax).astype(np.float32)

    def bilinear(img, ys, xs):
        iy = np.minimum(ys.astype(np.int64), ny - 2)
        ix = np.minimum(xs.astype(np.int64), nx - 2)
        fy, fx = ys - iy.astype(np.float32), xs - ix.astype(np.float32)
        gy, gx = np.float32(1.0) - fy, np.float32(1.0) - fx
        nb = img[iy, ix], img[iy, ix + 1], img[iy + 1, ix], img[iy + 1, ix + 1]
        total = gy * (gx * nb[0] + fx * nb[1]) + fy * (gx * nb[2] + fx * nb[3])
        partial = np.zeros_like(total)
        for w, value in zip((gy * gx, gy * fx, fy * gx, fy * fx), nb, strict=True):
            partial = np.where(w > 0, partial + w * value, partial)
        return np.where(np.isnan(total), partial, total)

    out = np.where(off, np.float32(0.0), bilinear(image, ys, xs))
    m = mask >= 0.5
    padded = np.pad(m, ((0, 1), (0, 1)), mode="edge")
    corners = np.stack([padded[:-1, :-1], padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:]])
    my, mx = yr.astype(np.float32), xr.astype(np.float32)
    iy = np.minimum(my.astype(np.int64), ny - 1)
    ix = np.minimum(mx.astype(np.int64), nx - 1)
    low = ~corners.any(axis=0)[iy, ix]
    mixed = ~low & ~corners.all(axis=0)[iy, ix]
    low |= mixed & (bilinear(mask, my, mx) < 0.5)
    codes = np.where(off, 3, np.where(low, 2, 0)).astype(np.uint8)
    return out.astype(np.float32), codes


def _c3_like(shape, binning, seed):
    """A corona with stars and three lost blocks (NaN), and a C3-like mask (occulter disc,
    pylon, field stop) averaged over the summing, so that its edges are fractional."""
    image = _corona(shape, seed=seed)
    rng = np.random.default_rng(seed)
    ny, nx = shape
    for _ in range(3):
        i, j = rng.integers(0, ny - 16), rng.integers(0, nx - 16)
        image[i:i + 16, j:j + 16] = np.nan
    xsum, ysum = binning
    y, x = np.mgrid[0:ny * ysum, 0:nx * xsum].astype(np.float64)
    cy, cx = 0.495 * ny * ysum, 0.505 * nx * xsum
    r = np.hypot(x - cx, y - cy)
    full = ((r > 0.09 * nx * xsum) & (r < 0.49 * nx * xsum)).astype(np.float32)
    along, across = (x - cx + y - cy) / -np.sqrt(2), (x - cx - (y - cy)) / np.sqrt(2)
    full[(along > 0) & (np.abs(across) < 0.012 * nx * xsum)] = 0.0
    mask = full.reshape(ny, ysum, nx, xsum).mean(axis=(1, 3)).astype(np.float32)
    return image, mask


@pytest.mark.parametrize("binning,shape,keyhole", [
    ((1, 1), (256, 256), False),
    ((2, 2), (256, 256), True),
    ((2, 1), (256, 128), False),  # unequal summing: the general radius formula
])
def test_rotated_masked_nan_frame_is_bit_identical_to_the_transcription(binning, shape,
                                                                         keyhole):
    image, mask = _c3_like(shape, binning, seed=5)
    args = {"detector": "C3", "occulter_xy": (shape[1] * 0.503, shape[0] * 0.494),
            "binning": binning, "rotate_ccw_deg": -7.42,
            "pivot_xy": (shape[1] * 0.505 + 0.3, shape[0] * 0.498 - 0.7), "keyhole": keyhole}
    expected, expected_codes = _transcribed(image, mask, **args)
    got, codes = resample_codes(image, mask=mask, **args)
    assert np.isnan(got).sum() > 0 and (codes == 2).sum() > 0 and (codes == 3).sum() > 0
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(codes, expected_codes)
    # without the mask: the same values, codes OFF_FRAME only
    got, codes = resample_codes(image, **args)
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(codes, expected_codes & 1)


@pytest.mark.parametrize("bad", [{"rotate_ccw_deg": np.nan}, {"pivot_xy": (np.inf, 1.0)},
                                 {"occulter_xy": (np.nan, 3.0)}])
def test_non_finite_geometry_is_a_clear_error(bad):
    args = {"detector": "C3", "occulter_xy": (8.0, 8.0), "rotate_ccw_deg": 2.0,
            "pivot_xy": (8.0, 8.0), **bad}
    with pytest.raises(ValueError, match="non-finite"):
        resample_codes(np.ones((16, 16), np.float32), **args)


def test_level1_pass_by_hand():
    # 4 x 4 frame, no distortion, no rotation: the grid itself, so every value is its own
    # pixel; (1, 2) lost (NaN), the mask low on row 3 and mixed at (2, 0)..(2, 1)
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    image[1, 2] = np.nan
    mask = np.ones((4, 4), np.float32)
    mask[3] = 0.0
    mask[2, 0] = 0.4  # below 0.5 at its own grid point: outside
    brightness, quality = resample_level1(image, detector="C3", occulter_xy=(2.0, 2.0),
                                          distortion=False, mask=mask)
    nan = np.nan
    np.testing.assert_array_equal(brightness, [[0, 1, 2, 3], [4, 5, nan, 7], [nan, 9, 10, 11],
                                               [nan, nan, nan, nan]])
    np.testing.assert_array_equal(quality, [[0, 0, 0, 0], [0, 0, 1, 0], [2, 0, 0, 0],
                                            [2, 2, 2, 2]])


@pytest.mark.parametrize("binning,shape,keyhole,masked", [
    ((1, 1), (256, 256), False, True),
    ((2, 2), (256, 256), True, True),
    ((2, 1), (256, 128), False, True),
    ((1, 1), (256, 256), False, False),
    ((1, 1), (1, 64), False, True),  # one row: the scalar rows, flags made afterwards
])
def test_level1_pass_equals_codes_then_flags(binning, shape, keyhole, masked):
    """``resample_level1`` is ``resample_codes`` with every coded pixel NaN and OUTSIDE (2),
    every other NaN MISSING (1): the level-1 chain's rule, written here with numpy."""
    if shape[0] > 1:
        image, mask = _c3_like(shape, binning, seed=7)
    else:
        image = np.linspace(1.0, 2.0, shape[1], dtype=np.float32)[None]
        image[0, 10] = np.nan
        mask = np.ones(shape, np.float32)
        mask[0, 40:] = 0.0
    mask = mask if masked else None
    args = {"detector": "C3", "occulter_xy": (shape[1] * 0.503, shape[0] * 0.494),
            "binning": binning, "rotate_ccw_deg": -7.42,
            "pivot_xy": (shape[1] * 0.505 + 0.3, shape[0] * 0.498 - 0.7), "keyhole": keyhole,
            "mask": mask}
    if shape[0] == 1:  # a rotated single row is off the frame
        args.update(rotate_ccw_deg=0.0, distortion=False)
    values, codes = resample_codes(image, **args)
    expected = np.where(codes != 0, np.float32(np.nan), values)
    expected_quality = np.where(codes != 0, 2, np.where(np.isnan(values), 1, 0))
    out = np.full(shape, -1.0, np.float32)
    quality = np.full(shape, 255, np.uint8)
    got, got_quality = resample_level1(image, out=out, quality=quality, **args)
    assert got is out and got_quality is quality
    assert (got_quality == 1).sum() > 0 and (got_quality == 2).sum() > 0
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(got_quality, expected_quality)


def test_level1_pass_refuses_a_wrong_output_array():
    with pytest.raises(ValueError, match="quality must be"):
        resample_level1(np.ones((8, 8), np.float32), detector="C3", occulter_xy=(4.0, 4.0),
                        quality=np.zeros((8, 8), np.int16))


def test_field_disk_by_hand():
    # cells not low: rows 2-3, columns 1-4 (row 2) and 2-3 (row 3); the box [2, 4] x [1, 5],
    # centre (3, 3); farthest corners: row 2's (2, 1) and (2, 5), row 3's (4, 2) and (4, 4):
    # sqrt(1 + 4) = 2.236...
    from lascoproc.kernels.resample import _field_disk

    cells = np.ones((6, 7), np.uint8)
    cells[2, 1:5] = 0
    cells[3, 2:4] = 2
    cy, cx, r = _field_disk(cells)
    assert (cy, cx) == (3.0, 3.0)
    assert r == pytest.approx(2.2360679775, abs=1e-9)
    assert _field_disk(np.ones((4, 4), np.uint8))[2] < 0  # all low: no field
    # rows of 16 (scanned eight cells at a time): not low at row 1, columns 9-10 and row 2,
    # column 3; the box [1, 3] x [3, 11], centre (2, 7); farthest corners (1, 3), (3, 3):
    # sqrt(1 + 16) = 4.1231...
    wide = np.ones((4, 16), np.uint8)
    wide[1, 9:11] = 0
    wide[2, 3] = 2
    cy, cx, r = _field_disk(wide)
    assert (cy, cx) == (2.0, 7.0)
    assert r == pytest.approx(4.1231056256, abs=1e-9)
    assert _field_disk(np.ones((4, 16), np.uint8))[2] < 0


def test_row_span_by_hand():
    # an unrotated row 3 of a 10-pixel frame: positions (3, j); the disk centre (3, 5), radius
    # 2 holds j = 3..7; widened by one pixel on each side: [2, 9)
    from lascoproc.kernels.resample import _row_span

    x_part = np.arange(10, dtype=np.float64)
    y_part = np.zeros(10)
    assert _row_span(x_part, y_part, 0.0, 3.0, 3.0, 5.0, 2.0) == (2, 9)
    assert _row_span(x_part, y_part, 0.0, 6.0, 3.0, 5.0, 2.0) == (0, 0)  # the row misses it
    assert _row_span(x_part, y_part, 0.0, 3.0, 3.0, 5.0, -1.0) == (0, 0)  # no field


def _masks(shape, rng):
    """Masks of every kind the span must not cut: a C3-like field, one off centre and
    touching the frame's edge, a thin ring, a scatter of single pixels, all high, all low."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    out = [_c3_like(shape, (1, 1), seed=3)[1]]
    out.append(((y - 0.2 * ny) ** 2 + (x - 0.9 * nx) ** 2 < (0.35 * nx) ** 2).astype(np.float32))
    r = np.hypot(y - 0.5 * ny, x - 0.5 * nx)
    out.append(np.clip(1.0 - np.abs(r - 0.3 * nx) / 3.0, 0.0, 1.0).astype(np.float32))
    sparse = np.zeros(shape, np.float32)
    sparse[rng.integers(0, ny, 12), rng.integers(0, nx, 12)] = rng.uniform(0.3, 1.0, 12)
    out.append(sparse)
    out.append(np.ones(shape, np.float32))
    out.append(np.zeros(shape, np.float32))
    return out


@pytest.mark.parametrize("binning,shape,keyhole,rotation", [
    ((1, 1), (256, 256), False, -7.42),
    ((2, 2), (256, 256), True, 171.3),
    ((2, 1), (128, 200), False, 0.0),
    ((1, 1), (97, 131), True, -45.0),
    ((1, 1), (256, 256), False, 90.0),
])
def test_level1_rows_cut_to_the_field_are_bit_identical(binning, shape, keyhole, rotation):
    """The level-1 pass computes each row only near the mask's field (``span``); the pixels
    it leaves out are the ones the full rows make NaN and OUTSIDE, bit for bit."""
    from lascoproc.kernels.resample import _run

    rng = np.random.default_rng(11)
    image = _c3_like(shape, binning, seed=9)[0]
    image[rng.integers(0, shape[0], 30), rng.integers(0, shape[1], 30)] = np.nan
    args = {"detector": "C3", "occulter_xy": (shape[1] * 0.503, shape[0] * 0.494),
            "binning": binning, "rotate_ccw_deg": rotation,
            "pivot_xy": (shape[1] * 0.505 + 0.3, shape[0] * 0.498 - 0.7), "keyhole": keyhole,
            "distortion": True, "cells": None, "out": None, "codes": None, "level1": True}
    for mask in _masks(shape, rng):
        full, full_q = _run(image, mask=mask, span=False, **args)
        cut, cut_q = _run(image, mask=mask, span=True, **args)
        np.testing.assert_array_equal(cut.view(np.uint32), full.view(np.uint32))
        np.testing.assert_array_equal(cut_q, full_q)
