"""Shard size of level-1 stores (issue 11): objects per frame, write and read cost, memory.

    .venv/bin/python bench/bench_shards.py --frames 128 --out bench/results/shards.json

Writes the same ``--frames`` level-1-like frames (1024x1024 float32 brightness with NaN
borders and streamer-like structure, uint8 quality, per-frame scalars) with
:func:`lascoproc.pipeline.regions.write_dataset` for each region/shard size (``1`` is the
unsharded layout, one object per frame), and measures, per size:

- objects in the store per 10^6 frames (counted, then scaled);
- CPU ms per frame to write (compression, sharding, marks), best of ``--repeat``;
- the resident memory a region write needs (peak RSS growth of a fresh process);
- reading one frame with ``xr.open_zarr(store)["brightness"][k]``: bytes read (a byte-counting
  store wrapper) and ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

CHILD = """
import json, resource, sys, time, numpy as np, xarray as xr
sys.path.insert(0, {root!r})
from bench.bench_shards import frames
from lascoproc.pipeline.regions import write_dataset
ds = frames({n})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.process_time()
write_dataset(ds.chunk({{"time": 1}}), {store!r}, region_frames={size})
cpu = time.process_time() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"cpu_s": cpu, "rss_growth_mb": (after - before) / 1024}}))
"""


def frames(n: int) -> xr.Dataset:
    """``n`` level-1-like frames (deterministic)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1024, 0:1024]
    r = np.hypot(y - 512, x - 515) + 1.0
    pa = np.arctan2(y - 512, x - 515)
    base = (1e-9 * (r / 60.0) ** -2.2 * (1 + 0.4 * np.cos(6 * pa) ** 8)).astype(np.float32)
    field = (r > 60) & (r < 500)
    b = np.empty((n, 1024, 1024), np.float32)
    for k in range(n):
        b[k] = base * (1 + 0.03 * rng.standard_normal((1024, 1024)).astype(np.float32))
    b[:, ~field] = np.nan
    q = np.where(field, 0, 2).astype(np.uint8)[None].repeat(n, axis=0)
    times = np.datetime64("2023-12-01", "ns") + np.arange(n) * np.timedelta64(12, "m")
    return xr.Dataset({"brightness": (("time", "y", "x"), b),
                       "quality": (("time", "y", "x"), q),
                       "frame_status": ("time", np.zeros(n, np.uint8)),
                       "nmissing": ("time", np.zeros(n, np.int16))},
                      coords={"time": times})


def count_objects(store: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(store))


def read_one(store: Path, k: int) -> tuple[int, float]:
    import zarr

    reads = []

    class Counting(zarr.storage.WrapperStore):
        async def get(self, key, prototype, byte_range=None):
            out = await super().get(key, prototype, byte_range)
            if out is not None:
                reads.append(len(out))
            return out

    t = time.perf_counter()
    group = zarr.open_group(Counting(zarr.storage.LocalStore(str(store))), mode="r")
    group["brightness"][k]
    return sum(reads), (time.perf_counter() - t) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 16, 32, 64, 128])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", default="bench/results/shards.json")
    args = parser.parse_args(argv)
    root = str(Path(__file__).resolve().parents[1])
    work = Path(tempfile.mkdtemp(prefix="lascoproc-shards-"))
    rows = {}
    for size in args.sizes:
        best = None
        for _ in range(args.repeat):
            store = work / f"s{size}.zarr"
            shutil.rmtree(store, ignore_errors=True)
            code = CHILD.format(root=root, n=args.frames, store=str(store), size=size)
            if size == 1:  # the unsharded layout: Zarr format 2 (one object per frame)
                code = code.replace("region_frames=1)", "region_frames=1, zarr_format=2)")
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            if best is None or run["cpu_s"] < best["cpu_s"]:
                best = run
        objects = count_objects(store)
        nbytes, ms = read_one(store, args.frames // 2 + 1)
        total = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
        rows[size] = {"objects": objects,
                      "objects_per_million_frames": round(objects / args.frames * 1e6),
                      "write_cpu_ms_per_frame": 1e3 * best["cpu_s"] / args.frames,
                      "write_rss_growth_mb": best["rss_growth_mb"],
                      "read_one_frame_bytes": nbytes, "read_one_frame_ms": ms,
                      "store_mb": total / 2**20}
        print(size, rows[size], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    record = {"frames": args.frames, "loadavg": os.getloadavg(), "sizes": rows,
              "max_rss_parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
