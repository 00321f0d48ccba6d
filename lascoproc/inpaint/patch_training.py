"""Training of the polar residual network on synthetic coronagraph scenes (torch).

Each sample (:func:`training_sample`) is a random scene (:mod:`lascoproc.inpaint.synthetic`)
rendered on the window around one hole: 1 x 1 to 2 x 2 blocks of 32, 16, 8 or 4 pixels on the
frame's block grid (the sizes of lost blocks in full, binned and rebinned frames), grown by 0-2
pixels as a resampled level-1 block is, at ``4-16`` block sizes from the Sun centre, sometimes
with a second hole in its context. The frame is normalised as :func:`lascoproc.inpaint.fill`
normalises it (``y = asinh(x / beta) / G`` with ``beta`` from the frame's 99.5th percentile),
and the polar patch is sampled, filled radially and standardised exactly as at inference
(:func:`lascoproc.inpaint.patches.patch_inputs`). The loss is the
Huber loss (``delta = 1``, standardised units) between ``prior + rho`` read back at the hole
pixels and the truth there: MSE for ordinary errors, L1 for the stars no fill can predict.

Reproducible and resumable: sample ``k`` of step ``s`` is a function of ``(seed, s, k)`` only
(whatever the number of worker processes), the model is initialised from ``seed``; the
checkpoint (``torch.save`` of plain data, loaded with ``weights_only=True``) holds model,
optimiser, scheduler and step, written every ``checkpoint_every`` steps, at the end and when
``max_seconds`` runs out. On a GPU machine, ``workers`` processes draw the samples (the
network is small: the CPU side is the bottleneck there).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lascoproc.inpaint.normalise import SOFTENING
from lascoproc.inpaint.patches import PolarPatch, cartesian_prior, patch_inputs
from lascoproc.inpaint.patchnet import (
    MODEL_KIND,
    PatchNetConfig,
    PolarResidualNet,
    batch_patches,
    read_back,
)
from lascoproc.inpaint.synthetic import draw_scene, render_window

__all__ = ["PatchTrainConfig", "training_sample", "make_batch", "train_patchnet",
           "export_patchnet", "validation_loss", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "lascoproc.inpaint.patch_checkpoint"
_BLOCKS = (32, 16, 8, 4)
_BLOCK_P = (0.5, 0.2, 0.15, 0.15)
_SHAPES = ((1, 1), (1, 2), (2, 1), (2, 2))
_SHAPE_P = (0.7, 0.1, 0.1, 0.1)


@dataclasses.dataclass(frozen=True)
class PatchTrainConfig:
    """What a training run *is* (hashable; stored in the checkpoint)."""

    model: PatchNetConfig = PatchNetConfig()
    steps: int = 4000
    batch_size: int = 24
    learning_rate: float = 2.0e-3
    final_lr_fraction: float = 0.05
    weight_decay: float = 1.0e-5
    huber_delta: float = 1.0
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model"] = self.model.as_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PatchTrainConfig:
        data = dict(data)
        data["model"] = PatchNetConfig.from_dict(data["model"])
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _hole(rng, block: int, shape: tuple[int, int], grow: int, center, r_c: float, theta: float):
    hx = center[0] + r_c * np.cos(theta)
    hy = center[1] + r_c * np.sin(theta)
    n, m = shape
    by = int(np.floor(hy / block - n / 2 + 0.5))
    bx = int(np.floor(hx / block - m / 2 + 0.5))
    return (by * block - grow, (by + n) * block + grow, bx * block - grow, (bx + m) * block + grow)


def training_sample(rng: np.random.Generator, context: int, multiple: int = 4,
                    tries: int = 20, prior: str = "polar", smooth: bool = False
                    ) -> dict[str, np.ndarray | float]:
    """One training sample (module docstring): the patch ``image`` ``(5, h, w)`` (6 channels
    with ``smooth``), the hole pixels' patch ``rows``/``cols`` and the standardised ``truth``
    there; with ``prior="cartesian"`` also the standardised radial fill of the frame there
    (``prior``). The scene and hole drawn do not depend on ``smooth``."""
    for _ in range(tries):
        block = int(rng.choice(_BLOCKS, p=_BLOCK_P))
        shape = _SHAPES[int(rng.choice(len(_SHAPES), p=_SHAPE_P))]
        grow = int(rng.choice([0, 1, 2], p=[0.7, 0.15, 0.15]))
        size = max(shape) * block + 2 * grow
        r_c = max(block * math.exp(rng.uniform(math.log(4.0), math.log(16.0))), 1.6 * size, 16.0)
        theta = rng.uniform(-np.pi, np.pi)
        center = (4096.0 + rng.uniform(0, block), 4096.0 + rng.uniform(0, block))
        y0, y1, x0, x1 = _hole(rng, block, shape, grow, center, r_c, theta)
        ys, xs = np.mgrid[y0:y1, x0:x1]
        ys, xs = ys.ravel(), xs.ravel()
        r = np.hypot(xs - center[0], ys - center[1])
        scene = draw_scene(rng, center=center, r_c=float(r.mean()),
                           hole_radius=0.5 * float(r.max() - r.min()) + 0.75 * size,
                           hole_angle=theta)
        patch = PolarPatch.around(ys, xs, center, context=context, multiple=multiple)
        wy0, wy1, wx0, wx1 = patch.bbox(margin=2)
        data, usable, scale = render_window(scene, rng, wx0, wy0, wx1 - wx0, wy1 - wy0)
        holes = np.zeros(usable.shape, bool)
        holes[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0] = True
        primary = holes & usable
        if rng.random() < 0.25:  # another lost block in the context
            oy = int(rng.integers(0, max(usable.shape[0] - block, 1)))
            ox = int(rng.integers(0, max(usable.shape[1] - block, 1)))
            oy, ox = oy // block * block, ox // block * block
            holes[oy:oy + block, ox:ox + block] = True
        holes &= usable
        if primary.sum() < 4:
            continue
        beta = SOFTENING * scale
        gain = float(np.arcsinh(1.0 / SOFTENING))
        y = np.arcsinh(data / beta) / gain
        known = usable & ~holes
        hy, hx = np.nonzero(primary)
        fill = None
        if prior == "cartesian":
            fill = cartesian_prior(y, known, holes, (center[0] - wx0, center[1] - wy0))
        inputs = patch_inputs(patch.shifted(wy0, wx0), y, known, usable, hy, hx, prior=fill,
                              smooth=smooth)
        if not inputs.ok:
            continue
        sample = {"image": inputs.image, "rows": inputs.rows.astype(np.float32),
                  "cols": inputs.cols.astype(np.float32),
                  "truth": ((y[hy, hx] - inputs.mu) / inputs.sigma).astype(np.float32),
                  "sigma": inputs.sigma}
        if inputs.prior is not None:
            sample["prior"] = inputs.prior.astype(np.float32)
        return sample
    raise RuntimeError("no usable training sample drawn in 20 tries")


def _sample(args) -> dict:
    seed, step, k, context, prior, smooth = args
    return training_sample(np.random.default_rng([seed, step, k]), context, prior=prior,
                           smooth=smooth)


def make_batch(samples: list[dict], device: torch.device) -> dict[str, torch.Tensor]:
    """Pad and stack samples into tensors (hole pixels padded with weight 0)."""
    image = torch.from_numpy(batch_patches([s["image"] for s in samples])).to(device)
    p = max(s["rows"].size for s in samples)
    n = len(samples)
    names = ("rows", "cols", "truth") + (("prior",) if "prior" in samples[0] else ())
    out = {name: np.zeros((n, p), np.float32) for name in (*names, "weight")}
    for i, s in enumerate(samples):
        m = s["rows"].size
        for name in names:
            out[name][i, :m] = s[name]
        out["weight"][i, :m] = 1.0
    batch = {name: torch.from_numpy(a).to(device) for name, a in out.items()}
    batch["image"] = image
    return batch


def batch_loss(model: PolarResidualNet, batch: dict[str, torch.Tensor], delta: float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(huber, mse_gain)``: the loss, and the mean squared error of the prior minus that of
    the prediction (standardised units; > 0 when the network improves on the prior)."""
    image = batch["image"]
    rho = model(image).float()
    pred, reached = read_back(image, rho, batch["rows"], batch["cols"], batch.get("prior"))
    w = batch["weight"] * reached
    count = w.sum().clamp(min=1.0)
    truth = batch["truth"]
    huber = (F.huber_loss(pred, truth, reduction="none", delta=delta) * w).sum() / count
    with torch.no_grad():
        prior, _ = read_back(image, torch.zeros_like(rho), batch["rows"], batch["cols"],
                             batch.get("prior"))
        mse_pred = (((pred - truth) ** 2) * w).sum() / count
        mse_prior = (((prior - truth) ** 2) * w).sum() / count
    return huber, mse_prior - mse_pred


