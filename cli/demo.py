"""``lascoproc demo``: the whole job on synthetic archives that it writes itself."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEMO_HELP = """\
Run lascoproc end to end on the embedded default: synthetic archives in the real
formats (a LASCO level-0.5 tree with img_hdr.txt indexes, SolarSoft calibration
files, an SDOML v2 store), written under OUT, then processed:

  OUT/archive/level_05/...      synthetic LASCO level-0.5 archive (with bad files)
  OUT/calib/lasco/...           synthetic SolarSoft calibration files
  OUT/c2_l05.zarr, c3_l05.zarr  level-0.5 cubes
  OUT/c2_l1.zarr, c3_l1.zarr    level-1 cubes: brightness (MSB), missing blocks filled
                                by the shipped inpainting network and flagged,
                                per-frame factors and WCS, provenance
  OUT/sdoml.zarr                synthetic SDOML v2 store (known injected degradation)
  OUT/aia_degradation.zarr      AIA degradation series by the shipped CNN, with the
                                aiapy V10 factor; .csv and .png plots beside it

Open the results with xarray.open_zarr. Rerunning reuses the synthetic LASCO
archive and calibration files already in OUT (then --days, --frames-per-day and
--seed do not change them: remove OUT to make new ones), and rewrites the outputs.
Needs the ml and plot extras (torch, matplotlib), which `make demo` installs.
"""


def add_parser(commands) -> None:
    demo = commands.add_parser("demo", help="run the pipeline on synthetic archives",
                               description=DEMO_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--out", default="demo-output", help="output directory (default "
                      "demo-output)")
    demo.add_argument("--days", type=int, default=2, help="days of LASCO data (default 2)")
    demo.add_argument("--frames-per-day", type=int, default=12,
                      help="frames per day and detector (default 12)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=run)


def run(args) -> int:
    from lascoproc.pipeline.ingest import ingest_level05
    from lascoproc.pipeline.level1 import run_level1
    from lascoproc.testing.calib import exposure_records_from_archive, write_calibration_files
    from lascoproc.testing.lasco import write_lasco_archive

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    archive_dir = out / "archive"
    start = "2002-05-21"
    if not (archive_dir / "level_05").is_dir():
        print(f"writing a synthetic LASCO level-0.5 archive to {archive_dir}")
        write_lasco_archive(archive_dir, start=start, days=args.days,
                            frames_per_day=args.frames_per_day, seed=args.seed,
                            bad_files=True, progress=True)
    calib_dir = out / "calib"
    if not (calib_dir / "lasco").is_dir():
        print(f"writing synthetic SolarSoft calibration files to {calib_dir}")
        write_calibration_files(calib_dir, start=start, days=args.days, seed=args.seed,
                                exposures=exposure_records_from_archive(archive_dir))
    for detector in ("c2", "c3"):
        store = out / f"{detector}_l05.zarr"
        result = ingest_level05(str(archive_dir), detector=detector, out=str(store),
                                overwrite=True, progress=True)
        print(f"{detector.upper()}: {result.report.frames} level-0.5 frames -> {store}")
        for line in result.rejected:
            print(f"  not used: {line}")
        level1 = out / f"{detector}_l1.zarr"
        l1 = run_level1(str(archive_dir), detector=detector, calib=str(calib_dir),
                        out=str(level1), overwrite=True, progress=True, inpaint="network")
        print(f"{detector.upper()}: {l1.report.frames} level-1 frames -> {level1}")
        for line in l1.flagged:
            print(f"  not calibrated: {line}")
    from lascoproc.pipeline.aia import run_demo
    from lascoproc.testing.sdoml import write_sdoml_store

    sdoml = out / "sdoml.zarr"
    synth = write_sdoml_store(str(sdoml), size=128, cadence="30D", seed=args.seed)
    print(f"wrote a synthetic SDOML v2 store to {sdoml}")
    summary = run_demo(str(sdoml), out, truth=synth.degradation)
    print(f"AIA: degradation series of {summary['frames']} frames -> {summary['store']} "
          f"(+ CSV and plots); {100 * summary['share_within_005']:.1f}% of the (bin, channel) "
          f"pairs within 0.05 of the injected degradation, "
          f"{100 * summary['share_within_2sigma']:.0f}% within two sigma; largest "
          f"|estimate - injected| per channel: {summary['max_abs_error']}")
    print(f"demo finished in {time.perf_counter() - started:.1f} s; open the cubes with "
          f"xarray.open_zarr('{out / 'c3_l1.zarr'}')")
    return 0
