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
from lascoproc.inpaint.fill import canonical_method, fill_frames
from lascoproc.inpaint.normalise import AsinhNormaliser

__all__ = ["EvaluationReport", "evaluate", "METRICS"]

METRICS = ("psnr", "ssim", "l1", "rel_l1")

#: Holes per evaluated frame: 4..8 rectangles of up to 2 x 2 blocks, exactly on the grid.
EVALUATION_HOLES = HoleSpec(holes=(4, 8), hole_blocks=2, hole_dilation=0)


class _JsonReport:
    """``to_dict`` (the dataclass's fields) and ``write_json`` of the evaluation reports."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def write_json(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(self.to_dict(), out, indent=2)


@dataclasses.dataclass
class EvaluationReport(_JsonReport):
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
                 f"{'method':<12}{'PSNR/dB':>9}{'SSIM':>8}{'L1':>9}{'rel_l1':>9}"
                 f"{'s/frame':>9}"]
        for name, scores in self.methods.items():
            lines.append(f"{name:<12}{scores['psnr']:>9.2f}{scores['ssim']:>8.4f}"
                         f"{scores['l1']:>9.4f}{scores['rel_l1']:>9.4f}"
                         f"{self.seconds[name] / max(self.frames, 1):>9.2f}")
        return "\n".join(lines)



def _methods(methods: Sequence[str]) -> list[str]:
    """The methods to score, aliases resolved; ``ValueError`` for none (an empty list used to
    score every method, or none, without a word)."""
    if isinstance(methods, str):
        methods = [methods]
    out = [canonical_method(m) for m in methods]
    if not out:
        raise ValueError("methods is empty: name at least one method to score")
    return out


def _network_weights(methods: list[str], weights, sha256):
    """``(provenance, weights, sha256)``: the network's weights resolved and verified once, and
    recorded, where a method may run the network (``network``; ``auto``, whose candidates
    include it, as :func:`~lascoproc.inpaint.cube.inpaint_cube` records them); else
    ``({}, weights, sha256)``."""
    if not any(m in ("network", "auto") for m in methods):
        return {}, weights, sha256
    from lascoproc.inpaint.model_registry import resolve_weights

    resolved = resolve_weights(weights, sha256=sha256)
    return (resolved.provenance(), resolved.path if not resolved.shipped else resolved.name,
            resolved.sha256)


def evaluate(stores: Sequence[str | os.PathLike | xr.Dataset], *, frames: int = 16,
             methods: Sequence[str] = ("network", "radial", "biharmonic"),
             weights: str | os.PathLike | None = None,
             sha256: str | None = None, seed: int = 2024, holes: HoleSpec = EVALUATION_HOLES,
             device: str | None = None, batch_size: int | None = None,
             amp: str | None = None) -> EvaluationReport:
    """Score the methods on held-out level-1 frames (module docstring)."""
    methods = _methods(methods)
    if "temporal" in methods:
        raise ValueError("'temporal' is evaluated on sequences (evaluate_sequences)")
    source = LevelOneFrames(stores, cache_frames=1)
    chosen = np.unique(np.linspace(0, len(source) - 1, min(frames, len(source))).round()
                       .astype(int))
    per_frame: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    total_holes = 0
    used = 0
    weights_info, weights, sha256 = _network_weights(methods, weights, sha256)
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
                                 centers=[source.center(int(k))], weights=weights,
                                 sha256=sha256, device=device, batch_size=batch_size,
                                 amp=amp)[0]
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


# --- real scenes (issue 10 protocol) ---------------------------------------------------------

def _load_average() -> str:
    """The 1, 5 and 15 minute load averages, for the record next to the timings."""
    if not hasattr(os, "getloadavg"):
        return ""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


#: Draws (seeds) of the scene protocol, pooled.
SCENE_SEEDS = (0, 1, 2, 3)


@dataclasses.dataclass
class ScenesReport(_JsonReport):
    """Scores of each method on each scene (:mod:`lascoproc.inpaint.scenes`): ``scores[scene]
    [method]`` = PSNR / dB, SSIM, L1 / R, ``ms_wall`` and ``ms_cpu`` per frame (one fill of the
    scene with its 24 holes), pooled over the draws; ``per_seed[scene][method]``: the PSNR of
    each draw."""

    seeds: tuple[int, ...]
    blocks: int
    scores: dict[str, dict[str, dict[str, float]]]
    scenes: dict[str, dict[str, object]]
    weights: dict[str, str]
    load: str
    per_seed: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)
    examples: dict = dataclasses.field(default_factory=dict, repr=False)

    def table(self) -> str:
        """A Markdown table, one row per scene and method."""
        lines = [f"{self.blocks} blocks per draw, seeds {list(self.seeds)} pooled; PSNR, SSIM, "
                 "L1/R inside the holes in the data's units (R: max - min over the annulus)",
                 "", "| scene | method | PSNR / dB | SSIM | L1 / R | ms / frame (wall) | "
                 "ms / frame (CPU) |", "|---|---|---|---|---|---|---|"]
        for scene, methods in self.scores.items():
            best = max((m for m in methods if m not in ("network", SMOOTHED_TRUTH)),
                       key=lambda m: methods[m]["psnr"], default=None)
            for name, s in methods.items():
                mark = "**" if name in ("network", best) else ""
                ms = ("-", "-") if name == SMOOTHED_TRUTH else (f"{s['ms_wall']:.0f}",
                                                                f"{s['ms_cpu']:.0f}")
                lines.append(f"| {scene} | {name} | {mark}{s['psnr']:.2f}{mark} | "
                             f"{s['ssim']:.4f} | {s['l1']:.4f} | {ms[0]} | {ms[1]} |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("examples")
        return out


    def plot(self, path: str | os.PathLike, *, per_scene: int = 2) -> None:
        """A PNG of examples: per scene, ``per_scene`` holes of the first draw (truth, each
        method), on the scene's own grey scale."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [(scene, k) for scene, ex in self.examples.items()
                for k in range(min(per_scene, len(ex["crops"])))]
        if not rows:
            raise ValueError("no examples to plot")
        methods = list(next(iter(self.examples.values()))["crops"][0]["fills"])
        cols = 2 + len(methods)
        fig, axes = plt.subplots(len(rows), cols, figsize=(2.2 * cols, 2.3 * len(rows)),
                                 squeeze=False)
        for r, (scene, k) in enumerate(rows):
            crop = self.examples[scene]["crops"][k]
            truth = crop["truth"]
            lo, hi = np.nanpercentile(truth, [1, 99.5])
            panels = [("truth", truth), ("holes", crop["masked"])]
            panels += [(m, crop["fills"][m]) for m in methods]
            for c, (title, image) in enumerate(panels):
                ax = axes[r, c]
                ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, origin="lower",
                          interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(title if r == 0 else "", fontsize=9)
                if c == 0:
                    ax.set_ylabel(scene.split("_")[0] + f" #{k}", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)


