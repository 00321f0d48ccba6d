"""Normalisation, classical fallback, metrics and the public fill() on plain arrays."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lascoproc.inpaint import fallback as fallback_module
from lascoproc.inpaint import fill, fill_frames, metrics
from lascoproc.inpaint.fallback import interpolate_holes
from lascoproc.inpaint.normalise import AsinhNormaliser


def corona(shape=(256, 256), *, scale=1.0, seed=0, noise=0.01) -> np.ndarray:
    """A corona-like image: power-law fall-off, a streamer, noise; ``scale`` sets the units."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    r = np.hypot(x - shape[1] / 2, y - shape[0] / 2) + 8.0
    theta = np.arctan2(y - shape[0] / 2, x - shape[1] / 2)
    image = r ** -2.5 * (1.0 + 0.8 * np.cos(theta) ** 8)
    image = image / image.max() * (1.0 + noise * rng.standard_normal(shape))
    return image * scale


def blocks(shape, corners, size=32) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for r, c in corners:
        mask[r:r + size, c:c + size] = True
    return mask


# --- normalisation -----------------------------------------------------------------------

def test_asinh_normaliser_is_invertible_and_scale_free():
    image = corona(scale=3.0e-10)
    image[0, :10] = -1.0e-12  # negative pixels exist at level 1 near the occulter
    norm = AsinhNormaliser.fit(image)
    y = norm.forward(image)
    np.testing.assert_allclose(norm.inverse(y), image, rtol=1e-12, atol=0)
    scaled = AsinhNormaliser.fit(image * 1.0e12)
    np.testing.assert_allclose(scaled.forward(image * 1.0e12), y, rtol=1e-12, atol=1e-15)
    assert np.nanmax(np.abs(y)) < 1.5
    # s = 99.5th percentile of |x|; beta = 1e-3 s; |x| = s maps to 1
    s = np.percentile(np.abs(image), 99.5)
    assert norm.beta == pytest.approx(1e-3 * s, rel=1e-12)
    assert norm.forward(np.array([s]))[0] == pytest.approx(1.0, rel=1e-12)


def test_normaliser_of_an_empty_or_zero_image():
    assert AsinhNormaliser.fit(np.zeros((4, 4))).beta == 1.0
    assert AsinhNormaliser.fit(np.full((4, 4), np.nan)).beta == 1.0


# --- classical fallback ------------------------------------------------------------------

def test_biharmonic_reproduces_quadratics_and_harmonic_reproduces_linear():
    y, x = np.mgrid[0:96, 0:128].astype(np.float64)
    holes = blocks((96, 128), [(32, 48)])
    quad = 0.01 * (x - 60) ** 2 + 0.02 * (y - 40) ** 2 + 0.003 * x * y
    filled = interpolate_holes(np.where(holes, np.nan, quad), holes, kind="biharmonic")
    np.testing.assert_allclose(filled[holes], quad[holes], rtol=0, atol=1e-7)
    linear = 0.3 * x - 0.2 * y + 4.0
    filled = interpolate_holes(np.where(holes, np.nan, linear), holes, kind="harmonic")
    np.testing.assert_allclose(filled[holes], linear[holes], rtol=0, atol=1e-9)


def test_fallback_handles_edges_adjacent_blocks_and_nan_outside_the_field():
    image = corona()
    truth = image.copy()
    outside = np.hypot(*np.mgrid[-128:128, -128:128]) < 30  # the occulter: NaN, not data
    image[outside] = np.nan
    holes = blocks(image.shape, [(0, 0), (0, 32), (224, 224), (96, 96), (96, 128), (128, 96)])
    holes &= ~outside
    image[holes] = 0.0  # what a lost block holds
    out = interpolate_holes(np.where(holes, np.nan, image), holes)
    assert np.isfinite(out[holes]).all()
    assert np.isnan(out[outside]).all()
    np.testing.assert_array_equal(out[~holes & ~outside], image[~holes & ~outside])
    rel = np.abs(out[holes] - truth[holes]) / truth[holes]
    assert np.median(rel) < 0.2


def test_fallback_hole_with_no_observed_neighbour_gets_the_median():
    image = np.full((64, 64), 5.0)
    image[10:30, 10:30] = np.nan  # outside the field...
    holes = np.zeros((64, 64), bool)
    holes[15:25, 15:25] = True  # ...encloses this hole
    image[0, 0] = 7.0
    out = interpolate_holes(image, holes)
    assert np.all(out[holes] == 5.0)


