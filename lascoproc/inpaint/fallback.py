"""Classical (non-learned) hole filling: harmonic and biharmonic interpolation (numpy/scipy).

The holes are filled with the smoothest surface that meets the observed pixels around them:

- ``harmonic``: ``(L u)_p = 0`` at every hole pixel ``p`` (Laplace's equation; a membrane),
- ``biharmonic``: ``(L^2 u)_p = 0`` (a thin plate; continuous slope across the hole edge, the
  classical choice for smooth images, e.g. Damelin & Hoang 2018, "On surface completion and
  image inpainting by biharmonic functions"),

with ``L`` the graph Laplacian of the 4-connected grid of *usable* pixels (holes and observed
pixels): ``(L u)_p = sum over usable neighbours q of (u_p - u_q)``. Pixels that are neither
(outside the field of view, NaN, or off the frame) are not in the graph, so the frame edge and
the occulter are natural (zero-flux) boundaries and never pull the fill towards 0. Only hole
pixels are unknowns; the observed pixels within two pixels of a hole enter as boundary values,
so a frame with 0.2% of its pixels missing solves a system of that size (sparse LU).

The system is symmetric positive definite when every hole connects (through usable pixels) to
an observed one; a hole region that does not (enclosed by the occulter, say) has no data to
interpolate and gets the median of the observed pixels.

Works on any array; :func:`lascoproc.inpaint.fill` calls it on the asinh-normalised image
(:mod:`lascoproc.inpaint.normalise`), where the corona is much closer to smooth than in
linear units.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import linalg as splinalg

__all__ = ["FALLBACK_KINDS", "interpolate_holes"]

FALLBACK_KINDS = ("biharmonic", "harmonic")

_CROSS = ndimage.generate_binary_structure(2, 1)
_EIGHT = np.ones((3, 3), bool)
#: Hole regions per frame above which they are grouped by one dilation of the frame.
_MANY_REGIONS = 256
#: Factorised systems kept for reuse (:func:`_system`): lost blocks repeat the same geometry
#: (a whole 32 x 32 block in the field), and one entry of 1024 unknowns holds ~0.3 MB.
SYSTEM_CACHE_SIZE = 64
_SYSTEMS: OrderedDict = OrderedDict()
_SYSTEMS_LOCK = threading.Lock()


def _laplacian(usable: np.ndarray, index: np.ndarray, rows: np.ndarray, n: int
               ) -> sparse.csr_matrix:
    """Rows ``rows`` (flat pixel indices) of the graph Laplacian over the usable pixels, as a
    ``len(rows) x n`` matrix in the column numbering ``index`` (-1 = not a column)."""
    ny, nx = usable.shape
    y, x = np.divmod(rows, nx)
    data, cols, rr = [], [], []
    degree = np.zeros(rows.size)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        yy, xx = y + dy, x + dx
        inside = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
        ok = np.zeros(rows.size, bool)
        ok[inside] = usable[yy[inside], xx[inside]]
        degree += ok
        col = index[yy[ok], xx[ok]]
        if np.any(col < 0):
            raise AssertionError("a neighbour of a Laplacian row is not a column")
        rr.append(np.flatnonzero(ok))
        cols.append(col)
        data.append(-np.ones(col.size))
    own = index.ravel()[rows]
    rr.append(np.arange(rows.size))
    cols.append(own)
    data.append(degree)
    return sparse.csr_matrix((np.concatenate(data), (np.concatenate(rr), np.concatenate(cols))),
                             shape=(rows.size, n))


def interpolate_holes(values: np.ndarray, holes: np.ndarray, *, kind: str = "biharmonic"
                      ) -> np.ndarray:
    """Fill ``holes`` of ``values`` by harmonic or biharmonic interpolation.

    Parameters
    ----------
    values
        2-D image; finite values outside the holes are the data, NaN pixels outside the holes
        are not usable (outside the field).
    holes
        Boolean mask of the pixels to fill.
    kind
        ``"biharmonic"`` (default) or ``"harmonic"``.

    Returns
    -------
    numpy.ndarray
        float64 copy of ``values`` with the holes filled; other pixels unchanged.
    """
    if kind not in FALLBACK_KINDS:
        raise ValueError(f"fallback kind must be one of {FALLBACK_KINDS}, not {kind!r}")
    values = np.asarray(values, dtype=np.float64)
    holes = np.asarray(holes, dtype=bool)
    if values.ndim != 2 or holes.shape != values.shape:
        raise ValueError(f"values {values.shape} and holes {holes.shape} must be the same 2-D "
                         "shape")
    out = values.copy()
    if not holes.any():
        return out
    finite = np.isfinite(values)
    if not (finite & ~holes).any():
        out[holes] = 0.0
        return out
    reach = 2 if kind == "biharmonic" else 1
    median = None
    # independent systems per cluster of holes: each needs the pixels within reach + 1 of its
    # holes (the Laplacian rows of the ring around them), so a window padded by that much
    # holds everything, and the frame is not touched elsewhere
    labels, n = ndimage.label(holes, _EIGHT)
    merge = n <= _MANY_REGIONS
    if not merge:  # grouping boxes pairwise would cost more than one dilation of the frame:
        # regions closer than 2 (reach + 1) + 1 pixels fall in one cluster of the dilation
        labels, n = ndimage.label(ndimage.binary_dilation(holes, _EIGHT, iterations=reach + 1),
                                  _EIGHT)
        labels = np.where(holes, labels, 0)
    for window, members in _clusters(ndimage.find_objects(labels), reach + 1, holes.shape,
                                     merge):
        h = np.isin(labels[window], members)
        v = values[window]
        known = finite[window] & ~holes[window]
        orphans = _orphans(h, known)
        if orphans.any():  # no observed pixel connects to them: nothing to interpolate from
            if median is None:
                median = float(np.median(values[finite & ~holes]))
            out[window][orphans] = median
            h = h & ~orphans
        if h.any():
            out[window][h] = _solve(v, h, known | holes[window], reach, kind)
    return out


def _clusters(boxes: list, pad: int, shape: tuple[int, int], merge: bool = True
              ) -> list[tuple[tuple, list]]:
    """Groups of hole regions (their bounding ``boxes``, label ``k + 1`` for ``boxes[k]``)
    whose boxes, widened by ``pad``, overlap (transitively; ``merge=False``: each region
    alone), each with the union of its widened boxes clipped to the frame: ``[(window,
    labels), ...]``. Regions farther apart than ``2 pad`` in rows or columns share no
    equation."""
    ny, nx = shape
    groups = [[max(b[0].start - pad, 0), min(b[0].stop + pad, ny), max(b[1].start - pad, 0),
               min(b[1].stop + pad, nx), [k + 1]] for k, b in enumerate(boxes)]
    merged = merge
    while merged:  # few regions per frame; repeat until no two windows overlap
        merged = False
        out: list = []
        for g in groups:
            for o in out:
                if g[0] < o[1] and o[0] < g[1] and g[2] < o[3] and o[2] < g[3]:
                    o[0], o[1] = min(o[0], g[0]), max(o[1], g[1])
                    o[2], o[3] = min(o[2], g[2]), max(o[3], g[3])
                    o[4] += g[4]
                    merged = True
                    break
            else:
                out.append(g)
        groups = out
    return [((slice(g[0], g[1]), slice(g[2], g[3])), g[4]) for g in groups]


def _orphans(holes: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Hole pixels whose 4-connected region of usable pixels has no observed one: exactly
    the 4-connected hole regions with no observed 4-neighbour (a path from a hole to an
    observed pixel runs through holes up to the first observed one, a 4-neighbour of its
    region)."""
    labels, n = ndimage.label(holes, _CROSS)
    if not n:
        return np.zeros(holes.shape, bool)
    touching = np.unique(labels[ndimage.binary_dilation(known, _CROSS) & holes])
    fed = np.zeros(n + 1, bool)
    fed[touching] = True
    fed[0] = True
    return ~fed[labels]


