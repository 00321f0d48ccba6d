"""SDO/AIA degradation from SDOML: index, train, evaluate, time series, demo (wiring only).

Each function opens the archive (:func:`lascoproc.io.sdoml.open_sdoml`, through its frame
index), builds the lazy preprocessing (:mod:`lascoproc.degradation.data`), calls the science
in :mod:`lascoproc.degradation` and writes the outputs. Where data is computed is said in each
docstring; nothing else computes. Every store is written by :func:`write_store`, the one place
that calls the region scheduler (:func:`lascoproc.pipeline.regions.write_cube`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

import lascoproc
from lascoproc.degradation.config import EUV_CHANNELS, ModelConfig
from lascoproc.io.aia_response import read_response_table
from lascoproc.io.fs import get_fs, protocol_of, provenance_location
from lascoproc.io.sdoml import list_channels, list_years, open_sdoml
from lascoproc.io.zarr_store import open_store

__all__ = [
    "SDOML_URL",
    "SeriesResult",
    "open_frames",
    "reference_frames",
    "build_index",
    "train_model",
    "evaluate_models",
    "degradation_series",
    "write_series",
    "write_store",
    "run_demo",
    "DEMO_STORE",
]

log = logging.getLogger(__name__)

#: The public SDOML v2 archive (anonymous S3).
SDOML_URL = "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2.zarr"

#: The synthetic store the demo writes: :func:`lascoproc.testing.sdoml.write_sdoml_store` args.
DEMO_STORE = {"size": 128, "cadence": "30D", "channels": EUV_CHANNELS, "chunks": 16}

#: Frames per region of the per-frame estimates store (the unit of resumption).
SERIES_REGION_FRAMES = 256


# --------------------------------------------------------------------------- frames
def open_frames(url: str, channels: Sequence[int], *, start=None, end=None,
                sample_every: str | None = None, drop_flagged: bool = True,
                keep: Callable[[np.ndarray], np.ndarray] | None = None,
                storage_options: Mapping[str, Any] | None = None, index=None,
                index_storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The lazy SDOML cube of ``channels`` in ``[start, end]``, the unusable frames left out.

    ``keep(times) -> bool mask`` selects further (a series recipe's days and hours). The counts
    of the frames left out, by reason, are in ``attrs["frames_left_out"]``
    (:func:`lascoproc.degradation.data.usable_frames`). Reads metadata only.
    """
    from lascoproc.degradation.data import usable_frames

    ds = open_sdoml(url, channels=list(channels), start=start, end=end,
                    storage_options=storage_options, index=index,
                    index_storage_options=index_storage_options)
    mask = None if keep is None else keep(ds["time"].values)
    return usable_frames(ds, drop_flagged=drop_flagged, sample_every=sample_every,
                         keep=mask)[0]


def _compute(obj, *, client=None, progress: bool = False, desc: str = "computing"):
    """Compute ``obj`` once, explicitly, on ``client`` or the current scheduler, with a
    progress bar when asked (dask's for the threaded scheduler, distributed's with a
    client)."""
    if client is not None:
        future = client.compute(obj)
        if progress:
            from distributed import progress as show

            show(future)
        return future.result()
    if progress:
        from dask.diagnostics import ProgressBar

        print(desc, flush=True)
        with ProgressBar(minimum=1.0):
            return obj.compute()
    return obj.compute()


