"""``lascoproc aia ...``: SDO/AIA degradation from the SDOML v2 archive (CNN auto-calibration)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from lascoproc_cli.options import add_storage_option, storage_options, timestamp

SDOML_HELP = ("SDOML v2 store: path or URL, e.g. s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/"
              "fdl-sdoml-v2/sdomlv2.zarr (anonymous)")

TRAIN_HELP = """\
Train the auto-calibration CNN of Dos Santos et al. (2021, A&A 648, A53) on the
archive's own reference period: frames of the reference period (as distributed,
divided by DEG_COR) are dimmed channel by channel by alpha ~ U(0.01, 1), drawn
afresh at every epoch, and the network learns to predict alpha (MSE, Adam 1e-3).
Frames of --train-months train it, frames of --test-months give the test loss,
--holdout-months are left out. Flagged frames (QUALITY != 0) are not used.

OUT is a weights file (torch, read with weights_only=True) that holds the whole
configuration (channels, size, scaling, network); OUT.ckpt holds the optimiser
state: --resume continues a stopped run. Both are rewritten every
--checkpoint-seconds and when the run stops, so a killed run leaves a usable
model. --max-minutes bounds the whole command (loading included).

examples:
  lascoproc aia train sdoml.zarr --out multi.pt --size 64 --max-minutes 10
  lascoproc aia train sdoml.zarr --out single.pt --size 64 --single-channel
  lascoproc aia train s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2.zarr \\
      --out aia_multi.pt --size 256 --sample-every 6h --device cuda --max-minutes 600
"""

EVALUATE_HELP = """\
Score models on the test months of their reference period with the paper's
metric: the fraction of samples whose predicted dimming factor is within 0.05
(and 0.1) of the true one, per channel, and the mean absolute error; beside the
non-ML baseline (quiet-Sun level: median of the on-disk pixels over its mean in
the training frames). Each test frame is dimmed by --draws fixed draws of
alpha ~ U(0.01, 1); every method sees the same samples.

Without --model, the shipped multi- and single-channel models are scored.
"""

SERIES_HELP = """\
The per-channel degradation time series: the trained CNN applied to every
frame between --start and --end with the archive's correction undone
(data * DEG_COR, what the instrument recorded), the median of the frames of each
--cadence bin, their spread, the aiapy V10 factor for the same times and the
ratio. Writes OUT (Zarr: variable `degradation` over (time, channel), channel in
angstrom; xr.open_zarr opens it), OUT.csv (without .zarr) and one PNG per channel
(OUT_<wavelength>.png) plus an overview (OUT.png).
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


