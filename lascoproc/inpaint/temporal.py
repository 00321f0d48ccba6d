"""``method="temporal"``: fill a frame's holes from its neighbours in time (numpy).

:func:`temporal_frames` chooses, for every target frame, the neighbours that may fill it (same
group: detector, filter, polarizer, size, summing and read-out window; at most ``max_frames``
frames and ``max_minutes`` minutes away; nearest in time first), normalises them with the
*target's* normaliser (so that a difference of normalised values is a brightness ratio), makes
the spatial fill of the holes (``spatial``, default ``"radial"``) and the radial fill of the
ring around them that the neighbours must beat, and calls
:func:`lascoproc.kernels.temporal_fill.temporal_fill`. Observed pixels are returned bit for
bit; the second output says which pixels came from neighbouring frames (quality bit
``filled_temporal``, :mod:`lascoproc.kernels.quality`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from lascoproc.inpaint.normalise import SCALE_PERCENTILE, SOFTENING, AsinhNormaliser
from lascoproc.kernels.temporal_fill import RING_WIDTH, hole_windows, temporal_fill

__all__ = ["temporal_frames", "minutes", "DEFAULT_MAX_FRAMES", "DEFAULT_MAX_MINUTES",
           "check_max_frames", "check_max_minutes", "check_spatial"]

#: Neighbours on each side considered by default (LASCO: +-2 frames of one sequence).
DEFAULT_MAX_FRAMES = 2
#: Largest time difference by default (minutes): two C3 cadences of 12 minutes, one slow C2.
DEFAULT_MAX_MINUTES = 50.0
_EIGHT = np.ones((3, 3), bool)
#: Spatial methods filled here on the frame's normalised values (the others via fill_frames).
_CLASSICAL = ("radial", "fuzzy", "biharmonic")


def minutes(times) -> np.ndarray:
    """Observation times as float minutes (``datetime64`` since the first known one, or numbers
    as given). An unknown time (``NaT``) becomes NaN: that frame gets no neighbour by time and
    is no other frame's neighbour, while the other frames keep theirs."""
    t = np.asarray(times)
    if np.issubdtype(t.dtype, np.datetime64):
        known = ~np.isnat(t)
        out = np.full(t.shape, np.nan)
        if known.any():
            out[known] = (t[known] - t[known].min()) / np.timedelta64(1, "m")
        return out
    return t.astype(np.float64)


def check_max_frames(max_frames) -> int:
    """``max_frames`` as an ``int`` (``None``: :data:`DEFAULT_MAX_FRAMES`); ``ValueError``
    unless it is a whole number >= 0 (``2.7`` is not silently taken as 2)."""
    if max_frames is None:
        return DEFAULT_MAX_FRAMES
    try:
        value = operator.index(max_frames)
    except TypeError:
        value = None
        if isinstance(max_frames, (float, np.floating)) and float(max_frames).is_integer():
            value = int(max_frames)
    if value is None or isinstance(max_frames, (bool, np.bool_)):
        raise ValueError(f"max_frames must be a whole number >= 0, not {max_frames!r}")
    if value < 0:
        raise ValueError(f"max_frames must be >= 0, not {value}")
    return int(value)


def check_max_minutes(max_minutes) -> float:
    """``max_minutes`` as a ``float`` (``None``: :data:`DEFAULT_MAX_MINUTES`); ``ValueError``
    unless it is a number >= 0 (``inf``: no limit); a negative or NaN limit would silently
    allow no neighbour at all."""
    if max_minutes is None:
        return DEFAULT_MAX_MINUTES
    try:
        value = float(max_minutes)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(max_minutes, (bool, np.bool_)) or not value >= 0:
        raise ValueError(f"max_minutes must be a number >= 0 (minutes), not {max_minutes!r}")
    return value


def check_spatial(spatial: str) -> str:
    """``spatial`` with aliases resolved; ``ValueError`` unless it is one of
    :data:`lascoproc.inpaint.fill.SPATIAL_METHODS`."""
    from lascoproc.inpaint.fill import ALIASES, SPATIAL_METHODS

    name = ALIASES.get(spatial, spatial) if isinstance(spatial, str) else spatial
    if name not in SPATIAL_METHODS:
        raise ValueError(f"spatial must be one of {SPATIAL_METHODS}, not {spatial!r}")
    return name


def _check_targets(targets, n: int) -> list[int]:
    """``targets`` as a list of frame indices; ``ValueError`` for one that is not an integer
    in ``0 .. n - 1`` (a negative index would silently wrap around)."""
    out = []
    for k in targets:
        try:
            index = operator.index(k)
        except TypeError:
            index = None
        if index is None or isinstance(k, (bool, np.bool_)) or not 0 <= index < n:
            raise ValueError(f"targets must be frame indices 0 .. {n - 1} of the {n} frames, "
                             f"not {k!r}")
        out.append(int(index))
    return out


def _ring_fill(y: np.ndarray, holes: np.ndarray, center, fallback: str) -> np.ndarray:
    """Radial fill of the ring of known pixels around the holes, as if it were lost too."""
    from lascoproc.inpaint.fill import spatial_fill

    known = np.isfinite(y) & ~holes
    ring = ndimage.binary_dilation(holes, _EIGHT, iterations=RING_WIDTH) & known
    if not ring.any():
        return np.full(y.shape, np.nan)
    wider = holes | ring
    return spatial_fill(np.where(ring, np.nan, y), wider, "radial", center, fallback=fallback)


