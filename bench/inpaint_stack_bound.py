"""How far could mixing the fills go? An upper bound, for issue 10's target on real scenes.

    .venv/bin/python bench/inpaint_stack_bound.py

On each shared real scene (``tests/data/scenes``, the protocol of ``lascoproc inpaint evaluate
--scenes``: 24 blocks, seeds 0-3 pooled, PSNR with the peak R = max - min over the annulus),
the network, biharmonic and radial fills are mixed as ``w_n network + w_b biharmonic +
(1 - w_n - w_b) radial`` and the weights that score best **against the truth** are searched
on a 0.05 grid. Those weights know the answer, so no fill that mixes these three per scene can
do better: if even this oracle does not lead the best classical fill by 1.0 dB, mixing them
(stacking, per-frame weights fitted on pseudo-holes) cannot meet the target, and a better
predictor is needed. Nothing here is shipped, and nothing is tuned by it.

A second oracle chooses, **for each hole** (each removed block), the one of the three fills
with the lowest error against the truth: no selector among these fills, per frame (``auto``) or
per hole, can do better. (Added 2026-12-02: the per-scene mix bounds blending, this one bounds
choosing.)

Also printed: a rough noise floor of each scene, the PSNR of a fill whose only error is the
noise: ``sigma`` from the median absolute deviation of each annulus pixel about the mean of its
8 neighbours, divided by ``sqrt(1 + 1/8)`` (white noise assumed; structure inflates it, so the
floor is if anything higher).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from lascoproc.inpaint.fill import fill_frames
from lascoproc.inpaint.scenes import load_scenes, protocol_holes

METHODS = ("network", "biharmonic", "radial")


def psnr(error: np.ndarray, value_range: float) -> float:
    return float(10 * np.log10(value_range ** 2 / np.mean(error ** 2)))


def noise_floor(scene) -> float:
    """PSNR of the noise alone (module docstring), dB."""
    image = scene.image.astype(np.float64)
    pad = np.pad(image, 1, mode="edge")
    ny, nx = image.shape
    mean8 = sum(pad[1 + dy:1 + dy + ny, 1 + dx:1 + dx + nx]
                for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)) / 8.0
    r = scene.radius()
    annulus = (r >= scene.annulus[0]) & (r <= scene.annulus[1]) & scene.valid
    residual = (image - mean8)[annulus]
    mad = np.median(np.abs(residual - np.median(residual)))
    sigma = 1.4826 * mad / np.sqrt(1.0 + 1.0 / 8.0)
    return float(20 * np.log10(scene.data_range() / sigma))


def main() -> None:
    print("| scene | network | biharmonic | radial | best mix (oracle) | its weights "
          "(network, biharmonic, radial) | oracle lead over the best classical fill | "
          "best fill per hole (oracle) | its lead | noise floor |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scene in load_scenes():
        value_range = scene.data_range()
        image = np.where(scene.valid, scene.image.astype(np.float64), np.nan)
        preds = {m: [] for m in METHODS}
        truth, per_hole = [], []
        for seed in range(4):
            holes = protocol_holes(scene, seed)
            labels, _ = ndimage.label(holes, np.ones((3, 3), bool))
            per_hole.append(labels[holes])
            masked = np.where(holes, np.nan, image)
            for m in METHODS:
                filled = fill_frames(masked[None], holes[None], method=m,
                                     centers=[scene.center], block=scene.block)[0]
                preds[m].append(filled[holes])
            truth.append(image[holes])
        t = np.concatenate(truth)
        p = {m: np.concatenate(v) for m, v in preds.items()}
        single = {m: psnr(p[m] - t, value_range) for m in METHODS}
        best, weights = -np.inf, None
        for wn, wb in itertools.product(np.linspace(0.0, 1.0, 21), repeat=2):
            if wn + wb > 1.0 + 1e-9:
                continue
            mix = wn * p["network"] + wb * p["biharmonic"] + (1.0 - wn - wb) * p["radial"]
            value = psnr(mix - t, value_range)
            if value > best:
                best, weights = value, (wn, wb, 1.0 - wn - wb)
        # per hole: the fill with the least squared error against the truth
        hole_id = np.concatenate([ids + 1000 * k for k, ids in enumerate(per_hole)])
        chosen = np.empty_like(t)
        for h in np.unique(hole_id):
            at = hole_id == h
            m = min(METHODS, key=lambda m: float(np.sum((p[m][at] - t[at]) ** 2)))
            chosen[at] = p[m][at]
        per_hole_best = psnr(chosen - t, value_range)
        classical = max(single["biharmonic"], single["radial"])
        print(f"| {scene.name} | {single['network']:.2f} | {single['biharmonic']:.2f} | "
              f"{single['radial']:.2f} | {best:.2f} | "
              f"{', '.join(f'{w:.2f}' for w in weights)} | {best - classical:+.2f} dB | "
              f"{per_hole_best:.2f} | {per_hole_best - classical:+.2f} dB | "
              f"{noise_floor(scene):.1f} dB |")


if __name__ == "__main__":
    main()
