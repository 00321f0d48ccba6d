"""The degradation time series: the trained CNN applied to frames with ``DEG_COR`` undone.

A model trained on the reference period learns how bright the undimmed Sun is there; fed a
later frame *before* the archive's degradation correction (``data * DEG_COR``, what the
instrument recorded), it returns that frame's dimming relative to the reference period: the
instrument's degradation since then (1 = no loss).

- :func:`estimate_frames` builds the lazy per-frame estimates ``(time, channel)``: a
  ``dask.array.map_blocks`` over the preprocessed cube (one block = the frames of a time chunk,
  all channels), running the network on each block (``dtype``/``meta`` given to dask).
  Nothing is computed; the pipeline computes it explicitly, once.
- :func:`bin_estimates` aggregates computed estimates in time bins of a fixed cadence: the
  median over the frames of the bin and their spread (standard deviation), time-stamped by the
  median observation time of the frames in the bin; bins without frames are left out.
- :func:`add_reference` adds aiapy's factor for the same times and channels and the ratio.
"""

from __future__ import annotations

import threading

import dask.array as da
import numpy as np
import pandas as pd
import torch
import xarray as xr

from lascoproc.degradation.model import DegradationModel, predict
from lascoproc.degradation.reference import reference_degradation
from lascoproc.degradation.train import resolve_device

__all__ = ["FramePredictor", "estimate_frames", "bin_estimates", "add_reference"]


class FramePredictor:
    """A picklable block function: frames ``(t, C, y, x)`` DN/s -> dimming ``(t, C)`` float32.

    Holds the network's state (not the module), builds the network once per process and device,
    and runs it in batches under ``torch.no_grad``. Picklable, so it runs on distributed workers
    (each worker builds its own copy).
    """

    _cache: dict[tuple[str, str], torch.nn.Module] = {}
    _lock = threading.Lock()

    def __init__(self, model: DegradationModel, *, device: str = "cpu", batch_size: int = 64):
        self.config_json = model.config.to_json()
        self.state = {k: v.detach().cpu().clone() for k, v in model.network.state_dict().items()}
        self.key = model.sha256
        self.device = str(resolve_device(device))
        self.batch_size = int(batch_size)
        self.symmetric = model.symmetric

    def __dask_tokenize__(self):
        return ("lascoproc.degradation.FramePredictor", self.key, self.device, self.batch_size,
                self.symmetric)

    def _network(self) -> torch.nn.Module:
        key = (self.key, self.device)
        with self._lock:
            if key not in self._cache:
                from lascoproc.degradation.config import ModelConfig
                from lascoproc.degradation.model import build_network

                network = build_network(ModelConfig.from_json(self.config_json))
                network.load_state_dict(self.state)
                self._cache[key] = network.to(self.device).eval()
            return self._cache[key]

    def __call__(self, block: np.ndarray) -> np.ndarray:
        out = np.empty(block.shape[:2], dtype=np.float32)
        if block.shape[0] == 0:
            return out
        network = self._network()
        for lo in range(0, block.shape[0], self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(block[lo:lo + self.batch_size],
                                                      dtype=np.float32))
            y = predict(network, x.to(self.device), symmetric=self.symmetric)
            out[lo:lo + self.batch_size] = y.cpu().numpy()
        return out


def _predict_block(block: np.ndarray, predictor: FramePredictor) -> np.ndarray:
    return predictor(block)


def estimate_frames(frames: xr.DataArray, model: DegradationModel, *, device: str = "cpu",
                    batch_size: int = 64) -> xr.DataArray:
    """Per-frame dimming estimates, lazy: ``(time, channel)`` float32.

    Parameters
    ----------
    frames
        Preprocessed frames (``(time, channel, y, x)``, DN/s, the model's channels and size),
        dask-backed; for the degradation series, frames with ``DEG_COR`` undone
        (:func:`lascoproc.degradation.data.preprocess` with ``undo_deg_cor=True``).
    model
        The trained model.
    device
        Where the network runs (``"cpu"``, ``"cuda"``, ``"auto"``).
    """
    channels = [int(c) for c in frames["channel"].values]
    if tuple(channels) != model.channels:
        raise ValueError(f"the frames have channels {channels}, the model takes "
                         f"{list(model.channels)}")
    size = model.config.preprocessing.size
    if frames.sizes["y"] != size or frames.sizes["x"] != size:
        raise ValueError(f"the frames are {frames.sizes['y']}x{frames.sizes['x']}, the model "
                         f"takes {size}x{size}")
    data = frames.transpose("time", "channel", "y", "x").data
    if not isinstance(data, da.Array):
        data = da.from_array(data, chunks=(max(1, data.shape[0]), -1, -1, -1))
    data = data.rechunk({1: -1, 2: -1, 3: -1})
    predictor = FramePredictor(model, device=device, batch_size=batch_size)
    estimates = da.map_blocks(
        _predict_block, data, predictor,
        drop_axis=(2, 3), dtype=np.float32, meta=np.empty((0, 0), dtype=np.float32),
        chunks=(data.chunks[0], data.chunks[1]),
        token="aia-degradation",
    )
    coords = {name: coord for name, coord in frames.coords.items()
              if set(coord.dims) <= {"time", "channel"}}
    return xr.DataArray(
        estimates, dims=("time", "channel"), coords=coords, name="degradation",
        attrs={"units": "1", "long_name": "CNN dimming estimate per frame",
               **model.provenance()},
    )


