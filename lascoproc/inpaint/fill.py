"""Fill missing pixels of plain arrays: the public kernel API of :mod:`lascoproc.inpaint`.

:func:`fill` (one image) and :func:`fill_frames` (a stack) work on any intensity scale, with
one of :data:`METHODS`:

- ``"network"``: the shipped polar residual network (:mod:`lascoproc.inpaint.patchnet`), which
  corrects a radial fill in a polar patch around each hole (weights of the older
  partial-convolution kind, :mod:`lascoproc.inpaint.model`, are run whole-frame as before);
- ``"radial"``: interpolation along the ray from the Sun centre
  (:mod:`lascoproc.kernels.inpaint_radial`);
- ``"fuzzy"``: NRL's ``fuzzy_image`` (:mod:`lascoproc.kernels.fuzzy_fill`);
- ``"biharmonic"``: the smoothest surface (:mod:`lascoproc.inpaint.fallback`);
- ``"temporal"``: from neighbouring frames of the stack (:mod:`lascoproc.inpaint.temporal`),
  with a spatial method where they cannot help.
- ``"auto"``: per frame, whichever of network, radial and biharmonic does best on
  pseudo-holes cut from that frame's own observed pixels (:mod:`lascoproc.inpaint.select`).

``"fallback"`` is accepted as the old name of ``"biharmonic"``. ``radial``, ``network`` and
``temporal`` need the Sun centre of each frame (``center=(x, y)``, 0-based pixel coordinates,
column and row: a level-1 header's ``(CRPIX1 - 1, CRPIX2 - 1)``); a frame whose centre is not
finite gets the biharmonic fill.

Per image:

1. ``known`` = finite and not missing; the normaliser is fitted on the known pixels
   (:class:`~lascoproc.inpaint.normalise.AsinhNormaliser`), ``y = asinh(x / beta) / G``;
2. the method fills ``y`` at the missing pixels; pixels it cannot reach (no observed pixel
   along the ray, a zone ``fuzzy_image`` refuses, a hole the network has no context for) get
   the radial fill, then the biharmonic one (``fallback=`` chooses harmonic instead);
3. the fill is clamped to the range of the known ``y`` (of the frame; of the patch window for
   the network), mapped back with ``x = beta sinh(G y)``, and written into a copy of the image
   **only** at the missing pixels: every other pixel, NaNs included, is the input's bit for
   bit. Integer images get rounded, clipped fills in their own dtype.

torch is imported only for ``method="network"`` and ``"auto"`` (and ``"temporal"`` with one of
them as ``spatial``); without it they raise ``ImportError`` before any work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from lascoproc.extras import explain
from lascoproc.inpaint.fallback import FALLBACK_KINDS, interpolate_holes
from lascoproc.inpaint.normalise import SCALE_PERCENTILE, SOFTENING, AsinhNormaliser
from lascoproc.kernels.fuzzy_fill import BLOCK, fuzzy_fill
from lascoproc.kernels.inpaint_radial import radial_fill

__all__ = ["METHODS", "SPATIAL_METHODS", "ALIASES", "fill", "fill_frames", "canonical_method"]

#: Every fill method, by the name ``method=`` and ``--inpaint`` take.
METHODS = ("network", "radial", "fuzzy", "biharmonic", "temporal", "auto")
#: Methods that use one frame only.
SPATIAL_METHODS = ("network", "radial", "fuzzy", "biharmonic", "auto")
#: Former names still accepted.
ALIASES = {"fallback": "biharmonic"}
#: Methods that need the Sun centre.
_CENTRED = ("network", "radial", "temporal", "auto")


#: Why ``method`` has no default (the message of the ``TypeError`` when it is left out).
CHOOSE_METHOD = (
    "no default: on the real scenes of docs/inpainting.md section 9 no single method wins "
    "everywhere (the shipped network leads on the two LASCO C3 scenes and trails biharmonic "
    "by 0.3-10 dB on the three others). "
    "'biharmonic' suits smooth or rebinned frames, 'radial' full-resolution frames where "
    "rays dominate, 'auto' lets each frame choose by hold-out on its own pixels (slower), "
    "'temporal' uses neighbouring frames")


def canonical_method(method: str | None) -> str:
    """``method`` with :data:`ALIASES` resolved; ``ValueError`` if it is not a method,
    ``TypeError`` if it is ``None`` (not given: :data:`CHOOSE_METHOD`)."""
    if method is None:
        raise TypeError(f"give method=, one of {METHODS}: {CHOOSE_METHOD}")
    method = ALIASES.get(method, method)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    return method


def _check(images: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    missing = np.asarray(missing)
    if missing.dtype != bool:
        raise TypeError(f"missing must be a boolean mask, not {missing.dtype}")
    if images.shape != missing.shape:
        raise ValueError(f"image {images.shape} and missing {missing.shape} differ in shape")
    if images.dtype.kind not in "fiu":
        raise TypeError(f"image must be a real number array, not {images.dtype}")
    return images, missing


def _centers(centers, n: int) -> np.ndarray:
    if centers is None:
        return np.full((n, 2), np.nan)
    c = np.asarray(centers, dtype=np.float64)
    if c.shape == (2,):
        c = np.broadcast_to(c, (n, 2))
    if c.shape != (n, 2):
        raise ValueError(f"centers must be (x, y) or one (x, y) per frame, shape ({n}, 2); "
                         f"got {np.shape(centers)}")
    return np.array(c)


def _normalised(image: np.ndarray, missing: np.ndarray, softening: float, percentile: float):
    known = np.isfinite(image) & ~missing
    norm = AsinhNormaliser.fit(image, known, softening=softening, percentile=percentile)
    y = norm.forward(image)
    y[~known] = np.nan
    return y, known, norm


def composite(image: np.ndarray, missing: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with ``values`` written at ``missing`` only (integer images get
    rounded, clipped values)."""
    return composite_at(image, missing, values[missing])


