"""Speed of the fused level-1 resampling kernel (:mod:`lascoproc.kernels.resample`) against the
per-pixel kernel it replaced, and a bit-for-bit check of their outputs.

    nice -n 10 .venv/bin/python bench/bench_resample.py --repeat 15 \
        --out bench/results/resample.json

``reference`` is a verbatim copy of the kernel as it was before the row-vectorised rewrite
(``lascoproc/kernels/resample.py`` at commit d66d83f: ``_bilinear``, ``_row_positions``,
``_row_distortion``, ``_resample_kernel`` and ``mask_cells``), kept here, and only here, as the
standard the library's kernel must equal: before any timing, every case asserts that the values
(as their float32 bit patterns, NaN included) and the codes of both are identical.

Cases (synthetic frames, seeded): a C3-like corona with stars and lost 32x32 blocks (NaN), a
C3-like level-1 mask (occulter disc, pylon, outer field stop; binned by averaging, so its edges are
fractional), the 2023 roll (-7.42 deg about a pivot off the centre) or none, with and without the
keyhole flip, full frames and 2x2 / 2x1 summed ones. Both kernels get the mask's cells made once
beforehand, as the level-1 chain does (one mask for many frames).

Timing: CPU time (``time.process_time``) of one call through each kernel's wrapper (the frame
already float32), ``--repeat`` passes after a warm-up, the two kernels interleaved within every
pass and their order alternated between passes, so that load from other processes falls on both
alike; best and median per case, and the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numba
import numpy as np

from lascoproc.kernels import resample
from lascoproc.kernels.lasco_geometry import DISTORTION_COEFFS, PIXEL_SIZE_MM

# --------------------------------------------------------------------------------------------
# The reference: the kernel before the rewrite, verbatim (commit d66d83f)
# --------------------------------------------------------------------------------------------

_EDGE_EPS = 1e-6
_CELL_HIGH, _CELL_LOW, _CELL_MIXED = 0, 1, 2
_OFF_FRAME, _MASK_LOW = 1, 2


@numba.njit(nogil=True, inline="always")
def _ref_bilinear(image, y32, x32):
    ny, nx = image.shape
    iy = min(np.int64(y32), ny - 2) if ny > 1 else 0
    ix = min(np.int64(x32), nx - 2) if nx > 1 else 0
    fy = y32 - np.float32(iy)
    fx = x32 - np.float32(ix)
    iy1 = min(iy + 1, ny - 1)
    ix1 = min(ix + 1, nx - 1)
    a = image[iy, ix]
    b = image[iy, ix1]
    c = image[iy1, ix]
    d = image[iy1, ix1]
    gx = np.float32(1.0) - fx
    gy = np.float32(1.0) - fy
    total = gy * (gx * a + fx * b) + fy * (gx * c + fx * d)
    if total == total:
        return total
    total = np.float32(0.0)
    if gy * gx > 0:
        total += gy * gx * a
    if gy * fx > 0:
        total += gy * fx * b
    if fy * gx > 0:
        total += fy * gx * c
    if fy * fx > 0:
        total += fy * fx * d
    return total


@numba.njit(nogil=True)
def _ref_row_positions(i, nx, ny, rotate, cos_a, sin_a, px, py, keyhole, ys_rot, xs_rot, off):
    xmax = np.float64(nx - 1)
    ymax = np.float64(ny - 1)
    y = np.float64(i)
    v = y - py
    for j in range(nx):
        x = np.float64(j)
        if rotate:
            u = x - px
            xr = px + u * cos_a + v * sin_a
            yr = py - u * sin_a + v * cos_a
            off[j] = (xr < -_EDGE_EPS) | (xr > xmax + _EDGE_EPS) | (yr < -_EDGE_EPS) | (
                yr > ymax + _EDGE_EPS)
            xr = min(max(xr, 0.0), xmax)
            yr = min(max(yr, 0.0), ymax)
        else:
            xr = x
            yr = y
            off[j] = False
        if keyhole:
            xr = xmax - xr
            yr = ymax - yr
        xs_rot[j] = xr
        ys_rot[j] = yr


@numba.njit(nogil=True)
def _ref_row_distortion(nx, ny, ox, oy, xsum, ysum, k0, k1, k2, ys_rot, xs_rot, ys, xs):
    xmax = np.float64(nx - 1)
    ymax = np.float64(ny - 1)
    same = xsum == ysum
    for j in range(nx):
        dx = xs_rot[j] - ox
        dy = ys_rot[j] - oy
        bx = xsum * dx
        by = ysum * dy
        r2 = bx * bx + by * by
        mm2 = r2 * (PIXEL_SIZE_MM * PIXEL_SIZE_MM)
        factor = k0 + k1 * mm2 + k2 * mm2 * mm2
        if not same:
            rho = math.sqrt(dx * dx + dy * dy)
            factor = factor * math.sqrt(r2) / (xsum * rho) if rho > 0.0 else 1.0
        xs[j] = np.float32(min(max(ox + factor * dx, 0.0), xmax))
        ys[j] = np.float32(min(max(oy + factor * dy, 0.0), ymax))


@numba.njit(nogil=True)
def _ref_resample_kernel(image, mask, cells, out, codes, rotate, cos_a, sin_a, px, py, keyhole,
                         distortion, ox, oy, xsum, ysum, k0, k1, k2, use_mask):
    ny, nx = out.shape
    ys_rot = np.empty(nx, np.float64)
    xs_rot = np.empty(nx, np.float64)
    ys = np.empty(nx, np.float32)
    xs = np.empty(nx, np.float32)
    off = np.empty(nx, np.bool_)
    for i in range(ny):
        _ref_row_positions(i, nx, ny, rotate, cos_a, sin_a, px, py, keyhole, ys_rot, xs_rot,
                           off)
        if distortion:
            _ref_row_distortion(nx, ny, ox, oy, xsum, ysum, k0, k1, k2, ys_rot, xs_rot, ys, xs)
        else:
            for j in range(nx):
                ys[j] = np.float32(ys_rot[j])
                xs[j] = np.float32(xs_rot[j])
        for j in range(nx):
            if off[j]:
                codes[i, j] = _OFF_FRAME | _MASK_LOW if use_mask else _OFF_FRAME
                out[i, j] = np.float32(0.0)
                continue
            code = 0
            if use_mask:
                y32 = np.float32(ys_rot[j])
                x32 = np.float32(xs_rot[j])
                cell = cells[min(np.int64(y32), ny - 1), min(np.int64(x32), nx - 1)]
                if cell == _CELL_LOW or (cell == _CELL_MIXED
                                         and _ref_bilinear(mask, y32, x32) < 0.5):
                    code = _MASK_LOW
            codes[i, j] = code
            out[i, j] = _ref_bilinear(image, ys[j], xs[j])


def reference_cells(mask: np.ndarray) -> np.ndarray:
    """``mask_cells`` as it was (commit d66d83f)."""
    m = np.asarray(mask, dtype=np.float32) >= 0.5
    padded = np.pad(m, ((0, 1), (0, 1)), mode="edge")
    corners = (padded[:-1, :-1], padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:])
    high = corners[0] & corners[1] & corners[2] & corners[3]
    low = ~(corners[0] | corners[1] | corners[2] | corners[3])
    out = np.full(m.shape, _CELL_MIXED, np.uint8)
    out[high] = _CELL_HIGH
    out[low] = _CELL_LOW
    return out


def reference_codes(image, *, detector, occulter_xy, binning=(1, 1), rotate_ccw_deg=0.0,
                    pivot_xy=(0.0, 0.0), keyhole=False, distortion=True, mask=None,
                    cells=None):
    """``resample_codes`` as it was (commit d66d83f), on the reference kernel."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    use_mask = mask is not None
    if use_mask:
        mask = np.ascontiguousarray(mask, dtype=np.float32)
        cells = reference_cells(mask) if cells is None else np.ascontiguousarray(cells, np.uint8)
    else:
        mask = np.zeros((1, 1), np.float32)
        cells = np.zeros((1, 1), np.uint8)
    c0, c1, c2 = DISTORTION_COEFFS[str(detector).strip().upper()] if distortion else (0, 0, 0)
    a = np.deg2rad(float(rotate_ccw_deg))
    out = np.empty(image.shape, np.float32)
    codes = np.empty(image.shape, np.uint8)
    _ref_resample_kernel(image, mask, cells, out, codes, bool(rotate_ccw_deg), float(np.cos(a)),
                         float(np.sin(a)), float(pivot_xy[0]), float(pivot_xy[1]),
                         bool(keyhole), bool(distortion), float(occulter_xy[0]),
                         float(occulter_xy[1]), float(binning[0]), float(binning[1]),
                         1.0 + float(c0), float(c1), float(c2), use_mask)
    return out, codes


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

