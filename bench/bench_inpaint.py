"""Cost of each inpainting method per 1024 x 1024 frame, side by side (issue 10, item 4).

Frames: a synthetic LASCO C3 level-1 sequence (:mod:`lascoproc.testing.sequences`, 1024 x 1024,
12-minute cadence) with exactly ``--blocks`` lost 32 x 32 blocks per frame. For each method the
whole fill of ``--frames`` frames is timed (``lascoproc.inpaint.fill_frames``: normalisation,
fill, compositing; the network batches the patches of all frames in one call), after one
untimed warm-up call (the network's weights load); the best of ``--repeats`` runs is reported,
as wall time and as CPU time of this process (``time.process_time``, which other jobs on the
machine do not inflate), per frame. A frame without holes is timed too (the network must cost
nothing there). The load average is recorded before and after.

    python bench/bench_inpaint.py --device cpu --threads 1
    python bench/bench_inpaint.py --device cuda --frames 256 --methods network   # GPU machine

Writes ``bench/results/inpaint_<device>.json`` (or ``--out``). Without CUDA, ``--device cuda``
says so and exits with status 2.
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

RESULTS = Path(__file__).parent / "results"
METHODS = ("network", "radial", "fuzzy", "biharmonic", "temporal", "auto")


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


def load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def frames_with_blocks(n: int, blocks: int, seed: int = 5):
    """``n`` C3 frames with exactly ``blocks`` lost blocks each: (brightness, holes, centers,
    times)."""
    from lascoproc.testing.sequences import SequenceSpec, make_sequence

    seq = make_sequence(SequenceSpec(detector="C3", frames=n, size=1024, cmes=1, seed=seed,
                                     missing_blocks=(blocks, blocks)))
    cube = seq.cube
    q = cube["quality"].values
    holes = ((q & 1) != 0) & ((q & 2) == 0)
    centers = np.stack([cube["crpix1"].values - 1.0, cube["crpix2"].values - 1.0], axis=1)
    return cube["brightness"].values, holes, centers, cube["time"].values


def time_method(method: str, b, holes, centers, times, *, device: str, repeats: int,
                batch_size: int | None, weights: str | None = None,
                sha256: str | None = None) -> dict[str, float]:
    from lascoproc.inpaint.fill import fill_frames

    kwargs = dict(method=method, centers=centers, device=device, batch_size=batch_size)
    if method == "network" and weights is not None:
        kwargs.update(weights=weights, sha256=sha256)
    if method == "temporal":
        kwargs["times"] = times
    fill_frames(b[:2], holes[:2], **{**kwargs, "centers": centers[:2],
                                     **({"times": times[:2]} if method == "temporal" else {})})
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        w0, c0 = time.perf_counter(), time.process_time()
        fill_frames(b, holes, **kwargs)
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    n = b.shape[0]
    return {"ms_wall_per_frame": 1e3 * best_wall / n, "ms_cpu_per_frame": 1e3 * best_cpu / n}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--frames", type=int, default=8, help="frames per timed run (default 8)")
    parser.add_argument("--blocks", type=int, default=5, help="lost blocks per frame (default 5)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="network patches per call (default: 64 CPU, 512 GPU)")
    parser.add_argument("--weights", default=None,
                        help="network weights file (default: the shipped ones)")
    parser.add_argument("--sha256", default=None, help="the SHA-256 --weights must have")
    parser.add_argument("--out", default=None, help="JSON output (default "
                        "bench/results/inpaint_<device>.json)")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run with --device cpu, or on a GPU machine", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from lascoproc.inpaint.model_registry import resolve_weights

    b, holes, centers, times = frames_with_blocks(args.frames, args.blocks)
    load_before = load_average()
    rows = {}
    for method in args.methods:
        rows[method] = time_method(method, b, holes, centers, times, device=args.device,
                                   repeats=args.repeats, batch_size=args.batch_size,
                                   weights=args.weights, sha256=args.sha256)
        print(f"{method:<11}{rows[method]['ms_wall_per_frame']:>9.1f} ms/frame wall"
              f"{rows[method]['ms_cpu_per_frame']:>9.1f} ms/frame CPU", flush=True)
    empty = None
    if "network" in args.methods:  # a frame without holes costs nothing
        none = np.zeros_like(holes)
        empty = time_method("network", b, none, centers, times, device=args.device,
                            repeats=args.repeats, batch_size=args.batch_size,
                            weights=args.weights, sha256=args.sha256)
        print(f"{'no holes':<11}{empty['ms_wall_per_frame']:>9.3f} ms/frame wall"
              f"{empty['ms_cpu_per_frame']:>9.3f} ms/frame CPU (network)")
    device_name = (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                   else cpu_name())
    resolved = resolve_weights(args.weights, sha256=args.sha256)
    record = {
        "benchmark": "lascoproc inpainting: cost per 1024 x 1024 frame",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": args.device, "device_name": device_name, "threads": args.threads,
        "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "frames": args.frames, "lost_blocks_per_frame": args.blocks,
        "hole_pixels_per_frame": float(holes.sum() / holes.shape[0]),
        "weights": resolved.name, "weights_sha256": resolved.sha256,
        "load_average_before": load_before, "load_average_after": load_average(),
        "command": "python bench/bench_inpaint.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv),
        "results": rows, "network_frame_without_holes": empty,
    }
    out = Path(args.out) if args.out else RESULTS / f"inpaint_{args.device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
