"""The synthetic Sun of lascoproc.testing.sdoml: coronal holes and the activity models."""

from __future__ import annotations

import numpy as np
import pytest

from lascoproc.testing.sdoml import (
    _CARRINGTON_RATE,
    _active_regions,
    _ActiveRegions,
    _ephemeris,
    _SunModel,
    write_sdoml_store,
)

T = np.datetime64("2013-03-01T12:00:00", "ns")


def _one_hole_at_disk_centre(time, *, age_days=50.0, lifetime=100.0, strength=1.0):
    eph = _ephemeris(np.array([time]))
    lat = float(eph["CRLT_OBS"][0])  # latitude b0 at central meridian: the disk centre
    sin2 = np.sin(np.radians(lat)) ** 2
    drift = 14.713 - 2.396 * sin2 - 1.787 * sin2**2 - _CARRINGTON_RATE
    birth = time - np.timedelta64(int(age_days * 86400e9), "ns")
    return _ActiveRegions(
        birth=np.array([birth]), lifetime=np.array([lifetime]), latitude=np.array([lat]),
        longitude=np.array([float(eph["CRLN_OBS"][0]) - drift * age_days]),
        size=np.array([0.4]), strength=np.array([strength]))


def _no_regions():
    empty = np.array([], dtype=np.float64)
    return _ActiveRegions(birth=np.array([], dtype="datetime64[ns]"), lifetime=empty,
                          latitude=empty, longitude=empty, size=empty, strength=empty)


def test_coronal_hole_dims_the_disk_centre_by_its_depth():
    model = _SunModel(64, _no_regions(), _one_hole_at_disk_centre(T))
    centre = int(round(model.center))
    # 193 A: I0 = 700 DN/s, depth 0.80: 700 * (1 - 0.80) = 140 DN/s at the hole's centre
    frame = model.frame("193A", T)
    assert frame[centre, centre] == pytest.approx(140.0, rel=2e-3)
    # 304 A: I0 = 110, depth 0.35, half strength: 110 * (1 - 0.175) = 90.75
    half = _SunModel(64, _no_regions(), _one_hole_at_disk_centre(T, strength=0.5))
    assert half.frame("304A", T)[centre, centre] == pytest.approx(90.75, rel=2e-3)
    # far from the hole (0.95 radii from the centre, 1.3 rad away) the quiet Sun is untouched
    quiet = model.quiet("193A")
    edge = (centre, int(round(model.center + 0.95 * model.radius)))
    assert frame[edge] == pytest.approx(quiet[edge], rel=1e-6)


def test_coronal_hole_opens_and_closes():
    # a tenth of its life after birth the hole is fully open; at 5 % it is half open
    young = _SunModel(64, _no_regions(), _one_hole_at_disk_centre(T, age_days=5.0))
    centre = int(round(young.center))
    assert young.frame("193A", T)[centre, centre] == pytest.approx(700 * (1 - 0.4), rel=2e-3)
    gone = _SunModel(64, _no_regions(), _one_hole_at_disk_centre(T, age_days=100.5))
    assert gone.frame("193A", T)[centre, centre] == pytest.approx(700.0, rel=1e-3)


def _births_per_year(regions):
    years = regions.birth.astype("datetime64[Y]").astype(int) + 1970
    return {y: int(np.sum(years == y)) for y in range(2011, 2020)}


def test_stationary_activity_has_the_same_statistics_every_year():
    start, end = np.datetime64("2010-05-13", "ns"), np.datetime64("2020-12-31", "ns")
    regions = _active_regions(np.random.default_rng([0, 0]), start, end, "stationary")
    counts = _births_per_year(regions)
    # rate 0.02 + 0.55 * 0.5 = 0.295 per day: 107.7 per year, Poisson sd 10.4
    assert all(abs(c - 107.7) < 4 * 10.4 for c in counts.values()), counts
    years = regions.birth.astype("datetime64[Y]").astype(int) + 1970
    mean_lat = [np.abs(regions.latitude[years == y]).mean() for y in range(2011, 2020)]
    assert np.ptp(mean_lat) < 5.0, mean_lat  # no butterfly drift
    cycle = _births_per_year(_active_regions(np.random.default_rng([0, 0]), start, end,
                                             "cycle24"))
    assert cycle[2014] > 3 * cycle[2019], cycle


def test_activity_is_checked(tmp_path):
    with pytest.raises(ValueError, match="activity"):
        write_sdoml_store(tmp_path / "s.zarr", size=16, activity="cycle25")