def composite_at(image: np.ndarray, missing: np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`composite` with ``values`` given at the ``missing`` pixels only (row-major
    order, ``image[missing]``'s), so that nothing is computed for the others."""
    out = image.copy()
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    out[missing] = np.asarray(values).astype(image.dtype)
    return out


def restored(y: np.ndarray, pred: np.ndarray, hole: np.ndarray, norm) -> np.ndarray:
    """The fill ``pred`` (normalised) at the ``hole`` pixels, clipped to the observed range of
    ``y`` and taken back to the image's units: only the hole pixels are transformed."""
    return norm.inverse(np.clip(pred[hole], np.nanmin(y), np.nanmax(y)))


def spatial_fill(y: np.ndarray, holes: np.ndarray, method: str, center, *,
                 fallback: str = "biharmonic", block: int = BLOCK) -> np.ndarray:
    """A classical fill of the normalised frame ``y`` (NaN where not known): ``method`` in
    ``radial``, ``fuzzy``, ``biharmonic``; where it leaves a hole pixel NaN, the radial fill,
    then ``fallback``. Returns ``y`` with the holes filled (float64)."""
    centred = center is not None and bool(np.all(np.isfinite(center)))
    if method == "radial" and centred:
        out = radial_fill(y, holes, center)
    elif method == "fuzzy":
        out = fuzzy_fill(y, holes, block=block)
    else:
        out = interpolate_holes(y, holes, kind=fallback if method != "biharmonic"
                                else "biharmonic")
    left = holes & ~np.isfinite(out)
    if left.any() and centred and method != "radial":
        out[left] = radial_fill(y, left, center)[left]
        left = holes & ~np.isfinite(out)
    if left.any():
        fill_left(y, out, left, fallback)
    return out


def fill_left(y: np.ndarray, out: np.ndarray, left: np.ndarray, kind: str) -> None:
    """The last fallback: ``out[left]`` by ``kind`` interpolation from the observed pixels of
    ``y`` (NaN at every hole). ``left`` pixels that no observed pixel connects to, because the
    other hole pixels around them are NaN in ``y`` (the Sun-centre pixel, which no ray reaches,
    inside a radially filled hole), would get the frame's median there: they are interpolated
    instead from the values already in ``out`` around them (the fill of the other hole
    pixels). ``out`` is changed in place at ``left`` only."""
    from lascoproc.inpaint.fallback import _orphans

    out[left] = interpolate_holes(y, left, kind=kind)[left]
    orphans = _orphans(left, np.isfinite(y) & ~left)
    if orphans.any():
        around = np.where(orphans, np.nan, out)
        out[orphans] = interpolate_holes(around, orphans, kind=kind)[orphans]


def fill_frames(images: np.ndarray, missing: np.ndarray, *, method: str | None = None,
                centers=None, times=None, groups: Sequence | None = None,
                weights: str | os.PathLike | None = None, sha256: str | None = None,
                batch_size: int | None = None, device: str | None = None,
                amp: str | None = None, fallback: str = "biharmonic", block: int = BLOCK,
                max_frames: int | None = None, max_minutes: float | None = None,
                targets: Sequence[int] | None = None, spatial: str = "radial"
                ) -> np.ndarray:
    """Fill the ``missing`` pixels of a stack of frames ``(N, H, W)`` (see :func:`fill`).

    Parameters
    ----------
    centers
        Sun centre ``(x, y)`` of every frame, or one for all: ``(N, 2)`` or ``(2,)``.
    times, groups, max_frames, max_minutes, targets, spatial
        ``method="temporal"`` only (:func:`lascoproc.inpaint.temporal.temporal_frames`):
        observation times (``datetime64`` or minutes), the group key of each frame (frames of
        one group may fill each other; default all one group), the neighbourhood, the frames
        to fill (default all), and the spatial method used where neighbours cannot help.
    batch_size
        Patches (or, for partial-convolution weights, frames) per network call.
    """
    images, missing = _check(images, missing)
    if images.ndim != 3:
        raise ValueError(f"frames must be (N, H, W), got shape {images.shape}")
    method = canonical_method(method)
    if fallback not in FALLBACK_KINDS:
        raise ValueError(f"fallback must be one of {FALLBACK_KINDS}, not {fallback!r}")
    n = images.shape[0]
    if method in _CENTRED and centers is None:
        raise ValueError(f"method {method!r} needs the Sun centre of each frame: "
                         "centers=(x, y) or one per frame")
    centers = _centers(centers, n)
    if method == "temporal":
        from lascoproc.inpaint.temporal import temporal_frames

        return temporal_frames(images, missing, centers=centers, times=times, groups=groups,
                               max_frames=max_frames, max_minutes=max_minutes,
                               targets=targets, spatial=spatial, fallback=fallback,
                               block=block, weights=weights, sha256=sha256,
                               batch_size=batch_size, device=device)
    out = images.copy()
    todo = [i for i in range(n) if missing[i].any()]
    if not todo:
        return out
    if method == "auto":
        from lascoproc.inpaint.select import auto_fill

        _network_fill("method='auto'", "for its network candidate; ")  # torch, or say so now
        out, _ = auto_fill(images, missing, todo, centers=centers, weights=weights,
                           sha256=sha256, batch_size=batch_size, device=device, amp=amp,
                           fallback=fallback, block=block)
        return out
    if method == "network":
        network_fill = _network_fill("method='network'")
        return network_fill(images, missing, todo, centers=centers, weights=weights,
                            sha256=sha256, batch_size=batch_size, device=device, amp=amp,
                            fallback=fallback)
    for i in todo:
        y, known, norm = _normalised(images[i], missing[i], SOFTENING, SCALE_PERCENTILE)
        if not known.any():
            continue
        hole = missing[i]
        pred = spatial_fill(y, hole, method, centers[i], fallback=fallback, block=block)
        out[i] = composite_at(images[i], hole, restored(y, pred, hole, norm))
    return out


def _network_fill(purpose: str, why: str = ""):
    """:func:`lascoproc.inpaint.network_fill.network_fill`, or an ``ImportError`` saying that
    ``purpose`` needs torch (``why``) and which extra installs it."""
    try:
        from lascoproc.inpaint.network_fill import network_fill
    except ImportError as err:
        message = explain(err, purpose)
        if message is None:
            raise
        raise ImportError(f"{message} ({why}the classical methods radial, fuzzy and biharmonic "
                          "work without it)", name=err.name) from err
    return network_fill


def fill(image: np.ndarray, missing: np.ndarray, *, method: str | None = None,
         center=None, weights: str | os.PathLike | None = None, sha256: str | None = None,
         device: str | None = None, amp: str | None = None,
         fallback: str = "biharmonic", block: int = BLOCK) -> np.ndarray:
    """Fill the ``missing`` pixels of one image; every other pixel is returned unchanged.

    Parameters
    ----------
    image
        2-D array on any intensity scale (level-1 MSB, raw DN, byte-scaled); NaN marks pixels
        with no datum (outside the field), which are neither used nor filled.
    missing
        Boolean mask, same shape: the pixels to fill (e.g. missing telemetry blocks,
        :func:`lascoproc.kernels.missing_blocks.detect_missing_blocks`).
    method
        One of :data:`METHODS` but ``"temporal"`` (which needs a stack: :func:`fill_frames`).
        Required, with no default (a ``TypeError`` says why: :data:`CHOOSE_METHOD`); it was
        ``"network"`` until 2026-12-02.
    center
        Sun centre ``(x, y)``, 0-based pixel coordinates (column, row); needed by
        ``"network"`` and ``"radial"``.
    weights
        Network weights: ``None`` for the shipped default
        (:data:`lascoproc.inpaint.model_registry.DEFAULT_WEIGHTS`), a registered name, or a
        path to a weights file.
    sha256
        Expected SHA-256 of a weights file given by path; shipped weights are always checked.
    device
        ``"cuda"``, ``"cpu"``, ...; default the GPU when there is one.
    amp
        ``None``, ``"bf16"`` or ``"fp16"``: autocast precision of the network.
    fallback
        ``"biharmonic"`` or ``"harmonic"``: the classical fill of pixels a method cannot reach.
    block
        Block side of the ``fuzzy`` method's grid (LASCO: 32 pixels of the image as read out).

    Returns
    -------
    numpy.ndarray
        Same shape and dtype; filled at the missing pixels, identical elsewhere. A frame with no
        known pixel comes back unchanged.
    """
    image, missing = _check(image, missing)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}")
    method = canonical_method(method)
    if method == "temporal":
        raise ValueError("method 'temporal' needs a sequence of frames: use fill_frames(..., "
                         "times=...) or inpaint_cube")
    if method in _CENTRED and center is None:
        raise ValueError(f"method {method!r} needs the Sun centre: center=(x, y)")
    return fill_frames(image[np.newaxis], missing[np.newaxis], method=method,
                       centers=None if center is None else [center], weights=weights,
                       sha256=sha256, batch_size=None, device=device, amp=amp,
                       fallback=fallback, block=block)[0]
