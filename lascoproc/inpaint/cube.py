"""Inpainting of a level-1 cube: the xarray/dask wrapper over :func:`lascoproc.inpaint.fill_frames`.

Input: a level-1 :class:`xarray.Dataset` (``time, y, x``) as :func:`lascoproc.calibrate.level1.
calibrate_level1` makes it: ``brightness`` (float32, NaN where there is no datum), the
per-pixel ``quality`` bits (:mod:`lascoproc.kernels.quality`) and per-frame coordinates, of
which the Sun centre ``crpix1``/``crpix2`` (FITS, 1-based: the centre is ``(crpix1 - 1,
crpix2 - 1)`` in array pixels) and, for ``method="temporal"``, ``time``, ``detector``,
``filter`` and ``polarizer`` are used. Pixels with bit 1 (missing telemetry) and without bit 2
(outside the field) are filled; bit 4 (``filled``) is set on each pixel that got a value, and
with ``method="temporal"`` bit 8 (``filled_temporal``) on those filled from neighbouring frames.
Everything else (all other pixels of ``brightness``, all other bits, every other variable,
coordinate and attribute) is passed through unchanged, bit for bit.

Lazy in, lazy out: nothing is computed when the graph is built (the weights file is read and
hashed, to record it). Output chunks are the input's. Spatial methods: one task per chunk of
frames (``da.blockwise``, the frames' Sun centres with them); with ``batch_size`` larger than
the time chunks, frames are rechunked into batches of that size for the network (one call per
batch: its patches are batched together) and split back afterwards. ``temporal``:
``da.map_overlap`` along time with depth ``max_frames`` (time chunks of at least that many
frames for the overlap, split back to the input's chunks afterwards); the filled brightness and
the from-neighbours mask leave the task as two planes of one array and become separate dask
outputs (no tuples in object arrays).

Cluster placement: ``gpu_resource=True`` (network only) builds the inpainting layers inside
``dask.annotate(resources={"GPU": 1}, lascoproc_step="inpaint")`` (:data:`GPU_ANNOTATIONS`).
On a distributed cluster whose GPU workers are started with ``--resources GPU=1``, those tasks
then run only on GPU workers while reading and calibration run anywhere (the extra key keeps
dask from fusing a frame's calibration into its GPU task). Compute with low-level fusion off,
``dask.config.set({"optimization.fuse.active": False})``: dask drops layer annotations when it
fuses tasks. Without GPU workers the tasks never start: leave it off on a laptop or a CPU-only
cluster. The threaded scheduler ignores it.
"""

from __future__ import annotations

import contextlib
import os

import dask
import dask.array as da
import numpy as np
import xarray as xr

import lascoproc
from lascoproc.inpaint.fill import METHODS, canonical_method, fill_frames
from lascoproc.kernels.quality import FILLED, FILLED_TEMPORAL, MISSING, OUTSIDE

__all__ = ["MISSING", "OUTSIDE", "FILLED", "FILLED_TEMPORAL", "GPU_ANNOTATIONS", "METHODS",
           "inpaint_cube", "inpaint_attributes", "temporal_depth", "inpaint_block",
           "flag_block", "frame_centers", "holes_of"]

#: Annotations of the inpainting layers with ``gpu_resource=True``. ``lascoproc_step`` is not
#: one of the keys dask merges when it fuses layers, so dask never fuses the (unannotated)
#: calibration of a frame into its GPU task.
GPU_ANNOTATIONS = {"resources": {"GPU": 1}, "lascoproc_step": "inpaint"}

_DESCRIPTIONS = {
    "network": "polar residual network correcting a radial fill around each hole "
               "(lascoproc.inpaint.patchnet) on asinh-normalised frames",
    "radial": "linear interpolation along rays from the Sun centre "
              "(lascoproc.kernels.inpaint_radial) on asinh-normalised frames",
    "fuzzy": "NRL fuzzy_image (SolarSoft lasco/reduce/fuzzy, fuzzy_image.pro 1.7) ported in "
             "lascoproc.kernels.fuzzy_fill, on asinh-normalised frames",
    "biharmonic": "biharmonic interpolation (lascoproc.inpaint.fallback) on asinh-normalised "
                  "frames",
    "auto": "per frame, the best of network, radial and biharmonic on pseudo-holes cut from "
            "the frame's own observed pixels (lascoproc.inpaint.select)",
    "temporal": "from neighbouring frames of the same detector, filter, polarizer, size, "
                "summing and read-out window, scaled by the observed ring around each hole, "
                "spatial fill where they cannot help (lascoproc.kernels.temporal_fill)",
}


