"""Fault-injection campaign (issue 12): many runs under faults, each ending identical to a clean
run with no frame lost. The figures go to docs/reliability.md.

    .venv/bin/python bench/bench_faults.py --repeat 5 --out bench/results/faults.json

Writes a small synthetic level-0.5 archive (C2, full frames) and its clean store, then, each
scenario ``--repeat`` times with a new seed:

``http``
    ``lascoproc lasco ingest`` from a loopback HTTP archive (:class:`lascoproc.testing.faults.
    FaultyHTTPServer`) that answers 503, stalls past the client's timeout and cuts bodies at
    random; rerun with ``--resume`` until the store is complete (the faults go on).
``client-kill``
    the command line SIGKILLed at a random moment of its run, then ``--resume`` (again killed
    at random, up to three times), then a resume that is let finish.
``worker-kill``
    a ``dask scheduler`` and two ``dask worker`` processes on loopback; one worker SIGKILLed at
    a random moment of the run (a new one started), the run goes on.
``enospc``
    the store on a filesystem that fills up after a random number of bytes
    (:class:`lascoproc.testing.faults.NoSpaceFileSystem`); the regions that failed are written
    by ``--resume`` once space is freed.
``two-writers``
    two command lines started together on one store.

Each run ends with the store compared to the clean one (pixels, coordinates, time axis,
manifest) and the run report's count of files not used (``frames lost``: a good frame absent
from the store or not written, which must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

CLI = [sys.executable, "-m", "lascoproc_cli.main"]


def prepare(workdir: Path, frames: int) -> tuple[Path, xr.Dataset]:
    from lascoproc.pipeline.ingest import ingest_level05
    from lascoproc.testing.lasco import write_lasco_archive

    archive = workdir / "archive"
    if not archive.exists():
        write_lasco_archive(archive, days=1, frames_per_day=frames, detectors=("c2",), seed=41,
                            binned_per_day=0, subfields_per_day=0, cme=False)
    clean = workdir / "clean.zarr"
    if not clean.exists():
        ingest_level05(str(archive), detector="c2", out=str(clean), region_frames=2)
    return archive, xr.open_zarr(clean).load()


def compare(store: Path, clean: xr.Dataset) -> dict:
    """``{"identical": bool, "frames_lost": n}`` of a finished store against the clean one."""
    out = xr.open_zarr(store).load()
    written = out["frame_written"].values.astype(bool)
    names = {str(p).rsplit("/", 1)[-1] for p, w in zip(out["path"].values, written,
                                                        strict=True) if w}
    lost = sum(str(p).rsplit("/", 1)[-1] not in names for p in clean["path"].values)
    same = (out.sizes == clean.sizes and bool(written.all())
            and np.array_equal(out["counts"].values, clean["counts"].values)
            and np.array_equal(out["time"].values, clean["time"].values))
    return {"identical": bool(same), "frames_lost": int(lost)}


def ingest_args(archive: str, out: Path, *extra: str) -> list[str]:
    return [*CLI, "lasco", "ingest", archive, "--detector", "c2", "--out", str(out),
            "--region-frames", "2", "--range-frames", "4", *extra]


def scenario_http(archive: Path, clean, work: Path, seed: int) -> dict:
    from lascoproc.testing.faults import FaultyHTTPServer

    out = work / "http.zarr"
    runs = 0
    with FaultyHTTPServer(archive, p_503=0.15, p_truncate=0.1, p_stall=0.02, stall=2.0,
                          seed=seed) as server:
        for attempt in range(8):
            runs += 1
            done = subprocess.run(ingest_args(server.url, out, "--storage-option", "timeout=1",
                                              "--retries", "8", "--retry-backoff", "0.01",
                                              *(["--resume"] if attempt else [])),
                                  capture_output=True, text=True)
            if done.returncode == 0:
                break
        counts = server.counts
    faults = counts["503"] + counts["stall"] + counts["truncate"]
    return {"runs": runs, "faults": int(faults), "requests": int(sum(counts.values())),
            **compare(out, clean)}


def _kill_at_random(argv: list[str], rng: random.Random, longest: float) -> bool:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + rng.uniform(0.5, longest)
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return killed


def scenario_client_kill(archive: Path, clean, work: Path, seed: int) -> dict:
    rng = random.Random(seed)
    out = work / "kill.zarr"
    kills, runs = 0, 0
    argv = ingest_args(str(archive), out)
    for attempt in range(3):
        runs += 1
        extra = ["--resume"] if attempt else ["--overwrite"]
        kills += _kill_at_random([*argv, *extra], rng, longest=6.0)
    runs += 1
    done = subprocess.run([*argv, "--resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1000:]
    return {"runs": runs, "kills": kills, **compare(out, clean)}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario_worker_kill(archive: Path, clean, work: Path, seed: int) -> dict:
    rng = random.Random(seed)
    port = _port()
    address = f"tcp://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--dashboard-address", ":0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]

    def worker():
        return subprocess.Popen([str(bindir / "dask"), "worker", address, "--nthreads", "1",
                                 "--no-dashboard"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    try:
        time.sleep(2.0)
        workers = [worker(), worker()]
        procs += workers
        time.sleep(2.0)
        out = work / "worker.zarr"
        run = subprocess.Popen(ingest_args(str(archive), out, "--scheduler", address),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(1.0, 4.0))
        killed = workers[0].poll() is None
        if killed:
            os.kill(workers[0].pid, signal.SIGKILL)
            procs.append(worker())
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr[-1000:]
        return {"runs": 1, "kills": int(killed), **compare(out, clean)}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def scenario_enospc(archive: Path, clean, work: Path, seed: int) -> dict:
    import fsspec

    from lascoproc.pipeline.ingest import ingest_level05
    from lascoproc.testing.faults import NoSpaceFileSystem

    rng = random.Random(seed)
    fsspec.register_implementation("nospace", NoSpaceFileSystem, clobber=True)
    out = work / "full.zarr"
    NoSpaceFileSystem.free()
    NoSpaceFileSystem.limit = rng.randint(200_000, 12_000_000)
    try:
        first = ingest_level05(str(archive), detector="c2", out=f"nospace://{out}",
                               region_frames=2)
    except OSError:  # the disk filled before the template was complete: nothing to resume
        first = None
    finally:
        NoSpaceFileSystem.free()
    failed = len(first.report.failed) if first is not None else -1
    if first is None:
        shutil.rmtree(out, ignore_errors=True)
        ingest_level05(str(archive), detector="c2", out=f"nospace://{out}", region_frames=2)
    else:
        ingest_level05(str(archive), detector="c2", out=f"nospace://{out}", region_frames=2,
                       resume=True)
    return {"runs": 2, "faults": int(failed > 0 or first is None),
            "regions_failed": failed, **compare(out, clean)}


def scenario_two_writers(archive: Path, clean, work: Path, seed: int) -> dict:
    out = work / "both.zarr"
    argv = ingest_args(str(archive), out)
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for proc in procs:  # read and close the pipes (a full pipe would block the writer)
        proc.communicate(timeout=600)
    codes = [p.returncode for p in procs]
    refused = sum(c != 0 for c in codes)
    if all(codes):  # neither finished (both stopped by the other): resume once
        subprocess.run([*argv, "--resume"], check=True, capture_output=True)
    return {"runs": 2, "refused": refused, **compare(out, clean)}


SCENARIOS = {"http": scenario_http, "client-kill": scenario_client_kill,
             "worker-kill": scenario_worker_kill, "enospc": scenario_enospc,
             "two-writers": scenario_two_writers}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default="bench/results/faults.json")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lascoproc-faults-"))
    archive, clean = prepare(workdir, args.frames)
    results = {}
    for name in args.scenarios:
        rows = []
        for k in range(args.repeat):
            work = workdir / f"{name}-{k}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            started = time.perf_counter()
            row = SCENARIOS[name](archive, clean, work, seed=1000 + k)
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows.append(row)
            print(name, k, row, flush=True)
            shutil.rmtree(work, ignore_errors=True)
        results[name] = rows
    total = {name: {"repetitions": len(rows),
                    "runs": sum(r.get("runs", 0) for r in rows),
                    "faults_injected": sum(r.get("faults", 0) for r in rows),
                    "kills": sum(r.get("kills", 0) for r in rows),
                    "refused_writers": sum(r.get("refused", 0) for r in rows),
                    "identical": sum(r["identical"] for r in rows),
                    "frames_lost": sum(r["frames_lost"] for r in rows)}
             for name, rows in results.items()}
    record = {"frames": args.frames, "clean_frames": int(clean.sizes["time"]),
              "loadavg": os.getloadavg(), "totals": total, "runs": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(json.dumps(total, indent=1))
    return 0 if all(t["frames_lost"] == 0 and t["identical"] == t["repetitions"]
                    for t in total.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
