"""LASCO sun centre and roll of level 1, for many frames at once.

Vectorised forms of the per-frame rules of :mod:`lascoproc.kernels.lasco_geometry`
(``level1_pointing``, ``window_slices``, ``occulter_center_in_frame``; the same formulas, see
there and ``reduce_level_1.pro`` 1.68), and the pointing of frames after the last day of the
star-fitted roll/centre tables:

``reduce_level_1.pro`` 1.68, when ``adjust_hdr_tcr`` returns nothing (``DATE-OBS`` after
``LAST_DAY`` of ``c2_c3_last_post_recovery_day.sav``), calls::

    r = get_roll_or_xy(hdr, 'ROLL', rsrc, /degrees, /median)
    c = get_sun_center(hdr, csrc, /median, FULL=1024)

Neither routine is public (docs/level1_port.md). What is known of them:

- ``get_sun_center`` returns default centres when ``get_roll_or_xy`` has none: C2
  ``(510.2, 506.5)``, C3 ``(518.2, 532.5)`` full-frame IDL pixels (CorKit 1.0.16's port,
  ``get_sun_center``). The real 2023 C3 level-0.5 header (``33785492.fts``, after the tables
  end) confirms C3's: ``reduce_refcoord.pro`` 1.12 writes ``CRPIX = GET_SUN_CENTER(...) + 1``
  and the header holds ``CRPIX1/2 = 519.2, 533.5`` for ``R1COL = 20, R1ROW = 1``.
- ``get_roll_or_xy`` then returns the spacecraft roll (SOHO attitude files) plus an instrument
  offset, ``defroll`` C2 +0.50 deg, C3 -0.23 deg (CorKit's port; the synthetic roll tables use
  the same typical rolls). The level-0.5 ``CROTA1`` was written by the same call
  (``reduce_refcoord.pro`` 1.12: ``CROTA1`` = ``GET_SUN_CENTER(..., ROLL=crota)``), so the
  spacecraft roll is ``CROTA1 - offset`` and the level-1 roll ``CROTA1`` again, unless the
  attitude files changed between the level-0.5 and level-1 processing (the SOHO attitude files
  themselves are not read here).
"""

from __future__ import annotations

import numpy as np

from lascoproc.kernels.lasco_geometry import KEYHOLE_CROTA_DEG, MIN_ROLL_DEG

__all__ = [
    "SUN_CENTER_DEFAULT",
    "INSTRUMENT_ROLL_OFFSET_DEG",
    "window_problems",
    "frame_binning",
    "occulter_in_frame",
    "sun_center_from_crpix",
    "fallback_pointing",
    "level1_pointing",
    "angle_gap",
]

#: ``get_sun_center``'s default sun centre (0-based full-frame IDL pixels) when the tables end.
SUN_CENTER_DEFAULT = {"C2": (510.2, 506.5), "C3": (518.2, 532.5)}
#: ``get_roll_or_xy``'s instrument roll offsets (``defroll``, degrees) added to SOHO's roll.
INSTRUMENT_ROLL_OFFSET_DEG = {"C2": 0.50, "C3": -0.23}


def window_problems(r1col, r1row, r2col, r2row) -> np.ndarray:
    """Per frame, ``""`` or the reason the read-out window is not inside the 1024 x 1024 CCD
    (``lasco_geometry.window_slices``: ``0 <= R1COL-20 <= R2COL-20 < 1024``, rows alike)."""
    r1c, r1r, r2c, r2r = (np.asarray(v, dtype=np.int64) for v in (r1col, r1row, r2col, r2row))
    x1, x2, y1, y2 = r1c - 20, r2c - 20, r1r - 1, r2r - 1
    ok = (0 <= x1) & (x1 <= x2) & (x2 < 1024) & (0 <= y1) & (y1 <= y2) & (y2 < 1024)
    out = np.full(ok.shape, "", dtype=object)
    for i in np.flatnonzero(~ok):
        out[i] = (f"read-out window R1COL..R2COL={r1c[i]}..{r2c[i]}, "
                  f"R1ROW..R2ROW={r1r[i]}..{r2r[i]} is not inside the 1024 x 1024 CCD")
    return out


def frame_binning(sumcol, sumrow, lebxsum, lebysum) -> tuple[np.ndarray, np.ndarray]:
    """Total summing ``(xsum, ysum) = ((SUMCOL > 1) (LEBXSUM > 1), (SUMROW > 1) (LEBYSUM > 1))``
    (IDL ``>`` is the maximum; ``reduce_level_1.pro`` 1.68)."""
    xsum = np.maximum(np.asarray(sumcol, np.int64), 1) * np.maximum(np.asarray(lebxsum,
                                                                               np.int64), 1)
    ysum = np.maximum(np.asarray(sumrow, np.int64), 1) * np.maximum(np.asarray(lebysum,
                                                                               np.int64), 1)
    return xsum, ysum