def holes_of(quality: np.ndarray) -> np.ndarray:
    """Pixels to fill: missing telemetry (bit 1) inside the field (no bit 2)."""
    quality = np.asarray(quality)
    return ((quality & MISSING) != 0) & ((quality & OUTSIDE) == 0)


def inpaint_block(brightness: np.ndarray, quality: np.ndarray, centers=None, *,
                  method: str = "network", **kwargs) -> np.ndarray:
    """The filled brightness of one block of frames ``(t, y, x)`` (module docstring)."""
    centers = None if centers is None else np.asarray(centers, np.float64).reshape(-1, 2)
    return fill_frames(np.asarray(brightness), holes_of(quality), method=method,
                       centers=centers, **kwargs)


def flag_block(filled: np.ndarray, quality: np.ndarray, temporal: np.ndarray | None = None
               ) -> np.ndarray:
    """``quality`` with bit 4 where a hole got a finite value, and bit 8 where it came from
    neighbouring frames (``temporal``, non-zero there)."""
    quality = np.asarray(quality)
    got = holes_of(quality) & np.isfinite(filled)
    flags = np.where(got, FILLED, 0)
    if temporal is not None:
        flags = flags | np.where(got & (np.asarray(temporal) != 0), FILLED_TEMPORAL, 0)
    return quality | flags.astype(quality.dtype)


def frame_centers(ds: xr.Dataset):
    """``(T, 2)`` Sun centres ``(crpix1 - 1, crpix2 - 1)`` of a cube (numpy, or dask when the
    coordinates are: nothing is computed), or ``None`` without ``crpix1``/``crpix2``."""
    if "crpix1" not in ds.coords or "crpix2" not in ds.coords:
        return None
    c1, c2 = ds["crpix1"].data, ds["crpix2"].data
    if isinstance(c1, da.Array) or isinstance(c2, da.Array):
        return da.stack([da.asarray(c1).astype(np.float64) - 1.0,
                         da.asarray(c2).astype(np.float64) - 1.0], axis=1)
    return np.stack([np.asarray(c1, np.float64) - 1.0, np.asarray(c2, np.float64) - 1.0],
                    axis=1)


#: Per-frame coordinates that must agree for two frames of a cube to fill each other by the
#: temporal fill: the optics (detector, filter, polarizer) and the pixel grid (summing and
#: read-out window, level-1 or level-0.5 names): a 512 x 512 subfield and a 2 x 2-binned full
#: frame have one size but not one grid (a store of one size may hold both).
GROUP_COORDS = ("detector", "filter", "polarizer", "xsum", "ysum", "lebxsum", "lebysum",
                "sumcol", "sumrow", "r1col", "r1row", "r2col", "r2row")


def _group_parts(ds: xr.Dataset) -> list:
    """Per-frame keys of the group (:data:`GROUP_COORDS` that ``ds`` has; numpy or dask)."""
    n = ds.sizes["time"]
    parts = []
    for name in GROUP_COORDS:
        if name in ds.coords and ds[name].dims == ("time",):
            parts.append(ds[name].data)
        elif name == "detector":
            parts.append(np.full(n, str(ds.attrs.get("detector", "")), dtype=object))
    return parts


def _join_groups(parts) -> np.ndarray:
    n = len(parts[0]) if parts else 0
    return np.array(["|".join(str(p[i]) for p in parts) for i in range(n)], dtype=object)