#: The reference row of the scene table: the truth smoothed by a Gaussian of 3 pixels (issue
#: 10), roughly the best a fill that cannot know the noise can do. Not a method.
SMOOTHED_TRUTH = "smoothed truth (reference)"


def _smoothed_truth(scene, image: np.ndarray, seeds, value_range: float) -> dict[str, float]:
    """Scores of the truth smoothed (sigma 3 px, over the field only) inside the holes."""
    from scipy import ndimage

    from lascoproc.inpaint.scenes import Score, protocol_holes

    field = np.isfinite(image)
    num = ndimage.gaussian_filter(np.where(field, image, 0.0), 3.0)
    den = ndimage.gaussian_filter(field.astype(np.float64), 3.0)
    smooth = np.where(field, num / np.maximum(den, 1e-12), np.nan)
    total = Score()
    for seed in seeds:
        total.add(smooth, image, protocol_holes(scene, int(seed)), value_range)
    return total.result(value_range)


def _crop_examples(scene, holes, masked, fills: dict, count: int = 2) -> list[dict]:
    from scipy import ndimage

    labels, n = ndimage.label(holes)
    out = []
    for sl in ndimage.find_objects(labels)[:count]:
        pad = 2 * scene.block
        ys = slice(max(sl[0].start - pad, 0), sl[0].stop + pad)
        xs = slice(max(sl[1].start - pad, 0), sl[1].stop + pad)
        truth = np.where(scene.valid, scene.image.astype(np.float64), np.nan)[ys, xs]
        out.append({"truth": truth, "masked": masked[ys, xs],
                    "fills": {m: f[ys, xs] for m, f in fills.items()}})
    return out


