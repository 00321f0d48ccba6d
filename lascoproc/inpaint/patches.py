"""Polar patches around holes: what the inpainting network sees (numpy).

Coronal structure is close to radial, so the network works in a local polar frame of each hole
(a group of connected hole pixels): rows ``i`` are radii ``r = r0 + i`` from the Sun centre,
columns ``j`` are arc lengths ``v = v0 + j`` measured at the hole's mean radius ``r_ref`` from
its mean position angle ``theta_ref``, i.e. position angle ``theta = theta_ref + v / r_ref``.
In this frame rays run along the columns whatever the hole's position angle, so one small
network serves every position on the frame (rotation equivariance by construction).

The patch is the polar bounding box of the hole pixels grown by ``context`` pixels on every
side (:meth:`PolarPatch.around`), with ``context`` the network's receptive-field radius plus the
one pixel of the bilinear read-back (:mod:`lascoproc.inpaint.patchnet`): the network's output at
every hole pixel depends on the pixels of the patch only, so a patch is enough and a frame
costs in proportion to its holes. Its size is rounded up to a multiple the network needs.

Sampling (:func:`bilinear`) is bilinear with the pixel-centre convention of
``torch.nn.functional.grid_sample(align_corners=True)``; a patch pixel is *known* only if all
four pixels it is interpolated from are known, *usable* (known or hole) likewise, so no hole or
outside-field value leaks into the context.

Prior (:func:`polar_prior`): the radial interpolation of :mod:`lascoproc.kernels.inpaint_radial`
done in the patch, where a ray is a column: each usable, unknown patch pixel gets the linear
interpolation (in ``r``) between the nearest known pixels above and below it in its column, the
one known value where there is only one, and where its column has none the same along its row.
The same interpolation along rows (tangentially) is a second input: where the structure is not
radial (stray light, ghosts, a CME front) the network can lean on it. Networks with
``smooth=True`` get a third, isotropic one (:func:`smooth_prior`): a local linear fit to the known
pixels (first-order normalized convolution), which averages the noise of the hole's edge where
the directional fills take it from single pixels.
Inputs are standardised per patch: ``(y - mu) / sigma`` with ``mu``, ``sigma`` the mean and
standard deviation of the known patch pixels (``sigma >= SIGMA_FLOOR``). The network predicts a
correction ``rho``; a hole pixel gets ``mu + sigma * F`` with ``F`` the corrected standardised
fill ``prior + rho`` read back bilinearly at its polar coordinates from the usable patch pixels
(weights renormalised over them; :func:`lascoproc.inpaint.patchnet.read_back`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from lascoproc.inpaint.fallback import interpolate_holes
from lascoproc.kernels.inpaint_radial import radial_fill

__all__ = ["PolarPatch", "PatchInputs", "bilinear", "sample_patch", "polar_prior",
           "cartesian_prior", "smooth_prior", "smooth_reach",
           "patch_inputs", "hole_regions", "SIGMA_FLOOR", "MIN_KNOWN"]

#: Smallest standard deviation used to standardise a patch (normalised units).
SIGMA_FLOOR = 1.0e-4
#: Fewest known pixels a patch needs for the network to run on it (else: the prior alone).
MIN_KNOWN = 16
#: Step (pixels) of the ray walk of :func:`cartesian_prior` (the "radial" method walks in
#: half-pixel steps; whole pixels cost half as much and the network learns on the same).
PRIOR_STEP = 1.0
#: A sampled mask counts as 1 above ``1 - MASK_TOLERANCE`` (float32 sums of bilinear weights).
MASK_TOLERANCE = 1.0e-6
#: Smallest half-width (patch pixels) of the box of :func:`smooth_prior`, and the hole's extent
#: per pixel of half-width (:func:`smooth_reach`).
SMOOTH_MIN_HALF_WIDTH = 2
SMOOTH_EXTENT_PER_HALF_WIDTH = 3.0
_EIGHT = np.ones((3, 3), bool)


@dataclasses.dataclass(frozen=True)
class PolarPatch:
    """A polar patch (module docstring); coordinates are those of the array it samples.

    Attributes
    ----------
    center
        Sun centre ``(x, y)`` (column, row).
    r0, v0
        Radius of row 0 and arc length of column 0 (pixels).
    r_ref, theta_ref
        Radius where arc length is measured, and the position angle (radians, from +x towards
        +y) of ``v = 0``.
    shape
        ``(rows, columns)``.
    """

    center: tuple[float, float]
    r0: float
    v0: float
    r_ref: float
    theta_ref: float
    shape: tuple[int, int]

    @classmethod
    def around(cls, ys: np.ndarray, xs: np.ndarray, center, *, context: int,
               multiple: int = 1) -> PolarPatch:
        """The patch of the hole pixels ``(ys, xs)`` grown by ``context`` pixels."""
        cx, cy = float(center[0]), float(center[1])
        dx, dy = np.asarray(xs, float) - cx, np.asarray(ys, float) - cy
        r = np.hypot(dx, dy)
        theta = np.arctan2(dy, dx)
        theta_ref = float(np.arctan2(np.mean(np.sin(theta)), np.mean(np.cos(theta))))
        r_ref = max(float(np.mean(r)), 1.0)
        v = r_ref * _wrap(theta - theta_ref)
        r0 = float(np.floor(r.min())) - context
        v0 = float(np.floor(v.min())) - context
        rows = int(np.ceil(r.max())) - int(r0) + context + 1
        cols = int(np.ceil(v.max())) - int(v0) + context + 1
        rows = -(-rows // multiple) * multiple
        cols = -(-cols // multiple) * multiple
        return cls(center=(cx, cy), r0=r0, v0=v0, r_ref=r_ref, theta_ref=theta_ref,
                   shape=(rows, cols))

    def shifted(self, dy: float, dx: float) -> PolarPatch:
        """The same patch in an array whose origin is at ``(dy, dx)`` of this one's."""
        return dataclasses.replace(self, center=(self.center[0] - dx, self.center[1] - dy))

    def source(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ys, xs, valid)`` of every patch pixel: where it is sampled from, and whether the
        polar frame is defined there (``r > 0.5`` and within half a turn of ``theta_ref``)."""
        dxs, dys, valid = _grid(self.r0, self.v0, self.r_ref, self.theta_ref, self.shape)
        return self.center[1] + dys, self.center[0] + dxs, valid

    def coordinates(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Patch ``(row, column)`` coordinates (float) of array pixels ``(ys, xs)``."""
        dx = np.asarray(xs, float) - self.center[0]
        dy = np.asarray(ys, float) - self.center[1]
        r = np.hypot(dx, dy)
        v = self.r_ref * _wrap(np.arctan2(dy, dx) - self.theta_ref)
        return r - self.r0, v - self.v0

    def bbox(self, margin: int = 1) -> tuple[int, int, int, int]:
        """``(y_lo, y_hi, x_lo, x_hi)`` (``hi`` exclusive) of the array pixels the patch is
        sampled from, grown by ``margin``."""
        ys, xs, valid = self.source()
        ys, xs = ys[valid], xs[valid]
        return (int(np.floor(ys.min())) - margin, int(np.ceil(ys.max())) + margin + 1,
                int(np.floor(xs.min())) - margin, int(np.ceil(xs.max())) + margin + 1)


