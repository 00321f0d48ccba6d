"""``lascoproc calib ...``: the SolarSoft calibration files."""

from __future__ import annotations

import argparse

FETCH_HELP = """\
Mirror the SolarSoft LASCO calibration files the level-1 chain reads into DEST,
laid out as SolarSoft's $NRL_LIB (lasco/data/calib/..., lasco/expfac/data/YYMM/...,
lasco/convert/...), with TIME_DIFF.DAT and the C2 time offsets that correct
DATE-OBS, and SOHO's orbit files of the days (ancil_data/orbit/..., from the SOHO
ancillary data server; definitive and predictive, the newest version). Each file
is validated (FITS with astropy, tables as text, IDL save files by signature,
TIME_DIFF.DAT and orbit tables decoded) before it is accepted, written through a
temporary name, and DEST/MANIFEST.json records its SHA-256; the store refuses
files that no longer match and files the manifest does not list.

The exposure-factor tables and the orbit files are one file per day: name the
days with --start/--end (default: none, only the fixed files).
"""

MANIFEST_HELP = """\
Hash every file below DIR and write DIR/MANIFEST.json (through a temporary name).
For a calibration tree whose files you trust (a SolarSoft checkout, files copied
by hand): from then on a store on DIR refuses any file that changes or that the
manifest does not list. 'calib fetch' and 'synth calib' write manifests already.
"""

VERIFY_HELP = """\
Check every file MANIFEST.json lists against its SHA-256; exit 1 and name each
file that is missing or differs. A store without manifest is reported as such.
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
    fetch.add_argument("--ancillary-url", default=None,
                       help="SOHO ancillary data server for the orbit files (default: "
                            "https://soho.nascom.nasa.gov/data/ancillary/)")
    fetch.add_argument("--no-orbit", action="store_true",
                       help="do not fetch SOHO orbit files (the observer is then approximated)")
    fetch.add_argument("--detector", choices=("c2", "c3"), action="append",
                       help="only the files of this detector (repeatable; default both)")
    fetch.add_argument("--start", help="first day of per-day files (YYYY-MM-DD)")
    fetch.add_argument("--end", help="last day of per-day files (YYYY-MM-DD)")
    fetch.set_defaults(run=run_fetch)

    listing = sub.add_parser(
        "list", help="list the calibration files the chain reads",
        description="List the SolarSoft calibration files the level-1 chain reads (the "
                    "catalogue, not the contents of a store): name, detector, format, "
                    "validity, path below $NRL_LIB, what it is for and which routine reads "
                    "it.")
    listing.set_defaults(run=run_list)

    manifest = sub.add_parser("manifest", help="write MANIFEST.json for a trusted tree",
                              description=MANIFEST_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    manifest.add_argument("directory", help="calibration store (directory or fsspec URL)")
    manifest.set_defaults(run=run_manifest)

    verify = sub.add_parser("verify", help="check a store against its MANIFEST.json",
                            description=VERIFY_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("directory", help="calibration store (directory or fsspec URL)")
    verify.add_argument("--allow-unverified", action="store_true",
                        help="report a store without MANIFEST.json instead of refusing it")
    verify.set_defaults(run=run_verify)


def _days(start, end):
    import pandas as pd

    if not start:
        if end:
            raise ValueError("--end needs --start: the per-day files are fetched from --start "
                             "to --end")
        return []
    return [d.date() for d in pd.date_range(start, end or start, freq="D")]


def run_fetch(args) -> int:
    from lascoproc.io import soho_orbit
    from lascoproc.io.calib_store import DOWNLOAD_BASES, calibration_file_paths, fetch_calibration

    detectors = tuple(d.upper() for d in (args.detector or ("c2", "c3")))
    files = calibration_file_paths(detectors=detectors, days=_days(args.start, args.end),
                                   orbit=not args.no_orbit)
    manifest = fetch_calibration(args.dest, files=files,
                                 base_url=args.base_url or DOWNLOAD_BASES[0],
                                 ancillary_url=args.ancillary_url or soho_orbit.ANCILLARY_BASE,
                                 progress=True)
    print(f"{len(manifest)} calibration files in {args.dest} (MANIFEST.json has their SHA-256)")
    return 0


def run_list(args) -> int:
    from lascoproc.io.calib_store import CALIBRATION_FILES

    for f in CALIBRATION_FILES:
        valid = f"{f.valid_from or '...'} to {f.valid_to or '...'}"
        print(f"{f.name:<24}{f.detector:<5}{f.fmt:<11}{valid:<26}{f.path}")
        print(f"{'':<24}{f.purpose} [{f.read_by}]")
    return 0


def run_manifest(args) -> int:
    from lascoproc.io.calib_store import write_manifest

    entries = write_manifest(args.directory)
    print(f"{len(entries)} files hashed into {args.directory}/MANIFEST.json")
    return 0


def run_verify(args) -> int:
    from lascoproc.io.calib_store import CalibrationStore

    store = CalibrationStore(args.directory, allow_unverified=args.allow_unverified)
    problems = store.verify()
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"{args.directory}: every file matches MANIFEST.json")
    return 0