def _solve(values: np.ndarray, holes: np.ndarray, usable: np.ndarray, reach: int, kind: str
           ) -> np.ndarray:
    """The interpolated values at ``holes`` (flat, in row-major order) of one window."""
    lu, a_hk, known_flat = _system(holes, usable, reach, kind)
    return lu.solve(-(a_hk @ values.ravel()[known_flat]))


def _system(holes: np.ndarray, usable: np.ndarray, reach: int, kind: str):
    """The factorised system of one window (:func:`_build_system`), from a small LRU cache
    keyed by the window's geometry (hole and usable pixels): the system does not depend on
    the values, and lost blocks repeat one geometry, so a frame with five whole 32 x 32 blocks
    factorises once. Same input, same factors: the fill is the same bit for bit."""
    key = (kind, reach, holes.shape, np.packbits(holes).tobytes(),
           np.packbits(usable).tobytes())
    with _SYSTEMS_LOCK:
        hit = _SYSTEMS.get(key)
        if hit is not None:
            _SYSTEMS.move_to_end(key)
            return hit
    built = _build_system(holes, usable, reach, kind)
    with _SYSTEMS_LOCK:
        _SYSTEMS[key] = built
        while len(_SYSTEMS) > SYSTEM_CACHE_SIZE:
            _SYSTEMS.popitem(last=False)
    return built


def _build_system(holes: np.ndarray, usable: np.ndarray, reach: int, kind: str):
    """``(lu, a_hk, known)`` of one window: the sparse LU of the hole-by-hole block of the
    system, the hole-by-boundary block, and the flat indices of the boundary pixels; the
    holes' values are ``lu.solve(-(a_hk @ values.ravel()[known]))``."""
    ring1 = ndimage.binary_dilation(holes, _CROSS) & usable
    domain = ndimage.binary_dilation(holes, _CROSS, iterations=reach) & usable
    index = np.full(holes.shape, -1, dtype=np.int64)
    flat_domain = np.flatnonzero(domain)
    index.ravel()[flat_domain] = np.arange(flat_domain.size)
    hole_rows = np.flatnonzero(holes)
    if kind == "harmonic":
        system = _laplacian(usable, index, hole_rows, flat_domain.size)
    else:
        # (L^2)[holes, :] = L[holes, ring1] @ L[ring1, domain], and L[holes, ring1] is the
        # transpose of L[ring1, holes] (L is symmetric): every neighbour of a hole is in ring1.
        lap_ring = _laplacian(usable, index, np.flatnonzero(ring1), flat_domain.size)
        lap_h = lap_ring[:, index.ravel()[hole_rows]].T.tocsr()
        system = lap_h @ lap_ring
    is_hole = holes.ravel()[flat_domain]
    a_hh = system[:, np.flatnonzero(is_hole)]
    a_hk = system[:, np.flatnonzero(~is_hole)].tocsr()
    # symmetric positive definite: a symmetric ordering of the LU is ~1.5x faster
    lu = splinalg.splu(a_hh.tocsc(), permc_spec="MMD_AT_PLUS_A",
                       options={"SymmetricMode": True})
    return lu, a_hk, flat_domain[~is_hole]