def inpaint_cube(ds: xr.Dataset, *, method: str | None = None,
                 weights: str | os.PathLike | None = None, sha256: str | None = None,
                 batch_size: int | None = None, device: str | None = None,
                 amp: str | None = None, gpu_resource: bool = False,
                 variable: str = "brightness", quality: str = "quality",
                 max_frames: int | None = None, max_minutes: float | None = None,
                 spatial: str = "radial") -> xr.Dataset:
    """Fill the missing-telemetry pixels of a level-1 cube and flag them (module docstring).

    Parameters
    ----------
    ds
        Level-1 cube with ``variable`` and ``quality`` over ``(time, y, x)``; dask-backed for a
        lazy result (a numpy-backed cube is filled at once; where only one of the two is
        dask-backed, the other is taken into the graph with the same chunks).
    method
        One of :data:`lascoproc.inpaint.fill.METHODS` (``"fallback"``: ``"biharmonic"``).
        Required, with no default (:data:`lascoproc.inpaint.fill.CHOOSE_METHOD`; it was
        ``"network"`` until 2026-12-02).
    weights, sha256
        Network weights (see :func:`lascoproc.inpaint.fill`); default the shipped model.
    batch_size
        Frames per task for the network (their hole patches are batched together); larger than
        the time chunks means frames are rechunked for inference and split back.
    device
        ``"cuda"``, ``"cpu"`` or ``None`` (a GPU when the worker has one, else its CPU).
    amp
        ``None``, ``"bf16"`` or ``"fp16"``: autocast precision of the network.
    gpu_resource
        Annotate the inpainting tasks with the dask worker resource ``GPU: 1`` (network, and
        temporal with a network ``spatial``; see the module docstring).
    max_frames, max_minutes, spatial
        ``method="temporal"``: the neighbourhood (:mod:`lascoproc.inpaint.temporal`) and the
        spatial method used where neighbours cannot help.

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``variable`` filled and ``quality`` flagged, chunked as the input;
        attributes record the method and, for the network, the weights' name, version and
        SHA-256.
    """
    method = canonical_method(method)
    centers = frame_centers(ds)
    provenance, kwargs = _settings(ds, method, centers, weights=weights, sha256=sha256,
                                   variable=variable, quality=quality, max_frames=max_frames,
                                   max_minutes=max_minutes, spatial=spatial)
    kwargs.update(batch_size=batch_size, device=device)
    if method == "network":
        kwargs["amp"] = amp
    uses_network = "sha256" in kwargs

    b = ds[variable].data
    q = ds[quality].data
    lazy = isinstance(b, da.Array) or isinstance(q, da.Array)
    if lazy:  # one of them may be in memory (quality loaded, say): chunked as the other
        if not isinstance(b, da.Array):
            b = da.from_array(np.asarray(b), chunks=q.chunks)
        if not isinstance(q, da.Array):
            q = da.from_array(np.asarray(q), chunks=b.chunks)
    annotate = gpu_resource and uses_network
    if method == "temporal":
        times = ds["time"].values  # an index: in memory
        parts = _group_parts(ds)
        if not lazy:
            groups = _join_groups([np.asarray(p) for p in parts])
            filled, used = _temporal(np.asarray(b), np.asarray(q), np.asarray(centers), times,
                                     groups, kwargs)
            new_q = flag_block(filled, q, used)
        else:
            filled, new_q = _lazy_temporal(b, q, centers, times, parts, kwargs, annotate)
    elif not lazy:
        filled = inpaint_block(np.asarray(b), np.asarray(q),
                               None if centers is None else np.asarray(centers), **kwargs)
        new_q = flag_block(filled, q)
    else:
        filled, new_q = _lazy(b, q, centers, kwargs, batch_size, annotate)

    out = ds.copy()
    out[variable] = ds[variable].copy(data=filled)
    out[quality] = ds[quality].copy(data=new_q)
    return _describe(out, method, provenance, variable)


def inpaint_attributes(ds: xr.Dataset, *, method: str = "network",
                       weights: str | os.PathLike | None = None, sha256: str | None = None,
                       variable: str = "brightness", quality: str = "quality",
                       max_frames: int | None = None, max_minutes: float | None = None,
                       spatial: str = "radial") -> xr.Dataset:
    """``ds`` with the attributes :func:`inpaint_cube` would give it (the method, the weights'
    name, version and SHA-256, the variable's comment) and its data untouched: a store's
    template, which must say what its regions will hold without building their graph. The same
    checks as :func:`inpaint_cube` (variables, Sun centres, weights file and hash)."""
    method = canonical_method(method)
    provenance, _ = _settings(ds, method, frame_centers(ds), weights=weights, sha256=sha256,
                              variable=variable, quality=quality, max_frames=max_frames,
                              max_minutes=max_minutes, spatial=spatial)
    return _describe(ds.copy(), method, provenance, variable)


