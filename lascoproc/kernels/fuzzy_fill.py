"""NRL's missing-block fill, ``fuzzy_image``, ported from the SolarSoft LASCO library (numpy/scipy).

The method of record for LASCO lost telemetry blocks (SolarSoft ``lasco/reduce/fuzzy``,
``fuzzy_image.pro`` 1.7 of 07/25/05, J. More 1996, A. Thernisien 2000, N. Rich 2001-2005),
after Lee, Zhang & Leon-Garcia 1995, "Information loss recovery for block-based image coding
techniques - a fuzzy logic approach", IEEE TIP 4, 259. Source read: the IDL files in
github:RobertJaro/SOHOpy ``references/legacy/lasco_idl/fuzzy/``. Two stages:

1. **Zones** (``get_miss_blocks.pro``): missing blocks within two blocks of each other
   (Chebyshev distance, transitively) form one zone; its rectangle (``read_zone.pro``) is the
   blocks' bounding box grown by one block, clipped to the frame. A zone is filled only when it
   holds more present pixels than missing ones; if any zone holds more than 100 blocks nothing
   is filled (``fuzzy_image.pro``: "Fuzzy_image not used").
2. **HCIE**, hierarchical compass interpolation (``hcie_zone.pro``, ``grad_zone.pro``):

   - orientation ``theta`` (``grad_zone``): the zone is median-filtered (7 x 7, missing pixels
     kept 0), averaged into cells of ``block/4`` pixels, and the Sobel gradients
     ``cx, cy`` (IDL ``CONVOL`` with ``S = 8``) are summed over the second ring of present
     cells around the missing ones: ``theta = atan2(sum cy, sum cx) mod 2 pi`` (0 if the sum
     of ``cy`` is 0);
   - the zone is averaged into cells of ``block/8`` pixels; cells are grouped into lines
     perpendicular to ``theta`` (``grad``: ``round(((x - x0) cos t + (y - y0) sin t) / cos(pi/4
     - |theta mod pi/2 - pi/4|))``, origin at the corner given by the quarter of ``t``), and
     along each line the missing cells are interpolated from the present ones by a natural
     cubic spline of their rank on the line (``multi_interp``, ``SPL_INIT``/``SPL_INTERP``;
     lines with fewer than two present cells are left 0 in IDL: here the zone is then left
     unfilled, see below);
   - a smooth surface through the cell values at ``(block/16 + i block/8)`` gives the missing
     pixels (``TRI_SURF``, a quintic on the triangulated cells: here an interpolating bivariate
     quintic spline, scipy ``RectBivariateSpline(kx=ky=5, s=0)``, on the same regular cells);
   - the missing pixels are then smoothed by a running mean of 3 along lines parallel to the
     gradient (``multi_smooth``, IDL ``SMOOTH(y, 3)``, ends kept).

3. **Fuzzy spectral recovery** (``fuzzy_block.pro``), for each missing block in row order whose
   3 x 3 block neighbourhood lies inside the frame: the DCT-II spectra of the 9 blocks are
   split into 6 regions (DC; low frequency ``|k| < 4 block/32``; horizontal and vertical
   wedges of half-angle ``pi/12``; high ``|k| > 0.9 block``; diagonal elsewhere). Each block's
   orientation is the wedge with the largest energy per coefficient, the main orientation the
   most frequent among the 9, and the member blocks those (other than the missing one) with it.
   Each coefficient ``a`` of the main region becomes a fuzzy interval, ``[min, max]`` for the
   missing block and ``[(min + a) / 2, (max + a) / 2]`` for a member (``num_to_fuzzy`` with
   confidence 0 and 0.5); the intervals are intersected (``inter_fuzzy``) and the missing
   block's coefficient is replaced by the interval's middle (``fuzzy_to_num``); inverse DCT.

   The range ``[min, max]`` is computed as ``fuzzy_block.pro`` runs it, not as its comment
   says: ``all_sub_sp(where(all_sub_sp) ne 0)`` subscripts the array with the 0/1 result of
   ``ne`` (IDL has no boolean masks), i.e. elements 0 and 1 of the first block's region. Both
   are 0 whenever the main region is a wedge, so ``min = max = 0`` and the production code sets
   the main wedge of the missing block to 0 (a further smoothing of the HCIE fill). The range
   the comment describes (over the non-zero coefficients of all 9 blocks) was tried: it puts
   the same offset ``(min + max) / 4 + ...`` into hundreds of coefficients and wrecks blocks
   (-15 dB on the C3 scene), so it is not offered.

Generalisations for lascoproc (documented departures): holes are given as a boolean mask
rather than as pixels equal to 0; a block is missing when it holds any hole pixel, and only hole
pixels are written (``fuzzy_image`` rewrites whole blocks); a cell is present when it holds no
hole pixel; pixels outside the field (NaN) take the value 0, as IDL sets its non-useful blocks
to 1 DN; block sizes other than 32 (a multiple of 4) scale the cells and the radii of the
spectral regions; the zone merging uses the Chebyshev rule everywhere (IDL clips its zone boxes
to blocks ``1..n-2``, which merges a little more at the frame edge). Pixels the method leaves
unfilled (a zone with too few present pixels, more than 100 blocks) are returned NaN.

Two departures made on 2026-12-02, after a review reproduced their failures (a caller's fallback,
:func:`lascoproc.inpaint.fill.spatial_fill`, fills what is left NaN):

- a zone in which some line of cells has fewer than two present cells is left unfilled. IDL
  leaves such cells 0 and its quintic surface then overshoots towards them: at a frame corner
  or edge the fill reached the frame's maximum, 1000-3000 times the truth;
- for blocks of 8 pixels or fewer the low-frequency region keeps at least the first-order
  coefficients (radius ``max(4 block/32, 1.5)``, as at block 16). The scaled radius alone is
  empty there, so the first-order coefficients fell into a wedge that stage 3 sets to 0 and
  the hole lost its gradient (a smooth ramp in an 8-pixel block: 529% error, 2.5% at 32).
"""