def _wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


@functools.lru_cache(maxsize=16)
def _grid(r0: float, v0: float, r_ref: float, theta_ref: float, shape: tuple[int, int]):
    """Offsets from the centre ``(r cos theta, r sin theta)`` of a patch's pixels, and where
    the polar frame is defined (cached: a patch's bbox and its sampling share it)."""
    rows, cols = shape
    r = r0 + np.arange(rows, dtype=np.float64)[:, None]
    v = v0 + np.arange(cols, dtype=np.float64)[None, :]
    ang = v / r_ref
    theta = theta_ref + ang
    dxs, dys = r * np.cos(theta), r * np.sin(theta)
    valid = np.broadcast_to((r > 0.5) & (np.abs(ang) < np.pi), (rows, cols))
    for a in (dxs, dys):
        a.flags.writeable = False
    return dxs, dys, valid


def bilinear(arrays: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``arrays`` ``(C, H, W)`` at ``(ys, xs)`` (any shape); a corner
    outside the arrays contributes 0."""
    c, h, w = arrays.shape
    # a border of zeros takes every corner outside the arrays: one flat gather per corner
    padded = np.pad(arrays, ((0, 0), (1, 1), (1, 1))).reshape(c, -1)
    y0 = np.floor(ys)
    x0 = np.floor(xs)
    fy, fx = ys - y0, xs - x0
    y0 = y0.astype(np.int64)
    x0 = x0.astype(np.int64)
    rows = [(np.clip(y0 + d, -1, h) + 1) * (w + 2) for d in (0, 1)]
    cols = [np.clip(x0 + d, -1, w) + 1 for d in (0, 1)]
    out = np.zeros((c, *np.shape(ys)))
    for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                        (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        out += wgt * padded[:, rows[dy] + cols[dx]]
    return out


def sample_patch(patch: PolarPatch, arrays: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``arrays`` ``(C, H, W)`` on the patch: ``(C, rows, cols)``, 0
    where the polar frame is undefined."""
    ys, xs, valid = patch.source()
    return np.where(valid, bilinear(np.asarray(arrays, np.float64), ys, xs), 0.0)


def _fill_along(values: np.ndarray, known: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 of ``values`` between the nearest ``known`` entries
    (by index), the one known value beyond the last/first; NaN where a column has none."""
    n = values.shape[0]
    idx = np.arange(n)[:, None]
    below = np.where(known, idx, -1)
    below = np.maximum.accumulate(below, axis=0)
    above = np.where(known, idx, n)
    above = np.minimum.accumulate(above[::-1], axis=0)[::-1]
    col = np.arange(values.shape[1])[None, :]
    has_b, has_a = below >= 0, above < n
    vb = values[np.clip(below, 0, n - 1), col]
    va = values[np.clip(above, 0, n - 1), col]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (idx - below) / (above - below)
        both = vb + (va - vb) * t
    out = np.where(has_b & has_a, both, np.where(has_b, vb, np.where(has_a, va, np.nan)))
    return np.where(want, out, values)


def polar_prior(values: np.ndarray, known: np.ndarray, usable: np.ndarray,
                axis: int = 0) -> np.ndarray:
    """A directional fill of a patch (module docstring): ``values`` at known pixels,
    interpolated along columns (``axis=0``: rays, the radial fill) or rows (``axis=1``:
    tangentially) at usable unknown ones, along the other axis where a line has no known
    pixel, the mean of the known pixels where neither has; 0 where not usable."""
    want = usable & ~known
    base = np.where(known, values, 0.0)
    if axis == 0:
        out = _fill_along(base, known, want)
    else:
        out = _fill_along(base.T, known.T, want.T).T
    left = want & ~np.isfinite(out)
    if left.any():
        if axis == 0:
            other = _fill_along(base.T, known.T, left.T).T
        else:
            other = _fill_along(base, known, left)
        out = np.where(left, other, out)
        left = want & ~np.isfinite(out)
        if left.any():
            out[left] = float(values[known].mean()) if known.any() else 0.0
    return np.where(usable, out, 0.0)


def cartesian_prior(y: np.ndarray, known: np.ndarray, holes: np.ndarray, center
                    ) -> np.ndarray:
    """The radial fill of the holes (:func:`lascoproc.kernels.inpaint_radial.radial_fill`
    with steps of :data:`PRIOR_STEP`, biharmonic where no ray reaches an observed pixel) and
    ``y`` at known pixels: the prior of networks with ``prior="cartesian"``."""
    values = np.where(known, y, np.nan)
    filled = radial_fill(values, holes, center, step=PRIOR_STEP)
    left = holes & ~np.isfinite(filled)
    if left.any():
        filled[left] = interpolate_holes(values, left)[left]
    return filled


def smooth_reach(rows: np.ndarray, cols: np.ndarray) -> int:
    """Half-width ``h`` of the box of :func:`smooth_prior` for a hole at patch coordinates
    ``rows``/``cols``: a third of its extent (the larger side), at least
    :data:`SMOOTH_MIN_HALF_WIDTH`; the weights reach ``2 h``, so the middle of a square hole
    sees its edge (``extent / 2``) with weights of about a quarter of the peak or more."""
    extent = max(float(np.ptp(rows)), float(np.ptp(cols))) + 1.0 if np.size(rows) else 1.0
    return max(SMOOTH_MIN_HALF_WIDTH, int(np.ceil(extent / SMOOTH_EXTENT_PER_HALF_WIDTH)))


def smooth_prior(values: np.ndarray, known: np.ndarray, usable: np.ndarray, half_width: int
                 ) -> np.ndarray:
    """A smooth, isotropic fill: at each usable unknown pixel ``p`` the value at ``p`` of the
    plane ``a + b dy + c dx`` fitted by weighted least squares to the known pixels ``q``
    (``dy, dx = q - p``), with the separable triangular weights ``t(dy) t(dx)``,
    ``t(d) = max(0, 2 h + 1 - |d|)`` (a box of ``2 h + 1`` pixels applied twice).

    This is first-order normalized convolution (Knutsson & Westin 1993, "Normalized and
    differential convolution", CVPR, pp. 515-523) with that applicability function. The normal
    equations' sums ``sum_q w(q) K(q - p) (q - p)^k`` are expanded in powers of ``p`` into
    box-filtered moments ``sum_q w(q) K(q - p) q^j`` (:func:`scipy.ndimage.uniform_filter1d`
    twice per axis, float32: the cost does not depend on ``h``), with coordinates centred on
    the patch and divided by ``h``; ``a`` solves the 3 x 3 system per pixel (Cramer's rule,
    float64). Unlike the directional fills it does not pass through the edge pixels of the
    hole but averages them (noise), and it carries the local gradient into the hole (smooth
    stray light, a one-sided edge). Where the fit is degenerate (the known pixels in reach on
    a line, or fewer than three) the weighted mean (zeroth order) is used, and where no known
    pixel is in reach (farther than ``2 h`` on either axis), NaN. Known pixels keep
    ``values``; 0 where not usable.
    """
    values = np.asarray(values, np.float64)
    known = np.asarray(known, bool)
    want = np.asarray(usable, bool) & ~known
    out = np.where(known, values, 0.0)
    if not want.any():
        return out
    # only pixels within 2 h of a wanted one (on both axes) have a weight: work in that window
    reach = 2 * int(half_width)
    rows, cols = np.flatnonzero(want.any(axis=1)), np.flatnonzero(want.any(axis=0))
    y0, y1 = max(rows[0] - reach, 0), min(rows[-1] + reach + 1, want.shape[0])
    x0, x1 = max(cols[0] - reach, 0), min(cols[-1] + reach + 1, want.shape[1])
    window = (slice(y0, y1), slice(x0, x1))
    sub = out[window]
    sub[want[window]] = _plane_fit(values[window], known[window], want[window],
                                   int(half_width))
    return out


def _plane_fit(values: np.ndarray, known: np.ndarray, want: np.ndarray, half_width: int
               ) -> np.ndarray:
    """:func:`smooth_prior`'s fit at the ``want`` pixels (NaN where no known pixel is in
    reach)."""
    size = 2 * half_width + 1
    ny, nx = values.shape
    ys = (np.arange(ny, dtype=np.float64)[:, None] - 0.5 * (ny - 1)) / half_width
    xs = (np.arange(nx, dtype=np.float64)[None, :] - 0.5 * (nx - 1)) / half_width
    w = known.astype(np.float64)
    wz = np.where(known, values, 0.0)
    # sum_q f(q) K(q - p) (up to a constant factor) for the nine f = w, w y, w x, w y^2,
    # w y x, w x^2, wz, wz y, wz x, at the wanted pixels. Along x (the last axis) a factor of
    # y is a constant, so five arrays are filtered along x and multiplied by y before filtering
    # along y. In float32 (scipy's box filter is four times faster in it; it sums in double);
    # the solve is float64.
    along_x = np.stack([w, w * xs, w * xs * xs, wz, wz * xs]).astype(np.float32)
    for _ in range(2):
        along_x = ndimage.uniform_filter1d(along_x, size, axis=2, mode="constant")
    fw, fwx, fwxx, fz, fzx = along_x
    y32 = ys.astype(np.float32)
    stack = np.stack([fw, fw * y32, fwx, fw * y32 * y32, fwx * y32, fwxx, fz, fz * y32, fzx])
    for _ in range(2):
        stack = ndimage.uniform_filter1d(stack, size, axis=1, mode="constant")
    a0, ay, ax, ayy, axy, axx, b0, by, bx = stack[:, want].astype(np.float64)
    py = np.broadcast_to(ys, values.shape)[want]
    px = np.broadcast_to(xs, values.shape)[want]
    m00 = a0
    m10, m01 = ay - py * a0, ax - px * a0
    m20 = ayy - 2.0 * py * ay + py * py * a0
    m02 = axx - 2.0 * px * ax + px * px * a0
    m11 = axy - px * ay - py * ax + px * py * a0
    r0, r1, r2 = b0, by - py * b0, bx - px * b0
    # a = first component of M^-1 r, M = [[m00, m10, m01], [m10, m20, m11], [m01, m11, m02]]
    c00 = m20 * m02 - m11 * m11
    c01 = m01 * m11 - m10 * m02
    c02 = m10 * m11 - m01 * m20
    det = m00 * c00 + m10 * c01 + m01 * c02
    # the box filter returns means: one known pixel at the reach (weight 1 x 1) gives size^-4
    reached = m00 > 0.5 / float(size) ** 4
    with np.errstate(invalid="ignore", divide="ignore"):
        first = (c00 * r0 + c01 * r1 + c02 * r2) / det
        mean = r0 / m00
    # relative to the float32 moments' rounding (~1e-6): a spread of one pixel in the box
    # of half-width h gives ~1/(4 h^2) >= 4e-4 for h <= 24
    good = reached & (np.abs(det) > 1.0e-4 * np.maximum(m00 * m20 * m02, 1e-300))
    return np.where(good, first, np.where(reached, mean, np.nan))


@dataclasses.dataclass(frozen=True)
class PatchInputs:
    """The network's input for one patch and what is needed to use its output.

    ``image`` is ``(5, rows, cols)`` float32: standardised known values (0 elsewhere), the
    known mask, the standardised radial prior (0 where not usable), the usable mask and the
    standardised tangential fill (the same along rows); with ``smooth`` a sixth channel, the
    standardised :func:`smooth_prior` (the radial prior where it has no value). ``rows``,
    ``cols``: patch coordinates of the hole pixels; ``mu``, ``sigma`` the standardisation;
    ``ok``: enough known pixels to run the network.
    """

    image: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    mu: float
    sigma: float
    ok: bool
    prior: np.ndarray | None = None


def patch_inputs(patch: PolarPatch, y: np.ndarray, known: np.ndarray, usable: np.ndarray,
                 hole_ys: np.ndarray, hole_xs: np.ndarray, *,
                 sampler: Callable[[PolarPatch, np.ndarray], np.ndarray] | None = None,
                 prior: np.ndarray | None = None, smooth: bool = False) -> PatchInputs:
    """Sample, fill radially and standardise one patch (module docstring).

    ``y``: normalised image (any value where not known), ``known``/``usable`` its masks;
    ``hole_ys``/``hole_xs``: the hole pixels this patch fills, all in these arrays' pixels.
    ``sampler(patch, arrays)``: :func:`sample_patch` (numpy, float64) or an equivalent (the
    network's inference samples with ``torch`` in float32, 20 times faster). ``prior``: a
    fill of the array (finite on ``usable``) that replaces the polar radial prior (channel 2
    is then its samples, and ``PatchInputs.prior`` its standardised values at the holes).
    ``smooth``: add the channel of :func:`smooth_prior` (half-width :func:`smooth_reach` of
    the hole pixels' patch coordinates).
    """
    layers = [np.where(known, y, 0.0), known, usable]
    if prior is not None:
        layers.append(np.where(usable, prior, 0.0))
    stack = np.stack(layers).astype(np.float64)
    sampled = (sampler or sample_patch)(patch, stack)
    s_y, s_k, s_u = sampled[:3]
    k = s_k > 1.0 - MASK_TOLERANCE
    u = s_u > 1.0 - MASK_TOLERANCE
    count = int(k.sum())
    if count:
        mu = float(s_y[k].mean())
        sigma = max(float(s_y[k].std()), SIGMA_FLOOR)
    else:
        mu, sigma = 0.0, 1.0
    z = (s_y - mu) / sigma
    if prior is None:
        along = polar_prior(z, k, u, axis=0)
        at_holes = None
    else:
        along = np.where(u, (sampled[3] - mu) / sigma, 0.0)
        at_holes = (np.asarray(prior[hole_ys, hole_xs], np.float64) - mu) / sigma
    across = polar_prior(z, k, u, axis=1)
    rows, cols = patch.coordinates(hole_ys, hole_xs)
    layers = [np.where(k, z, 0.0), k, along, u, across]
    if smooth:
        flat = smooth_prior(z, k, u, smooth_reach(rows, cols))
        layers.append(np.where(np.isfinite(flat), flat, along))
    image = np.stack(layers).astype(np.float32)
    return PatchInputs(image=image, rows=rows, cols=cols, mu=mu, sigma=sigma,
                       ok=count >= MIN_KNOWN, prior=at_holes)


def hole_regions(holes: np.ndarray, *, cell: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """The hole pixels grouped into 8-connected regions: ``[(ys, xs), ...]``.

    Labelled on a grid of ``cell x cell`` cells first (a 1024 x 1024 mask costs a reduction
    and a label of 16 384 cells, not of a million pixels), then exactly within each group of
    touching cells.
    """
    holes = np.asarray(holes, bool)
    ny, nx = holes.shape
    py, px = -ny % cell, -nx % cell
    padded = np.pad(holes, ((0, py), (0, px))) if (py or px) else holes
    cells = padded.reshape(padded.shape[0] // cell, cell, padded.shape[1] // cell,
                           cell).any(axis=(1, 3))
    labels, n = ndimage.label(cells, _EIGHT)
    out = []
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        y0, y1 = sl[0].start * cell, min(sl[0].stop * cell, ny)
        x0, x1 = sl[1].start * cell, min(sl[1].stop * cell, nx)
        mine = np.repeat(np.repeat(labels[sl] == lab, cell, 0), cell, 1)
        sub = holes[y0:y1, x0:x1] & mine[:y1 - y0, :x1 - x0]
        sub_labels, m = ndimage.label(sub, _EIGHT)
        if m == 1:
            ys, xs = np.nonzero(sub)
            out.append((ys + y0, xs + x0))
            continue
        for k in range(1, m + 1):
            ys, xs = np.nonzero(sub_labels == k)
            out.append((ys + y0, xs + x0))
    return out
