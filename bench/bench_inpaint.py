"""Inference throughput of the inpainting network: frames/s at 1024 x 1024.

Runs the network (the shipped model unless --weights) on synthetic normalised frames with
0.5% of their pixels in missing 32 x 32 blocks, for each batch size and precision, and prints
a table of frames per second; the figures are also written as JSON to
bench/results/inpaint_<device>.json (or --out).

    python bench/bench_inpaint.py --device cpu --threads 2 --batch-sizes 1 2 4 8
    python bench/bench_inpaint.py --device cuda --batch-sizes 1 2 4 8 16 32 64 \\
        --precisions fp32 bf16 fp16

Precisions: fp32 (no autocast), bf16 and fp16 (torch.autocast; fp16 is for GPUs). Sizes
above 8 are for GPUs: a CPU gains nothing from them. Each configuration is warmed up once,
then timed over --repeats runs of at least --min-frames frames; the best run is reported
(other processes on the machine only ever slow a run down). The time covers the host-to-
device copy, the forward pass and the copy back, not the normalisation or compositing
(numpy, per frame) nor the classical fill that a network with a prior refines (numpy, CPU,
per frame: timed once and printed apart).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lascoproc.inpaint.fallback import interpolate_holes
from lascoproc.inpaint.inference import predict
from lascoproc.inpaint.model_registry import load_model

RESULTS = Path(__file__).parent / "results"


def synthetic_frames(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised corona-like frames (radial fall-off, noise) and their known masks."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] - size / 2.0
    r = np.hypot(x, y) / (size / 2.0) + 0.05
    base = np.clip(0.2 - 0.5 * np.log10(r), 0.0, 1.0).astype(np.float32)
    frames = np.repeat(base[None], n, axis=0) + rng.normal(0, 0.02, (n, size, size)).astype(
        np.float32)
    known = np.ones((n, size, size), bool)
    blocks = size // 32
    for i in range(n):
        for b in rng.choice(blocks * blocks, max(1, blocks * blocks // 200), replace=False):
            by, bx = divmod(int(b), blocks)
            known[i, by * 32:(by + 1) * 32, bx * 32:(bx + 1) * 32] = False
    return frames, known


def cpu_name() -> str:
    """The CPU model (Linux ``/proc/cpuinfo``), else the platform's machine name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_one(model, frames, known, *, batch: int, precision: str, device: str, repeats: int,
            min_frames: int) -> float:
    amp = None if precision == "fp32" else precision
    n = max(batch, min_frames - min_frames % batch if min_frames >= batch else batch)
    sel = np.arange(n) % frames.shape[0]
    f, k = frames[sel], known[sel]
    extra = {}
    if model.config.prior != "none":  # the classical fill is an input; its cost is apart
        extra = {"prior": f, "usable": np.ones(f.shape, bool)}
    first = {key: value[:batch] for key, value in extra.items()}
    predict(model, f[:batch], k[:batch], batch_size=batch, device=device, amp=amp,
            **first)  # warm up
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        predict(model, f, k, batch_size=batch, device=device, amp=amp, **extra)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return n / best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--size", type=int, default=1024, help="frame edge (default 1024)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"],
                        choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--min-frames", type=int, default=8,
                        help="frames per timed run (rounded to whole batches; default 8)")
    parser.add_argument("--weights", default=None, help="weights file (default: shipped)")
    parser.add_argument("--out", default=None, help="JSON output (default "
                        "bench/results/inpaint_<device>.json)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run with --device cpu, or on a GPU machine", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    model, resolved, _ = load_model(args.weights, device=args.device)
    frames, known = synthetic_frames(min(max(args.batch_sizes), 8), args.size)
    rows = []
    fallback_s = None
    if model.config.prior != "none":  # the biharmonic fill the network refines (numpy, CPU)
        y = np.where(known[0], frames[0], np.nan)
        started = time.perf_counter()
        interpolate_holes(y, ~known[0], kind=model.config.prior)
        fallback_s = time.perf_counter() - started
        print(f"{model.config.prior} fill (CPU, numpy), one frame: {fallback_s:.3f} s")
    print(f"{'batch':>6}" + "".join(f"{p + ' frames/s':>16}" for p in args.precisions))
    for batch in args.batch_sizes:
        row = {"batch": batch}
        for precision in args.precisions:
            row[precision] = run_one(model, frames, known, batch=batch, precision=precision,
                                     device=args.device, repeats=args.repeats,
                                     min_frames=args.min_frames)
        rows.append(row)
        print(f"{batch:>6}" + "".join(f"{row[p]:>16.3f}" for p in args.precisions), flush=True)
    device_name = (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                   else cpu_name())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    record = {
        "benchmark": "lascoproc inpainting inference, frames/s",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": args.device, "device_name": device_name, "threads": args.threads,
        "size": args.size, "torch": torch.__version__, "weights": resolved.name,
        "weights_sha256": resolved.sha256, "load_average_1min": load,
        "command": "python bench/bench_inpaint.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv),
        "prior": model.config.prior, "prior_fill_seconds_per_frame": fallback_s,
        "results": rows,
    }
    out = Path(args.out) if args.out else RESULTS / f"inpaint_{args.device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