from __future__ import annotations

import numpy as np
from scipy import fft, interpolate, ndimage
from scipy.sparse import csgraph, csr_matrix

__all__ = ["fuzzy_fill", "missing_zones", "gradient_angle", "grad_map", "hcie_zone",
           "fuzzy_block", "BLOCK", "MAX_ZONE_BLOCKS"]

#: Side of a telemetry block (pixels of the image as read out).
BLOCK = 32
#: ``fuzzy_image.pro``: with more missing blocks than this in one zone nothing is filled.
MAX_ZONE_BLOCKS = 100
#: Value given to pixels outside the field (NaN) and to missing pixels before filling.
_ABSENT = 0.0


# --- zones ------------------------------------------------------------------------------

def missing_zones(missing_blocks: np.ndarray) -> np.ndarray:
    """Zone number of each missing block (-1 elsewhere): blocks within Chebyshev distance 2 of
    each other, transitively, share a zone (``get_miss_blocks.pro``). Zones are numbered in the
    order of their first block (row-major)."""
    missing_blocks = np.asarray(missing_blocks, bool)
    labels = np.full(missing_blocks.shape, -1, np.int64)
    jj, ii = np.nonzero(missing_blocks)
    if not jj.size:
        return labels
    near = ((np.abs(jj[:, None] - jj[None, :]) <= 2) & (np.abs(ii[:, None] - ii[None, :]) <= 2))
    _, comp = csgraph.connected_components(csr_matrix(near), directed=False)
    # renumber in order of first appearance
    _, first = np.unique(comp, return_index=True)
    order = np.argsort(np.argsort(first))
    labels[jj, ii] = order[comp]
    return labels


def _zone_rect(blocks_j: np.ndarray, blocks_i: np.ndarray, nbj: int, nbi: int
               ) -> tuple[int, int, int, int]:
    """``read_zone.pro``: the blocks' bounding box grown by one block, clipped."""
    return (max(int(blocks_j.min()) - 1, 0), min(int(blocks_j.max()) + 1, nbj - 1),
            max(int(blocks_i.min()) - 1, 0), min(int(blocks_i.max()) + 1, nbi - 1))


