"""AIA degradation on the synthetic family's members: train, series, share of bins within 0.05.

A runnable script, not a timed test (each member costs a training run)::

    .venv/bin/python bench/bench_aia_family.py --members tune-a tune-b --tag dev
    .venv/bin/python bench/bench_aia_family.py --role heldout --tag defaults   # the result
    .venv/bin/python bench/bench_aia_family.py --members tune-a --tag trial \\
        --train-args "--preset fast --max-minutes 4"

For each member (:data:`lascoproc.testing.sdoml_family.FAMILY`) it writes the member's store
into ``--workdir`` (reused when it is already there), trains a model with the real command
line, ``lascoproc aia train STORE --out M.pt --max-minutes 10`` plus ``--train-args`` (nothing
else: the defaults), computes the series at ``--cadence`` bins (60 days) over 2010-05-13 ..
2020-12-31 with ``lascoproc aia degradation`` and scores it against the injected truth:

- ``share_005``: the fraction of (bin, channel) pairs with ``|estimate - truth| < 0.05``;
- ``worst``: the largest error per channel; ``median``: the median error over all pairs;
- ``covered``: the fraction of pairs whose truth lies within ``estimate +- 2 uncertainty``.

The truth of a bin is the injected degradation aggregated over the bin's frames the same way
the estimate is (``degradation_injected`` of the series). The load average is recorded before
and after each training (the machine may be shared: a 10-minute budget on a loaded machine is
fewer optimisation steps; the number of steps done is recorded too). The JSON goes to ``--out``
(default ``bench/results/aia_family_<tag>.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START, END = "2010-05-13", "2020-12-31T23:59:59"


def loadavg() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def ensure_store(name: str, workdir: Path) -> str:
    from lascoproc.testing.sdoml_family import member

    m = member(name)
    root = workdir / f"{name}.zarr"
    marker = workdir / f"{name}.done"
    describe = json.dumps(m.describe(), default=str, sort_keys=True)
    if not marker.is_file() or json.loads(marker.read_text()) != json.loads(describe):
        started = time.monotonic()
        m.write(root, threads=os.cpu_count())
        print(f"{name}: store written in {time.monotonic() - started:.0f} s", file=sys.stderr)
        marker.write_text(describe)
    return str(root)


def lascoproc(*argv: str, log: Path) -> float:
    started = time.monotonic()
    command = [sys.executable, "-m", "lascoproc_cli.main", *argv]
    with log.open("a") as handle:
        handle.write(f"$ {shlex.join(command)}\n")
        handle.flush()
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT)
    return time.monotonic() - started


def score(series_path: str) -> dict:
    import xarray as xr

    series = xr.open_zarr(series_path).load()
    est = series["degradation"].values
    truth = series["degradation_injected"].values
    err = np.abs(est - truth)
    channels = [int(c) for c in series["channel"].values]
    out = {
        "bins": int(series.sizes["time"]),
        "pairs": int(err.size),
        "share_005": float(np.mean(err < 0.05)),
        "median": float(np.median(err)),
        "worst": dict(zip(channels, err.max(axis=0).round(4).tolist(), strict=True)),
        "share_005_per_channel": dict(zip(channels, np.mean(err < 0.05, axis=0).round(3)
                                          .tolist(), strict=True)),
        "mean_error_per_channel": dict(zip(channels, (est - truth).mean(axis=0).round(4)
                                           .tolist(), strict=True)),
    }
    if "degradation_uncertainty" in series:
        sigma = series["degradation_uncertainty"].values
        out["covered_2sigma"] = float(np.mean(err <= 2 * sigma))
        out["median_uncertainty"] = float(np.median(sigma))
    if "n_frames" in series:
        out["frames_per_bin_median"] = float(np.median(series["n_frames"].values))
    return out


CHANNELS = ("94", "131", "171", "193", "211", "304", "335")


def tables(results: dict, workdir: Path | None = None) -> str:
    """The docs' tables (markdown) of a results file: recovery per member, then throughput."""
    from lascoproc.testing.sdoml_family import member

    lines = ["| member | role | spread (dex) | cadence | size | within 0.05 | median error | "
             "worst error: " + " / ".join(CHANNELS) + " A | frames per bin | within 2 sigma | "
             "optimiser steps in 10 min (CPU s) | load average at start |",
             "|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    speed = ["| member | size | frames | series s | frames/s | training steps per CPU s |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, v in results["members"].items():
        m = member(name)
        info = m.describe()
        spread = (info.get("physics") or {}).get("temperature_spread", 0.0)
        worst = " / ".join(f"{v['worst'][c]:.3f}" for c in CHANNELS)
        cpu = v.get("train_cpu_seconds") or v.get("cpu_seconds") or float("nan")
        load = (v.get("load_before") or v.get("load_average_at_start") or [float("nan")])[0]
        lines.append(
            f"| `{name}` | {m.role} | {spread:.3f} | "
            f"{info.get('cadence')} | {info.get('size')} | **{100 * v['share_005']:.1f} %** | "
            f"{v['median']:.4f} | {worst} | {v['frames_per_bin_median']:.0f} | "
            f"{100 * v.get('covered_2sigma', float('nan')):.0f} % | {v['steps']} ({cpu:.0f}) "
            f"| {load:.1f} |")
        frames = v.get("frames")
        if frames is None and workdir is not None:
            import xarray as xr

            frames_store = workdir / "runs" / results["tag"] / f"{name}_series_frames.zarr"
            if frames_store.is_dir():
                frames = int(xr.open_zarr(frames_store).sizes["time"])
        if frames:
            speed.append(f"| `{name}` | {info.get('size')} | {frames} | "
                         f"{v['series_seconds']:.0f} | {frames / v['series_seconds']:.1f} | "
                         f"{v['steps'] / cpu:.1f} |")
    return "\n".join(lines) + "\n\n" + "\n".join(speed) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", nargs="*", default=None)
    parser.add_argument("--role", choices=("tuning", "heldout", "harsh"), default=None)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir())
                                                 / "lascoproc_aia_family"),
                        help="where the members' stores and the runs go (reused)")
    parser.add_argument("--tag", default=None,
                        help="the run's name (results file, runs/TAG); required but with "
                             "--table")
    parser.add_argument("--train-args", default="", help="extra arguments of aia train")
    parser.add_argument("--series-args", default="", help="extra arguments of aia degradation")
    parser.add_argument("--max-minutes", default="10")
    parser.add_argument("--cadence", default="60D")
    parser.add_argument("--model", default=None,
                        help="score this model instead of training (its training record, "
                             "steps and load included, is read from the file)")
    parser.add_argument("--rescore", action="store_true",
                        help="neither train nor estimate again: bin the per-frame estimates "
                             "the last run stored (aia degradation --resume, every region "
                             "already done) and score them; for a change in the binning or "
                             "the uncertainties alone. The training record is kept")
    parser.add_argument("--out", default=None)
    parser.add_argument("--table", default=None, metavar="RESULTS.json",
                        help="print the docs' markdown tables of a results file and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(tables(json.loads(Path(args.table).read_text()), Path(args.workdir)))
        return 0
    if not args.tag:
        parser.error("--tag is required")

    from lascoproc.testing.sdoml_family import members

    names = args.members or [m.name for m in members(args.role)]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out = Path(args.out or HERE / "results" / f"aia_family_{args.tag}.json")
    results = json.loads(out.read_text()) if out.is_file() else {}
    results.setdefault("members", {})
    results.update({
        "tag": args.tag, "train_args": args.train_args, "series_args": args.series_args,
        "max_minutes": args.max_minutes, "cadence": args.cadence,
        "python": sys.version.split()[0], "machine": platform.machine(),
        "cpus": os.cpu_count(),
    })
    for name in names:
        store = ensure_store(name, workdir)
        run = workdir / "runs" / args.tag
        run.mkdir(parents=True, exist_ok=True)
        log = run / f"{name}.log"
        model = args.model or str(run / f"{name}.pt")
        entry = {"store": store, "started": dt.datetime.now(dt.UTC).isoformat()[:19]}
        if args.rescore:
            entry = dict(results["members"][name])
            entry["rescored"] = dt.datetime.now(dt.UTC).isoformat()[:19]
        elif args.model is None:
            entry["load_before"] = loadavg()
            cpu0 = os.times()
            entry["train_seconds"] = round(lascoproc(
                "aia", "train", store, "--out", model, "--max-minutes", args.max_minutes,
                *shlex.split(args.train_args), log=log), 1)
            cpu1 = os.times()
            entry["train_cpu_seconds"] = round((cpu1.children_user - cpu0.children_user)
                                               + (cpu1.children_system - cpu0.children_system),
                                               1)
            entry["load_after"] = loadavg()
        from lascoproc.degradation.model import load_model

        trained = load_model(model)
        record = trained.training
        entry["model_sha256"] = trained.sha256
        for key in ("steps", "epochs", "preset", "seconds", "cpu_seconds",
                    "load_average_at_start"):
            entry[key] = record.get(key)
        series = str(run / f"{name}_series.zarr")
        seconds = round(lascoproc(
            "aia", "degradation", store, "--model", model, "--start", START, "--end", END,
            "--cadence", args.cadence, "--out", series,
            "--resume" if args.rescore else "--overwrite", "--truth-member", name,
            *shlex.split(args.series_args), log=log), 1)
        entry["rescore_seconds" if args.rescore else "series_seconds"] = seconds
        entry.update(score(series))
        results["members"][name] = entry
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str))
        print(f"{name}: {100 * entry['share_005']:.1f}% of bins within 0.05, median "
              f"{entry['median']:.3f}, worst {entry['worst']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