def add_parser(commands) -> None:
    aia = commands.add_parser("aia", help="SDO/AIA degradation from SDOML (CNN auto-calibration)",
                              description="SDO/AIA degradation from the SDOML v2 archive by CNN "
                                          "auto-calibration (Dos Santos et al. 2021).")
    sub = aia.add_subparsers(dest="aia_command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train the single- or multi-channel CNN",
                           description=TRAIN_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("sdoml", help=SDOML_HELP)
    train.add_argument("--out", required=True, metavar="MODEL.pt", help="weights file to write")
    train.add_argument("--epochs", type=int, default=100_000,
                       help="passes over the training frames (default 100000: let "
                            "--max-minutes stop it)")
    train.add_argument("--max-minutes", type=float, default=None,
                       help="stop after this many minutes (the model is written)")
    train.add_argument("--channels", nargs="+", metavar="WL",
                       help="channels in angstrom (default 94 131 171 193 211 304 335)")
    train.add_argument("--single-channel", action="store_true",
                       help="one CNN per channel instead of one multi-channel CNN")
    model = train.add_argument_group("model and preprocessing")
    model.add_argument("--size", type=int, default=256,
                       help="input size: frames are block-averaged to SIZE x SIZE (default 256, "
                            "as the paper; 64 trains in minutes on two cores)")
    model.add_argument("--apodise", type=float, default=None, metavar="RSUN",
                       help="zero pixels beyond RSUN solar radii (default: keep the corona)")
    model.add_argument("--transform", choices=("linear", "log"), default="linear",
                       help="intensity transform after the fixed per-channel scaling")
    model.add_argument("--floor", type=float, default=1e-3,
                       help="log transform: smallest x/scale kept (default 1e-3); above the "
                            "off-limb noise floor it keeps the network off read noise")
    model.add_argument("--width", type=int, default=32,
                       help="filters of the first convolution (the second has twice as many)")
    model.add_argument("--pool", type=int, default=2, help="max-pooling size (default 2)")
    model.add_argument("--head", choices=("dense", "mean"), default="dense",
                       help="dense: the paper's dense layer over every feature at every "
                            "position; mean: over the image-averaged features (fewer weights)")
    model.add_argument("--alpha-max", type=float, default=1.0,
                       help="upper end of the dimming draws and of the output (default 1, the "
                            "paper; above 1 removes the estimate's pull below 1 near alpha=1)")
    model.add_argument("--flips", action="store_true",
                       help="also flip and transpose frames at random (the 8 symmetries of the "
                            "square); the model then predicts the mean over the 8 copies")
    model.add_argument("--rotate", action="store_true",
                       help="also turn each training frame by a random angle about its centre")
    ref = train.add_argument_group("reference period and split")
    ref.add_argument("--reference-start", default="2010-05-13",
                     help="start of the reference period (default 2010-05-13)")
    ref.add_argument("--reference-end", default="2012-05-12T23:59:59",
                     help="end of the reference period (default 2012-05-12)")
    ref.add_argument("--train-months", type=_months, default=(1, 2, 3, 4, 5, 6, 7),
                     help="calendar months that train (default 1-7)")
    ref.add_argument("--holdout-months", type=_months, default=(8, 9),
                     help="months left out between train and test (default 8,9)")
    ref.add_argument("--test-months", type=_months, default=(10, 11, 12),
                     help="months that test (default 10-12)")
    ref.add_argument("--sample-every", default=None, metavar="INTERVAL",
                     help="keep one frame per INTERVAL (e.g. 6h) of the dense real archive")
    run = train.add_argument_group("run")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--learning-rate", type=float, default=1e-3)
    run.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                     help="constant (the paper) or cosine decay to 1%% over the run (epochs "
                          "or --max-minutes, whichever ends it first)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    run.add_argument("--resume", action="store_true", help="continue from MODEL.pt.ckpt")
    run.add_argument("--checkpoint-seconds", type=float, default=60.0,
                     help="time between checkpoints (default 60)")
    add_storage_option(train)
    train.set_defaults(run=run_train)

    evaluate = sub.add_parser("evaluate", help="success rates of models and the baseline",
                              description=EVALUATE_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("sdoml", help=SDOML_HELP)
    evaluate.add_argument("--model", action="append", default=[], metavar="MODEL",
                          help="weights file or shipped name (default-multi, default-single); "
                               "repeatable")
    evaluate.add_argument("--draws", type=int, default=20, help="alpha draws per test frame")
    evaluate.add_argument("--seed", type=int, default=1)
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    add_storage_option(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    series = sub.add_parser("degradation", help="the degradation time series of the archive",
                            description=SERIES_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    series.add_argument("sdoml", help=SDOML_HELP)
    series.add_argument("--model", default="default-multi",
                        help="weights file or shipped name (default default-multi)")
    series.add_argument("--start", type=timestamp, default=timestamp("2010-05-01"),
                        help="first time (default 2010-05-01)")
    series.add_argument("--end", type=timestamp, default=timestamp("2020-12-31T23:59:59"),
                        help="last time (default 2020-12-31)")
    series.add_argument("--cadence", default="7D", help="time-bin length (default 7D)")
    series.add_argument("--out", required=True, metavar="OUT.zarr", help="Zarr store to write")
    series.add_argument("--csv", default=None, help="CSV path (default OUT.csv)")
    series.add_argument("--plots", default=None, metavar="STEM",
                        help="PNG stem (default OUT: OUT_<wavelength>.png, OUT.png)")
    series.add_argument("--sample-every", default=None, metavar="INTERVAL",
                        help="use one frame per INTERVAL (e.g. 6h)")
    series.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    series.add_argument("--batch-size", type=int, default=64)
    add_storage_option(series)
    series.set_defaults(run=run_series)


def _train_command(args) -> str:
    """The training command with every option spelled out (recorded in the weights file)."""
    parts = ["lascoproc", "aia", "train", args.sdoml, "--out", args.out,
             "--epochs", str(args.epochs)]
    if args.max_minutes is not None:
        parts += ["--max-minutes", f"{args.max_minutes:g}"]
    if args.channels:
        parts += ["--channels", *[str(c) for c in _channels(args.channels)]]
    if args.single_channel:
        parts.append("--single-channel")
    parts += ["--size", str(args.size), "--transform", args.transform,
              "--floor", f"{args.floor:g}", "--width",
              str(args.width), "--pool", str(args.pool), "--head", args.head,
              "--alpha-max", f"{args.alpha_max:g}"]
    if args.apodise is not None:
        parts += ["--apodise", f"{args.apodise:g}"]
    if args.flips:
        parts.append("--flips")
    if args.rotate:
        parts.append("--rotate")
    parts += ["--reference-start", args.reference_start, "--reference-end", args.reference_end,
              "--train-months", ",".join(map(str, args.train_months)),
              "--holdout-months", ",".join(map(str, args.holdout_months)),
              "--test-months", ",".join(map(str, args.test_months))]
    if args.sample_every:
        parts += ["--sample-every", args.sample_every]
    parts += ["--batch-size", str(args.batch_size), "--learning-rate", f"{args.learning_rate:g}",
              "--lr-schedule", args.lr_schedule,
              "--seed", str(args.seed), "--device", args.device]
    return shlex.join(parts)


def run_train(args) -> int:
    from lascoproc.degradation.config import EUV_CHANNELS, ReferenceSplit
    from lascoproc.pipeline.aia import train_model

    split = ReferenceSplit(start=args.reference_start, end=args.reference_end,
                           train_months=args.train_months, holdout_months=args.holdout_months,
                           test_months=args.test_months, sample_every=args.sample_every)

    def report(entry):
        print(f"epoch {int(entry['epoch'])}: {entry['seconds']:.0f} s, train loss "
              f"{entry['train_loss']:.5f}, test loss {entry['test_loss']:.5f}", file=sys.stderr)

    result = train_model(
        args.sdoml, args.out, kind="single" if args.single_channel else "multi",
        channels=_channels(args.channels) or EUV_CHANNELS, size=args.size,
        apodise=args.apodise, transform=args.transform, floor=args.floor, width=args.width,
        pool=args.pool,
        head=args.head,
        alpha_range=(0.01, args.alpha_max), flips=args.flips,
        rotate=args.rotate, split=split,
        epochs=args.epochs, max_minutes=args.max_minutes, batch_size=args.batch_size,
        learning_rate=args.learning_rate, schedule=args.lr_schedule, seed=args.seed,
        device=args.device,
        resume=args.resume, checkpoint_seconds=args.checkpoint_seconds,
        storage_options=storage_options(args.storage_option),
        command=_train_command(args),
        on_checkpoint=report,
    )
    last = result.history[-1]
    print(f"{result.path}: {result.epochs_done} epochs in {result.seconds:.0f} s on "
          f"{result.device} (stopped by {result.stopped}); test loss {last['test_loss']:.5f}; "
          f"sha256 {result.sha256}")
    return 0


def run_evaluate(args) -> int:
    from lascoproc.degradation.evaluate import format_table
    from lascoproc.degradation.model import load_model
    from lascoproc.pipeline.aia import evaluate_models

    specs = args.model or ["default-multi", "default-single"]
    models = {}
    for spec in specs:
        model = load_model(spec)
        label = f"{model.kind}-channel"
        if label in models:
            label = f"{label} ({model.name})"
        models[label] = model
    result = evaluate_models(args.sdoml, models, draws=args.draws, seed=args.seed,
                             device=args.device,
                             storage_options=storage_options(args.storage_option))
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

    result = degradation_series(
        args.sdoml, model=args.model, start=args.start, end=args.end, cadence=args.cadence,
        out=args.out, csv=args.csv, plots=args.plots, sample_every=args.sample_every,
        device=args.device, batch_size=args.batch_size,
        storage_options=storage_options(args.storage_option),
    )
    ds = result.dataset
    print(f"{result.frames} frames in {ds.sizes['time']} bins of {args.cadence} -> "
          f"{result.store} in {result.seconds:.1f} s")
    if result.csv:
        print(f"table: {result.csv}")
    if result.plots:
        print(f"plots: {result.plots[-1]} and {len(result.plots) - 1} per channel")
    last = ds.isel(time=-1) if ds.sizes["time"] else None
    if last is not None:
        values = ", ".join(f"{int(c)}: {float(last['degradation'].sel(channel=c)):.3f}"
                           for c in ds["channel"].values)
        print(f"last bin ({str(last['time'].values)[:10]}): {values}")
    return 0