def _normalised_in(image: np.ndarray, missing: np.ndarray, norm: AsinhNormaliser,
                   windows: list) -> np.ndarray:
    """``norm.forward(image)`` where observed within ``windows``, NaN elsewhere."""
    out = np.full(image.shape, np.nan)
    for win in windows:
        observed = np.isfinite(image[win]) & ~missing[win]
        out[win] = np.where(observed, norm.forward(image[win]), np.nan)
    return out


def temporal_frames(images: np.ndarray, missing: np.ndarray, *, centers: np.ndarray,
                    times=None, groups: Sequence | None = None,
                    max_frames: int | None = None, max_minutes: float | None = None,
                    targets: Sequence[int] | None = None, spatial: str = "radial",
                    fallback: str = "biharmonic", block: int = 32, weights=None,
                    sha256=None, batch_size=None, device=None, with_mask: bool = False,
                    offset: str = "plane"):
    """Fill the holes of frames ``targets`` of ``images`` ``(N, H, W)`` (module docstring).

    Parameters
    ----------
    centers
        ``(N, 2)`` Sun centres (for the radial fills).
    times
        Observation times (``datetime64`` or minutes); ``None``: frame numbers, and
        ``max_minutes`` must be ``None``.
    groups
        A key per frame; only frames with the same key fill each other (default: one group).
    max_frames, max_minutes
        The neighbourhood (defaults :data:`DEFAULT_MAX_FRAMES`, :data:`DEFAULT_MAX_MINUTES`).
    targets
        Frames to fill (default: every frame with holes); the others are returned as they are.
    spatial
        Spatial method for the pixels neighbours cannot fill (``lascoproc.inpaint.fill.
        SPATIAL_METHODS``).
    with_mask
        Also return the ``(N, H, W)`` mask of pixels filled from neighbours.
    offset
        How a neighbour is brought to the target's level over a hole
        (:func:`~lascoproc.kernels.temporal_fill.temporal_fill`): ``"plane"`` (default), a
        brightness ratio changing linearly across the hole, or ``"constant"``.
    """
    from lascoproc.inpaint.fill import (
        composite,
        composite_at,
        fill_frames,
        restored,
        spatial_fill,
    )

    spatial = check_spatial(spatial)
    n = images.shape[0]
    max_frames = check_max_frames(max_frames)
    if times is None:
        if max_minutes is not None:
            raise ValueError("max_minutes needs the frames' times")
        t = np.arange(n, dtype=np.float64)
        limit = np.inf
    else:
        t = minutes(times)
        if t.shape != (n,):
            raise ValueError(f"times must have one value per frame ({n}), not {t.shape}")
        limit = check_max_minutes(max_minutes)
    keys = np.zeros(n, np.int64) if groups is None else np.unique(
        np.asarray(groups, dtype=object).astype(str), return_inverse=True)[1].reshape(-1)
    if keys.shape != (n,):
        raise ValueError(f"groups must have one key per frame ({n})")
    todo = [i for i in (range(n) if targets is None else _check_targets(targets, n))
            if missing[i].any()]
    if todo and spatial in ("network", "auto"):  # torch, or say so before any work
        from lascoproc.inpaint.fill import _network_fill

        _network_fill(f"spatial={spatial!r}",
                      "for its network candidate; " if spatial == "auto" else "")
    out = images.copy()
    used_all = np.zeros(images.shape, bool)
    for i in todo:
        image, hole = images[i], missing[i]
        known = np.isfinite(image) & ~hole
        if not known.any():
            continue
        norm = AsinhNormaliser.fit(image, known, softening=SOFTENING,
                                   percentile=SCALE_PERCENTILE)
        y = np.where(known, norm.forward(image), np.nan)
        near = [j for j in range(max(0, i - max_frames), min(n, i + max_frames + 1))
                if j != i and keys[j] == keys[i] and abs(t[j] - t[i]) <= limit]
        near.sort(key=lambda j: (abs(t[j] - t[i]), j))
        if spatial in _CLASSICAL:  # on this frame's y, as fill_frames would make it again
            pred = spatial_fill(y, hole, spatial, centers[i], fallback=fallback, block=block)
            filled_spatial = composite_at(image, hole, restored(y, pred, hole, norm))
        else:
            filled_spatial = fill_frames(image[None], hole[None], method=spatial,
                                         centers=centers[i:i + 1], weights=weights,
                                         sha256=sha256, batch_size=batch_size, device=device,
                                         fallback=fallback, block=block)[0]
        if not near:
            out[i] = filled_spatial
            continue
        # the kernel reads the spatial fill at the holes only, the neighbours only in the
        # windows around the hole regions: nothing else is normalised
        y_spatial = np.full(hole.shape, np.nan)
        y_spatial[hole] = norm.forward(filled_spatial[hole])
        regions = hole_windows(hole, RING_WIDTH)
        neighbours = [_normalised_in(images[j], missing[j], norm, regions[1]) for j in near]
        ring = _ring_fill(y, hole, centers[i], fallback)
        filled, used = temporal_fill(y, hole, neighbours, spatial=y_spatial, ring_spatial=ring,
                                     ring_width=RING_WIDTH, offset=offset, regions=regions)
        values = filled_spatial.astype(np.float64)
        values[used] = norm.inverse(np.clip(filled[used], np.nanmin(y), np.nanmax(y)))
        out[i] = composite(image, hole, values)
        used_all[i] = used & hole
    return (out, used_all) if with_mask else out
