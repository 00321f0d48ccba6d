"""``method="network"``: the network fill of a stack of frames, in proportion to the holes (torch).

For weights of the polar residual kind (the shipped default, :mod:`lascoproc.inpaint.patchnet`):

1. per frame, the asinh normaliser is fitted on a strided sample of the observed pixels (at most
   65 536 of them: a 1024 x 1024 frame costs a 4 x 4-strided percentile, not a full one);
2. the hole pixels are grouped into 8-connected regions (:func:`lascoproc.inpaint.patches.
   hole_regions`), each gets a polar patch whose context is the network's receptive field
   (:attr:`lascoproc.inpaint.patchnet.PolarResidualNet.context`), and only the window of the
   frame under the patch is normalised and sampled;
3. the patches of *all* frames are grouped by shape (no padding) and run through the network
   in batches (``batch_size``, default 64 on a CPU, 512 on a GPU), channels-last, then read
   back at the hole pixels;
4. hole pixels the network cannot serve (a patch with fewer than
   :data:`~lascoproc.inpaint.patches.MIN_KNOWN` known pixels, or no usable patch pixel around
   the point) get the radial fill of the window, then the ``fallback`` (biharmonic) one; a
   region without any observed pixel in its window gets the classical fill of the whole frame;
   a frame whose Sun centre is not finite gets the biharmonic fill;
5. values are clamped to the range of the known pixels of the window, mapped back and written
   at the hole pixels only.

A frame without holes costs nothing; a frame with ``k`` holes costs ``k`` patches.

Weights of the partial-convolution kind (:mod:`lascoproc.inpaint.model`) run as before: whole
frames, refining a biharmonic fill (:func:`lascoproc.inpaint.inference.predict`).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch
import torch.nn.functional as F

from lascoproc.inpaint.fallback import interpolate_holes
from lascoproc.inpaint.model_registry import load_model, model_kind
from lascoproc.inpaint.normalise import SCALE_PERCENTILE, SOFTENING, AsinhNormaliser
from lascoproc.inpaint.patches import PolarPatch, cartesian_prior, hole_regions, patch_inputs
from lascoproc.inpaint.patchnet import batch_patches, read_back
from lascoproc.kernels.inpaint_radial import radial_fill

__all__ = ["network_fill", "MAX_NORMALISER_SAMPLES"]

log = logging.getLogger(__name__)

#: Observed pixels the per-frame normaliser is fitted on, at most (a strided sample).
MAX_NORMALISER_SAMPLES = 65536


def _resolve_device(device) -> torch.device:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        log.info("CUDA requested but not available: inpainting on the CPU")
        return torch.device("cpu")
    return device


def _fit(image: np.ndarray, missing: np.ndarray, softening: float, percentile: float
         ) -> AsinhNormaliser:
    stride = max(1, int(np.sqrt(image.size / MAX_NORMALISER_SAMPLES)))
    sub = image[::stride, ::stride]
    known = np.isfinite(sub) & ~missing[::stride, ::stride]
    if not known.any():  # a few observed pixels between the strides: use them all
        known_full = np.isfinite(image) & ~missing
        return AsinhNormaliser.fit(image, known_full, softening=softening,
                                   percentile=percentile)
    return AsinhNormaliser.fit(sub, known, softening=softening, percentile=percentile)


def _sample_torch(patch: PolarPatch, arrays: np.ndarray) -> np.ndarray:
    """:func:`lascoproc.inpaint.patches.sample_patch` with ``grid_sample`` (float32, the same
    bilinear convention and zeros outside)."""
    ys, xs, valid = patch.source()
    _, h, w = arrays.shape
    grid = np.stack([2.0 * xs / max(w - 1, 1) - 1.0, 2.0 * ys / max(h - 1, 1) - 1.0], axis=-1)
    with torch.inference_mode():
        out = F.grid_sample(torch.from_numpy(arrays.astype(np.float32))[None],
                            torch.from_numpy(grid.astype(np.float32))[None], mode="bilinear",
                            padding_mode="zeros", align_corners=True)[0].numpy()
    return np.where(valid, out.astype(np.float64), 0.0)


class _Job:
    """One hole region of one frame."""

    __slots__ = ("frame", "ys", "xs", "window", "y", "known", "center", "norm", "inputs",
                 "values")

    def __init__(self, frame, ys, xs, window, y, known, center, norm, inputs):
        self.frame, self.ys, self.xs, self.window = frame, ys, xs, window
        self.y, self.known, self.center, self.norm, self.inputs = y, known, center, norm, inputs
        self.values = np.full(ys.size, np.nan)


def _classical(image, hole, out, i, softening, percentile, fallback, center=None) -> None:
    """``out[i]``: ``image`` with ``hole`` filled classically (radial where there is a centre,
    then biharmonic; :func:`lascoproc.inpaint.fill.spatial_fill`)."""
    from lascoproc.inpaint.fill import composite_at, restored, spatial_fill

    known = np.isfinite(image) & ~hole
    if not known.any():
        return
    norm = AsinhNormaliser.fit(image, known, softening=softening, percentile=percentile)
    y = np.where(known, norm.forward(image), np.nan)
    method = "biharmonic" if center is None else "radial"
    pred = spatial_fill(y, hole, method, center, fallback=fallback)
    out[i] = composite_at(out[i], hole, restored(y, pred, hole, norm))


def _jobs(images, missing, todo, centers, context, multiple, softening, percentile,
          out, fallback, cartesian: bool = False, smooth: bool = False):
    jobs = []
    for i in todo:
        image, hole = images[i], missing[i]
        center = centers[i]
        if not np.all(np.isfinite(center)):
            _classical(image, hole, out, i, softening, percentile, fallback)
            continue
        norm = _fit(image, hole, softening, percentile)
        ny, nx = hole.shape
        alone = np.zeros(hole.shape, bool)  # regions with no observed pixel around them
        for ys, xs in hole_regions(hole):
            patch = PolarPatch.around(ys, xs, center, context=context, multiple=multiple)
            y0, y1, x0, x1 = patch.bbox(margin=2)
            y0, y1 = max(min(y0, ys.min() - 2), 0), min(max(y1, ys.max() + 3), ny)
            x0, x1 = max(min(x0, xs.min() - 2), 0), min(max(x1, xs.max() + 3), nx)
            win = image[y0:y1, x0:x1]
            h = hole[y0:y1, x0:x1]
            known = np.isfinite(win) & ~h
            if not known.any():
                alone[ys, xs] = True
                continue
            y = np.where(known, norm.forward(win), np.nan)
            local = (center[0] - x0, center[1] - y0)
            fill = cartesian_prior(y, known, h, local) if cartesian else None
            inputs = patch_inputs(patch.shifted(y0, x0), y, known, known | h, ys - y0,
                                  xs - x0, sampler=_sample_torch, prior=fill, smooth=smooth)
            jobs.append(_Job(i, ys, xs, (y0, x0), y, known, local, norm, inputs))
        if alone.any():  # as the classical methods fill them: from the whole frame
            _classical(image, alone, out, i, softening, percentile, fallback, center)
    return jobs


def _run(model, jobs: list[_Job], batch_size: int, device: torch.device, amp: str | None):
    """The network on the patches of all jobs: patches of one shape together (no padding),
    ``batch_size`` at a time, channels-last (faster convolutions on CPUs and GPUs)."""
    groups: dict[tuple[int, ...], list[_Job]] = {}
    for j in jobs:
        if j.inputs.ok:
            groups.setdefault(j.inputs.image.shape, []).append(j)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
    model = model.to(memory_format=torch.channels_last)
    for group_all in groups.values():
        for start in range(0, len(group_all), batch_size):
            _run_batch(model, group_all[start:start + batch_size], device, dtype)


def _run_batch(model, group: list[_Job], device: torch.device, dtype):
    image = torch.from_numpy(batch_patches([j.inputs.image for j in group])).to(device)
    p = max(j.ys.size for j in group)
    rows = np.zeros((len(group), p), np.float32)
    cols = np.zeros((len(group), p), np.float32)
    prior = np.zeros((len(group), p), np.float32) if group[0].inputs.prior is not None else None
    for k, j in enumerate(group):
        rows[k, :j.ys.size] = j.inputs.rows
        cols[k, :j.ys.size] = j.inputs.cols
        if prior is not None:
            prior[k, :j.ys.size] = j.inputs.prior
    with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=dtype,
                                                enabled=dtype is not None):
        rho = model(image.contiguous(memory_format=torch.channels_last)).float()
        value, reached = read_back(image, rho, torch.from_numpy(rows).to(device),
                                   torch.from_numpy(cols).to(device),
                                   None if prior is None else torch.from_numpy(prior).to(device))
    value = value.cpu().numpy().astype(np.float64)
    reached = reached.cpu().numpy()
    for k, j in enumerate(group):
        m = j.ys.size
        v = j.inputs.mu + j.inputs.sigma * value[k, :m]
        j.values = np.where(reached[k, :m], v, np.nan)


def _finish(job: _Job, fallback: str) -> np.ndarray:
    """The job's values in normalised units, holes the network left filled classically."""
    from lascoproc.inpaint.fill import fill_left

    values = job.values
    left = ~np.isfinite(values)
    if left.any():
        ly, lx = job.ys[left] - job.window[0], job.xs[left] - job.window[1]
        holes = np.zeros(job.known.shape, bool)
        holes[ly, lx] = True
        filled = radial_fill(job.y, holes, job.center)  # job.y is NaN at every hole
        rest = holes & ~np.isfinite(filled)
        if rest.any():
            # the network's values around them: a pixel no observed pixel connects to (the
            # Sun centre) is interpolated from them, not given the window's median
            filled[job.ys[~left] - job.window[0], job.xs[~left] - job.window[1]] = \
                values[~left]
            fill_left(job.y, filled, rest, fallback)
        values = values.copy()
        values[left] = filled[ly, lx]
    lo, hi = np.min(job.y[job.known]), np.max(job.y[job.known])
    return np.clip(values, lo, hi)


