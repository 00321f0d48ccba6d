"""``lascoproc aia ...``: SDO/AIA degradation from the SDOML v2 archive (CNN auto-calibration)."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from lascoproc_cli.cluster_options import add_cluster_options, cluster_config_from_args
from lascoproc_cli.options import (
    add_out_storage_option,
    add_storage_option,
    end_timestamp,
    nonnegative_float,
    positive_int,
    positive_interval,
    storage_options,
    timestamp,
)

SDOML_HELP = ("SDOML v2 store: path or URL, e.g. s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/"
              "fdl-sdoml-v2/sdomlv2.zarr (anonymous)")

INDEX_HELP = """\
Build the frame index of an SDOML store: per year and channel, the T_OBS, EXPTIME,
DEG_COR, QUALITY and WAVELNTH of every frame and its storage position, in a small
Zarr group. Opening the store then reads the index instead of the arrays'
attribute lists (about 200 MB of JSON per year and channel in the real archive).
Without --out the index goes to the user cache directory ($LASCOPROC_CACHE_DIR,
else ~/.cache/lascoproc), where every open also builds it on first use; an index
is rebuilt when its array changes. With --out, pass --index DIR to the other
commands.
"""

TRAIN_HELP = """\
Train a degradation model on the archive's own reference period: frames of the
reference period (as distributed, divided by DEG_COR) are dimmed channel by
channel by random factors alpha, drawn afresh at every epoch, and the network
learns to predict alpha. Flagged frames (QUALITY != 0), short exposures and
frames with a non-finite EXPTIME, DEG_COR or pixel sum are not used.

Presets (--preset): "fast", this project's recipe for a CPU (64x64 input; the
quiet-Sun level of each channel corrected by what the dimming-free shapes and
radial profiles say of the Sun; flips and rotations; docs/aia_degradation.md),
and "paper", Dos Santos et al. (2021) as published (Autocalibration6 at 256x256
by decimation, fixed channel scaling, apodisation, 2010-2013 at 00/06/12/18 UT,
months 1-7 train, 8-10 test, 11-12 held out). Without --preset the device picks:
paper on a GPU, fast on a CPU; the log and the model file say which and why.
Any model option given below replaces that field of the preset.

OUT is a weights file (torch, read with weights_only=True) that holds the whole
configuration, the training record (steps done, CPU time, load average) and the
model's error on the test months, which the series' uncertainties are built on.
OUT.ckpt holds the optimiser state: --resume continues a stopped run. Both are
rewritten every --checkpoint-seconds and when the run stops, so a killed run
leaves a usable model. --max-minutes bounds the whole command (loading included;
wall clock: on a loaded machine that is fewer steps, which the model file records).

examples:
  lascoproc aia train sdoml.zarr --out m.pt --max-minutes 10
  lascoproc aia train sdoml.zarr --out paper.pt --preset paper --device cuda
  lascoproc aia train s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2.zarr \\
      --out aia.pt --sample-every 6h --max-minutes 600
