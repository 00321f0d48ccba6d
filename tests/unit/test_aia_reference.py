"""Our aiapy degradation formula: numbers worked out by hand from the V10 table; aiapy itself."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

from lascoproc.degradation.reference import aiapy_degradation, reference_degradation, wave_str
from lascoproc.io.aia_response import packaged_table_path, read_response_table

CHANNELS = (94, 131, 171, 193, 211, 304, 335, 1600, 1700)


@pytest.fixture(scope="module")
def v10():
    return read_response_table()


def test_wave_str():
    assert wave_str(94) == "94_THIN"
    assert wave_str(171 * u.AA) == "171_THIN"
    assert wave_str("335A") == "335_THIN"
    assert wave_str(1600) == "1600"
    assert wave_str(0.17 * u.um) == "1700"


def test_factors_worked_out_by_hand(v10):
    # 94, 2015-01-01: epoch 2014-05-25T12 .. 2015-05-01T12, EFF_AREA 0.26922 over the first
    # row's 0.29808, P1 = P2 = P3 = 0
    assert aiapy_degradation(94, ["2015-01-01T00:00"], v10)[0] == pytest.approx(
        0.26922 / 0.29808, abs=1e-12)
    # 304, 2012-06-01T12:00: epoch 2012-04-10T12 .. 2012-10-01T12 (EFF_AREA 0.03228,
    # P1 0.001041), first row 0.10250, dt = 52 days: 0.03228 / 0.10250 * (1 + 0.001041 * 52)
    assert aiapy_degradation(304, ["2012-06-01T12:00"], v10)[0] == pytest.approx(
        0.331974448390244, abs=1e-12)
    # 1600 (no _THIN), 2015-01-01: epoch 2014-05-01T12 .. 2016-05-01T12 (0.00719, P1 -0.00028),
    # first row (earliest DATE) 0.01195, dt = 244.5 days
    assert aiapy_degradation(1600, ["2015-01-01"], v10)[0] == pytest.approx(
        0.5604830627615063, abs=1e-12)


def test_leap_seconds_count_as_aiapy_counts_them(v10):
    # 304, 2012-09-01T12:00 is 144 days + the 2012-06-30 leap second after the epoch start
    dt = 144 + 1 / 86400
    expected = 0.03228 / 0.10250 * (1 + 0.001041 * dt)
    assert aiapy_degradation(304, ["2012-09-01T12:00"], v10)[0] == pytest.approx(expected,
                                                                                  abs=1e-13)


def test_outside_the_epochs_is_nan(v10):
    out = aiapy_degradation(171, ["2010-03-23T23:59", "2010-03-24T00:00", "2030-05-01"], v10)
    assert np.isnan(out[0]) and np.isfinite(out[1]) and np.isnan(out[2])


def test_reference_degradation_dataarray(v10):
    times = np.array(["2011-01-01", "2016-06-01"], dtype="datetime64[ns]")
    da = reference_degradation([94, 335], times, v10)
    assert da.dims == ("time", "channel")
    assert da["channel"].values.tolist() == [94, 335]
    np.testing.assert_array_equal(da.sel(channel=335).values,
                                  aiapy_degradation(335, times, v10))


def _aiapy_correction_table():
    """``get_correction_table`` of aiapy 0.10 (``aiapy.calibrate.util``) or of aiapy 0.11 and
    later (``aiapy.calibrate.utils``)."""
    try:
        from aiapy.calibrate.utils import get_correction_table
    except ImportError:
        from aiapy.calibrate.util import get_correction_table
    return get_correction_table


def test_aiapy_table_reader_is_found_in_either_layout(monkeypatch):
    import sys
    import types

    pytest.importorskip("aiapy.calibrate")
    reader = _aiapy_correction_table()
    assert callable(reader)
    # aiapy >= 0.11 names the module calibrate.utils: a stand-in of that layout is preferred
    fake = types.ModuleType("aiapy.calibrate.utils")
    fake.get_correction_table = lambda source: ("0.11", source)
    monkeypatch.setitem(sys.modules, "aiapy.calibrate.utils", fake)
    assert _aiapy_correction_table()("x") == ("0.11", "x")


def test_v8_equals_solarsoft_daily_factors():
    """SolarSoft's own factors (``aia_bp_get_corrections``, version 8) for every channel and
    day of 2010-05-01 .. 2020-12-31, from sdoml-lite (tests/data/README_aia.md): our formula on
    the V8 table gives them within 1e-5 (the CSV has 6 decimals)."""
    from pathlib import Path

    import pandas as pd

    v8 = read_response_table(8)
    assert v8.versions == (8,)
    daily = pd.read_csv(Path(__file__).parents[1] / "data" /
                        "ssw_V8_daily_degradation_2010-2020.csv.gz")
    assert len(daily) == 7 * 3898 and sorted(daily["channel"].unique()) == [
        94, 131, 171, 193, 211, 304, 335]
    worst = {}
    for channel, rows in daily.groupby("channel"):
        ours = aiapy_degradation(int(channel), rows["time"].to_numpy(), v8)
        worst[int(channel)] = float(np.max(np.abs(ours - rows["degradation"].to_numpy())))
    assert max(worst.values()) < 1e-5, worst


def test_rows_of_one_calibration_version_as_aiapy(v10):
    """A table holding two versions: only the asked (default: newest) version's rows count."""
    import dataclasses

    rows = v10.rows.copy()
    old = rows[rows["WAVE_STR"] == "171_THIN"].copy()
    old["VER_NUM"] = 9
    old["EFF_AREA"] = old["EFF_AREA"] * 0.5  # another calibration: other numbers
    old["DATE"] = old["DATE"] + np.timedelta64(365, "D")  # computed later: would win otherwise
    mixed = dataclasses.replace(v10, rows=pd_concat([rows, old]))
    t = ["2016-01-01"]
    assert aiapy_degradation(171, t, mixed)[0] == aiapy_degradation(171, t, v10)[0]
    assert aiapy_degradation(171, t, mixed, calibration_version=9)[0] == pytest.approx(
        aiapy_degradation(171, t, v10)[0])  # ratio of halved areas: the same factor
    with pytest.raises(ValueError, match="no rows of calibration version 7"):
        aiapy_degradation(171, t, mixed, calibration_version=7)
    assert mixed.rows["VER_NUM"].nunique() == 2


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_matches_aiapy_to_1e6_on_the_v10_table(v10):
    """The comparison asked for: aiapy 0.10 reads the same local file (no network).

    30 random times over 2010-05 .. 2020-12, every epoch start and 1 ms before each, all nine
    channels (aiapy computes time by time: a few seconds).
    """
    aiapy_calibrate = pytest.importorskip("aiapy.calibrate")
    from astropy.time import Time

    table = _aiapy_correction_table()(packaged_table_path())  # a local path: never downloads
    rng = np.random.default_rng(3)
    seconds = rng.uniform(0, (np.datetime64("2021-01-01") - np.datetime64("2010-05-01"))
                          / np.timedelta64(1, "s"), 30)
    times = np.datetime64("2010-05-01", "ns") + (seconds * 1e9).astype("timedelta64[ns]")
    # plus every epoch boundary and a nanosecond before it
    starts = np.unique(v10.rows["T_START"].to_numpy("datetime64[ns]"))
    starts = starts[(starts > times.min()) & (starts < times.max())]
    times = np.sort(np.concatenate([times, starts, starts - np.timedelta64(1, "ms")]))
    worst = 0.0
    for channel in CHANNELS:
        ours = aiapy_degradation(channel, times, v10)
        theirs = aiapy_calibrate.degradation(channel * u.AA, Time(times, scale="utc"),
                                             correction_table=table).value
        worst = max(worst, float(np.max(np.abs(ours - theirs))))
    assert worst < 1e-6