def reference_frames(url: str, config: ModelConfig, *, client=None, progress: bool = False,
                     storage_options: Mapping[str, Any] | None = None, index=None,
                     ) -> dict[str, Any]:
    """The train and test frames of a model's reference split, computed (in memory).

    The frames are as distributed (divided by ``DEG_COR``), preprocessed as the model is
    (:func:`lascoproc.degradation.data.preprocess`); computed once, here. Frames with a
    non-finite pixel sum are left out and counted.

    Returns
    -------
    dict
        ``train`` and ``test`` (``(time, channel, y, x)`` DataArrays in memory) and
        ``left_out`` (counts by reason, metadata and pixels).
    """
    from lascoproc.degradation.data import preprocess

    split = config.split
    prep = config.preprocessing
    ds = open_frames(url, prep.channels, start=split.start, end=split.end,
                     sample_every=split.sample_every, storage_options=storage_options,
                     index=index)
    masks = split.masks(ds["time"].values)
    for name in ("train", "test"):
        if not masks[name].any():
            raise ValueError(f"{url!r}: no {name} frame in the reference period {split.start} "
                             f".. {split.end} (months {getattr(split, name + '_months')}"
                             + (f", hours {split.hours}" if split.hours else "")
                             + f"; {ds.sizes['time']} usable frames in the period)")
    wanted = np.flatnonzero(masks["train"] | masks["test"])
    frames = preprocess(ds.isel(time=wanted), prep, undo_deg_cor=False)
    values = _compute(frames, client=client, progress=progress,
                      desc=f"reading {wanted.size} reference frames")
    finite = np.isfinite(values.values.sum(axis=(2, 3), dtype=np.float64)).all(axis=1)
    left = dict(ds.attrs.get("frames_left_out", {}))
    left["non_finite_pixels"] = int((~finite).sum())
    out = {"left_out": left}
    for name in ("train", "test"):
        take = masks[name][wanted] & finite
        if not take.any():
            raise ValueError(f"{url!r}: every {name} frame has non-finite pixels")
        out[name] = values.isel(time=np.flatnonzero(take))
    return out


def build_index(url: str, *, out=None, storage_options: Mapping[str, Any] | None = None,
                index_storage_options: Mapping[str, Any] | None = None,
                threads: int = 8) -> dict[str, Any]:
    """Build (or check) the frame index of every year and channel of an SDOML store.

    ``out``: where (a path or URL); the user cache directory by default. An index already
    there and still valid is kept. Reads each array's attributes once when its index is
    (re)built. Returns a summary (location, arrays, frames, seconds).
    """
    from concurrent.futures import ThreadPoolExecutor

    from lascoproc.io.sdoml_index import index_location, load_array_index

    started = time.monotonic()
    jobs = [f"{year}/{channel}" for year in list_years(url, storage_options)
            for channel in list_channels(url, year, storage_options)]
    if not jobs:
        raise ValueError(f"{url!r}: no SDOML year group with a channel array")

    def one(path):
        return load_array_index(url, path, storage_options, index=out,
                                index_storage_options=index_storage_options).n_frames

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        frames = list(pool.map(one, jobs))
    return {"location": index_location(url, out), "arrays": len(jobs),
            "frames": int(sum(frames)), "seconds": round(time.monotonic() - started, 2),
            "per_array": dict(zip(jobs, frames, strict=True))}