"""

EVALUATE_HELP = """\
Score models on the test months of their reference period with the paper's
metric: the fraction of samples whose predicted dimming factor is within 0.05
(and 0.1) of the true one, per channel, and the mean absolute error; beside the
non-ML baseline (quiet-Sun level: median of the on-disk pixels over its mean in
the training frames). Each test frame is dimmed by --draws fixed draws of
alpha ~ U(0.01, 1); every method sees the same samples.
"""

SERIES_HELP = """\
The per-channel degradation time series: the model applied to every usable
frame between --start and --end with the archive's correction undone
(data * DEG_COR, what the instrument recorded), aggregated per --cadence bin
(the model's recipe: median by default) with a one-sigma uncertainty per bin
(the frames' scatter, the ensemble's spread and the model's test-month error),
the number of frames per bin, the aiapy V10 factor for the same times and the
ratio. Flagged and short frames, and frames with a non-finite EXPTIME, DEG_COR or
pixel sum, are left out and counted; a bin without a usable frame is left out
(never a NaN value).

The per-frame estimates are written by regions into OUT_frames.zarr (--frames-out):
--resume continues a stopped run, --overwrite replaces an earlier one; an existing
OUT without either is refused. Then OUT (Zarr: variable `degradation` over
(time, channel), channel in angstrom; xr.open_zarr opens it), OUT.csv (without
.zarr) and one PNG per channel (OUT_<wavelength>.png) plus an overview (OUT.png).
"""


def _channels(values: list[str] | None):
    if not values:
        return None
    out = []
    for value in values:
        for part in value.replace(",", " ").split():
            try:
                out.append(int(part.rstrip("aA")))
            except ValueError as err:
                raise ValueError(f"not an AIA channel: {part!r} (e.g. 94 or 171A)") from err
    return tuple(out)


def _months(text: str) -> tuple[int, ...]:
    months: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                months.extend(range(lo, hi + 1))
            else:
                months.append(int(part))
        except ValueError as err:
            raise argparse.ArgumentTypeError(
                f"months wants e.g. 1-7 or 8,9, got {text!r}") from err
    return tuple(months)


def _add_index_option(parser) -> None:
    parser.add_argument("--index", default=None, metavar="DIR",
                        help="frame index store built by 'lascoproc aia index --out DIR' "
                             "(default: the user cache directory)")


def add_parser(commands) -> None:
    aia = commands.add_parser("aia", help="SDO/AIA degradation from SDOML (CNN auto-calibration)",
                              description="SDO/AIA degradation from the SDOML v2 archive by CNN "
                                          "auto-calibration (Dos Santos et al. 2021).")
    sub = aia.add_subparsers(dest="aia_command", metavar="COMMAND", required=True)

    index = sub.add_parser("index", help="build the frame index of an SDOML store",
                           description=INDEX_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    index.add_argument("sdoml", help=SDOML_HELP)
    index.add_argument("--out", default=None, metavar="DIR",
                       help="where to write the index (default: the user cache directory)")
    index.add_argument("--threads", type=int, default=8,
                       help="arrays indexed at once (default 8)")
    add_storage_option(index)
    add_out_storage_option(index)
    index.set_defaults(run=run_index)

    train = sub.add_parser("train", help="train a degradation model",
                           description=TRAIN_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("sdoml", help=SDOML_HELP)
    train.add_argument("--out", required=True, metavar="MODEL.pt", help="weights file to write")
    train.add_argument("--preset", choices=("fast", "paper", "auto"), default=None,
                       help="the recipe (default, or auto: by the device, paper on a GPU, fast "
                            "on a CPU)")
    train.add_argument("--epochs", type=int, default=None,
                       help="passes over the training frames (default: the preset's; fast "
                            "lets --max-minutes stop it)")
    train.add_argument("--max-minutes", type=float, default=None,
                       help="stop after this many minutes (the model is written)")
    train.add_argument("--channels", nargs="+", metavar="WL",
                       help="channels in angstrom (default 94 131 171 193 211 304 335)")
    model = train.add_argument_group("model and preprocessing (default: the preset's)")
    model.add_argument("--kind", choices=("level", "multi", "single"), default=None,
                       help="level: quiet-Sun level and dimming-free shapes (ours); multi / "
                            "single: the paper's multi- and single-channel CNNs")
    model.add_argument("--single-channel", action="store_true",
                       help="the paper's single-channel CNNs (same as --kind single)")
    model.add_argument("--size", type=positive_int, default=None,
                       help="input size: frames are binned to SIZE x SIZE (fast 64, paper 256)")
    model.add_argument("--resample", choices=("mean", "decimate"), default=None,
                       help="block mean (fast) or every n-th pixel (paper)")
    model.add_argument("--apodise", type=float, default=None, metavar="RSUN",
                       help="zero pixels beyond RSUN solar radii (paper 0.984)")
    model.add_argument("--transform", choices=("linear", "log"), default=None,
                       help="intensity transform after the fixed per-channel scaling")
    model.add_argument("--floor", type=float, default=None,
                       help="log transform: smallest x/scale kept; above the off-limb noise "
                            "floor it keeps the network off read noise")
    model.add_argument("--width", type=int, default=None,
                       help="filters of the first convolution (the second has twice as many)")
    model.add_argument("--pool", type=int, default=None, help="max-pooling size")
    model.add_argument("--head", choices=("dense", "mean"), default=None,
                       help="dense: a dense layer over every feature at every position; "
                            "mean: over the image-averaged features")
    model.add_argument("--ensemble", type=int, default=None,
                       help="networks trained together on bootstrap weights; their spread "
                            "is each estimate's model uncertainty")
    model.add_argument("--alpha-max", type=float, default=None,
                       help="upper end of the dimming draws and of the output")
    model.add_argument("--flips", action=argparse.BooleanOptionalAction, default=None,
                       help="flip and transpose frames at random (the 8 symmetries of the "
                            "square); the model then predicts the mean over the 8 copies")
    model.add_argument("--rotate", action=argparse.BooleanOptionalAction, default=None,
                       help="turn each training frame by a random angle about its centre")
    ref = train.add_argument_group("reference period and split (default: the preset's)")
    ref.add_argument("--reference-start", default=None,
                     help="start of the reference period (fast 2010-05-13, paper 2010-01-01)")
    ref.add_argument("--reference-end", default=None,
                     help="end of the reference period (fast 2012-05-12, paper 2013-12-31)")
    ref.add_argument("--train-months", type=_months, default=None,
                     help="calendar months that train (both presets 1-7)")
    ref.add_argument("--holdout-months", type=_months, default=None,
                     help="months left out between train and test (fast 8,9; paper 11,12)")
    ref.add_argument("--test-months", type=_months, default=None,
                     help="months that test (fast 10-12; paper 8-10)")
    ref.add_argument("--sample-every", default=None, metavar="INTERVAL",
                     help="keep one time per INTERVAL (e.g. 6h) of the dense real archive, "
                          "with the frames of its store chunk")
    run = train.add_argument_group("run")
    run.add_argument("--batch-size", type=positive_int, default=None,
                     help="frames per optimiser step (default: the preset's, fast 16, "
                          "paper 64)")
    run.add_argument("--learning-rate", type=float, default=None,
                     help="Adam learning rate (default: the preset's, 1e-3)")
    run.add_argument("--lr-schedule", choices=("constant", "cosine"), default=None,
                     help="constant (the paper) or cosine decay to 1%% over the run")
    run.add_argument("--weight-decay", type=float, default=None,
                     help="Adam weight decay (default: the preset's, 0)")
    run.add_argument("--seed", type=int, default=0,
                     help="seed of the initial weights and of every draw (default 0)")
    run.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    run.add_argument("--resume", action="store_true", help="continue from MODEL.pt.ckpt")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing MODEL.pt (refused otherwise)")
    run.add_argument("--checkpoint-seconds", type=float, default=60.0,
                     help="time between checkpoints (default 60)")
    _add_index_option(train)
    add_storage_option(train)
    add_cluster_options(train)
    train.set_defaults(run=run_train)

    evaluate = sub.add_parser("evaluate", help="success rates of models and the baseline",
                              description=EVALUATE_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("sdoml", help=SDOML_HELP)
    evaluate.add_argument("--model", action="append", default=[], metavar="MODEL",
                          help="weights file or shipped name (default: the shipped default); "
                               "repeatable")
    evaluate.add_argument("--draws", type=int, default=20,
                          help="alpha draws per test frame (default 20)")
    evaluate.add_argument("--seed", type=int, default=1, help="seed of the draws (default 1)")
    evaluate.add_argument("--device", default="cpu", help="torch device (default cpu)")
    evaluate.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    _add_index_option(evaluate)
    add_storage_option(evaluate)
    add_cluster_options(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    series = sub.add_parser("degradation", help="the degradation time series of the archive",
                            description=SERIES_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    series.add_argument("sdoml", help=SDOML_HELP)
    series.add_argument("--model", default=None,
                        help="weights file or shipped name (default: the shipped default)")
    series.add_argument("--start", type=timestamp, default=timestamp("2010-05-01"),
                        help="first time (default 2010-05-01)")
    series.add_argument("--end", type=end_timestamp, default=end_timestamp("2020-12-31"),
                        help="last time (inclusive; a date alone includes that whole day; "
                             "default 2020-12-31)")
    series.add_argument("--cadence", type=positive_interval, default=None,
                        help="time-bin length (default: the model's recipe; fast 30D, paper "
                             "calendar months)")
    series.add_argument("--aggregate", choices=("median", "huber", "mean"), default=None,
                        help="how a bin's frames are combined (default: the model's recipe)")
    series.add_argument("--reference-error", type=nonnegative_float, default=None,
                        metavar="FRACTION",
                        help="relative accuracy assumed of DEG_COR over the reference period, "
                             "part of every bin's uncertainty (default: the model's recipe)")
    series.add_argument("--out", required=True, metavar="OUT.zarr", help="Zarr store to write")
    series.add_argument("--frames-out", default=None, metavar="STORE",
                        help="per-frame estimates store (default OUT_frames.zarr)")
    mode = series.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue a stopped run (the regions already written are kept)")
    mode.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    series.add_argument("--region-frames", type=positive_int, default=None,
                        help="frames per written region (unit of resumption; default 256)")
    series.add_argument("--csv", default=None, help="CSV path (default OUT.csv)")
    series.add_argument("--plots", default=None, metavar="STEM",
                        help="PNG stem (default OUT: OUT_<wavelength>.png, OUT.png)")
    series.add_argument("--sample-every", default=None, metavar="INTERVAL",
                        help="use one time per INTERVAL (e.g. 6h), with the frames of its "
                             "store chunk")
    series.add_argument("--truth-member", default=None, metavar="NAME",
                        help="synthetic stores of lascoproc.testing.sdoml_family: add the "
                             "member's injected degradation (degradation_injected)")
    series.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    series.add_argument("--batch-size", type=positive_int, default=64,
                        help="frames the model estimates at once (default 64): more needs "
                             "more memory")
    _add_index_option(series)
    add_storage_option(series)
    add_out_storage_option(series)
    add_cluster_options(series)
    series.set_defaults(run=run_series)


def _recipe_changes(args) -> dict:
    """The model options given on the command line (``None``: not given, the preset's)."""
    kind = "single" if args.single_channel else args.kind
    return {
        "channels": _channels(args.channels), "kind": kind, "size": args.size,
        "resample": args.resample, "apodise": args.apodise, "transform": args.transform,
        "floor": args.floor, "width": args.width, "pool": args.pool, "head": args.head,
        "ensemble": args.ensemble, "alpha_max": args.alpha_max, "flips": args.flips,
        "rotate": args.rotate, "start": args.reference_start, "end": args.reference_end,
        "train_months": args.train_months, "holdout_months": args.holdout_months,
        "test_months": args.test_months, "sample_every": args.sample_every,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "schedule": args.lr_schedule, "weight_decay": args.weight_decay,
    }


def _train_command(args) -> str:
    """The training command as given (recorded in the weights file; the full configuration is
    in the file too)."""
    return shlex.join(["lascoproc", "aia", *sys.argv[sys.argv.index("train"):]]) \
        if "train" in sys.argv else f"lascoproc aia train {args.sdoml} --out {args.out}"


def _on_cluster(args, run):
    """Run ``run(client)`` on the engine the cluster options choose, saying which."""
    from lascoproc.cluster.factory import describe, get_client

    config = cluster_config_from_args(args)
    with get_client(config) as client:
        print(f"running on {describe(client, config)}", file=sys.stderr)
        return run(client)


def run_index(args) -> int:
    from lascoproc.pipeline.aia import build_index

    summary = build_index(args.sdoml, out=args.out,
                          storage_options=storage_options(args.storage_option),
                          index_storage_options=storage_options(args.out_storage_option,
                                                                "--out-storage-option"),
                          threads=args.threads)
    print(f"{summary['frames']} frames in {summary['arrays']} arrays indexed in "
          f"{summary['location']} ({summary['seconds']:.1f} s)")
    return 0


def run_train(args) -> int:
    from lascoproc.pipeline.aia import train_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def report(entry):
        print(f"epoch {int(entry['epoch'])}: {entry['seconds']:.0f} s, {int(entry['steps'])} "
              f"steps, train loss {entry['train_loss']:.5f}, test loss "
              f"{entry['test_loss']:.5f}", file=sys.stderr)

    if Path(args.out).exists() and not (args.overwrite or args.resume):
        raise FileExistsError(f"{args.out} exists (a trained model?): pass --overwrite to "
                              "replace it, --resume to continue its run, or another --out")

    def run(client):
        return train_model(
            args.sdoml, args.out, preset=args.preset, device=args.device,
            max_minutes=args.max_minutes, epochs=args.epochs, seed=args.seed,
            resume=args.resume, checkpoint_seconds=args.checkpoint_seconds,
            storage_options=storage_options(args.storage_option), index=args.index,
            command=_train_command(args), on_checkpoint=report, client=client,
            progress=sys.stderr.isatty(),
            announce=lambda text: print(text, file=sys.stderr, flush=True),
            **_recipe_changes(args))

    from lascoproc.degradation.model import load_model

    result = _on_cluster(args, run)
    last = result.history[-1]
    preset = load_model(result.path).config.preset
    print(f"{result.path}: preset {preset}, {result.epochs_done} epochs, {result.steps} steps "
          f"in {result.seconds:.0f} s on {result.device} (stopped by {result.stopped}); test "
          f"loss {last['test_loss']:.5f}; sha256 {result.sha256}")
    return 0


def run_evaluate(args) -> int:
    from lascoproc.degradation.evaluate import format_table
    from lascoproc.degradation.model import load_model
    from lascoproc.pipeline.aia import evaluate_models

    specs = args.model or [None]
    models = {}
    for spec in specs:
        model = load_model(spec)
        label = f"{model.kind}-channel" if model.kind in ("multi", "single") else model.kind
        if label in models:
            label = f"{label} ({model.name})"
        models[label] = model

    def run(client):
        return evaluate_models(args.sdoml, models, draws=args.draws, seed=args.seed,
                               device=args.device,
                               storage_options=storage_options(args.storage_option),
                               index=args.index, client=client,
                               progress=sys.stderr.isatty())

    result = _on_cluster(args, run)
    print(f"{result.attrs['test_frames']} test frames x {args.draws} draws "
          f"({result.attrs['n_samples']} samples per channel); baseline from "
          f"{result.attrs['train_frames']} training frames")
    print(format_table(result))
    if args.json:
        payload = {
            "attrs": {k: v for k, v in result.attrs.items()},
            "channels": [int(c) for c in result["channel"].values],
            "estimators": [str(e) for e in result["estimator"].values],
            **{name: result[name].values.round(6).tolist()
               for name in ("success_005", "success_010", "mae")},
        }
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=1, default=str)
    return 0


def run_series(args) -> int:
    from lascoproc.pipeline.aia import degradation_series
    from lascoproc.pipeline.progress import RunProgress

    truth = None
    if args.truth_member:
        from lascoproc.testing.sdoml_family import member

        truth = member(args.truth_member).degradation
    out_options = (storage_options(args.out_storage_option, "--out-storage-option")
                   if args.out_storage_option else None)

    def run(client):
        kwargs = {} if args.region_frames is None else {"region_frames": args.region_frames}
        return degradation_series(
            args.sdoml, model=args.model, start=args.start, end=args.end,
            cadence=args.cadence, aggregate=args.aggregate,
            reference_error=args.reference_error, out=args.out,
            frames_out=args.frames_out, resume=args.resume, overwrite=args.overwrite,
            csv=args.csv, plots=args.plots, sample_every=args.sample_every,
            device=args.device, batch_size=args.batch_size, truth=truth,
            storage_options=storage_options(args.storage_option),
            out_storage_options=out_options, index=args.index, client=client,
            progress=RunProgress(client=client, desc="AIA frames",
                                 disable=None if sys.stderr.isatty() else True), **kwargs)

    result = _on_cluster(args, run)
    ds = result.dataset
    left = ", ".join(f"{k} {v}" for k, v in result.left_out.items() if v) or "none"
    print(f"{result.frames} frames in {ds.sizes['time']} bins of "
          f"{ds.attrs.get('cadence')} -> {result.store} in {result.seconds:.1f} s; frames "
          f"left out: {left}")
    if result.csv:
        print(f"table: {result.csv}")
    if result.plots:
        print(f"plots: {result.plots[-1]} and {len(result.plots) - 1} per channel")
    if ds.sizes["time"]:
        last = ds.isel(time=-1)
        values = ", ".join(
            f"{int(c)}: {float(last['degradation'].sel(channel=c)):.3f} +- "
            f"{float(last['degradation_uncertainty'].sel(channel=c)):.3f}"
            for c in ds["channel"].values)
        print(f"last bin ({str(last['time'].values)[:10]}): {values}")
    return 0
