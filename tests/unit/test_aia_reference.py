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


def test_matches_aiapy_to_1e6_on_the_v10_table(v10):
    """The comparison asked for: aiapy 0.10 reads the same local file (no network).

    30 random times over 2010-05 .. 2020-12, every epoch start and 1 ms before each, all nine
    channels (aiapy computes time by time: a few seconds).
    """
    aiapy_calibrate = pytest.importorskip("aiapy.calibrate")
    from aiapy.calibrate.util import get_correction_table
    from astropy.time import Time

    table = get_correction_table(packaged_table_path())  # a local path: never downloads
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