def test_hole_clusters_by_hand():
    """Boxes widened by 3 px: rows 10-14 / 16-20 overlap (gap 1 < 6) and chain on to the box at
    rows 22-26; the box at rows 40-44 is 14 px away and stays alone; clipping at the frame."""
    boxes = [np.s_[10:15, 0:5], np.s_[16:21, 0:5], np.s_[22:27, 2:7], np.s_[40:45, 60:64]]
    groups = fallback_module._clusters(boxes, 3, (50, 64))
    assert groups == [(np.s_[7:30, 0:10], [1, 2, 3]), (np.s_[37:48, 57:64], [4])]
    alone = fallback_module._clusters(boxes, 3, (50, 64), merge=False)
    assert [members for _, members in alone] == [[1], [2], [3], [4]]


def test_orphans_by_hand():
    """Holes 4-connected to an observed pixel are fed; a hole region surrounded by pixels that
    are neither (NaN outside the field) is an orphan, even if an observed pixel touches it
    diagonally only."""
    holes = np.zeros((6, 6), bool)
    holes[1:3, 1:3] = True  # fed from (0, 1)
    holes[4, 4] = True  # diagonal neighbour (5, 5) observed, 4-neighbours not
    known = np.zeros((6, 6), bool)
    known[0, 1] = True
    known[5, 5] = True
    expected = np.zeros((6, 6), bool)
    expected[4, 4] = True
    np.testing.assert_array_equal(fallback_module._orphans(holes, known), expected)


def test_fallback_solved_per_cluster_equals_one_system(monkeypatch):
    """Many small holes: grouping regions by boxes, by one dilation of the frame (the path
    for frames with many regions), and the holes filled one by one where they are far apart
    agree to 1e-12 (one sparse system or several: the same equations)."""
    rng = np.random.default_rng(0)
    image = corona()
    holes = rng.random(image.shape) < 0.01
    holes[100:116, 100:116] = True
    by_boxes = interpolate_holes(np.where(holes, np.nan, image), holes)
    monkeypatch.setattr(fallback_module, "_MANY_REGIONS", 0)
    by_dilation = interpolate_holes(np.where(holes, np.nan, image), holes)
    np.testing.assert_allclose(by_dilation, by_boxes, rtol=0, atol=1e-12)
    alone = np.zeros(image.shape, bool)
    alone[100:116, 100:116] = True
    far = np.zeros(image.shape, bool)
    far[200:210, 20:30] = True
    both = interpolate_holes(np.where(alone | far, np.nan, image), alone | far)
    one = interpolate_holes(np.where(alone, np.nan, image), alone)
    np.testing.assert_allclose(both[alone], one[alone], rtol=0, atol=1e-12)


def test_repeated_block_geometry_is_factorised_once_with_the_same_fill(monkeypatch):
    """Three whole 16 x 16 blocks in the field share one geometry: one factorisation, reused
    (the cache); the fill is bit for bit that of a fresh factorisation per block, and the
    cache stays within its size."""
    image = corona()
    holes = np.zeros(image.shape, bool)
    for y, x in ((32, 32), (32, 160), (160, 96)):
        holes[y:y + 16, x:x + 16] = True
    built = []
    real = fallback_module._build_system

    def counted(*args):
        built.append(1)
        return real(*args)

    monkeypatch.setattr(fallback_module, "_SYSTEMS", type(fallback_module._SYSTEMS)())
    monkeypatch.setattr(fallback_module, "_build_system", counted)
    cached = interpolate_holes(np.where(holes, np.nan, image), holes)
    assert len(built) == 1
    fresh = image.copy()
    for y, x in ((32, 32), (32, 160), (160, 96)):
        fallback_module._SYSTEMS.clear()
        one = np.zeros(image.shape, bool)
        one[y:y + 16, x:x + 16] = True
        fresh[one] = interpolate_holes(np.where(one, np.nan, image), one)[one]
    np.testing.assert_array_equal(cached, fresh)
    monkeypatch.setattr(fallback_module, "SYSTEM_CACHE_SIZE", 2)
    for size in (4, 5, 6):
        other = np.zeros(image.shape, bool)
        other[40:40 + size, 40:40 + size] = True
        interpolate_holes(np.where(other, np.nan, image), other)
    assert len(fallback_module._SYSTEMS) == 2


# --- metrics -----------------------------------------------------------------------------

def test_metrics_on_written_out_numbers():
    truth = np.array([[0.0, 1.0], [2.0, 4.0]])
    filled = np.array([[0.0, 1.5], [2.0, 3.0]])
    region = np.array([[False, True], [True, True]])
    # errors 0.5, 0, 1 over 3 pixels: L1 = 0.5, MSE = 1.25/3, range 4: PSNR = 10 log10(16*3/1.25)
    assert metrics.l1(filled, truth, region) == pytest.approx(0.5)
    assert metrics.psnr(filled, truth, region) == pytest.approx(15.843312243675996)
    assert metrics.ssim(truth, truth, region) == pytest.approx(1.0)
    assert metrics.psnr(truth, truth, region) == float("inf")
    image = corona((64, 64))
    assert metrics.ssim(image + 0.05, image, np.ones((64, 64), bool)) < 1.0


