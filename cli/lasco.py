"""``lascoproc lasco ...``: SOHO/LASCO archives."""

from __future__ import annotations

import argparse
import sys

from lascoproc_cli.cluster_options import (
    CLUSTER_DESTS,
    add_cluster_options,
    cluster_config_from_args,
)
from lascoproc_cli.options import (
    add_calib_storage_option,
    add_out_storage_option,
    add_storage_option,
    add_time_range,
    optional_storage_options,
    storage_options,
)

INDEX_HELP = """\
List the level-0.5 frames of an archive laid out as NRL's
level_05/YYMMDD/c2|c3/NNNNNNNN.fts, without reading pixel data: from each day's
img_hdr.txt where present, from the FITS headers otherwise. One line per frame
(file, time, detector, filter, polarizer, exposure), sorted by time; files that
cannot be used are listed after, each with its reason.
"""

INGEST_HELP = """\
Write the level-0.5 frames of one detector to a Zarr cube (time, y, x), one frame
per chunk, header values as per-frame coordinates. The store is written as a
template first, then region by region; --resume continues a killed run.
"""


def add_parser(commands) -> None:
    lasco = commands.add_parser("lasco", help="SOHO/LASCO C2/C3 archives",
                                description="SOHO/LASCO C2/C3 archives.")
    sub = lasco.add_subparsers(dest="lasco_command", metavar="COMMAND", required=True)

    index = sub.add_parser("index", help="list the frames of a level-0.5 archive",
                           description=INDEX_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    index.add_argument("archive", help="archive root (level_05 or its parent), path or URL")
    index.add_argument("--detector", choices=("c2", "c3"), help="one detector (default: both)")
    add_time_range(index)
    index.add_argument("--verify", action="store_true",
                       help="read and check every header, also of files img_hdr.txt lists")
    index.add_argument("--csv", action="store_true", help="write CSV instead of a table")
    add_storage_option(index)
    index.set_defaults(run=run_index)

    ingest = sub.add_parser("ingest", help="write level-0.5 frames to a Zarr cube",
                            description=INGEST_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ingest.add_argument("archive", help="archive root (level_05 or its parent), path or URL")
    ingest.add_argument("--detector", choices=("c2", "c3"), required=True,
                        help="the detector whose frames are written (required)")
    ingest.add_argument("--out", required=True, help="output Zarr store (path or URL)")
    add_time_range(ingest)
    ingest.add_argument("--shape", default=None, metavar="NYxNX",
                        help="ingest only the frames of this size, e.g. 512x512 (default: "
                             "every size, one store each: OUT for the full frames, "
                             "OUT_512x512.zarr... for the others)")
    mode = ingest.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an existing store")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing store")
    add_region_frames(ingest)
    add_range_frames(ingest)
    add_reliability_options(ingest)
    add_storage_option(ingest)
    add_out_storage_option(ingest)
    add_cluster_options(ingest)
    ingest.set_defaults(run=run_ingest)

    calibrate = sub.add_parser("calibrate", help="level 0.5 -> level 1 (reduce_level_1)",
                               description=CALIBRATE_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    calibrate.add_argument("archive", help="archive root (level_05 or its parent), path or URL")
    calibrate.add_argument("--detector", choices=("c2", "c3"), required=True,
                           help="the detector whose frames are calibrated (required)")
    calibrate.add_argument("--calib", required=True, metavar="STORE",
                           help="calibration store laid out as SolarSoft's $NRL_LIB "
                                "(see 'lascoproc calib fetch')")
    calibrate.add_argument("--out", required=True, help="output Zarr store, or directory for "
                           "--format fits")
    add_time_range(calibrate)
    calibrate.add_argument("--format", choices=("zarr", "fits"), default="zarr",
                           dest="output_format", help="output format (default zarr)")
    calibrate.add_argument("--shape", default=None, metavar="NYxNX",
                           help="calibrate only the frames of this size, e.g. 512x512 "
                                "(default: every size, one store each)")
    from lascoproc.inpaint.fill import METHODS

    calibrate.add_argument("--inpaint", choices=("none", *METHODS), default="none",
                           help="fill the missing 32x32 telemetry blocks (docs/inpainting.md: "
                                "each method's accuracy and cost): the polar residual "
                                "network, a radial or biharmonic interpolation, NRL's fuzzy "
                                "fill, the neighbouring frames (temporal), or auto: per frame "
                                "the best of network, radial and biharmonic on pseudo-holes "
                                "cut from the frame itself (about 15 times the network's "
                                "cost); default none: left NaN and flagged")
    calibrate.add_argument("--embed-subfields", action="store_true",
                           help="place subfields (read-out windows smaller than the CCD) into "
                                "full frames of their summing, as IDL's reduce_std_size does, "
                                "and calibrate them with the full frames; the rest of such a "
                                "frame is flagged outside_field (default: subfields get stores "
                                "of their own sizes)")
    calibrate.add_argument("--nrl-scaling", action="store_true",
                           help="with --format fits: C3 Clear frames as NRL's int16 "
                                "(reduce_level_1.pro 1.68: clipped to [0, 6.5e-9] MSB, "
                                "BSCALE/BZERO), as in NRL's own files; default float32")
    calibrate.add_argument("--allow-unverified", action="store_true",
                           help="use a calibration store without MANIFEST.json (its files are "
                                "then identified by the SHA-256 of their bytes, and the output "
                                "attributes say UNVERIFIED); see 'lascoproc calib manifest'")
    calibrate.add_argument("--no-time-correction", action="store_true",
                           help="keep the level-0.5 DATE-OBS (IDL /NOTIMECORRECTION); by "
                                "default the time is corrected with TIME_DIFF.DAT as NRL's "
                                "level-1 files are")
    calibrate.add_argument("--pointing-fallback", choices=("idl", "header"), default="idl",
                           help="after the roll/centre tables' last day: IDL's get_sun_center "
                                "and get_roll_or_xy (default), or the level-0.5 header values")
    calibrate.add_argument("--no-orbit", action="store_true",
                           help="do not read SOHO's orbit files: observer at 0.99 times the "
                                "Earth's distance from the Sun, on the Sun-Earth line (stated "
                                "in the output)")
    calibrate.add_argument("--no-history-bias", action="store_true",
                           help="ignore the bias NRL's offset_bias.pro 1.32 recorded in the "
                                "level-0.5 HISTORY; use the offset_bias port instead")
    calibrate.add_argument("--table-bias-unscaled", action="store_true",
                           help="do not multiply the exposure-factor table's bias by "
                                "LEBXSUM*LEBYSUM for LEB-summed frames (not settled by any "
                                "public IDL source; docs/level1_port.md)")
    calibrate.add_argument("--bias-version", choices=("latest", "1.26"), default="latest",
                           help="offset_bias.pro coefficients where neither a table nor the "
                                "HISTORY gives the bias (default latest)")
    calibrate.add_argument("--no-distortion", action="store_true",
                           help="do not correct the distortion (IDL /NOWARP)")
    calibrate.add_argument("--no-roll-correction", action="store_true",
                           help="do not rotate rolled frames north up (IDL "
                                "/NOROLL_CORRECTION)")
    mode = calibrate.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an existing store")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing store")
    add_region_frames(calibrate)
    add_range_frames(calibrate)
    add_reliability_options(calibrate)
    calibrate.add_argument("--gpu-resource", action=argparse.BooleanOptionalAction,
                           default=None,
                           help="with --inpaint network on a cluster: run the inpainting tasks "
                                "only on workers with the Dask resource GPU=1 (default: when "
                                "the cluster has such workers: gpu_workers or worker_resources "
                                "in the --cluster file, or a connected worker started with "
                                "--resources GPU=1)")
    add_storage_option(calibrate)
    add_out_storage_option(calibrate)
    add_calib_storage_option(calibrate)
    add_cluster_options(calibrate)
    calibrate.set_defaults(run=run_calibrate)


def add_region_frames(parser) -> None:
    from lascoproc.pipeline.regions import DEFAULT_REGION_FRAMES

    parser.add_argument("--region-frames", type=int, default=DEFAULT_REGION_FRAMES,
                        metavar="N",
                        help="frames per written region: the unit of writing and of "
                             "resumption, and one shard of the images in the store (one "
                             "object per region and variable); a region of 1024x1024 frames "
                             f"holds ~5 MB per frame in memory while written (default "
                             f"{DEFAULT_REGION_FRAMES})")


def add_reliability_options(parser) -> None:
    parser.add_argument("--retries", type=int, default=3, metavar="N",
                        help="retries of a pixel read that fails with an I/O error, a "
                             "timeout, a server error (5xx) or a short body, with "
                             "exponential backoff; a frame still unreadable leaves its region "
                             "unwritten for --resume (default 3)")
    parser.add_argument("--retry-backoff", type=float, default=0.5, metavar="SECONDS",
                        help="wait before the first retry, doubled at each (default 0.5)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 3 when any input file was rejected or "
                             "flagged (the run report says which and why)")


def add_range_frames(parser) -> None:
    from lascoproc.pipeline.regions import DEFAULT_RANGE_FRAMES

    parser.add_argument("--range-frames", type=int, default=DEFAULT_RANGE_FRAMES, metavar="N",
                        help="frames per time range: the run is built and written one range "
                             "at a time, so that the work and memory of this process per "
                             "region do not grow with the archive; rounded up to whole "
                             f"regions; the store does not depend on it (default "
                             f"{DEFAULT_RANGE_FRAMES})")


CALIBRATE_HELP = """\
Calibrate level-0.5 frames to level 1 with the SolarSoft reduce_level_1.pro
chain (docs/level1_port.md): bias (exposure-factor table, the bias NRL's
offset_bias.pro recorded in the level-0.5 HISTORY, or our offset_bias port),
exposure factor, calibration factor (c2/c3_calfactor), vignetting, C3
stray-light ramp and mask, distortion (c2/c3_warp), keyhole flip and north-up
rotation, time correction (TIME_DIFF.DAT), SOHO's orbit, level-1 header values
and WCS.

Output (--format zarr, the default): a Zarr store per frame size (OUT for the
full frames, OUT_512x512.zarr... for the others) with float32 `brightness` in
MSB (NaN where there is no valid datum), per-pixel `quality` flags (1 missing
telemetry, 2 outside the field, 4 filled by inpainting, 8 filled from
neighbouring frames by --inpaint temporal), per-frame factors and
WCS values as coordinates, and provenance attributes (every calibration file
with its SHA-256). --format fits writes one level-1 FITS file per frame in
OUT/YYMMDD/c2|c3/, named and keyed as NRL's (docs/level1_parity.md), on this
machine (no cluster options), each file whole: rerun with --overwrite, not
--resume.

Every input file is accounted for in the run report, OUT.report.json: used,
flagged (calibrated with a problem, or not calibrated, with the reason) or
rejected (left out, with the reason); --strict exits 3 when anything was
rejected or flagged. Reads are retried; a frame still unreadable leaves its
region for --resume (exit 4).

The store is written as a template, then region by region (--region-frames,
one shard each), one time range (--range-frames) at a time; the per-frame
variable frame_written is the run manifest: --resume skips what is written, so
a killed run continues where it stopped and ends with the same store, and is
refused when the store was made with other options or calibration files.
"""


def parse_shape(text: str | None):
    if text is None:
        return None
    try:
        ny, nx = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"--shape wants NYxNX such as 512x512, got {text!r}") from err
    return ny, nx


