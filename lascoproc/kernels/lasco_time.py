"""LASCO times: SolarSoft's UTC/TAI conventions and the DATE-OBS correction of level 1.

Pure numpy, vectorised over frames (no astropy ``Time`` per frame). Two parts:

1. **Time scales** (SolarSoft ``UTC2TAI``, CDS internal times). ``UTC2TAI`` gives TAI seconds
   since 1958-01-01 00:00:00 TAI; for a UTC time after 1972 that is the UTC day count since
   1958-01-01 times 86400, plus the seconds of the day, plus TAI - UTC (the leap seconds,
   :data:`TAI_MINUS_UTC`). CDS internal time is ``{MJD: long, TIME: long}`` with ``TIME`` in
   milliseconds of the day.

2. **The time correction of level 1.** ``reduce_level_1.pro`` 1.68 takes ``DATE-OBS`` from
   ``adjust_hdr_tcr.pro`` 1.13, which calls ``ADJUST_ALL_DATE_OBS``, which fills its version
   from ``TIME_CORRECTION2`` (``time_correction2.pro`` v1.5, 2012/12/12, nathan, NRL; the
   header comment of ``adjust_hdr_tcr.pro`` says "cmnver is defined as strarr(2) in
   time_correction.pro"). ``TIME_CORRECTION2`` returns, for the level-0.5 (OBE) time, the
   "LASCO OBE - SOHO LOBT time difference" in seconds from ``$NRL_LIB/idl/data/calib/
   TIME_DIFF.DAT`` (times before 1997-09-03 and two windows of late 1997 from C2 star-fit
   files ``c2_*_timeoffsets.sav``). ``ADJUST_ALL_DATE_OBS`` itself is not public: that the
   corrected time is ``OBE time - difference`` is inferred from the real level-1 C2 frame
   ``25299383.fts`` (HISTORY "Original date_obs: 2009/02/28 00:06:03.474", level-1
   ``DATE-OBS = 2009-02-28T00:05:33.380``: 30.094 s earlier) and from ``TIME_CORRECTION2``'s
   own message for positive differences ("OBE is running ahead of LOBT by ..."; "So far, all
   deltas have been positive").

``TIME_DIFF.DAT`` (read by ``get_delta_time`` in ``time_correction2.pro``) is binary, 16-byte
records (``ASSOC`` of ``LONARR(4)``): record 0 holds the number of data records ``n`` in its
first long, little-endian; records ``1..n`` hold two CDS times ``[w0, w1]`` (``w0.mjd, w0.time,
w1.mjd, w1.time``). ``w1`` is the key searched for the image time (``BASE_TIME``); the
difference is ``UTC2TAI(w0) - UTC2TAI(w1)``. Byte order: records ``<= 313887`` (up to
2005-12-23T16:53:10.541) are read big-endian, later ones little-endian ("In late 2011 ... this
reversed the endianness"); a record whose first MJD falls outside ``[49718, 60676]`` is read
with the other byte order. The search is ``MODIFIED_BINARY_SEARCH(/BEFORE)`` on ``mjd*86400d
+ 1.e-3*time`` (the millisecond term in single precision, as IDL evaluates it), starting at
record 320000 for times from 2005-12-23 16:53:11 (``unix_file``), else at record 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = [
    "MJD_EPOCH",
    "TAI_MINUS_UTC",
    "TIME_DIFF_ERROR_NONE",
    "TimeDiffTable",
    "C2TimeOffsets",
    "C2_OFFSET_WINDOWS",
    "mjd_of",
    "ms_of_day",
    "utc_to_tai",
    "cds_to_datetime64",
    "parse_time_diff",
    "time_diff_bytes",
    "time_correction2",
    "c2_offset_correction",
    "adjust_all_date_obs",
]

#: MJD 0 (1858-11-17T00:00 UTC) as ``datetime64[D]``.
MJD_EPOCH = np.datetime64("1858-11-17", "D")
_TAI_EPOCH_DAY = np.datetime64("1958-01-01", "D")

#: TAI - UTC in seconds from each date on (IERS Bulletin C; the same table astropy ships,
#: checked in tests). SOHO flew from 1995, so the pre-1972 rubber seconds are not needed.
TAI_MINUS_UTC = (
    ("1972-01-01", 10), ("1972-07-01", 11), ("1973-01-01", 12), ("1974-01-01", 13),
    ("1975-01-01", 14), ("1976-01-01", 15), ("1977-01-01", 16), ("1978-01-01", 17),
    ("1979-01-01", 18), ("1980-01-01", 19), ("1981-07-01", 20), ("1982-07-01", 21),
    ("1983-07-01", 22), ("1985-07-01", 23), ("1988-01-01", 24), ("1990-01-01", 25),
    ("1991-01-01", 26), ("1992-07-01", 27), ("1993-07-01", 28), ("1994-07-01", 29),
    ("1996-01-01", 30), ("1997-07-01", 31), ("1999-01-01", 32), ("2006-01-01", 33),
    ("2009-01-01", 34), ("2012-07-01", 35), ("2015-07-01", 36), ("2017-01-01", 37),
)
_LEAP_DAYS = np.array([np.datetime64(d, "D") for d, _ in TAI_MINUS_UTC])
_LEAP_VALUES = np.array([v for _, v in TAI_MINUS_UTC], dtype=np.float64)

#: ``delta_error`` of a frame the tables do not cover (``TIME_CORRECTION2`` returns -1).
TIME_DIFF_ERROR_NONE = -1.0

#: Record after which ``TIME_DIFF.DAT`` records are little-endian (``get_delta_time``).
_NEWER_RECORD = 313887
#: First record searched for times from ``_UNIX_FROM`` on (``MODIFIED_BINARY_SEARCH``).
_UNIX_FIRST_RECORD = 320000
_UNIX_FROM = np.datetime64("2005-12-23T16:53:11.000", "ms")
#: Plausible MJD range of ``get_delta_time``'s byte-order check (49718 = 1995-01-01; IDL's
#: upper limit 60676 = 2025-01-01 would stop on every record after 2024: widened).
_MJD_PLAUSIBLE = (49718, 99999)
#: ``TIME_CORRECTION2``: a difference > 500 s or < -15 s is an error in the file; the median
#: of the three neighbouring records is used instead.
_DELTA_LIMITS = (-15.0, 500.0)


def mjd_of(time: np.ndarray) -> np.ndarray:
    """Integer MJD (the UTC day) of ``datetime64`` times, ``int64``."""
    day = np.asarray(time, dtype="datetime64[ms]").astype("datetime64[D]")
    return (day - MJD_EPOCH).astype(np.int64)


def ms_of_day(time: np.ndarray) -> np.ndarray:
    """Milliseconds since the start of the UTC day (CDS ``TIME``), ``int64``."""
    t = np.asarray(time, dtype="datetime64[ms]")
    return (t - t.astype("datetime64[D]")).astype(np.int64)


def cds_to_datetime64(mjd: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """CDS internal time ``{MJD, TIME}`` to ``datetime64[ms]``."""
    mjd = np.asarray(mjd, dtype=np.int64)
    ms = np.asarray(ms, dtype=np.int64)
    return (MJD_EPOCH + mjd.astype("timedelta64[D]")).astype("datetime64[ms]") \
        + ms.astype("timedelta64[ms]")


def _tai_minus_utc(day: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(_LEAP_DAYS, day, side="right") - 1
    return np.where(idx >= 0, _LEAP_VALUES[np.clip(idx, 0, None)], 0.0)


def utc_to_tai(time: np.ndarray) -> np.ndarray:
    """SolarSoft ``UTC2TAI``: TAI seconds since 1958-01-01 00:00:00 TAI, ``float64``.

    ``(day - 1958-01-01) * 86400 + seconds of day + (TAI - UTC)``; e.g. 2002-05-21 00:00 UTC is
    ``16211 * 86400 + 32 = 1400630432``. ``NaT`` gives NaN.
    """
    t = np.asarray(time, dtype="datetime64[ms]")
    day = t.astype("datetime64[D]")
    seconds = (t - _TAI_EPOCH_DAY.astype("datetime64[ms]")).astype(np.int64) / 1000.0
    out = seconds + _tai_minus_utc(day)
    return np.where(np.isnat(t), np.nan, out)


def _cds_tai(mjd: np.ndarray, ms: np.ndarray) -> np.ndarray:
    return utc_to_tai(cds_to_datetime64(mjd, ms))


def _search_key(mjd: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """``mjd*8.64d4 + 1.e-3*time``: the millisecond term in single precision, as IDL does."""
    ms32 = np.float32(1.0e-3) * np.asarray(ms, dtype=np.float32)
    return np.asarray(mjd, dtype=np.float64) * 86400.0 + ms32.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class TimeDiffTable:
    """The decoded records of ``TIME_DIFF.DAT`` (index 0 is the header record, unused).

    Attributes
    ----------
    key
        ``w1.mjd*86400 + 1e-3*w1.time`` (IDL's search key), seconds.
    delta
        ``UTC2TAI(w0) - UTC2TAI(w1)`` in seconds (float64; NaN for record 0).
    first, last
        The first and last record times (``w1``), for messages.
    """

    key: np.ndarray
    delta: np.ndarray
    first: np.datetime64
    last: np.datetime64

    @property
    def n_records(self) -> int:
        return len(self.key) - 1


def parse_time_diff(raw: bytes, *, newer_record: int = _NEWER_RECORD) -> TimeDiffTable:
    """Decode ``TIME_DIFF.DAT`` (module docstring: ``get_delta_time`` of ``time_correction2``).

    Raises
    ------
    ValueError
        If the file is shorter than its header record says, or has no data record.
    """
    if len(raw) < 32:
        raise ValueError("TIME_DIFF.DAT holds no data record")
    count = int(np.frombuffer(raw[:4], dtype="<i4")[0])
    available = len(raw) // 16 - 1
    if count < 1 or count > available:
        raise ValueError(f"TIME_DIFF.DAT is truncated or not a TIME_DIFF file: its header says "
                         f"{count} records, it holds {available}")
    body = raw[16:16 * (count + 1)]
    big = np.frombuffer(body, dtype=">i4").reshape(count, 4).astype(np.int64)
    little = np.frombuffer(body, dtype="<i4").reshape(count, 4).astype(np.int64)
    index = np.arange(1, count + 1)
    newer = (index > newer_record)[:, None]
    first_choice = np.where(newer, little, big)
    other = np.where(newer, big, little)
    lo, hi = _MJD_PLAUSIBLE
    bad = (first_choice[:, 0] < lo) | (first_choice[:, 0] > hi)
    words = np.where(bad[:, None], other, first_choice)
    w0_mjd, w0_ms, w1_mjd, w1_ms = words.T
    key = np.concatenate([[np.nan], _search_key(w1_mjd, w1_ms)])
    delta = np.concatenate([[np.nan], _cds_tai(w0_mjd, w0_ms) - _cds_tai(w1_mjd, w1_ms)])
    times = cds_to_datetime64(w1_mjd, w1_ms)
    return TimeDiffTable(key=key, delta=delta, first=times[0], last=times[-1])


def time_diff_bytes(w0: np.ndarray, w1: np.ndarray, *,
                    newer_record: int = _NEWER_RECORD) -> bytes:
    """Encode records ``[w0, w1]`` (``datetime64``) as ``TIME_DIFF.DAT`` (the inverse of
    :func:`parse_time_diff`, for synthetic files)."""
    w0 = np.asarray(w0, dtype="datetime64[ms]")
    w1 = np.asarray(w1, dtype="datetime64[ms]")
    words = np.stack([mjd_of(w0), ms_of_day(w0), mjd_of(w1), ms_of_day(w1)], axis=1)
    n = len(words)
    index = np.arange(1, n + 1)
    head = np.zeros(4, dtype="<i4")
    head[0] = n
    records = np.where((index > newer_record)[:, None],
                       words.astype("<i4").view(np.uint8).reshape(n, 16),
                       words.astype(">i4").view(np.uint8).reshape(n, 16))
    return head.tobytes() + records.tobytes()


def _binary_search_before(keys: np.ndarray, v: np.ndarray, first: np.ndarray,
                          n: int) -> np.ndarray:
    """``MODIFIED_BINARY_SEARCH(/BEFORE)`` for every frame at once (same probe sequence)."""
    b = first.astype(np.int64).copy()
    t = np.full(v.shape, n, dtype=np.int64)
    found = np.zeros(v.shape, dtype=bool)
    result = np.full(v.shape, -1, dtype=np.int64)
    active = (t >= b) & ~found
    while active.any():
        m = (t + b) // 2
        mrec = keys[np.clip(m, 0, n)]
        equal = active & (mrec == v)
        found |= equal
        result[equal] = m[equal]
        up = active & ~equal & (v > mrec)
        down = active & ~equal & ~(v > mrec)
        b[up] = m[up] + 1
        t[down] = m[down] - 1
        active = (t >= b) & ~found
    return np.where(found, result, t)


def time_correction2(table: TimeDiffTable, obe_time: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``TIME_CORRECTION2`` (``time_correction2.pro`` v1.5) for the TIME_DIFF.DAT part.

    Parameters
    ----------
    table
        :func:`parse_time_diff` of ``TIME_DIFF.DAT``.
    obe_time
        Level-0.5 ``DATE-OBS`` + ``TIME-OBS`` (``datetime64``).

    Returns
    -------
    delta, delta_error, covered
        OBE - LOBT difference in seconds (float32 as IDL's ``fltarr``; 0 where not covered),
        its error (standard deviation of the three neighbouring records, or ``|d1| - |d0|``
        when the record was replaced by the median; -1 where not covered) and whether the
        table covered the time (``1 <= rec_ind < n``; record ``rec_ind - 1 = 0`` is the header
        record in IDL, so the first data record counts as not covered here).

    Notes
    -----
    ``rec = MODIFIED_BINARY_SEARCH(...)``; outside when ``rec < 1`` or ``rec >= n``; else
    ``d = [d(rec-1), d(rec), d(rec+1)]``; ``delta = d(rec)``, ``err = stdev(d)``; if ``delta >
    500`` or ``delta < -15``: ``delta = median(d)``, ``err = |d[1]| - |d[0]|``.
    """
    t = np.asarray(obe_time, dtype="datetime64[ms]")
    n = table.n_records
    v = _search_key(mjd_of(t), ms_of_day(t))
    first = np.where(t >= _UNIX_FROM, _UNIX_FIRST_RECORD, 1)
    rec = _binary_search_before(table.key, v, first, n)
    covered = (rec >= 2) & (rec < n) & ~np.isnat(t)
    r = np.where(covered, rec, 2)
    d = np.stack([table.delta[r - 1], table.delta[r], table.delta[r + 1]], axis=1)
    delta = d[:, 1].copy()
    bad = (delta > _DELTA_LIMITS[1]) | (delta < _DELTA_LIMITS[0])
    error = np.std(d, axis=1, ddof=1)
    delta[bad] = np.median(d[bad], axis=1)
    error[bad] = np.abs(d[bad, 1]) - np.abs(d[bad, 0])
    delta = np.where(covered, delta, 0.0).astype(np.float32)
    error = np.where(covered, error, TIME_DIFF_ERROR_NONE).astype(np.float32)
    return delta, error, covered


@dataclasses.dataclass(frozen=True)
class C2TimeOffsets:
    """One ``c2_*_timeoffsets.sav`` file: ``C2_DATES`` (as ``datetime64[ms]``) and
    ``C2_OFFSETS`` (s), with ``TIME_CORRECTION2``'s extension already applied (the last value
    repeated 60 s after the last date)."""

    dates: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_save(cls, dates: np.ndarray, offsets: np.ndarray) -> C2TimeOffsets:
        """From the file's ``C2_DATES`` (``datetime64``) and ``C2_OFFSETS``: appends
        ``(last date + 60 s, last offset)`` as ``TIME_CORRECTION2`` does."""
        dates = np.asarray(dates, dtype="datetime64[ms]")
        offsets = np.asarray(offsets, dtype=np.float64)
        return cls(np.concatenate([dates, [dates[-1] + np.timedelta64(60_000, "ms")]]),
                   np.concatenate([offsets, [offsets[-1]]]))


#: ``TIME_CORRECTION2``'s C2 star-offset windows: ``(file, from, to)``; a time ``t`` uses the
#: file when ``from <= t <= to`` (``t < to`` for the first). The IDL compares ECS strings; the
#: third window's lower bound is written ``'1997/12/06 00:27.37.672'`` in the IDL, which as a
#: string is reached from ``1997/12/06 00:27:00.000`` on (``'.' < ':'``): that is the bound here.
C2_OFFSET_WINDOWS = (
    ("c2_012496t1544_082997t1827_timeoffsets.sav", None, "1997-09-03T07:28:00.000"),
    ("c2_101997t1828_102797t2241_timeoffsets.sav", "1997-10-19T18:28:29.682",
     "1997-10-27T22:41:37.680"),
    ("c2_120697t0027_123097t2023_timeoffsets.sav", "1997-12-06T00:27:00.000",
     "1997-12-30T20:23:22.848"),
)


def c2_offset_window(time: np.ndarray) -> np.ndarray:
    """Index into :data:`C2_OFFSET_WINDOWS` of each time, -1 where TIME_DIFF.DAT is used."""
    t = np.asarray(time, dtype="datetime64[ms]")
    out = np.full(t.shape, -1, dtype=np.int64)
    for k, (_, lo, hi) in enumerate(C2_OFFSET_WINDOWS):
        hi_t = np.datetime64(hi, "ms")
        if lo is None:
            inside = t < hi_t
        else:
            inside = (t >= np.datetime64(lo, "ms")) & (t <= hi_t)
        out[inside & (out < 0)] = k
    return out


def c2_offset_correction(offsets: C2TimeOffsets, obe_time: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``TIME_CORRECTION2``'s C2-offsets branch: the offset of the last date ``<=`` the time.

    ``cnt = last index with C2_DATES <= t``; ``delta = C2_OFFSETS[cnt]``; error ``stdev`` of
    offsets ``[cnt2, cnt, cnt1]`` with ``cnt1 = cnt + 1`` (``cnt - 2`` if ``cnt1 >= nelem - 2``)
    and ``cnt2 = cnt - 1`` (``cnt + 2`` if ``cnt2 < 1``). Before the first date: 0, error -1.
    Returns ``(delta, error, covered)`` like :func:`time_correction2`.
    """
    t = np.asarray(obe_time, dtype="datetime64[ms]")
    nelem = len(offsets.offsets)
    cnt = np.searchsorted(offsets.dates, t, side="right") - 1
    covered = (cnt >= 0) & ~np.isnat(t)
    c = np.clip(cnt, 0, nelem - 1)
    c1 = np.where(c + 1 >= nelem - 2, c - 2, c + 1)
    c2 = np.where(c - 1 < 1, c + 2, c - 1)
    c1 = np.clip(c1, 0, nelem - 1)
    c2 = np.clip(c2, 0, nelem - 1)
    trio = np.stack([offsets.offsets[c2], offsets.offsets[c], offsets.offsets[c1]], axis=1)
    delta = np.where(covered, offsets.offsets[c], 0.0).astype(np.float32)
    error = np.where(covered, np.std(trio, axis=1, ddof=1), TIME_DIFF_ERROR_NONE)
    return delta, error.astype(np.float32), covered


def adjust_all_date_obs(obe_time: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Corrected ``DATE-OBS``: the OBE time minus the OBE - LOBT difference, to the millisecond.

    ``delta`` in seconds (float32 from :func:`time_correction2`); 0 leaves the time unchanged.
    """
    t = np.asarray(obe_time, dtype="datetime64[ms]")
    shift = np.rint(np.asarray(delta, dtype=np.float64) * 1000.0).astype(np.int64)
    return t - shift.astype("timedelta64[ms]")
