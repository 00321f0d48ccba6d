"""Frames for the degradation CNN, lazily from SDOML, and the (dimmed frame, alpha) pairs.

The flow (every step lazy until a caller computes):

1. :func:`select_frames`: of a cube opened by :func:`lascoproc.io.sdoml.open_sdoml` (the
   pipeline opens it), the frames with a zero ``QUALITY`` in every channel, optionally thinned
   to one frame per ``sample_every``;
2. :func:`preprocess`: SDOML's 512 frames block-averaged to the model's size
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
from lascoproc.kernels.aia_degradation import bin_frames, disk_mask

__all__ = [
    "select_frames",
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


def select_frames(ds: xr.Dataset, *, drop_flagged: bool = True,
                  drop_short_exposures: bool = True,
                  sample_every: str | None = None) -> xr.Dataset:
    """The frames of an SDOML cube worth using, lazily (``isel`` with an index; no compute).

    Parameters
    ----------
    ds
        A ``(time, channel, y, x)`` cube from :func:`lascoproc.io.sdoml.open_sdoml`.
    drop_flagged
        Leave out times where any channel's ``QUALITY`` is non-zero.
    drop_short_exposures
        Leave out times where any channel's ``EXPTIME`` is below :data:`SHORT_EXPOSURE` times
        that channel's median over the cube: frames shortened by the automatic exposure control
        during flares. Their noise (read noise over a few DN) is far above what the dimmed
        frames of the training set show, which the CNN reads as a brighter Sun (on the
        synthetic store: errors up to 0.45 on such frames, docs/aia_degradation.md).
    sample_every
        Keep the first frame of each interval (``"6h"``): the full archive's 6-minute cadence
        is far denser than a degradation study needs.
    """
    keep = np.ones(ds.sizes["time"], dtype=bool)
    if drop_flagged:
        keep &= (np.asarray(ds["quality"].values) == 0).all(axis=1)
    if drop_short_exposures and "exptime" in ds.coords and ds.sizes["time"]:
        exptime = np.asarray(ds["exptime"].values, dtype=np.float64)
        keep &= (exptime >= SHORT_EXPOSURE * np.median(exptime, axis=0)).all(axis=1)
    index = np.flatnonzero(keep)
    index = index[thin_times(ds["time"].values[index], sample_every)]
    if index.size == ds.sizes["time"]:
        return ds
    return ds.isel(time=index)


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
    binned = xr.apply_ufunc(
        bin_frames, intensity,
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
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every frame ``draws`` times with fixed alphas (evaluation), a batch at a time.

        Yields ``(frames, alpha)`` numpy batches: the *undimmed* frames ``(B, C, y, x)`` and
        their alphas ``(B, C)`` (multiply by ``alpha[..., None, None]`` to dim). The alphas
        come from ``seed`` (default: this object's seed + 1) and do not depend on the batch
        size, so every method is scored on the same samples.
        """
        rng = np.random.default_rng([self.seed + 1 if seed is None else seed, 0])
        n_channels = self.frames.sizes["channel"]
        for i in range(len(self._blocks)):
            block = self._block(i)
            alpha = draw_alpha(rng, (block.shape[0], draws, n_channels), self.augmentation)
            frames = np.repeat(block, draws, axis=0)
            alpha = alpha.reshape(-1, n_channels)
            for lo in range(0, frames.shape[0], self.batch_size):
                hi = lo + self.batch_size
                yield frames[lo:hi], alpha[lo:hi]
