"""Training of the inpainting network on level-1 cubes, with checkpoints and resumption (torch).

``train(stores, checkpoint, config=TrainConfig())`` draws batches of tiles from the level-1
stores with random block holes (:mod:`lascoproc.inpaint.data`), fills the holes classically
when the network refines such a fill (``ModelConfig.prior``), runs the network under
autocast when asked (``amp``), and minimises :func:`lascoproc.inpaint.losses.inpainting_loss`
with Adam and a cosine learning-rate decay. The checkpoint (a ``torch.save`` dictionary,
loaded with ``weights_only=True``) holds the model, optimiser, scheduler and gradient-scaler
states, the step and the loss history; it is written atomically every
``checkpoint_every`` steps, at the end, and when ``max_seconds`` runs out.

Reproducible resumption: the model is initialised from ``seed``, batch ``s`` is a function of
``(seed, s)`` only, and there is no dropout, so ``train(..., resume=True)`` after an
interruption continues with exactly the batches and optimiser state of an uninterrupted run
(same device and threads: bit-identical weights on the CPU).

:func:`export_weights` turns a checkpoint into a weights file
(:mod:`lascoproc.inpaint.model_registry`) and returns its SHA-256.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from lascoproc.inpaint.data import HoleSpec, LevelOneFrames
from lascoproc.inpaint.fallback import interpolate_holes
from lascoproc.inpaint.inference import AMP_DTYPES, default_device
from lascoproc.inpaint.losses import LossWeights, feature_extractor, inpainting_loss
from lascoproc.inpaint.model import ModelConfig, PConvUNet
from lascoproc.inpaint.model_registry import save_weights

__all__ = ["TrainConfig", "TrainResult", "train", "export_weights", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "lascoproc.inpaint.checkpoint"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What a training run *is* (hashable; stored in the checkpoint).

    Attributes
    ----------
    model, loss
        Network size (:class:`~lascoproc.inpaint.model.ModelConfig`) and loss weights
        (:class:`~lascoproc.inpaint.losses.LossWeights`).
    steps, batch_size, tile
        Optimiser steps, tiles per step, tile edge in pixels (a multiple of 32 and of
        ``2^depth``).
    learning_rate, final_lr_fraction
        Adam's rate, decayed along a cosine to ``final_lr_fraction`` of it at ``steps``.
    seed
        Seeds the model, the feature extractor and every batch.
    holes
        How holes are drawn (:class:`~lascoproc.inpaint.data.HoleSpec`).
    ring
        Width (pixels) of the ring of known pixels scored around each hole.
    min_observed
        Least observed fraction of a tile.
    features
        Feature extractor of the perceptual and style terms: ``"random"`` or ``"none"``.
    amp
        ``"auto"`` (bf16 on CUDA, none on the CPU), ``"none"``, ``"bf16"`` or ``"fp16"``
        (fp16 with a gradient scaler).
    """

    model: ModelConfig = ModelConfig()
    loss: LossWeights = LossWeights()
    steps: int = 1000
    batch_size: int = 8
    tile: int = 128
    learning_rate: float = 1.0e-3
    final_lr_fraction: float = 0.1
    seed: int = 0
    holes: HoleSpec = HoleSpec()
    ring: int = 4
    min_observed: float = 0.5
    features: str = "random"
    amp: str = "auto"

    def __post_init__(self):
        multiple = math.lcm(32, 2 ** self.model.depth)
        if self.tile % multiple:
            raise ValueError(f"tile {self.tile} must be a multiple of {multiple}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.amp not in ("auto", "none", *AMP_DTYPES):
            raise ValueError(f"amp must be auto, none, bf16 or fp16, not {self.amp!r}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in names}  # e.g. options of older files
        data["model"] = ModelConfig(**{"prior": "none", **data["model"]})  # see load_model
        data["loss"] = LossWeights(**data["loss"])
        holes = dict(data["holes"])
        holes["holes"] = tuple(holes["holes"])
        data["holes"] = HoleSpec(**holes)
        return cls(**data)


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did."""

    checkpoint: str
    step: int
    steps: int
    seconds: float
    history: list[dict[str, float]]
    finished: bool


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return AMP_DTYPES.get(amp)


def _schedule(config: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        progress = min(step / max(config.steps, 1), 1.0)
        low = config.final_lr_fraction
        return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def _batch(frames: LevelOneFrames, config: TrainConfig, step: int, device: torch.device):
    """Tensors ``(truth, known, observed, prior, usable)`` of step ``step`` (the last two
    ``None`` for a network without a prior)."""
    rng = np.random.default_rng([config.seed, step])
    truth, observed, holes = frames.sample_tiles(rng, config.batch_size, config.tile,
                                                 config.holes,
                                                 min_observed=config.min_observed)
    known = observed & ~holes

    def tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[:, None].to(device)

    prior = usable = None
    if config.model.prior != "none":
        usable = known | holes
        prior = np.stack([interpolate_holes(np.where(known[i], truth[i], np.nan), holes[i],
                                            kind=config.model.prior)
                          for i in range(truth.shape[0])])
        prior = tensor(np.where(usable, prior, 0.0))
        usable = tensor(usable)
    return tensor(truth), tensor(known), tensor(observed), prior, usable


def _save(path: str, content: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    torch.save(content, tmp)
    os.replace(tmp, path)


def _resume(checkpoint: str, config: TrainConfig, device: torch.device, model, optimiser,
            scheduler, scaler) -> tuple[int, list, float, float]:
    """Load a checkpoint into the run's objects; ``(step, history, seconds, cpu_seconds)``."""
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{checkpoint} is not a lascoproc inpainting checkpoint")
    saved = TrainConfig.from_dict(state["config"])
    if dataclasses.replace(saved, steps=config.steps) != config:
        raise ValueError(f"{checkpoint} was trained with another configuration; "
                         "resume with the same options (only --steps may change)")
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    log.info("resuming %s at step %d", checkpoint, int(state["step"]))
    return (int(state["step"]), list(state["history"]), float(state.get("seconds", 0.0)),
            float(state.get("cpu_seconds", 0.0)))


def train(stores: Sequence[str | os.PathLike | xr.Dataset], checkpoint: str | os.PathLike, *,
          config: TrainConfig = TrainConfig(), resume: bool = False,
          device: str | None = None, max_seconds: float | None = None,
          stop_at: int | None = None, checkpoint_every: int = 100, cache_frames: int = 64,
          log_every: int = 10, progress: bool = False) -> TrainResult:
    """Train (or continue training) the network; returns where it stopped.

    Parameters
    ----------
    stores
        Level-1 Zarr stores (paths/URLs) or datasets to draw tiles from.
    checkpoint
        Checkpoint file to write (and, with ``resume``, to continue from).
    config
        The run (:class:`TrainConfig`); a resumed run must have the same, except ``steps``.
    resume
        Continue from ``checkpoint`` if it exists (otherwise start).
    device
        ``"cuda"``, ``"cpu"``, ...; default the GPU when there is one.
    max_seconds
        Stop (with a checkpoint) once this much wall time has passed; resume later.
    stop_at
        Stop (with a checkpoint) after this step, as an interruption would.
    checkpoint_every
        Steps between checkpoints.
    cache_frames
        Normalised frames kept in memory.
    """
    checkpoint = os.fspath(checkpoint)
    device_ = torch.device(device or default_device())
    frames = LevelOneFrames(stores, cache_frames=cache_frames)
    torch.manual_seed(config.seed)
    model = PConvUNet(config.model).to(device_)
    features = feature_extractor(config.features, config.seed)
    if features is not None:
        features = features.to(device_)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, _schedule(config))
    amp_dtype = _amp_dtype(config.amp, device_)
    scaler = torch.amp.GradScaler(device_.type, enabled=amp_dtype == torch.float16)
    step, history, spent, cpu_spent = 0, [], 0.0, 0.0
    if resume and os.path.exists(checkpoint):
        step, history, spent, cpu_spent = _resume(checkpoint, config, device_, model,
                                                  optimiser, scheduler, scaler)
    end = config.steps if stop_at is None else min(config.steps, int(stop_at))
    started, cpu_started = time.perf_counter(), time.process_time()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=step, desc="training", unit="step")

    def save():
        _save(checkpoint, {
            "format": CHECKPOINT_FORMAT, "config": config.as_dict(), "step": step,
            "model": model.state_dict(), "optimizer": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "history": history, "seconds": spent + time.perf_counter() - started,
            "cpu_seconds": cpu_spent + time.process_time() - cpu_started,
            "data": frames.describe(), "device": str(device_),
        })

    model.train()
    timed_out = False
    while step < end:
        truth, known, observed, prior, usable = _batch(frames, config, step, device_)
        with torch.autocast(device_type=device_.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            outputs, _ = model(truth, known, prior, usable)
        loss, terms = inpainting_loss(outputs, truth, known, observed, weights=config.loss,
                                      features=features, ring=config.ring)
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
        scheduler.step()
        step += 1
        if step % log_every == 0 or step == end:
            history.append({"step": float(step), **terms,
                            "lr": float(scheduler.get_last_lr()[0])})
            log.info("step %d: %s", step, ", ".join(f"{k} {v:.4g}" for k, v in terms.items()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{terms['total']:.4f}", hole=f"{terms['hole']:.4f}")
        timed_out = max_seconds is not None and time.perf_counter() - started >= max_seconds
        if step % checkpoint_every == 0 or step == end or timed_out:
            save()
        if timed_out:
            break
    if bar is not None:
        bar.close()
    if step == 0 or (step == end and not os.path.exists(checkpoint)):
        save()
    return TrainResult(checkpoint=checkpoint, step=step, steps=config.steps,
                       seconds=spent + time.perf_counter() - started, history=history,
                       finished=step >= config.steps)


def export_weights(checkpoint: str | os.PathLike, out: str | os.PathLike, *, name: str,
                   version: str = "", training: dict[str, Any] | None = None) -> str:
    """Write the network of a checkpoint as a weights file; returns its SHA-256.

    ``training`` adds free-form facts (data, evaluation) to the file's ``training`` record,
    next to the configuration, steps and wall time taken from the checkpoint.
    """
    state = torch.load(os.fspath(checkpoint), map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{checkpoint} is not a lascoproc inpainting checkpoint")
    config = TrainConfig.from_dict(state["config"])
    model = PConvUNet(config.model)
    model.load_state_dict(state["model"])
    record = {
        "config": repr(config),
        "steps": int(state["step"]),
        "seconds": float(state.get("seconds", 0.0)),
        "cpu_seconds": float(state.get("cpu_seconds", 0.0)),
        "device": str(state.get("device", "")),
        "data": "; ".join(state.get("data", [])),
        "final_loss": repr(state["history"][-1]) if state.get("history") else "",
    }
    record.update({k: (v if isinstance(v, int | float) else str(v))
                   for k, v in (training or {}).items()})
    return save_weights(model, out, name=name, version=version, training=record)
