"""Train the polar residual network on a GPU machine: ``python -m lascoproc.inpaint.train_gpu``.

The CPU-sized run that made the shipped weights (docs/inpainting.md) saw a few ten thousand
patches; on a GPU the same code sees millions. Defaults for one CUDA device and a 16-core host:
batches of 256 patches drawn by 14 worker processes (the network is small, so the CPU side is
the bottleneck), bf16 autocast, 20 000 steps with a cosine schedule, a checkpoint every 200
steps and after ``--max-minutes`` (resume with ``--resume``), then the validation loss on
held-out synthetic samples and the weights file with its SHA-256::

    python -m lascoproc.inpaint.train_gpu --out /scratch/inpaint --max-minutes 55
    python -m lascoproc.inpaint.train_gpu --out /scratch/inpaint --resume   # continue

then ``lascoproc inpaint evaluate --scenes --weights /scratch/inpaint/polar_residual_gpu.pt
--sha256 <digest>`` and, to ship it, pin the digest in :mod:`lascoproc.inpaint.model_registry`.
Without a CUDA device it says so and exits with status 2 (``--device cpu`` runs it anyway).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lascoproc.inpaint.train_gpu",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory for checkpoint and weights")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3.0e-3)
    parser.add_argument("--widths", type=int, nargs=2, default=(24, 32))
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--smooth", action="store_true",
                        help="the smooth prior channel and the per-pixel choice of prior")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"), default="bf16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--name", default="polar_residual_gpu")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run on a GPU machine, or pass --device cpu",
              file=sys.stderr)
        return 2
    from lascoproc.inpaint.patch_training import (
        PatchTrainConfig,
        export_patchnet,
        train_patchnet,
        validation_loss,
    )
    from lascoproc.inpaint.patchnet import PatchNetConfig, PolarResidualNet

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, f"{args.name}.ckpt")
    model = PatchNetConfig(widths=tuple(args.widths), depth=args.depth, smooth=args.smooth)
    config = PatchTrainConfig(model=model,
                              steps=args.steps, batch_size=args.batch_size,
                              learning_rate=args.lr, seed=args.seed)
    result = train_patchnet(checkpoint, config=config, resume=args.resume, device=args.device,
                            workers=args.workers, checkpoint_every=200, log_every=50,
                            amp=None if args.amp == "none" else args.amp,
                            max_seconds=None if args.max_minutes is None
                            else 60.0 * args.max_minutes)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = PolarResidualNet(config.model)
    model.load_state_dict(state["model"])
    validation = validation_loss(model, batches=16, batch_size=64)
    summary = {k: v for k, v in result.items() if k != "history"} | {"validation": validation}
    print(json.dumps(summary, indent=2))
    if not result["finished"]:
        print("not finished: continue with --resume")
        return 0
    weights = os.path.join(args.out, f"{args.name}.pt")
    digest = export_patchnet(checkpoint, weights, name=args.name, version="gpu",
                             training={"validation": json.dumps(validation)})
    print(f"weights {weights} sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