def corona(shape, seed, lost_blocks=4):
    """A radial corona with angular structure, noise and stars; ``lost_blocks`` 32x32 blocks
    (of the full-resolution frame, so smaller when summed) NaN, as missing telemetry."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    r = np.hypot(y - 0.49 * ny, x - 0.51 * nx) + 5.0
    image = 1e-9 * (r / 50.0) ** -2.5 * (1.0 + 0.2 * np.sin(8 * np.arctan2(y, x)))
    image *= 1.0 + 0.05 * rng.standard_normal(shape)
    image[rng.integers(0, ny, 80), rng.integers(0, nx, 80)] *= 30.0
    image = image.astype(np.float32)
    by, bx = 32 * ny // 1024, 32 * nx // 1024
    for _ in range(lost_blocks):
        i, j = rng.integers(0, ny // by), rng.integers(0, nx // bx)
        image[i * by:(i + 1) * by, j * bx:(j + 1) * bx] = np.nan
    return image


def c3_mask(binning=(1, 1)):
    """A C3-like level-1 mask: 1 in the field, 0 on the occulter (radius 95 px), the pylon (a
    24 px wide bar from the occulter to the lower-left edge) and outside the field stop (radius
    505 px), at full resolution, then averaged over the summing (fractional edges)."""
    y, x = np.mgrid[0:1024, 0:1024].astype(np.float64)
    r = np.hypot(x - 516.4, y - 507.2)
    mask = ((r > 95.0) & (r < 505.0)).astype(np.float32)
    # pylon at 225 deg: distance from the ray below 12 px
    t = np.deg2rad(225.0)
    along = (x - 516.4) * np.cos(t) + (y - 507.2) * np.sin(t)
    across = -(x - 516.4) * np.sin(t) + (y - 507.2) * np.cos(t)
    mask[(along > 0) & (np.abs(across) < 12.0)] = 0.0
    xsum, ysum = binning
    return mask.reshape(1024 // ysum, ysum, 1024 // xsum, xsum).mean(axis=(1, 3)).astype(
        np.float32)


def cases():
    """``{name: (image, geometry, mask)}``."""
    roll = {"rotate_ccw_deg": -7.42, "pivot_xy": (517.3, 509.8)}
    full = corona((1024, 1024), seed=11)
    mask = c3_mask()
    out = {
        "c3_norot_nomask": (full, {"occulter_xy": (512.6, 505.3)}, None),
        "c3_norot_mask": (full, {"occulter_xy": (512.6, 505.3)}, mask),
        "c3_rot_nomask": (full, {"occulter_xy": (512.6, 505.3), **roll}, None),
        "c3_rot_mask": (full, {"occulter_xy": (512.6, 505.3), **roll}, mask),
        "c3_rot_mask_keyhole": (full, {"occulter_xy": (512.6, 505.3), "keyhole": True,
                                       "rotate_ccw_deg": 3.1, "pivot_xy": (500.2, 520.7)},
                                mask),
        "c3_bin2x2_rot_mask": (corona((512, 512), seed=12),
                               {"occulter_xy": (256.3, 252.6), "binning": (2, 2),
                                "rotate_ccw_deg": -7.42, "pivot_xy": (258.6, 254.9)},
                               c3_mask((2, 2))),
        "c3_bin2x1_rot_mask": (corona((1024, 512), seed=13),
                               {"occulter_xy": (256.3, 505.3), "binning": (2, 1),
                                "rotate_ccw_deg": -7.42, "pivot_xy": (258.6, 509.8)},
                               c3_mask((2, 1))),
        "c3_nowarp_rot_mask": (full, {"occulter_xy": (512.6, 505.3), "distortion": False,
                                      **roll}, mask),
    }
    return out


def check_identical(name, image, geometry, mask, cells_new, cells_ref):
    """Assert equal bits of the values and equal codes; return a summary of the frame."""
    new_out, new_codes = resample.resample_codes(image, detector="C3", mask=mask,
                                                 cells=cells_new, **geometry)
    ref_out, ref_codes = reference_codes(image, detector="C3", mask=mask, cells=cells_ref,
                                         **geometry)
    bits_equal = np.array_equal(new_out.view(np.uint32), ref_out.view(np.uint32))
    codes_equal = np.array_equal(new_codes, ref_codes)
    if not (bits_equal and codes_equal):
        raise SystemExit(f"{name}: outputs differ from the reference (values "
                         f"{int((new_out.view(np.uint32) != ref_out.view(np.uint32)).sum())}, "
                         f"codes {int((new_codes != ref_codes).sum())} pixels)")
    return {"nan_pixels": int(np.isnan(ref_out).sum()),
            "off_frame": int(((ref_codes & _OFF_FRAME) != 0).sum()),
            "mask_low": int(((ref_codes & _MASK_LOW) != 0).sum()),
            "mixed_cells": int((cells_ref == _CELL_MIXED).sum()) if mask is not None else 0}


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as f:
        return f.read().split()[:3]


def run(repeat: int, only: list[str] | None) -> dict:
    results = {}
    for name, (image, geometry, mask) in cases().items():
        if only and name not in only:
            continue
        cells_new = resample.mask_cells(mask) if mask is not None else None
        cells_ref = reference_cells(mask) if mask is not None else None
        summary = check_identical(name, image, geometry, mask, cells_new, cells_ref)

        def new(image=image, geometry=geometry, mask=mask, cells=cells_new):
            resample.resample_codes(image, detector="C3", mask=mask, cells=cells, **geometry)

        def ref(image=image, geometry=geometry, mask=mask, cells=cells_ref):
            reference_codes(image, detector="C3", mask=mask, cells=cells, **geometry)

        times = {"kernel": [], "reference": []}
        new(), ref()  # warm-up
        for k in range(repeat):
            order = (("kernel", new), ("reference", ref))
            for label, fn in (order if k % 2 == 0 else order[::-1]):
                t0 = time.process_time()
                fn()
                times[label].append(1e3 * (time.process_time() - t0))
        row = {"shape": list(image.shape), "geometry": {k: v for k, v in geometry.items()},
               "mask": mask is not None, **summary, "identical": True}
        for label, ts in times.items():
            row[f"{label}_ms_best"] = round(min(ts), 3)
            row[f"{label}_ms_median"] = round(statistics.median(ts), 3)
        row["speedup_best"] = round(row["reference_ms_best"] / row["kernel_ms_best"], 2)
        row["speedup_median"] = round(row["reference_ms_median"] / row["kernel_ms_median"], 2)
        results[name] = row
        print(f"{name:22s} {image.shape[0]:4d}x{image.shape[1]:<4d} "
              f"kernel {row['kernel_ms_best']:7.2f} / {row['kernel_ms_median']:7.2f} ms   "
              f"reference {row['reference_ms_best']:7.2f} / {row['reference_ms_median']:7.2f}"
              f" ms   x{row['speedup_best']:.2f} / x{row['speedup_median']:.2f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed passes per case")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    load_start = loadavg()
    print(f"load average {' '.join(load_start)}; CPU ms per frame, best / median", flush=True)
    results = run(args.repeat, args.case)
    load_end = loadavg()
    print(f"load average {' '.join(load_end)}")
    doc = {
        "benchmark": "fused level-1 resampling kernel vs the per-pixel kernel it replaced",
        "command": "bench/bench_resample.py " + " ".join(
            f"--{k} {v}" for k, v in (("repeat", args.repeat), ("out", args.out)) if v),
        "clock": "time.process_time (CPU time), one call per pass",
        "repeat": args.repeat,
        "environment": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "nproc": os.cpu_count(), "cpu_model": platform.processor() or platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "loadavg_at_start": load_start,
            "loadavg_at_end": load_end},
        "cases": results,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