def run_index(args) -> int:
    from lascoproc.io.lasco_archive import index_archive

    index = index_archive(args.archive, detector=args.detector, start=args.start, end=args.end,
                          storage_options=storage_options(args.storage_option),
                          verify=args.verify, progress=sys.stderr.isatty())
    frames = index.frames
    out = sys.stdout
    if args.csv:
        frames.drop(columns=["path"]).to_csv(out, index=False)
    else:
        out.write(f"{'file':<14}{'time (UTC)':<25}{'det':<5}{'filter':<9}{'polarizer':<10}"
                  f"{'exptime/s':>10}\n")
        for row in frames.itertuples(index=False):
            time = str(row.time)[:23].replace(" ", "T")
            out.write(f"{row.filename:<14}{time:<25}{row.detector:<5}{row.filter:<9}"
                      f"{row.polarizer:<10}{row.exptime:>10.3f}\n")
        out.write(f"{len(frames)} frames\n")
    if index.problems:
        stream = sys.stderr if args.csv else out
        stream.write(f"{len(index.problems)} files or lines not used:\n")
        for problem in index.problems:
            stream.write(f"  {problem}\n")
    return 0


def _read_policy(args):
    from lascoproc.io.retry import ReadPolicy

    if args.retries < 0 or args.retry_backoff < 0:
        raise ValueError("--retries and --retry-backoff must be >= 0")
    return ReadPolicy(retries=args.retries, backoff=args.retry_backoff)