# --- IDL building blocks -----------------------------------------------------------------

def _cell_means(a: np.ndarray, cell: int) -> np.ndarray:
    """IDL ``REBIN`` to a coarser grid: means of ``cell x cell`` pixels."""
    ny, nx = a.shape
    return a.reshape(ny // cell, cell, nx // cell, cell).mean(axis=(1, 3))


def _cell_any(a: np.ndarray, cell: int) -> np.ndarray:
    ny, nx = a.shape
    return a.reshape(ny // cell, cell, nx // cell, cell).any(axis=(1, 3))


def _idl_median(a: np.ndarray, width: int) -> np.ndarray:
    """IDL ``MEDIAN(a, width)``: running median, pixels within ``width // 2`` of the edge kept."""
    out = a.copy()
    h = width // 2
    if min(a.shape) > 2 * h:
        med = ndimage.median_filter(a, size=width, mode="nearest")
        out[h:-h, h:-h] = med[h:-h, h:-h]
    return out


_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # d/dx, [y, x]
_SOBEL_Y = _SOBEL_X.T


def _idl_convol(a: np.ndarray, kernel: np.ndarray, scale: float) -> np.ndarray:
    """IDL ``CONVOL(a, kernel, scale)`` for a 3 x 3 kernel: correlation, edge pixels 0."""
    out = ndimage.correlate(a, kernel, mode="constant") / scale
    out[0, :] = out[-1, :] = 0.0
    out[:, 0] = out[:, -1] = 0.0
    return out


def _idl_sobel_nonzero(mask: np.ndarray) -> np.ndarray:
    """Where IDL ``SOBEL`` of a 0/1 image is non-zero (edge pixels are 0 in IDL)."""
    m = mask.astype(np.float64)
    g = np.abs(_idl_convol(m, _SOBEL_X, 1.0)) + np.abs(_idl_convol(m, _SOBEL_Y, 1.0))
    return g != 0.0


def grad_map(nx: int, ny: int, theta: float) -> np.ndarray:
    """``grad`` of ``hcie_zone.pro``: distance along the direction ``theta`` (radians from +x)
    from the corner the quarter of ``theta`` selects, over ``cos(pi/4 - |theta mod pi/2 -
    pi/4|)`` (the mean pixel spacing along the lines); ``[y, x]`` array, not rounded."""
    t = (theta % (2 * np.pi) + 2 * np.pi) % (2 * np.pi)
    quarter = int(t // (np.pi / 2))
    x0, y0 = {0: (0, 0), 1: (nx - 1, 0), 2: (nx - 1, ny - 1), 3: (0, ny - 1)}.get(quarter,
                                                                               (0, 0))
    pix_dist = 1.0 / np.cos(np.pi / 4 - abs(theta % (np.pi / 2) - np.pi / 4))
    yy, xx = np.mgrid[0:ny, 0:nx]
    return ((xx - x0) * np.cos(t) + (yy - y0) * np.sin(t)) * pix_dist


def _lines(line_map: np.ndarray, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices sorted line by line, each line in IDL's order along it, and line starts.

    ``multi_interp``/``multi_smooth``: a line is the pixels of equal ``round(map)``, taken in
    ``WHERE`` order (row by row, x increasing), with the columns reversed when
    ``theta mod pi < pi/2`` (so that the order follows the line)."""
    labels = np.rint(line_map).astype(np.int64).ravel()
    ny, nx = line_map.shape
    yy, xx = np.divmod(np.arange(labels.size), nx)
    xkey = -xx if (theta % np.pi) < np.pi / 2 else xx
    order = np.lexsort((xkey, yy, labels))
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    return order, starts


def multi_interp(values: np.ndarray, present: np.ndarray, line_map: np.ndarray,
                 theta: float) -> np.ndarray:
    """``multi_interp`` of ``hcie_zone.pro``: along each line, the cells not ``present`` are
    set by a natural cubic spline through the present ones, abscissa = rank on the line; lines
    with fewer than two present cells are left as they are."""
    out = values.copy()
    flat_v, flat_p, flat_o = values.ravel(), present.ravel(), out.ravel()
    order, starts = _lines(line_map, theta)
    ends = np.r_[starts[1:], order.size]
    for s, e in zip(starts, ends, strict=True):
        idx = order[s:e]
        known = flat_p[idx]
        n1 = int(known.sum())
        if n1 < 2 or n1 == idx.size:
            continue
        rank = np.arange(idx.size, dtype=np.float64)
        if n1 == 2:
            spline = interpolate.make_interp_spline(rank[known], flat_v[idx[known]], k=1)
        else:
            spline = interpolate.CubicSpline(rank[known], flat_v[idx[known]],
                                             bc_type="natural", extrapolate=True)
        flat_o[idx[~known]] = spline(rank[~known])
    return out


def multi_smooth(values: np.ndarray, line_map: np.ndarray, theta: float,
                 width: int = 3) -> np.ndarray:
    """``multi_smooth`` of ``hcie_zone.pro``: IDL ``SMOOTH(line, 3)`` along each line of more
    than ``width`` pixels (running mean of 3, the two end pixels kept)."""
    if width != 3:
        raise ValueError("multi_smooth is ported for width 3 only")
    out = values.copy()
    flat = values.ravel()
    order, starts = _lines(line_map, theta)
    lengths = np.diff(np.r_[starts, order.size])
    line_of = np.repeat(np.arange(starts.size), lengths)
    pos = np.arange(order.size) - starts[line_of]
    inner = (pos > 0) & (pos < lengths[line_of] - 1) & (lengths[line_of] > width)
    k = np.flatnonzero(inner)
    v = flat[order]
    out.ravel()[order[k]] = (v[k - 1] + v[k] + v[k + 1]) / 3.0
    return out


def gradient_angle(zone: np.ndarray, present: np.ndarray, block: int = BLOCK) -> float:
    """``grad_zone.pro``: main gradient orientation of a zone (radians in ``[0, 2 pi)``).

    ``zone`` holds 0 at the missing pixels; ``present`` is the complement of the missing
    pixels (module docstring, stage 2)."""
    z = _idl_median(zone, 7) * present
    cell = block // 4
    cells = _cell_means(z, cell)
    cells_present = ~_cell_any(~present, cell)
    cx = _idl_convol(cells, _SOBEL_X, 8.0)
    cy = _idl_convol(cells, _SOBEL_Y, 8.0)
    border1 = _idl_sobel_nonzero(cells_present) & cells_present
    zone2 = cells_present & ~border1
    border2 = _idl_sobel_nonzero(zone2) & zone2
    gx = float(np.sum(cx * border2))
    gy = float(np.sum(cy * border2))
    if gy == 0.0:
        return 0.0
    return float((np.arctan2(gy, gx) + 2 * np.pi) % (2 * np.pi))


def hcie_zone(zone: np.ndarray, missing: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """``hcie_zone.pro``: the zone with its ``missing`` pixels filled (stage 2).

    ``zone`` (a rectangle of whole blocks) holds 0 at the missing pixels."""
    zone = np.where(missing, _ABSENT, zone)
    present = ~missing
    angle = gradient_angle(zone, present, block)
    sub = block // 8 if block % 8 == 0 else block // 4
    cells = _cell_means(zone, sub)
    cells_present = ~_cell_any(missing, sub)
    ncy, ncx = cells.shape
    line_map = np.rint(grad_map(ncx, ncy, angle))
    interp = multi_interp(np.where(cells_present, cells, np.nan), cells_present, line_map,
                          angle)
    ny, nx = zone.shape
    if np.isnan(interp).any():  # a line with < 2 present cells (module docstring): unfilled
        return np.where(missing, np.nan, zone)
    yc = sub // 2 + sub * np.arange(ncy, dtype=np.float64)
    xc = sub // 2 + sub * np.arange(ncx, dtype=np.float64)
    ky, kx = min(5, ncy - 1), min(5, ncx - 1)
    surface = interpolate.RectBivariateSpline(yc, xc, interp, kx=kx, ky=ky, s=0,
                                              bbox=[0.0, ny - 1.0, 0.0, nx - 1.0])
    new_zone = surface(np.arange(ny, dtype=np.float64), np.arange(nx, dtype=np.float64))
    out = np.where(missing, new_zone, zone)
    perpendicular = np.rint(grad_map(nx, ny, angle + np.pi / 2))
    smooth = multi_smooth(out, perpendicular, angle + np.pi / 2)
    return np.where(missing, smooth, out)


# --- fuzzy spectral recovery ---------------------------------------------------------------

_MEAN, _LOW, _HORIZ, _VERT, _DIAG, _HIGH = range(6)


def subspectra_mask(block: int = BLOCK) -> np.ndarray:
    """``fuzzy_block.pro``'s map of the 6 spectral regions, ``[ky, kx]``."""
    ky, kx = np.mgrid[0:block, 0:block].astype(np.float64)
    mask = np.full((block, block), _DIAG, np.int64)
    half = np.tan(np.pi / 6 / 2)
    mask[np.abs(ky) < np.abs(kx) * half] = _HORIZ
    mask[np.abs(kx) < np.abs(ky) * half] = _VERT
    radius = np.hypot(kx, ky)
    mask[radius < max(4.0 * block / BLOCK, 1.5)] = _LOW  # module docstring: small blocks
    mask[radius > block * 0.9] = _HIGH
    mask[0, 0] = _MEAN
    return mask


def _idl_range(sub: np.ndarray) -> tuple[float, float]:
    """``all_sub_sp(where(all_sub_sp) ne 0)`` as IDL evaluates it: subscripts 0/1 (module
    docstring). ``sub`` is ``(3, 3, block, block)`` = ``[jj, ii, ky, kx]``; IDL's memory order
    of ``sub_sp(*, *, smax, *, *)`` is kx fastest, then ky, ii, jj."""
    flat = sub.reshape(-1)
    where = np.flatnonzero(flat)
    if not where.size:
        where = np.array([-1])
    picked = flat[(where != 0).astype(np.int64)]
    return float(picked.min()), float(picked.max())


def fuzzy_block(neighbourhood: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """``fuzzy_block.pro``: the centre block of a ``3 block x 3 block`` neighbourhood with its
    main-orientation spectrum recovered (module docstring, stage 3)."""
    if neighbourhood.shape != (3 * block, 3 * block):
        raise ValueError(f"neighbourhood must be {3 * block} x {3 * block}")
    blocks = neighbourhood.reshape(3, block, 3, block).transpose(0, 2, 1, 3)  # [jj, ii, y, x]
    sp = fft.dctn(blocks, type=2, axes=(2, 3))
    mask = subspectra_mask(block)
    n_sub = np.bincount(mask.ravel(), minlength=6).astype(np.float64)
    # energy per coefficient of each region (a region a small block does not have: 0)
    energy = np.stack([np.sum(np.where(mask == s, sp, 0.0) ** 2, axis=(2, 3))
                       / max(n_sub[s], 1.0) for s in range(6)], axis=-1)  # [jj, ii, s]
    weights = np.array([0, 0, 1, 1, 1, 0], np.float64)
    orient = np.argmax(energy * weights, axis=-1)  # first maximum, as IDL's MAX
    counts = np.bincount(orient.ravel(), minlength=6).astype(np.float64)
    smax = int(np.argmax(counts * weights))
    member = orient == smax
    member[1, 1] = False
    in_region = mask == smax
    sub = np.where(in_region, sp, 0.0)
    amin, amax = _idl_range(sub)
    a = np.clip(sub[1, 1], amin, amax)
    low = amin + 0.0 * (a - amin)
    high = amax - 0.0 * (amax - a)
    for jj in range(3):
        for ii in range(3):
            if member[jj, ii]:
                am = np.clip(sub[jj, ii], amin, amax)
                low = np.maximum(low, amin + 0.5 * (am - amin))
                high = np.minimum(high, amax - 0.5 * (amax - am))
    centre = sp[1, 1].copy()
    centre[in_region] = ((low + high) / 2.0)[in_region]
    return fft.idctn(centre, type=2)


# --- the whole method -----------------------------------------------------------------------

def fuzzy_fill(values: np.ndarray, holes: np.ndarray, *, block: int = BLOCK) -> np.ndarray:
    """Fill ``holes`` with NRL's ``fuzzy_image`` (module docstring).

    Parameters
    ----------
    values
        2-D image; NaN outside the field. Blocks lie on the grid anchored at pixel ``(0, 0)``
        (the readout grid of a level-0.5 frame).
    holes
        Boolean mask of the pixels to fill.
    block
        Block side in pixels (a multiple of 4; LASCO: 32).

    Returns
    -------
    numpy.ndarray
        float64 copy of ``values`` with the holes filled; NaN at hole pixels the method leaves
        unfilled.
    """
    values = np.asarray(values, dtype=np.float64)
    holes = np.asarray(holes, dtype=bool)
    if values.ndim != 2 or holes.shape != values.shape:
        raise ValueError(f"values {values.shape} and holes {holes.shape} must be the same 2-D "
                         "shape")
    if block < 4 or block % 4:
        raise ValueError(f"block must be a multiple of 4, not {block}")
    out = values.copy()
    out[holes] = np.nan
    if not holes.any():
        return out
    ny, nx = values.shape
    nbj, nbi = -(-ny // block), -(-nx // block)
    pad = ((0, nbj * block - ny), (0, nbi * block - nx))
    holes_p = np.pad(holes, pad)
    image1 = np.pad(np.where(np.isfinite(values) & ~holes, values, _ABSENT), pad)
    missing_blocks = holes_p.reshape(nbj, block, nbi, block).any(axis=(1, 3))
    zones = missing_zones(missing_blocks)
    nzones = int(zones.max()) + 1
    for z in range(nzones):
        if int(np.sum(zones == z)) > MAX_ZONE_BLOCKS:
            return out  # fuzzy_image.pro returns the input: "Fuzzy_image not used"
    image = image1.copy()
    filled = np.zeros(missing_blocks.shape, bool)
    for z in range(nzones):
        bj, bi = np.nonzero(zones == z)
        j1, j2, i1, i2 = _zone_rect(bj, bi, nbj, nbi)
        sl = np.s_[j1 * block:(j2 + 1) * block, i1 * block:(i2 + 1) * block]
        miss = holes_p[sl]
        if int((~miss).sum()) <= int(miss.sum()):
            continue  # more missing than present pixels: left unfilled
        zone = hcie_zone(image1[sl], miss, block)
        if np.isnan(zone[miss]).any():
            continue  # some missing cells could not be interpolated: left unfilled
        image[sl] = np.where(miss, zone, image[sl])
        filled[bj, bi] = True
    for bj, bi in zip(*np.nonzero(missing_blocks & filled), strict=True):
        if not (0 < bj < nbj - 1 and 0 < bi < nbi - 1):
            continue  # no 3 x 3 neighbourhood: the HCIE fill stays
        sl = np.s_[(bj - 1) * block:(bj + 2) * block, (bi - 1) * block:(bi + 2) * block]
        new = fuzzy_block(image[sl], block)
        centre = np.s_[bj * block:(bj + 1) * block, bi * block:(bi + 1) * block]
        image[centre] = np.where(holes_p[centre], new, image[centre])
    result = image[:ny, :nx]
    keep = holes & np.repeat(np.repeat(filled, block, 0), block, 1)[:ny, :nx]
    out[keep] = result[keep]
    return out
