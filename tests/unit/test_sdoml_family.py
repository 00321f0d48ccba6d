"""The family of synthetic SDOML stores: members, physics, curves (values worked out by hand)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from lascoproc.io.sdoml import open_sdoml
from lascoproc.testing.sdoml import DegradationCurve
from lascoproc.testing.sdoml_family import (
    FAMILY,
    TEMPERATURE_RESPONSES,
    BakeoutCurve,
    LinearCurve,
    PhysicalSun,
    Physics,
    WavyCurve,
    _temperature_shifts,
    dem_kernel,
    member,
    members,
)


def test_members_have_names_roles_and_the_issue_ranges():
    roles = {m.name: m.role for m in FAMILY.values()}
    assert {n for n, r in roles.items() if r == "tuning"} == {"project", "tune-a", "tune-b",
                                                              "tune-c"}
    heldout = members("heldout")
    assert len(heldout) >= 5
    for m in heldout:  # realistic: spread <= 0.05 dex, weekly or denser
        assert m.physics.temperature_spread <= 0.05
        assert np.timedelta64(1, "D") * 7 >= _step(m.cadence)
    for m in members("harsh"):
        assert m.physics.temperature_spread == 0.15 and m.cadence == "30D"
    with pytest.raises(ValueError, match="no family member"):
        member("nope")


def _step(cadence: str):
    import pandas as pd

    return pd.Timedelta(pd.tseries.frequencies.to_offset(cadence)).to_timedelta64()


def test_heldout_members_take_code_paths_the_tuning_members_do_not():
    tuning = [m for m in members("tuning") if m.physics is not None]
    assert {m.physics.ar_shape for m in tuning} == {"gaussian"}
    assert {m.physics.corona_profile for m in tuning} == {"exponential"}
    for m in members("heldout"):
        assert (m.physics.ar_shape == "bipolar" or m.physics.corona_profile == "power"), m.name
    shapes = {s for m in members("heldout") for s in m.shapes.values()}
    assert shapes == {"exponential", "fast", "flat", "bakeout", "nonmonotonic"}
    # no two members share their physics
    physics = [dataclasses.astuple(m.physics) for m in FAMILY.values() if m.physics]
    assert len(set(physics)) == len(physics)


def test_members_are_fixed_by_their_seeds():
    from lascoproc.testing.sdoml_family import _family

    again = _family()
    for name, m in FAMILY.items():
        assert again[name].describe() == m.describe()


def test_dem_kernel_by_hand():
    # one peak (t = 6.0, s = 0.1, w = 2) against N(6.2, 0.2): 2 * 0.1 / sqrt(0.05) *
    # exp(-0.04 / 0.1) = 0.894427 * 0.670320 = 0.599553
    assert dem_kernel(((6.0, 0.1, 2.0),), 6.2, 0.2) == pytest.approx(0.5995526, rel=1e-6)
    # peaks add
    both = dem_kernel(((6.0, 0.1, 2.0), (6.2, 0.1, 1.0)), 6.2, 0.2)
    assert both == pytest.approx(0.5995526 + 0.1 / math.sqrt(0.05), rel=1e-6)


def test_curves_by_hand():
    flat = LinearCurve(0.01)
    np.testing.assert_allclose(flat([0.0, 5.0, 200.0]), [1.0, 0.95, 0.05])
    bake = BakeoutCurve(tau=2.0, bakeouts=(1.0,), recovery=(0.5,))
    before = math.exp(-0.5)  # 0.606531 just before the bake-out at 1 year
    level = before + 0.5 * (1.0 - before)  # 0.803265: half the loss recovered
    np.testing.assert_allclose(bake([0.5, 0.999999, 1.0, 2.0]),
                               [math.exp(-0.25), before, level, level * math.exp(-0.5)],
                               rtol=1e-5)
    wavy = WavyCurve(tau=10.0, amplitude=0.15, period=4.0, phase=0.0)
    np.testing.assert_allclose(wavy([0.0, 1.0, 3.0]),
                               [1.0, math.exp(-0.1) * 1.15, math.exp(-0.3) * 0.85])
    assert np.any(np.diff(wavy(np.linspace(0, 10, 200))) > 0)  # non-monotonic
    for m in FAMILY.values():  # every drawn "nonmonotonic" curve does rise somewhere
        for channel, curve in m.curves:
            if m.shapes[channel] == "nonmonotonic":
                assert np.any(np.diff(curve(np.linspace(0, 10.7, 2000))) > 0), m.name


def test_temperature_shifts_have_the_spread_and_memory():
    slots = np.datetime64("2010-01-01", "ns") + np.arange(20000) * np.timedelta64(1, "D")
    delta = _temperature_shifts(np.random.default_rng(0), slots, 0.05, 5.0)
    assert delta.std() == pytest.approx(0.05, rel=0.05)
    lag1 = np.corrcoef(delta[:-1], delta[1:])[0, 1]
    assert lag1 == pytest.approx(math.exp(-1 / 5), abs=0.03)
    assert np.all(_temperature_shifts(np.random.default_rng(0), slots, 0.0, 5.0) == 0)


def test_a_hotter_corona_dims_171_and_brightens_335():
    slots = np.datetime64("2011-01-01", "ns") + np.arange(3) * np.timedelta64(7, "D")
    sun = PhysicalSun(32, slots, 1, Physics(), TEMPERATURE_RESPONSES)
    assert float(sun.quiet_factor("171A", 0.05)) < 0.9
    assert float(sun.quiet_factor("335A", 0.05)) > 1.05
    assert abs(float(sun.quiet_factor("304A", 0.05)) - 1.0) < 0.02  # chromospheric
    # and its scale height grows: the corona at 1.3 radii is brighter relative to the limb
    cold, hot = sun.quiet("193A", -0.05), sun.quiet("193A", 0.05)
    centre = sun.center
    far = (int(round(centre)), int(round(centre + 1.2 * sun.radius)))
    limb = (int(round(centre)), int(round(centre + 1.01 * sun.radius)))
    assert hot[far] / hot[limb] > cold[far] / cold[limb]


def test_flares_brighten_the_hot_channels_most():
    slots = np.datetime64("2014-01-01", "ns") + np.arange(40) * np.timedelta64(1, "D")
    physics = Physics(flare_fraction=0.99, ar_rate=2.0)
    sun = PhysicalSun(64, slots, 3, physics, TEMPERATURE_RESPONSES)
    quiet = PhysicalSun(64, slots, 3, dataclasses.replace(physics, flare_fraction=0.0),
                        TEMPERATURE_RESPONSES)
    t = slots[-1]
    level = {"94A": 1.2, "171A": 450.0}  # the channels' quiet-Sun levels I0 [DN/s]
    gain = {c: (sun.frame(c, t) - quiet.frame(c, t)).max() / level[c] for c in level}
    assert gain["94A"] > 5 * gain["171A"] > 0


def test_a_member_writes_a_real_format_store_with_its_truth(tmp_path):
    m = member("heldout-1")
    synth = m.write(tmp_path / "m.zarr", end="2011-03-31", size=32, chunks=8, threads=1)
    ds = open_sdoml(synth.url, channels=(94, 171, 304), index=False)
    assert ds.sizes["time"] > 30
    times = ds["time"].values
    np.testing.assert_allclose(synth.degradation(171, times), m.degradation(171, times))
    # DEG_COR carries the member's bias: the monthly table times 1 + beta y / 10
    beta = dict(m.deg_cor_bias)["304A"]
    day = times[-1].astype("datetime64[D]").astype("datetime64[ns]")
    years = (day - np.datetime64("2010-05-13", "ns")).astype(float) / (86400e9 * 365.25)
    curve = dict(m.curves)["304A"]
    knots = np.arange(0, 30) / 12.0
    expected = np.interp(years, knots, curve(knots) * (1 + beta * knots / 10))
    assert synth.deg_cor(304, [times[-1]])[0] == pytest.approx(expected, rel=1e-12)


def test_project_member_is_the_project_store():
    m = member("project")
    assert m.physics is None and m.size == 512 and m.cadence == "30D"
    assert dict(m.curves)["304A"] == DegradationCurve(0.35, 0.8, 15.0)