def _draw(config: PatchTrainConfig, step: int, context: int, pool) -> list[dict]:
    args = [(config.seed, step, k, context, config.model.prior, config.model.smooth)
            for k in range(config.batch_size)]
    if pool is None:
        return [_sample(a) for a in args]
    return pool.map(_sample, args)


def validation_loss(model: PolarResidualNet, *, seed: int = 10_000, batches: int = 8,
                    batch_size: int = 32, device: str | torch.device = "cpu"
                    ) -> dict[str, float]:
    """Mean squared error of the prior and of the network on held-out synthetic samples
    (seed ``seed``, never used in training), standardised units, and the gain in dB.

    ``mse_prior`` is that of the untrained network's fill (the radial prior; the mean of the
    radial and smooth priors for a ``smooth`` network), ``mse_radial`` that of the radial
    prior alone, and ``gain_db`` the network's gain over the radial prior: the same samples
    and the same reference whatever the configuration."""
    device = torch.device(device)
    model.eval()
    err_prior = err_pred = err_radial = 0.0
    count = 0.0
    with torch.no_grad():
        for b in range(batches):
            samples = [training_sample(np.random.default_rng([seed, b, k]), model.context,
                                       prior=model.config.prior, smooth=model.config.smooth)
                       for k in range(batch_size)]
            batch = make_batch(samples, device)
            rho = model(batch["image"])
            pred, reached = read_back(batch["image"], rho, batch["rows"], batch["cols"],
                                      batch.get("prior"))
            prior, _ = read_back(batch["image"], torch.zeros_like(rho), batch["rows"],
                                 batch["cols"], batch.get("prior"))
            radial = prior
            if model.config.smooth:
                radial, _ = read_back(batch["image"][:, :5], torch.zeros_like(rho[:, :1]),
                                      batch["rows"], batch["cols"])
            w = batch["weight"] * reached
            err_prior += float((((prior - batch["truth"]) ** 2) * w).sum())
            err_radial += float((((radial - batch["truth"]) ** 2) * w).sum())
            err_pred += float((((pred - batch["truth"]) ** 2) * w).sum())
            count += float(w.sum())
    mse_prior, mse_pred = err_prior / count, err_pred / count
    mse_radial = err_radial / count
    return {"mse_prior": mse_prior, "mse_radial": mse_radial, "mse_network": mse_pred,
            "gain_db": 10.0 * math.log10(mse_radial / mse_pred)}