def evaluate_scenes(scenes, *, methods: Sequence[str] | None = None,
                    seeds: Sequence[int] = SCENE_SEEDS, weights=None, sha256=None,
                    device: str | None = None, batch_size: int | None = None,
                    examples: int = 2) -> ScenesReport:
    """Score ``methods`` (default: every spatial method) on real scenes (module docstring of
    :mod:`lascoproc.inpaint.scenes`). Timings: wall and CPU time of the fill of one scene,
    after one untimed warm-up fill per scene and method (the network's weights load)."""
    from lascoproc.inpaint.fill import SPATIAL_METHODS
    from lascoproc.inpaint.scenes import BLOCKS, Score, protocol_holes, score

    methods = _methods(SPATIAL_METHODS if methods is None else methods)
    if "temporal" in methods:
        raise ValueError("'temporal' needs a sequence of frames; scenes are single images")
    weights_info, weights, sha256 = _network_weights(methods, weights, sha256)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    per_seed: dict[str, dict[str, list[float]]] = {}
    info: dict[str, dict[str, object]] = {}
    crops: dict[str, dict] = {}
    for scene in scenes:
        value_range = scene.data_range()
        image = np.where(scene.valid, scene.image.astype(np.float64), np.nan)
        sums = {m: Score() for m in methods}
        draws: dict[str, list[float]] = {m: [] for m in methods}
        wall = dict.fromkeys(methods, 0.0)
        cpu = dict.fromkeys(methods, 0.0)
        for d, seed in enumerate(seeds):
            holes = protocol_holes(scene, int(seed))
            masked = np.where(holes, np.nan, image)
            fills = {}
            for method in methods:
                kwargs = dict(method=method, centers=[scene.center], block=scene.block,
                              weights=weights, sha256=sha256, device=device,
                              batch_size=batch_size)
                if d == 0:
                    fill_frames(masked[None], holes[None], **kwargs)  # warm-up
                w0, c0 = time.perf_counter(), time.process_time()
                filled = fill_frames(masked[None], holes[None], **kwargs)[0]
                wall[method] += time.perf_counter() - w0
                cpu[method] += time.process_time() - c0
                sums[method].add(filled, image, holes, value_range)
                draws[method].append(score(filled, image, holes, value_range)["psnr"])
                fills[method] = filled
            if d == 0 and examples:
                crops[scene.name] = {"crops": _crop_examples(scene, holes, masked, fills,
                                                             examples)}
        per_seed[scene.name] = draws
        scores[scene.name] = {m: {**sums[m].result(value_range),
                                  "ms_wall": 1e3 * wall[m] / len(seeds),
                                  "ms_cpu": 1e3 * cpu[m] / len(seeds)} for m in methods}
        scores[scene.name][SMOOTHED_TRUTH] = {**_smoothed_truth(scene, image, seeds,
                                                                value_range),
                                              "ms_wall": float("nan"), "ms_cpu": float("nan")}
        info[scene.name] = {"instrument": scene.instrument, "units": scene.units,
                            "shape": list(scene.image.shape), "center": list(scene.center),
                            "annulus": list(scene.annulus), "block": scene.block,
                            "data_range": value_range,
                            "hole_pixels": int(sums[methods[0]].pixels)}
    load = _load_average()
    return ScenesReport(seeds=tuple(int(s) for s in seeds), blocks=BLOCKS, scores=scores,
                        scenes=info, weights=weights_info, load=load, per_seed=per_seed,
                        examples=crops)


# --- synthetic sequences (temporal fill) -----------------------------------------------------

#: The sequences of the documented table: C3 at 12 min, C2 at 12 and 24 min.
SEQUENCE_SPECS = (("C3", 12.0), ("C2", 12.0), ("C2", 24.0))


@dataclasses.dataclass
class SequencesReport(_JsonReport):
    """Scores on synthetic level-1 sequences (:mod:`lascoproc.testing.sequences`):
    ``scores[sequence][method]``: PSNR / dB, SSIM and L1 in asinh-normalised units (one
    normaliser per frame, from its truth), ``psnr_data`` in MSB (peak: max - min of the truth
    over the field), ``ms_wall`` and ``ms_cpu`` per frame; the share of lost pixels filled
    from neighbouring frames (``temporal_share``)."""

    frames: int
    size: int
    scores: dict[str, dict[str, dict[str, float]]]
    lost_pixels: dict[str, int]
    weights: dict[str, str]
    load: str

    def table(self) -> str:
        lines = [f"{self.frames} frames of {self.size} x {self.size} per sequence; PSNR, SSIM, "
                 "L1 inside the lost blocks (asinh-normalised units; PSNR also in MSB)", "",
                 "| sequence | method | PSNR / dB | PSNR (MSB) / dB | SSIM | L1 | "
                 "ms / frame (wall) | ms / frame (CPU) |",
                 "|---|---|---|---|---|---|---|---|"]
        for seq, methods in self.scores.items():
            for name, s in methods.items():
                extra = (f" ({100 * s['temporal_share']:.0f}% from neighbours)"
                         if "temporal_share" in s else "")
                lines.append(f"| {seq} | {name}{extra} | {s['psnr']:.2f} | "
                             f"{s['psnr_data']:.2f} | {s['ssim']:.4f} | {s['l1']:.4f} | "
                             f"{s['ms_wall']:.0f} | {s['ms_cpu']:.0f} |")
        return "\n".join(lines)



