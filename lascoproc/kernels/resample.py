"""One bilinear resampling per level-1 frame: distortion, keyhole flip and north-up rotation fused.

The level-1 geometry of a frame (:func:`lascoproc.kernels.lasco_geometry.level1_map`) maps each
output pixel to the input point it samples: the roll correction about the sun centre, the
keyhole flip, then the radial distortion about the occulter centre (``reduce_level_1.pro`` 1.68:
``ROT(ROTATE(c?_warp(b), 2), -roll, 1, xc, yc, /INTERP, /PIVOT, MISSING=0)``, with the two IDL
interpolations replaced by one). The map changes with every frame whose roll or sun centre
changes, which since about 2010 is nearly every frame (the roll of the attitude tables drifts).

So nothing here is cached per frame: :func:`level1_resample` evaluates the map of each output
pixel and interpolates in the same pass, a compiled loop (numba) over the output rows that holds
no per-frame table. Per row, one loop without branches computes the float64 positions, the
float32 warped positions and their interpolation cells (LLVM vectorises it: the arithmetic is
the same IEEE operations in the same order, no fast-math, no FMA contraction), then a tight loop
of loads and float32 sums; the few pixels that need a scalar rule (a NaN neighbour, a mixed cell
of the mask) are done again one by one with the same functions. Its cost barely depends on
whether the frame is rotated.

Bilinear weights for a point ``(y, x)``, ``y0 = floor(y)``, ``fy = y - y0`` (``x`` the same)::

    (1-fy)(1-fx) at (y0, x0),  (1-fy) fx at (y0, x0+1),
    fy (1-fx)   at (y0+1, x0), fy fx     at (y0+1, x0+1)

A term whose weight is 0 is left out, so a NaN input pixel (missing telemetry) spreads NaN
exactly to the output pixels that use it with a non-zero weight: that is how the level-1 chain
tracks the pixels contaminated by lost blocks. An output pixel whose rotated position is off the
frame has no input (IDL ``MISSING=0``) and is reported in ``outside``. The arithmetic follows
:func:`~lascoproc.kernels.lasco_geometry.level1_map` (float64 positions rounded to float32, as the
map is stored) and :func:`scipy.ndimage.map_coordinates` ``order=1`` (float32 weights and sums),
so that the result equals ``map_coordinates(image, level1_map(...), order=1)`` within float32
rounding (tests).

The C3 level-1 mask is resampled with the flip and the rotation only, not warped
(``reduce_level_1.pro`` multiplies it in after ``c3_warp``): with ``mask=`` the same pass samples
it at the rotated position and reports where it is below 0.5 (IDL multiplies by the binned mask;
a fractional edge pixel is kept if at least half of it is in the field).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from lascoproc.kernels.lasco_geometry import DISTORTION_COEFFS, PIXEL_SIZE_MM
from lascoproc.kernels.quality import MISSING, OUTSIDE

__all__ = ["level1_resample", "resample_codes", "resample_level1", "mask_cells",
           "bilinear_sample", "OFF_FRAME", "MASK_LOW"]

#: Tolerance of the off-frame test of a rotated position (``north_up_coordinates``).
_EDGE_EPS = 1e-6


@numba.njit(nogil=True, cache=True, inline="always")
def _bilinear(image, y32, x32):
    """Bilinear value of ``image`` at the float32 position ``(y32, x32)`` inside the frame.

    Float32 arithmetic, as ``map_coordinates`` on a float32 image. The common case is one
    expression of the four neighbours; when it is NaN (a neighbour is missing), the terms with a
    zero weight are left out (module docstring) and the sum is taken again.
    """
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


#: Classes of the mask's interpolation cells (:func:`mask_cells`).
_CELL_HIGH, _CELL_LOW, _CELL_MIXED = 0, 1, 2

#: Bits of the per-pixel codes the resampling kernel writes beside the values.
OFF_FRAME = 1  # the rotated position is off the frame: no input (IDL MISSING=0)
MASK_LOW = 2  # the flipped and rotated C3 mask is below 0.5 there

#: Bits of a row's list of pixels that the vectorised loops leave to the scalar rules: a NaN
#: sum (the zero-weight rule of ``_bilinear``), a mixed cell of the mask (its bilinear value).
_FIX_NAN, _FIX_MIXED = 1, 2


@numba.njit(nogil=True, cache=True, inline="always")
def _north_up(j, x_part, y_part, vs, vc, xmax, ymax, keyhole):
    """Position (float64) in the warped frame that pixel ``j`` of an output row samples after
    the roll correction and the keyhole flip (``north_up_coordinates``), clamped to the frame,
    and whether it is off the frame.

    ``xr = px + u cos(a) + v sin(a)``, ``yr = py - u sin(a) + v cos(a)`` (``u = x - px``,
    ``v = y - py``) evaluated left to right as there, in two parts: ``x_part[j] = px + u cos``,
    ``y_part[j] = py - u sin`` (the same for every row) plus ``vs = v sin``, ``vc = v cos``
    (one per row). Without rotation ``x_part[j] = j``, ``y_part = 0``, ``vs = 0``, ``vc = y``:
    the grid, exactly.
    """
    xr = x_part[j] + vs
    yr = y_part[j] + vc
    off = (xr < -_EDGE_EPS) | (xr > xmax + _EDGE_EPS) | (yr < -_EDGE_EPS) | (
        yr > ymax + _EDGE_EPS)
    xr = min(max(xr, 0.0), xmax)
    yr = min(max(yr, 0.0), ymax)
    if keyhole:
        xr = xmax - xr
        yr = ymax - yr
    return yr, xr, off


@numba.njit(nogil=True, cache=True, inline="always")
def _warp(yr, xr, warp, same, ox, oy, xsum, ysum, k0, k1, k2, xmax, ymax):
    """``distortion_coordinates`` of one position, clamped to the frame (IDL ``INTERPOLATE``
    clamps), rounded to float32 as the map is stored; only the rounding without ``warp``
    (IDL ``/NOWARP``)."""
    if not warp:
        return np.float32(yr), np.float32(xr)
    dx = xr - ox
    dy = yr - oy
    # r0 = r * scale(r) / xsum along the ray from the occulter centre, r the radius in
    # full-resolution pixels; for xsum == ysum (same), r0 cos(theta) = scale * dx exactly
    bx = xsum * dx
    by = ysum * dy
    r2 = bx * bx + by * by
    mm2 = r2 * (PIXEL_SIZE_MM * PIXEL_SIZE_MM)
    factor = k0 + k1 * mm2 + k2 * mm2 * mm2
    if not same:
        rho = math.sqrt(dx * dx + dy * dy)
        factor = factor * math.sqrt(r2) / (xsum * rho) if rho > 0.0 else 1.0
    return (np.float32(min(max(oy + factor * dy, 0.0), ymax)),
            np.float32(min(max(ox + factor * dx, 0.0), xmax)))


@numba.njit(nogil=True, cache=True, inline="always")
def _cell(y32, x32, ytop, xtop, nx):
    """Interpolation cell of a float32 position in the frame: the flat index of its upper-left
    value (row ``min(floor(y), ytop)``, column ``min(floor(x), xtop)``) and the fractions
    ``fy``, ``fx`` (``_bilinear``'s arithmetic). The floors are >= 0 for a position in the
    frame; ``max(., 0)`` only keeps one that is not a number from addressing outside it."""
    iy = max(min(np.int32(y32), ytop), np.int32(0))
    ix = max(min(np.int32(x32), xtop), np.int32(0))
    return (np.uint32(iy) * np.uint32(nx) + np.uint32(ix), y32 - np.float32(iy),
            x32 - np.float32(ix))


@numba.njit(nogil=True, cache=True)
def _row_prepare(x_part, y_part, vs, vc, ny, nx, keyhole, warp, same, ox, oy, xsum, ysum, k0,
                 k1, k2, off, k, fy, fx, km):
    """Per pixel of an output row: ``off``; the image's interpolation cell ``k`` (flat index
    of the upper-left neighbour) and fractions ``fy``, ``fx`` at the warped position; the
    mask's cell ``km`` at the flipped and rotated one (:func:`mask_cells`' index).

    Loops without branches (one for each of: distortion with equal summing, the usual case;
    distortion with unequal summing; ``/NOWARP``), which LLVM vectorises. The arrays may be a
    span of the row (``nx`` is the frame's row length, for the cells' flat indices)."""
    xmax = np.float64(nx - 1)
    ymax = np.float64(ny - 1)
    ytop = np.int32(ny - 2)
    xtop = np.int32(nx - 2)
    mytop = np.int32(ny - 1)
    mxtop = np.int32(nx - 1)
    if warp and same:
        for j in range(k.size):
            yr, xr, o = _north_up(j, x_part, y_part, vs, vc, xmax, ymax, keyhole)
            y32, x32 = _warp(yr, xr, True, True, ox, oy, xsum, ysum, k0, k1, k2, xmax, ymax)
            off[j] = o
            k[j], fy[j], fx[j] = _cell(y32, x32, ytop, xtop, nx)
            km[j] = _cell(np.float32(yr), np.float32(xr), mytop, mxtop, nx)[0]
    elif warp:
        for j in range(k.size):
            yr, xr, o = _north_up(j, x_part, y_part, vs, vc, xmax, ymax, keyhole)
            y32, x32 = _warp(yr, xr, True, False, ox, oy, xsum, ysum, k0, k1, k2, xmax, ymax)
            off[j] = o
            k[j], fy[j], fx[j] = _cell(y32, x32, ytop, xtop, nx)
            km[j] = _cell(np.float32(yr), np.float32(xr), mytop, mxtop, nx)[0]
    else:
        for j in range(k.size):
            yr, xr, o = _north_up(j, x_part, y_part, vs, vc, xmax, ymax, keyhole)
            y32, x32 = np.float32(yr), np.float32(xr)
            off[j] = o
            k[j], fy[j], fx[j] = _cell(y32, x32, ytop, xtop, nx)
            km[j] = _cell(y32, x32, mytop, mxtop, nx)[0]


@numba.njit(nogil=True, cache=True, inline="always")
def _cell_sum(flat, kj, unx, fy, fx):
    """``_bilinear``'s common expression (float32) in the cell whose upper-left value is
    ``flat[kj]`` (row length ``unx``), at the fractions ``fy``, ``fx``."""
    one = np.uint64(1)
    gx = np.float32(1.0) - fx
    gy = np.float32(1.0) - fy
    return gy * (gx * flat[kj] + fx * flat[kj + one]) + fy * (
        gx * flat[kj + unx] + fx * flat[kj + unx + one])


@numba.njit(nogil=True, cache=True)
def _row_sample(flat, nx, k, fy, fx, off, cells, km, use_mask, out, codes, base, fix):
    """``_bilinear``'s common expression (float32) at a row of prepared cells (``k``, ``fy``,
    ``fx``), 0 off the frame, into ``out[base:base + len(k)]``; the codes into
    ``codes[base:...]`` (a low cell of the mask, ``cells[km]``, is :data:`MASK_LOW`);
    ``fix[j]`` the pixels left to the scalar rules (:data:`_FIX_NAN`, :data:`_FIX_MIXED`).
    Returns how many.

    A tight loop of loads and float32 arithmetic, unsigned indices (no negative-index
    wraparound), no branches."""
    unx = np.uint64(nx)
    zero = np.uint8(0)
    nfix = 0
    if use_mask:
        for j in range(k.size):
            total = _cell_sum(flat, np.uint64(k[j]), unx, fy[j], fx[j])
            o = off[j] != 0
            c = cells[np.uint64(km[j])]
            ij = base + np.uint64(j)
            out[ij] = np.float32(0.0) if o else total
            codes[ij] = np.uint8(OFF_FRAME | MASK_LOW) if o else (
                np.uint8(MASK_LOW) if c == _CELL_LOW else zero)
            t = zero if o else ((np.uint8(_FIX_NAN) if total != total else zero)
                                | (np.uint8(_FIX_MIXED) if c == _CELL_MIXED else zero))
            fix[j] = t
            nfix += t != 0
    else:
        for j in range(k.size):
            total = _cell_sum(flat, np.uint64(k[j]), unx, fy[j], fx[j])
            o = off[j] != 0
            ij = base + np.uint64(j)
            out[ij] = np.float32(0.0) if o else total
            codes[ij] = np.uint8(OFF_FRAME) if o else zero
            t = zero if o or total == total else np.uint8(_FIX_NAN)
            fix[j] = t
            nfix += t != 0
    return nfix


@numba.njit(nogil=True, cache=True)
def _row_level1(flat, nx, k, fy, fx, off, cells, km, use_mask, out, quality, base, fix):
    """The level-1 form of :func:`_row_sample`: the value, NaN where outside the field (off
    the frame or a low cell of the mask), and the quality bits
    (:data:`~lascoproc.kernels.quality.OUTSIDE` there,
    :data:`~lascoproc.kernels.quality.MISSING` where the value is NaN), what the level-1
    chain makes of :func:`_row_sample`'s values and codes; ``fix[j]`` as there (none where
    outside: that value is not kept). Returns how many to fix."""
    unx = np.uint64(nx)
    zero = np.uint8(0)
    nan = np.float32(np.nan)
    outside = np.uint8(OUTSIDE)
    missing = np.uint8(MISSING)
    nfix = 0
    if use_mask:
        for j in range(k.size):
            total = _cell_sum(flat, np.uint64(k[j]), unx, fy[j], fx[j])
            c = cells[np.uint64(km[j])]
            low = (off[j] != 0) | (c == _CELL_LOW)
            bad = total != total
            ij = base + np.uint64(j)
            out[ij] = nan if low else total
            quality[ij] = outside if low else (missing if bad else zero)
            t = zero if low else ((np.uint8(_FIX_NAN) if bad else zero)
                                  | (np.uint8(_FIX_MIXED) if c == _CELL_MIXED else zero))
            fix[j] = t
            nfix += t != 0
    else:
        for j in range(k.size):
            total = _cell_sum(flat, np.uint64(k[j]), unx, fy[j], fx[j])
            low = off[j] != 0
            bad = total != total
            ij = base + np.uint64(j)
            out[ij] = nan if low else total
            quality[ij] = outside if low else (missing if bad else zero)
            t = zero if low or not bad else np.uint8(_FIX_NAN)
            fix[j] = t
            nfix += t != 0
    return nfix


@numba.njit(nogil=True, cache=True)
def _row_fix(image, mask, fix, x_part, y_part, vs, vc, keyhole, warp, same, ox, oy, xsum,
             ysum, k0, k1, k2, out, codes, base, level1):
    """The scalar rules for the pixels ``fix`` lists (found eight at a time): the NaN sums
    again with ``_bilinear``'s zero-weight rule, the mask's bilinear value in mixed cells.
    Positions computed again by the same functions, so the same float values. ``level1``:
    ``codes`` holds quality bits (:func:`_row_level1`): a pixel the mask's value puts outside
    gets NaN and ``OUTSIDE``, a value made again gets ``MISSING`` if it is still NaN.

    ``x_part``, ``y_part`` and ``fix`` may be those of a span of the row (``base`` its first
    pixel): ``fix`` is read for the span's pixels only, whole words of it at a time."""
    ny, nx = image.shape
    xmax = np.float64(nx - 1)
    ymax = np.float64(ny - 1)
    n = x_part.size  # the pixels of the row (span) that ``fix`` describes
    words = fix.view(np.uint64)
    for w in range(words.size):
        if words[w] == 0:
            continue
        for j in range(8 * w, min(8 * w + 8, n)):
            t = fix[j]
            if t == 0:
                continue
            yr, xr, _ = _north_up(j, x_part, y_part, vs, vc, xmax, ymax, keyhole)
            kj = base + np.uint64(j)
            if level1:
                if t & _FIX_MIXED and _bilinear(mask, np.float32(yr), np.float32(xr)) < 0.5:
                    out[kj] = np.float32(np.nan)
                    codes[kj] = OUTSIDE
                elif t & _FIX_NAN:
                    y32, x32 = _warp(yr, xr, warp, same, ox, oy, xsum, ysum, k0, k1, k2, xmax,
                                     ymax)
                    v = _bilinear(image, y32, x32)
                    out[kj] = v
                    codes[kj] = MISSING if v != v else 0
                continue
            if t & _FIX_NAN:
                y32, x32 = _warp(yr, xr, warp, same, ox, oy, xsum, ysum, k0, k1, k2, xmax,
                                 ymax)
                out[kj] = _bilinear(image, y32, x32)
            if t & _FIX_MIXED and _bilinear(mask, np.float32(yr), np.float32(xr)) < 0.5:
                codes[kj] = MASK_LOW


