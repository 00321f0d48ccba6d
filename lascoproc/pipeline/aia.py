"""SDO/AIA degradation from SDOML: train, evaluate, time series, demo (wiring only).

Each function opens the archive (:func:`lascoproc.io.sdoml.open_sdoml`), builds the lazy
preprocessing (:mod:`lascoproc.degradation.data`), calls the science in
:mod:`lascoproc.degradation` and writes the outputs (:mod:`lascoproc.io`). Where data is
computed is said in each docstring; nothing else computes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

import lascoproc
from lascoproc.degradation.config import (
    EUV_CHANNELS,
    Architecture,
    Augmentation,
    ModelConfig,
    Preprocessing,
    ReferenceSplit,
)
from lascoproc.io.aia_response import read_response_table
from lascoproc.io.fs import protocol_of
from lascoproc.io.sdoml import list_years, open_sdoml

__all__ = [
    "SDOML_URL",
    "SeriesResult",
    "open_frames",
    "reference_pairs",
    "train_model",
    "evaluate_models",
    "degradation_series",
    "write_series",
    "run_demo",
    "DEMO_STORE",
]

#: The public SDOML v2 archive (anonymous S3).
SDOML_URL = "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2.zarr"

#: The synthetic store the demo writes: :func:`lascoproc.testing.sdoml.write_sdoml_store` args.
DEMO_STORE = {"size": 128, "cadence": "30D", "channels": EUV_CHANNELS, "chunks": 16}


def open_frames(url: str, channels: Sequence[int], *, start=None, end=None,
                sample_every: str | None = None, drop_flagged: bool = True,
                storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The lazy SDOML cube of ``channels`` in ``[start, end]``, flagged frames left out."""
    from lascoproc.degradation.data import select_frames

    ds = open_sdoml(url, channels=list(channels), start=start, end=end,
                    storage_options=storage_options)
    return select_frames(ds, drop_flagged=drop_flagged, sample_every=sample_every)


def reference_pairs(url: str, prep: Preprocessing, split: ReferenceSplit, aug: Augmentation, *,
                    batch_size: int = 16, seed: int = 0,
                    storage_options: Mapping[str, Any] | None = None):
    """``{"train": DimmedPairs, "test": DimmedPairs}`` over the reference period (lazy).

    The frames are as distributed (divided by ``DEG_COR``); they are computed when the pairs
    are first iterated or loaded.
    """
    from lascoproc.degradation.data import DimmedPairs, preprocess

    ds = open_frames(url, prep.channels, start=split.start, end=split.end,
                     sample_every=split.sample_every, storage_options=storage_options)
    frames = preprocess(ds, prep, undo_deg_cor=False)
    masks = split.masks(frames["time"].values)
    out = {}
    for name, part_seed in (("train", seed), ("test", seed + 7919)):
        if not masks[name].any():
            raise ValueError(f"{url!r}: no {name} frame in the reference period {split.start} .. "
                             f"{split.end} (months {getattr(split, name + '_months')}; "
                             f"{frames.sizes['time']} frames in the period)")
        out[name] = DimmedPairs(frames.isel(time=np.flatnonzero(masks[name])), aug,
                                batch_size=batch_size, seed=part_seed)
    return out


def train_model(
    url: str,
    out,
    *,
    kind: str = "multi",
    channels: Sequence[int] = EUV_CHANNELS,
    size: int = 256,
    apodise: float | None = None,
    transform: str = "linear",
    floor: float = 1e-3,
    width: int = 32,
    pool: int = 2,
    head: str = "dense",
    alpha_range: tuple[float, float] = (0.01, 1.0),
    flips: bool = False,
    rotate: bool = False,
    split: ReferenceSplit | None = None,
    epochs: int = 1000,
    max_minutes: float | None = None,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    schedule: str = "constant",
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    checkpoint_seconds: float = 60.0,
    storage_options: Mapping[str, Any] | None = None,
    command: str | None = None,
    on_checkpoint: Callable[[dict[str, float]], None] | None = None,
):
    """Train a single- or multi-channel CNN on the archive's reference period.

    Computes the training and test frames once (an explicit compute when the pairs are loaded),
    fits the fixed per-channel scaling on the training frames, then trains
    (:func:`lascoproc.degradation.train.train_network`). ``max_minutes`` bounds the whole call,
    loading included. Returns the :class:`~lascoproc.degradation.train.TrainResult`.
    """
    from lascoproc.degradation.train import TrainOptions, fit_scaling, train_network

    started = time.monotonic()
    split = split or ReferenceSplit()
    prep = Preprocessing(channels=tuple(channels), size=size, apodise=apodise,
                         transform=transform, floor=floor)
    aug = Augmentation(alpha_min=alpha_range[0], alpha_max=alpha_range[1], flips=flips,
                       rotate=rotate)
    pairs = reference_pairs(url, prep, split, aug, batch_size=batch_size, seed=seed,
                            storage_options=storage_options)
    train_frames = pairs["train"].load()
    pairs["test"].load()
    config = ModelConfig(
        preprocessing=prep.with_scaling(fit_scaling(train_frames)),
        architecture=Architecture(kind=kind, width=width, pool=pool, alpha_max=aug.alpha_max,
                                  head=head),
        augmentation=aug, split=split,
    )
    budget = None
    if max_minutes is not None:
        budget = max(0.0, 60.0 * max_minutes - (time.monotonic() - started))
    options = TrainOptions(epochs=epochs, max_seconds=budget, batch_size=batch_size,
                           learning_rate=learning_rate, schedule=schedule, seed=seed,
                           device=device, checkpoint_seconds=checkpoint_seconds)
    provenance = {
        "sdoml": str(url), "lascoproc_version": lascoproc.__version__,
        "train_frames": len(pairs["train"]), "test_frames": len(pairs["test"]),
        "train_times": [str(t)[:19] for t in pairs["train"].frames["time"].values[[0, -1]]],
        "command": command or "", "trained_at": dt.datetime.now(dt.UTC).isoformat()[:19],
    }
    return train_network(config, pairs["train"], out, test=pairs["test"], options=options,
                         resume=resume, provenance=provenance, on_checkpoint=on_checkpoint)


