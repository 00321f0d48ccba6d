"""Evaluation on held-out frames: mask observed blocks, fill them, score inside the holes.

For each evaluated frame of the given level-1 cubes (``frames`` of them, evenly spread in the
list of usable frames), random holes are drawn on the frame's 32-pixel grid over observed
pixels only (:func:`lascoproc.inpaint.data.draw_holes`, from ``numpy.random.default_rng([seed,
k])``), so the truth is known in every hole. The frame's real missing pixels stay missing and
are filled too, but not scored. Every method then fills the same masked frame with
:func:`lascoproc.inpaint.fill_frames`, and PSNR, SSIM and L1 (:mod:`lascoproc.inpaint.metrics`)
are computed on the hole pixels, in the asinh-normalised units of the frame's truth (one
normaliser per frame, shared by all methods), plus ``rel_l1 = sum |f - t| / sum |t|`` over the
holes in the cube's own units. Reported values are means over frames.

Evaluate on frames the model was not trained on (another seed, dates, or archive).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence

import numpy as np
import xarray as xr

from lascoproc.inpaint import metrics
from lascoproc.inpaint.data import HoleSpec, LevelOneFrames, draw_holes
from lascoproc.inpaint.fill import METHODS, fill_frames
from lascoproc.inpaint.normalise import AsinhNormaliser

__all__ = ["EvaluationReport", "evaluate", "METRICS"]

METRICS = ("psnr", "ssim", "l1", "rel_l1")

#: Holes per evaluated frame: 4..8 rectangles of up to 2 x 2 blocks, exactly on the grid.
EVALUATION_HOLES = HoleSpec(holes=(4, 8), hole_blocks=2, hole_dilation=0)


@dataclasses.dataclass
class EvaluationReport:
    """Scores per method (means over frames) and what was scored."""

    frames: int
    hole_pixels: int
    methods: dict[str, dict[str, float]]
    seconds: dict[str, float]
    weights: dict[str, str]
    per_frame: dict[str, list[dict[str, float]]]

    def table(self) -> str:
        """A plain-text table, one row per method."""
        lines = [f"{self.frames} frames, {self.hole_pixels} hole pixels "
                 "(PSNR, SSIM, L1 in asinh-normalised units; rel_l1 in the data's units)",
                 f"{'method':<10}{'PSNR/dB':>9}{'SSIM':>8}{'L1':>9}{'rel_l1':>9}"
                 f"{'s/frame':>9}"]
        for name, scores in self.methods.items():
            lines.append(f"{name:<10}{scores['psnr']:>9.2f}{scores['ssim']:>8.4f}"
                         f"{scores['l1']:>9.4f}{scores['rel_l1']:>9.4f}"
                         f"{self.seconds[name] / max(self.frames, 1):>9.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def write_json(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(self.to_dict(), out, indent=2)


def evaluate(stores: Sequence[str | os.PathLike | xr.Dataset], *, frames: int = 16,
             methods: Sequence[str] = METHODS, weights: str | os.PathLike | None = None,
             sha256: str | None = None, seed: int = 2024, holes: HoleSpec = EVALUATION_HOLES,
             device: str | None = None, batch_size: int | None = None,
             amp: str | None = None) -> EvaluationReport:
    """Score the methods on held-out level-1 frames (module docstring)."""
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    source = LevelOneFrames(stores, cache_frames=1)
    chosen = np.unique(np.linspace(0, len(source) - 1, min(frames, len(source))).round()
                       .astype(int))
    per_frame: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    total_holes = 0
    used = 0
    weights_info: dict[str, str] = {}
    if "network" in methods:
        from lascoproc.inpaint.model_registry import resolve_weights

        resolved = resolve_weights(weights, sha256=sha256)
        weights_info = resolved.provenance()
        weights = resolved.path if not resolved.shipped else resolved.name
        sha256 = resolved.sha256
    for k in chosen:
        truth, quality = source.raw(int(k))
        observed = np.isfinite(truth) & (quality == 0)
        rng = np.random.default_rng([seed, int(k)])
        scored = draw_holes(observed, rng, holes)
        if not scored.any():
            continue
        missing = scored | (((quality & 1) != 0) & ((quality & 2) == 0))
        masked = np.where(scored, np.float32(np.nan), truth)
        norm = AsinhNormaliser.fit(truth, observed)
        t_norm = np.where(observed, norm.forward(truth), np.nan)
        value_range = metrics.data_range(t_norm)
        used += 1
        total_holes += int(scored.sum())
        for method in methods:
            started = time.perf_counter()
            filled = fill_frames(masked[np.newaxis], missing[np.newaxis], method=method,
                                 weights=weights, sha256=sha256, device=device,
                                 batch_size=batch_size, amp=amp)[0]
            seconds[method] += time.perf_counter() - started
            f_norm = np.where(observed | scored, norm.forward(filled), np.nan)
            diff = np.abs(filled[scored].astype(np.float64) - truth[scored])
            per_frame[method].append({
                "frame": float(k),
                "psnr": metrics.psnr(f_norm, t_norm, scored, value_range),
                "ssim": metrics.ssim(f_norm, t_norm, scored, value_range),
                "l1": metrics.l1(f_norm, t_norm, scored),
                "rel_l1": float(diff.sum() / max(np.abs(truth[scored]).sum(), 1e-300)),
            })
    if used == 0:
        raise ValueError("no frame had observed pixels to mask: nothing to evaluate")
    summary = {m: {name: float(np.mean([row[name] for row in per_frame[m]]))
                   for name in METRICS} for m in methods}
    return EvaluationReport(frames=used, hole_pixels=total_holes, methods=summary,
                            seconds=seconds, weights=weights_info, per_frame=per_frame)