@numba.njit(nogil=True, cache=True)
def _row_scalar(image, mask, cells, x_part, y_part, vs, vc, keyhole, warp, same, ox, oy, xsum,
                ysum, k0, k1, k2, use_mask, out, codes, base):
    """An output row pixel by pixel (frames of one row or one column, where the cells of the
    vectorised loops do not exist): the same rules, one pixel at a time."""
    ny, nx = image.shape
    xmax = np.float64(nx - 1)
    ymax = np.float64(ny - 1)
    for j in range(nx):
        yr, xr, o = _north_up(j, x_part, y_part, vs, vc, xmax, ymax, keyhole)
        kj = base + np.uint64(j)
        if o:
            codes[kj] = OFF_FRAME | MASK_LOW if use_mask else OFF_FRAME
            out[kj] = np.float32(0.0)
            continue
        code = 0
        if use_mask:
            my = np.float32(yr)
            mx = np.float32(xr)
            c = cells[min(np.int64(my), ny - 1), min(np.int64(mx), nx - 1)]
            if c == _CELL_LOW or (c == _CELL_MIXED and _bilinear(mask, my, mx) < 0.5):
                code = MASK_LOW
        codes[kj] = code
        y32, x32 = _warp(yr, xr, warp, same, ox, oy, xsum, ysum, k0, k1, k2, xmax, ymax)
        out[kj] = _bilinear(image, y32, x32)