def network_fill(images: np.ndarray, missing: np.ndarray, todo: list[int], *, centers,
                 weights: str | os.PathLike | None = None, sha256: str | None = None,
                 batch_size: int | None = None, device: str | None = None,
                 amp: str | None = None, fallback: str = "biharmonic") -> np.ndarray:
    """Fill frames ``todo`` of ``images`` (module docstring); returns a filled copy."""
    dev = _resolve_device(device)
    model, _, content = load_model(weights, sha256=sha256, device=str(dev))
    norm_cfg = content.get("normalisation", {})
    softening = float(norm_cfg.get("softening", SOFTENING))
    percentile = float(norm_cfg.get("percentile", SCALE_PERCENTILE))
    if model_kind(content) == "pconv":
        return _pconv_fill(model, images, missing, todo, softening, percentile, batch_size,
                           str(dev), amp, fallback)
    out = images.copy()
    jobs = _jobs(images, missing, todo, np.asarray(centers, np.float64), model.context,
                 model.multiple, softening, percentile, out, fallback,
                 cartesian=model.config.prior == "cartesian", smooth=model.config.smooth)
    if batch_size is None:
        batch_size = 512 if dev.type == "cuda" else 64
    _run(model, jobs, max(1, int(batch_size)), dev, amp)
    integer = images.dtype.kind in "iu"
    for job in jobs:
        values = job.norm.inverse(_finish(job, fallback))
        if integer:
            info = np.iinfo(images.dtype)
            values = np.clip(np.rint(values), info.min, info.max)
        out[job.frame][job.ys, job.xs] = values.astype(images.dtype)
    return out


