"""Opening one week of 7 AIA channels of an SDOML store with real-size metadata.

A runnable script, not a timed test::

    .venv/bin/python bench/bench_aia_index.py                  # write the store if needed, time
    .venv/bin/python bench/bench_aia_index.py --frames 20000 --repeat 3
    .venv/bin/python bench/bench_aia_index.py --opener head    # the opener of git HEAD

The store is the real SDOML v2 layout without pixels: one year group, 7 EUV channel arrays of
``--frames`` frames (512x512 float32, chunks of ``--chunk`` frames; no chunk is written), each
with ``--keys`` per-frame header keywords in ``.zattrs`` (the real AIA level-1 keywords, values
of their real types and lengths; about 2.3 kB of JSON per frame, as in the real store:
about 200 MB per year and channel at its ~87,000 frames). It is written once into
``--workdir``.

Each measurement is a fresh Python process that imports :mod:`lascoproc.io.sdoml` (import time
reported apart), opens one week of the 7 channels with ``open_sdoml`` and reports the open's
wall and CPU seconds and the process's peak RSS (``ru_maxrss``, imports included):

``first``
    the first open with an empty index cache (the index is built then);
``second``
    a later open in a fresh process (the index is read from the cache);
``head``
    with ``--opener head``: the opener of git ``HEAD`` (before the frame index), every open.

The load average is recorded with each run; the JSON goes to ``--out``
(``bench/results/aia_index.json`` by default).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EUV = ("94A", "131A", "171A", "193A", "211A", "304A", "335A")
YEAR = 2015

#: AIA level-1 keywords (a real header's, in its order) and a value maker per type.
_FLOAT_KEYS = (
    "EXPTIME EXPSDEV INT_TIME DATAMIN DATAMAX DATAMEDN DATAMEAN DATARMS DATASKEW DATAKURT "
    "OSCNMEAN OSCNRMS CRVAL1 CDELT1 CRPIX1 CRVAL2 CDELT2 CRPIX2 CROTA2 R_SUN INST_ROT IMSCL_MP "
    "X0_MP Y0_MP SAT_Y0 SAT_Z0 SAT_ROT DSUN_REF DSUN_OBS RSUN_REF RSUN_OBS GAEX_OBS GAEY_OBS "
    "GAEZ_OBS HAEX_OBS HAEY_OBS HAEZ_OBS OBS_VR OBS_VW OBS_VN CRLN_OBS CRLT_OBS HGLN_OBS "
    "HGLT_OBS DN_GAIN EFF_AREA EFF_WVLN TEMPCCD TEMPGT TEMPSMIR TEMPFPAD AIAECTI AIASEN "
    "AIHISMXB AIHIS192 AIHIS348 AIHIS604 AIHIS860 AIMSHOBC AIMSHOBE AIMSHOTC AIMSHOTE AIMSHCBC "
    "AIMSHCBE AIMSHCTC AIMSHCTE PERCENTD LVL_NUM DEG_COR TRECSTEP MPO_REC_F ASD_REC_F "
    "ORB_REC_F ACS_CGT_F CAL_FAC1 CAL_FAC2 CAL_FAC3 CAL_FAC4 CAL_FAC5 CAL_FAC6 CAL_FAC7 "
    "CAL_FAC8 CAL_FAC9 CAL_FAC10 GT_OFF1 GT_OFF2 GT_OFF3 GT_OFF4 ROI_SUM_F"
).split()
_INT_KEYS = (
    "NAXIS NAXIS1 NAXIS2 BITPIX CAMERA WAVELNTH FSN FID QUALLEV0 QUALITY TOTVALS DATAVALS "
    "MISSVALS NSPIKES CAR_ROT ROI_NWIN ROI_SUM ROI_NAX1 ROI_NAY1 ROI_LLX1 ROI_LLY1 ROI_NAX2 "
    "ROI_NAY2 ROI_LLX2 ROI_LLY2 ISPPKTVN AIVNMST AIMGOTS ASQHDR ASQTNUM ASQFSN AIAHFSN "
    "AECDELAY AIFDBID AIMGOTSS AIFCPS AIFTSWTH AIFRMLID AIFTSID AIFWEN AIMGSHCE AECTYPE "
    "AECMODE AIAECENF AIFILTYP AICFGDL1 AICFGDL2 AICFGDL3 AICFGDL4 AIFOENFL AIMGFSN AIMGTYP "
    "AIAWVLEN AIAGP1 AIAGP2 AIAGP3 AIAGP4 AIAGP5 AIAGP6 AIAGP7 AIAGP8 AIAGP9 AIAGP10 RECNUM "
    "BLANK TRECROUN"
).split()
_TEXT_KEYS = (
    "BLD_VERS T_REC TRECEPOC ORIGIN DATE TELESCOP INSTRUME DATE-OBS T_OBS IMG_TYPE WAVEUNIT "
    "WAVE_STR FLAT_REC CTYPE1 CUNIT1 CTYPE2 CUNIT2 MPO_REC ASD_REC ACS_MODE ACS_ECLP ACS_SUNP "
    "ACS_SAFE ACS_CGT ORB_REC PIXLUNIT ISPSNAME ISPPKTIM AISTATE KEYWDDOC CHECKSUM DATASUM "
    "COMMENT HISTORY"
).split()


def _header(channel: str, n: int, start: np.datetime64, rng) -> dict[str, list]:
    """Per-frame keyword lists of one array, frames 12 s apart, days out of storage order."""
    t_obs = start + (np.arange(n) * 12_000 + int(channel[:-1]) % 12 * 100).astype(
        "timedelta64[ms]")
    days = t_obs.astype("datetime64[D]")
    unique = np.unique(days)
    rank = {d: r for r, d in enumerate(unique[rng.permutation(unique.size)])}
    order = np.lexsort((t_obs, [rank[d] for d in days]))
    t_obs = t_obs[order]
    text = [s[:22] + "Z" for s in np.datetime_as_string(t_obs, unit="ms")]
    out: dict[str, list] = {}
    for key in _FLOAT_KEYS:
        out[key] = [float(v) for v in rng.normal(100.0, 30.0, n)]
    for key in _INT_KEYS:
        out[key] = [int(v) for v in rng.integers(0, 2**31, n)]
    for key in _TEXT_KEYS:
        out[key] = [f"{key.lower()}_{i % 997:04d}_value" for i in range(n)]
    out["T_OBS"] = text
    out["DATE-OBS"] = [s[:-1] for s in text]
    out["EXPTIME"] = [float(v) for v in 2.0 + rng.normal(0.0, 1e-3, n)]
    out["DEG_COR"] = [float(v) for v in 0.8 + rng.normal(0.0, 1e-3, n)]
    out["QUALITY"] = [0] * n
    out["WAVELNTH"] = [int(channel[:-1])] * n
    return out


def write_store(root: Path, frames: int, chunk: int) -> None:
    """The metadata-only store (no chunk written); about ``frames`` x 2.3 kB per channel."""
    import numcodecs
    import zarr

    if root.exists():
        shutil.rmtree(root)
    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    year = group.require_group(str(YEAR))
    rng = np.random.default_rng(0)
    for channel in EUV:
        array = year.create_array(
            channel, shape=(frames, 512, 512), chunks=(chunk, 512, 512), dtype="float32",
            compressors=numcodecs.Blosc(cname="zstd", clevel=5,
                                        shuffle=numcodecs.Blosc.BITSHUFFLE),
            fill_value=0.0)
        array.attrs.put(_header(channel, frames, np.datetime64(f"{YEAR}-01-01"), rng))


_PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
{import_line}
t1 = time.perf_counter()
c1 = time.process_time()
ds = open_sdoml(sys.argv[1], channels={channels!r}, start=sys.argv[2], end=sys.argv[3])
t2 = time.perf_counter()
c2 = time.process_time()
import pickle
graph = dict(ds["intensity"].data.__dask_graph__())
print(json.dumps({{"import_s": t1 - t0, "open_s": t2 - t1, "open_cpu_s": c2 - c1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "frames": int(ds.sizes["time"]), "graph_tasks": len(graph),
                  "graph_pickle_mb": len(pickle.dumps(graph)) / 2**20}}))
"""