def evaluate_models(url: str, models: Mapping[str, Any], *, draws: int = 20, seed: int = 1,
                    device: str = "cpu",
                    storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The paper's metrics for each model and the quiet-Sun baseline on the test months.

    ``models`` maps a label to a model (a shipped name, a path or a loaded model). The test
    frames and the baseline's training frames are the reference split of the first model
    (all models must share channels, size, apodisation and split). Computes the frames of the
    reference period once.
    """
    from lascoproc.degradation.evaluate import QuietSunBaseline, evaluate
    from lascoproc.degradation.model import DegradationModel, load_model

    loaded = {label: m if isinstance(m, DegradationModel) else load_model(m)
              for label, m in models.items()}
    if not loaded:
        raise ValueError("no model to evaluate")
    first = next(iter(loaded.values())).config
    for label, model in loaded.items():
        if model.config.split != first.split:
            raise ValueError(f"model {label!r} was trained on another reference split "
                             f"({model.config.split}) than the first ({first.split})")
    prep = first.preprocessing
    aug = Augmentation(alpha_min=0.01, alpha_max=1.0)  # the paper's test distribution
    pairs = reference_pairs(url, prep, first.split, aug, seed=seed,
                            storage_options=storage_options)
    baseline = QuietSunBaseline.fit(pairs["train"].load(), prep)
    result = evaluate(loaded, pairs["test"], baseline, prep, draws=draws, seed=seed,
                      device=device)
    result.attrs.update({
        "sdoml": str(url), "test_frames": len(pairs["test"]),
        "train_frames": len(pairs["train"]),
        "models": [f"{label}: {m.name} ({m.sha256})" for label, m in loaded.items()],
    })
    return result


@dataclasses.dataclass
class SeriesResult:
    """What :func:`degradation_series` produced: the dataset and the files written."""

    dataset: xr.Dataset
    store: str | None
    csv: str | None
    plots: list[str]
    frames: int
    seconds: float


def degradation_series(
    url: str,
    *,
    model=None,
    start="2010-05-01",
    end="2020-12-31",
    cadence: str = "7D",
    out: str | None = None,
    csv: str | None = None,
    plots: str | None = None,
    sample_every: str | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    truth: Callable[[int, np.ndarray], np.ndarray] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    compute_kwargs: Mapping[str, Any] | None = None,
) -> SeriesResult:
    """The per-channel degradation series of an SDOML archive, and its files.

    Opens the frames between ``start`` and ``end``, builds the lazy graph
    (preprocess with ``DEG_COR`` undone -> CNN per block), computes it once, explicitly, here
    (``compute_kwargs`` go to that compute: ``scheduler=``, a distributed client's defaults
    otherwise), bins the per-frame estimates by ``cadence``, adds the aiapy V10 factor and
    writes what is asked.

    Parameters
    ----------
    model
        A shipped name (default ``"default-multi"``), a path, or a loaded model.
    out
        Zarr store (path or URL) for the series; ``csv`` and ``plots`` default to ``OUT``
        without ``.zarr`` plus ``.csv`` / ``_<wavelength>.png`` when ``out`` is a local path.
    truth
        ``truth(wavelength, times) -> factors`` (the synthetic store's injected degradation):
        added as ``degradation_injected`` and drawn in the plots.
    """
    from lascoproc.degradation.data import preprocess
    from lascoproc.degradation.model import DegradationModel, load_model
    from lascoproc.degradation.series import add_reference, bin_estimates, estimate_frames

    started = time.monotonic()
    loaded = model if isinstance(model, DegradationModel) else load_model(model)
    ds = open_frames(url, loaded.channels, start=start, end=end, sample_every=sample_every,
                     storage_options=storage_options)
    if ds.sizes["time"] == 0:
        raise ValueError(f"{url!r}: no frame with all channels {list(loaded.channels)} between "
                         f"{start} and {end}")
    frames = preprocess(ds, loaded.config.preprocessing, undo_deg_cor=True)
    lazy = estimate_frames(frames, loaded, device=device, batch_size=batch_size)
    estimates = lazy.compute(**dict(compute_kwargs or {}))
    series = add_reference(bin_estimates(estimates, start=start, end=end, cadence=cadence),
                           read_response_table())
    if truth is not None:
        injected = np.stack([truth(int(c), series["time"].values)
                             for c in series["channel"].values], axis=1)
        series["degradation_injected"] = (("time", "channel"), injected, {
            "units": "1", "long_name": "degradation injected in the synthetic archive"})
    series.attrs.update({
        "title": "SDO/AIA degradation factors estimated by CNN auto-calibration",
        "method": ("Dos Santos et al. 2021 (A&A 648, A53): a CNN trained on artificially "
                   "dimmed SDOML frames of the reference period, applied to frames with the "
                   "archive's DEG_COR undone (data * DEG_COR); median per time bin"),
        "reference_period": f"{loaded.config.split.start} .. {loaded.config.split.end}",
        "sdoml_url": str(url),
        "frames_used": int(estimates.sizes["time"]),
        "lascoproc_version": lascoproc.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat()[:19],
        **loaded.provenance(),
    })
    store = csv_path = None
    written: list[str] = []
    if out is not None:
        store, csv_path, written = write_series(series, out, csv=csv, plots=plots,
                                                storage_options=storage_options)
    return SeriesResult(dataset=series, store=store, csv=csv_path, plots=written,
                        frames=int(estimates.sizes["time"]), seconds=time.monotonic() - started)


def _stem(out: str) -> Path | None:
    if protocol_of(str(out)) != "file":
        return None
    path = Path(str(out).removeprefix("file://"))
    return path.with_suffix("") if path.suffix == ".zarr" else path


def write_series(series: xr.Dataset, out: str, *, csv: str | None = None,
                 plots: str | None = None,
                 storage_options: Mapping[str, Any] | None = None):
    """Write the series to a Zarr store, a CSV (long format) and PNG plots.

    The Zarr store is replaced if it exists (the series is small and recomputed as a whole).
    Returns ``(store, csv path or None, plot paths)``.
    """
    from lascoproc.degradation.plot import write_plots

    # write_zarr writes its dask variables region by region: one region, the whole series
    n = max(1, series.sizes["time"])
    from lascoproc.pipeline.regions import write_dataset

    write_dataset(series.chunk({"time": n}), str(out), region_frames=n, overwrite=True,
               storage_options=storage_options)
    stem = _stem(out)
    csv_path = csv or (f"{stem}.csv" if stem is not None else None)
    if csv_path is not None:
        table = series.drop_vars(["time_bin_start", "time_bin_end"]).to_dataframe()
        table = table.reset_index()[["time", "channel", "n_frames", *[
            v for v in ("degradation", "degradation_spread", "degradation_v10", "ratio_to_v10",
                        "degradation_injected") if v in series]]]
        Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(csv_path, index=False, float_format="%.6f")
    plot_stem = plots or (str(stem) if stem is not None else None)
    written = write_plots(series, plot_stem) if plot_stem is not None else []
    return str(out), csv_path, written


def run_demo(sdoml_path, out_dir, *, model=None,
             truth: Callable[[int, np.ndarray], np.ndarray] | None = None,
             cadence: str = "30D") -> dict[str, Any]:
    """The demo's AIA step: the degradation series of a synthetic SDOML store.

    Writes ``OUT_DIR/aia_degradation.zarr``, ``.csv``, ``_<wavelength>.png`` and ``.png`` with
    the shipped multi-channel model over the whole store. Pass the store's
    ``SynthSDOML.degradation`` as ``truth`` to draw the injected curves. Returns a summary:
    paths, frames, seconds and, with ``truth``, the largest ``|estimate - injected|`` per
    channel.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    years = list_years(str(sdoml_path))
    if not years:
        raise ValueError(f"{sdoml_path}: no year group (not an SDOML store?)")
    result = degradation_series(str(sdoml_path), model=model, start=f"{min(years)}-01-01",
                                end=f"{max(years)}-12-31T23:59:59", cadence=cadence,
                                out=str(out_dir / "aia_degradation.zarr"), truth=truth)
    summary: dict[str, Any] = {"store": result.store, "csv": result.csv, "plots": result.plots,
                               "frames": result.frames, "seconds": round(result.seconds, 1)}
    if truth is not None:
        error = np.abs(result.dataset["degradation"] - result.dataset["degradation_injected"])
        summary["max_abs_error"] = {int(c): round(float(error.sel(channel=c).max()), 4)
                                    for c in result.dataset["channel"].values}
    return summary
