"""Scaling of a lascoproc pipeline on this machine, and what it projects for a whole mission.

For each synthetic archive size (default 20 and 200 full 1024x1024 C2 frames: 10x) the ingest
pipeline (level-0.5 FITS -> Zarr, :func:`lascoproc.pipeline.ingest.ingest_level05`) runs on

- ``threads-1``, ``threads-2``: Dask's threaded scheduler in this process (the default engine);
- ``dist-1``, ``dist-2``: a real ``dask scheduler`` with 1 or 2 ``dask worker`` processes of one
  thread each, on loopback (``--scheduler`` runs), started and stopped here.

It records wall time, frames/s, parallel efficiency ``E = T1 / (2 T2)``, the CPU seconds per
frame spent in the workers (psutil), and the peak resident memory of every worker process and
of the driving process, sampled every 20 ms. Every store is checked identical to the first one.

    .venv/bin/python bench/bench_scaling.py                      # ~3 minutes on 2 cores
    .venv/bin/python bench/bench_scaling.py --frames 20 200 --out bench/results/scaling.json

The JSON feeds ``docs/scaling.md``; :func:`project` turns per-frame costs into the wall time and
cost of a whole mission on N CPU and M GPU workers (the calibrate and inpaint per-frame costs are
slots to fill when those pipelines are measured).

``--graph-overhead`` measures instead what the *client* pays per region of a level-1 run,
against the archive's length, for the single whole-archive cube (the old path) and for the run
cut into time ranges (:mod:`lascoproc.pipeline.level1`): building the lazy cube(s), then per
region slicing it and culling its graph (``to_zarr(region=..., compute=False)``, which culls,
plus ``dask.optimize``). No pixel is read or computed: the archives of 2,000 and 20,000 frames
are the headers of a 20-frame synthetic archive repeated one second apart (~1-2 minutes):

    .venv/bin/python bench/bench_scaling.py --graph-overhead \
        --out bench/results/scaling_graph.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import dask
import distributed
import numpy as np
import psutil
import xarray as xr

import lascoproc
from lascoproc.cluster import ClusterConfig, get_client
from lascoproc.pipeline.ingest import ingest_level05

FRAMES_PER_DAY = 20
MISSION_FRAMES = 1_000_000  # LASCO C2 + C3 since 1996, order of magnitude (issue 6)
FRAME_BYTES = 1024 * 1024 * 2 + 2880 * 4  # a full level-0.5 frame on disk

#: Assumed prices for the projection, USD per hour (on-demand list prices are of this order;
#: replace with your site's or provider's). Labelled as assumptions wherever they are used.
PRICE_CPU_CORE_HOUR = 0.05
PRICE_GPU_HOUR = 3.00


# ------------------------------------------------------------------------------ loopback cluster


class LoopbackCluster:
    """``dask scheduler`` + ``n`` one-thread ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, workdir: Path, n_workers: int, memory_limit: str = "2GiB"):
        self.procs: list[subprocess.Popen] = []
        self.logs = []
        sched_file = workdir / "scheduler.json"
        self._spawn(workdir / "scheduler.log", [
            sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
            "--port", "0", "--dashboard-address", "127.0.0.1:0",
            "--scheduler-file", str(sched_file)])
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.stat().st_size:
            if time.monotonic() > deadline:
                raise RuntimeError("dask scheduler did not start")
            time.sleep(0.05)
        time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        for i in range(n_workers):
            self._spawn(workdir / f"worker{i}.log", [
                sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                str(sched_file), "--name", f"w{i}", "--nthreads", "1", "--memory-limit",
                memory_limit, "--no-dashboard", "--host", "127.0.0.1"])

    def _spawn(self, log_path: Path, argv: list[str]) -> None:
        log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.logs.append(log)
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True))

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in self.logs:
            log.close()


class MemorySampler:
    """Peak RSS and CPU time of given processes, sampled every ``interval`` seconds."""

    def __init__(self, pids: dict[str, int], interval: float = 0.02):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(self.procs, 0)
        self.start_rss = {n: p.memory_info().rss for n, p in self.procs.items()}
        self.cpu0 = {n: _cpu(p) for n, p in self.procs.items()}
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.cpu = {n: _cpu(p) - self.cpu0[n] for n, p in self.procs.items()}


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