def _settings(ds: xr.Dataset, method: str, centers, *, weights, sha256, variable: str,
              quality: str, max_frames, max_minutes, spatial: str) -> tuple[dict, dict]:
    """Checks of the cube, then ``(provenance attributes, task keywords)`` of a method."""
    for name in (variable, quality):
        if name not in ds:
            raise ValueError(f"the cube has no {name!r} variable")
        if ds[name].dims != ("time", "y", "x"):
            raise ValueError(f"{name!r} must have dims (time, y, x), not {ds[name].dims}")
    if method == "temporal":  # here, not first inside the tasks at compute time
        from lascoproc.inpaint.temporal import check_spatial

        spatial = check_spatial(spatial)
        max_frames, max_minutes = temporal_depth(max_frames), _max_minutes(max_minutes)
    uses_network = method in ("network", "auto") or (
        method == "temporal" and spatial in ("network", "auto"))
    if method in ("network", "radial", "temporal", "auto") and centers is None:
        raise ValueError(f"method {method!r} needs the Sun centre of each frame: the cube has "
                         "no crpix1/crpix2 coordinates")
    provenance: dict[str, str] = {"inpaint_method": method,
                                  "inpaint_description": _DESCRIPTIONS[method]
                                  + "; observed pixels unchanged; see docs/inpainting.md"}
    kwargs: dict = {"method": method}
    if uses_network:
        from lascoproc.inpaint.model_registry import resolve_weights

        resolved = resolve_weights(weights, sha256=sha256)
        provenance.update(resolved.provenance())
        # tasks re-read the same file and verify the same hash
        kwargs.update(weights=resolved.path if not resolved.shipped else resolved.name,
                      sha256=resolved.sha256)
    if method == "temporal":
        kwargs.update(max_frames=max_frames, max_minutes=max_minutes, spatial=spatial)
        provenance.update(inpaint_max_frames=str(kwargs["max_frames"]),
                          inpaint_max_minutes=str(kwargs["max_minutes"]),
                          inpaint_spatial=spatial)
    return provenance, kwargs


def temporal_depth(max_frames: int | None = None) -> int:
    """Frames on each side that ``method="temporal"`` reads (``max_frames``, default
    :data:`lascoproc.inpaint.temporal.DEFAULT_MAX_FRAMES`): the halo a caller that cuts a cube
    into time ranges must add to each range for the fill not to depend on the cut.
    ``ValueError`` unless it is a whole number >= 0."""
    from lascoproc.inpaint.temporal import check_max_frames

    return check_max_frames(max_frames)


def _max_minutes(max_minutes: float | None) -> float:
    from lascoproc.inpaint.temporal import check_max_minutes

    return check_max_minutes(max_minutes)


def _describe(out: xr.Dataset, method: str, provenance: dict, variable: str) -> xr.Dataset:
    comment = out[variable].attrs.get("comment", "")
    out[variable].attrs = dict(out[variable].attrs)
    out[variable].attrs["comment"] = (
        (comment + "; " if comment else "")
        + "missing-telemetry pixels filled by inpainting where quality has bit 4 (filled)"
        + ("; bit 8 (filled_temporal): from neighbouring frames" if method == "temporal"
           else ""))
    out.attrs.update(provenance)
    out.attrs["inpaint_lascoproc_version"] = lascoproc.__version__
    return out


def _center_array(centers, n: int, chunks) -> da.Array:
    c = np.full((n, 2), np.nan) if centers is None else centers
    if isinstance(c, da.Array):
        return c.rechunk((chunks, 2))
    return da.from_array(np.asarray(c, np.float64), chunks=(chunks, 2))


def _lazy(b: da.Array, q: da.Array, centers, kwargs: dict, batch_size: int | None,
          annotate: bool):
    if b.ndim != 3 or b.chunks[1:] != ((b.shape[1],), (b.shape[2],)):
        b = b.rechunk({1: -1, 2: -1})  # whole frames
    q = q.rechunk(b.chunks)
    original = b.chunks
    tchunks = b.chunks[0]
    if batch_size is not None and int(batch_size) > max(b.chunks[0]):
        tchunks = int(batch_size)
    c = _center_array(centers, b.shape[0], tchunks)  # not annotated: any worker
    context = dask.annotate(**GPU_ANNOTATIONS) if annotate else contextlib.nullcontext()
    with context:
        if tchunks != b.chunks[0]:
            b = b.rechunk({0: tchunks})
            q = q.rechunk({0: tchunks})
        # the (t, 2) centres go with their frames: blockwise over "t", whole along "k"
        filled = da.blockwise(_fill_task, "tyx", b, "tyx", q, "tyx", c, "tk",
                              concatenate=True, dtype=b.dtype,
                              meta=np.empty((0, 0, 0), b.dtype), **kwargs)
        new_q = da.map_blocks(flag_block, filled, q, dtype=q.dtype,
                              meta=np.empty((0, 0, 0), q.dtype))
        if filled.chunks != original:
            filled = filled.rechunk(original)
            new_q = new_q.rechunk(original)
    return filled, new_q


