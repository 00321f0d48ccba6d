"""Training and evaluation samples from level-1 cubes: frames, tiles and random block masks.

Any level-1 Zarr store lascoproc writes (``brightness`` + ``quality``, one frame per chunk)
serves, as do cubes in memory. A frame is read when first needed and kept in a small
least-recently-used cache (normalised, float32), so a training run over a mission-long store
reads only the frames it samples.

Samples are a pure function of ``(seed, step)`` (``numpy.random.default_rng([seed, step])``):
a run resumed from a checkpoint sees exactly the batches the uninterrupted run would have seen.

Masks imitate the real losses: rectangles of ``32n x 32m`` pixels (``1 <= n, m <=
hole_blocks``) on the 32-pixel readout grid of the frame (tiles start at multiples of 32, so
the grid is the frame's), grown by 0..``hole_dilation`` pixels on every side because in a
level-1 frame a lost block has been resampled by the distortion and roll correction and
spreads over a pixel or two. Holes are drawn only where at least 75% of the rectangle is
observed: never over the occulter, pylon or off-frame regions (``quality`` bit 2), nor over
real missing blocks, whose truth is unknown. Only observed pixels (``quality == 0``) are ever
scored.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from lascoproc.inpaint.normalise import AsinhNormaliser
from lascoproc.kernels.missing_blocks import BLOCK

__all__ = ["HoleSpec", "LevelOneFrames", "draw_holes", "open_level1_stores"]

#: Observed fraction a rectangle needs before it may become a hole.
HOLE_MIN_OBSERVED = 0.75


def open_level1_stores(stores: Sequence[str | os.PathLike | xr.Dataset]) -> list[xr.Dataset]:
    """Open level-1 Zarr stores (paths or URLs) lazily; datasets are passed through.

    zarr-python warns that consolidated metadata is not in the Zarr v3 specification; lascoproc
    writes it on purpose (:mod:`lascoproc.io.zarr_store`) and that warning is silenced here.
    """
    out = []
    for store in stores:
        if isinstance(store, xr.Dataset):
            out.append(store)
            continue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata",
                                    category=UserWarning)
            out.append(xr.open_zarr(os.fspath(store)))
    return out


@dataclasses.dataclass(frozen=True)
class HoleSpec:
    """How random holes are drawn (see the module docstring)."""

    holes: tuple[int, int] = (1, 4)
    hole_blocks: int = 2
    hole_dilation: int = 2


def draw_holes(observed: np.ndarray, rng: np.random.Generator, spec: HoleSpec = HoleSpec(),
               *, tries: int = 20) -> np.ndarray:
    """A random hole mask for an image whose observed pixels are ``observed`` (2-D bool).

    ``spec.holes = (low, high)``: between low and high rectangles (inclusive), each
    ``32n x 32m`` on the image's 32-pixel grid, over pixels at least 75% observed, grown by
    0..``hole_dilation`` pixels. Holes never cover unobserved pixels' neighbours more than the
    dilation does; the returned mask is limited to observed pixels.
    """
    ny, nx = observed.shape
    nby, nbx = ny // BLOCK, nx // BLOCK
    holes = np.zeros(observed.shape, bool)
    low, high = spec.holes
    count = int(rng.integers(low, high + 1))
    for _ in range(count):
        for _ in range(tries):
            n = int(rng.integers(1, spec.hole_blocks + 1))
            m = int(rng.integers(1, spec.hole_blocks + 1))
            if n > nby or m > nbx:
                continue
            by, bx = int(rng.integers(0, nby - n + 1)), int(rng.integers(0, nbx - m + 1))
            grow = int(rng.integers(0, spec.hole_dilation + 1))
            y0, x0 = by * BLOCK, bx * BLOCK
            region = observed[y0:y0 + n * BLOCK, x0:x0 + m * BLOCK]
            if region.mean() < HOLE_MIN_OBSERVED:
                continue
            holes[max(y0 - grow, 0):y0 + n * BLOCK + grow,
                  max(x0 - grow, 0):x0 + m * BLOCK + grow] = True
            break
    return holes & observed


class LevelOneFrames:
    """The frames of one or more level-1 cubes, normalised on demand.

    Parameters
    ----------
    stores
        Level-1 Zarr stores (paths/URLs) or datasets.
    variable, quality
        Names of the brightness and quality variables.
    cache_frames
        Normalised frames kept in memory (LRU).

    Frames with ``frame_status != 0`` (when the cube has it) are left out. Frame ``k`` is
    ``(y, observed)``: ``y`` the asinh-normalised brightness (float32, NaN where not
    observed; the normaliser is fitted on the frame's observed pixels) and ``observed`` where
    ``quality == 0`` and the brightness is finite.
    """

    def __init__(self, stores: Sequence[str | os.PathLike | xr.Dataset], *,
                 variable: str = "brightness", quality: str = "quality",
                 cache_frames: int = 64):
        self.datasets = open_level1_stores(stores)
        self.variable, self.quality = variable, quality
        self.index: list[tuple[int, int]] = []
        for d, ds in enumerate(self.datasets):
            for name in (variable, quality):
                if name not in ds:
                    raise ValueError(f"store {d} has no {name!r} variable: not a lascoproc "
                                     "level-1 cube")
            n = ds.sizes["time"]
            ok = np.ones(n, bool)
            if "frame_status" in ds:
                ok = np.asarray(ds["frame_status"].values) == 0
            self.index.extend((d, int(t)) for t in np.flatnonzero(ok))
        if not self.index:
            raise ValueError("no usable level-1 frames in the given stores")
        self.cache_frames = int(cache_frames)
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.index)

    def describe(self) -> list[str]:
        """One line per cube: its source and number of frames used."""
        lines = []
        for d, ds in enumerate(self.datasets):
            used = sum(1 for i, _ in self.index if i == d)
            source = ds.encoding.get("source", ds.attrs.get("source_archive", f"dataset {d}"))
            lines.append(f"{source}: {used} frames {ds.attrs.get('detector', '')} "
                         f"{ds.sizes['y']}x{ds.sizes['x']}")
        return lines

    def raw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(brightness, quality)`` of frame ``k`` as stored (read now)."""
        d, t = self.index[k]
        ds = self.datasets[d]
        b = np.asarray(ds[self.variable].isel(time=t).values, dtype=np.float32)
        q = np.asarray(ds[self.quality].isel(time=t).values)
        return b, q

    def center(self, k: int) -> tuple[float, float]:
        """Sun centre ``(crpix1 - 1, crpix2 - 1)`` of frame ``k`` (NaN without the
        coordinates)."""
        d, t = self.index[k]
        ds = self.datasets[d]
        if "crpix1" not in ds.coords or "crpix2" not in ds.coords:
            return (float("nan"), float("nan"))
        return (float(ds["crpix1"].values[t]) - 1.0, float(ds["crpix2"].values[t]) - 1.0)

    def frame(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(y, observed)`` of frame ``k`` (class docstring)."""
        with self._lock:
            if k in self._cache:
                self._cache.move_to_end(k)
                return self._cache[k]
        b, q = self.raw(k)
        observed = np.isfinite(b) & (q == 0)
        norm = AsinhNormaliser.fit(b, observed)
        y = norm.forward(b).astype(np.float32)
        y[~observed] = np.nan
        with self._lock:
            self._cache[k] = (y, observed)
            while len(self._cache) > self.cache_frames:
                self._cache.popitem(last=False)
        return y, observed

    def sample_tiles(self, rng: np.random.Generator, count: int, tile: int, spec: HoleSpec,
                     *, min_observed: float = 0.5, tries: int = 20
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` random tiles: ``(truth, observed, holes)``, each ``(count, tile, tile)``.

        ``truth`` is the normalised frame (0 where not observed), tiles start at multiples of
        32 pixels and are at least ``min_observed`` observed (the best of ``tries`` draws
        otherwise); ``holes`` from :func:`draw_holes`. A frame smaller than the tile is padded
        with unobserved pixels.
        """
        if tile % BLOCK:
            raise ValueError(f"tile size {tile} must be a multiple of {BLOCK}")
        truth = np.zeros((count, tile, tile), np.float32)
        observed = np.zeros((count, tile, tile), bool)
        holes = np.zeros((count, tile, tile), bool)
        for b in range(count):
            best = None
            for _ in range(tries):
                k = int(rng.integers(len(self)))
                y, obs = self.frame(k)
                ny, nx = y.shape
                oy = BLOCK * int(rng.integers(0, max(ny - tile, 0) // BLOCK + 1))
                ox = BLOCK * int(rng.integers(0, max(nx - tile, 0) // BLOCK + 1))
                t_obs = obs[oy:oy + tile, ox:ox + tile]
                fraction = t_obs.sum() / float(tile * tile)
                if best is None or fraction > best[0]:
                    best = (fraction, y[oy:oy + tile, ox:ox + tile], t_obs)
                if fraction >= min_observed:
                    break
            _, t_y, t_obs = best
            h, w = t_y.shape
            truth[b, :h, :w] = np.where(t_obs, t_y, 0.0)
            observed[b, :h, :w] = t_obs
            holes[b] = draw_holes(observed[b], rng, spec)
        return truth, observed, holes