# --------------------------------------------------------------------------- training
def _loadavg() -> list[float] | None:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def train_model(
    url: str,
    out,
    *,
    preset: str | None = None,
    device: str = "auto",
    max_minutes: float | None = None,
    epochs: int | None = None,
    seed: int = 0,
    resume: bool = False,
    checkpoint_seconds: float = 60.0,
    storage_options: Mapping[str, Any] | None = None,
    index=None,
    command: str | None = None,
    on_checkpoint: Callable[[dict[str, float]], None] | None = None,
    client=None,
    progress: bool = False,
    announce: Callable[[str], None] | None = None,
    **changes,
):
    """Train a model on the archive's reference period, by a preset and the given changes.

    ``preset``: ``"fast"``, ``"paper"`` or ``None``/``"auto"`` (by the device:
    :func:`lascoproc.degradation.presets.choose_preset`); ``changes`` replace single fields of
    the recipe (:func:`lascoproc.degradation.presets.recipe`: ``size``, ``kind``, ``width``,
    ``flips``, ``train_months``...). The reference frames are computed once, explicitly (on
    ``client`` when given); the per-channel scaling is fitted on the training frames unless the
    preset fixes it (the paper); then :func:`lascoproc.degradation.train.train_network`.
    ``max_minutes`` bounds the whole call, loading included. Returns the
    :class:`~lascoproc.degradation.train.TrainResult`; the chosen preset and why are logged
    (and passed to ``announce``) and written into the model file.
    """
    from lascoproc.degradation.data import DimmedPairs
    from lascoproc.degradation.presets import choose_preset, recipe
    from lascoproc.degradation.train import (
        TrainOptions,
        fit_scaling,
        resolve_device,
        train_network,
    )

    started = time.monotonic()
    load_before = _loadavg()
    resolved = resolve_device(device)
    name, reason = choose_preset(preset, str(resolved))
    log.info("preset %s (%s)", name, reason)
    if announce is not None:
        announce(f"preset {name}: {reason}")
    plan = recipe(name, **changes)
    config = ModelConfig(preprocessing=plan.preprocessing, architecture=plan.architecture,
                         augmentation=plan.augmentation, split=plan.split, series=plan.series,
                         preset=name)
    frames = reference_frames(url, config, client=client, progress=progress,
                              storage_options=storage_options, index=index)
    train = DimmedPairs(frames["train"], config.augmentation, batch_size=plan.batch_size,
                        seed=seed)
    test = DimmedPairs(frames["test"], config.augmentation, batch_size=plan.batch_size,
                       seed=seed + 7919)
    if config.preprocessing.scaling is None:
        scaling = fit_scaling(train.load(), config.preprocessing, config.architecture.kind)
        config = dataclasses.replace(
            config, preprocessing=config.preprocessing.with_scaling(scaling))
    budget = None
    if max_minutes is not None:
        budget = max(0.0, 60.0 * max_minutes - (time.monotonic() - started))
    options = TrainOptions(**{**plan.options(), **({"epochs": epochs} if epochs else {})},
                           max_seconds=budget, seed=seed, device=str(resolved),
                           checkpoint_seconds=checkpoint_seconds)
    provenance = {
        "sdoml": provenance_location(str(url)), "lascoproc_version": lascoproc.__version__,
        "preset": name, "preset_reason": reason,
        "train_frames": len(train), "test_frames": len(test),
        "frames_left_out": frames["left_out"],
        "train_times": [str(t)[:19] for t in train.frames["time"].values[[0, -1]]],
        "command": command or "", "trained_at": dt.datetime.now(dt.UTC).isoformat()[:19],
        "load_average_at_start": load_before,
        "loading_seconds": round(time.monotonic() - started, 1),
    }
    bar = _training_bar(progress, budget, options.epochs)

    def report(entry):
        if bar is not None:
            bar(entry)
        if on_checkpoint is not None:
            on_checkpoint(entry)

    result = train_network(config, train, out, test=test, options=options, resume=resume,
                           provenance=provenance, on_checkpoint=report)
    if bar is not None:
        bar(None)
    return result


