"""The paper's evaluation: success rate at a tolerance, per channel, CNNs against a baseline.

Dos Santos et al. 2021 (Sect. 4) score a model by the fraction of test samples whose predicted
dimming factor is within a tolerance of the true one, ``|alpha_pred - alpha_true| < 0.05``,
per channel; we also give it at 0.1 and the mean absolute error. Every method is scored on the
same samples: each test frame dimmed by the same fixed draws of alpha.

The non-ML baseline (:class:`QuietSunBaseline`) is the astronomer's estimate from quiet-Sun
intensity statistics: a channel's dimming is the ratio of the frame's quiet-Sun level (median
of the on-disk pixels, :func:`lascoproc.kernels.aia_degradation.quiet_sun_level`) to the mean
quiet-Sun level of the undimmed training frames.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import xarray as xr

from lascoproc.degradation.config import Preprocessing
from lascoproc.degradation.data import DimmedPairs
from lascoproc.degradation.model import DegradationModel, predict
from lascoproc.kernels.aia_degradation import disk_mask, quiet_sun_level

__all__ = ["TOLERANCES", "success_rate", "QuietSunBaseline", "evaluate", "format_table"]

#: Tolerances of the success rate (the paper's 0.05, and 0.1).
TOLERANCES = (0.05, 0.1)

#: Fraction of the solar radius inside which the baseline takes its quiet-Sun median.
BASELINE_DISK = 0.9


def success_rate(pred: np.ndarray, true: np.ndarray, tolerance: float) -> np.ndarray:
    """Fraction of samples with ``|pred - true| < tolerance``, per channel: ``(n, C) -> (C,)``."""
    return np.mean(np.abs(np.asarray(pred) - np.asarray(true)) < tolerance, axis=0)


@dataclasses.dataclass(frozen=True)
class QuietSunBaseline:
    """``alpha = quiet_sun_level(frame) / reference_level``, per channel."""

    reference_level: tuple[float, ...]
    size: int
    radius_px: float

    @classmethod
    def fit(cls, frames: np.ndarray, prep: Preprocessing) -> QuietSunBaseline:
        """Reference levels from undimmed training frames ``(n, C, y, x)``."""
        mask = disk_mask(prep.size, prep.radius_px, limit=BASELINE_DISK)
        levels = quiet_sun_level(frames, mask).mean(axis=0)
        return cls(tuple(float(v) for v in levels), prep.size, prep.radius_px)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Dimming factors of frames ``(n, C, y, x)``: ``(n, C)``."""
        mask = disk_mask(self.size, self.radius_px, limit=BASELINE_DISK)
        return quiet_sun_level(frames, mask) / np.asarray(self.reference_level)


def _predict(model: DegradationModel, frames: np.ndarray, device) -> np.ndarray:
    x = torch.from_numpy(frames).to(device)
    return predict(model.network, x, symmetric=model.symmetric).cpu().numpy()


def _check_compatible(models: dict[str, DegradationModel], prep: Preprocessing) -> None:
    for name, model in models.items():
        p = model.config.preprocessing
        if (p.channels, p.size, p.apodise) != (prep.channels, prep.size, prep.apodise):
            raise ValueError(f"model {name!r} takes channels {p.channels}, size {p.size}, "
                             f"apodise {p.apodise}; the test frames are {prep.channels}, "
                             f"size {prep.size}, apodise {prep.apodise}")


def evaluate(
    models: dict[str, DegradationModel],
    test: DimmedPairs,
    baseline: QuietSunBaseline,
    prep: Preprocessing,
    *,
    draws: int = 20,
    seed: int = 1,
    device: str = "cpu",
) -> xr.Dataset:
    """Success rates and mean absolute error of each model and the baseline on the test pairs.

    Parameters
    ----------
    models
        Name -> model (e.g. ``{"multi-channel": ..., "single-channel": ...}``); all must take
        the test frames' channels, size and apodisation.
    test
        The test frames (:class:`DimmedPairs`; its augmentation gives the alpha range).
    baseline
        The fitted non-ML baseline.
    draws
        Alpha draws per test frame.

    Returns
    -------
    xarray.Dataset
        Over ``(estimator, channel)``: ``success_005``, ``success_010`` (fractions), ``mae``; and
        ``n_samples``. Estimators in the order given, then ``"baseline"``.
    """
    _check_compatible(models, prep)
    dev = torch.device(device)
    for model in models.values():
        model.network.to(dev)
    names = [*models, "baseline"]
    preds: dict[str, list[np.ndarray]] = {n: [] for n in names}
    truth = []
    for frames, alpha in test.fixed_draws(draws, seed=seed):
        dimmed = frames * alpha[:, :, None, None]
        for name, model in models.items():
            preds[name].append(_predict(model, dimmed, dev))
        preds["baseline"].append(baseline.predict(dimmed))
        truth.append(alpha)
    for model in models.values():
        model.network.to("cpu")
    true = np.concatenate(truth)
    data = {"success_005": [], "success_010": [], "mae": []}
    for name in names:
        pred = np.concatenate(preds[name])
        data["success_005"].append(success_rate(pred, true, 0.05))
        data["success_010"].append(success_rate(pred, true, 0.1))
        data["mae"].append(np.mean(np.abs(pred - true), axis=0))
    coords = {"estimator": np.array(names, dtype=object),
              "channel": ("channel", np.array(prep.channels), {"units": "angstrom"})}
    return xr.Dataset(
        {
            "success_005": (("estimator", "channel"), np.array(data["success_005"]),
                            {"long_name": "fraction of samples with |alpha_pred - alpha| < 0.05"}),
            "success_010": (("estimator", "channel"), np.array(data["success_010"]),
                            {"long_name": "fraction of samples with |alpha_pred - alpha| < 0.1"}),
            "mae": (("estimator", "channel"), np.array(data["mae"]),
                    {"long_name": "mean |alpha_pred - alpha|"}),
        },
        coords=coords,
        attrs={"n_samples": int(true.shape[0]), "draws_per_frame": int(draws),
               "alpha_range": [test.augmentation.alpha_min, test.augmentation.alpha_max]},
    )


def format_table(result: xr.Dataset) -> str:
    """A markdown table: one row per channel, success@0.05 / success@0.1 / MAE per method."""
    methods = [str(m) for m in result["estimator"].values]
    head = "| channel | " + " | ".join(f"{m} @0.05 | {m} @0.1 | {m} MAE" for m in methods) + " |"
    rule = "|---:|" + "---:|" * (3 * len(methods))
    lines = [head, rule]
    rows = [(str(int(c)), {m: result.sel(channel=c, estimator=m) for m in methods})
            for c in result["channel"].values]
    mean = result.mean("channel")
    rows.append(("mean", {m: mean.sel(estimator=m) for m in methods}))
    for label, cells in rows:
        parts = []
        for m in methods:
            cell = cells[m]
            parts.append(f"{100 * float(cell['success_005']):.1f}% | "
                         f"{100 * float(cell['success_010']):.1f}% | {float(cell['mae']):.3f}")
        lines.append(f"| {label} | " + " | ".join(parts) + " |")
    return "\n".join(lines)
