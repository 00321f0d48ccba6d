"""SolarSoft time scales and the TIME_DIFF.DAT correction (time_correction2.pro v1.5)."""

import struct

import numpy as np
import pytest

from lascoproc.kernels import lasco_time as lt


def test_utc_to_tai_is_solarsoft_utc2tai():
    # 2002-05-21 00:00 UTC: 16211 days after 1958-01-01, TAI - UTC = 32 s
    t = np.array(["2002-05-21T00:00", "2016-12-31T23:59:59", "2017-01-01T00:00:00", "NaT"],
                 dtype="datetime64[ms]")
    tai = lt.utc_to_tai(t)
    assert tai[0] == 16211 * 86400 + 32
    # the leap second at the end of 2016: 2 s of TAI between these two UTC times
    assert tai[2] - tai[1] == 2.0
    assert np.isnan(tai[3])


def test_leap_seconds_match_astropy():
    from astropy.time import Time

    days = np.arange(np.datetime64("1996-01-01"), np.datetime64("2026-12-01"),
                     np.timedelta64(97, "D")).astype("datetime64[ms]")
    epoch = Time("1958-01-01T00:00:00", scale="tai")
    expected = (Time(days, scale="utc").tai - epoch).sec
    np.testing.assert_allclose(lt.utc_to_tai(days), expected, rtol=0, atol=1e-6)


def _record(fmt, w0, w1):
    return struct.pack(fmt + "4i", *(int(v) for v in (*w0, *w1)))


def test_time_diff_layout_byte_order_and_differences():
    """Record 0: count, little-endian; records <= newer_record big-endian, later ones
    little-endian; a record with an impossible MJD is read with the other byte order."""
    rows = [((52415, 60_030_000), (52415, 60_000_000)),   # 30 s
            ((52415, 60_640_500), (52415, 60_600_000)),   # 40.5 s
            ((52415, 61_245_000), (52415, 61_200_000)),   # 45 s
            ((52415, 61_810_000), (52415, 61_800_000))]   # 10 s
    raw = struct.pack("<4i", 4, 0, 0, 0)
    raw += _record(">", *rows[0]) + _record(">", *rows[1])
    raw += _record("<", *rows[2])                       # after newer_record: little-endian
    raw += _record("<", *rows[3])
    table = lt.parse_time_diff(raw, newer_record=2)
    assert table.n_records == 4
    np.testing.assert_allclose(table.delta[1:], [30.0, 40.5, 45.0, 10.0])
    assert table.first == np.datetime64("2002-05-21T16:40:00.000")
    # the same file with record 2 stored the other way round is still read right
    swapped = raw[:32] + _record("<", *rows[1]) + raw[48:]
    np.testing.assert_allclose(lt.parse_time_diff(swapped, newer_record=2).delta[1:],
                               [30.0, 40.5, 45.0, 10.0])


def test_time_diff_roundtrip_and_truncation():
    w1 = np.array(["2002-05-21T00:00", "2002-05-21T00:15", "2002-05-21T00:30"],
                  dtype="datetime64[ms]")
    w0 = w1 + np.array([30_094, 31_000, 29_500], dtype="timedelta64[ms]")
    raw = lt.time_diff_bytes(w0, w1, newer_record=1)
    assert len(raw) == 16 * 4
    assert struct.unpack("<i", raw[:4])[0] == 3
    assert struct.unpack(">4i", raw[16:32]) == (52415, 30_094, 52415, 0)   # record 1: big
    assert struct.unpack("<4i", raw[32:48]) == (52415, 931_000, 52415, 900_000)  # 2: little
    np.testing.assert_allclose(lt.parse_time_diff(raw, newer_record=1).delta[1:],
                               [30.094, 31.0, 29.5])
    with pytest.raises(ValueError, match="header says 3 records, it holds 2"):
        lt.parse_time_diff(raw[:-16])


def _table(deltas, start="2002-05-21T00:00", step_min=15, newer_record=313887):
    w1 = np.datetime64(start, "ms") + np.arange(len(deltas)) * np.timedelta64(step_min, "m")
    w0 = w1 + np.rint(np.asarray(deltas) * 1000).astype("timedelta64[ms]")
    return lt.parse_time_diff(lt.time_diff_bytes(w0, w1, newer_record=newer_record)), w1