class _Run:
    """The state of a training run: model, optimiser, schedule, step, history, time spent."""

    def __init__(self, config: PatchTrainConfig, device: torch.device, amp: str | None):
        self.config, self.device = config, device
        torch.manual_seed(config.seed)
        self.model = PolarResidualNet(config.model).to(device)
        self.optimiser = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimiser, self._factor)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
        self.scaler = torch.amp.GradScaler(device.type,
                                           enabled=self.amp_dtype == torch.float16)
        self.step, self.history, self.spent, self.cpu_spent = 0, [], 0.0, 0.0
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def _factor(self, step: int) -> float:
        """100 steps of warm-up, then a cosine from 1 to ``final_lr_fraction``."""
        progress = min(step / max(self.config.steps, 1), 1.0)
        warm = min(1.0, (step + 1) / 100.0)
        low = self.config.final_lr_fraction
        return warm * (low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress)))

    def resume(self, checkpoint: str) -> None:
        state = torch.load(checkpoint, map_location=self.device, weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{checkpoint} is not a lascoproc patch-network checkpoint")
        saved = PatchTrainConfig.from_dict(state["config"])
        if dataclasses.replace(saved, steps=self.config.steps) != self.config:
            raise ValueError(f"{checkpoint} was trained with another configuration")
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.history = int(state["step"]), list(state["history"])
        self.spent, self.cpu_spent = float(state["seconds"]), float(state["cpu_seconds"])

    def seconds(self) -> tuple[float, float]:
        return (self.spent + time.perf_counter() - self.started,
                self.cpu_spent + time.process_time() - self.cpu_started)

    def save(self, checkpoint: str) -> None:
        wall, cpu = self.seconds()
        tmp = f"{checkpoint}.tmp"
        torch.save({"format": CHECKPOINT_FORMAT, "config": self.config.as_dict(),
                    "step": self.step, "model": self.model.state_dict(),
                    "optimizer": self.optimiser.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "history": self.history,
                    "seconds": wall, "cpu_seconds": cpu, "device": str(self.device)}, tmp)
        os.replace(tmp, checkpoint)

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
        with torch.autocast(device_type=self.device.type,
                            dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            loss, gain = batch_loss(self.model, batch, self.config.huber_delta)
        self.optimiser.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimiser)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimiser)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return float(loss.detach()), float(gain)

    def record(self, running: list[tuple[float, float]]) -> None:
        loss_m, gain_m = np.mean(running, axis=0)
        self.history.append({"step": float(self.step), "loss": float(loss_m),
                             "mse_gain": float(gain_m),
                             "lr": float(self.scheduler.get_last_lr()[0])})
        log.info("step %d: loss %.4f, mse gain %.4f", self.step, loss_m, gain_m)


