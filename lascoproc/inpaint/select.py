"""``method="auto"``: per frame, the spatial fill that does best on pseudo-holes of that frame.

No fill wins everywhere. On the real scenes of docs/inpainting.md (section 9) the network leads
on a byte-scaled C3 rendering, and it trails biharmonic by 0.3-10 dB on COR1 in DN, on K-Cor
and on NRL's level-1 C2 frame. Which one wins depends on the frame: its noise, its smoothness,
how radial its structure is. So ``"auto"`` asks the frame. This is ordinary hold-out model
selection (cross-validation) on the frame's own observed pixels; nothing is fitted to any
reference scene.

1. **Pseudo-holes.** Each hole region (8-connected) is copied by rotating it about the Sun
   centre by ``k * step`` radians, ``k = +-1, +-2, ...`` (each pixel of the copy takes the
   nearest pixel of the region rotated back: no gaps). ``step`` is the
   region's extent plus :data:`GAP` pixels, divided by its mean radius. A copy lies at the
   same distances from the Sun as the hole, so it sees the same radial profile. It is kept if
   all its pixels are observed and it keeps :data:`GAP` pixels away from every hole and every
   copy already kept; up to :data:`COPIES` per region are kept.
2. **Scores.** Each candidate in :data:`CANDIDATES` fills the frame with the holes and the
   pseudo-holes missing together, so the pseudo-holes cannot use the holes' pixels either.
   Its score is the mean squared error at the pseudo-hole pixels, in the data's own units
   (the units of the protocol of section 9).
3. **The fill.** The candidate with the lowest score fills the real holes, on the frame
   without pseudo-holes.

A frame with fewer than :data:`MIN_PSEUDO` pseudo-hole pixels, or without a finite Sun centre,
gets the biharmonic fill, the best single fill on three of the five real scenes of section 9.
The cost is that of every candidate on each frame, plus one more fill.

``"auto"`` needs torch for its network candidate. Without it, :func:`lascoproc.inpaint.fill.
fill_frames` raises ``ImportError`` before any work (naming ``auto`` and the extra to install)
rather than choosing among the classical candidates alone: the same frame would otherwise get
a different fill depending on what is installed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from lascoproc.kernels.fuzzy_fill import BLOCK

__all__ = ["CANDIDATES", "pseudo_holes", "auto_fill", "COPIES", "GAP", "MIN_PSEUDO"]

#: The fills ``"auto"`` chooses among.
CANDIDATES = ("network", "radial", "biharmonic")
#: Most pseudo-hole copies per hole region.
COPIES = 4
#: Pixels kept free between a copy and any hole or other copy.
GAP = 2
#: Fewest pseudo-hole pixels to choose on; below it, the biharmonic fill.
MIN_PSEUDO = 64
#: Rotation steps tried per region (both senses) before giving up on more copies.
_MAX_STEPS = 12
_EIGHT = np.ones((3, 3), bool)


def pseudo_holes(known: np.ndarray, holes: np.ndarray, center) -> np.ndarray:
    """The pseudo-holes of one frame (module docstring, step 1): a mask of observed pixels.

    ``known``: observed pixels (finite, not missing); ``holes``: the pixels to fill;
    ``center``: Sun centre ``(x, y)``.
    """
    known = np.asarray(known, bool)
    holes = np.asarray(holes, bool)
    ny, nx = holes.shape
    cx, cy = float(center[0]), float(center[1])
    out = np.zeros(holes.shape, bool)
    blocked = ndimage.binary_dilation(holes, _EIGHT, iterations=GAP)
    labels, _ = ndimage.label(holes, _EIGHT)
    for sl_index, sl in enumerate(ndimage.find_objects(labels), start=1):
        ys, xs = np.nonzero(labels[sl] == sl_index)
        ys, xs = ys + sl[0].start, xs + sl[1].start
        radius = float(np.hypot(xs - cx, ys - cy).mean())
        if radius < 1.0:
            continue
        extent = max(int(np.ptp(ys)), int(np.ptp(xs))) + 1
        step = (extent + GAP + 1) / radius
        kept = 0
        for k in range(1, _MAX_STEPS + 1):
            for sign in (1, -1):
                if kept >= COPIES:
                    break
                a = sign * k * step
                if abs(a) >= np.pi:
                    continue
                qy, qx = _rotated(labels, sl_index, ys, xs, cx, cy, a)
                if qy is None or not known[qy, qx].all() or blocked[qy, qx].any():
                    continue
                out[qy, qx] = True
                # dilate within the copy's box grown by GAP (all a dilation by GAP can reach)
                y0, y1 = max(qy.min() - GAP, 0), min(qy.max() + GAP + 1, ny)
                x0, x1 = max(qx.min() - GAP, 0), min(qx.max() + GAP + 1, nx)
                box = np.zeros((y1 - y0, x1 - x0), bool)
                box[qy - y0, qx - x0] = True
                blocked[y0:y1, x0:x1] |= ndimage.binary_dilation(box, _EIGHT, iterations=GAP)
                kept += 1
    return out


def _rotated(labels: np.ndarray, index: int, ys: np.ndarray, xs: np.ndarray, cx: float,
             cy: float, angle: float):
    """Pixels of region ``index`` of ``labels`` (whose pixels are ``ys``, ``xs``) rotated by
    ``angle`` about ``(cx, cy)``: every pixel whose nearest source pixel, rotated back, is in
    the region (inverse mapping: no gaps). ``(None, None)`` if the copy leaves the frame."""
    ny, nx = labels.shape
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = xs - cx, ys - cy
    fx, fy = cx + c * dx - s * dy, cy + s * dx + c * dy
    x0, x1 = int(np.floor(fx.min())) - 1, int(np.ceil(fx.max())) + 1
    y0, y1 = int(np.floor(fy.min())) - 1, int(np.ceil(fy.max())) + 1
    if x0 < 0 or y0 < 0 or x1 >= nx or y1 >= ny:
        return None, None
    gy, gx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    ex, ey = gx - cx, gy - cy
    bx = np.rint(cx + c * ex + s * ey).astype(np.int64)
    by = np.rint(cy - s * ex + c * ey).astype(np.int64)
    inside = (bx >= 0) & (bx < nx) & (by >= 0) & (by < ny)
    hit = np.zeros(gx.shape, bool)
    hit[inside] = labels[by[inside], bx[inside]] == index
    return gy[hit], gx[hit]


def auto_fill(images: np.ndarray, missing: np.ndarray, todo: list[int], *, centers,
              fallback: str = "biharmonic", block: int = BLOCK, **kwargs
              ) -> tuple[np.ndarray, list[str]]:
    """Fill frames ``todo`` of ``images`` with the candidate that does best on their
    pseudo-holes (module docstring); returns the filled copy and the method chosen for each
    frame of ``todo``. ``fallback``, ``block`` and ``kwargs``: the other arguments of
    :func:`lascoproc.inpaint.fill.fill_frames`, which fills the network candidate and the
    final fill; the classical candidates share one normalisation of the trial frame."""
    # fill imports this module lazily too
    from lascoproc.inpaint.fill import (
        _normalised,
        composite_at,
        fill_frames,
        restored,
        spatial_fill,
    )
    from lascoproc.inpaint.normalise import SCALE_PERCENTILE, SOFTENING

    def classical(frame, holes, method, center, normalised):
        """What ``fill_frames`` gives for a classical ``method`` on one frame, from the frame's
        normalised values ``(y, known, normaliser)``."""
        y, _, norm = normalised
        pred = spatial_fill(y, holes, method, center, fallback=fallback, block=block)
        return composite_at(frame, holes, restored(y, pred, holes, norm))

    kwargs.update(fallback=fallback, block=block)
    out = images.copy()
    chosen = []
    for i in todo:
        image, hole = images[i], missing[i]
        center = np.asarray(centers[i], np.float64)
        method = "biharmonic"
        if np.all(np.isfinite(center)):
            known = np.isfinite(image) & ~hole
            pseudo = pseudo_holes(known, hole, center)
            if pseudo.sum() >= MIN_PSEUDO:
                trial = np.where(pseudo, np.nan, image)
                both = hole | pseudo
                truth = image[pseudo].astype(np.float64)
                normalised = _normalised(trial, both, SOFTENING, SCALE_PERCENTILE)
                errors = {}
                for m in CANDIDATES:
                    filled = (fill_frames(trial[None], both[None], method=m,
                                          centers=center[None], **kwargs)[0]
                              if m == "network" else
                              classical(trial, both, m, center, normalised))
                    errors[m] = float(np.mean((filled[pseudo].astype(np.float64) - truth) ** 2))
                method = min(CANDIDATES, key=lambda m: (errors[m], CANDIDATES.index(m)))
        out[i] = fill_frames(image[None], hole[None], method=method, centers=center[None],
                             **kwargs)[0]
        chosen.append(method)
    return out, chosen