# ------------------------------------------------------------------------------ one run


def run_one(archive: str, out: Path, engine: str, n: int, workdir: Path) -> dict:
    """Ingest ``archive`` into ``out`` on ``engine`` (threads|dist) with ``n`` threads/workers."""
    if out.exists():
        shutil.rmtree(out)
    load_before = os.getloadavg()[0]
    cluster = None
    try:
        if engine == "threads":
            config = ClusterConfig(n_workers=n)
        else:
            workdir.mkdir(parents=True, exist_ok=True)
            cluster = LoopbackCluster(workdir, n)
            config = ClusterConfig(backend="scheduler", address=cluster.address)
        with get_client(config) as client:
            if client is not None:
                client.wait_for_workers(n, timeout=120)
                # import the pipeline in the workers first: not part of the measured run
                client.run(lambda: __import__("lascoproc.io.lasco_cube"))
                pids = client.run(os.getpid)
                names = {a: w["name"] for a, w in
                         client.scheduler_info(n_workers=-1)["workers"].items()}
                watched = {names[a]: pid for a, pid in pids.items()}
            else:
                watched = {}
            watched["driver"] = os.getpid()
            with MemorySampler(watched) as sampler:
                started = time.perf_counter()
                result = ingest_level05(archive, detector="c2", out=str(out))
                wall = time.perf_counter() - started
    finally:
        if cluster is not None:
            cluster.close()
    frames = result.report.frames
    load_after = os.getloadavg()[0]
    workers = [k for k in watched if k != "driver"]
    worker_cpu = sum(sampler.cpu[k] for k in workers) if workers else sampler.cpu["driver"]
    return {
        "engine": engine, "workers_or_threads": n, "frames": frames,
        "regions": result.report.regions, "wall_s": wall, "frames_per_s": frames / wall,
        "cpu_s_per_frame": worker_cpu / frames,
        "driver_cpu_s_per_frame": sampler.cpu["driver"] / frames,
        "peak_rss_mib": {k: v / 2**20 for k, v in sampler.peak.items()},
        "driver_rss_growth_mib": (sampler.peak["driver"] - sampler.start_rss["driver"]) / 2**20,
        # other programs on the machine skew the timings: a 1-minute load above the engine's
        # own process count means they were competing for the cores
        "loadavg_1min_before_after": [load_before, load_after],
        "start_rss_mib": {k: v / 2**20 for k, v in sampler.start_rss.items()},
    }


def make_archive(root: Path, frames: int) -> str:
    """Write the archive in a child process: its scene caches stay out of this one's memory."""
    days = math.ceil(frames / FRAMES_PER_DAY)
    code = ("import sys; from lascoproc.testing.lasco import write_lasco_archive; "
            "a = write_lasco_archive(sys.argv[1], days=int(sys.argv[2]), "
            f"frames_per_day={FRAMES_PER_DAY}, detectors=('c2',), seed=3, binned_per_day=0, "
            "subfields_per_day=0, cme=False); print(len(a.good('C2')))")
    done = subprocess.run([sys.executable, "-c", code, str(root), str(days)], check=True,
                          capture_output=True, text=True)
    assert int(done.stdout.split()[-1]) == days * FRAMES_PER_DAY
    return str(root)


def assert_same_store(path: Path, reference: Path) -> None:
    """Identical stores, compared frame by frame (the whole cube never in memory)."""
    a, b = xr.open_zarr(path), xr.open_zarr(reference)
    xr.testing.assert_identical(a.drop_vars("counts").load(), b.drop_vars("counts").load())
    with dask.config.set(scheduler="threads"):
        differ = bool((a["counts"] != b["counts"]).any().compute())
    assert not differ, f"{path} differs from {reference}"


# ------------------------------------------------------------------------------ projection