def train_patchnet(checkpoint: str | os.PathLike, *, config: PatchTrainConfig = PatchTrainConfig(),
                   resume: bool = False, device: str | None = None,
                   max_seconds: float | None = None, stop_at: int | None = None,
                   checkpoint_every: int = 50, workers: int = 0, log_every: int = 10,
                   amp: str | None = None) -> dict[str, Any]:
    """Train (or continue) the network on synthetic samples; returns a summary.

    ``workers > 0`` draws samples in that many processes (same samples as without);
    ``amp`` (``"bf16"``, ``"fp16"``; CUDA) runs the forward pass under autocast (fp16 with a
    gradient scaler).
    """
    if amp not in (None, "bf16", "fp16"):
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', not {amp!r}")
    checkpoint = os.fspath(checkpoint)
    run = _Run(config, torch.device(device or ("cuda" if torch.cuda.is_available()
                                               else "cpu")), amp)
    if resume and os.path.exists(checkpoint):
        run.resume(checkpoint)
    pool = None
    if workers > 0:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(workers)
    end = config.steps if stop_at is None else min(config.steps, int(stop_at))
    run.model.train()
    running = []
    try:
        while run.step < end:
            batch = make_batch(_draw(config, run.step, run.model.context, pool), run.device)
            running.append(run.train_step(batch))
            if run.step % log_every == 0 or run.step == end:
                run.record(running)
                running = []
            timed_out = max_seconds is not None and run.seconds()[0] - run.spent >= max_seconds
            if run.step % checkpoint_every == 0 or run.step == end or timed_out:
                run.save(checkpoint)
            if timed_out:
                break
    finally:
        if pool is not None:
            pool.terminate()
    if run.step == 0:
        run.save(checkpoint)
    wall, cpu = run.seconds()
    return {"checkpoint": checkpoint, "step": run.step, "steps": config.steps,
            "seconds": wall, "cpu_seconds": cpu, "finished": run.step >= config.steps,
            "history": run.history}


def export_patchnet(checkpoint: str | os.PathLike, out: str | os.PathLike, *, name: str,
                    version: str = "", training: dict[str, Any] | None = None) -> str:
    """Write the network of a checkpoint as a weights file (:mod:`lascoproc.inpaint.
    model_registry`); returns its SHA-256."""
    from lascoproc.inpaint.model_registry import save_weights

    state = torch.load(os.fspath(checkpoint), map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{checkpoint} is not a lascoproc patch-network checkpoint")
    config = PatchTrainConfig.from_dict(state["config"])
    model = PolarResidualNet(config.model)
    model.load_state_dict(state["model"])
    record = {"config": repr(config), "steps": int(state["step"]),
              "seconds": float(state["seconds"]), "cpu_seconds": float(state["cpu_seconds"]),
              "device": str(state["device"]),
              "data": "synthetic scenes, lascoproc.inpaint.synthetic (no real image)",
              "final_history": repr(state["history"][-1]) if state["history"] else ""}
    record.update({k: (v if isinstance(v, int | float) else str(v))
                   for k, v in (training or {}).items()})
    return save_weights(model, out, name=name, version=version, training=record,
                        kind=MODEL_KIND)
