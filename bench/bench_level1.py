"""Level 0.5 -> level 1 speed on real-archive geometry (issue 11): rotated frames with a
drifting roll against unrotated ones, the dask path against a plain loop, and the whole run
into Zarr.

    .venv/bin/python bench/bench_level1.py --frames 128 --repeat 6 --workdir /tmp/l1bench

Frames: synthetic C3 level-0.5 frames built on the real header of 33785492.fts (2023-12-01,
``lascoproc/data/lasco_c3_l05_33785492.header``; :func:`lascoproc.testing.lasco.
write_lasco_archive` with ``template="2023"``), 1024x1024, 0-5 lost blocks each, in two
archives: ``roll0`` (``CROTA1`` 0: no north-up rotation) and ``drifting`` (``CROTA1`` -7.42 deg,
the real header's, drifting by -0.003 deg per frame, so no two frames share a level-1
geometry). The calibration files (synthetic, SolarSoft's layout) have attitude tables that end
before 2023, so the pointing is the header's, as for real frames after the tables' last day.

Paths, each on the same frames, passes interleaved across paths and cases (so that load from
other processes falls on all alike), the order of the paths within a pass rotated from one pass
to the next (a path's place in a pass moved its ratio to the plain loop by 12-18% in a test of
three orders; ``--repeat 6`` puts each of the six steps in every place once), ``--repeat``
passes after a warm-up, best and median kept:

``plain``
    a single-threaded loop: ``read_frame`` (one range read of the data) then
    :func:`lascoproc.calibrate.level1.level1_block` on the frame (the numpy kernel the dask
    path maps);
``dask``
    :func:`lascoproc.calibrate.level1.calibrate_level1` computed on dask's threaded scheduler
    with 1 thread (the per-core comparison) into a target that drops each block, with the
    tasks the region writer uses (``--region-frames`` frames read and calibrated per task);
``dask1``, ``dask4``
    the same with one frame per task (``open_level1``'s cube, for analysis) and with four
    (``open_level1(frames_per_chunk=4)``);
``zarr``
    :func:`lascoproc.pipeline.level1.run_level1` into a new store (index, headers, plan,
    template, read, calibrate, flags, compress, write, mark), 1 thread, regions (shards) of
    ``--region-frames`` frames; its per-frame figure is taken between the first and the last
    region mark (the fixed part of a run apart), so ``--frames`` should be several regions.
    Regions are written by the direct path (:mod:`lascoproc.pipeline.level1_shards`: one task
    per region reads, calibrates and appends each frame to its shards);
``zarr_stock``
    the same run with ``LASCOPROC_DIRECT_WRITE=0``: the range's lazy cube written by
    zarr-python (the path before the direct one, and the one inpainting runs still take);
``plain_zarr``
    the direct path's work without dask, the scheduler or the marks: a loop calling
    :func:`lascoproc.pipeline.level1_shards.write_level1_region` region after region into the
    store ``zarr`` made, its data objects deleted first (read, calibrate, encode, write).
    ``zarr`` / ``plain_zarr`` is what dask and the run around it (scheduler, marks, lease)
    add to the same work.

CPU time (``time.process_time``) is the per-core cost and the basis of the targets; wall time is
beside it, with the load average. Ratios are given two ways: the ratio of the two paths' best
passes, and the median over passes of the ratio of the two paths' CPU times within one pass
(``paired``). The machine's speed drifts by up to 1.5x over minutes, invisibly to the VM (the
same plain loop measured 10.9 and 14.4 ms per frame on different hours of one day): the paths of
one pass run seconds apart, so the paired ratio is the steadier figure. Results: JSON
(``--out``) and a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np

from lascoproc.calibrate.level1 import (
    calibrate_level1,
    calibration_images,
    frame_rows,
    level1_block,
)
from lascoproc.calibrate.plan import plan_level1
from lascoproc.io.calib_store import CalibrationStore
from lascoproc.io.fs import get_fs
from lascoproc.io.lasco_cube import lasco_cube_from_frames, open_lasco_frames, read_frame
from lascoproc.io.retry import ReadPolicy

CASES = {"roll0": (0.0, 0.0), "drifting": (-7.42, -0.003)}


def prepare(workdir: Path, frames: int) -> dict[str, tuple[str, str]]:
    from lascoproc.testing.calib import write_calibration_files
    from lascoproc.testing.lasco import write_lasco_archive

    calib = workdir / "calib"
    if not calib.exists():
        write_calibration_files(calib, start="2002-05-21", days=1, detectors=("c3",))
    out = {}
    for case, (roll, drift) in CASES.items():
        archive = workdir / f"archive-{case}-{frames}"
        if not archive.exists():
            write_lasco_archive(archive, start="2023-12-01", days=1, frames_per_day=frames,
                                detectors=("c3",), seed=7, binned_per_day=0,
                                subfields_per_day=0, missing_blocks=(0, 6), roll=roll,
                                roll_drift=drift, template="2023")
        out[case] = (str(archive), str(calib))
    return out


class _Discard:
    def __setitem__(self, key, value):
        pass


def _clock():
    return time.perf_counter(), time.process_time()


def _since(t0):
    wall, cpu = _clock()
    return wall - t0[0], cpu - t0[1]


class Case:
    def __init__(self, archive: str, calib: str, region: int):
        self.archive = archive
        self.region = region
        self.store = CalibrationStore(calib)
        self.frames = open_lasco_frames(archive, detector="c3")
        self.n = self.frames.sizes["time"]
        self.plan = plan_level1(self.frames, self.store)
        if (self.plan["frame_status"].values != 0).any():
            raise SystemExit("the plan flags frames of the benchmark archive")
        self.images, self.cells, index = calibration_images(self.frames, self.plan, self.store)
        self.rows = frame_rows(self.plan, index)
        self.fs, _ = get_fs(archive)
        self.paths = [str(p) for p in self.frames["path"].values]
        self.offsets = [int(o) for o in self.frames["data_offset"].values]
        self.rotations = self.plan["rotation"].values

    def plain(self):
        for i in range(self.n):
            counts = read_frame(self.fs, self.paths[i], offset=self.offsets[i],
                                shape=(1024, 1024))
            level1_block(counts[None], self.rows[i:i + 1], images=self.images,
                         cells=self.cells, detector="C3", distortion=True)

    def dask(self, frames_per_chunk: int | None = None):
        level05 = lasco_cube_from_frames(self.frames,
                                         frames_per_chunk=frames_per_chunk or self.region)
        cube = calibrate_level1(level05, self.store, plan=self.plan)
        with dask.config.set(scheduler="threads", num_workers=1):
            da.store([cube["brightness"].data, cube["quality"].data], [_Discard(), _Discard()],
                     lock=False)

    def plain_zarr(self, out: Path) -> None:
        from lascoproc.pipeline.level1_shards import (
            LEVEL1_VARIABLES,
            region_writer,
            write_level1_region,
        )

        writer = region_writer(self.frames, self.plan, self.store, detector="C3",
                               distortion=True, archive=self.archive, storage_options=None,
                               policy=ReadPolicy(), store=str(out), out_storage_options=None,
                               region_frames=self.region, names=LEVEL1_VARIABLES)
        if writer is None:
            raise SystemExit(f"{out}: not a store the direct path writes")
        inputs = writer.range_inputs(slice(0, self.n))
        specs, rows = inputs.pop("specs"), inputs.pop("rows")
        for start in range(0, self.n, self.region):
            local = slice(start, min(start + self.region, self.n))
            write_level1_region(specs[local], rows[local], shard=start // self.region,
                                **inputs)

    def zarr(self, out: Path, direct: bool = True) -> dict:
        from lascoproc.pipeline.level1 import run_level1

        marks = []

        class Clock:
            def begin(self, total, done):
                pass

            def on_region(self, i, region):
                marks.append((_clock(), region.stop - region.start))

            def end(self):
                pass

        shutil.rmtree(out, ignore_errors=True)
        os.environ["LASCOPROC_DIRECT_WRITE"] = "1" if direct else "0"
        t0 = _clock()
        try:
            with dask.config.set(scheduler="threads", num_workers=1):
                run_level1(self.archive, detector="c3", calib=self.store, out=str(out),
                           region_frames=self.region, progress=Clock(), overwrite=True)
        finally:
            os.environ.pop("LASCOPROC_DIRECT_WRITE", None)
        whole = _since(t0)
        (w0, c0), _ = marks[0]
        (w1, c1), _ = marks[-1]
        frames = sum(n for _, n in marks[1:])
        return {"whole": whole, "per_frame": ((w1 - w0) / frames, (c1 - c0) / frames)}


PATHS = ("plain", "dask", "dask1", "dask4")


def run_cases(cases: dict[str, Case], repeat: int, workdir: Path) -> dict:
    for case in cases.values():  # warm-up (numba's compiled kernels are cached on disk)
        case.plain()
        case.dask()
    passes = {name: {path: [] for path in PATHS} for name in cases}
    zarr = {name: [] for name in cases}
    stock = {name: [] for name in cases}
    plain_zarr = {name: [] for name in cases}
    for k in range(repeat):
        for name, case in cases.items():
            def timed(path, name=name, case=case):
                t0 = _clock()
                case.dask(int(path[4:])) if path[4:].isdigit() else getattr(case, path)()
                passes[name][path].append(_since(t0))

            def direct(name=name, case=case):
                out = workdir / f"out-{name}.zarr"
                zarr[name].append(case.zarr(out))
                for variable in ("brightness", "quality", "nmissing", "frame_status"):
                    shutil.rmtree(out / variable / "c")  # new objects, as the run wrote them
                t0 = _clock()
                case.plain_zarr(out)
                plain_zarr[name].append(_since(t0))

            def zarr_python(name=name, case=case):
                stock[name].append(case.zarr(workdir / f"out-{name}-stock.zarr", direct=False))

            steps = [*(lambda path=path: timed(path) for path in PATHS), direct, zarr_python]
            shift = k % len(steps)  # each path in every position of a pass in turn
            for step in steps[shift:] + steps[:shift]:
                step()
    return {name: summarise(case, passes[name], zarr[name], stock[name], plain_zarr[name])
            for name, case in cases.items()}


def _figures(walls, cpus) -> dict:
    return {"wall_ms": 1e3 * min(walls), "wall_ms_median": 1e3 * statistics.median(walls),
            "cpu_ms": 1e3 * min(cpus), "cpu_ms_median": 1e3 * statistics.median(cpus)}


def summarise(case: Case, passes: dict, zarr: list, stock: list, plain_zarr: list) -> dict:
    out = {name: _figures([w / case.n for w, _ in values], [c / case.n for _, c in values])
           for name, values in passes.items()}
    for key, runs in (("zarr", zarr), ("zarr_stock", stock)):
        out[key] = _figures([z["per_frame"][0] for z in runs], [z["per_frame"][1] for z in runs])
        out[key].update(whole_run_s=min(z["whole"][0] for z in runs),
                        whole_run_cpu_s=min(z["whole"][1] for z in runs))
    out["plain_zarr"] = _figures([w / case.n for w, _ in plain_zarr],
                                 [c / case.n for _, c in plain_zarr])
    out["zarr_over_plain_zarr_cpu"] = out["zarr"]["cpu_ms"] / out["plain_zarr"]["cpu_ms"]
    out["dask_over_plain_cpu"] = out["dask"]["cpu_ms"] / out["plain"]["cpu_ms"]
    out["dask1_over_plain_cpu"] = out["dask1"]["cpu_ms"] / out["plain"]["cpu_ms"]
    out["dask4_over_plain_cpu"] = out["dask4"]["cpu_ms"] / out["plain"]["cpu_ms"]
    cpu = {name: [c for _, c in values] for name, values in passes.items()}
    cpu["zarr"] = [z["per_frame"][1] for z in zarr]
    cpu["plain_zarr"] = [c / case.n for _, c in plain_zarr]
    plain = [c / case.n for c in cpu["plain"]]

    def paired(a, b):
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    out["paired"] = {f"{name}_over_plain_cpu": paired([c / case.n for c in cpu[name]], plain)
                     for name in PATHS[1:]}
    out["paired"]["zarr_over_plain_cpu"] = paired(cpu["zarr"], plain)
    out["paired"]["zarr_over_plain_zarr_cpu"] = paired(cpu["zarr"], cpu["plain_zarr"])
    out["passes_cpu_ms"] = {name: [round(1e3 * (c / case.n if name in PATHS else c), 3)
                                   for c in values] for name, values in cpu.items()}
    out["frames"] = case.n
    out["region_frames"] = case.region
    out["distinct_rotations"] = int(len(set(np.round(case.rotations, 6))))
    return out


def markdown(result: dict) -> str:
    cases = result["cases"]
    lines = ["| case | plain CPU ms/frame | dask (1 thread) CPU ms/frame | dask / plain | "
             "dask, 1 frame per task / plain | dask, 4 frames per task / plain | "
             "Zarr end to end CPU ms/frame | "
             "Zarr wall ms/frame | plain loop of the same region writes, CPU ms/frame | "
             "Zarr run / that loop | Zarr through zarr-python, CPU ms/frame | "
             "distinct rotations |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    paired_lines = ["", "Paired (median over passes of the ratio within a pass):", "",
                    "| case | dask / plain | dask1 / plain | dask4 / plain | Zarr run / plain | "
                    "Zarr run / loop of the same region writes |", "|---|---|---|---|---|---|"]
    for name, r in cases.items():
        lines.append(f"| {name} | {r['plain']['cpu_ms']:.1f} | {r['dask']['cpu_ms']:.1f} | "
                     f"{r['dask_over_plain_cpu']:.3f} | {r['dask1_over_plain_cpu']:.3f} | "
                     f"{r['dask4_over_plain_cpu']:.3f} | "
                     f"{r['zarr']['cpu_ms']:.1f} | {r['zarr']['wall_ms']:.1f} | "
                     f"{r['plain_zarr']['cpu_ms']:.1f} | {r['zarr_over_plain_zarr_cpu']:.3f} | "
                     f"{r['zarr_stock']['cpu_ms']:.1f} | {r['distinct_rotations']} |")
        q = r["paired"]
        paired_lines.append(f"| {name} | {q['dask_over_plain_cpu']:.3f} | "
                            f"{q['dask1_over_plain_cpu']:.3f} | {q['dask4_over_plain_cpu']:.3f} | "
                            f"{q['zarr_over_plain_cpu']:.3f} | "
                            f"{q['zarr_over_plain_zarr_cpu']:.3f} |")
    lines += paired_lines
    if {"roll0", "drifting"} <= set(cases):
        speed = cases["roll0"]["zarr"]["cpu_ms"] / cases["drifting"]["zarr"]["cpu_ms"]
        lines.append("")
        pairs = zip(cases["roll0"]["passes_cpu_ms"]["zarr"],
                    cases["drifting"]["passes_cpu_ms"]["zarr"], strict=True)
        lines.append(f"drifting roll speed / roll 0 speed (Zarr end to end, CPU): {speed:.2f} "
                     f"(paired: {statistics.median(a / b for a, b in pairs):.2f})")
    env = result["environment"]
    lines.append(f"load average: {env['loadavg_before']} before, {env['loadavg_after']} after; "
                 f"host probe {env.get('host_probe_ms_before')} / "
                 f"{env.get('host_probe_ms_after')} ms before / after; "
                 f"steal {env.get('steal_fraction')}; cpu {env.get('cpu')}")
    return "\n".join(lines)


def host_probe(repeat: int = 10) -> float:
    """CPU ms of a fixed numpy workload that involves no lascoproc code (a float32 frame's
    worth of multiply-adds, a square root and a copy, the kind of work the kernels do), best
    of ``repeat``: the machine's own speed at the time of a pass. This VM's speed drifts by up
    to 1.6x over hours, invisibly to it; a figure that moves with this probe moved with the
    machine, not with the code."""
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 1024, 1024), dtype=np.float32)
    out = np.empty_like(a)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(8):
            np.multiply(a, b, out=out)
            np.add(out, a, out=out)
            np.sqrt(out, out=out)
            b[...] = out
        best = min(best, time.process_time() - t0)
        b[...] = a
    return 1e3 * best


def steal_ticks() -> tuple[int, int] | None:
    """``(steal, total)`` CPU ticks of the machine so far (``/proc/stat``; ``None`` where
    there is none): the share the hypervisor gave to other guests."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def cpu() -> dict:
    """The CPU as the VM sees it (``/proc/cpuinfo``: family, model, the vector extensions
    numba compiles for), so that figures from different machines are not compared as if
    they were one."""
    info: dict = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key in ("model name", "cpu family", "model", "stepping") and key not in info:
                    info[key] = value
                elif key == "flags" and "flags" not in info:
                    info["flags"] = sorted(set(value.split()) & {"avx", "avx2", "fma",
                                                                 "avx512f", "sse4_2"})
    except OSError:
        pass
    return info


