"""``lascoproc synth ...``: write synthetic archives in the real formats."""

from __future__ import annotations

import argparse
import os

from lascoproc_cli.options import positive_int, positive_interval, timestamp

SYNTH_HELP = """\
Write synthetic data in the exact formats of the real archives, deterministic
from --seed, for tests, demos and benchmarks:

  lasco  NRL's level-0.5 tree level_05/YYMMDD/c2|c3/NNNNNNNN.fts with img_hdr.txt
         per day: 1024x1024 frames (plus binned and subfield ones), a corona with
         streamers, stars and a CME, missing 32x32 telemetry blocks
  calib  SolarSoft's lasco/data/calib files (vignetting, masks, stray light,
         exposure-factor tables, occulter centre and roll tables, TIME_DIFF.DAT
         and the C2 time offsets), SOHO orbit files and a MANIFEST.json
  aia    an SDOML v2-format Zarr store (format 2, <year>/<channel>), with a known
         per-channel degradation injected
"""


def add_parser(commands) -> None:
    synth = commands.add_parser("synth", help="write synthetic archives in the real formats",
                                description=SYNTH_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = synth.add_subparsers(dest="synth_command", metavar="KIND", required=True)

    lasco = sub.add_parser("lasco", help="a LASCO level-0.5 archive",
                           description="Write a synthetic LASCO level-0.5 archive, NRL's "
                                       "level_05/YYMMDD/c2|c3/ tree with img_hdr.txt per day.")
    lasco.add_argument("directory", help="where to write level_05/ (created if needed)")
    lasco.add_argument("--start", default="2002-05-21", help="first day (default 2002-05-21)")
    lasco.add_argument("--days", type=int, default=2, help="number of days (default 2)")
    lasco.add_argument("--frames-per-day", type=int, default=6,
                       help="frames per day and detector, all listed in img_hdr.txt "
                            "(default 6): one a 512x512 2x2-binned frame, one (from 2 up) a "
                            "subfield around the Sun (C2 512x512, C3 480x640), the others "
                            "full 1024x1024 frames, so below 3 none is full; --bad-files adds "
                            "its files to these")
    lasco.add_argument("--bad-files", action="store_true",
                       help="also write one truncated, non-FITS, incomplete and wrong-size file")
    lasco.add_argument("--seed", type=int, default=0,
                       help="the same seed and options write the same bytes (default 0)")
    lasco.set_defaults(run=run_lasco)

    calib = sub.add_parser("calib", help="SolarSoft LASCO calibration files",
                           description="Write synthetic SolarSoft LASCO calibration files "
                                       "(laid out as $NRL_LIB), SOHO orbit files and "
                                       "MANIFEST.json.")
    calib.add_argument("directory", help="calibration store to write (created if needed)")
    calib.add_argument("--start", default="2002-05-21", help="first day (default 2002-05-21)")
    calib.add_argument("--days", type=int, default=2, help="number of days (default 2)")
    calib.add_argument("--seed", type=int, default=0,
                       help="the same seed and options write the same bytes (default 0)")
    calib.add_argument("--archive", default=None, metavar="DIR",
                       help="a synthetic archive (synth lasco) whose frames the exposure-factor "
                            "tables list, with their bias and exposure factor, as NRL's do; "
                            "without it the tables list no frame and the run falls back to "
                            "the bias ports and an exposure factor of 1 (stated per frame)")
    calib.set_defaults(run=run_calib)

    aia = sub.add_parser("aia", help="an SDOML v2-format AIA store",
                         description="Write a synthetic SDOML v2-format AIA Zarr store with "
                                     "a known per-channel degradation injected.")
    aia.add_argument("directory", help="Zarr store to write (e.g. sdoml.zarr)")
    aia.add_argument("--start", type=timestamp, default=timestamp("2010-05-13"),
                     help="first frame (default 2010-05-13)")
    aia.add_argument("--end", type=timestamp, default=timestamp("2020-12-31"),
                     help="last frame (default 2020-12-31)")
    aia.add_argument("--cadence", type=positive_interval, default="30D",
                     help="time between frames (default 30D)")
    aia.add_argument("--size", type=positive_int, default=512, help="image size (default 512)")
    aia.add_argument("--seed", type=int, default=0,
                     help="the same seed and options write the same bytes (default 0)")
    aia.add_argument("--activity", choices=("stationary", "cycle24"), default="stationary",
                     help="stationary: active regions and coronal holes with the same "
                          "statistics every year, so the injected degradation can be told "
                          "from the Sun (default); cycle24: active regions follow solar cycle "
                          "24 (the real Sun's confusion of cycle and degradation)")
    aia.set_defaults(run=run_aia)


def run_lasco(args) -> int:
    from lascoproc.testing.lasco import write_lasco_archive

    archive = write_lasco_archive(args.directory, start=args.start, days=args.days,
                                  frames_per_day=args.frames_per_day, seed=args.seed,
                                  bad_files=args.bad_files, progress=True)
    print(f"{len(archive.good())} frames ({len(archive.bad())} bad files) written under "
          f"{archive.root}")
    return 0


def run_calib(args) -> int:
    from lascoproc.testing.calib import exposure_records_from_archive, write_calibration_files

    if args.archive and not os.path.isdir(args.archive):
        raise FileNotFoundError(f"--archive {args.archive}: no such directory")
    exposures = exposure_records_from_archive(args.archive) if args.archive else None
    files = write_calibration_files(args.directory, start=args.start, days=args.days,
                                    seed=args.seed, exposures=exposures)
    print(f"{len(files)} calibration files written under {args.directory} "
          "(MANIFEST.json has their SHA-256)")
    return 0


def run_aia(args) -> int:
    from lascoproc.testing.sdoml import write_sdoml_store

    store = write_sdoml_store(args.directory, start=args.start, end=args.end,
                              cadence=args.cadence, size=args.size, seed=args.seed,
                              activity=args.activity, progress=True)
    del store
    print(f"SDOML v2-format store written to {args.directory} ({args.start:%Y-%m-%d} to "
          f"{args.end:%Y-%m-%d}, every {args.cadence}, {args.size}x{args.size})")
    return 0
