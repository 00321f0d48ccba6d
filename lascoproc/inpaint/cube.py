"""Inpainting of a level-1 cube: the xarray/dask wrapper over :func:`lascoproc.inpaint.fill_frames`.

Input: a level-1 :class:`xarray.Dataset` (``time, y, x``) as :func:`lascoproc.calibrate.level1.
calibrate_level1` makes it: ``brightness`` (float32, NaN where there is no datum) and the
per-pixel ``quality`` bits ``1`` missing telemetry, ``2`` outside the field of view, ``4``
filled. Pixels with bit 1 and without bit 2 are filled; bit 4 is set on each pixel that got a
value. Everything else (all other pixels of ``brightness``, all other bits, every other
variable, coordinate and attribute) is passed through unchanged, bit for bit.

Lazy in, lazy out: nothing is computed when the graph is built (the weights file is read and
hashed, a few MB, to record it). Output chunks are the input's. With ``batch_size`` larger
than the time chunks, frames are rechunked into batches of that size for the network (one GPU
call per batch) and split back afterwards.

Cluster placement: ``gpu_resource=True`` (network only) builds the inpainting layers inside
``dask.annotate(resources={"GPU": 1}, lascoproc_step="inpaint")`` (:data:`GPU_ANNOTATIONS`).
On a distributed cluster whose GPU workers are started with ``--resources GPU=1``, those tasks
then run only on GPU workers while reading and calibration run anywhere (the extra key keeps
dask from fusing a frame's calibration into its GPU task, which it would otherwise do and
annotate with the merged resources). Compute with low-level fusion off,
``dask.config.set({"optimization.fuse.active": False})``: dask drops layer annotations when it
fuses tasks (tested on an in-process cluster). Without GPU workers the tasks never start: leave
it off on a laptop or a CPU-only cluster. The threaded scheduler ignores it.
"""

from __future__ import annotations

import contextlib
import os

import dask
import dask.array as da
import numpy as np
import xarray as xr

import lascoproc
from lascoproc.inpaint.fill import METHODS, fill_frames
from lascoproc.kernels.quality import FILLED, MISSING, OUTSIDE

__all__ = ["MISSING", "OUTSIDE", "FILLED", "GPU_ANNOTATIONS", "inpaint_cube", "inpaint_block"]


#: Annotations of the inpainting layers with ``gpu_resource=True``. ``lascoproc_step`` is not
#: one of the keys dask merges when it fuses layers, so dask never fuses the (unannotated)
#: calibration of a frame into its GPU task: the two stay separate tasks, and calibration
#: runs on any worker.
GPU_ANNOTATIONS = {"resources": {"GPU": 1}, "lascoproc_step": "inpaint"}