def _training_bar(progress: bool, budget: float | None, epochs: int):
    """A tqdm bar over the time budget (or the epochs), advanced at each checkpoint."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    total = budget if budget else float(epochs)
    unit = "s" if budget else "epoch"
    bar = tqdm(total=round(total), desc="training", unit=unit)

    def update(entry):
        if entry is None:
            bar.close()
            return
        done = entry["seconds"] if budget else entry["epoch"]
        bar.n = min(round(done), bar.total)
        bar.set_postfix(steps=int(entry.get("steps", 0)),
                        test_loss=f"{entry['test_loss']:.5f}")
        bar.refresh()

    return update


def evaluate_models(url: str, models: Mapping[str, Any], *, draws: int = 20, seed: int = 1,
                    device: str = "cpu", storage_options: Mapping[str, Any] | None = None,
                    index=None, client=None, progress: bool = False) -> xr.Dataset:
    """The paper's metrics for each model and the quiet-Sun baseline on the test months.

    ``models`` maps a label to a model (a shipped name, a path or a loaded model). The test
    frames and the baseline's training frames are the reference split of the first model
    (all models must share channels, size, apodisation and split). Computes the frames of the
    reference period once (on ``client`` when given).
    """
    from lascoproc.degradation.config import Augmentation
    from lascoproc.degradation.data import DimmedPairs
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
    frames = reference_frames(url, first, client=client, progress=progress,
                              storage_options=storage_options, index=index)
    train = DimmedPairs(frames["train"], aug, seed=seed)
    test = DimmedPairs(frames["test"], aug, seed=seed)
    baseline = QuietSunBaseline.fit(train.load(), prep)
    result = evaluate(loaded, test, baseline, prep, draws=draws, seed=seed, device=device)
    result.attrs.update({
        "sdoml": provenance_location(str(url)), "test_frames": len(test),
        "train_frames": len(train),
        "models": [f"{label}: {m.name} ({m.sha256})" for label, m in loaded.items()],
        "frames_left_out": str(frames["left_out"]),
    })
    return result


# --------------------------------------------------------------------------- the series
@dataclasses.dataclass
class SeriesResult:
    """What :func:`degradation_series` produced: the dataset and the files written."""

    dataset: xr.Dataset
    store: str | None
    frames_store: str | None
    csv: str | None
    plots: list[str]
    frames: int
    seconds: float
    left_out: dict[str, int]
    report: Any = None


def _sibling(out: str, suffix: str) -> str:
    """``OUT`` without ``.zarr`` plus ``suffix``: ``series.zarr`` -> ``series_frames.zarr``."""
    text = str(out).rstrip("/")
    stem = text[:-5] if text.endswith(".zarr") else text
    return f"{stem}{suffix}"


def _exists(url: str, storage_options) -> bool:
    fs, path = get_fs(url, storage_options)
    return fs.exists(path)


def write_store(ds: xr.Dataset, store: str, *, region_frames: int, resume: bool = False,
                overwrite: bool = False, definition: Mapping[str, Any] | None = None,
                open_range: Callable[[slice], xr.Dataset] | None = None,
                storage_options: Mapping[str, Any] | None = None, client=None, progress=None):
    """Write a ``time`` cube by regions (:func:`lascoproc.pipeline.regions.write_cube`).

    ``ds`` is the cube itself, or with ``open_range`` its template (every frame's coordinates,
    placeholder data): each time range is then built only when its regions are due. The one
    call of the region scheduler in this module.
    """
    from lascoproc.pipeline.regions import write_cube

    return write_cube(store, ds, open_range or (lambda rng: ds.isel(time=rng)),
                      definition=definition, region_frames=region_frames, resume=resume,
                      overwrite=overwrite, storage_options=storage_options, client=client,
                      progress=progress)


#: ``long_name`` and ``units`` of the per-frame store's variables and coordinates.
_FRAME_ATTRS = {
    "degradation": {"units": "1", "long_name": "estimated degradation factor of the frame "
                                               "(ensemble mean; NaN: non-finite pixel sum)"},
    "member_spread": {"units": "1", "long_name": "standard deviation of the ensemble members' "
                                                 "estimates"},
    "pixels_finite": {"long_name": "every pixel of the frame's channel image is finite"},
    "degradation_uncertainty": {"units": "1", "long_name": (
        "per-frame uncertainty: ensemble spread and the model's relative error on its test "
        "months, in quadrature")},
    "time": {"long_name": "observation time of the frame (SDOML index)"},
    "channel": {"units": "angstrom", "long_name": "AIA EUV channel (wavelength)"},
    "t_obs": {"long_name": "T_OBS of the channel's image (SDOML)"},
    "exptime": {"units": "s", "long_name": "EXPTIME of the channel's image (SDOML)"},
    "deg_cor": {"units": "1", "long_name": "DEG_COR the SDOML image was divided by (undone "
                                           "before estimating)"},
    "quality": {"long_name": "QUALITY word of the channel's image (SDOML)"},
    "storage_chunk": {"long_name": "SDOML storage chunk the image was read from (year * 1e7 + "
                                   "its number in the year's array)"},
}


def _estimates_template(ds: xr.Dataset, region_frames: int,
                        attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The per-frame store's template: every frame's coordinates, placeholder estimates, what
    each is (:data:`_FRAME_ATTRS`) and the store's ``attrs`` (provenance)."""
    n, c = ds.sizes["time"], ds.sizes["channel"]
    chunks = (min(region_frames, max(n, 1)), c)
    coords = {name: ds[name].copy() for name in ("time", "channel", "t_obs", "exptime",
                                                 "deg_cor", "quality") if name in ds.coords}
    template = xr.Dataset(
        {"degradation": (("time", "channel"), da.zeros((n, c), dtype=np.float32, chunks=chunks)),
         "member_spread": (("time", "channel"), da.zeros((n, c), dtype=np.float32, chunks=chunks)),
         "pixels_finite": (("time", "channel"), da.zeros((n, c), dtype=bool, chunks=chunks)),
         "degradation_uncertainty": (("time", "channel"),
                                     da.zeros((n, c), dtype=np.float32, chunks=chunks))},
        coords=coords, attrs=dict(attrs or {}))
    for name, described in _FRAME_ATTRS.items():
        if name in template.variables:
            template[name].attrs = {**template[name].attrs, **described}
    return template