def _bin_edges(start, end, cadence: str) -> np.ndarray:
    start = pd.Timestamp(start)
    end = pd.Timestamp(end)
    step = pd.tseries.frequencies.to_offset(cadence)
    edges = pd.date_range(start, end + step, freq=step)
    return edges.to_numpy("datetime64[ns]")


def bin_estimates(estimates: xr.DataArray, *, start, end, cadence: str) -> xr.Dataset:
    """Median and spread of computed per-frame estimates in bins ``[start + k cadence, ...)``.

    Parameters
    ----------
    estimates
        Computed ``(time, channel)`` estimates (numpy-backed: call ``.compute()`` first).
    start, end
        The series' first bin starts at ``start``; frames after ``end`` are left out.
    cadence
        Bin length, a pandas frequency (``"7D"``, ``"30D"``, ``"MS"``).

    Returns
    -------
    xarray.Dataset
        ``degradation`` (median), ``degradation_spread`` (standard deviation over the frames,
        0 for a single frame) over ``(time, channel)``, ``n_frames`` over ``time``; ``time`` is
        the median observation time of the bin's frames, ``time_bin_start``/``time_bin_end``
        the bin bounds. Bins without frames are left out.
    """
    if isinstance(estimates.data, da.Array):
        raise TypeError("bin_estimates needs computed estimates: call .compute() first")
    edges = _bin_edges(start, end, cadence)
    times = estimates["time"].values.astype("datetime64[ns]")
    values = np.asarray(estimates.values, dtype=np.float64)
    inside = (times >= edges[0]) & (times <= np.datetime64(pd.Timestamp(end), "ns"))
    which = np.searchsorted(edges, times, side="right") - 1
    rows = []
    for b in np.unique(which[inside]):
        members = inside & (which == b)
        member_times = times[members].astype(np.int64)
        rows.append((np.int64(np.median(member_times)), edges[b], edges[b + 1],
                     np.median(values[members], axis=0), values[members].std(axis=0),
                     int(members.sum())))
    n_channels = values.shape[1]
    channel = estimates["channel"]
    if rows:
        mid, lo, hi, med, spread, count = zip(*rows, strict=True)
        mid = np.array(mid, dtype=np.int64).astype("datetime64[ns]")
        med, spread = np.array(med), np.array(spread)
    else:
        mid = lo = hi = np.array([], dtype="datetime64[ns]")
        med = spread = np.zeros((0, n_channels))
        count = ()
    return xr.Dataset(
        {
            "degradation": (("time", "channel"), med, {
                "units": "1",
                "long_name": "estimated degradation factor (1 = no loss since the reference "
                             "period): median of the CNN's estimates over the bin's frames"}),
            "degradation_spread": (("time", "channel"), spread, {
                "units": "1",
                "long_name": "standard deviation of the per-frame estimates in the bin"}),
            "n_frames": ("time", np.array(count, dtype=np.int64),
                         {"long_name": "frames in the bin"}),
        },
        coords={
            "time": ("time", mid, {"long_name": "median observation time of the bin's frames"}),
            "time_bin_start": ("time", np.array(lo, dtype="datetime64[ns]")),
            "time_bin_end": ("time", np.array(hi, dtype="datetime64[ns]")),
            "channel": ("channel", channel.values.astype(np.int64), {"units": "angstrom"}),
        },
        attrs={"cadence": cadence, "start": str(pd.Timestamp(start)),
               "end": str(pd.Timestamp(end))},
    )


def add_reference(series: xr.Dataset, table) -> xr.Dataset:
    """Add ``degradation_v10`` (aiapy's factor at the same times) and ``ratio_to_v10``."""
    reference = reference_degradation([int(c) for c in series["channel"].values],
                                      series["time"].values, table)
    out = series.copy()
    out["degradation_v10"] = (("time", "channel"), reference.values, reference.attrs)
    out["ratio_to_v10"] = (("time", "channel"),
                           series["degradation"].values / reference.values,
                           {"units": "1", "long_name": "degradation / degradation_v10"})
    out.attrs.update({k: v for k, v in (getattr(table, "provenance", dict)()).items()})
    return out
