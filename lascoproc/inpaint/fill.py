"""Fill missing pixels of plain arrays: the public kernel API of :mod:`lascoproc.inpaint`.

:func:`fill` (one image) and :func:`fill_frames` (a stack, batched through the network) work on
any intensity scale. Per image:

1. ``known`` = finite and not missing; the normaliser is fitted on the known pixels
   (:class:`~lascoproc.inpaint.normalise.AsinhNormaliser`) and ``y = asinh(x / beta) / G``;
2. ``method="network"``: the partial-convolution network predicts ``y`` everywhere from the
   known pixels (:mod:`lascoproc.inpaint.inference`), refining the classical fill of the holes
   when the weights were trained so (``prior``, :class:`~lascoproc.inpaint.model.ModelConfig`);
   pixels with no known pixel in the network's receptive field get the classical fill.
   ``method="fallback"``: biharmonic interpolation of ``y`` (:mod:`lascoproc.inpaint.fallback`);
3. the fill is clamped to the range of the known ``y`` of that image (no value brighter or
   fainter than anything observed), mapped back with ``x = beta sinh(G y)``, and written into a
   copy of the image **only** at the missing pixels: every other pixel, NaNs included, is the
   input's bit for bit. Integer images get rounded, clipped fills in their own dtype.

torch is imported only for ``method="network"``.
"""

from __future__ import annotations

import os

import numpy as np

from lascoproc.inpaint.fallback import FALLBACK_KINDS, interpolate_holes
from lascoproc.inpaint.normalise import SCALE_PERCENTILE, SOFTENING, AsinhNormaliser

__all__ = ["METHODS", "fill", "fill_frames"]

METHODS = ("network", "fallback")


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


def _normalised(image: np.ndarray, missing: np.ndarray, softening: float, percentile: float):
    known = np.isfinite(image) & ~missing
    norm = AsinhNormaliser.fit(image, known, softening=softening, percentile=percentile)
    y = norm.forward(image)
    y[~known] = np.nan
    return y, known, norm


def _composite(image: np.ndarray, missing: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = image.copy()
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    out[missing] = values[missing].astype(image.dtype)
    return out


def _classical(y: np.ndarray, missing: np.ndarray, kind: str) -> np.ndarray:
    return interpolate_holes(y, missing, kind=kind)


def fill_frames(images: np.ndarray, missing: np.ndarray, *, method: str = "network",
                weights: str | os.PathLike | None = None, sha256: str | None = None,
                batch_size: int | None = None, device: str | None = None,
                amp: str | None = None, fallback: str = "biharmonic") -> np.ndarray:
    """Fill the ``missing`` pixels of a stack of frames ``(N, H, W)`` (see :func:`fill`).

    The network sees the frames in batches of ``batch_size`` (default: from the free memory of
    the device, :func:`lascoproc.inpaint.inference.auto_batch_size`).
    """
    images, missing = _check(images, missing)
    if images.ndim != 3:
        raise ValueError(f"frames must be (N, H, W), got shape {images.shape}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if fallback not in FALLBACK_KINDS:
        raise ValueError(f"fallback must be one of {FALLBACK_KINDS}, not {fallback!r}")
    out = images.copy()
    todo = [i for i in range(images.shape[0]) if missing[i].any()]
    if not todo:
        return out
    softening, percentile = SOFTENING, SCALE_PERCENTILE
    model = None
    if method == "network":
        try:
            from lascoproc.inpaint.inference import _resolve_device
            from lascoproc.inpaint.model_registry import load_model
        except ImportError as err:
            raise ImportError("method='network' needs torch (pip install 'torch>=2.4'); "
                              "method='fallback' works without it") from err

        dev = _resolve_device(device)
        model, _, content = load_model(weights, sha256=sha256, device=str(dev))
        norm_cfg = content.get("normalisation", {})
        softening = float(norm_cfg.get("softening", SOFTENING))
        percentile = float(norm_cfg.get("percentile", SCALE_PERCENTILE))
        device = str(dev)
    prepared = []
    for i in todo:
        y, known, norm = _normalised(images[i], missing[i], softening, percentile)
        if known.any():
            prepared.append((i, y, known, norm))
    if model is not None:
        # one network call per frame shape (a cube holds one shape; a list may mix them)
        shapes: dict[tuple[int, int], list] = {}
        for item in prepared:
            shapes.setdefault(item[1].shape, []).append(item)
        from lascoproc.inpaint.inference import predict

        predictions = {}
        kind = model.config.prior
        for group in shapes.values():
            y = np.stack([np.nan_to_num(item[1], nan=0.0) for item in group])
            known = np.stack([item[2] for item in group])
            prior = usable = None
            if kind != "none":  # the classical fill the network refines
                holes = np.stack([missing[item[0]] for item in group])
                usable = known | holes
                prior = np.stack([_classical(item[1], missing[item[0]], kind)
                                  for item in group])
            pred, reached = predict(model, y, known, prior=prior, usable=usable,
                                    batch_size=batch_size, device=device, amp=amp)
            for k, item in enumerate(group):
                predictions[item[0]] = (pred[k].astype(np.float64), reached[k])
    for i, y, _, norm in prepared:
        hole = missing[i]
        if model is not None:
            pred, reached = predictions[i]
            if not reached[hole].all():
                unreached = hole & ~reached
                pred[unreached] = _classical(y, unreached, fallback)[unreached]
        else:
            pred = _classical(y, hole, fallback)
        pred = np.clip(pred, np.nanmin(y), np.nanmax(y))
        out[i] = _composite(images[i], hole, norm.inverse(pred))
    return out


def fill(image: np.ndarray, missing: np.ndarray, *, method: str = "network",
         weights: str | os.PathLike | None = None, sha256: str | None = None,
         device: str | None = None, amp: str | None = None,
         fallback: str = "biharmonic") -> np.ndarray:
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
        ``"network"`` (default): the partial-convolution network; ``"fallback"``: classical
        biharmonic interpolation, no torch needed.
    weights
        Network weights: ``None`` for the shipped default
        (:data:`lascoproc.inpaint.model_registry.DEFAULT_WEIGHTS`), a registered name, or a
        path to a weights file (``lascoproc inpaint train --export``).
    sha256
        Expected SHA-256 of a weights file given by path; shipped weights are always checked.
    device
        ``"cuda"``, ``"cpu"``, ...; default the GPU when there is one.
    amp
        ``None``, ``"bf16"`` or ``"fp16"``: autocast precision of the network.
    fallback
        ``"biharmonic"`` or ``"harmonic"``: the classical fill (``method="fallback"``, and the
        network's pixels out of reach of any known pixel).

    Returns
    -------
    numpy.ndarray
        Same shape and dtype; filled at the missing pixels, identical elsewhere. A frame with no
        known pixel comes back unchanged.
    """
    image, missing = _check(image, missing)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}")
    return fill_frames(image[np.newaxis], missing[np.newaxis], method=method, weights=weights,
                       sha256=sha256, batch_size=1, device=device, amp=amp,
                       fallback=fallback)[0]