def degradation_series(
    url: str,
    *,
    model=None,
    start="2010-05-01",
    end="2020-12-31T23:59:59",
    cadence: str | None = None,
    aggregate: str | None = None,
    reference_error: float | None = None,
    out: str | None = None,
    frames_out: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    csv: str | None = None,
    plots: str | None = None,
    sample_every: str | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    truth: Callable[[int, np.ndarray], np.ndarray] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    out_storage_options: Mapping[str, Any] | None = None,
    index=None,
    region_frames: int = SERIES_REGION_FRAMES,
    client=None,
    progress: Any = None,
) -> SeriesResult:
    """The per-channel degradation series of an SDOML archive, and its files.

    1. The usable frames between ``start`` and ``end`` (the model's series recipe may keep
       only some days and hours; flagged, short, and non-finite ``EXPTIME``/``DEG_COR`` frames
       are left out and counted), preprocessed with ``DEG_COR`` undone, and the model's
       per-frame estimates (:func:`lascoproc.degradation.series.estimate_frames`).
    2. With ``out``: the estimates are written by regions into ``frames_out`` (default
       ``OUT_frames.zarr``; :func:`write_store`), each region's graph built when it is due and
       computed there (on ``client`` when given); ``resume`` continues a stopped run,
       ``overwrite`` replaces the stores, and an existing ``out`` without either is refused.
       Without ``out``, the estimates are computed once, here.
    3. The estimates are binned (``cadence``, ``aggregate`` and ``reference_error``: the
       model's recipe unless given), with per-bin uncertainty and counts
       (:func:`lascoproc.degradation.series.bin_estimates`), the aiapy V10 factor added, and
       ``out`` (Zarr), the CSV and the plots written (``out_storage_options``, not the
       input's, for the output stores; ``csv``/``plots`` default to ``OUT`` without ``.zarr``
       for a local ``out``).

    Parameters
    ----------
    model
        A shipped name (default ``"default"``), a path, or a loaded model.
    truth
        ``truth(wavelength, times) -> factors`` (a synthetic store's injected degradation):
        aggregated over each bin's frames like the estimates, as ``degradation_injected``.
    """
    from lascoproc.degradation.data import preprocess
    from lascoproc.degradation.model import DegradationModel, load_model
    from lascoproc.degradation.series import (
        add_reference,
        bin_estimates,
        estimate_frames,
        frame_uncertainty,
    )

    started = time.monotonic()
    loaded = model if isinstance(model, DegradationModel) else load_model(model)
    recipe = loaded.config.series
    cadence = cadence or recipe.cadence
    aggregate = aggregate or recipe.aggregate
    if reference_error is None:
        reference_error = recipe.reference_error
    out_options = dict(out_storage_options or {})
    if out is not None:
        frames_out = frames_out or _sibling(out, "_frames.zarr")
        if not (resume or overwrite):
            for target in (out, frames_out):
                if _exists(target, out_options):
                    raise FileExistsError(f"{target} exists: pass --resume to continue the "
                                          "run or --overwrite to replace it")
    ds = open_frames(url, loaded.channels, start=start, end=end, sample_every=sample_every,
                     keep=recipe.keep, storage_options=storage_options, index=index)
    if ds.sizes["time"] == 0:
        raise ValueError(f"{url!r}: no usable frame with all channels {list(loaded.channels)} "
                         f"between {start} and {end}")
    prep = loaded.config.preprocessing

    calibration = loaded.training.get("calibration")

    def estimates_of(part: xr.Dataset) -> xr.Dataset:
        frames = preprocess(part, prep, undo_deg_cor=True).chunk({"time": region_frames})
        est = estimate_frames(frames, loaded, device=device, batch_size=batch_size)
        est["degradation_uncertainty"] = frame_uncertainty(est, calibration).astype(
            np.float32).assign_attrs(units="1", long_name=(
                "per-frame uncertainty: ensemble spread and the model's relative error on "
                "its test months, in quadrature"))
        return est

    report = None
    if out is not None:
        template = _estimates_template(ds, region_frames, attrs={
            "title": "SDO/AIA per-frame degradation estimates by CNN auto-calibration",
            "sdoml_url": provenance_location(str(url)), "sample_every": str(sample_every or ""),
            "lascoproc_version": lascoproc.__version__, **loaded.provenance()})
        definition = {"model_sha256": loaded.sha256, "sdoml_url": provenance_location(str(url)),
                      "sample_every": sample_every}
        report = write_store(template, frames_out, region_frames=region_frames, resume=resume,
                             overwrite=overwrite, definition=definition,
                             open_range=lambda rng: estimates_of(ds.isel(time=rng)),
                             storage_options=out_options, client=client, progress=progress)
        if not report.complete:
            raise RuntimeError(f"{frames_out}: {len(report.failed)} regions failed "
                               f"({'; '.join(str(f) for f in report.failed[:3])}); rerun "
                               "with --resume to retry them")
        estimates = open_store(frames_out, out_options)[
            ["degradation", "member_spread", "pixels_finite", "degradation_uncertainty"]].load()
    else:
        estimates = _compute(estimates_of(ds), client=client, progress=bool(progress),
                             desc=f"estimating {ds.sizes['time']} frames")
    series = bin_estimates(estimates, start=start, end=end, cadence=cadence,
                           aggregate=aggregate, calibration=calibration,
                           reference_error=reference_error)
    series = add_reference(series, read_response_table(),
                           normalise=recipe.normalise_reference)
    if truth is not None:
        times = estimates["time"].values
        injected = np.stack([truth(int(c), times) for c in estimates["channel"].values], axis=1)
        usable = np.all(np.isfinite(np.asarray(estimates["degradation"].values)), axis=1)
        injected[~usable] = np.nan
        truth_frames = xr.Dataset({"degradation": (("time", "channel"), injected)},
                                  coords={"time": times, "channel": estimates["channel"]})
        binned = bin_estimates(truth_frames, start=start, end=end, cadence=cadence,
                               aggregate=aggregate)
        series["degradation_injected"] = (("time", "channel"), binned["degradation"].values, {
            "units": "1", "long_name": "degradation injected in the synthetic archive, "
                                       f"aggregated ({aggregate}) over the bin's frames"})
    left = dict(ds.attrs.get("frames_left_out", {}))
    left["non_finite_pixels"] = int(series.attrs["frames_left_out_non_finite"])
    series.attrs.update({
        "title": "SDO/AIA degradation factors estimated by CNN auto-calibration",
        "method": (f"{loaded.kind} network (preset {loaded.config.preset}) trained on "
                   "artificially dimmed SDOML frames of the reference period, applied to frames "
                   f"with the archive's DEG_COR undone (data * DEG_COR); {aggregate} per time "
                   "bin"),
        "reference_period": f"{loaded.config.split.start} .. {loaded.config.split.end}",
        "sdoml_url": provenance_location(str(url)),
        "frames_used": int(series["n_frames"].sum()),
        "frames_left_out": ", ".join(f"{k}: {v}" for k, v in left.items()),
        "reference_normalised": int(recipe.normalise_reference),
        "lascoproc_version": lascoproc.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat()[:19],
        **loaded.provenance(),
    })
    store = csv_path = None
    written: list[str] = []
    if out is not None:
        store, csv_path, written = write_series(series, out, csv=csv, plots=plots,
                                                storage_options=out_options)
    return SeriesResult(dataset=series, store=store, frames_store=frames_out, csv=csv_path,
                        plots=written, frames=int(series["n_frames"].sum()),
                        seconds=time.monotonic() - started, left_out=left, report=report)