def project(costs: dict, *, frames: int = MISSION_FRAMES, cpu_workers=(16, 64, 256),
            gpu_workers=(0, 1, 4), efficiency: float = 0.9,
            cpu_price: float = PRICE_CPU_CORE_HOUR, gpu_price: float = PRICE_GPU_HOUR) -> list:
    """Wall time and cost of ``frames`` frames on N one-core CPU workers and M GPU workers.

    ``costs`` maps step -> ``{"cpu_s_per_frame": c, "gpu_s_per_frame": g}`` (``None`` for a
    step not measured yet). CPU steps spread over the N workers at ``efficiency``; GPU steps
    over the M GPUs; the two pools work concurrently (GPU tasks are resource-annotated), so the
    wall time is the larger of the two:

        T = max(F * sum(c) / (N * E), F * sum(g) / M)
        cost = T * (N * cpu_price + M * gpu_price)

    A GPU step with M = 0 runs on the CPU pool at its ``cpu_s_per_frame``.
    """
    rows = []
    for n in cpu_workers:
        for m in gpu_workers:
            cpu_s = gpu_s = 0.0
            missing = []
            for step, cost in costs.items():
                c, g = cost.get("cpu_s_per_frame"), cost.get("gpu_s_per_frame")
                if m and g is not None:
                    gpu_s += g
                elif c is not None:
                    cpu_s += c
                else:
                    missing.append(step)
            t_cpu = frames * cpu_s / (n * efficiency)
            t_gpu = frames * gpu_s / m if m else 0.0
            hours = max(t_cpu, t_gpu) / 3600
            rows.append({"cpu_workers": n, "gpu_workers": m, "wall_h": hours,
                         "cost_usd": hours * (n * cpu_price + m * gpu_price),
                         "input_MB_per_s": frames * FRAME_BYTES / 1e6 / (hours * 3600)
                         if hours else None,
                         "steps_not_measured": missing})
    return rows


# ------------------------------------------------------------------------------ graph overhead


def _tiled(frames: xr.Dataset, n: int) -> xr.Dataset:
    """``n`` frames made of the headers of ``frames`` in turn, one second apart, each with its
    own file name and path strings as in a real archive (no file is read)."""
    tiled = frames.isel(time=np.arange(n) % frames.sizes["time"])
    times = frames["time"].values[0] + np.arange(n) * np.timedelta64(1, "s")
    own = {name: ("time", np.array([f"{v}.{i}" for i, v in enumerate(tiled[name].values)],
                                   dtype=object), tiled[name].attrs)
           for name in ("path", "filename", "fileorig")}
    return tiled.assign_coords(time=("time", times, frames["time"].attrs), **own)


def _region_graph_seconds(cube: xr.Dataset, store: str, local: slice, region: slice
                          ) -> tuple[float, int]:
    """What the region writer does on the client for one region, without computing it: slice the
    cube, build the region write (xarray/dask cull the graph there), optimise it."""
    names = [n for n, v in cube.data_vars.items() if "time" in v.dims and v.chunks is not None]
    started = time.perf_counter()
    piece = cube[names].isel(time=local)
    piece = piece.drop_vars(list(piece.coords))
    tasks = len(piece.__dask_graph__())
    write = piece.to_zarr(store, region={"time": region}, mode="r+", compute=False)
    dask.optimize(write)
    return time.perf_counter() - started, tasks


def _template_seconds(run, store: str, region_frames: int) -> float:
    """Seconds of the template phase: the template made from the frames and the plan (no
    graph) and written (metadata and per-frame coordinates)."""
    from lascoproc.io.zarr_store import remove_store, write_template

    remove_store(store)
    started = time.perf_counter()
    write_template(run.template(), store, region_frames=region_frames)
    return time.perf_counter() - started


