"""Filling holes from neighbouring frames of a sequence (numpy).

A lost block of one frame was usually observed in the frames just before and after it: level-1
frames of one detector, filter, polarizer, size, summing and read-out window share the north-up
geometry, so a pixel of a neighbour is the same point of the sky. Between frames the corona
brightens or dims (exposure, stray light, slow evolution) and parts of it move (CME fronts,
10-40 pixels per 12 minutes in C2). Per hole region (8-connected hole pixels) of the target
frame ``t``:

1. ``ring`` = the target's observed pixels within ``ring_width`` pixels of the region;
2. for each neighbour ``s`` observed on at least ``min_ring`` ring pixels: the offset
   ``o_s(y, x) = a + b dy + c dx`` fitted by least squares to ``y_t - y_s`` over the ring
   (``y`` normalised, logarithmic for bright pixels, so ``o_s`` is a brightness ratio that
   changes linearly across the hole: a streamer brightening on one side; ``dy``, ``dx`` from
   the region's centroid in units of its half-size), and its ring error ``e_s = mean((y_t -
   y_s - o_s)^2)``. ``offset="constant"`` (the rule before 2026-12-02) takes ``o_s =
   median(y_t - y_s)``; so does the plane where its fit is ill-posed (fewer than
   ``3 min_ring`` ring pixels, or a ring too thin in one direction: condition number of the
   normal equations above :data:`MAX_CONDITION`);
3. ``e_spatial = mean((y_t - f)^2)`` over the ring, ``f`` a spatial fill of the ring made as if
   the ring were lost too (given by the caller): the error a spatial method makes that close
   to the hole;
4. the predictor is the mean of ``y_s + o_s`` over the ``k`` neighbours with the lowest
   ``e_s``, ``k <= max_use`` chosen to minimise its own ring error ``e_k`` (one noisy
   neighbour carries all its noise into the hole, two carry half of it); it is used only if
   ``e_k < e_spatial``: where the corona changed (a CME front in or near the hole) the ring
   shows it and the spatial fill stays;
5. each hole pixel gets the mean over those neighbours that observed it; pixels none of them
   observed (lost there too, outside its field) keep the spatial fill.

The choice of frames (same detector, filter, polarizer, size, summing and window, within
``+-N`` frames and ``+-T`` minutes) and the normalisation (all frames by the target's
normaliser, so that offsets are brightness ratios) are made by the caller
(:mod:`lascoproc.inpaint.temporal`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["temporal_fill", "hole_windows", "ring_offset", "RING_WIDTH", "MIN_RING", "MAX_USE",
           "OFFSETS", "MAX_CONDITION"]

#: Width (pixels) of the ring of observed pixels around a hole used to scale and check.
RING_WIDTH = 4
#: Fewest ring pixels a neighbour must have observed to be considered.
MIN_RING = 16
#: Most neighbours averaged.
MAX_USE = 4
#: Offset models of step 2.
OFFSETS = ("plane", "constant")
#: Largest condition number of the plane's normal equations for which it is fitted.
MAX_CONDITION = 1e4
_EIGHT = np.ones((3, 3), bool)


def _mean_of(frames: list[np.ndarray]) -> np.ndarray:
    """Pixel-wise mean over the frames that observed the pixel (NaN where none did)."""
    stack = np.stack(frames)
    seen = np.isfinite(stack)
    count = seen.sum(axis=0)
    total = np.where(seen, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def hole_windows(holes: np.ndarray, ring_width: int = RING_WIDTH
                 ) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """The hole regions (8-connected labels) and, for region ``k + 1``, ``windows[k]``: its box
    widened by the ring and one pixel, clipped to the frame. :func:`temporal_fill` reads the
    frames in these windows only."""
    ny, nx = holes.shape
    pad = ring_width + 1
    labels, _ = ndimage.label(holes, _EIGHT)
    return labels, [(slice(max(sl[0].start - pad, 0), min(sl[0].stop + pad, ny)),
                     slice(max(sl[1].start - pad, 0), min(sl[1].stop + pad, nx)))
                    for sl in ndimage.find_objects(labels)]


def ring_offset(diff: np.ndarray, dy: np.ndarray, dx: np.ndarray, model: str, min_ring: int
                ) -> tuple[float, float, float]:
    """Coefficients ``(a, b, c)`` of the offset ``a + b dy + c dx`` (step 2) fitted to the ring
    differences ``diff`` at the ring's scaled positions ``dy``, ``dx``: ordinary least squares
    (the normal equations ``X^T X beta = X^T diff``, ``X = [1, dy, dx]``; the first-order
    model of normalized convolution, Knutsson & Westin 1993, with unit weights) for
    ``"plane"``, ``(median(diff), 0, 0)`` for ``"constant"`` and where the plane is ill-posed."""
    if model == "plane" and diff.size >= 3 * min_ring:
        design = np.stack([np.ones_like(dy), dy, dx], axis=1)
        normal = design.T @ design
        if np.linalg.cond(normal) <= MAX_CONDITION:
            a, b, c = np.linalg.solve(normal, design.T @ diff)
            return float(a), float(b), float(c)
    return float(np.median(diff)), 0.0, 0.0


def _scored_neighbours(t_ring: np.ndarray, region: np.ndarray, ring: np.ndarray,
                       windows: list[np.ndarray], offset: str, min_ring: int) -> list:
    """``(e_s, y_s + o_s)`` over the window for each neighbour window observed on at least
    ``min_ring`` ring pixels (step 2), best first."""
    yy, xx = np.nonzero(region)
    hy = max((yy.max() - yy.min() + 1) / 2.0, 1.0)
    hx = max((xx.max() - xx.min() + 1) / 2.0, 1.0)
    dy = (np.arange(region.shape[0])[:, None] - yy.mean()) / hy  # scaled window positions
    dx = (np.arange(region.shape[1])[None, :] - xx.mean()) / hx
    dy_ring = np.broadcast_to(dy, region.shape)[ring]
    dx_ring = np.broadcast_to(dx, region.shape)[ring]
    scored = []
    for s_win in windows:
        seen = np.isfinite(s_win[ring])
        if seen.sum() < min_ring:
            continue
        diff = t_ring[seen] - s_win[ring][seen]
        a, b, c = ring_offset(diff, dy_ring[seen], dx_ring[seen], offset, min_ring)
        fitted = a + b * dy_ring[seen] + c * dx_ring[seen]
        scored.append((float(np.mean((diff - fitted) ** 2)), s_win + (a + b * dy + c * dx)))
    scored.sort(key=lambda item: item[0])
    return scored


def _best_mean(scored: list, ring: np.ndarray, t_ring: np.ndarray, max_use: int
               ) -> tuple[list[np.ndarray], float]:
    """The first ``k <= max_use`` neighbours (best ring error first) whose mean predicts the
    ring best, and that ring error (step 4)."""
    best, best_error = [], np.inf
    for k in range(1, min(max_use, len(scored)) + 1):
        chosen = [shifted for _, shifted in scored[:k]]
        pred = _mean_of(chosen)[ring]
        seen = np.isfinite(pred)
        error = float(np.mean((t_ring[seen] - pred[seen]) ** 2))
        if error <= best_error:  # a tie goes to more neighbours: less noise
            best, best_error = chosen, error
    return best, best_error


def temporal_fill(target: np.ndarray, holes: np.ndarray, neighbours: list[np.ndarray], *,
                  spatial: np.ndarray, ring_spatial: np.ndarray,
                  ring_width: int = RING_WIDTH, min_ring: int = MIN_RING,
                  max_use: int = MAX_USE, offset: str = "plane", regions=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``holes`` of ``target`` from ``neighbours`` (module docstring).

    Parameters
    ----------
    target
        2-D normalised frame; NaN where not observed (holes and outside the field).
    holes
        Pixels to fill.
    neighbours
        Normalised neighbour frames on the target's scale, nearest in time first; NaN where
        not observed.
    spatial
        The spatial fill of the holes (used where no neighbour is accepted).
    ring_spatial
        A spatial fill of the ring pixels made without them (step 3).
    ring_width, min_ring, max_use
        Module docstring.
    offset
        ``"plane"`` (default) or ``"constant"``: the offset model of step 2.
    regions
        :func:`hole_windows` of ``holes`` with this ``ring_width``, when the caller has it.

    Returns
    -------
    filled, from_neighbours
        float64 copy of ``target`` with the holes filled, and where the value came from
        neighbouring frames.
    """
    target = np.asarray(target, np.float64)
    holes = np.asarray(holes, bool)
    if target.ndim != 2 or holes.shape != target.shape:
        raise ValueError(f"target {target.shape} and holes {holes.shape} must be the same 2-D "
                         "shape")
    for a in (spatial, ring_spatial, *neighbours):
        if np.shape(a) != target.shape:
            raise ValueError(f"every frame must have the target's shape {target.shape}")
    if offset not in OFFSETS:
        raise ValueError(f"offset must be one of {OFFSETS}, not {offset!r}")
    out = np.where(holes, np.asarray(spatial, np.float64), target)
    used = np.zeros(holes.shape, bool)
    if not holes.any() or not neighbours:
        return out, used
    known = np.isfinite(target) & ~holes
    labels, windows = hole_windows(holes, ring_width) if regions is None else regions
    for lab, win in enumerate(windows, start=1):
        region = labels[win] == lab
        ring = ndimage.binary_dilation(region, _EIGHT, iterations=ring_width) & known[win]
        if ring.sum() < min_ring:
            continue
        t_ring = target[win][ring]
        e_spatial = float(np.mean((t_ring - np.asarray(ring_spatial)[win][ring]) ** 2))
        scored = _scored_neighbours(t_ring, region, ring, [np.asarray(s, np.float64)[win]
                                                           for s in neighbours],
                                    offset, min_ring)
        if not scored:
            continue
        chosen, e_best = _best_mean(scored, ring, t_ring, max_use)
        if e_best >= e_spatial:
            continue
        total = np.zeros(region.shape)
        count = np.zeros(region.shape)
        for shifted in chosen:
            ok = region & np.isfinite(shifted)
            total[ok] += shifted[ok]
            count[ok] += 1
        got = count > 0
        out[win][got] = total[got] / count[got]
        used[win][got] = True
    return out, used