def _run_on_cluster(args, run, desc):
    """Run ``run(progress, client, config)`` on the engine the cluster options choose; print
    the dashboard link while it runs and, at its end, a summary per store written (frames,
    flags, throughput), the run report's summary and any region left for --resume."""
    from lascoproc.cluster.factory import describe, get_client
    from lascoproc.io.zarr_store import open_store
    from lascoproc.pipeline.progress import RunProgress, summarize_run
    from lascoproc.pipeline.report import report_path

    config = cluster_config_from_args(args)
    with get_client(config) as client:
        engine = describe(client, config)
        print(f"running on {engine}", file=sys.stderr)
        progress = RunProgress(client=client, desc=desc)
        result = run(progress, client, config)
        if client is not None:  # the workers that did the work (they join as jobs start)
            engine = describe(client, config)
    stores = [(result.report.store, result.report), *result.others.values()]
    out_options = optional_storage_options(getattr(args, "out_storage_option", None),
                                           "--out-storage-option")
    for store, report in stores:
        print(summarize_run(report, flags=open_store(store, out_options), rejected=(),
                            engine=engine).format())
    if result.run_report is not None:
        print(result.run_report.summary())
        print(f"run report: {report_path(args.out)}")
    return result


def _exit_code(args, result) -> int:
    """0: every region written (and, with --strict, nothing rejected or flagged); 3 with
    --strict otherwise; 4 when regions failed with I/O errors (rerun with --resume)."""
    reports = [result.report, *(report for _, report in result.others.values())]
    failed = [f for report in reports if report is not None for f in report.failed]
    if failed:
        print(f"{len(failed)} regions not written (I/O errors after retries); rerun the same "
              "command with --resume to retry them:", file=sys.stderr)
        for failure in failed[:20]:
            print(f"  {failure}", file=sys.stderr)
        return 4
    if getattr(args, "strict", False) and result.run_report is not None and \
            not result.run_report.clean:
        print("--strict: input files were rejected or flagged (see the run report)",
              file=sys.stderr)
        return 3
    return 0


