"""The ``lascoproc`` command: parse, load options, call the library, report.

Every subcommand is a thin layer over a library function; errors the user can fix (a bad
argument, an unreachable store, a missing extra) end the command with one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap

from lascoproc_cli import aia, calib, demo, inpaint, lasco, synth
from lascoproc_cli.options import check_time_range

__all__ = ["main", "build_parser"]

DESCRIPTION = """\
lascoproc reprocesses whole solar-imaging archives with Dask and xarray:
SOHO/LASCO C2 and C3 level-0.5 FITS to calibrated Zarr cubes, and SDO/AIA
(SDOML v2) to per-channel degradation time series.

Archives and stores are paths or fsspec URLs (file://, s3://, gs://, https://);
object stores are read anonymously unless --storage-option gives credentials.
"""

EPILOG = """\
examples:
  lascoproc demo --out demo-output          # the whole job on synthetic archives
  lascoproc synth lasco /tmp/archive        # write a synthetic level-0.5 archive
  lascoproc lasco index /tmp/archive --detector c3
  lascoproc lasco ingest /tmp/archive --detector c2 --out c2_l05.zarr
  lascoproc synth calib /tmp/calib --archive /tmp/archive
  lascoproc lasco calibrate /tmp/archive --detector c3 --calib /tmp/calib --out c3_l1.zarr
  lascoproc calib fetch /data/solarsoft-lasco --start 2002-05-21 --end 2002-05-22
  lascoproc lasco calibrate /data --detector c2 --calib /data/calib --out c2.zarr \\
      --scheduler tcp://host:8786          # the same run on a dask cluster

Run 'lascoproc COMMAND --help' for the options of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lascoproc", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from lascoproc import __version__

    parser.add_argument("--version", action="version", version=f"lascoproc {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo.add_parser(commands)
    synth.add_parser(commands)
    lasco.add_parser(commands)
    calib.add_parser(commands)
    inpaint.add_parser(commands)
    aia.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_time_range(parser, args)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("lascoproc: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one line for the user, not a traceback
        if not _reportable(err):
            raise
        from lascoproc.extras import explain
        from lascoproc.io.fs import redact_text

        text = str(err)
        if isinstance(err, ImportError) and "pip install 'lascoproc[" not in text:
            text = explain(err) or text  # a bare missing module: name the extra
        # (a message that names its extra already says what needed it: kept as it is)
        message = textwrap.shorten(redact_text(text), width=400, placeholder=" ...")
        print(f"lascoproc: error: {message}", file=sys.stderr)
        return 1


def _reportable(err: BaseException) -> bool:
    """Errors a user can act on, reported in one line: bad input, missing files or extras,
    unreachable stores and schedulers, a worker killed too often."""
    if isinstance(err, FileNotFoundError | FileExistsError | ImportError | ValueError | OSError):
        return True
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover
        return False
    return isinstance(err, KilledWorker)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