def _fill_task(brightness, quality, centers, **kwargs):
    return inpaint_block(brightness, quality, centers, **kwargs)


def _temporal(b: np.ndarray, q: np.ndarray, centers, times, groups, kwargs: dict,
              targets=None):
    from lascoproc.inpaint.temporal import temporal_frames

    options = {k: v for k, v in kwargs.items() if k not in ("method", "amp")}
    return temporal_frames(b, holes_of(q), centers=centers, times=times, groups=groups,
                           targets=targets, with_mask=True, **options)


def _temporal_task(b, q, cx, cy, t, index, *parts, total: int, halo_frames: int,
                   kwargs: dict):
    """One overlapped block along time: fill its core frames (the halo frames are only read
    and are dropped afterwards); returns ``(2, t, y, x)``: brightness, from-neighbours mask."""
    idx = index.reshape(-1).astype(np.int64)
    first = halo_frames if idx[0] > 0 else 0
    last = idx.size - (halo_frames if idx[-1] < total - 1 else 0)
    centers = np.stack([cx.reshape(-1), cy.reshape(-1)], axis=1)
    groups = _join_groups([p.reshape(-1) for p in parts])
    filled, used = _temporal(b, q, centers, t.reshape(-1), groups, kwargs,
                             targets=range(first, last))
    return np.stack([filled, used.astype(b.dtype)])


def _lazy_temporal(b: da.Array, q: da.Array, centers, times, parts, kwargs: dict,
                   annotate: bool):
    from lascoproc.inpaint.temporal import minutes

    original = b.chunks
    n = b.shape[0]
    if n == 0:  # no frame (a time range with nothing observed): nothing to fill or flag
        return b, q
    depth = int(kwargs["max_frames"])
    # map_overlap needs time chunks of at least `depth` frames (the last one too)
    step = max(depth, 1)
    sizes = [step] * (n // step)
    if n % step:
        if sizes:
            sizes[-1] += n % step
        else:
            sizes = [n]
    if len(sizes) == 1:  # one block holds every neighbour (and dask refuses a deeper halo)
        depth = 0
    b = b.rechunk({0: tuple(sizes), 1: -1, 2: -1})
    q = q.rechunk(b.chunks)
    per_frame = b.chunks[0]

    def column(values):
        if not isinstance(values, da.Array):
            values = np.asarray(values)
            return da.from_array(values.reshape(n, 1, 1), chunks=(per_frame, 1, 1))
        return values.reshape(n, 1, 1).rechunk((per_frame, 1, 1))

    c = _center_array(centers, n, per_frame)
    args = [b, q, column(c[:, 0]), column(c[:, 1]), column(minutes(times)),
            column(np.arange(n)), *[column(p) for p in parts]]
    last = len(per_frame) - 1
    halo = tuple(ch + (depth if k > 0 else 0) + (depth if k < last else 0)
                 for k, ch in enumerate(per_frame))
    context = dask.annotate(**GPU_ANNOTATIONS) if annotate else contextlib.nullcontext()
    with context:
        both = da.map_overlap(
            _temporal_task, *args, depth={0: depth, 1: 0, 2: 0}, boundary="none",
            trim=False, allow_rechunk=False, dtype=b.dtype, new_axis=0,
            chunks=((2,), halo, *b.chunks[1:]), meta=np.empty((0, 0, 0, 0), b.dtype),
            total=n, halo_frames=depth, kwargs=kwargs)
        both = _trim(both, depth)
        filled = both[0]
        used = both[1]
        new_q = da.map_blocks(flag_block, filled, q, used, dtype=q.dtype,
                              meta=np.empty((0, 0, 0), q.dtype))
        filled = filled.rechunk(original)
        new_q = new_q.rechunk(original)
    return filled, new_q


def _trim(both: da.Array, depth: int) -> da.Array:
    """Drop the halo frames of each overlapped block (none at the ends of the cube)."""
    if depth == 0:
        return both
    from dask.array.overlap import trim_internal

    return trim_internal(both, {0: 0, 1: depth, 2: 0, 3: 0},
                         boundary={0: "none", 1: "none", 2: "none", 3: "none"})
