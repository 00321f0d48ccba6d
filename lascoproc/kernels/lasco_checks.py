"""Checks of LASCO header values that make a frame unusable, with stable reason codes.

One definition of each rule, used by the header validation
(:func:`lascoproc.io.lasco_header.header_problems`) and by the level-1 planning
(:func:`lascoproc.calibrate.plan.plan_level1`, which flags such frames instead of calibrating
them). Codes are stable strings (they appear in run reports); messages say what was found.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SOHO_LAUNCH",
    "PROBLEM_CODES",
    "exposure_time_problems",
    "date_problems",
]

#: SOHO's launch (1995-12-02 08:08 UTC): no LASCO frame is older.
SOHO_LAUNCH = np.datetime64("1995-12-02T00:00:00", "ms")

#: Every reason code and what it means.
PROBLEM_CODES = {
    "exptime_missing": "no EXPTIME in the header",
    "exptime_zero": "EXPTIME is 0",
    "exptime_negative": "EXPTIME is negative",
    "exptime_nonfinite": "EXPTIME is NaN or infinite",
    "date_missing": "no DATE-OBS",
    "date_unparsable": "DATE-OBS/TIME-OBS cannot be read as a time",
    "date_before_launch": "DATE-OBS before SOHO's launch (1995-12-02)",
    "date_in_future": "DATE-OBS after the time of the check",
    "instrument_not_lasco": "INSTRUME is not LASCO",
    "detector_not_c2_c3": "DETECTOR is not C2 or C3",
    "naxis_not_2": "NAXIS is not 2",
    "size_mismatch_window": "NAXIS1/NAXIS2 disagree with the read-out window and summing",
    "keyword_missing": "a keyword calibration needs is missing",
    "unparsable_card": "a header card cannot be parsed (e.g. an unquoted NaN)",
}


def exposure_time_problems(exptime) -> np.ndarray:
    """Per frame ``""`` or ``"code: message"`` for a missing, zero, negative or non-finite
    exposure time (``exptime`` float array; NaN stands for "missing" only through
    ``missing``-aware callers, here NaN is ``exptime_nonfinite``)."""
    t = np.atleast_1d(np.asarray(exptime, dtype=np.float64))
    out = np.full(t.shape, "", dtype=object)
    for i in np.flatnonzero(~np.isfinite(t)):
        out[i] = f"exptime_nonfinite: EXPTIME = {t[i]}"
    for i in np.flatnonzero(t == 0.0):
        out[i] = "exptime_zero: EXPTIME = 0 s"
    for i in np.flatnonzero(t < 0.0):
        out[i] = f"exptime_negative: EXPTIME = {t[i]:g} s"
    return out


def date_problems(time, *, now=None) -> np.ndarray:
    """Per frame ``""`` or ``"code: message"`` for an observation time before SOHO's launch
    or after ``now`` (default: the current UTC time); ``NaT`` is ``date_unparsable``."""
    t = np.atleast_1d(np.asarray(time, dtype="datetime64[ms]"))
    now = np.datetime64("now", "ms") if now is None else np.datetime64(now, "ms")
    out = np.full(t.shape, "", dtype=object)
    for i in np.flatnonzero(np.isnat(t)):
        out[i] = "date_unparsable: no usable DATE-OBS/TIME-OBS"
    valid = ~np.isnat(t)
    for i in np.flatnonzero(valid & (t < SOHO_LAUNCH)):
        out[i] = f"date_before_launch: {t[i]} is before SOHO's launch (1995-12-02)"
    for i in np.flatnonzero(valid & (t > now)):
        out[i] = f"date_in_future: {t[i]} is after {now}"
    return out
