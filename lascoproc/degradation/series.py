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

from lascoproc.degradation.model import DegradationModel, predict_members
from lascoproc.degradation.reference import reference_degradation
from lascoproc.degradation.train import resolve_device
from lascoproc.kernels.aia_degradation import aggregate_bin

__all__ = ["FRAME_OUTPUTS", "FramePredictor", "estimate_frames", "frame_uncertainty",
           "bin_estimates", "add_reference"]


#: Per-frame outputs of :class:`FramePredictor`, in the order of its last axis.
FRAME_OUTPUTS = ("degradation", "member_spread", "pixels_finite")


class FramePredictor:
    """A picklable block function: frames ``(t, C, y, x)`` DN/s -> ``(t, C, 3)`` float32.

    The last axis holds :data:`FRAME_OUTPUTS`: the model's estimate (the mean over its
    ensemble members, each averaged over the symmetric copies when trained with flips), the
    standard deviation over the members (0 for one network) and 1 where the frame's pixel sum
    in that channel is finite, else 0 (the estimate is then NaN: such a frame is left out of
    the series and counted).

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
        out = np.full(block.shape[:2] + (len(FRAME_OUTPUTS),), np.nan, dtype=np.float32)
        if block.shape[0] == 0:
            return out
        finite = np.isfinite(block.sum(axis=(-2, -1), dtype=np.float64))
        out[..., 2] = finite
        good = np.flatnonzero(finite.all(axis=1))
        network = self._network()
        for lo in range(0, good.size, self.batch_size):
            rows = good[lo:lo + self.batch_size]
            x = torch.from_numpy(np.ascontiguousarray(block[rows], dtype=np.float32))
            members = predict_members(network, x.to(self.device),
                                      symmetric=self.symmetric).cpu().numpy()
            out[rows, :, 0] = members.mean(axis=0)
            out[rows, :, 1] = members.std(axis=0)
        return out


def _predict_block(block: np.ndarray, predictor: FramePredictor) -> np.ndarray:
    return predictor(block)


def estimate_frames(frames: xr.DataArray, model: DegradationModel, *, device: str = "cpu",
                    batch_size: int = 64) -> xr.Dataset:
    """Per-frame dimming estimates, lazy: a Dataset over ``(time, channel)``.

    ``degradation`` (float32: the model's estimate; NaN for a frame with a non-finite pixel
    sum in any channel), ``member_spread`` (the ensemble members' standard deviation) and
    ``pixels_finite`` (bool). One fused task per time chunk runs the network; the three
    variables are three outputs of it (STYLE rule 18).

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
    fused = da.map_blocks(
        _predict_block, data, predictor,
        drop_axis=3, dtype=np.float32, meta=np.empty((0, 0, 0), dtype=np.float32),
        chunks=(data.chunks[0], data.chunks[1], (len(FRAME_OUTPUTS),)),
        token="aia-degradation",
    )
    coords = {name: coord for name, coord in frames.coords.items()
              if set(coord.dims) <= {"time", "channel"}}
    dims = ("time", "channel")
    return xr.Dataset(
        {
            "degradation": (dims, fused[..., 0], {
                "units": "1", "long_name": "CNN dimming estimate per frame (ensemble mean)",
                **model.provenance()}),
            "member_spread": (dims, fused[..., 1], {
                "units": "1",
                "long_name": "standard deviation of the ensemble members' estimates"}),
            "pixels_finite": (dims, fused[..., 2] > 0.5, {
                "long_name": "the frame's pixel sum in this channel is finite"}),
        },
        coords=coords,
    )


def _bin_edges(start, end, cadence: str) -> np.ndarray:
    start = pd.Timestamp(start)
    end = pd.Timestamp(end)
    step = pd.tseries.frequencies.to_offset(cadence)
    edges = pd.date_range(start, end + step, freq=step)
    return edges.to_numpy("datetime64[ns]")


def frame_uncertainty(estimates: xr.Dataset, calibration: dict | None) -> xr.DataArray:
    """Each frame's uncertainty ``(time, channel)``: ensemble spread and test-month error.

    ``sqrt(member_spread**2 + (rel_rms_c * degradation)**2)``, ``rel_rms_c`` the model's
    relative error on the test months of its reference period (the weights file's
    ``training["calibration"]``: frames it never trained on, dimmed by known factors). Without
    a calibration only the spread is used. Lazy when the estimates are.
    """
    value = estimates["degradation"]
    spread = estimates["member_spread"] if "member_spread" in estimates else 0.0 * value
    rel = np.zeros(value.sizes["channel"])
    if calibration and "rel_rms" in calibration:
        rel = np.asarray(calibration["rel_rms"], dtype=np.float64)
    rel = xr.DataArray(rel, dims="channel")
    return np.sqrt(spread.astype(np.float64) ** 2 + (rel * value.astype(np.float64)) ** 2)


def _median_ns(times: np.ndarray) -> np.int64:
    """The median of datetime64[ns] values in integer nanoseconds (``np.median`` goes through
    float64, which holds ~16 digits: 2010-05-13T00:00:02.27 came back as ...270000128); of an
    even count, the lower middle plus half the gap, rounded down."""
    ns = np.sort(np.asarray(times).astype("datetime64[ns]").astype(np.int64))
    lo, hi = ns[(ns.size - 1) // 2], ns[ns.size // 2]
    return np.int64(lo + (hi - lo) // 2)


def bin_estimates(estimates, *, start, end, cadence: str, aggregate: str = "median",
                  calibration: dict | None = None, reference_error: float = 0.0,
                  ) -> xr.Dataset:
    """The series: every usable frame of each bin ``[start + k cadence, ...)`` aggregated.

    Parameters
    ----------
    estimates
        Computed per-frame estimates (:func:`estimate_frames` computed: a Dataset with
        ``degradation`` and ``member_spread``; or a plain ``(time, channel)`` DataArray).
        Frames whose estimate is not finite in every channel (a non-finite pixel sum) are left
        out and counted.
    start, end
        The series' first bin starts at ``start``; frames after ``end`` are left out.
    cadence
        Bin length, a pandas frequency (``"7D"``, ``"60D"``, ``"MS"``).
    aggregate
        ``"median"`` (default), ``"huber"`` or ``"mean"``
        (:func:`lascoproc.kernels.aia_degradation.aggregate_bin`).
    calibration
        The model's test-month errors (weights file ``training["calibration"]``): per-frame
        uncertainty (:func:`frame_uncertainty`) and the systematic part of the bins'.
    reference_error
        The relative accuracy assumed of the archive's ``DEG_COR`` over the reference period
        (the model learns the undimmed Sun from frames divided by it: its error there passes
        into every estimate): added to the systematic part as ``reference_error * estimate``.

    Returns
    -------
    xarray.Dataset
        Over ``(time, channel)``: ``degradation`` (the aggregate), ``degradation_uncertainty``
        (one standard deviation: the statistical part of
        :func:`~lascoproc.kernels.aia_degradation.aggregate_bin`, the median ensemble spread
        in the bin and the model's relative test-month error (rms, its bias included) times
        the estimate, in quadrature: the model's error follows the Sun's state and does not
        average down within a bin), ``degradation_spread`` (standard deviation of the
        frames); over ``time``:
        ``n_frames`` (frames used) and ``n_left_out`` (frames of the bin with a non-finite
        estimate). ``time`` is the median observation time of the bin's frames,
        ``time_bin_start``/``time_bin_end`` the bin. Bins without a usable frame are left out,
        so no value is NaN.
    """
    if isinstance(estimates, xr.DataArray):
        estimates = estimates.to_dataset(name="degradation")
    if any(isinstance(v.data, da.Array) for v in estimates.data_vars.values()):
        raise TypeError("bin_estimates needs computed estimates: call .compute() first")
    edges = _bin_edges(start, end, cadence)
    times = estimates["time"].values.astype("datetime64[ns]")
    values = np.asarray(estimates["degradation"].values, dtype=np.float64)
    sigma = np.asarray(frame_uncertainty(estimates, calibration).values)
    spread = np.asarray(estimates["member_spread"].values, dtype=np.float64) \
        if "member_spread" in estimates else np.zeros_like(values)
    # the model's error on frames it never saw follows the Sun's state, which changes over
    # weeks to months: within a bin it does not average down with the number of frames. Its
    # test-month size (rms, the bias included) is the bins' systematic part.
    rel_model = np.zeros(values.shape[1])
    if calibration and ("rel_rms" in calibration or "rel_bias" in calibration):
        rel_model = np.abs(np.asarray(calibration.get("rel_rms", calibration.get("rel_bias")),
                                      dtype=np.float64))
    usable = np.all(np.isfinite(values), axis=1)
    inside = (times >= edges[0]) & (times <= np.datetime64(pd.Timestamp(end), "ns"))
    which = np.searchsorted(edges, times, side="right") - 1
    rows = []
    for b in np.unique(which[inside & usable]):
        members = inside & usable & (which == b)
        estimate = np.empty(values.shape[1])
        stat = np.empty(values.shape[1])
        for c in range(values.shape[1]):
            estimate[c], stat[c] = aggregate_bin(values[members, c], sigma[members, c],
                                                 aggregate)
        systematic = np.sqrt(np.median(spread[members], axis=0) ** 2
                             + (rel_model * estimate) ** 2 + (reference_error * estimate) ** 2)
        rows.append((_median_ns(times[members]), edges[b],
                     edges[b + 1], estimate, np.hypot(stat, systematic),
                     values[members].std(axis=0), int(members.sum()),
                     int((inside & ~usable & (which == b)).sum())))
    n_channels = values.shape[1]
    channel = estimates["channel"]
    if rows:
        mid, lo, hi, est, unc, std, count, left = (list(v) for v in zip(*rows, strict=True))
        mid = np.array(mid, dtype=np.int64).astype("datetime64[ns]")
        est, unc, std = np.array(est), np.array(unc), np.array(std)
    else:
        mid = lo = hi = np.array([], dtype="datetime64[ns]")
        est = unc = std = np.zeros((0, n_channels))
        count = left = []
    dims = ("time", "channel")
    return xr.Dataset(
        {
            "degradation": (dims, est, {
                "units": "1",
                "long_name": "estimated degradation factor (1 = no loss since the reference "
                             f"period): {aggregate} of the CNN's estimates over the bin's "
                             "frames"}),
            "degradation_uncertainty": (dims, unc, {
                "units": "1",
                "long_name": "one-standard-deviation uncertainty of the bin's estimate "
                             "(frames' scatter / sqrt(n), ensemble spread, the model's test-month "
                             "error and "
                             "the assumed DEG_COR error of the reference period, in "
                             "quadrature)"}),
            "degradation_spread": (dims, std, {
                "units": "1",
                "long_name": "standard deviation of the per-frame estimates in the bin"}),
            "n_frames": ("time", np.array(count, dtype=np.int64),
                         {"long_name": "frames in the bin"}),
            "n_left_out": ("time", np.array(left, dtype=np.int64),
                           {"long_name": "frames of the bin left out (non-finite pixel sum)"}),
        },
        coords={
            "time": ("time", mid, {"long_name": "median observation time of the bin's frames"}),
            "time_bin_start": ("time", np.array(lo, dtype="datetime64[ns]"),
                               {"long_name": "start of the time bin (inclusive)"}),
            "time_bin_end": ("time", np.array(hi, dtype="datetime64[ns]"),
                             {"long_name": "end of the time bin (exclusive)"}),
            "channel": ("channel", channel.values.astype(np.int64),
                        {"units": "angstrom", "long_name": "AIA EUV channel (wavelength)"}),
        },
        attrs={"cadence": cadence, "start": str(pd.Timestamp(start)),
               "end": str(pd.Timestamp(end)), "aggregate": aggregate,
               "reference_error": float(reference_error),
               "frames_left_out_non_finite": int((inside & ~usable).sum())},
    )


def add_reference(series: xr.Dataset, table, *, normalise: bool = False) -> xr.Dataset:
    """Add ``degradation_v10`` (aiapy's factor at the same times) and ``ratio_to_v10``.

    ``normalise``: the factor divided by its value at the series' first bin, as the paper
    compares its curves ("V10 normalised to its first value"): both then start at 1.
    """
    reference = reference_degradation([int(c) for c in series["channel"].values],
                                      series["time"].values, table)
    values = reference.values
    attrs = dict(reference.attrs)
    if normalise and values.shape[0]:
        values = values / values[:1]
        attrs["long_name"] += ", divided by its value at the first bin"
    out = series.copy()
    out["degradation_v10"] = (("time", "channel"), values, attrs)
    out["ratio_to_v10"] = (("time", "channel"),
                           series["degradation"].values / reference.values,
                           {"units": "1", "long_name": "degradation / degradation_v10"})
    out.attrs.update({k: v for k, v in (getattr(table, "provenance", dict)()).items()})
    return out