@numba.njit(nogil=True, cache=True)
def _field_disk(cells):
    """``(cy, cx, r)``: a disk of the mask's frame that holds every position whose
    interpolation cell (:func:`mask_cells`) is not all low, ``r < 0`` if there is none. Cell
    ``(y, x)`` holds the positions of ``[y, y + 1] x [x, x + 1]`` (``_cell``'s floor, and the
    clamp at the last row and column); the disk is centred on the box of those cells and its
    radius is the farthest corner of the first and last such cell of each row (the farthest
    point of a row's run from a centre is at one of its ends). Each row is scanned from its two
    ends to its first cell that is not low, eight cells at a time where the row length allows
    (a word of eight low cells is ``0x0101010101010101``): the low corners beyond the field
    stop, not the field, ~0.03 ms for a C3 mask (done for every frame: the kernel receives the
    cells, not their field)."""
    ny, nx = cells.shape
    first = np.full(ny, -1, np.int64)
    last = np.full(ny, -1, np.int64)
    low = np.uint8(_CELL_LOW)
    wide = nx % 8 == 0
    words = cells.ravel().view(np.uint64) if wide else np.zeros(1, np.uint64)
    low_word = np.uint64(0x0101010101010101)
    per_row = nx // 8
    rmin, rmax, cmin, cmax = ny, -1, nx, -1
    for y in range(ny):
        a = 0
        if wide:
            while a < nx and words[y * per_row + a // 8] == low_word:
                a += 8
        while a < nx and cells[y, a] == low:
            a += 1
        if a == nx:
            continue
        b = nx - 1
        if wide:
            while b >= 7 and words[y * per_row + (b - 7) // 8] == low_word:
                b -= 8
        while cells[y, b] == low:
            b -= 1
        first[y], last[y] = a, b
        rmin, rmax = min(rmin, y), max(rmax, y)
        cmin, cmax = min(cmin, a), max(cmax, b)
    if rmax < 0:
        return 0.0, 0.0, -1.0
    cy = 0.5 * (rmin + rmax + 1)
    cx = 0.5 * (cmin + cmax + 1)
    r2 = 0.0
    for y in range(rmin, rmax + 1):
        if first[y] < 0:
            continue
        dy = max(abs(y - cy), abs(y + 1 - cy))
        dx = max(abs(first[y] - cx), abs(last[y] + 1 - cx))
        r2 = max(r2, dy * dy + dx * dx)
    return cy, cx, math.sqrt(r2)


@numba.njit(nogil=True, cache=True)
def _row_span(x_part, y_part, vs, vc, cy, cx, radius):
    """``(j0, j1)``: the pixels of an output row whose positions (``_north_up`` before its
    clamp and flip: ``(y_part[j] + vc, x_part[j] + vs)``, linear in ``j``) come within
    ``radius`` of ``(cy, cx)``, widened by one pixel on each side; ``j0 >= j1`` if none. The
    positions' line is taken through the row's first and last pixel."""
    n = x_part.size
    if radius < 0.0:
        return 0, 0
    ay = y_part[0] + vc
    ax = x_part[0] + vs
    by = (y_part[n - 1] - y_part[0]) / (n - 1)
    bx = (x_part[n - 1] - x_part[0]) / (n - 1)
    dy = ay - cy
    dx = ax - cx
    qa = by * by + bx * bx
    qb = by * dy + bx * dx
    qc = dy * dy + dx * dx - radius * radius
    disc = qb * qb - qa * qc
    if disc < 0.0 or qa <= 0.0:
        return 0, 0
    root = math.sqrt(disc)
    lo = (-qb - root) / qa
    hi = (-qb + root) / qa
    if hi < -1.0 or lo > n:
        return 0, 0
    return max(np.int64(math.floor(lo)) - 1, 0), min(np.int64(math.floor(hi)) + 2, n)


@numba.njit(nogil=True, cache=True)
def _span_disk(cells, keyhole):
    """``_field_disk`` of the mask's cells as the kernel tests it: centred on the image of the
    field under the keyhole flip (the disk holds flipped positions; the test is on the
    unflipped ones), its radius one pixel larger (the margin of ``span``); ``-1`` without a
    field."""
    ny, nx = cells.shape
    cy, cx, radius = _field_disk(cells)
    if radius < 0.0:
        return 0.0, 0.0, -1.0
    if keyhole:
        cy = np.float64(ny - 1) - cy
        cx = np.float64(nx - 1) - cx
    return cy, cx, radius + 1.0


@numba.njit(nogil=True, cache=True)
def _outside_of_span(out, codes, base, nx, j0, j1):
    """NaN and ``OUTSIDE`` for the pixels of the row at ``base`` outside ``[j0, j1)`` (all of
    them if the span is empty)."""
    if j1 <= j0:
        j0 = j1 = 0
    for j in range(j0):
        out[base + np.uint64(j)] = np.float32(np.nan)
        codes[base + np.uint64(j)] = np.uint8(OUTSIDE)
    for j in range(j1, nx):
        out[base + np.uint64(j)] = np.float32(np.nan)
        codes[base + np.uint64(j)] = np.uint8(OUTSIDE)


@numba.njit(nogil=True, cache=True)
def _resample_kernel(image, mask, cells, out, codes, rotate, cos_a, sin_a, px, py, keyhole,
                     warp, ox, oy, xsum, ysum, k0, k1, k2, use_mask, level1, span):
    """The level-1 resampling of ``image`` into ``out`` and ``codes`` (module docstring), row
    by row: the positions, cells and fractions of a row in one vectorised loop
    (``_row_prepare``), the bilinear sums and codes in a tight loop of loads and float32
    arithmetic (``_row_sample``), then the few pixels that need the scalar rules
    (``_row_fix``).

    ``level1``: ``out`` gets the level-1 values (NaN outside the field) and ``codes`` the
    quality bits (:func:`_row_level1`).

    ``span`` (level 1 with a mask): each row is computed only over the pixels whose positions
    come within one pixel of the mask's field (:func:`_field_disk`, flipped with the keyhole;
    :func:`_row_span`); the others are outside the field whatever the image holds, so they get
    NaN and ``OUTSIDE`` directly. The margin (one pixel) is far above what separates the
    positions tested from the ones the loops compute (the clamp, 1e-6 pixel; the float32
    rounding of the mask's position, 1e-4 pixel at 1024): the same result, bit for bit
    (tested), for the ~16% of a C3 frame beyond its field stop not computed."""
    ny, nx = out.shape
    x_part = np.empty(nx, np.float64)
    y_part = np.empty(nx, np.float64)
    for j in range(nx):
        if rotate:
            u = np.float64(j) - px
            x_part[j] = px + u * cos_a
            y_part[j] = py - u * sin_a
        else:
            x_part[j] = np.float64(j)
            y_part[j] = 0.0
    out_flat = out.ravel()
    codes_flat = codes.ravel()
    flat = image.ravel()
    cells_flat = cells.ravel()
    same = xsum == ysum
    off = np.empty(nx, np.uint8)
    k = np.empty(nx, np.uint32)
    km = np.empty(nx, np.uint32)
    fy = np.empty(nx, np.float32)
    fx = np.empty(nx, np.float32)
    fix = np.zeros(8 * ((nx + 7) // 8), np.uint8)  # whole words for _row_fix's scan
    spans = span and level1 and use_mask and ny >= 2 and nx >= 2
    scy, scx, radius = _span_disk(cells, keyhole) if spans else (0.0, 0.0, -1.0)
    for i in range(ny):
        v = np.float64(i) - py
        vs = v * sin_a if rotate else 0.0
        vc = v * cos_a if rotate else np.float64(i)
        base = np.uint64(i) * np.uint64(nx)
        if ny < 2 or nx < 2:
            _row_scalar(image, mask, cells, x_part, y_part, vs, vc, keyhole, warp, same, ox,
                        oy, xsum, ysum, k0, k1, k2, use_mask, out_flat, codes_flat, base)
            continue
        j0, j1 = 0, nx
        if spans:
            j0, j1 = _row_span(x_part, y_part, vs, vc, scy, scx, radius)
            _outside_of_span(out_flat, codes_flat, base, nx, j0, j1)
            if j1 <= j0:
                continue
        n = j1 - j0
        xp = x_part[j0:j1]
        yp = y_part[j0:j1]
        start = base + np.uint64(j0)
        _row_prepare(xp, yp, vs, vc, ny, nx, keyhole, warp, same, ox, oy, xsum, ysum,
                     k0, k1, k2, off[:n], k[:n], fy[:n], fx[:n], km[:n])
        if level1:
            nfix = _row_level1(flat, nx, k[:n], fy[:n], fx[:n], off[:n], cells_flat, km[:n],
                               use_mask, out_flat, codes_flat, start, fix[:n])
        else:
            nfix = _row_sample(flat, nx, k[:n], fy[:n], fx[:n], off[:n], cells_flat, km[:n],
                               use_mask, out_flat, codes_flat, start, fix[:n])
        if nfix:
            _row_fix(image, mask, fix[:8 * ((n + 7) // 8)], xp, yp, vs, vc, keyhole, warp,
                     same, ox, oy, xsum, ysum, k0, k1, k2, out_flat, codes_flat, start,
                     level1)


def mask_cells(mask: np.ndarray) -> np.ndarray:
    """Per pixel ``(y, x)``: whether the mask's four values ``[y:y+2, x:x+2]`` that a bilinear
    sample in that cell combines are all >= 0.5 (0), all < 0.5 (1) or mixed (2); on the last
    row and column the cell is cut to the values it has.

    Inside a cell whose four values are all >= 0.5 (or all < 0.5) every bilinear value is too
    (a convex combination), so the resampling kernel needs the interpolation only in the
    mixed cells along the mask's edges. uint8; computed once per mask, not per frame.
    """
    m = np.asarray(mask, dtype=np.float32) >= 0.5
    padded = np.pad(m, ((0, 1), (0, 1)), mode="edge")
    corners = (padded[:-1, :-1], padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:])
    high = corners[0] & corners[1] & corners[2] & corners[3]
    low = ~(corners[0] | corners[1] | corners[2] | corners[3])
    out = np.full(m.shape, _CELL_MIXED, np.uint8)
    out[high] = _CELL_HIGH
    out[low] = _CELL_LOW
    return out


def _run(image, *, detector, occulter_xy, binning, rotate_ccw_deg, pivot_xy, keyhole,
         distortion, mask, cells, out, codes, level1, span=True):
    """Check the arguments of :func:`resample_codes` / :func:`resample_level1` and run the
    kernel into ``out`` (made when ``None``) and ``codes`` (uint8, made when ``None``)."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"level1_resample takes one 2-D frame, got shape {image.shape}")
    geometry = (rotate_ccw_deg, *pivot_xy, *occulter_xy)
    if not all(math.isfinite(float(g)) for g in geometry):
        raise ValueError(f"non-finite level-1 geometry: rotation {rotate_ccw_deg}, pivot "
                         f"{pivot_xy}, occulter {occulter_xy}")
    use_mask = mask is not None
    if use_mask:
        mask = np.ascontiguousarray(mask, dtype=np.float32)
        if mask.shape != image.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the frame's {image.shape}")
        cells = mask_cells(mask) if cells is None else np.ascontiguousarray(cells, np.uint8)
    else:
        mask = np.zeros((1, 1), np.float32)
        cells = np.zeros((1, 1), np.uint8)
    c0, c1, c2 = DISTORTION_COEFFS[str(detector).strip().upper()] if distortion else (0, 0, 0)
    a = np.deg2rad(float(rotate_ccw_deg))
    out = _output(out, image.shape, np.float32, "out")
    codes = _output(codes, image.shape, np.uint8, "quality")
    _resample_kernel(image, mask, cells, out, codes, bool(rotate_ccw_deg), float(np.cos(a)),
                     float(np.sin(a)), float(pivot_xy[0]), float(pivot_xy[1]), bool(keyhole),
                     bool(distortion), float(occulter_xy[0]), float(occulter_xy[1]),
                     float(binning[0]), float(binning[1]), 1.0 + float(c0), float(c1),
                     float(c2), use_mask, level1, bool(span))
    return out, codes


def _output(array, shape, dtype, name):
    """A new array, or ``array`` checked: writeable, C-contiguous, ``dtype``, ``shape``."""
    if array is None:
        return np.empty(shape, dtype)
    if (array.shape != shape or array.dtype != dtype or not array.flags.c_contiguous
            or not array.flags.writeable):
        raise ValueError(f"{name} must be a writeable C-contiguous {np.dtype(dtype)} array of "
                         f"shape {shape}")
    return array


def resample_codes(image: np.ndarray, *, detector: str, occulter_xy: tuple[float, float],
                   binning: tuple[int, int] = (1, 1), rotate_ccw_deg: float = 0.0,
                   pivot_xy: tuple[float, float] = (0.0, 0.0), keyhole: bool = False,
                   distortion: bool = True, mask: np.ndarray | None = None,
                   cells: np.ndarray | None = None, out: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`level1_resample` as the kernel gives it: ``(out, codes)``, ``codes`` uint8 with
    the bits :data:`OFF_FRAME` and :data:`MASK_LOW`. ``cells``: :func:`mask_cells` of
    ``mask`` when the caller has it (it is the same for every frame of a mask); made here
    otherwise. ``out``: a C-contiguous float32 array of the frame's shape to write the values
    into (e.g. the frame's place in a block), instead of a new one."""
    return _run(image, detector=detector, occulter_xy=occulter_xy, binning=binning,
                rotate_ccw_deg=rotate_ccw_deg, pivot_xy=pivot_xy, keyhole=keyhole,
                distortion=distortion, mask=mask, cells=cells, out=out, codes=None,
                level1=False)


def resample_level1(image: np.ndarray, *, detector: str, occulter_xy: tuple[float, float],
                    binning: tuple[int, int] = (1, 1), rotate_ccw_deg: float = 0.0,
                    pivot_xy: tuple[float, float] = (0.0, 0.0), keyhole: bool = False,
                    distortion: bool = True, mask: np.ndarray | None = None,
                    cells: np.ndarray | None = None, out: np.ndarray | None = None,
                    quality: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The level-1 ``(brightness, quality)`` of the resampling, in the same pass: what
    :func:`resample_codes` gives, with every pixel that has a code (off the frame, or the
    flipped and rotated mask below 0.5) set to NaN and flagged
    :data:`~lascoproc.kernels.quality.OUTSIDE`, and every other NaN value flagged
    :data:`~lascoproc.kernels.quality.MISSING` (``reduce_level_1.pro``: the mask multiplied in,
    lost telemetry kept as missing). Equal to that, bit for bit (tested), without the second
    pass over the frame and the array of codes.

    Arguments as :func:`resample_codes`; ``quality``: a C-contiguous uint8 array of the
    frame's shape to write the bits into, instead of a new one."""
    args = dict(detector=detector, occulter_xy=occulter_xy, binning=binning,
                rotate_ccw_deg=rotate_ccw_deg, pivot_xy=pivot_xy, keyhole=keyhole,
                distortion=distortion, mask=mask, cells=cells, out=out)
    shape = np.shape(image)
    if len(shape) == 2 and min(shape) >= 2:
        return _run(image, codes=quality, level1=True, **args)
    # one row or one column: the kernel's scalar rows give codes; flags from them here
    out, codes = _run(image, codes=None, level1=False, **args)
    quality = _output(quality, out.shape, np.uint8, "quality")
    quality[...] = np.where(codes != 0, OUTSIDE, np.where(np.isnan(out), MISSING, 0))
    out[codes != 0] = np.nan
    return out, quality


def level1_resample(image: np.ndarray, *, detector: str, occulter_xy: tuple[float, float],
                    binning: tuple[int, int] = (1, 1), rotate_ccw_deg: float = 0.0,
                    pivot_xy: tuple[float, float] = (0.0, 0.0), keyhole: bool = False,
                    distortion: bool = True, mask: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Resample a calibrated frame to level-1 geometry in one bilinear pass.

    Equal, within float32 rounding, to ``map_coordinates(image, level1_map(...), order=1)``
    (:func:`lascoproc.kernels.lasco_geometry.level1_map`, same arguments), computed without
    building the map.

    Parameters
    ----------
    image
        The photometrically calibrated frame (float32; NaN where telemetry was lost).
    detector, occulter_xy, binning, rotate_ccw_deg, pivot_xy, keyhole, distortion
        As :func:`~lascoproc.kernels.lasco_geometry.level1_map`: ``occulter_xy`` in frame
        coordinates, the rotation, pivot and flip from
        :func:`~lascoproc.kernels.lasco_pointing.level1_pointing`; ``distortion=False`` is IDL's
        ``/NOWARP``.
    mask
        The C3 level-1 mask cut and binned to the frame, or ``None``.

    Returns
    -------
    out : numpy.ndarray
        float32, 0 where ``outside``.
    outside : numpy.ndarray
        bool, True where the rotated position is off the frame (no input).
    mask_low : numpy.ndarray or None
        bool, True where the flipped and rotated (not warped) mask is below 0.5 or off the
        frame; ``None`` without ``mask``.
    """
    out, codes = resample_codes(image, detector=detector, occulter_xy=occulter_xy,
                                binning=binning, rotate_ccw_deg=rotate_ccw_deg,
                                pivot_xy=pivot_xy, keyhole=keyhole, distortion=distortion,
                                mask=mask)
    outside = (codes & OFF_FRAME) != 0
    return out, outside, ((codes & MASK_LOW) != 0 if mask is not None else None)


@numba.njit(nogil=True, cache=True)
def _sample_kernel(image, ys, xs, out):
    ny, nx = image.shape
    for k in range(ys.size):
        y = ys[k]
        x = xs[k]
        if y >= 0 and y <= ny - 1 and x >= 0 and x <= nx - 1:
            out[k] = _bilinear(image, y, x)
        else:
            out[k] = np.float32(0.0)


def bilinear_sample(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinear values of ``image`` at ``coords`` (``(2, ...)``: rows, columns), zero-weight
    terms left out (module docstring), 0 off the frame: ``map_coordinates(order=1,
    mode="constant", cval=0)`` but for the NaN rule."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    ys = np.ascontiguousarray(np.asarray(coords[0], dtype=np.float32).ravel())
    xs = np.ascontiguousarray(np.asarray(coords[1], dtype=np.float32).ravel())
    out = np.empty(ys.size, np.float32)
    _sample_kernel(image, ys, xs, out)
    return out.reshape(np.shape(coords)[1:])
