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
  OUT/c2_l05.zarr, c3_l05.zarr  level-0.5 cubes of the full 1024x1024 frames
  OUT/c2_l05_NYxNX.zarr, c3_l05_NYxNX.zarr
                                level-0.5 cubes of the other frame sizes, one store
                                per size: c2_l05_512x512.zarr (2x2-binned frames and
                                512x512 subfields), c3_l05_480x640.zarr...
  OUT/c2_l1.zarr, c3_l1.zarr    level-1 cubes of the full frames: brightness (MSB),
                                missing blocks filled by the shipped inpainting
                                network and flagged, per-frame factors and WCS,
                                provenance
  OUT/c2_l1_NYxNX.zarr, c3_l1_NYxNX.zarr
                                level-1 cubes of the other frame sizes, as above
  OUT/c2_l05.zarr.report.json, c2_l1.zarr.report.json, c3_...
                                the run report of each step: every input file and
                                what became of it, the stores it went to
  OUT/sdoml.zarr                synthetic SDOML v2 store (known injected degradation)
  OUT/aia_degradation_frames.zarr
                                per-frame AIA degradation estimates of the SDOML
                                frames by the shipped CNN ensemble, with its spread
  OUT/aia_degradation.zarr      AIA degradation series (time bins) from those, with
                                the aiapy V10 factor; .csv and .png plots beside it

Of each day's --frames-per-day frames per detector, one is a 2x2-binned frame and
one a subfield, the others full frames: with fewer than 3 there is no full frame,
hence no c2_l1.zarr or c3_l1.zarr, only NYxNX stores. The summary at the end names
every store written with its frame count.

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
                      help="LASCO frames per day and detector (default 12): one 2x2-binned "
                           "frame, one subfield, the others full 1024x1024 frames")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of the synthetic LASCO archive, calibration files and "
                           "SDOML store: the same seed writes the same bytes (default 0)")
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
    opened = None
    for detector in ("c2", "c3"):
        store = out / f"{detector}_l05.zarr"
        result = ingest_level05(str(archive_dir), detector=detector, out=str(store),
                                overwrite=True, progress=True)
        print(stores_line(f"{detector.upper()}: ", "level-0.5", result))
        for line in result.rejected:
            print(f"  not used: {line}")
        level1 = out / f"{detector}_l1.zarr"
        l1 = run_level1(str(archive_dir), detector=detector, calib=str(calib_dir),
                        out=str(level1), overwrite=True, progress=True, inpaint="network")
        print(stores_line(f"{detector.upper()}: ", "level-1", l1))
        for line in not_calibrated(l1):
            print(f"  not calibrated: {line}")
        opened = l1.report.store
    from lascoproc.io.zarr_store import open_store
    from lascoproc.pipeline.aia import run_demo
    from lascoproc.testing.sdoml import write_sdoml_store

    sdoml = out / "sdoml.zarr"
    synth = write_sdoml_store(str(sdoml), size=128, cadence="30D", seed=args.seed)
    print(f"wrote a synthetic SDOML v2 store to {sdoml}")
    summary = run_demo(str(sdoml), out, truth=synth.degradation)
    frames_store = summary["frames_store"]
    series = open_store(summary["store"])
    print(f"AIA: {open_store(frames_store).sizes['time']} frames -> {frames_store} "
          f"(per-frame estimates); {series.sizes['time']} time bins of "
          f"{series.attrs.get('cadence', '30D')} -> {summary['store']} (+ CSV and plots); "
          f"{100 * summary['share_within_005']:.1f}% of the (bin, channel) "
          f"pairs within 0.05 of the injected degradation, "
          f"{100 * summary['share_within_2sigma']:.0f}% within two sigma; largest "
          f"|estimate - injected| per channel: {summary['max_abs_error']}")
    print(f"demo finished in {time.perf_counter() - started:.1f} s; open the cubes with "
          f"xarray.open_zarr('{opened}')")
    return 0


def stores_line(prefix: str, level: str, result) -> str:
    """Every store a LASCO step wrote, with its frame count: ``C2: 2 level-1 frames ->
    c2_l1.zarr; 2 -> c2_l1_512x512.zarr`` (the first is ``OUT`` where the run had full
    frames, else the first of the ``OUT_NYxNX`` stores)."""
    stores = [(result.report.store, result.report), *result.others.values()]
    (first, report), rest = stores[0], stores[1:]
    plural = "" if report.frames == 1 else "s"
    return prefix + "; ".join([f"{report.frames} {level} frame{plural} -> {first}",
                               *(f"{r.frames} -> {store}" for store, r in rest)])


def not_calibrated(result) -> list[str]:
    """``"filename: reason"`` of the frames of every store of a level-1 run that could not
    be calibrated (``Level1Result.flagged`` covers the first store only)."""
    from lascoproc.io.zarr_store import open_store

    lines = list(result.flagged)
    for store, _ in result.others.values():
        ds = open_store(store)
        lines += [f"{name}: {reason}" for name, reason in
                  zip(ds["filename"].values, ds["frame_status_reason"].values, strict=True)
                  if reason]
    return lines