def _sample_regions(n: int, region_frames: int, samples: int) -> list[slice]:
    starts = np.linspace(0, (n // region_frames - 1) * region_frames, samples).astype(int)
    return [slice(int(s) - int(s) % region_frames, int(s) - int(s) % region_frames
                  + region_frames) for s in starts]


def graph_overhead(workdir: Path, *, sizes=(2_000, 20_000), range_sizes=(256, 1024, 4096),
                   region_frames: int = 16, samples: int = 12) -> dict:
    """Client seconds per region (cube building + slicing + culling) against archive length,
    for the single whole-archive cube and for time ranges of ``range_sizes`` frames."""
    from lascoproc.calibrate.level1 import calibrate_level1
    from lascoproc.io.calib_store import CalibrationStore
    from lascoproc.io.lasco_cube import lasco_cube_from_frames, open_lasco_frames
    from lascoproc.pipeline.level1 import Level1Ranges
    from lascoproc.testing.calib import exposure_records_from_archive, write_calibration_files

    archive = make_archive(workdir / "archive20", FRAMES_PER_DAY)
    write_calibration_files(workdir / "calib", start="2002-05-21", days=1, seed=3,
                            exposures=exposure_records_from_archive(archive))
    calib = CalibrationStore(str(workdir / "calib"))
    headers = open_lasco_frames(archive, detector="c2")
    rows = []
    for n in sizes:
        frames = _tiled(headers, n)
        gc.collect()
        t0 = time.perf_counter()
        run = Level1Ranges(frames, calib)
        plan_s = time.perf_counter() - t0
        plans_bytes = _dataset_bytes(run.plan)
        coords_bytes = _dataset_bytes(run.template().coords.to_dataset())
        plan = run.plan
        store = str(workdir / f"template{n}.zarr")
        template_s = _template_seconds(run, store, region_frames)
        regions = _sample_regions(n, region_frames, samples)

        def level1_of(rng, frames=frames, plan=plan):
            """The lazy level-1 cube of frames ``rng`` as the region writer writes it:
            per-frame variables one chunk per region."""
            cube = calibrate_level1(lasco_cube_from_frames(frames.isel(time=rng)), calib,
                                    plan=plan.isel(time=rng))
            return cube.assign({name: var.chunk({"time": region_frames})
                                for name, var in cube.data_vars.items()
                                if var.dims == ("time",)})

        # the old path: one cube over the archive, sliced for every region
        gc.collect()
        t0 = time.perf_counter()
        whole = level1_of(slice(0, n))
        build_s = time.perf_counter() - t0
        timed = [_region_graph_seconds(whole, store, r, r) for r in regions]
        per_region = statistics.median(t for t, _ in timed)
        rows.append({"path": "single cube", "frames": n, "range_frames": n,
                     "cube_build_s": build_s, "cube_graph_tasks": len(whole.__dask_graph__()),
                     "region_graph_s_median": per_region,
                     "region_graph_s_all": [t for t, _ in timed],
                     "region_graph_tasks": timed[0][1],
                     "client_s_per_region": per_region + build_s * region_frames / n})
        del whole
        for size in range_sizes:
            gc.collect()
            builds, timed, tasks = [], [], []
            for region in regions:
                rng = slice(region.start - region.start % size,
                            min(region.start - region.start % size + size, n))
                t0 = time.perf_counter()
                part = level1_of(rng)
                builds.append(time.perf_counter() - t0)
                tasks.append(len(part.__dask_graph__()))
                local = slice(region.start - rng.start, region.stop - rng.start)
                timed.append(_region_graph_seconds(part, store, local, region))
            build = statistics.median(builds)
            per_region = statistics.median(t for t, _ in timed)
            rows.append({"path": "time ranges", "frames": n, "range_frames": size,
                         "cube_build_s": build, "cube_graph_tasks": max(tasks),
                         "region_graph_s_median": per_region,
                         "region_graph_s_all": [t for t, _ in timed],
                         "region_graph_tasks": timed[0][1],
                         "client_s_per_region": per_region + build * region_frames / size})
        rows.append({"path": "run set-up", "frames": n, "plan_and_coords_s": plan_s,
                     "plan_and_coords_s_per_frame": plan_s / n,
                     "plans_bytes_per_frame": plans_bytes / n,
                     "coords_bytes_per_frame": coords_bytes / n,
                     "template_write_s": template_s})
        for row in rows[-len(range_sizes) - 2:]:
            print(json.dumps(_round_floats(row)), flush=True)
    return {"region_frames": region_frames, "samples_per_size": samples, "rows": rows}


def _dataset_bytes(ds: xr.Dataset) -> int:
    """Bytes held by a dataset's arrays in memory, counting each Python object once (object
    arrays of strings); tiled headers share their strings, real ones would not."""
    total, seen = 0, set()
    for var in ds.variables.values():
        values = np.asarray(var.values)
        total += values.nbytes
        if values.dtype == object:
            for item in values.ravel():
                if id(item) not in seen:
                    seen.add(id(item))
                    total += sys.getsizeof(item)
    return total


def _round_floats(row: dict) -> dict:
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()
            if not k.endswith("_all")}


def main_graph_overhead(args) -> int:
    scratch = Path(args.workdir or tempfile.mkdtemp(prefix="lascoproc-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        with warnings.catch_warnings():  # zarr's note on consolidated metadata (zarr_store)
            warnings.filterwarnings("ignore", message="Consolidated metadata")
            measured = graph_overhead(scratch, sizes=tuple(args.frames))
    finally:
        if args.workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "benchmark": "bench/bench_scaling.py --graph-overhead",
        "command": " ".join([".venv/bin/python", "bench/bench_scaling.py", *sys.argv[1:]]),
        "what": "client seconds per region of a level-1 run (graph building, slicing, culling; "
                "no pixel computed) against archive length: single whole-archive cube vs time "
                "ranges; synthetic headers repeated, one second apart",
        "wall_s": time.perf_counter() - started,
        "loadavg_1min_before_after": [load_before, os.getloadavg()[0]],
        "machine": {"cpus": os.cpu_count(), "memory_gib": psutil.virtual_memory().total / 2**30,
                    "platform": platform.platform(), "python": platform.python_version()},
        "versions": {"lascoproc": lascoproc.__version__, "dask": dask.__version__,
                     "distributed": distributed.__version__, "xarray": xr.__version__,
                     "numpy": np.__version__},
        **measured,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {out} in {result['wall_s']:.0f} s")
    return 0


# ------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=None,
                        help="archive sizes (default 20 200; with --graph-overhead "
                             "2000 20000)")
    parser.add_argument("--out", default=None,
                        help="JSON written (default bench/results/scaling.json; with "
                             "--graph-overhead bench/results/scaling_graph.json)")
    parser.add_argument("--graph-overhead", action="store_true",
                        help="measure the client's per-region graph overhead instead")
    parser.add_argument("--engines", nargs="+", default=["threads-1", "threads-2", "dist-1",
                                                         "dist-2"])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each engine and size; the fastest is kept (default 3)")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temp)")
    args = parser.parse_args(argv)
    if args.graph_overhead:
        args.frames = args.frames or [2_000, 20_000]
        args.out = args.out or "bench/results/scaling_graph.json"
        return main_graph_overhead(args)
    args.frames = args.frames or [20, 200]
    args.out = args.out or "bench/results/scaling.json"

    scratch = Path(args.workdir or tempfile.mkdtemp(prefix="lascoproc-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    runs = []
    try:
        for frames in args.frames:
            t = time.perf_counter()
            archive = make_archive(scratch / f"archive{frames}", frames)
            print(f"archive of {frames} frames written in {time.perf_counter() - t:.1f} s",
                  flush=True)
            reference = None
            for spec in args.engines:
                engine, n = spec.split("-")
                out = scratch / f"{spec}-{frames}.zarr"
                tries = [run_one(archive, out, engine, int(n), scratch / f"logs-{spec}-{frames}")
                         for _ in range(args.repeat)]
                run = min(tries, key=lambda r: r["wall_s"])
                run["wall_s_all"] = [r["wall_s"] for r in tries]
                if reference is None:
                    reference = out
                else:
                    assert_same_store(out, reference)
                    shutil.rmtree(out)
                run["identical_to_first"] = True
                runs.append(run)
                print(f"{frames:>5} frames {spec:<10} {run['wall_s']:7.2f} s "
                      f"{run['frames_per_s']:6.2f} frames/s  cpu {run['cpu_s_per_frame']:.3f} "
                      f"s/frame  peak rss {json.dumps(_round(run['peak_rss_mib']))} MiB "
                      f"(driver +{run['driver_rss_growth_mib']:.0f})", flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)

    summary = summarize(runs)
    result = {
        "benchmark": "bench/bench_scaling.py",
        "pipeline": "lasco ingest (level-0.5 FITS -> Zarr), region_frames=16, 1024x1024 C2",
        "repeat": args.repeat, "kept": "fastest run of each engine and size",
        "machine": {"cpus": os.cpu_count(), "memory_gib": psutil.virtual_memory().total / 2**30,
                    "platform": platform.platform(), "python": platform.python_version()},
        "versions": {"lascoproc": lascoproc.__version__, "dask": dask.__version__,
                     "distributed": distributed.__version__, "xarray": xr.__version__,
                     "numpy": np.__version__},
        "runs": runs,
        "summary": summary,
    }
    costs = {
        "ingest": {"cpu_s_per_frame": summary["ingest_cpu_s_per_frame"],
                   "gpu_s_per_frame": None},
        "calibrate": {"cpu_s_per_frame": None, "gpu_s_per_frame": None},  # slot: lead fills
        "inpaint": {"cpu_s_per_frame": None, "gpu_s_per_frame": None},    # slot: lead fills
    }
    result["projection"] = {
        "frames": MISSION_FRAMES, "assumed_price_cpu_core_hour_usd": PRICE_CPU_CORE_HOUR,
        "assumed_price_gpu_hour_usd": PRICE_GPU_HOUR, "assumed_efficiency": 0.9,
        "costs": costs, "rows": project(costs),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"written {out}")
    return 0


def _round(values: dict) -> dict:
    return {k: round(v) for k, v in values.items()}


def summarize(runs: list[dict]) -> dict:
    """Speed-ups, parallel efficiencies and memory growth from the runs."""
    by = {(r["engine"], r["workers_or_threads"], r["frames"]): r for r in runs}
    sizes = sorted({r["frames"] for r in runs})
    out: dict = {"speedup": {}, "parallel_efficiency": {}, "peak_worker_rss_mib": {}}
    for frames in sizes:
        for engine in ("threads", "dist"):
            one, two = by.get((engine, 1, frames)), by.get((engine, 2, frames))
            if one and two:
                s = one["wall_s"] / two["wall_s"]
                out["speedup"][f"{engine}-{frames}"] = s
                out["parallel_efficiency"][f"{engine}-{frames}"] = s / 2
        for engine, n in (("dist", 1), ("dist", 2)):
            run = by.get((engine, n, frames))
            if run:
                workers = [v for k, v in run["peak_rss_mib"].items() if k != "driver"]
                out["peak_worker_rss_mib"][f"{engine}-{n}-{frames}"] = max(workers)
        out.setdefault("driver_rss_growth_mib", {}).update(
            {f"{r['engine']}-{r['workers_or_threads']}-{frames}": r["driver_rss_growth_mib"]
             for r in runs if r["frames"] == frames})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        growth = {}
        for n in (1, 2):
            a = out["peak_worker_rss_mib"].get(f"dist-{n}-{small}")
            b = out["peak_worker_rss_mib"].get(f"dist-{n}-{large}")
            if a and b:
                growth[f"dist-{n}"] = b / a
        out[f"peak_worker_rss_growth_for_{large // small}x_frames"] = growth
    one_worker = [r for r in runs if r["engine"] == "dist" and r["workers_or_threads"] == 1]
    ref = max(one_worker or runs, key=lambda r: r["frames"])
    out["ingest_cpu_s_per_frame"] = ref["cpu_s_per_frame"]
    out["ingest_cpu_s_per_frame_from"] = f"{ref['engine']}-1, {ref['frames']} frames"
    return out


if __name__ == "__main__":
    sys.exit(main())