def _pconv_fill(model, images, missing, todo, softening, percentile, batch_size, device, amp,
                fallback):
    """The whole-frame partial-convolution path (weights of kind ``pconv``)."""
    from lascoproc.inpaint.fill import _normalised, composite_at, restored
    from lascoproc.inpaint.inference import predict

    out = images.copy()
    prepared = []
    for i in todo:
        y, known, norm = _normalised(images[i], missing[i], softening, percentile)
        if known.any():
            prepared.append((i, y, known, norm))
    shapes: dict[tuple[int, int], list] = {}
    for item in prepared:
        shapes.setdefault(item[1].shape, []).append(item)
    predictions = {}
    kind = model.config.prior
    for group in shapes.values():
        y = np.stack([np.nan_to_num(item[1], nan=0.0) for item in group])
        known = np.stack([item[2] for item in group])
        prior = usable = None
        if kind != "none":
            holes = np.stack([missing[item[0]] for item in group])
            usable = known | holes
            prior = np.stack([interpolate_holes(item[1], missing[item[0]], kind=kind)
                              for item in group])
        pred, reached = predict(model, y, known, prior=prior, usable=usable,
                                batch_size=batch_size, device=device, amp=amp)
        for k, item in enumerate(group):
            predictions[item[0]] = (pred[k].astype(np.float64), reached[k])
    for i, y, _, norm in prepared:
        hole = missing[i]
        pred, reached = predictions[i]
        if not reached[hole].all():
            from lascoproc.inpaint.fill import fill_left

            unreached = hole & ~reached
            around = np.where(hole & reached, pred, y)  # the network's fill, the observed y
            fill_left(y, around, unreached, fallback)
            pred[unreached] = around[unreached]
        out[i] = composite_at(images[i], hole, restored(y, pred, hole, norm))
    return out