def environment() -> dict:
    import numba
    import scipy
    import xarray
    import zarr

    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "cpu": cpu(), "numpy": np.__version__,
            "scipy": scipy.__version__, "dask": dask.__version__, "xarray": xarray.__version__,
            "zarr": zarr.__version__, "numba": numba.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--region-frames", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lascoproc-l1bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = prepare(workdir, args.frames)
    env = environment()
    env["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
    env["host_probe_ms_before"] = round(host_probe(), 3)
    steal0 = steal_ticks()
    cases = run_cases({name: Case(*paths, args.region_frames) for name, paths in data.items()},
                      args.repeat, workdir)
    env["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    env["host_probe_ms_after"] = round(host_probe(), 3)
    steal1 = steal_ticks()
    if steal0 and steal1 and steal1[1] > steal0[1]:
        env["steal_fraction"] = round((steal1[0] - steal0[0]) / (steal1[1] - steal0[1]), 4)
    import zarr

    # the pipeline the Zarr writes used (lascoproc.io.zarr_pipeline unless
    # LASCOPROC_ZARR_PIPELINE=zarr)
    env["zarr_codec_pipeline"] = zarr.config.get("codec_pipeline.path")
    result = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "frames": args.frames, "region_frames": args.region_frames,
              "repeat": args.repeat, "cases": cases,
              "environment": env}
    out = Path(args.out or f"bench/results/level1_{dt.datetime.now():%Y-%m-%dT%H%M}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
