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

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import linalg as splinalg

__all__ = ["FALLBACK_KINDS", "interpolate_holes"]

FALLBACK_KINDS = ("biharmonic", "harmonic")

_CROSS = ndimage.generate_binary_structure(2, 1)


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
    known = np.isfinite(values) & ~holes
    if not known.any():
        out[holes] = 0.0
        return out
    usable = known | holes
    median = float(np.median(values[known]))
    labels, _ = ndimage.label(usable, _CROSS)
    orphans = holes & ~np.isin(labels, np.unique(labels[known]))
    if orphans.any():  # no observed pixel connects to them: nothing to interpolate from
        out[orphans] = median
        holes = holes & ~orphans
        if not holes.any():
            return out
    reach = 2 if kind == "biharmonic" else 1
    ring1 = ndimage.binary_dilation(holes, _CROSS) & usable
    domain = ndimage.binary_dilation(holes, _CROSS, iterations=reach) & usable
    index = np.full(values.shape, -1, dtype=np.int64)
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
    a_hk = system[:, np.flatnonzero(~is_hole)]
    boundary = values.ravel()[flat_domain[~is_hole]]
    # symmetric positive definite: a symmetric ordering of the LU is ~1.5x faster
    lu = splinalg.splu(a_hh.tocsc(), permc_spec="MMD_AT_PLUS_A",
                       options={"SymmetricMode": True})
    solution = lu.solve(-(a_hk @ boundary))
    out.ravel()[flat_domain[is_hole]] = solution
    return out