def inpaint_block(brightness: np.ndarray, quality: np.ndarray, *, method: str = "network",
                  weights: str | None = None, sha256: str | None = None,
                  batch_size: int | None = None, device: str | None = None,
                  amp: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill one block of frames ``(t, y, x)``: ``(brightness, quality)`` with bit 4 set where
    a value was filled (module docstring)."""
    quality = np.asarray(quality)
    holes = ((quality & MISSING) != 0) & ((quality & OUTSIDE) == 0)
    filled = fill_frames(np.asarray(brightness), holes, method=method, weights=weights,
                         sha256=sha256, batch_size=batch_size, device=device, amp=amp)
    got = holes & np.isfinite(filled)
    out_quality = quality | np.where(got, np.uint8(FILLED), np.uint8(0)).astype(quality.dtype)
    return filled, out_quality


def _pair_block(brightness, quality, **kwargs):
    return inpaint_block(brightness, quality, **kwargs)


def _part(pair, index: int):
    return pair[index]


def inpaint_cube(ds: xr.Dataset, *, method: str = "network",
                 weights: str | os.PathLike | None = None, sha256: str | None = None,
                 batch_size: int | None = None, device: str | None = None,
                 amp: str | None = None, gpu_resource: bool = False,
                 variable: str = "brightness", quality: str = "quality") -> xr.Dataset:
    """Fill the missing-telemetry pixels of a level-1 cube and flag them (module docstring).

    Parameters
    ----------
    ds
        Level-1 cube with ``variable`` and ``quality`` over ``(time, y, x)``; dask-backed for a
        lazy result (a numpy-backed cube is filled at once).
    method
        ``"network"`` (partial-convolution network) or ``"fallback"`` (biharmonic).
    weights, sha256
        Network weights (see :func:`lascoproc.inpaint.fill`); default the shipped model.
    batch_size
        Frames per network call; larger than the time chunks means the frames are rechunked
        into batches of this size for inference. Default: the time chunks, each split into
        batches that fit the device's memory.
    device
        ``"cuda"``, ``"cpu"`` or ``None`` (a GPU when the worker has one, else its CPU).
    amp
        ``None``, ``"bf16"`` or ``"fp16"``: autocast precision of the network.
    gpu_resource
        Annotate the inpainting tasks with the dask worker resource ``GPU: 1`` (network only;
        see the module docstring).

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``variable`` filled and ``quality`` bit 4 set on filled pixels, chunked as
        the input; attributes record the method, the weights' name, version and SHA-256.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    for name in (variable, quality):
        if name not in ds:
            raise ValueError(f"the cube has no {name!r} variable")
        if ds[name].dims != ("time", "y", "x"):
            raise ValueError(f"{name!r} must have dims (time, y, x), not {ds[name].dims}")
    provenance: dict[str, str] = {"inpaint_method": method}
    kwargs = {"method": method, "batch_size": batch_size, "device": device, "amp": amp}
    if method == "network":
        from lascoproc.inpaint.model_registry import resolve_weights

        resolved = resolve_weights(weights, sha256=sha256)
        provenance.update(resolved.provenance())
        # tasks re-read the same file and verify the same hash
        kwargs.update(weights=resolved.path if not resolved.shipped else resolved.name,
                      sha256=resolved.sha256)
        provenance["inpaint_description"] = (
            "partial-convolution network (Liu et al. 2018) on asinh-normalised frames, "
            "refining the biharmonic fill when its weights have that prior; observed pixels "
            "unchanged; see docs/inpainting.md")
    else:
        provenance["inpaint_description"] = (
            "biharmonic interpolation on asinh-normalised frames (lascoproc.inpaint.fallback); "
            "observed pixels unchanged; see docs/inpainting.md")

    b = ds[variable].data
    q = ds[quality].data
    if not isinstance(b, da.Array) and not isinstance(q, da.Array):
        filled, new_q = inpaint_block(np.asarray(b), np.asarray(q), **kwargs)
    else:
        b = b if isinstance(b, da.Array) else da.from_array(b, chunks=(1, -1, -1))
        q = q if isinstance(q, da.Array) else da.from_array(q, chunks=b.chunks)
        filled, new_q = _lazy(b, q, kwargs, batch_size, gpu_resource and method == "network")

    out = ds.copy()
    out[variable] = ds[variable].copy(data=filled)
    out[quality] = ds[quality].copy(data=new_q)
    comment = out[variable].attrs.get("comment", "")
    out[variable].attrs["comment"] = (
        (comment + "; " if comment else "")
        + "missing-telemetry pixels filled by inpainting where quality has bit 4 (filled)")
    out.attrs.update(provenance)
    out.attrs["inpaint_lascoproc_version"] = lascoproc.__version__
    return out


def _lazy(b: da.Array, q: da.Array, kwargs: dict, batch_size: int | None, annotate: bool):
    if b.ndim != 3 or b.chunks[1:] != ((b.shape[1],), (b.shape[2],)):
        b = b.rechunk({1: -1, 2: -1})  # the network sees whole frames
    q = q.rechunk(b.chunks)
    original = b.chunks
    context = dask.annotate(**GPU_ANNOTATIONS) if annotate else contextlib.nullcontext()
    with context:
        if batch_size is not None and int(batch_size) > max(b.chunks[0]):
            b = b.rechunk({0: int(batch_size)})
            q = q.rechunk({0: int(batch_size)})
        pair = da.map_blocks(_pair_block, b, q, dtype=object,
                             meta=np.empty((0, 0, 0), dtype=object), **kwargs)
        filled = pair.map_blocks(_part, 0, dtype=b.dtype, meta=np.empty((0, 0, 0), b.dtype))
        new_q = pair.map_blocks(_part, 1, dtype=q.dtype, meta=np.empty((0, 0, 0), q.dtype))
        if filled.chunks != original:
            filled = filled.rechunk(original)
            new_q = new_q.rechunk(original)
    return filled, new_q