def evaluate_sequences(sequences, *, methods: Sequence[str] | None = None,
                       weights=None, sha256=None, device: str | None = None,
                       max_frames: int | None = None, max_minutes: float | None = None,
                       spatial: str = "radial", temporal_offset: str = "plane"
                       ) -> SequencesReport:
    """Score ``methods`` (default: every method) on sequences with a known truth.

    ``sequences``: ``(name, sequence)`` pairs, each sequence with ``cube`` (a level-1 cube
    with lost blocks), ``truth`` (what was observed before the loss) and ``clean`` (the
    noise-free brightness, scored as a reference row): :func:`lascoproc.testing.sequences.
    make_sequence` makes them (``lascoproc inpaint evaluate --sequences`` uses C3 at 12 min and
    C2 at 12 and 24 min, :data:`SEQUENCE_SPECS`). Each spatial method fills every frame alone;
    ``temporal`` uses the neighbours (``max_frames``, ``max_minutes``), ``spatial`` and
    ``temporal_offset`` (:func:`~lascoproc.inpaint.temporal.temporal_frames`' ``offset``)."""
    from lascoproc.inpaint.fill import METHODS
    from lascoproc.inpaint.temporal import check_spatial, temporal_frames

    methods = _methods(METHODS if methods is None else methods)
    spatial = check_spatial(spatial)
    weights_info, weights, sha256 = _network_weights(
        methods + ([spatial] if "temporal" in methods else []), weights, sha256)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    lost_pixels: dict[str, int] = {}
    frames = size = 0
    for name, seq in sequences:
        cube = seq.cube
        frames, size = cube.sizes["time"], cube.sizes["x"]
        b = cube["brightness"].values
        q = cube["quality"].values
        holes = ((q & 1) != 0) & ((q & 2) == 0)
        centers = np.stack([cube["crpix1"].values - 1.0, cube["crpix2"].values - 1.0], axis=1)
        truth = seq.truth.astype(np.float64)
        field = np.isfinite(truth)
        value_range = float(np.nanmax(truth) - np.nanmin(truth))
        norms = [AsinhNormaliser.fit(truth[i], field[i]) for i in range(frames)]
        t_norm = np.stack([np.where(field[i], norms[i].forward(truth[i]), np.nan)
                           for i in range(frames)])
        lost_pixels[name] = int(holes.sum())
        scores[name] = {}
        runs = [(m, None) for m in methods] + [("noise-free truth", seq.clean)]
        for method, given in runs:
            w0, c0 = time.perf_counter(), time.process_time()
            share = None
            if given is not None:  # the reference no fill can beat on average
                filled = np.where(holes, given, b)
            elif method == "temporal":
                filled, used = temporal_frames(
                    b, holes, centers=centers, times=cube["time"].values,
                    max_frames=max_frames, max_minutes=max_minutes, spatial=spatial,
                    weights=weights, sha256=sha256, device=device, with_mask=True,
                    offset=temporal_offset)
                share = float(used.sum() / max(holes.sum(), 1))
            else:
                filled = fill_frames(b, holes, method=method, centers=centers,
                                     weights=weights, sha256=sha256, device=device)
            wall = time.perf_counter() - w0
            cpu = time.process_time() - c0
            sq = ab = ss = sq_data = 0.0
            for i in range(frames):
                h = holes[i]
                if not h.any():
                    continue
                f_norm = np.where(field[i], norms[i].forward(filled[i]), np.nan)
                rng_i = metrics.data_range(t_norm[i])
                d = f_norm[h] - t_norm[i][h]
                sq += float(np.sum(d * d)) / rng_i ** 2
                ab += float(np.sum(np.abs(d))) / rng_i
                ss += metrics.ssim(f_norm, t_norm[i], h, rng_i) * int(h.sum())
                dd = filled[i][h].astype(np.float64) - truth[i][h]
                sq_data += float(np.sum(dd * dd))
            count = max(int(holes.sum()), 1)
            row = {"psnr": float(10 * np.log10(count / sq)),
                   "psnr_data": float(10 * np.log10(value_range ** 2 * count / sq_data)),
                   "ssim": ss / count, "l1": ab / count,
                   "ms_wall": 1e3 * wall / frames, "ms_cpu": 1e3 * cpu / frames}
            if share is not None:
                row["temporal_share"] = share
            scores[name][method] = row
    load = _load_average()
    return SequencesReport(frames=frames, size=size, scores=scores, lost_pixels=lost_pixels,
                           weights=weights_info, load=load)
