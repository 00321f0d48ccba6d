"""Radial interpolation of holes about the Sun centre (numpy).

Coronal structure is close to radial: streamers, rays and the K and F corona vary slowly along a
ray from the Sun centre and fast across rays. A hole pixel ``p`` at distance ``r`` from the
centre ``c`` is therefore filled along its own ray (issue 10, "plain radial interpolation"):

    u      = (p - c) / r                                    the ray's unit vector
    p_in   = p - d_in u,   p_out = p + d_out u              the nearest observed pixels
    f(p)   = v(p_in) + (v(p_out) - v(p_in)) d_in / (d_in + d_out)

``p_in`` and ``p_out`` are found by walking from ``p`` towards and away from the centre in steps
of ``step`` pixels and taking the first position whose nearest pixel (rounded coordinates) is
observed: finite and not a hole; ``d_in`` and ``d_out`` are the distances from ``p`` to those
pixels' centres projected on the ray. A walk stops without a value where it leaves the frame or
reaches an unusable pixel (NaN and not a hole: the occulter, pylon, field stop), so no value is
carried across the occulter. With a value on one side only the fill is that value (constant
along the ray); with none, or at the centre itself (``r = 0``), the pixel is left NaN for the
caller to fill another way (:func:`lascoproc.inpaint.fill.fill` uses the biharmonic fill there).

Coordinates: ``center = (x, y)`` in 0-based pixel coordinates of the array, ``x`` the column and
``y`` the row; a FITS header's ``(CRPIX1 - 1, CRPIX2 - 1)`` for an image stored bottom row first.
The centre may lie outside the array (a subfield).
"""

from __future__ import annotations

import numpy as np

__all__ = ["radial_fill", "ray_walk"]

#: Default step (pixels) of the walk along the ray.
STEP = 0.5


def _check(values: np.ndarray, holes: np.ndarray, center) -> tuple[np.ndarray, np.ndarray,
                                                                   float, float]:
    values = np.asarray(values, dtype=np.float64)
    holes = np.asarray(holes, dtype=bool)
    if values.ndim != 2 or holes.shape != values.shape:
        raise ValueError(f"values {values.shape} and holes {holes.shape} must be the same 2-D "
                         "shape")
    try:
        cx, cy = (float(v) for v in center)
    except (TypeError, ValueError) as err:
        raise ValueError(f"center must be (x, y), not {center!r}") from err
    if not (np.isfinite(cx) and np.isfinite(cy)):
        raise ValueError(f"center must be finite, not {center!r}")
    return values, holes, cx, cy


