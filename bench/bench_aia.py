"""AIA degradation throughput (issue 5): frames/s of SDOML preprocessing + CNN inference via Dask.

A runnable script, not a timed test::

    .venv/bin/python bench/bench_aia.py                       # CPU, 1 and all threads
    .venv/bin/python bench/bench_aia.py --frames 96 --threads 1,2,4
    .venv/bin/python bench/bench_aia.py --device cuda         # inference on the GPU
    .venv/bin/python bench/bench_aia.py --input-size 256      # a paper-size network

It writes a synthetic SDOML v2 store (:func:`lascoproc.testing.sdoml.write_sdoml_store`: the
real format, Zarr v2, Blosc-zstd, 512x512 float32, ``--chunk`` frames per chunk, the 7 EUV
channels) of ``--frames`` daily frames into ``--workdir`` (a temporary directory by default;
reused when it already holds one of the right size), then times, with dask's threaded
scheduler and each of ``--threads``:

``read``
    opening and reading the frames (decompression included): ``open_sdoml(...).intensity``
    reduced to one number per frame;
``preprocess``
    :func:`lascoproc.degradation.data.preprocess` with ``DEG_COR`` undone, computed;
``preprocess+infer``
    the time series' graph: preprocess then :func:`lascoproc.degradation.series.estimate_frames`
    with the model (default: the shipped multi-channel model), computed.

A *frame* is one time step: all 7 channels (7 x 1 MiB of float32). Each path runs ``--repeat``
times after a warm-up and the median is reported; torch runs one intra-op thread per dask
thread (``torch.set_num_threads(1)``) so the dask threads are the only parallelism, except on
CUDA. A markdown table is printed; the JSON result (environment included) goes to ``--out``
(default ``bench/results/aia_<date>.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask
import numpy as np
import torch

import lascoproc
from lascoproc.degradation.config import ModelConfig
from lascoproc.degradation.data import preprocess
from lascoproc.degradation.model import build_network, load_model, save_model
from lascoproc.degradation.presets import recipe
from lascoproc.degradation.series import estimate_frames
from lascoproc.io.sdoml import open_sdoml
from lascoproc.testing.sdoml import write_sdoml_store

HERE = Path(__file__).resolve().parent
EUV = (94, 131, 171, 193, 211, 304, 335)


def prepare(workdir: Path, frames: int, size: int, chunk: int) -> str:
    root = workdir / f"sdoml_{frames}x{size}_c{chunk}.zarr"
    if not (root / ".zgroup").is_file():
        start = np.datetime64("2011-01-01")
        end = start + np.timedelta64(frames - 1, "D")
        write_sdoml_store(root, start=str(start), end=str(end), cadence="1D", size=size,
                          chunks=chunk, channels=EUV, missing_fraction=0.0, progress=True)
    return str(root)


def untrained(size: int, workdir: Path):
    """A randomly initialised network of the paper's preset with ``size`` input (speed tests
    only)."""
    paper = recipe("paper", size=size)
    config = ModelConfig(preprocessing=paper.preprocessing, architecture=paper.architecture,
                         preset="paper")
    path = workdir / f"untrained_paper_{size}.pt"
    torch.manual_seed(0)
    save_model(path, build_network(config), config)
    return load_model(path)


def timed(fn, repeat: int) -> tuple[float, list[float]]:
    fn()  # warm-up: file cache, network build, torch kernels
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48, help="time steps (default 48)")
    parser.add_argument("--size", type=int, default=512, help="frame size (default 512)")
    parser.add_argument("--chunk", type=int, default=15,
                        help="frames per Zarr chunk (default 15, as SDOML's conversion)")
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}",
                        help="comma-separated dask thread counts (default 1 and all cores)")
    parser.add_argument("--model", default=None,
                        help="weights file or shipped name (default: the shipped default)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="time an untrained network of the paper's preset at this input "
                             "size instead of --model (256: the paper's; the speed does not "
                             "depend on the weights)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="where the synthetic store goes")
    parser.add_argument("--out", default=None, help="JSON result path")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu", file=sys.stderr)
        return 2

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="aiabench"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = prepare(workdir, args.frames, args.size, args.chunk)
    model = load_model(args.model) if args.input_size is None else untrained(
        args.input_size, workdir)
    prep = model.config.preprocessing
    ds = open_sdoml(url, channels=list(EUV))
    n = ds.sizes["time"]
    torch.set_num_threads(1)

    def read():
        return ds["intensity"].max(("y", "x")).compute()

    def pre():
        return preprocess(ds, prep, undo_deg_cor=True).mean(("y", "x")).compute()

    def infer():
        frames = preprocess(ds, prep, undo_deg_cor=True)
        return estimate_frames(frames, model, device=args.device,
                               batch_size=args.batch_size)["degradation"].compute()

    rows = []
    for threads in [int(t) for t in args.threads.split(",") if t]:
        with dask.config.set(scheduler="threads", num_workers=threads):
            for name, fn in (("read", read), ("preprocess", pre), ("preprocess+infer", infer)):
                median, all_times = timed(fn, args.repeat)
                rows.append({"path": name, "threads": threads, "device": args.device
                             if name == "preprocess+infer" else "cpu",
                             "frames": n, "seconds": round(median, 4),
                             "frames_per_s": round(n / median, 2),
                             "runs": [round(t, 4) for t in all_times]})
                print(f"{name:<18} threads={threads:<3} {n / median:8.1f} frames/s "
                      f"({median:.2f} s for {n} frames)", file=sys.stderr)

    print(f"\n{n} frames x 7 channels of {args.size}x{args.size} float32, chunks of "
          f"{args.chunk} frames; model {model.name} ({model.kind}, ensemble "
          f"{model.config.architecture.ensemble}, {prep.size}x{prep.size} input; load "
          f"{os.getloadavg()[0]:.1f})\n")
    print("| path | threads | device | frames/s | s per run |")
    print("|---|---:|---|---:|---:|")
    for row in rows:
        print(f"| {row['path']} | {row['threads']} | {row['device']} | "
              f"{row['frames_per_s']:.1f} | {row['seconds']:.2f} |")

    result = {
        "benchmark": "aia_degradation",
        "date": dt.datetime.now(dt.UTC).isoformat()[:19],
        "lascoproc_version": lascoproc.__version__,
        "command": "python bench/bench_aia.py " + " ".join(argv if argv is not None
                                                            else sys.argv[1:]),
        "environment": {
            "platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "dask": dask.__version__, "numpy": np.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "store": {"frames": n, "size": args.size, "chunk": args.chunk, "channels": list(EUV)},
        "model": {"name": model.name, "sha256": model.sha256, "kind": model.kind,
                  "input": prep.size, "ensemble": model.config.architecture.ensemble,
                  "symmetric_copies": 8 if model.symmetric else 1},
        "results": rows,
    }
    tag = f"{args.device.split(':')[0]}_in{prep.size}"
    out = Path(args.out) if args.out else (
        HERE / "results" / f"aia_{dt.date.today().isoformat()}_{tag}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
