"""The lazy level-1 cube's cost, split: building its graph against computing it, each against
the plain loop of ``bench_level1.py`` in the same pass (12 passes, which runs first alternating).

    .venv/bin/python bench/bench_cube_split.py --case drifting --frames-per-chunk 4

Uses the archives ``bench_level1.py`` writes in its ``--workdir`` (128 frames; made here if
missing). Prints the plain loop's best CPU ms per frame, the median CPU ms per frame of
building the cube (the level-0.5 cube, then ``calibrate_level1`` with the plan given), and the
medians over passes of compute / plain and (build + compute) / plain within a pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import dask
import dask.array as da

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_level1 as b  # noqa: E402


def cpu_ms(fn, frames: int):
    """``(CPU ms per frame, fn's result)``."""
    t0 = os.times()
    result = fn()
    t1 = os.times()
    return 1e3 * ((t1.user - t0.user) + (t1.system - t0.system)) / frames, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(b.CASES), default="drifting")
    parser.add_argument("--frames-per-chunk", type=int, default=4)
    parser.add_argument("--passes", type=int, default=12)
    parser.add_argument("--workdir", type=Path, default=Path("/work/l1bench"))
    args = parser.parse_args()
    case = b.Case(*b.prepare(args.workdir, 128)[args.case], 32)

    def build():
        level05 = b.lasco_cube_from_frames(case.frames, frames_per_chunk=args.frames_per_chunk)
        return b.calibrate_level1(level05, case.store, plan=case.plan)

    def compute(cube):
        with dask.config.set(scheduler="threads", num_workers=1):
            da.store([cube["brightness"].data, cube["quality"].data],
                     [b._Discard(), b._Discard()], lock=False)

    compute(build())  # warm-up
    case.plain()
    res = {"plain": [], "build": [], "compute": []}

    def cube_pass():
        t_build, cube = cpu_ms(build, case.n)
        res["build"].append(t_build)
        res["compute"].append(cpu_ms(lambda: compute(cube), case.n)[0])

    def plain_pass():
        res["plain"].append(cpu_ms(case.plain, case.n)[0])

    for k in range(args.passes):
        for step in ((cube_pass, plain_pass) if k % 2 else (plain_pass, cube_pass)):
            step()

    def paired(values):
        return statistics.median(v / p for v, p in zip(values, res["plain"], strict=True))

    both = [x + y for x, y in zip(res["build"], res["compute"], strict=True)]
    print(f"{args.case}, {args.frames_per_chunk} frames per chunk: plain loop best "
          f"{min(res['plain']):.2f} ms/frame; build {statistics.median(res['build']):.2f} "
          f"ms/frame; compute / plain {paired(res['compute']):.3f}; (build + compute) / plain "
          f"{paired(both):.3f}")


if __name__ == "__main__":
    main()
