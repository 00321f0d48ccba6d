"""``lascoproc inpaint ...``: train and evaluate the missing-block inpainting."""

from __future__ import annotations

import argparse
import json
import sys

TRAIN_SYNTHETIC_HELP = """\
Train the polar residual network (the shipped kind: a small U-Net that corrects
a radial fill in a polar patch around each hole) on synthetic coronagraph
scenes drawn on the fly (lascoproc.inpaint.synthetic; no real image is used).

The checkpoint is written every --checkpoint-every steps and when --max-minutes
runs out; --resume continues it (same options; only --steps may change) with
exactly the samples an uninterrupted run would have drawn. --export writes the
trained network as a weights file and prints its SHA-256 (pin it in
lascoproc/inpaint/model_registry.py to ship it).

On a GPU machine: --device cuda --workers 14 --batch-size 256 (samples are drawn
on the CPU cores; the network is small) and --amp bf16; or run
'python -m lascoproc.inpaint.train_gpu', which sets those defaults.
"""

TRAIN_HELP = """\
Train a partial-convolution inpainting network (the older, whole-frame kind) on
level-1 Zarr cubes written by lascoproc (any number of stores, paths or URLs).
Each step draws tiles from random frames and masks random 32n x 32m blocks on
the readout grid (never over the occulter, pylon or real missing blocks), then
minimises the per-layer pixel, perceptual, style and total-variation losses.
The checkpoint is written every --checkpoint-every steps and when --max-minutes
runs out; --resume continues it. --export writes the trained network as a
weights file and prints its SHA-256. See docs/inpainting.md.
"""

EVALUATE_HELP = """\
Score inpainting methods inside holes whose truth is known, and print a table
(PSNR, SSIM, L1 inside the holes; ms per frame, wall and CPU):

  --scenes [MANIFEST]  real single images (default: the shared scenes copied in
                       tests/data/scenes, LASCO C3, STEREO COR1, MLSO K-Cor): 24
                       grid-aligned blocks removed in the field (150-420 px from
                       the Sun centre for a 1024 C3 frame, the same fraction of
                       the field for the others), fixed seeds, scores in the
                       data's units; --png writes examples;
  --sequences          synthetic level-1 sequences (C3 at 12 min, C2 at 12 and
                       24 min, moving CMEs, evolving streamers), every method
                       including 'temporal'; scores in asinh-normalised units;
  STORE ...            level-1 Zarr cubes: random observed blocks masked in
                       held-out frames (spatial methods).
"""


