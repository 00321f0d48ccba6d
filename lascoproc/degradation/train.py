"""Training the auto-calibration CNNs: MSE on alpha, Adam, checkpoints, resume, time budget.

The loop is the paper's (Dos Santos et al. 2021, Sect. 3): at every epoch each training frame
is dimmed by fresh ``alpha ~ U(alpha_min, alpha_max)`` per channel
(:class:`lascoproc.degradation.data.DimmedPairs`), the network predicts alpha, the loss is the
mean squared error, the optimiser Adam (learning rate 1e-3).

Checkpoints: ``OUT.ckpt`` (network, optimiser, epoch, elapsed time, loss history) is written
atomically every ``checkpoint_seconds`` and at the end; ``resume=True`` continues from it with
the same per-epoch random draws as an uninterrupted run. ``OUT`` itself is a plain weights file
(:func:`lascoproc.degradation.model.save_model`), rewritten at every checkpoint, so a killed
run always leaves a usable model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lascoproc.degradation.config import ModelConfig
from lascoproc.degradation.data import DimmedPairs
from lascoproc.degradation.model import (
    _atomic_write,
    build_network,
    member_outputs,
    model_payload,
    predict,
    save_model,
)

__all__ = ["TrainOptions", "TrainResult", "fit_scaling", "resolve_device", "train_network",
           "calibrate_on_test", "ensemble_loss"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """How a training run goes (not what the model is: that is :class:`ModelConfig`).

    Attributes
    ----------
    epochs
        Passes over the training frames (each with fresh alphas).
    max_seconds
        Stop after this many seconds of the run (``None``: no limit); the model and checkpoint
        are written when it stops.
    batch_size, learning_rate, seed
        Adam on MSE, as the paper; ``seed`` seeds the initial weights and every draw.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available).
    checkpoint_seconds
        Time between checkpoints (and test-loss evaluations).
    weight_decay
        L2 penalty of Adam (0: the paper's).
    torch_threads
        torch's intra-op threads while training on a CPU (``None``: torch's default, one per
        core). A small network is fastest with 1: on this project's 2-core machine, shared,
        the fast recipe did 400 steps a minute with 1 thread and 100 with 2
        (docs/aia_degradation.md).
    test_draws
        Alpha draws per test frame for the test loss.
    schedule
        ``"constant"`` (the paper: Adam at ``learning_rate`` throughout) or ``"cosine"``: the
        rate falls as ``lr (f + (1 - f) (1 + cos(pi p)) / 2)``, ``f = 0.01``, with ``p`` the
        fraction of the run done, the larger of ``epoch / epochs`` and ``seconds /
        max_seconds`` (Loshchilov & Hutter 2017, SGDR, without restarts). Ours, not the
        paper's: the last part of the run at a small rate settles the weights, which is what
        a regression to 0.05 needs. With a time budget ``p`` depends on the clock, so a
        resumed run is close to, not bit-identical with, an uninterrupted one.
    """

    epochs: int = 1000
    max_seconds: float | None = None
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    device: str = "auto"
    checkpoint_seconds: float = 60.0
    test_draws: int = 4
    schedule: str = "constant"
    weight_decay: float = 0.0
    torch_threads: int | None = None

    def __post_init__(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")

    def learning_rate_at(self, epoch: int, seconds: float) -> float:
        """The learning rate ``epoch`` epochs and ``seconds`` seconds into the run."""
        if self.schedule == "constant":
            return self.learning_rate
        done = epoch / max(self.epochs, 1)
        if self.max_seconds:
            done = max(done, seconds / self.max_seconds)
        done = min(max(done, 0.0), 1.0)
        floor = 0.01
        return self.learning_rate * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done)))


@dataclasses.dataclass
class TrainResult:
    """What :func:`train_network` did."""

    path: str
    sha256: str
    epochs_done: int
    seconds: float
    stopped: str  # "epochs" or "time"
    history: list[dict[str, float]]
    device: str
    steps: int = 0
    calibration: dict[str, Any] | None = None


def ensemble_loss(outputs: torch.Tensor, alpha: torch.Tensor,
                  weights: torch.Tensor | None = None, *, log: bool = False) -> torch.Tensor:
    """Mean squared error of every ensemble member, each on its own sample weights.

    ``outputs`` ``(K, N, C)``, ``alpha`` ``(N, C)``, ``weights`` ``(K, N)`` (the online
    bootstrap: Poisson(1) counts per member and sample; ``None``: all ones). The loss is
    ``mean_k [sum_n w_kn mean_c (out_knc - alpha_nc)**2 / sum_n w_kn]``; with one member and
    no weights it is the paper's MSE. ``log``: the error of ``ln(out)`` against ``ln(alpha)``
    (the ``level`` network: its error is a relative one, the same at every dimming).
    """
    if log:
        error = torch.log(outputs.clamp(min=1e-6)) - torch.log(alpha).unsqueeze(0)
    else:
        error = outputs - alpha.unsqueeze(0)
    per_sample = (error**2).mean(dim=-1)  # (K, N)
    if weights is None:
        return per_sample.mean()
    total = weights.sum(dim=1).clamp(min=1.0)
    return ((per_sample * weights).sum(dim=1) / total).mean()


def _bootstrap_weights(seed: int, epoch: int, batch: int, members: int, n: int):
    """Poisson(1) weights ``(members, n)`` of one batch, repeatable from the seed and place."""
    if members == 1:
        return None
    rng = np.random.default_rng([seed, 7, epoch, batch])
    return torch.from_numpy(rng.poisson(1.0, size=(members, n)).astype(np.float32))


#: The dimming factors the calibration on the test frames draws from: the range a degradation
#: series meets (1 to 0.15), not the training range (down to 0.01, where relative errors are
#: meaningless).
CALIBRATION_ALPHA = (0.15, 1.05)


def _step(network, optimiser, x, alpha, weights, device, *, log: bool) -> float:
    """One optimiser step on a batch; returns its loss."""
    x, alpha = x.to(device, non_blocking=True), alpha.to(device, non_blocking=True)
    if weights is not None:
        weights = weights.to(device)
    loss = ensemble_loss(member_outputs(network, x), alpha, weights, log=log)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def calibrate_on_test(network, test: DimmedPairs | None, *, symmetric: bool, draws: int = 8,
                      device="cpu", seed: int | None = None) -> dict[str, Any] | None:
    """The model's error on the test frames, by channel: what its uncertainty is built on.

    Every test frame is dimmed by ``draws`` fixed alphas drawn in :data:`CALIBRATION_ALPHA`
    (:meth:`DimmedPairs.fixed_draws`);
    the prediction (with test-time augmentation if ``symmetric``) is compared with each alpha.
    Returns ``rel_bias`` and ``rel_rms`` (the mean and root mean square of
    ``pred / alpha - 1``), ``abs_rms`` (of ``pred - alpha``) per channel, and the number of
    samples. The test frames were never trained on (other months of the reference period).
    """
    if test is None:
        return None
    network.eval()
    rel, absolute = [], []
    with torch.no_grad():
        for frames, alpha in test.fixed_draws(draws, seed=seed, alpha_range=CALIBRATION_ALPHA):
            x = torch.from_numpy(frames * alpha[:, :, None, None]).to(device)
            pred = predict(network, x, symmetric=symmetric).cpu().numpy()
            rel.append(pred / alpha - 1.0)
            absolute.append(pred - alpha)
    network.train()
    rel = np.concatenate(rel)
    absolute = np.concatenate(absolute)
    return {"rel_bias": rel.mean(axis=0).round(6).tolist(),
            "rel_rms": np.sqrt((rel**2).mean(axis=0)).round(6).tolist(),
            "abs_rms": np.sqrt((absolute**2).mean(axis=0)).round(6).tolist(),
            "samples": int(rel.shape[0]), "draws": int(draws),
            "frames": len(test)}


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else CPU; a CUDA request without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but this torch has no CUDA device")
    return dev


def fit_scaling(frames: np.ndarray, prep=None, kind: str = "multi") -> tuple[float, ...]:
    """The fixed per-channel scaling [DN/s] from undimmed training frames ``(n, C, y, x)``.

    The paper's networks (``multi``, ``single``): each channel's mean intensity. The ``level``
    network: the geometric mean over the frames of each channel's quiet-Sun level (the median
    within 0.9 solar radii, :class:`lascoproc.degradation.model.DiskLevel`), its reference
    level; ``prep`` gives the disk's size.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if kind == "level":
        from lascoproc.kernels.aia_degradation import disk_mask, quiet_sun_level

        mask = disk_mask(frames.shape[-1], prep.radius_px, limit=0.9)
        levels = quiet_sun_level(frames, mask)
        if not np.all(np.isfinite(levels)) or np.any(levels <= 0):
            raise ValueError(f"cannot take the quiet-Sun levels {levels.min(axis=0)}")
        return tuple(float(v) for v in np.exp(np.log(levels).mean(axis=0)))
    means = frames.mean(axis=(0, 2, 3))
    if not np.all(np.isfinite(means)) or np.any(means <= 0):
        raise ValueError(f"cannot scale channels with mean intensities {means}")
    return tuple(float(m) for m in means)