def run_ingest(args) -> int:
    from lascoproc.pipeline.ingest import ingest_level05

    def run(progress, client, config):
        return ingest_level05(
            args.archive, detector=args.detector, out=args.out, start=args.start,
            end=args.end, shape=parse_shape(args.shape), resume=args.resume,
            overwrite=args.overwrite, region_frames=args.region_frames,
            range_frames=args.range_frames,
            storage_options=storage_options(args.storage_option),
            out_storage_options=optional_storage_options(args.out_storage_option,
                                                         "--out-storage-option"),
            progress=progress, client=client, policy=_read_policy(args))

    result = _run_on_cluster(args, run, f"{args.detector} level-0.5 frames")
    return _exit_code(args, result)


def run_calibrate(args) -> int:
    from lascoproc.calibrate.level1 import Level1Options
    from lascoproc.pipeline.level1 import run_level1
    from lascoproc.pipeline.report import report_path

    options = Level1Options(distortion=not args.no_distortion,
                            roll_correction=not args.no_roll_correction,
                            bias_version=args.bias_version,
                            bias_history=not args.no_history_bias,
                            table_bias_lebsum=not args.table_bias_unscaled,
                            time_correction=not args.no_time_correction,
                            pointing_fallback=args.pointing_fallback,
                            orbit=not args.no_orbit)

    def run(progress, client, config):
        return run_level1(
            args.archive, detector=args.detector, calib=args.calib, out=args.out,
            start=args.start, end=args.end, shape=parse_shape(args.shape),
            output_format=args.output_format, resume=args.resume, overwrite=args.overwrite,
            region_frames=args.region_frames, range_frames=args.range_frames, options=options,
            storage_options=storage_options(args.storage_option),
            out_storage_options=optional_storage_options(args.out_storage_option,
                                                         "--out-storage-option"),
            calib_storage_options=optional_storage_options(args.calib_storage_option,
                                                           "--calib-storage-option"),
            progress=progress if args.output_format == "zarr" else True, client=client,
            inpaint=None if args.inpaint == "none" else args.inpaint,
            gpu_resource=gpu_placement(args, client, config), policy=_read_policy(args),
            nrl_scaling=args.nrl_scaling, allow_unverified=args.allow_unverified,
            embed_subfields=args.embed_subfields)

    if args.output_format == "fits":
        _fits_options(args)
        result = run(True, None, None)
        print(f"{len(result.fits_files)} level-1 FITS files written under {args.out}")
        for line in result.flagged:
            print(f"  not calibrated: {line}")
        print(result.run_report.summary())
        print(f"run report: {report_path(args.out)}")
        return _exit_code(args, result)
    result = _run_on_cluster(args, run, f"{args.detector} level-1 frames")
    return _exit_code(args, result)


