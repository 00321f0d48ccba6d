"""``lascoproc inpaint ...``: train and evaluate the missing-block inpainting network."""

from __future__ import annotations

import argparse
import json
import sys

TRAIN_HELP = """\
Train the partial-convolution inpainting network on level-1 Zarr cubes written
by lascoproc (any number of stores, paths or URLs). Each step draws tiles from
random frames and masks random 32n x 32m blocks on the readout grid (never over
the occulter, pylon or real missing blocks), then minimises the per-layer pixel
(hole, ring, valid), perceptual, style and total-variation losses.

The checkpoint is written every --checkpoint-every steps and when --max-minutes
runs out; --resume continues it (same options; only --steps may change) with
exactly the batches an uninterrupted run would have seen. --export writes the
trained network as a weights file and prints its SHA-256, to pass to
'inpaint evaluate --weights' or to lascoproc.inpaint.fill(weights=...).

Runs on the GPU when there is one (bf16 autocast by default there), else on the
CPU. See docs/inpainting.md for how the shipped model was trained.
"""

EVALUATE_HELP = """\
Score inpainting on held-out level-1 frames: observed blocks are masked on the
32-pixel grid, filled by the network and by the classical fallback (biharmonic),
and PSNR, SSIM and L1 inside the holes are reported side by side (asinh-
normalised units; rel_l1 in the data's units). Use frames the network was not
trained on.
"""


def add_parser(commands) -> None:
    """Register ``inpaint train`` and ``inpaint evaluate`` under ``commands``."""
    inpaint = commands.add_parser(
        "inpaint", help="missing-block inpainting: train and evaluate the network",
        description="Missing-block inpainting of level-1 cubes (see docs/inpainting.md).")
    sub = inpaint.add_subparsers(dest="inpaint_command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train the inpainting network on level-1 Zarr cubes",
                           description=TRAIN_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("stores", nargs="+", help="level-1 Zarr stores (paths or URLs)")
    train.add_argument("--checkpoint", required=True,
                       help="checkpoint file to write (and to continue with --resume)")
    train.add_argument("--resume", action="store_true", help="continue the checkpoint")
    train.add_argument("--steps", type=int, default=1000, help="optimiser steps (default 1000)")
    train.add_argument("--batch-size", type=int, default=8, help="tiles per step (default 8)")
    train.add_argument("--tile", type=int, default=128,
                       help="tile edge in pixels, a multiple of 32 (default 128)")
    train.add_argument("--lr", type=float, default=1.0e-3, help="Adam learning rate "
                       "(default 1e-3, cosine decay to 10%%)")
    train.add_argument("--depth", type=int, default=5, help="encoder levels (default 5)")
    train.add_argument("--width", type=int, default=16,
                       help="channels of the first level (default 16)")
    train.add_argument("--max-width", type=int, default=128, help="channel cap (default 128)")
    train.add_argument("--refine", type=int, default=2,
                       help="refinement layers at full resolution (default 2)")
    train.add_argument("--prior", choices=("biharmonic", "harmonic", "none"),
                       default="biharmonic",
                       help="classical fill the network refines (default biharmonic); none: "
                       "Liu's network, which needs a much longer (GPU) training")
    train.add_argument("--features", choices=("random", "none"), default="random",
                       help="feature extractor of the perceptual/style losses: a fixed "
                       "random-weight conv net, or none (default random)")
    train.add_argument("--amp", choices=("auto", "none", "bf16", "fp16"), default="auto",
                       help="mixed precision (default auto: bf16 on CUDA, none on CPU)")
    train.add_argument("--device", default=None, help="cuda, cpu, cuda:1 ... (default: the "
                       "GPU if there is one)")
    train.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--checkpoint-every", type=int, default=100)
    train.add_argument("--max-minutes", type=float, default=None,
                       help="stop with a checkpoint after this wall time (resume later)")
    train.add_argument("--export", metavar="WEIGHTS", default=None,
                       help="write the trained network to this weights file at the end")
    train.add_argument("--name", default=None,
                       help="name recorded in the exported weights (default: file stem)")
    train.set_defaults(run=run_train)

    evaluate = sub.add_parser("evaluate", help="network vs fallback on held-out frames",
                              description=EVALUATE_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("stores", nargs="+", help="held-out level-1 Zarr stores")
    evaluate.add_argument("--weights", default=None,
                          help="weights file or registered name (default: the shipped model)")
    evaluate.add_argument("--sha256", default=None, help="expected SHA-256 of --weights")
    evaluate.add_argument("--frames", type=int, default=16,
                          help="frames to evaluate, spread over the stores (default 16)")
    evaluate.add_argument("--method", action="append", choices=("network", "fallback"),
                          help="method to score (repeatable; default both)")
    evaluate.add_argument("--seed", type=int, default=2024, help="seed of the holes")
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--amp", choices=("none", "bf16", "fp16"), default=None)
    evaluate.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    evaluate.add_argument("--json", metavar="PATH", default=None,
                          help="also write the report (with per-frame scores) as JSON")
    evaluate.set_defaults(run=run_evaluate)


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


def run_train(args) -> int:
    import os

    from lascoproc.inpaint.losses import LossWeights
    from lascoproc.inpaint.model import ModelConfig
    from lascoproc.inpaint.training import TrainConfig, export_weights, train

    _threads(args.threads)
    config = TrainConfig(
        model=ModelConfig(depth=args.depth, width=args.width, max_width=args.max_width,
                          refine=args.refine, prior=args.prior),
        loss=LossWeights(), steps=args.steps, batch_size=args.batch_size, tile=args.tile,
        learning_rate=args.lr, seed=args.seed, features=args.features, amp=args.amp)
    result = train(args.stores, args.checkpoint, config=config, resume=args.resume,
                   device=args.device, checkpoint_every=args.checkpoint_every,
                   max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes,
                   progress=sys.stderr.isatty())
    last = result.history[-1] if result.history else {}
    print(f"step {result.step} of {result.steps} in {result.seconds:.0f} s; checkpoint "
          f"{result.checkpoint}" + (f"; loss {last['total']:.4f}, hole L1 {last['hole']:.4f}"
                                    if last else ""))
    if not result.finished:
        print("not finished: continue with --resume")
    if args.export:
        name = args.name or os.path.splitext(os.path.basename(args.export))[0]
        digest = export_weights(result.checkpoint, args.export, name=name)
        print(f"weights {args.export} sha256 {digest}")
    return 0


def run_evaluate(args) -> int:
    from lascoproc.inpaint.evaluate import evaluate

    _threads(args.threads)
    report = evaluate(args.stores, frames=args.frames,
                      methods=tuple(args.method or ("network", "fallback")),
                      weights=args.weights, sha256=args.sha256, seed=args.seed,
                      device=args.device, amp=args.amp)
    print(report.table())
    if report.weights:
        print("weights: " + json.dumps(report.weights))
    if args.json:
        report.write_json(args.json)
        print(f"report written to {args.json}")
    return 0