def add_parser(commands) -> None:
    """Register ``inpaint train-synthetic``, ``inpaint train`` and ``inpaint evaluate``."""
    from lascoproc.inpaint.fill import METHODS

    inpaint = commands.add_parser(
        "inpaint", help="missing-block inpainting: train and evaluate",
        description="Missing-block inpainting of level-1 cubes (see docs/inpainting.md).")
    sub = inpaint.add_subparsers(dest="inpaint_command", metavar="COMMAND", required=True)

    syn = sub.add_parser("train-synthetic", help="train the polar residual network on "
                         "synthetic scenes", description=TRAIN_SYNTHETIC_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    syn.add_argument("--checkpoint", required=True,
                     help="checkpoint file to write (and to continue with --resume)")
    syn.add_argument("--resume", action="store_true", help="continue the checkpoint")
    syn.add_argument("--steps", type=int, default=4000, help="optimiser steps (default 4000)")
    syn.add_argument("--batch-size", type=int, default=24, help="patches per step (default 24)")
    syn.add_argument("--lr", type=float, default=2.0e-3,
                     help="AdamW learning rate (default 2e-3, cosine decay to 5%%)")
    syn.add_argument("--widths", type=int, nargs=2, default=None, metavar=("HALF", "QUARTER"),
                     help="channels at half and quarter resolution (default 24 32)")
    syn.add_argument("--depth", type=int, default=None,
                     help="convolutions at quarter resolution (default 2)")
    syn.add_argument("--smooth", action="store_true",
                     help="also give the network the smooth isotropic fill (a local linear "
                     "fit to the hole's surroundings) and let it choose, pixel by pixel, "
                     "between that and the radial fill (docs/inpainting.md, section 4)")
    syn.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none",
                     help="mixed precision on CUDA (default none)")
    syn.add_argument("--device", default=None, help="cuda, cpu ... (default: the GPU if any)")
    syn.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    syn.add_argument("--workers", type=int, default=0,
                     help="processes drawing the samples (default 0: in the main process)")
    syn.add_argument("--seed", type=int, default=0,
                     help="seed of the weights and the drawn scenes (sample k of step s is a "
                          "function of (seed, s, k); default 0, as for the shipped weights)")
    syn.add_argument("--checkpoint-every", type=int, default=50,
                     help="steps between checkpoints (default 50)")
    syn.add_argument("--max-minutes", type=float, default=None,
                     help="stop with a checkpoint after this wall time (resume later)")
    syn.add_argument("--export", metavar="WEIGHTS", default=None,
                     help="write the trained network to this weights file at the end")
    syn.add_argument("--name", default=None,
                     help="name recorded in the exported weights (default: file stem)")
    syn.set_defaults(run=run_train_synthetic)

    train = sub.add_parser("train", help="train a partial-convolution network on level-1 "
                           "Zarr cubes", description=TRAIN_HELP,
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
                       help="classical fill the network refines (default biharmonic)")
    train.add_argument("--features", choices=("random", "none"), default="random",
                       help="feature extractor of the perceptual/style losses (default random)")
    train.add_argument("--amp", choices=("auto", "none", "bf16", "fp16"), default="auto",
                       help="mixed precision (default auto: bf16 on CUDA, none on CPU)")
    train.add_argument("--device", default=None, help="cuda, cpu, cuda:1 ... (default: the "
                       "GPU if there is one)")
    train.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of the initial weights and of each batch (batch s is a "
                            "function of (seed, s); default 0)")
    train.add_argument("--checkpoint-every", type=int, default=100,
                       help="steps between checkpoints (default 100)")
    train.add_argument("--max-minutes", type=float, default=None,
                       help="stop with a checkpoint after this wall time (resume later)")
    train.add_argument("--export", metavar="WEIGHTS", default=None,
                       help="write the trained network to this weights file at the end")
    train.add_argument("--name", default=None,
                       help="name recorded in the exported weights (default: file stem)")
    train.set_defaults(run=run_train)

    evaluate = sub.add_parser("evaluate", help="score every method on real scenes, synthetic "
                              "sequences or level-1 cubes", description=EVALUATE_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("stores", nargs="*", help="held-out level-1 Zarr stores")
    evaluate.add_argument("--scenes", nargs="?", const="default", default=None,
                          metavar="MANIFEST",
                          help="evaluate on real scenes (a scenes.json; default: the shared "
                          "scenes in tests/data/scenes of a source checkout, which a pip "
                          "install does not have)")
    evaluate.add_argument("--scene", action="append", default=None,
                          help="only this scene of the manifest (repeatable)")
    evaluate.add_argument("--sequences", action="store_true",
                          help="evaluate on synthetic level-1 sequences")
    evaluate.add_argument("--sequence-size", type=int, default=1024,
                          help="frame edge of the sequences (default 1024)")
    evaluate.add_argument("--sequence-frames", type=int, default=12,
                          help="frames per sequence (default 12)")
    evaluate.add_argument("--sequence-seed", type=int, action="append", default=None,
                          help="seed of the sequences (repeatable; default 11)")
    evaluate.add_argument("--method", action="append", choices=(*METHODS, "fallback"),
                          help="method to score (repeatable; default: every method for scenes "
                               "and sequences, network, radial and biharmonic for stores); "
                               "temporal with --sequences only")
    evaluate.add_argument("--seed", type=int, action="append", default=None,
                          help="seed of the holes (scenes: repeatable, default 0 1 2 3; "
                          "stores: one seed, the first given, default 2024)")
    evaluate.add_argument("--frames", type=int, default=16,
                          help="stores: frames to evaluate, spread over the stores (default 16)")
    evaluate.add_argument("--weights", default=None,
                          help="weights file or registered name (default: the shipped model)")
    evaluate.add_argument("--sha256", default=None, help="expected SHA-256 of --weights")
    evaluate.add_argument("--spatial", default="radial", choices=("network", "radial", "fuzzy",
                                                                  "biharmonic"),
                          help="temporal: the spatial method where neighbours cannot help "
                               "(default radial)")
    evaluate.add_argument("--max-frames", type=int, default=None,
                          help="temporal: neighbours on each side (default 2)")
    evaluate.add_argument("--max-minutes", type=float, default=None,
                          help="temporal: largest time difference (default 50)")
    evaluate.add_argument("--temporal-offset", default="plane", choices=("plane", "constant"),
                          help="temporal: how a neighbour is brought to the target's level "
                               "over a hole, a brightness ratio fitted on the ring around it "
                               "that changes linearly across the hole (plane, default) or is "
                               "one number (constant, the median)")
    evaluate.add_argument("--device", default=None,
                          help="torch device of the network (cuda, cpu ...; default: the GPU "
                               "if any)")
    evaluate.add_argument("--amp", choices=("none", "bf16", "fp16"), default=None,
                          help="stores only: mixed precision of the network's inference")
    evaluate.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    evaluate.add_argument("--png", metavar="PATH", default=None,
                          help="scenes: write a PNG of examples")
    evaluate.add_argument("--json", metavar="PATH", default=None,
                          help="also write the report(s) as JSON")
    evaluate.set_defaults(run=run_evaluate)


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


def run_train_synthetic(args) -> int:
    import os

    from lascoproc.inpaint.patch_training import (
        PatchTrainConfig,
        export_patchnet,
        train_patchnet,
    )
    from lascoproc.inpaint.patchnet import PatchNetConfig

    _threads(args.threads)
    default = PatchNetConfig()
    model = PatchNetConfig(widths=tuple(args.widths or default.widths),
                           depth=default.depth if args.depth is None else args.depth,
                           smooth=args.smooth)
    config = PatchTrainConfig(model=model, steps=args.steps, batch_size=args.batch_size,
                              learning_rate=args.lr, seed=args.seed)
    result = train_patchnet(args.checkpoint, config=config, resume=args.resume,
                            device=args.device, workers=args.workers,
                            checkpoint_every=args.checkpoint_every,
                            amp=None if args.amp == "none" else args.amp,
                            max_seconds=None if args.max_minutes is None
                            else 60.0 * args.max_minutes)
    last = result["history"][-1] if result["history"] else {}
    print(f"step {result['step']} of {result['steps']} in {result['seconds']:.0f} s "
          f"({result['cpu_seconds']:.0f} s CPU); checkpoint {result['checkpoint']}"
          + (f"; loss {last['loss']:.4f}" if last else ""))
    if not result["finished"]:
        print("not finished: continue with --resume")
    if args.export:
        name = args.name or os.path.splitext(os.path.basename(args.export))[0]
        digest = export_patchnet(result["checkpoint"], args.export, name=name)
        print(f"weights {args.export} sha256 {digest}")
    return 0


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
    from lascoproc.inpaint import evaluate as ev
    from lascoproc.inpaint.fill import SPATIAL_METHODS

    if not (args.stores or args.scenes or args.sequences):
        print("lascoproc inpaint evaluate: give STORE..., --scenes or --sequences",
              file=sys.stderr)
        return 2
    if "temporal" in (args.method or ()) and (args.scenes or args.stores):
        # refused before any work: it used to be dropped, and the other methods scored instead
        what = ("--scenes (single images)" if args.scenes else
                "the STORE evaluation (held-out frames masked one at a time)")
        rest = "--scenes" if args.scenes else "the stores"
        print(f"lascoproc inpaint evaluate: --method temporal needs a sequence of frames with a "
              f"known truth in every lost block, which {what} does not give: score temporal "
              f"with --sequences, and {rest} without it", file=sys.stderr)
        return 2
    _threads(args.threads)
    reports = {}
    if args.scenes:
        from lascoproc.inpaint.scenes import load_scenes

        scenes = load_scenes(None if args.scenes == "default" else args.scenes,
                             names=args.scene)
        report = ev.evaluate_scenes(scenes, methods=args.method or SPATIAL_METHODS,
                                    weights=args.weights,
                                    sha256=args.sha256, device=args.device,
                                    seeds=args.seed or ev.SCENE_SEEDS)
        print(report.table())
        print(f"load average: {report.load}")
        reports["scenes"] = report.to_dict()
        if args.png:
            report.plot(args.png)
            print(f"examples written to {args.png}")
    if args.sequences:
        from lascoproc.testing.sequences import SequenceSpec, make_sequence

        seeds = args.sequence_seed or [11]
        sequences = [(f"{d} {c:g} min" + (f" seed {s}" if len(seeds) > 1 else ""),
                      make_sequence(SequenceSpec(detector=d, cadence_minutes=c,
                                                 frames=args.sequence_frames,
                                                 size=args.sequence_size, cmes=2, seed=s)))
                     for s in seeds for d, c in ev.SEQUENCE_SPECS]
        report = ev.evaluate_sequences(sequences, methods=args.method, weights=args.weights,
                                       sha256=args.sha256, device=args.device,
                                       max_frames=args.max_frames,
                                       max_minutes=args.max_minutes, spatial=args.spatial,
                                       temporal_offset=args.temporal_offset)
        print(report.table())
        print(f"load average: {report.load}")
        reports["sequences"] = report.to_dict()
    if args.stores:
        report = ev.evaluate(args.stores, frames=args.frames,
                             methods=args.method or ("network", "radial", "biharmonic"),
                             weights=args.weights, sha256=args.sha256,
                             seed=(args.seed or [2024])[0], device=args.device, amp=args.amp)
        print(report.table())
        if report.weights:
            print("weights: " + json.dumps(report.weights))
        reports["stores"] = report.to_dict()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(reports if len(reports) > 1 else next(iter(reports.values())), out,
                      indent=2)
        print(f"report written to {args.json}")
    return 0