#: Options of the Zarr run that FITS output (written on this machine, one file per frame)
#: does not take: given with --format fits they are an error, not silently ignored.
_NOT_FOR_FITS = (*CLUSTER_DESTS, "gpu_resource")


def _fits_options(args) -> None:
    """Refuse what FITS output does not do: ``--resume`` (files are written whole; rerun
    with ``--overwrite``), a cluster (the frames are computed on this machine)."""
    if args.resume:
        raise ValueError("--resume applies to Zarr output; with --format fits rerun with "
                         "--overwrite (every file is written whole, or not at all)")
    given = [f"--{name.replace('_', '-')}" for name in _NOT_FOR_FITS
             if getattr(args, name, None) not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)}: cluster options apply to Zarr output; "
                         "--format fits computes the frames on this machine")


def gpu_placement(args, client, config) -> bool:
    """Whether the inpainting tasks ask for a GPU worker (``--gpu-resource``, or its default:
    when the cluster has GPU workers). Asking on a cluster without any is an error: the tasks
    would wait for ever."""
    from lascoproc.cluster.factory import has_gpu_workers

    if args.inpaint != "network" or client is None:
        return False
    available = has_gpu_workers(client, config)
    if args.gpu_resource and not available:
        raise ValueError("--gpu-resource: no worker of this cluster has the Dask resource GPU "
                         "and the cluster configuration starts none; start GPU workers with "
                         "'dask worker ADDRESS --resources GPU=1' or set gpu_workers")
    return available if args.gpu_resource is None else bool(args.gpu_resource)