def _stem(out: str) -> Path | None:
    if protocol_of(str(out)) != "file":
        return None
    path = Path(str(out).removeprefix("file://"))
    return path.with_suffix("") if path.suffix == ".zarr" else path


#: Columns of the series CSV, in order (those present).
CSV_COLUMNS = ("degradation", "degradation_uncertainty", "degradation_spread",
               "degradation_v10", "ratio_to_v10", "degradation_injected")


def write_series(series: xr.Dataset, out: str, *, csv: str | None = None,
                 plots: str | None = None,
                 storage_options: Mapping[str, Any] | None = None):
    """Write the series to a Zarr store (replaced: it is derived from the frames store), a
    CSV (long format: one row per time and channel) and PNG plots.

    Returns ``(store, csv path or None, plot paths)``.
    """
    from lascoproc.degradation.plot import write_plots

    n = max(1, series.sizes["time"])
    # the data variables as one dask chunk; the coordinates (time bins) stay in memory,
    # written with the store's template
    lazy = series.chunk({"time": n}).assign_coords(
        {name: series[name].variable for name in series.coords if name not in series.indexes})
    write_store(lazy, str(out), region_frames=n, overwrite=True,
                storage_options=storage_options)
    stem = _stem(out)
    csv_path = csv or (f"{stem}.csv" if stem is not None else None)
    if csv_path is not None:
        table = series.drop_vars(["time_bin_start", "time_bin_end"]).to_dataframe()
        table = table.reset_index()[["time", "channel", "n_frames",
                                     *[v for v in CSV_COLUMNS if v in series]]]
        Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(csv_path, index=False, float_format="%.6f")
    plot_stem = plots or (str(stem) if stem is not None else None)
    written = write_plots(series, plot_stem) if plot_stem is not None else []
    return str(out), csv_path, written


