"""``lascoproc demo``: the whole job on synthetic archives that it writes itself."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEMO_HELP = """\
Run lascoproc end to end on the embedded default: synthetic archives in the real
formats (a LASCO level-0.5 tree with img_hdr.txt indexes, SolarSoft calibration
files, an SDOML v2-format AIA store), written under OUT, then processed:

  OUT/archive/level_05/...     synthetic LASCO level-0.5 archive
  OUT/calib/...                synthetic SolarSoft calibration files
  OUT/sdoml.zarr               synthetic SDOML v2 store
  OUT/c2_l05.zarr, c3_l05.zarr level-0.5 cubes (xr.open_zarr opens them)

Rerunning reuses the synthetic inputs and rewrites the outputs.
"""


def add_parser(commands) -> None:
    demo = commands.add_parser("demo", help="run the pipeline on synthetic archives",
                               description=DEMO_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--out", default="demo-output", help="output directory (default "
                      "demo-output)")
    demo.add_argument("--days", type=int, default=2, help="days of LASCO data (default 2)")
    demo.add_argument("--frames-per-day", type=int, default=6,
                      help="full frames per day and detector (default 6)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=run)


def run(args) -> int:
    from lascoproc.testing.lasco import write_lasco_archive

    from lascoproc.pipeline.ingest import ingest_level05

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    archive_dir = out / "archive"
    if not (archive_dir / "level_05").is_dir():
        print(f"writing a synthetic LASCO level-0.5 archive to {archive_dir}")
        write_lasco_archive(archive_dir, days=args.days, frames_per_day=args.frames_per_day,
                            seed=args.seed, bad_files=True, progress=True)
    for detector in ("c2", "c3"):
        store = out / f"{detector}_l05.zarr"
        result = ingest_level05(str(archive_dir), detector=detector, out=str(store),
                                overwrite=True, progress=True)
        print(f"{detector.upper()}: {result.report.frames} level-0.5 frames -> {store}")
        for line in result.rejected:
            print(f"  not used: {line}")
    print(f"demo finished in {time.perf_counter() - started:.1f} s; open the cubes with "
          f"xarray.open_zarr('{out / 'c2_l05.zarr'}')")
    return 0
