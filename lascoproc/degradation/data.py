"""Frames for the degradation CNN, lazily from SDOML, and the (dimmed frame, alpha) pairs.

The flow (every step lazy until a caller computes):

1. :func:`select_frames`: of a cube opened by :func:`lascoproc.io.sdoml.open_sdoml` (the
   pipeline opens it), the frames with a zero ``QUALITY`` in every channel, optionally thinned
   to one frame per ``sample_every``;
2. :func:`preprocess`: SDOML's 512 frames block-averaged (or decimated, the paper's way) to
   the model's size
   (``xr.apply_ufunc`` over :func:`lascoproc.kernels.aia_degradation.bin_frames`), optionally
   apodised, and, for the time series, multiplied by ``DEG_COR`` to undo the archive's
   degradation correction (``uncorrected = data * DEG_COR``);
3. :class:`DimmedPairs`: the training/evaluation samples of the paper: each frame's channels
   multiplied by ``alpha ~ U(alpha_min, alpha_max)``, drawn per sample and channel at each
   epoch, the target being ``alpha``. Frames are computed one dask chunk at a time when the
   iterator reaches them (the caller's explicit action) and kept in memory by default.

The intensity scaling and transform are *not* applied here: they are part of the model
(:class:`lascoproc.degradation.model.InputScaling`), so a model always gets physical DN/s.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
import xarray as xr

from lascoproc.degradation.config import Augmentation, Preprocessing
from lascoproc.kernels.aia_degradation import bin_frames, decimate_frames, disk_mask

__all__ = [
    "select_frames",
    "usable_frames",
    "thin_by_chunks",
    "LEFT_OUT_REASONS",
    "preprocess",
    "thin_times",
    "DimmedPairs",
    "draw_alpha",
]


def thin_times(times: np.ndarray, every: str | None) -> np.ndarray:
    """Indices of the first frame in each ``every`` interval (all frames when ``None``)."""
    times = np.asarray(times, dtype="datetime64[ns]")
    if every is None or times.size == 0:
        return np.arange(times.size)
    step = pd.Timedelta(every).to_timedelta64().astype("timedelta64[ns]").astype(np.int64)
    slot = (times.astype(np.int64) - times[0].astype(np.int64)) // step
    return np.flatnonzero(np.concatenate([[True], np.diff(slot) != 0]))


#: Exposures shorter than this fraction of the channel's median are AIA's automatic exposure
#: control at work (flares): left out by :func:`select_frames`.
SHORT_EXPOSURE = 0.5


def thin_by_chunks(times: np.ndarray, chunks: np.ndarray | None, every: str | None,
                   ) -> np.ndarray:
    """Indices of the frames to use when sampling one time per ``every``, aligned to chunks.

    The first frame of each ``every`` interval is chosen, then every frame stored in the same
    chunk as a chosen one (``chunks``: the store chunk of each frame, e.g. the reference
    channel's ``storage_chunk``) is used too: a chunk is read whole anyway (a 6-hour sample of
    the 6-minute archive in chunks of 15 frames would otherwise read 15 frames to use one).
    Without ``chunks`` this is :func:`thin_times`.
    """
    first = thin_times(times, every)
    if every is None or chunks is None or first.size == 0:
        return first
    chunks = np.asarray(chunks)
    return np.flatnonzero(np.isin(chunks, np.unique(chunks[first])))


#: Reasons a frame (a time, all channels) is left out before the network sees it.
LEFT_OUT_REASONS = ("quality", "short_exposure", "non_finite_exptime", "non_finite_deg_cor")


def usable_frames(ds: xr.Dataset, *, drop_flagged: bool = True,
                  drop_short_exposures: bool = True, sample_every: str | None = None,
                  keep: np.ndarray | None = None) -> tuple[xr.Dataset, dict[str, int]]:
    """The frames of an SDOML cube worth using, and how many were left out for each reason.

    Parameters
    ----------
    ds
        A ``(time, channel, y, x)`` cube from :func:`lascoproc.io.sdoml.open_sdoml`.
    drop_flagged
        Leave out times where any channel's ``QUALITY`` is non-zero (``"quality"``).
    drop_short_exposures
        Leave out times where any channel's ``EXPTIME`` is below :data:`SHORT_EXPOSURE` times
        that channel's median over the cube (``"short_exposure"``): frames shortened by the
        automatic exposure control during flares, whose noise is far above that of the dimmed
        training frames (on the project's first synthetic store: errors up to 0.45).
    sample_every
        Use one time per interval (``"6h"``), aligned to the store's chunks
        (:func:`thin_by_chunks` on the first channel's ``storage_chunk``).
    keep
        An extra selection (boolean over ``time``), e.g. a series recipe's days and hours.

    Times with a non-finite or non-positive ``EXPTIME`` or ``DEG_COR`` in any channel are
    always left out (``"non_finite_exptime"``, ``"non_finite_deg_cor"``): the frame's rate or
    its correction is unknown. Only metadata are read (``isel`` with an index; no compute).
    A frame whose *pixels* are not finite is found when it is computed and left out there
    (:func:`lascoproc.degradation.series.estimate_frames`).
    """
    n = ds.sizes["time"]
    left: dict[str, int] = dict.fromkeys(LEFT_OUT_REASONS, 0)
    ok = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool).copy()

    def drop(reason: str, bad: np.ndarray) -> None:
        left[reason] = int((ok & bad).sum())
        ok[bad] = False

    for name, reason in (("exptime", "non_finite_exptime"), ("deg_cor", "non_finite_deg_cor")):
        if name in ds.coords:
            values = np.asarray(ds[name].values, dtype=np.float64)
            drop(reason, ~(np.isfinite(values) & (values > 0)).all(axis=1))
    if drop_flagged and "quality" in ds.coords:
        drop("quality", ~(np.asarray(ds["quality"].values) == 0).all(axis=1))
    if drop_short_exposures and "exptime" in ds.coords and n:
        exptime = np.asarray(ds["exptime"].values, dtype=np.float64)
        good = np.isfinite(exptime) & (exptime > 0)
        median = np.array([np.median(col[g]) if g.any() else np.nan
                           for col, g in zip(exptime.T, good.T, strict=True)])
        with np.errstate(invalid="ignore"):
            drop("short_exposure", ~(exptime >= SHORT_EXPOSURE * median).all(axis=1) & ok)
    index = np.flatnonzero(ok)
    chunks = (np.asarray(ds["storage_chunk"].values)[index, 0]
              if "storage_chunk" in ds.coords else None)
    index = index[thin_by_chunks(ds["time"].values[index], chunks, sample_every)]
    out = ds if index.size == n else ds.isel(time=index)
    return out.assign_attrs(frames_left_out=dict(left)), left


def select_frames(ds: xr.Dataset, *, drop_flagged: bool = True,
                  drop_short_exposures: bool = True,
                  sample_every: str | None = None) -> xr.Dataset:
    """:func:`usable_frames` without the counts (they are in ``attrs["frames_left_out"]``)."""
    return usable_frames(ds, drop_flagged=drop_flagged,
                         drop_short_exposures=drop_short_exposures,
                         sample_every=sample_every)[0]


def preprocess(ds: xr.Dataset, prep: Preprocessing, *, undo_deg_cor: bool) -> xr.DataArray:
    """Frames at the model's size, DN/s, ``float32``, lazy: ``(time, channel, y, x)``.

    ``undo_deg_cor=True`` multiplies each frame by its ``DEG_COR`` (the rate before the
    archive's degradation correction: what the instrument saw). Chunks: as the input along
    time, all channels in one chunk (the multi-channel model needs them together).
    """
    intensity = ds["intensity"]
    if intensity.sizes["y"] != intensity.sizes["x"]:
        raise ValueError(f"frames are not square: {intensity.sizes['y']}x{intensity.sizes['x']}")
    factor = prep.binning(intensity.sizes["y"])
    n = prep.size
    kernel = bin_frames if prep.resample == "mean" else decimate_frames
    binned = xr.apply_ufunc(
        kernel, intensity,
        input_core_dims=[["y", "x"]], output_core_dims=[["yb", "xb"]],
        exclude_dims={"y", "x"},
        kwargs={"factor": factor},
        dask="parallelized", output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"yb": n, "xb": n}},
    ).rename({"yb": "y", "xb": "x"})
    if undo_deg_cor:
        binned = binned * ds["deg_cor"].astype(np.float32)
    if prep.apodise is not None:
        mask = disk_mask(n, prep.radius_px, limit=prep.apodise).astype(np.float32)
        binned = binned * xr.DataArray(mask, dims=("y", "x"))
    if binned.chunks is not None:
        binned = binned.chunk({"channel": -1})
    out = binned.transpose("time", "channel", "y", "x").astype(np.float32)
    return out.assign_attrs(
        units="DN/s",
        long_name=("AIA intensity before degradation correction (data * DEG_COR)" if undo_deg_cor
                   else "AIA intensity as distributed in SDOML (divided by DEG_COR)"),
        binning=factor,
    )


def rotate_frames(x: torch.Tensor, angles: np.ndarray) -> torch.Tensor:
    """Frames ``(B, C, y, x)`` turned by ``angles`` (radians) about their centre, bilinear.

    Pixels that come from outside the frame take the nearest edge value (the faint corona of
    the frame's border) rather than zero.
    """
    cos = torch.from_numpy(np.cos(angles).astype(np.float32))
    sin = torch.from_numpy(np.sin(angles).astype(np.float32))
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                           align_corners=False)


def draw_alpha(rng: np.random.Generator, shape, aug: Augmentation) -> np.ndarray:
    """Dimming factors ``U(alpha_min, alpha_max)``, ``float32``."""
    return rng.uniform(aug.alpha_min, aug.alpha_max, size=shape).astype(np.float32)


class DimmedPairs:
    """(dimmed frame, alpha) batches over a set of frames, one fresh alpha per frame and epoch.

    Parameters
    ----------
    frames
        ``(time, channel, y, x)`` frames in DN/s: a lazy (dask) DataArray, computed one time
        chunk at a time when first needed, or an in-memory one.
    augmentation
        The alpha distribution (and flips).
    batch_size
        Samples per batch.
    seed
        Seeds every draw: epoch ``e`` draws from ``numpy.random.default_rng([seed, e])``, so a
        resumed training sees the same samples as an uninterrupted one.
    cache
        Keep computed chunks in memory across epochs.
    """

    def __init__(self, frames: xr.DataArray, augmentation: Augmentation, *, batch_size: int = 16,
                 seed: int = 0, cache: bool = True):
        if frames.sizes["time"] == 0:
            raise ValueError("no frames to draw samples from")
        self.frames = frames
        self.augmentation = augmentation
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.cache = cache
        # one block per dask chunk along time (the whole array when in memory)
        sizes = frames.chunks[0] if frames.chunks is not None else (frames.sizes["time"],)
        bounds = np.cumsum((0,) + tuple(sizes))
        self._blocks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:],
                                                              strict=True)]
        self._cached: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        """Frames per epoch."""
        return self.frames.sizes["time"]

    def _block(self, i: int) -> np.ndarray:
        if i in self._cached:
            return self._cached[i]
        values = np.asarray(self.frames.isel(time=self._blocks[i]).values, dtype=np.float32)
        if self.cache:
            self._cached[i] = values
        return values

    def load(self) -> np.ndarray:
        """All frames in memory (computes what is not yet cached), ``float32``."""
        return np.concatenate([self._block(i) for i in range(len(self._blocks))])

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of one epoch: ``(dimmed frames (B, C, y, x), alpha (B, C))``."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        pending: list[np.ndarray] = []
        for i in rng.permutation(len(self._blocks)):
            block = self._block(int(i))
            pending.extend(block[j] for j in rng.permutation(block.shape[0]))
            while len(pending) >= self.batch_size:
                yield self._dim(np.stack(pending[:self.batch_size]), rng)
                del pending[:self.batch_size]
        if pending:
            yield self._dim(np.stack(pending), rng)

    def _dim(self, frames: np.ndarray, rng: np.random.Generator):
        alpha = draw_alpha(rng, frames.shape[:2], self.augmentation)
        dimmed = frames * alpha[:, :, None, None]
        if self.augmentation.flips:
            flip_y = rng.random(frames.shape[0]) < 0.5
            flip_x = rng.random(frames.shape[0]) < 0.5
            dimmed[flip_y] = dimmed[flip_y, :, ::-1, :]
            dimmed[flip_x] = dimmed[flip_x, :, :, ::-1]
            if dimmed.shape[-1] == dimmed.shape[-2]:
                swap = rng.random(frames.shape[0]) < 0.5
                dimmed[swap] = dimmed[swap].swapaxes(-1, -2)
        x = torch.from_numpy(np.ascontiguousarray(dimmed))
        if self.augmentation.rotate:
            x = rotate_frames(x, rng.uniform(0.0, 2.0 * np.pi, frames.shape[0]))
        return x, torch.from_numpy(alpha)

    def fixed_draws(self, draws: int, *, seed: int | None = None,
                    alpha_range: tuple[float, float] | None = None,
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every frame ``draws`` times with fixed alphas (evaluation), a batch at a time.

        Yields ``(frames, alpha)`` numpy batches: the *undimmed* frames ``(B, C, y, x)`` and
        their alphas ``(B, C)`` (multiply by ``alpha[..., None, None]`` to dim). The alphas
        come from ``seed`` (default: this object's seed + 1) and do not depend on the batch
        size, so every method is scored on the same samples. ``alpha_range`` replaces the
        augmentation's ``(alpha_min, alpha_max)``.
        """
        rng = np.random.default_rng([self.seed + 1 if seed is None else seed, 0])
        n_channels = self.frames.sizes["channel"]
        aug = self.augmentation if alpha_range is None else Augmentation(*alpha_range)
        for i in range(len(self._blocks)):
            block = self._block(i)
            alpha = draw_alpha(rng, (block.shape[0], draws, n_channels), aug)
            frames = np.repeat(block, draws, axis=0)
            alpha = alpha.reshape(-1, n_channels)
            for lo in range(0, frames.shape[0], self.batch_size):
                hi = lo + self.batch_size
                yield frames[lo:hi], alpha[lo:hi]
