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
from lascoproc.degradation.model import _atomic_write, build_network, model_payload, save_model

__all__ = ["TrainOptions", "TrainResult", "fit_scaling", "resolve_device", "train_network"]

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


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else CPU; a CUDA request without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but this torch has no CUDA device")
    return dev


def fit_scaling(frames: np.ndarray) -> tuple[float, ...]:
    """The fixed per-channel scaling: each channel's mean intensity over ``frames`` [DN/s].

    ``frames`` is ``(n, C, y, x)``, undimmed training frames.
    """
    means = np.asarray(frames, dtype=np.float64).mean(axis=(0, 2, 3))
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
    torch.manual_seed(options.seed)
    network = build_network(config).to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=options.learning_rate)
    epoch, spent, history = 0, 0.0, []
    if resume and ckpt_path.is_file():
        state = _load_checkpoint(ckpt_path, config)
        network.load_state_dict(state["model"]["state_dict"])
        optimiser.load_state_dict(state["optimiser"])
        epoch, spent = int(state["epoch"]), float(state["seconds"])
        history = [dict(zip(state["history_keys"], row, strict=True))
                   for row in state["history"]]
        log.info("resuming %s at epoch %d (%.0f s trained)", ckpt_path, epoch, spent)

    def record(train_loss: float) -> dict[str, float]:
        entry = {"epoch": float(epoch), "seconds": spent + time.monotonic() - started,
                 "train_loss": train_loss,
                 "test_loss": _test_loss(network, test, options.test_draws, device)}
        history.append(entry)
        return entry

    def checkpoint(train_loss: float) -> None:
        entry = record(train_loss)
        training = {**(provenance or {}), "epochs": epoch, "seconds": entry["seconds"],
                    "device": str(device), "history": history[-50:]}
        payload = model_payload(network, config, training)
        keys = list(history[0])
        buffer = io.BytesIO()
        torch.save({"model": payload, "optimiser": optimiser.state_dict(), "epoch": epoch,
                    "seconds": entry["seconds"], "history_keys": keys,
                    "history": [[h[k] for k in keys] for h in history]}, buffer)
        _atomic_write(ckpt_path, buffer.getvalue())
        save_model(out, network, config, training)
        if on_checkpoint is not None:
            on_checkpoint(entry)

    stopped = "epochs"
    last_ckpt = time.monotonic()
    running, batches = 0.0, 0
    network.train()
    deadline = None if options.max_seconds is None else started + options.max_seconds
    while epoch < options.epochs and stopped == "epochs":
        for x, alpha in train.batches(epoch):
            if options.schedule != "constant":
                rate = options.learning_rate_at(epoch, spent + time.monotonic() - started)
                for group in optimiser.param_groups:
                    group["lr"] = rate
            x, alpha = x.to(device, non_blocking=True), alpha.to(device, non_blocking=True)
            loss = torch.nn.functional.mse_loss(network(x), alpha)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            running += float(loss.detach())
            batches += 1
            if deadline is not None and time.monotonic() >= deadline:
                stopped = "time"  # the unfinished epoch is redone on --resume
                break
        else:
            epoch += 1
        if stopped == "epochs" and time.monotonic() - last_ckpt >= options.checkpoint_seconds:
            checkpoint(running / max(batches, 1))
            running, batches, last_ckpt = 0.0, 0, time.monotonic()
    checkpoint(running / max(batches, 1) if batches else math.nan)
    network.eval()
    data = Path(out).read_bytes()
    return TrainResult(path=str(out), sha256=hashlib.sha256(data).hexdigest(),
                       epochs_done=epoch, seconds=history[-1]["seconds"], stopped=stopped,
                       history=history, device=str(device))