def ray_walk(values: np.ndarray, holes: np.ndarray, center, ys: np.ndarray, xs: np.ndarray,
             direction: int, *, step: float = STEP, max_distance: float | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """The first observed pixel from each ``(ys[k], xs[k])`` along its ray (module docstring).

    Parameters
    ----------
    values, holes, center
        As :func:`radial_fill`.
    ys, xs
        Integer pixel positions to walk from.
    direction
        ``-1`` towards the centre, ``+1`` away from it.
    step
        Step of the walk (pixels).
    max_distance
        Stop a walk after this distance (default: until it leaves the frame).

    Returns
    -------
    value, distance
        The observed value reached and the distance to its pixel along the ray; NaN where the
        walk stopped without one.
    """
    values, holes, cx, cy = _check(values, holes, center)
    if direction not in (-1, 1):
        raise ValueError(f"direction must be -1 or +1, not {direction!r}")
    if step <= 0:
        raise ValueError(f"step must be positive, not {step}")
    return _walk(values, _lookup(values, holes), cx, cy, ys, xs, direction, step, max_distance)


def _lookup(values: np.ndarray, holes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a walk reads, flat, with a one-pixel border: per pixel 0 hole (walk on), 1
    observed (stop with it), 2 outside the field or the frame (stop without; the border
    catches walks leaving the frame); and the values."""
    ny, nx = values.shape
    status = np.full((ny + 2, nx + 2), 2, np.int8)
    inner = status[1:-1, 1:-1]
    inner[np.isfinite(values)] = 1
    inner[holes] = 0
    return status.ravel(), np.pad(values, 1).ravel()


def _walk(values, lookup, cx, cy, ys, xs, direction, step, max_distance):
    """:func:`ray_walk` on checked arguments, with the frame's :func:`_lookup`."""
    status, padded = lookup
    ny, nx = values.shape
    xs = np.asarray(xs, dtype=np.int64)
    ys = np.asarray(ys, dtype=np.int64)
    dx, dy = xs - cx, ys - cy
    r = np.hypot(dx, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        ux, uy = direction * dx / r, direction * dy / r
    width = nx + 2
    value = np.full(xs.size, np.nan)
    distance = np.full(xs.size, np.nan)
    todo = np.flatnonzero(r > 0)
    limit = max_distance if max_distance is not None else float(np.hypot(nx, ny))
    # float32 positions are exact enough: the rounded pixel is what matters
    px, py = xs.astype(np.float32), ys.astype(np.float32)
    vx, vy = ux.astype(np.float32), uy.astype(np.float32)
    k, chunk = 1, 16
    while todo.size and k * step <= limit:
        # the next `chunk` steps of every walk still going, at once
        d = ((k + np.arange(chunk)) * step).astype(np.float32)
        d = d[d <= limit]
        qx = px[todo, None] + d * vx[todo, None]
        qy = py[todo, None] + d * vy[todo, None]
        np.rint(qx, out=qx)
        np.rint(qy, out=qy)
        np.clip(qx, -1, nx, out=qx)
        np.clip(qy, -1, ny, out=qy)
        qy += 1
        qy *= width
        qx += qy + 1
        index = qx.astype(np.int64)
        state = status[index]
        if direction < 0:  # a walk towards the centre ends there
            state[d[None, :] >= r[todo, None]] = 2
        stop = state != 0
        ended = stop.any(axis=1)
        first = np.argmax(stop, axis=1)
        at = np.arange(todo.size)
        rows = np.flatnonzero(ended & (state[at, first] == 1))
        found = todo[rows]
        hit = index[rows, first[rows]]
        value[found] = padded[hit]
        # distance along the ray to the pixel reached (its projection on the ray)
        hy, hx = np.divmod(hit, width)
        distance[found] = np.abs((hx - 1 - xs[found]) * ux[found]
                                 + (hy - 1 - ys[found]) * uy[found])
        todo = todo[~ended]
        k += d.size
        chunk = min(2 * chunk, 256)
    return value, distance


def radial_fill(values: np.ndarray, holes: np.ndarray, center, *, step: float = STEP
                ) -> np.ndarray:
    """Fill ``holes`` by linear interpolation along rays from ``center`` (module docstring).

    Parameters
    ----------
    values
        2-D image; finite values outside the holes are the data, NaN pixels outside the holes
        are unusable (outside the field).
    holes
        Boolean mask of the pixels to fill.
    center
        ``(x, y)``: the Sun centre in 0-based pixel coordinates (column, row).
    step
        Step of the walk along each ray (pixels).

    Returns
    -------
    numpy.ndarray
        float64 copy of ``values``; hole pixels filled, NaN where no observed pixel was reached
        on either side of the hole along the ray.
    """
    values, holes, cx, cy = _check(values, holes, center)
    out = values.copy()
    ys, xs = np.nonzero(holes)
    out[ys, xs] = np.nan
    if not ys.size:
        return out
    if step <= 0:
        raise ValueError(f"step must be positive, not {step}")
    lookup = _lookup(values, holes)  # one for both walks
    v_in, d_in = _walk(values, lookup, cx, cy, ys, xs, -1, step, None)
    v_out, d_out = _walk(values, lookup, cx, cy, ys, xs, +1, step, None)
    with np.errstate(invalid="ignore"):
        both = v_in + (v_out - v_in) * d_in / (d_in + d_out)
    fill = np.where(np.isnan(v_in), v_out, np.where(np.isnan(v_out), v_in, both))
    out[ys, xs] = fill
    return out
