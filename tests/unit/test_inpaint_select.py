"""``method="auto"``: pseudo-holes cut from the frame's own pixels choose the fill."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from lascoproc.inpaint.fill import fill
from lascoproc.inpaint.select import COPIES, GAP, auto_fill, pseudo_holes

EIGHT = np.ones((3, 3), bool)


def test_pseudo_holes_are_rotated_copies_at_the_hole_radius():
    """A 4 x 4 hole whose centre is 20 px right of the Sun centre (31.5, 31.5): step =
    (4 + GAP + 1) / 20 = 0.35 rad, so copies at +-0.35 and +-0.70 rad, 4 x 4 pixels each,
    at the hole's radii (18.0-22.0 px, nearest pixel), GAP pixels apart."""
    known = np.ones((64, 64), bool)
    holes = np.zeros((64, 64), bool)
    holes[30:34, 50:54] = True
    known[holes] = False
    pseudo = pseudo_holes(known, holes, (31.5, 31.5))
    labels, n = ndimage.label(pseudo, EIGHT)
    assert n == COPIES == 4
    assert [int((labels == k).sum()) for k in range(1, n + 1)] == [16, 16, 16, 16]
    ys, xs = np.nonzero(pseudo)
    r = np.hypot(xs - 31.5, ys - 31.5)
    assert r.min() > 17.5 and r.max() < 22.5
    assert not (ndimage.binary_dilation(holes, EIGHT, iterations=GAP) & pseudo).any()
    assert not (pseudo & ~known).any()
    # the copies at +-0.35 rad: centred near (31.5 + 20 cos, 31.5 +- 20 sin) = (50.3, 38.4/24.6)
    centres = sorted(ndimage.center_of_mass(pseudo, labels, range(1, n + 1)))
    assert any(abs(cy - 38.4) < 1.0 and abs(cx - 50.3) < 1.0 for cy, cx in centres)
    assert any(abs(cy - 24.6) < 1.0 and abs(cx - 50.3) < 1.0 for cy, cx in centres)


def test_pseudo_holes_avoid_unobserved_pixels():
    known = np.ones((64, 64), bool)
    holes = np.zeros((64, 64), bool)
    holes[30:34, 50:54] = True
    known[holes] = False
    known[:31, :] = False  # everything above the hole unobserved: copies only below
    pseudo = pseudo_holes(known, holes, (31.5, 31.5))
    assert pseudo.any() and not (pseudo & ~known).any()
    assert np.nonzero(pseudo)[0].min() >= 31


def _scenes():
    yy, xx = np.mgrid[0:128, 0:128].astype(float)
    theta = np.arctan2(yy - 63.5, xx - 63.5)
    r = np.hypot(xx - 63.5, yy - 63.5)
    rays = (1.0 + 0.5 * np.cos(12 * theta)) * 100.0 / np.maximum(r, 5.0)
    smooth = 100.0 + 0.3 * xx + 0.2 * yy + 0.002 * (xx - 40.0) ** 2
    holes = np.zeros((128, 128), bool)
    holes[40:48, 90:98] = True
    holes[80:88, 30:38] = True
    return rays, smooth, holes


def test_auto_picks_the_fill_that_suits_the_frame():
    """Fine rays (radial structure, 12 per turn): a directional fill, not biharmonic; a
    smooth quadratic surface: biharmonic (it reproduces quadratics exactly)."""
    rays, smooth, holes = _scenes()
    stack = np.stack([rays, smooth])
    out, chosen = auto_fill(stack, np.stack([holes, holes]), [0, 1],
                            centers=np.array([(63.5, 63.5)] * 2))
    assert chosen[0] in ("network", "radial") and chosen[1] == "biharmonic"
    np.testing.assert_array_equal(out[1][holes], fill(smooth, holes, method="biharmonic",
                                                      center=(63.5, 63.5))[holes])


def test_auto_through_fill_keeps_observed_pixels_and_falls_back():
    rays, _, holes = _scenes()
    out = fill(rays, holes, method="auto", center=(63.5, 63.5))
    np.testing.assert_array_equal(out[~holes], rays[~holes])
    assert np.isfinite(out[holes]).all()
    # no finite centre: the biharmonic fill, as for the other centred methods
    _, chosen = auto_fill(rays[None], holes[None], [0], centers=np.array([(np.nan, 1.0)]))
    assert chosen == ["biharmonic"]
    with pytest.raises(ValueError, match="Sun centre"):
        fill(rays, holes, method="auto")


def test_auto_without_torch_says_it_needs_torch_for_its_network_candidate():
    """It used to raise "method='network' needs torch" though the user asked for auto."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, lascoproc.inpaint as ip\n"
        "a = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) + 1\n"
        "m = np.zeros(a.shape, bool); m[8:16, 40:48] = True\n"
        "tail = (\" needs torch: pip install 'lascoproc[ml]' (for its network candidate; the \"\n"
        "        'classical methods radial, fuzzy and biharmonic work without it)')\n"
        "calls = [(\"method='auto'\", lambda: ip.fill(a, m, method='auto', center=(32, 32))),\n"
        "         (\"spatial='auto'\", lambda: ip.fill_frames(\n"
        "             np.stack([a] * 3), np.stack([m] * 3), method='temporal', centers=(32, 32),\n"
        "             spatial='auto'))]\n"
        "for what, call in calls:\n"
        "    try:\n        call()\n"
        "    except ImportError as e:\n"
        "        assert str(e) == what + tail, str(e)\n"
        "    else:\n        raise SystemExit('no ImportError: ' + what)\n"
        "out = ip.fill(a, np.zeros(a.shape, bool), method='auto', center=(32, 32))\n"
        "assert (out == a).all()  # nothing to fill: nothing needed\n")
    subprocess.run([sys.executable, "-c", code], check=True)