def _test_loss(network, pairs: DimmedPairs | None, draws: int, device) -> float:
    if pairs is None:
        return math.nan
    total, count = 0.0, 0
    network.eval()
    with torch.no_grad():
        for frames, alpha in pairs.fixed_draws(draws):
            x = torch.from_numpy(frames * alpha[:, :, None, None]).to(device)
            pred = network(x).cpu().numpy()
            total += float(((pred - alpha) ** 2).sum())
            count += alpha.size
    network.train()
    return total / max(count, 1)


def _load_checkpoint(path: Path, config: ModelConfig) -> dict[str, Any]:
    data = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    saved = ModelConfig.from_json(data["model"]["config"])
    if saved != config:
        raise ValueError(f"{path}: the checkpoint was trained with another configuration "
                         f"({saved}); start a new run (without --resume) or use the same "
                         "options")
    return data


def train_network(
    config: ModelConfig,
    train: DimmedPairs,
    out,
    *,
    test: DimmedPairs | None = None,
    options: TrainOptions = TrainOptions(),
    resume: bool = False,
    provenance: dict[str, Any] | None = None,
    on_checkpoint: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a CNN on dimmed pairs, checkpointing to ``OUT.ckpt`` and writing ``OUT``.

    Parameters
    ----------
    config
        The model; its preprocessing must carry the scaling (:func:`fit_scaling`).
    train, test
        Training and test pairs (the test pairs only give the test loss in the history).
    out
        Path of the weights file.
    resume
        Continue from ``OUT.ckpt`` (an error if it was trained with another ``config``);
        without it an existing checkpoint is replaced.
    provenance
        Stored in the weights file's ``training`` record (data source, command...).
    on_checkpoint
        Called with each history record.
    """
    started = time.monotonic()
    out = Path(out)
    ckpt_path = out.with_name(out.name + ".ckpt")
    device = resolve_device(options.device)
    threads_before = torch.get_num_threads()
    if options.torch_threads and device.type == "cpu":
        torch.set_num_threads(int(options.torch_threads))
    try:
        return _train(config, train, out, ckpt_path, device, started, test=test,
                      options=options, resume=resume, provenance=provenance,
                      on_checkpoint=on_checkpoint)
    finally:
        torch.set_num_threads(threads_before)


def _train(config, train, out, ckpt_path, device, started, *, test, options, resume,
           provenance, on_checkpoint) -> TrainResult:
    """The training loop of :func:`train_network`."""
    torch.manual_seed(options.seed)
    network = build_network(config).to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=options.learning_rate,
                                 weight_decay=options.weight_decay)
    epoch, spent, history, steps = 0, 0.0, [], 0
    members = config.architecture.ensemble
    if resume and ckpt_path.is_file():
        state = _load_checkpoint(ckpt_path, config)
        network.load_state_dict(state["model"]["state_dict"])
        optimiser.load_state_dict(state["optimiser"])
        epoch, spent = int(state["epoch"]), float(state["seconds"])
        steps = int(state.get("steps", 0))
        history = [dict(zip(state["history_keys"], row, strict=True))
                   for row in state["history"]]
        log.info("resuming %s at epoch %d (%.0f s trained)", ckpt_path, epoch, spent)

    def record(train_loss: float) -> dict[str, float]:
        entry = {"epoch": float(epoch), "seconds": spent + time.monotonic() - started,
                 "train_loss": train_loss,
                 "test_loss": _test_loss(network, test, options.test_draws, device),
                 "steps": float(steps)}
        history.append(entry)
        return entry

    calibration: dict[str, Any] | None = None

    def checkpoint(train_loss: float) -> None:
        entry = record(train_loss)
        training = {**(provenance or {}), "epochs": epoch, "seconds": entry["seconds"],
                    "steps": steps, "samples_seen": steps * train.batch_size,
                    "cpu_seconds": round(time.process_time() - cpu_started, 1),
                    "device": str(device), "history": history[-50:]}
        if calibration is not None:
            training["calibration"] = calibration
        payload = model_payload(network, config, training)
        keys = list(history[0])
        buffer = io.BytesIO()
        torch.save({"model": payload, "optimiser": optimiser.state_dict(), "epoch": epoch,
                    "seconds": entry["seconds"], "steps": steps, "history_keys": keys,
                    "history": [[h[k] for k in keys] for h in history]}, buffer)
        _atomic_write(ckpt_path, buffer.getvalue())
        save_model(out, network, config, training)
        if on_checkpoint is not None:
            on_checkpoint(entry)

    stopped = "epochs"
    cpu_started = time.process_time()
    last_ckpt = time.monotonic()
    running, batches = 0.0, 0
    network.train()
    deadline = None if options.max_seconds is None else started + options.max_seconds
    while epoch < options.epochs and stopped == "epochs":
        for batch, (x, alpha) in enumerate(train.batches(epoch)):
            if options.schedule != "constant":
                rate = options.learning_rate_at(epoch, spent + time.monotonic() - started)
                for group in optimiser.param_groups:
                    group["lr"] = rate
            weights = _bootstrap_weights(options.seed, epoch, batch, members, x.shape[0])
            running += _step(network, optimiser, x, alpha, weights, device,
                             log=config.architecture.kind == "level")
            steps += 1
            batches += 1
            if deadline is not None and time.monotonic() >= deadline:
                stopped = "time"  # the unfinished epoch is redone on --resume
                break
        else:
            epoch += 1
        if stopped == "epochs" and time.monotonic() - last_ckpt >= options.checkpoint_seconds:
            checkpoint(running / max(batches, 1))
            running, batches, last_ckpt = 0.0, 0, time.monotonic()
    calibration = calibrate_on_test(network, test, symmetric=config.augmentation.flips,
                                    device=device)
    checkpoint(running / max(batches, 1) if batches else math.nan)
    network.eval()
    data = Path(out).read_bytes()
    return TrainResult(path=str(out), sha256=hashlib.sha256(data).hexdigest(),
                       epochs_done=epoch, seconds=history[-1]["seconds"], stopped=stopped,
                       history=history, device=str(device), steps=steps,
                       calibration=calibration)
