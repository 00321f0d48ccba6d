"""Level-1 planning speed (issue 11 item 2): header values -> plan, for a mission of frames.

A runnable script, not a timed test::

    .venv/bin/python bench/bench_plan.py --frames 1000000 --workdir /tmp/planbench
    .venv/bin/python bench/bench_plan.py --frames 100000 --reference-frames 5000

The frames are :func:`lascoproc.testing.calib.synthetic_frame_headers` (the per-frame
coordinates ``open_lasco_frames`` gives, no pixel, no file): half C3, half C2, 120 frames a
day each (the real cadence, so the number of days -- exposure-factor tables and orbit files to
read -- is realistic: 10^6 frames are 4,167 days), from 2010-01-01, roll drifting from -3 deg
(every frame rotated north up), 1 frame in 17 in another filter/polarizer, 1 in 1,000 with an
unknown filter, 90 % listed in the exposure-factor tables, the HISTORY bias of ``offset_bias``
1.32. The calibration store (``--workdir``, reused when it holds the same days) is
:func:`lascoproc.testing.calib.write_calibration_files` for those days and frames: the
exposure-factor tables, roll/centre tables, ``TIME_DIFF.DAT`` from 1997 (~930,000 records), the
C2 time offsets and a definitive SOHO orbit file a day, with its MANIFEST.json.

Measured, in a child process (so that its memory is the planning's): building the frames
(not planning, reported apart), then per detector ``plan_level1`` with a new store and empty
caches (``cold``: every table, orbit file and calibration image is read, hashed and parsed)
and again with the same store (``warm``), wall time and CPU time (``time.process_time``; on a
shared machine the CPU time is the figure to compare), frames per second, and the peak resident
memory while planning (sampled every 10 ms). ``--reference-frames`` frames are also planned by
the per-frame planner that lascoproc had before (tests/unit/plan_reference.py) and by the
vectorised one, with the behaviours added since switched off, for the speed-up and an equality
check. The load average is recorded before and after. Results: ``--out`` (default
``bench/results/plan_<date>.json``) and a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

START = "2010-01-01"
PER_DAY = 120
FRAMES = dict(start=START, frames_per_day=PER_DAY, roll=-3.0, roll_drift=1e-6,
              special_every=17, unknown_filter_every=1000, table_fraction=0.9,
              history_version="1.32")
SEEDS = {"C3": 1, "C2": 2}


def _loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def _rss() -> int:
    """Resident memory of this process in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Highest RSS while the ``with`` block runs (sampled every 10 ms by a thread)."""

    def __enter__(self):
        self.start = _rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def ensure_store(workdir: Path, days: int) -> Path:
    """The synthetic calibration store for ``days`` days of both detectors (written once)."""
    from lascoproc.testing.calib import synthetic_frame_headers, write_calibration_files

    root = workdir / "calib"
    stamp = workdir / "calib.json"
    wanted = {"days": days, "frames": FRAMES, "seeds": SEEDS, "version": 1}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return root
    records = []
    for det, seed in SEEDS.items():
        records += synthetic_frame_headers(detector=det, days=days, seed=seed, **FRAMES)[1]
    t0 = time.perf_counter()
    write_calibration_files(root, start=START, days=days, seed=0, exposures=records,
                            predictive_orbit=False)
    print(f"calibration store written in {time.perf_counter() - t0:.0f} s", flush=True)
    stamp.write_text(json.dumps(wanted))
    return root


def child(args) -> dict:
    """The measurements (run in a fresh process)."""
    from lascoproc.calibrate.plan import Level1Options, plan_level1
    from lascoproc.io import calib_store
    from lascoproc.io.calib_store import CalibrationStore
    from lascoproc.testing.calib import synthetic_frame_headers

    days = args.days
    out: dict = {"frames_per_detector": days * PER_DAY, "days": days, "detectors": {}}
    rss0 = _rss()
    t0 = time.perf_counter()
    frames = {det: synthetic_frame_headers(detector=det, days=days, seed=seed,
                                           with_records=False, **FRAMES)[0]
              for det, seed in SEEDS.items()}
    out["build_frames_s"] = time.perf_counter() - t0
    out["rss_frames_bytes"] = _rss() - rss0
    total = {"cold_wall": 0.0, "cold_cpu": 0.0, "warm_wall": 0.0, "warm_cpu": 0.0}
    peak = 0
    for det, ds in frames.items():
        calib_store._SHARED.clear()
        store = CalibrationStore(str(args.calib))
        with PeakMemory() as mem:
            w, c = time.perf_counter(), time.process_time()
            plan = plan_level1(ds, store)
            cold = (time.perf_counter() - w, time.process_time() - c)
        peak = max(peak, mem.peak)
        del plan
        w, c = time.perf_counter(), time.process_time()
        plan = plan_level1(ds, store)
        warm = (time.perf_counter() - w, time.process_time() - c)
        n = ds.sizes["time"]
        status = np.bincount(plan["frame_status"].values, minlength=3)
        kinds = np.array([s.split(" ")[0] for s in plan["bias_source"].values.astype(str)])
        sources = {k or "(not calibrated)": int(v)
                   for k, v in zip(*np.unique(kinds, return_counts=True), strict=True)}
        out["detectors"][det] = {
            "frames": n, "cold_wall_s": cold[0], "cold_cpu_s": cold[1],
            "warm_wall_s": warm[0], "warm_cpu_s": warm[1],
            "cold_frames_per_s_cpu": n / cold[1], "cold_frames_per_s_wall": n / cold[0],
            "warm_frames_per_s_cpu": n / warm[1],
            "rss_before_plan_bytes": mem.start, "rss_peak_plan_bytes": mem.peak,
            "planned": int(status[0]), "flagged": int(status[2]),
            "bias_sources": sources,
            "time_corrected": int((plan["date_obs_source"].values
                                   == "lasco/data/calib/TIME_DIFF.DAT").sum()),
            "observer_from_orbit_files": int(np.char.startswith(
                plan["observer_source"].values.astype(str), "SO_OR_").sum()),
            "calibration_files_read": len(plan.attrs["calibration_files"]),
        }
        total["cold_wall"] += cold[0]
        total["cold_cpu"] += cold[1]
        total["warm_wall"] += warm[0]
        total["warm_cpu"] += warm[1]
        del plan
    n_all = sum(ds.sizes["time"] for ds in frames.values())
    out["all"] = {"frames": n_all, **{f"{k}_s": v for k, v in total.items()},
                  "cold_frames_per_s_cpu": n_all / total["cold_cpu"],
                  "cold_frames_per_s_wall": n_all / total["cold_wall"],
                  "warm_frames_per_s_cpu": n_all / total["warm_cpu"],
                  "rss_peak_plan_bytes": peak}
    if args.reference_frames:
        from tests.unit.plan_reference import REFERENCE_COLUMNS, reference_plan

        as_before = Level1Options(time_correction=False, bias_history=False,
                                  pointing_fallback="header", orbit=False)
        ds = frames["C3"].isel(time=slice(0, args.reference_frames))
        store = CalibrationStore(str(args.calib))
        plan_level1(ds, store, as_before)  # caches warm for both
        w, c = time.perf_counter(), time.process_time()
        new = plan_level1(ds, store, as_before)
        new_t = (time.perf_counter() - w, time.process_time() - c)
        w, c = time.perf_counter(), time.process_time()
        ref = reference_plan(ds, store, as_before)
        ref_t = (time.perf_counter() - w, time.process_time() - c)
        equal = all(np.array_equal(new[k].values, ref[k].values)
                    or (new[k].dtype.kind == "f" and np.allclose(
                        new[k].values, ref[k].values, rtol=1e-13, atol=1e-13, equal_nan=True))
                    for k in REFERENCE_COLUMNS if k != "bias_source")
        out["reference"] = {"frames": ds.sizes["time"], "per_frame_wall_s": ref_t[0],
                            "per_frame_cpu_s": ref_t[1], "vectorised_wall_s": new_t[0],
                            "vectorised_cpu_s": new_t[1],
                            "speedup_cpu": ref_t[1] / new_t[1], "equal": bool(equal)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000,
                        help="frames in all, half per detector (default 10^6)")
    parser.add_argument("--reference-frames", type=int, default=20_000,
                        help="frames also planned by the old per-frame planner (0: none)")
    parser.add_argument("--workdir", default="/tmp/lascoproc-planbench")
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--calib", help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    days = max(1, round(args.frames / (2 * PER_DAY)))
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    calib = ensure_store(workdir, days)
    load_before = _loadavg()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--calib", str(calib), "--days", str(days),
         "--reference-frames", str(args.reference_frames)],
        capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    import dask
    import pandas
    import xarray

    result.update({
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_before": load_before, "loadavg_after": _loadavg(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "pandas": pandas.__version__, "xarray": xarray.__version__,
                    "dask": dask.__version__},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    })
    out = Path(args.out or ROOT / "bench" / "results" /
               f"plan_{dt.date.today():%Y-%m-%d}_{args.frames}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    a = result["all"]
    print("| frames | cold CPU s | cold frames/s (CPU) | cold wall s | warm CPU s | "
          "warm frames/s (CPU) | peak RSS planning |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {a['frames']:,} | {a['cold_cpu_s']:.1f} | {a['cold_frames_per_s_cpu']:,.0f} | "
          f"{a['cold_wall_s']:.1f} | {a['warm_cpu_s']:.1f} | "
          f"{a['warm_frames_per_s_cpu']:,.0f} | {a['rss_peak_plan_bytes'] / 2**30:.2f} GiB |")
    if "reference" in result:
        r = result["reference"]
        print(f"per-frame planner on {r['frames']:,} frames: {r['per_frame_cpu_s']:.1f} s CPU, "
              f"vectorised {r['vectorised_cpu_s']:.2f} s: x{r['speedup_cpu']:.0f}, "
              f"equal: {r['equal']}")
    print(f"load average before {load_before}, after {result['loadavg_after']}; "
          f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
