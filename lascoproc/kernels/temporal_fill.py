"""Filling holes from neighbouring frames of a sequence (numpy).

A lost block of one frame was usually observed in the frames just before and after it: level-1
frames of one detector, filter, polarizer and size share the north-up geometry, so a pixel of
a neighbour is the same point of the sky. Between frames the corona brightens or dims (exposure,
stray light, slow evolution) and parts of it move (CME fronts, 10-40 pixels per 12 minutes in
C2). Per hole region (8-connected hole pixels) of the target frame ``t``:

1. ``ring`` = the target's observed pixels within ``ring_width`` pixels of the region;
2. for each neighbour ``s`` observed on at least ``min_ring`` ring pixels:
   ``offset_s = median(y_t - y_s)`` over the ring (``y`` normalised, logarithmic for bright
   pixels: a common brightness ratio) and its ring error ``e_s = mean((y_t - y_s -
   offset_s)^2)``;
3. ``e_spatial = mean((y_t - f)^2)`` over the ring, ``f`` a spatial fill of the ring made as if
   the ring were lost too (given by the caller): the error a spatial method makes that close
   to the hole;
4. the predictor is the mean of ``y_s + offset_s`` over the ``k`` neighbours with the lowest
   ``e_s``, ``k <= max_use`` chosen to minimise its own ring error ``e_k`` (one noisy
   neighbour carries all its noise into the hole, two carry half of it); it is used only if
   ``e_k < e_spatial``: where the corona changed (a CME front in or near the hole) the ring
   shows it and the spatial fill stays;
5. each hole pixel gets the mean over those neighbours that observed it; pixels none of them
   observed (lost there too, outside its field) keep the spatial fill.

The choice of frames (same detector, filter, polarizer and size, within ``+-N`` frames and
``+-T`` minutes) and the normalisation (all frames by the target's normaliser, so that offsets
are brightness ratios) are made by the caller (:mod:`lascoproc.inpaint.temporal`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["temporal_fill", "RING_WIDTH", "MIN_RING", "MAX_USE"]

#: Width (pixels) of the ring of observed pixels around a hole used to scale and check.
RING_WIDTH = 4
#: Fewest ring pixels a neighbour must have observed to be considered.
MIN_RING = 16
#: Most neighbours averaged.
MAX_USE = 4
_EIGHT = np.ones((3, 3), bool)


def _mean_of(frames: list[np.ndarray]) -> np.ndarray:
    """Pixel-wise mean over the frames that observed the pixel (NaN where none did)."""
    stack = np.stack(frames)
    seen = np.isfinite(stack)
    count = seen.sum(axis=0)
    total = np.where(seen, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


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
                  max_use: int = MAX_USE) -> tuple[np.ndarray, np.ndarray]:
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
    out = np.where(holes, np.asarray(spatial, np.float64), target)
    used = np.zeros(holes.shape, bool)
    if not holes.any() or not neighbours:
        return out, used
    known = np.isfinite(target) & ~holes
    labels, n = ndimage.label(holes, _EIGHT)
    ny, nx = holes.shape
    pad = ring_width + 1
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        y0, y1 = max(sl[0].start - pad, 0), min(sl[0].stop + pad, ny)
        x0, x1 = max(sl[1].start - pad, 0), min(sl[1].stop + pad, nx)
        win = np.s_[y0:y1, x0:x1]
        region = labels[win] == lab
        ring = ndimage.binary_dilation(region, _EIGHT, iterations=ring_width) & known[win]
        if ring.sum() < min_ring:
            continue
        t_ring = target[win][ring]
        e_spatial = float(np.mean((t_ring - np.asarray(ring_spatial)[win][ring]) ** 2))
        scored = []
        for s in neighbours:
            s_win = np.asarray(s, np.float64)[win]
            seen = np.isfinite(s_win[ring])
            if seen.sum() < min_ring:
                continue
            diff = t_ring[seen] - s_win[ring][seen]
            offset = float(np.median(diff))
            scored.append((float(np.mean((diff - offset) ** 2)), s_win + offset))
        if not scored:
            continue
        scored.sort(key=lambda item: item[0])
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
