"""The per-frame ``frame_status`` values of level-1 cubes, in one place (calibration, the
writers and the run report use them; the per-pixel bits are :mod:`lascoproc.kernels.quality`).

0 only for a frame calibrated cleanly. 1: its pixels could not be read (no longer written: a
read that fails leaves its region for ``--resume``; kept so that older stores read the same);
2: not calibrated, with the reason in ``frame_status_reason`` (found when planning: unknown
filter/polarizer, bad exposure time, geometry off the CCD...); 3: no data (every pixel or every
telemetry block lost, or every pixel not lost holding one value: saturated or corrupted).
"""

__all__ = ["FRAME_STATUS", "FRAME_OK", "FRAME_UNREADABLE", "FRAME_NOT_CALIBRATED",
           "FRAME_NO_DATA"]

#: ``frame_status`` values (CF ``flag_values`` / ``flag_meanings``).
FRAME_STATUS = {0: "ok", 1: "unreadable", 2: "not_calibrated", 3: "no_data"}
FRAME_OK, FRAME_UNREADABLE, FRAME_NOT_CALIBRATED, FRAME_NO_DATA = 0, 1, 2, 3
