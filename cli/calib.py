"""``lascoproc calib ...``: the SolarSoft calibration files."""

from __future__ import annotations

import argparse

FETCH_HELP = """\
Mirror the SolarSoft LASCO calibration files the level-1 chain reads into DEST,
laid out as SolarSoft's $NRL_LIB (lasco/data/calib/..., lasco/expfac/data/YYMM/...,
lasco/convert/...). Each file is validated (FITS with astropy, tables as text,
IDL save files by signature) before it is accepted, and DEST/MANIFEST.json
records its SHA-256; the store refuses files that no longer match.

The exposure-factor tables are one file per detector and day: name the days
with --start/--end (default: none, only the fixed files).
"""


def add_parser(commands) -> None:
    calib = commands.add_parser("calib", help="SolarSoft LASCO calibration files",
                                description="SolarSoft LASCO calibration files.")
    sub = calib.add_subparsers(dest="calib_command", metavar="COMMAND", required=True)
    fetch = sub.add_parser("fetch", help="mirror the calibration files over https",
                           description=FETCH_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    fetch.add_argument("dest", help="destination directory (or fsspec URL)")
    fetch.add_argument("--base-url", default=None,
                       help="SolarSoft mirror of $NRL_LIB (default: the first known mirror)")
    fetch.add_argument("--detector", choices=("c2", "c3"), action="append",
                       help="only the files of this detector (repeatable; default both)")
    fetch.add_argument("--start", help="first day of exposure-factor tables (YYYY-MM-DD)")
    fetch.add_argument("--end", help="last day of exposure-factor tables (YYYY-MM-DD)")
    fetch.set_defaults(run=run_fetch)

    listing = sub.add_parser("list", help="list the calibration files the chain reads")
    listing.set_defaults(run=run_list)


def run_fetch(args) -> int:
    import pandas as pd

    from lascoproc.io.calib_store import DOWNLOAD_BASES, calibration_file_paths, fetch_calibration

    days = []
    if args.start:
        days = [d.date() for d in pd.date_range(args.start, args.end or args.start, freq="D")]
    detectors = tuple(d.upper() for d in (args.detector or ("c2", "c3")))
    files = calibration_file_paths(detectors=detectors, days=days)
    manifest = fetch_calibration(args.dest, files=files,
                                 base_url=args.base_url or DOWNLOAD_BASES[0], progress=True)
    print(f"{len(manifest)} calibration files in {args.dest} (MANIFEST.json has their SHA-256)")
    return 0


def run_list(args) -> int:
    from lascoproc.io.calib_store import CALIBRATION_FILES

    for f in CALIBRATION_FILES:
        valid = f"{f.valid_from or '...'} to {f.valid_to or '...'}"
        print(f"{f.name:<24}{f.detector:<5}{f.fmt:<9}{valid:<26}{f.path}")
        print(f"{'':<24}{f.purpose} [{f.read_by}]")
    return 0