def _head_module(workdir: Path) -> Path:
    """``lascoproc/io/sdoml.py`` of git HEAD (the opener before the frame index)."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:lascoproc/io/sdoml.py"],
                          check=True, capture_output=True, text=True).stdout
    path = workdir / "sdoml_head.py"
    path.write_text(text)
    return path


def probe(url: str, opener: str, workdir: Path, env: dict) -> dict:
    if opener == "head":
        module = _head_module(workdir)
        import_line = (f"import importlib.util as u; s = u.spec_from_file_location('h', "
                       f"{str(module)!r}); m = u.module_from_spec(s); sys.modules['h'] = m; "
                       f"s.loader.exec_module(m); "
                       f"open_sdoml = m.open_sdoml")
    else:
        import_line = "from lascoproc.io.sdoml import open_sdoml"
    code = _PROBE.format(import_line=import_line, channels=list(EUV))
    start = f"{YEAR}-01-10"
    end = f"{YEAR}-01-16T23:59:59"
    load = Path("/proc/loadavg").read_text().split()[:3]
    done = subprocess.run([sys.executable, "-c", code, url, start, end],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"the probe failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = [float(v) for v in load]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--opener", choices=("index", "head"), default="index")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "lascoproc_bench_index")
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / f"sdoml_meta_{args.frames}_c{args.chunk}.zarr"
    if not (root / str(YEAR) / "335A" / ".zattrs").is_file():
        write_store(root, args.frames, args.chunk)
    zattrs_mb = sum((root / str(YEAR) / c / ".zattrs").stat().st_size for c in EUV) / 2**20
    cache = workdir / "cache"
    env = {**os.environ, "LASCOPROC_CACHE_DIR": str(cache)}
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        if args.opener == "head":
            runs.setdefault("head", []).append(probe(str(root), "head", workdir, env))
            continue
        shutil.rmtree(cache, ignore_errors=True)
        runs.setdefault("first", []).append(probe(str(root), "index", workdir, env))
        runs.setdefault("second", []).append(probe(str(root), "index", workdir, env))
    summary = {name: {key: statistics.median(r[key] for r in rows)
                      for key in ("import_s", "open_s", "open_cpu_s", "peak_rss_mb",
                                  "graph_pickle_mb")}
               for name, rows in runs.items()}
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat()[:19], "frames_per_channel": args.frames,
        "channels": len(EUV), "keys": len(_FLOAT_KEYS) + len(_INT_KEYS) + len(_TEXT_KEYS),
        "zattrs_mb_total": round(zattrs_mb, 1), "chunk": args.chunk, "opener": args.opener,
        "python": sys.version.split()[0], "machine": platform.machine(),
        "cpus": os.cpu_count(), "runs": runs, "median": summary,
    }
    out = Path(args.out or HERE / "results" / f"aia_index_{args.opener}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"{len(EUV)} channels x {args.frames} frames, {result['keys']} keys, "
          f"{zattrs_mb:.0f} MB of .zattrs")
    print("| open | import s | open s (wall) | open s (CPU) | peak RSS MB | graph pickle MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in summary.items():
        print(f"| {name} | {row['import_s']:.2f} | {row['open_s']:.2f} | "
              f"{row['open_cpu_s']:.2f} | {row['peak_rss_mb']:.0f} | "
              f"{row['graph_pickle_mb']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
