"""Time CorKit's ``corkit.lasco.level_1`` per frame, offline, on local level-0.5 files.

Runs in CorKit's own virtual environment (never lascoproc's); the driver in
``bench/bench_level1.py`` that started it was removed on 2026-12-01, so it is run by hand
(docs/benchmarks.md, the CorKit section's command)::

    /work/corkit-venv/bin/python bench/corkit_runner.py --calib CALIB --data-dir DIR \
        --detector c2 --out times.json FILE [FILE ...]

CorKit 1.0.16 reads every calibration file from one directory, ``corkit.utils.DEFAULT_SAVE_DIR``
(``<site-packages>/corkit/data``), which ``corkit.dataset.update()`` fills from the internet.
Here that directory is built from a SolarSoft-layout tree (``$NRL_LIB``, e.g. the synthetic one
of ``lascoproc.testing.calib.write_calibration_files``) in CorKit's layout:

=====================================================  =========================================
CorKit path (under ``DEFAULT_SAVE_DIR``)                 SolarSoft path (under ``$NRL_LIB``)
=====================================================  =========================================
``c2vig_final.fts``, ``c3vig_{pre,post}int_final.fts``  ``lasco/data/calib/`` (same names)
``C3ramp.fts``, ``c3_cl_mask_lvl1.fts``, ``3m_clcl_all``
``data_anal/data/YYMM/cN_expfactor_YYMMDD.dat``        ``lasco/expfac/data/YYMM/`` (same names)
``occulter_center.dat``                                ``lasco/convert/occulter_center.dat``
``data/data_anal/c2_time_offsets.dat``                 ``lasco/data_anal/data/c2_time_offsets.dat``
``cN_{pre,post}_recovery_adj_xyr_medv2.sav`` (a CSV)   ``lasco/data/calib/`` IDL save files,
                                                       converted to CSV as ``corkit.dataset.
                                                       medv_update`` does
``models/partial_conv.pt`` (TorchScript, C3)           not available offline (Google Drive)
=====================================================  =========================================

The module globals ``corkit.utils.DEFAULT_SAVE_DIR`` and ``corkit.lasco.DEFAULT_SAVE_DIR`` are
pointed at ``--data-dir``; the installed package is not modified.

C3: CorKit passes every C3 frame that is not a polarisation product through its inpainting
network (``corkit.reconstruction.dl_image``: histogram equalisation, a partial-convolution
network on a 1024x1024 tensor, inverse equalisation). The network's weights are downloaded from
Google Drive and cannot be had here, so the network is replaced by the identity (everything
around it, including both histogram equalisations, runs as in CorKit). The C3 times measured
here are therefore a **lower bound** of CorKit's C3 time; the result says so
(``"c3_network": "identity stand-in"``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

_IMAGES = ("c2vig_final.fts", "c3vig_preint_final.fts", "c3vig_postint_final.fts",
           "C3ramp.fts", "c3_cl_mask_lvl1.fts", "3m_clcl_all.fts")
_ROLL_TABLES = ("c2_pre_recovery_adj_xyr_medv2.sav", "c2_post_recovery_adj_xyr_medv2.sav",
                "c3_pre_recovery_adj_xyr_medv2.sav", "c3_post_recovery_adj_xyr_medv2.sav")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        shutil.copyfile(src, dst)


def _roll_table_csv(src: Path, dst: Path) -> None:
    """An IDL save file of sun centre and roll, as the CSV CorKit reads (``medv_update``)."""
    import numpy as np
    import pandas as pd
    from scipy.io import readsav

    sav = readsav(str(src))
    index = pd.DatetimeIndex([d.decode("utf-8") for d in sav["c_dt"]])
    data = {key: sav[key] for key in ("c_r", "c_rmed", "c_tai", "c_x", "c_xmed", "c_y",
                                       "c_ymed")}
    utc = np.asarray(sav["c_utc"])
    data["c_utc_time"] = utc["time"]
    data["c_utc_mjd"] = utc["mjd"]
    dst.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(data, index=index, columns=list(data)).to_csv(dst)


def build_data_dir(calib: Path, data_dir: Path) -> list[str]:
    """CorKit's ``DEFAULT_SAVE_DIR`` from a SolarSoft-layout tree; returns what is missing."""
    missing = []
    lasco = calib / "lasco"
    for name in _IMAGES:
        src = lasco / "data" / "calib" / name
        if src.exists():
            _link(src, data_dir / name)
        else:
            missing.append(str(src))
    for src in sorted((lasco / "expfac" / "data").glob("*/c?_expfactor_*.dat")):
        _link(src, data_dir / "data_anal" / "data" / src.parent.name / src.name)
    for src, dst in ((lasco / "convert" / "occulter_center.dat", "occulter_center.dat"),
                     (lasco / "data_anal" / "data" / "c2_time_offsets.dat",
                      "data/data_anal/c2_time_offsets.dat")):
        if src.exists():
            _link(src, data_dir / dst)
        else:
            missing.append(str(src))
    for name in _ROLL_TABLES:
        src = lasco / "data" / "calib" / name
        if src.exists():
            if not (data_dir / name).exists():
                _roll_table_csv(src, data_dir / name)
        else:
            missing.append(str(src))
    if not (data_dir / "models" / "partial_conv.pt").exists():
        missing.append(f"{data_dir / 'models' / 'partial_conv.pt'} (C3 network weights; "
                       "replaced by the identity)")
    return missing