def occulter_in_frame(occ_x, occ_y, r1col, r1row, xsum, ysum) -> tuple[np.ndarray, np.ndarray]:
    """``lasco_geometry.occulter_center_in_frame`` for arrays: ``((x - (R1COL-20))/xsum,
    (y - (R1ROW-1))/ysum)``."""
    return ((np.asarray(occ_x, float) - (np.asarray(r1col) - 20)) / xsum,
            (np.asarray(occ_y, float) - (np.asarray(r1row) - 1)) / ysum)


def sun_center_from_crpix(crpix1, crpix2, r1col, r1row, xsum, ysum
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Full-frame 0-based sun centre of a level-0.5 header: ``(CRPIX - 1) * sum + offset``."""
    return ((np.asarray(crpix1, float) - 1.0) * xsum + (np.asarray(r1col) - 20),
            (np.asarray(crpix2, float) - 1.0) * ysum + (np.asarray(r1row) - 1))


def fallback_pointing(detector: np.ndarray, crota1_level05: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sun centre and roll after the tables end (module docstring): ``get_sun_center``'s
    default centre and ``(CROTA1 - offset) + offset``, i.e. the level-0.5 roll.

    Returns ``(sun_x, sun_y, roll)``; NaN centres for detectors other than C2/C3.
    """
    det = np.asarray(detector, dtype=object)
    x = np.full(det.shape, np.nan)
    y = np.full(det.shape, np.nan)
    roll = np.asarray(crota1_level05, dtype=np.float64).copy()
    for name, (cx, cy) in SUN_CENTER_DEFAULT.items():
        sel = det == name
        x[sel], y[sel] = cx, cy
        offset = INSTRUMENT_ROLL_OFFSET_DEG[name]
        spacecraft = roll[sel] - offset
        roll[sel] = spacecraft + offset
    return x, y, roll


def angle_gap(a, b) -> np.ndarray:
    """Smallest absolute difference of two angles in degrees."""
    return np.abs((np.asarray(a, float) - np.asarray(b, float) + 180.0) % 360.0 - 180.0)


def level1_pointing(sun_x, sun_y, roll, crota1_level05, r1col, r1row, xsum, ysum, *,
                    roll_correction: bool = True) -> dict[str, np.ndarray]:
    """``lasco_geometry.level1_pointing`` for arrays of frames (the same IDL rule)::

        if |CROTA1| > 170: (cx, cy) = 1023 - (cx, cy); roll -= 180; rectify = 180
        xc = (cx - R1COL + 20)/xsum;  yc = (cy - R1ROW + 1)/ysum;  CRPIX = (xc+1, yc+1)
        crota = roll + 360 if roll < -180 else roll
        if roll_correction and |roll| >= 1: rotate by roll about (xc, yc); crota = 0;
                                            rectify += roll

    Returns ``keyhole, rotation, pivot_x, pivot_y, crpix1, crpix2, crota, rectify`` arrays
    (``pivot`` 0 where not rotated, as the plan has it).
    """
    cx = np.asarray(sun_x, dtype=np.float64)
    cy = np.asarray(sun_y, dtype=np.float64)
    r = np.asarray(roll, dtype=np.float64)
    keyhole = np.abs(np.asarray(crota1_level05, dtype=np.float64)) > KEYHOLE_CROTA_DEG
    cx = np.where(keyhole, 1023.0 - cx, cx)
    cy = np.where(keyhole, 1023.0 - cy, cy)
    r = np.where(keyhole, r - 180.0, r)
    rectify = np.where(keyhole, 180.0, 0.0)
    xc = (cx - np.asarray(r1col) + 20) / xsum
    yc = (cy - np.asarray(r1row) + 1) / ysum
    crota = np.where(r < -180.0, r + 360.0, r)
    rotate = (np.abs(r) >= MIN_ROLL_DEG) if roll_correction else np.zeros(r.shape, bool)
    return {
        "keyhole": keyhole,
        "rotation": np.where(rotate, r, 0.0),
        "pivot_x": np.where(rotate, xc, 0.0),
        "pivot_y": np.where(rotate, yc, 0.0),
        "crpix1": xc + 1.0,
        "crpix2": yc + 1.0,
        "crota": np.where(rotate, 0.0, crota),
        "rectify": np.where(rotate, rectify + r, rectify),
    }