def run_demo(sdoml_path, out_dir, *, model=None,
             truth: Callable[[int, np.ndarray], np.ndarray] | None = None,
             cadence: str = "30D") -> dict[str, Any]:
    """The demo's AIA step: the degradation series of a synthetic SDOML store.

    Writes ``OUT_DIR/aia_degradation.zarr`` (and ``_frames.zarr``: ``frames_store``), ``.csv``,
    ``_<wavelength>.png`` and ``.png`` with the shipped model over the whole store (replacing
    an earlier demo's). Pass the store's ``SynthSDOML.degradation`` as ``truth`` to draw the
    injected curves. Returns a summary: paths, frames, seconds and, with ``truth``, the share of
    (bin, channel) pairs within 0.05 of the injected degradation and within two standard
    uncertainties of it, and the largest ``|estimate - injected|`` per channel.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    years = list_years(str(sdoml_path))
    if not years:
        raise ValueError(f"{sdoml_path}: no year group (not an SDOML store?)")
    result = degradation_series(str(sdoml_path), model=model, start=f"{min(years)}-01-01",
                                end=f"{max(years)}-12-31T23:59:59", cadence=cadence,
                                out=str(out_dir / "aia_degradation.zarr"), overwrite=True,
                                truth=truth)
    summary: dict[str, Any] = {"store": result.store, "frames_store": result.frames_store,
                               "csv": result.csv, "plots": result.plots,
                               "frames": result.frames, "seconds": round(result.seconds, 1)}
    if truth is not None:
        error = np.abs(result.dataset["degradation"] - result.dataset["degradation_injected"])
        summary["max_abs_error"] = {int(c): round(float(error.sel(channel=c).max()), 4)
                                    for c in result.dataset["channel"].values}
        summary["share_within_005"] = round(float((error < 0.05).mean()), 4)
        summary["share_within_2sigma"] = round(float(
            (error <= 2 * result.dataset["degradation_uncertainty"]).mean()), 4)
    return summary