# --- fill(): any scale, observed pixels untouched ----------------------------------------

CENTER = (128.0, 128.0)  # the Sun centre of corona()


@pytest.mark.parametrize("method", ["network", "radial", "fuzzy", "biharmonic", "fallback"])
@pytest.mark.parametrize("scale", [3.0e-10, 1.0, 2.0e3])
def test_fill_restores_the_scale_and_leaves_observed_pixels_bit_identical(method, scale):
    truth = corona(scale=scale).astype(np.float32)
    missing = blocks(truth.shape, [(32, 160), (160, 32), (0, 224)])
    image = truth.copy()
    image[missing] = 0.0
    image[:3, :3] = np.nan  # an unobserved pixel that is not missing stays NaN
    out = fill(image, missing, method=method, center=CENTER)
    assert out.dtype == image.dtype and out.shape == image.shape
    keep = ~missing
    np.testing.assert_array_equal(out[keep].view(np.uint32), image[keep].view(np.uint32))
    assert np.isfinite(out[missing]).all()
    rel = np.abs(out[missing] - truth[missing]) / np.abs(truth[missing])
    assert np.median(rel) < 0.5, f"fill is not on the image's scale ({np.median(rel)})"
    # the same image in other units is filled the same, to float32 rounding
    other = fill(image * np.float32(7.0), missing, method=method, center=CENTER)
    np.testing.assert_allclose(other[missing], 7.0 * out[missing], rtol=2e-3)


def test_radial_beats_biharmonic_on_radial_structure():
    """Streamers and rays are radial: a fill along the ray from the Sun centre follows them."""
    truth = corona(noise=0.0)
    yy, xx = np.mgrid[0:256, 0:256]
    theta = np.arctan2(yy - 128.0, xx - 128.0)
    truth = truth * (1.0 + 0.5 * np.cos(40 * theta))  # 40 rays
    missing = blocks(truth.shape, [(32, 160), (160, 32), (64, 48)])
    image = np.where(missing, np.nan, truth)
    err = {m: np.abs(fill(image, missing, method=m, center=CENTER)[missing]
                     - truth[missing]).mean() for m in ("radial", "biharmonic")}
    assert err["radial"] < 0.5 * err["biharmonic"], err


def test_fill_of_a_byte_scaled_browse_image():
    truth = np.clip(corona() * 255 * 4, 0, 255).astype(np.uint8)
    missing = blocks(truth.shape, [(64, 64), (128, 160)])
    image = truth.copy()
    image[missing] = 0
    for method in ("network", "radial", "fuzzy", "biharmonic"):
        out = fill(image, missing, method=method, center=CENTER)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out[~missing], image[~missing])
        assert np.abs(out[missing].astype(int) - truth[missing]).mean() < 20