def test_time_correction2_record_at_or_before_and_stdev():
    table, w1 = _table([30.0, 31.0, 33.0, 36.0, 40.0])
    t = np.array([w1[2] + np.timedelta64(7, "m"), w1[3], w1[0] + np.timedelta64(1, "m"),
                  w1[4] + np.timedelta64(1, "m")], dtype="datetime64[ms]")
    delta, error, covered = lt.time_correction2(table, t)
    # frame 0: record 3 (1-based) is the one at or before: 33 s; stdev of 31, 33, 36
    assert delta[0] == pytest.approx(33.0)
    assert error[0] == pytest.approx(np.std([31.0, 33.0, 36.0], ddof=1), rel=1e-6)
    # frame 1: exactly on record 4: 36 s
    assert delta[1] == pytest.approx(36.0)
    # before the second record (record 1 - 1 = 0 is the header) and on/after the last:
    # TIME_CORRECTION2 returns 0 and -1
    assert list(covered) == [True, True, False, False]
    assert list(delta[2:]) == [0.0, 0.0] and list(error[2:]) == [-1.0, -1.0]


def test_time_correction2_replaces_a_bad_difference_by_the_median():
    table, w1 = _table([30.0, 31.0, 2031.0, 36.0, 40.0])
    delta, error, _ = lt.time_correction2(table, w1[2:3] + np.timedelta64(1, "m"))
    # 2031 > 500: median of (31, 2031, 36) = 36; error |2031| - |31| = 2000
    assert delta[0] == pytest.approx(36.0)
    assert error[0] == pytest.approx(2000.0)


def test_times_after_2005_are_searched_from_record_320000():
    """MODIFIED_BINARY_SEARCH starts at record 320000 for times from 2005-12-23 16:53:11: a
    short file does not cover a 2009 time even when its records reach that far."""
    table, w1 = _table([30.0] * 10, start="2009-02-28T00:00")
    _, _, covered = lt.time_correction2(table, w1[5:6])
    assert not covered[0]


def test_binary_search_matches_a_linear_search_on_a_long_file():
    rng = np.random.default_rng(0)
    deltas = 35.0 + rng.normal(0, 1, 2000)
    table, w1 = _table(deltas, start="1999-01-01T00:00")
    t = w1[0] + rng.integers(0, 2000 * 15 * 60_000, 300).astype("timedelta64[ms]")
    delta, _, covered = lt.time_correction2(table, t)
    for k in range(len(t)):
        rec = int(np.searchsorted(w1, t[k], side="right"))  # 1-based record at or before
        if 2 <= rec < 2000:
            assert covered[k] and delta[k] == pytest.approx(deltas[rec - 1], abs=1e-3)
        else:
            assert not covered[k]


def test_adjust_all_date_obs_reproduces_the_real_c2_frame():
    """tests/data/lasco_c2_25299383_s.fts: 'Original date_obs: 2009/02/28 00:06:03.474',
    level-1 DATE-OBS 2009-02-28T00:05:33.380: an OBE - LOBT difference of 30.094 s (float32,
    as IDL's fltarr holds it) subtracted."""
    t = np.array(["2009-02-28T00:06:03.474"], dtype="datetime64[ms]")
    out = lt.adjust_all_date_obs(t, np.float32([30.094]))
    assert out[0] == np.datetime64("2009-02-28T00:05:33.380")


def test_c2_offsets_branch_windows_and_statistics():
    dates = np.array(["1997-10-19T18:28", "1997-10-20T00:28", "1997-10-20T06:28",
                      "1997-10-20T12:28"], dtype="datetime64[ms]")
    offsets = lt.C2TimeOffsets.from_save(dates, [30.0, 32.0, 31.0, 35.0])
    assert offsets.dates[-1] == np.datetime64("1997-10-20T12:29")   # last + 60 s
    assert offsets.offsets[-1] == 35.0
    t = np.array(["1997-10-20T01:00", "1997-10-19T18:00"], dtype="datetime64[ms]")
    delta, error, covered = lt.c2_offset_correction(offsets, t)
    # cnt = 1: delta 32; cnt1 = 2, cnt2 = 0 -> cnt2 < 1 -> cnt + 2 = 3: stdev(35, 32, 31)
    assert delta[0] == 32.0
    assert error[0] == pytest.approx(np.std([35.0, 32.0, 31.0], ddof=1), rel=1e-6)
    assert not covered[1] and delta[1] == 0 and error[1] == -1
    window = lt.c2_offset_window(np.array(
        ["1996-05-01", "1997-09-03T07:28", "1997-10-20", "1997-12-06T00:26:59.999",
         "1997-12-06T00:27:00", "1998-01-01"], dtype="datetime64[ms]"))
    assert list(window) == [0, -1, 1, -1, 2, -1]
