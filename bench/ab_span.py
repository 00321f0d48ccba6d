"""The level-1 rows cut to the field (``span``) against full rows: the plain loop of
``bench_level1.py`` (read + calibrate, one thread) on its drifting-roll archive, 8 passes, the
two variants alternating in order, CPU ms per frame.

    .venv/bin/python bench/ab_span.py --workdir /tmp/l1bench   # after bench_level1.py made it
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_level1 import Case  # noqa: E402

from lascoproc.kernels import resample  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--passes", type=int, default=8)
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    case = Case(str(work / "archive-drifting-128"), str(work / "calib"), 32)
    run = resample._run
    case.plain()  # warm-up
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for k in range(args.passes):
            for span in ((True, False) if k % 2 else (False, True)):
                resample._run = functools.partial(run, span=span)
                t0 = time.process_time()
                case.plain()
                times[span].append((time.process_time() - t0) / case.n * 1e3)
    finally:
        resample._run = run
    for span, values in times.items():
        print(f"span={span}: " + " ".join(f"{v:.2f}" for v in values)
              + f"  median {statistics.median(values):.2f} ms/frame")
    gain = statistics.median(a - b for a, b in zip(times[False], times[True], strict=True))
    print(f"paired difference (full - cut), median: {gain:.2f} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