@pytest.mark.parametrize("method", ["radial", "biharmonic", "network"])
def test_fill_frames_matches_fill_per_frame(method):
    frames = np.stack([corona(seed=s).astype(np.float32) for s in range(3)])
    missing = np.stack([blocks(frames.shape[1:], [(32 * s, 64)]) for s in range(3)])
    missing[1] = False  # a frame with nothing to fill comes back as it was
    together = fill_frames(frames, missing, method=method, centers=CENTER)
    for i in range(3):
        alone = fill(frames[i], missing[i], method=method, center=CENTER)
        np.testing.assert_allclose(together[i], alone, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(together[1], frames[1])


def test_a_frame_without_a_centre_gets_the_biharmonic_fill():
    frames = np.stack([corona(seed=s).astype(np.float32) for s in range(2)])
    missing = np.stack([blocks(frames.shape[1:], [(64, 64)])] * 2)
    got = fill_frames(frames, missing, method="radial", centers=[CENTER, (np.nan, np.nan)])
    expected = fill(frames[1], missing[1], method="biharmonic")
    np.testing.assert_array_equal(got[1], expected)


def test_fill_rejects_bad_arguments():
    image = np.zeros((8, 8), np.float32)
    with pytest.raises(TypeError, match="boolean"):
        fill(image, np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        fill(image, np.zeros((8, 9), bool))
    with pytest.raises(ValueError, match="method"):
        fill(image, np.zeros((8, 8), bool), method="magic")
    holes = np.ones((8, 8), bool)  # no default method since 2026-12-02 (it was "network")
    with pytest.raises(TypeError, match="give method=, one of .*'biharmonic' suits"):
        fill(image, holes)
    with pytest.raises(TypeError, match="give method=, one of .*'biharmonic' suits"):
        fill_frames(image[None], holes[None])
    for method in ("network", "radial"):
        with pytest.raises(ValueError, match="Sun centre"):
            fill(image, np.zeros((8, 8), bool), method=method)
    with pytest.raises(ValueError, match="sequence"):
        fill(image, np.zeros((8, 8), bool), method="temporal", center=(4, 4))
    with pytest.raises(ValueError, match="centers"):
        fill_frames(image[None], np.zeros((1, 8, 8), bool), method="radial",
                    centers=[(1, 2), (3, 4)])


def test_every_method_is_listed():
    from lascoproc.inpaint.fill import ALIASES, METHODS, SPATIAL_METHODS

    assert METHODS == ("network", "radial", "fuzzy", "biharmonic", "temporal", "auto")
    assert set(SPATIAL_METHODS) == set(METHODS) - {"temporal"}
    assert ALIASES == {"fallback": "biharmonic"}


def test_a_frame_without_observed_pixels_is_returned_unchanged():
    image = np.full((64, 64), np.nan, np.float32)
    missing = blocks(image.shape, [(0, 0)])
    for method in ("biharmonic", "radial", "fuzzy", "network"):
        out = fill(image, missing, method=method, center=(32, 32))
        assert np.isnan(out).all()


def test_classical_methods_need_no_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np, lascoproc.inpaint as ip\n"
            "a = np.arange(96 * 96, dtype=np.float32).reshape(96, 96) + 1\n"
            "m = np.zeros(a.shape, bool); m[32:64, 32:64] = True\n"
            "for method in ('biharmonic', 'fallback', 'radial', 'fuzzy'):\n"
            "    out = ip.fill(a, m, method=method, center=(48, -20))\n"
            "    assert np.isfinite(out).all()\n"
            "try:\n    ip.fill(a, m, method='network', center=(48, -20))\n"
            "except ImportError as e:\n"
            "    assert 'classical' in str(e) and \"lascoproc[ml]\" in str(e), e\n"
            "else:\n    raise SystemExit('no ImportError')\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_hole_pixel_at_the_sun_centre_is_filled_from_its_neighbours():
    """No ray reaches the pixel at the Sun centre; the last fallback saw the other hole pixels
    as NaN, took it for cut off and gave it the frame's median (3.6212583 here). Hand case in
    normalised units: u = 3 + cos(theta) about the centre (5, 5), a 3 x 3 hole around it. Rays
    are constant, so the one-sided radial fill of the 8 neighbours is exact, and u - 3 is odd
    under x -> 10 - x, so the biharmonic fill of the centre from them is 3."""
    from lascoproc.inpaint.fill import spatial_fill

    yy, xx = np.mgrid[0:21, 0:21].astype(float)
    u = 3.0 + np.cos(np.arctan2(yy - 5.0, xx - 5.0))
    holes = np.zeros(u.shape, bool)
    holes[4:7, 4:7] = True
    y = np.where(holes, np.nan, u)
    assert np.median(y[~holes]) == pytest.approx(3.6212583, abs=1e-7)  # what it used to get
    out = spatial_fill(y, holes, "radial", (5.0, 5.0))
    assert out[5, 5] == pytest.approx(3.0, abs=1e-12)
    assert out[5, 6] == pytest.approx(4.0, abs=1e-12)
    assert out[4, 4] == pytest.approx(3.0 - np.sqrt(0.5), abs=1e-12)
    np.testing.assert_array_equal(out[~holes], y[~holes])


@pytest.mark.parametrize("method", ["radial", "network"])
def test_the_sun_centre_pixel_lies_among_its_filled_neighbours(method):
    """The review's case: a smooth corona, centre (64, 64) on a pixel, hole 60:68 x 60:68. The
    centre pixel got 0.046 (radial, the frame's median) and 0.20 (network, the window's), its 8
    neighbours 4-10."""
    yy, xx = np.mgrid[0:128, 0:128]
    r = np.hypot(xx - 64.0, yy - 64.0) + 3
    image = 1e3 * r ** -2.5 * (1 + 0.3 * np.cos(8 * np.arctan2(yy - 64.0, xx - 64.0)))
    missing = np.zeros(image.shape, bool)
    missing[60:68, 60:68] = True
    out = fill(image, missing, method=method, center=(64.0, 64.0))
    ring = np.delete(out[63:66, 63:66].ravel(), 4)
    assert ring.min() > 3.0
    assert ring.min() <= out[64, 64] <= ring.max() * (1 + 1e-12)
    np.testing.assert_array_equal(out[~missing], image[~missing])