class _IdentityNetwork:
    """Stand-in for CorKit's partial-convolution network: returns its input image."""

    def __call__(self, x, mask):
        return x, mask


def _point_corkit_at(data_dir: Path):
    import corkit.lasco
    import corkit.reconstruction
    import corkit.utils

    for module in (corkit.utils, corkit.lasco, corkit.reconstruction):
        module.DEFAULT_SAVE_DIR = str(data_dir)
    return corkit.lasco


def _arguments(lasco, detector: str, data_dir: Path):
    """What ``corkit.lasco.level_1`` loads once for a list of files (its list branch)."""
    from astropy.io import fits

    if detector == "C2":
        return (), {"vig_full": fits.getdata(data_dir / "c2vig_final.fts")}
    vig_pre, vig_post = lasco._read_vig_full()
    mask, ramp, bkg = lasco._read_mask_full(), lasco._read_ramp_full(), lasco._read_bkg_full()
    forward, inverse = lasco.transforms()
    weights = data_dir / "models" / "partial_conv.pt"
    model = (lasco.normal_model_reconstruction() if weights.exists() else _IdentityNetwork())
    return (vig_pre, vig_post, mask, ramp, bkg, model, forward, inverse), {}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="level-0.5 FITS files of one detector")
    parser.add_argument("--calib", required=True, type=Path, help="SolarSoft-layout root")
    parser.add_argument("--data-dir", required=True, type=Path,
                        help="CorKit data directory to build and use")
    parser.add_argument("--detector", required=True, choices=["c2", "c3"])
    parser.add_argument("--out", required=True, type=Path, help="JSON result")
    args = parser.parse_args(argv)
    detector = args.detector.upper()
    result = {"detector": detector, "files": args.files, "seconds": [], "cpu_seconds": [],
              "errors": []}
    try:
        import corkit
        import numpy as np
        import torch

        result["corkit_version"] = corkit.__version__
        result["torch_version"] = torch.__version__
        result["torch_threads"] = torch.get_num_threads()
        result["missing"] = build_data_dir(args.calib, args.data_dir)
        weights = args.data_dir / "models" / "partial_conv.pt"
        result["c3_network"] = "real" if weights.exists() else "identity stand-in"
        lasco = _point_corkit_at(args.data_dir)
        t0 = time.perf_counter()
        pos, kw = _arguments(lasco, detector, args.data_dir)
        result["setup_seconds"] = time.perf_counter() - t0
        for path in args.files:
            sink = io.StringIO()
            c0 = time.process_time()
            t0 = time.perf_counter()
            try:
                with contextlib.redirect_stdout(sink):
                    out = lasco.level_1(path, None, "fits", *pos, detector=detector, **kw)
            except Exception as err:  # noqa: BLE001 - reported, the benchmark goes on
                result["errors"].append(f"{os.path.basename(path)}: {type(err).__name__}: "
                                        f"{err}")
                continue
            result["seconds"].append(time.perf_counter() - t0)
            result["cpu_seconds"].append(time.process_time() - c0)
            if out is None:
                result["errors"].append(f"{os.path.basename(path)}: level_1 returned None")
            else:
                img = np.asarray(out[0])
                result.setdefault("shapes", []).append(list(img.shape))
                if "history_first_frame" not in result:
                    result["history_first_frame"] = [str(h) for h in out[1]["HISTORY"]]
    except Exception as err:  # noqa: BLE001
        result["errors"].append(f"setup: {type(err).__name__}: {err}")
    args.out.write_text(json.dumps(result, indent=1))
    return 0 if result["seconds"] else 1


if __name__ == "__main__":
    sys.exit(main())
