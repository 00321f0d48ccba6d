"""``lascoproc lasco ...``: SOHO/LASCO archives."""

from __future__ import annotations

import argparse
import sys

from lascoproc_cli.cluster_options import add_cluster_options, cluster_config_from_args
from lascoproc_cli.options import add_storage_option, add_time_range, storage_options

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
    ingest.add_argument("--detector", choices=("c2", "c3"), required=True)
    ingest.add_argument("--out", required=True, help="output Zarr store (path or URL)")
    add_time_range(ingest)
    ingest.add_argument("--shape", default=None, metavar="NYxNX",
                        help="frame size to ingest, e.g. 512x512 (default: 1024x1024)")
    mode = ingest.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an existing store")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing store")
    ingest.add_argument("--region-frames", type=int, default=16,
                        help="frames per written region (unit of resumption; default 16)")
    add_range_frames(ingest)
    add_storage_option(ingest)
    add_cluster_options(ingest)
    ingest.set_defaults(run=run_ingest)

    calibrate = sub.add_parser("calibrate", help="level 0.5 -> level 1 (reduce_level_1)",
                               description=CALIBRATE_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    calibrate.add_argument("archive", help="archive root (level_05 or its parent), path or URL")
    calibrate.add_argument("--detector", choices=("c2", "c3"), required=True)
    calibrate.add_argument("--calib", required=True, metavar="STORE",
                           help="calibration store laid out as SolarSoft's $NRL_LIB "
                                "(see 'lascoproc calib fetch')")
    calibrate.add_argument("--out", required=True, help="output Zarr store, or directory for "
                           "--format fits")
    add_time_range(calibrate)
    calibrate.add_argument("--format", choices=("zarr", "fits"), default="zarr",
                           dest="output_format", help="output format (default zarr)")
    calibrate.add_argument("--shape", default=None, metavar="NYxNX",
                           help="frame size to calibrate, e.g. 512x512 (default: 1024x1024)")
    calibrate.add_argument("--inpaint", choices=("none", "network", "fallback"), default="none",
                           help="fill the missing 32x32 telemetry blocks: the shipped "
                                "partial-convolution network (~3 s per 1024x1024 frame on a "
                                "CPU), the biharmonic fallback (~0.3 s), or none (default: "
                                "left NaN and flagged)")
    calibrate.add_argument("--no-distortion", action="store_true",
                           help="do not correct the distortion (IDL /NOWARP)")
    calibrate.add_argument("--no-roll-correction", action="store_true",
                           help="do not rotate rolled frames north up (IDL "
                                "/NOROLL_CORRECTION)")
    mode = calibrate.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an existing store")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing store")
    calibrate.add_argument("--region-frames", type=int, default=16,
                           help="frames per written region (unit of resumption; default 16)")
    add_range_frames(calibrate)
    calibrate.add_argument("--gpu-resource", action=argparse.BooleanOptionalAction,
                           default=None,
                           help="with --inpaint network on a cluster: run the inpainting tasks "
                                "only on workers with the Dask resource GPU=1 (default: when "
                                "the cluster has such workers: gpu_workers or worker_resources "
                                "in the --cluster file, or a connected worker started with "
                                "--resources GPU=1)")
    add_storage_option(calibrate)
    add_cluster_options(calibrate)
    calibrate.set_defaults(run=run_calibrate)


def add_range_frames(parser) -> None:
    from lascoproc.io.zarr_store import DEFAULT_RANGE_FRAMES

    parser.add_argument("--range-frames", type=int, default=DEFAULT_RANGE_FRAMES, metavar="N",
                        help="frames per time range: the run is built and written one range "
                             "at a time, so that the work and memory of this process per "
                             "region do not grow with the archive; rounded up to whole "
                             f"regions; the store does not depend on it (default "
                             f"{DEFAULT_RANGE_FRAMES})")


CALIBRATE_HELP = """\
Calibrate level-0.5 frames to level 1 with the SolarSoft reduce_level_1.pro
chain (docs/level1_port.md): bias and exposure factor (get_exp_factor /
offset_bias), calibration factor (c2/c3_calfactor), vignetting, C3 stray-light
ramp and mask, distortion (c2/c3_warp), keyhole flip and north-up rotation
(adjust_hdr_tcr), level-1 header values and WCS.

Output (--format zarr, the default): one Zarr store with float32 `brightness`
in MSB (NaN where there is no valid datum), per-pixel `quality` flags (1 missing
telemetry, 2 outside the field, 4 filled by inpainting), per-frame factors and
WCS values as coordinates, and provenance attributes (every calibration file
with its SHA-256). --format fits writes one level-1 FITS file per frame in
OUT/YYMMDD/c2|c3/ instead.

Frames that cannot be calibrated are flagged (frame_status, with the reason)
and the run goes on.

A Zarr run is cut into time ranges (--range-frames) written into one store
whose template is made first; the per-frame variable frame_written is the
run manifest: --resume skips the ranges and regions already written, so a
killed run continues where it stopped and ends with the same store.
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


def _run_on_cluster(args, run, desc):
    """Run ``run(progress, client, config)`` on the engine the cluster options choose; print
    the dashboard link while it runs and the summary at its end (frames, flags, throughput)."""
    import xarray as xr

    from lascoproc.cluster.factory import describe, get_client
    from lascoproc.pipeline.progress import RunProgress, summarize_run

    config = cluster_config_from_args(args)
    with get_client(config) as client:
        engine = describe(client, config)
        print(f"running on {engine}", file=sys.stderr)
        progress = RunProgress(client=client, desc=desc)
        result = run(progress, client, config)
    flags = xr.open_zarr(result.report.store, chunks=None)
    print(summarize_run(result.report, flags=flags,
                        rejected=result.dataset.attrs.get("rejected", []),
                        progress=progress, engine=engine).format())
    return result


def run_ingest(args) -> int:
    from lascoproc.pipeline.ingest import ingest_level05

    def run(progress, client, config):
        return ingest_level05(
            args.archive, detector=args.detector, out=args.out, start=args.start,
            end=args.end, shape=parse_shape(args.shape), resume=args.resume,
            overwrite=args.overwrite, region_frames=args.region_frames,
            range_frames=args.range_frames,
            storage_options=storage_options(args.storage_option), progress=progress,
            client=client)

    _run_on_cluster(args, run, f"{args.detector} level-0.5 frames")
    return 0


def run_calibrate(args) -> int:
    from lascoproc.calibrate.level1 import Level1Options
    from lascoproc.pipeline.level1 import run_level1

    options = Level1Options(distortion=not args.no_distortion,
                            roll_correction=not args.no_roll_correction)

    def run(progress, client, config):
        return run_level1(
            args.archive, detector=args.detector, calib=args.calib, out=args.out,
            start=args.start, end=args.end, shape=parse_shape(args.shape),
            output_format=args.output_format, resume=args.resume, overwrite=args.overwrite,
            region_frames=args.region_frames, range_frames=args.range_frames, options=options,
            storage_options=storage_options(args.storage_option),
            progress=progress if args.output_format == "zarr" else True, client=client,
            inpaint=None if args.inpaint == "none" else args.inpaint,
            gpu_resource=gpu_placement(args, client, config))

    if args.output_format == "fits":
        result = run(True, None, None)
        print(f"{len(result.fits_files)} level-1 FITS files written under {args.out}")
    else:
        result = _run_on_cluster(args, run, f"{args.detector} level-1 frames")
    for line in result.flagged:
        print(f"  not calibrated: {line}")
    return 0


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
