"""SDOML v2: the synthetic store has the real format; the opener sorts, aligns and stays lazy."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
import zarr
import zarr.storage

from lascoproc.io import fs as lfs
from lascoproc.io.sdoml import (
    AIA_CHANNELS,
    _match,
    channel_name,
    open_sdoml,
    open_sdoml_channel,
    open_store,
    parse_t_obs,
)
from lascoproc.testing.sdoml import DegradationCurve, write_sdoml_store
from tests.conftest import raise_if_dask_computes

WAVELENGTHS = [94, 131, 171, 193, 211, 304, 335, 1600, 1700]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """45 monthly slots over 2010-2013, 9 channels, 64 pixels, 3 frames per chunk, noisy."""
    root = tmp_path_factory.mktemp("sdoml") / "sdomlv2.zarr"
    synth = write_sdoml_store(root, end="2013-12-31", size=64, chunks=3, seed=5)
    return str(root), synth


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory):
    """Noise-free, one frame per chunk, three channels."""
    root = tmp_path_factory.mktemp("sdoml_clean") / "sdomlv2.zarr"
    synth = write_sdoml_store(root, end="2012-06-30", cadence="45D", size=32, chunks=1, seed=2,
                              channels=(171, 304, 1600), noise=False)
    return str(root), synth


def _zattrs(root, year, channel):
    with open(f"{root}/{year}/{channel}/.zattrs") as handle:
        return json.load(handle)


def _t_obs_by_hand(text):
    return np.datetime64(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ"), "ns")


# --------------------------------------------------------------------------- the format
def test_store_is_zarr2_blosc_zstd_without_dimension_names(store):
    root, synth = store
    assert synth.years == (2010, 2011, 2012, 2013)
    group = zarr.open_group(root, mode="r", zarr_format=2)
    assert group.metadata.zarr_format == 2
    assert sorted(group["2011"].array_keys(), key=lambda n: int(n[:-1])) == list(AIA_CHANNELS)
    with open(f"{root}/2011/171A/.zarray") as handle:
        meta = json.load(handle)
    assert meta["zarr_format"] == 2
    assert meta["dtype"] == "<f4"
    assert meta["chunks"] == [3, 64, 64]
    assert meta["compressor"] == {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 2,
                                  "blocksize": 0}
    assert "_ARRAY_DIMENSIONS" not in _zattrs(root, 2011, "171A")
    # as on the real store, xarray cannot open it
    with pytest.raises(KeyError, match="_ARRAY_DIMENSIONS"):
        xr.open_zarr(root, group="2011", consolidated=False, zarr_format=2)


def test_header_keywords_are_per_frame_lists(store):
    root, _ = store
    array = zarr.open_array(root, path="2012/304A", mode="r", zarr_format=2)
    attrs = _zattrs(root, 2012, "304A")
    n = array.shape[0]
    assert array.shape[1:] == (64, 64) and array.dtype == np.float32
    for key in ("T_OBS", "DATE-OBS", "T_REC", "EXPTIME", "DEG_COR", "WAVELNTH", "QUALITY",
                "CRPIX1", "CDELT1", "RSUN_OBS", "DSUN_OBS", "CRLN_OBS", "PIXLUNIT"):
        assert isinstance(attrs[key], list) and len(attrs[key]) == n, key
    assert set(attrs["WAVELNTH"]) == {304}
    assert set(attrs["PIXLUNIT"]) == {"DN/s"}
    assert set(attrs["CRPIX1"]) == {32.03125}  # 512.5 / (1024 / 64)
    t_obs = attrs["T_OBS"][0]  # the AIA form: '2011-06-07T06:33:02.88Z'
    assert len(t_obs) == 23 and t_obs[10] == "T" and t_obs[19] == "." and t_obs.endswith("Z")
    assert not attrs["DATE-OBS"][0].endswith("Z") and attrs["T_REC"][0].endswith("Z")
    # disk radius RSUN_OBS / CDELT1 is 976 / (2.4 * 16) pixels for every frame
    radius = np.array(attrs["RSUN_OBS"]) / np.array(attrs["CDELT1"])
    np.testing.assert_allclose(radius, 976 / 38.4, rtol=1e-12)


def test_frames_are_not_in_time_order(store, tmp_path):
    root, _ = store
    text = _zattrs(root, 2011, "171A")["T_OBS"]
    assert text != sorted(text)
    # several frames a day: days out of order, frames of a day in order (as the real store)
    synth = write_sdoml_store(tmp_path / "s.zarr", start="2011-03-01", end="2011-03-05T18:00",
                              cadence="6h", channels=(171,), size=16, missing_fraction=0.0)
    text = _zattrs(tmp_path / "s.zarr", 2011, "171A")["T_OBS"]
    days = [t[:10] for t in text]
    runs = [d for i, d in enumerate(days) if i == 0 or d != days[i - 1]]
    assert len(runs) == 5 and runs != sorted(runs)  # each day one run, runs not sorted
    for day in runs:
        of_day = [t for t in text if t.startswith(day)]
        assert of_day == sorted(of_day) and len(of_day) == 4
    assert len(synth.frames["171A"]) == 20


def test_parse_t_obs_written_out():
    out = parse_t_obs(["2011-06-07T06:33:02.88Z", "2016-12-31T23:59:60.50Z", "", None,
                       "2011-06-07T06:33:02.88"])
    expected = np.array(["2011-06-07T06:33:02.880", "2017-01-01T00:00:00.500", "NaT", "NaT",
                         "2011-06-07T06:33:02.880"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.dtype("datetime64[ns]")


def test_match_nearest_within_tolerance_one_frame_per_time():
    s = np.timedelta64(1, "s")
    ref = np.array([0, 10, 20, 30]) * s
    times = np.array([1, 12, 13, 50]) * s
    assert _match(ref, times, 5 * s).tolist() == [0, 1, -1, -1]
    # one frame nearest to two times goes to the closer one
    assert _match(np.array([0, 4]) * s, np.array([3]) * s, 5 * s).tolist() == [-1, 0]


def test_channel_names():
    assert [channel_name(c) for c in (171, "171", "171A", " 94a ")] == ["171A"] * 3 + ["94A"]
    with pytest.raises(ValueError, match="not an AIA channel"):
        channel_name("Bz")


def test_injected_degradation_and_archive_correction(store):
    _, synth = store
    times = np.array(["2010-05-13", "2012-01-01", "2016-01-01", "2020-12-31"],
                     dtype="datetime64[ns]")
    for channel in AIA_CHANNELS:
        d = synth.degradation(channel, times)
        assert d[0] == 1.0 and np.all(np.diff(d) < 0) and np.all(d > 0)
    # 2020-12-31, from the module docstring's formula (written out)
    y = (np.datetime64("2020-12-31") - np.datetime64("2010-05-13")).astype(float) / 365.25
    np.testing.assert_allclose(synth.degradation(304, times[-1:]),
                               0.35 * np.exp(-y / 0.8) + 0.65 * np.exp(-y / 15.0))
    np.testing.assert_allclose(synth.degradation(304, times[-1:]), 0.318, atol=0.005)
    np.testing.assert_allclose(synth.degradation(1700, times[-1:]), 0.852, atol=0.005)
    # the archive's DEG_COR is a different curve: 304 under-corrected by ~7 % in 2016
    ratio = synth.deg_cor(304, times) / synth.degradation(304, times)
    assert ratio[0] == 1.0 and 1.05 < ratio[2] < 1.09


def test_deg_cor_table_has_monthly_knots(store):
    """DEG_COR interpolates knots every twelfth of a year (module docstring), written out for
    335 A on 2010-11-12 (y = 183 / 365.25 = 0.501027, between the knots y = 6/12 and 7/12):
    knot 6: (0.4 exp(-0.5 / 0.6) + 0.6 exp(-0.5 / 20)) (1 - 0.10 * 0.5 / 10) = 0.755230,
    knot 7: (0.4 exp(-0.58333 / 0.6) + 0.6 exp(-0.58333 / 20)) (1 - 0.0058333) = 0.729774,
    linear at 0.012324 of the way: 0.754916."""
    _, synth = store
    day = np.array(["2010-11-12"], dtype="datetime64[ns]")
    np.testing.assert_allclose(synth.deg_cor(335, day), 0.754916, atol=2e-6)
    # the table's chord error stays below 0.1 % in the first year, where 335 A bends most
    # (yearly knots were up to 8 % off)
    days = np.arange(np.datetime64("2010-05-13"), np.datetime64("2011-05-13"))
    days = days.astype("datetime64[ns]")
    y = (days - days[0]).astype(np.float64) / (86400e9 * 365.25)
    biased = synth.degradation(335, days) * (1.0 - 0.10 * y / 10.0)
    assert np.max(np.abs(synth.deg_cor(335, days) / biased - 1.0)) < 1e-3


def test_generator_is_deterministic(tmp_path):
    kwargs = dict(start="2012-01-01", end="2012-04-01", cadence="20D", channels=(94, 1600),
                  size=16, degradation={94: DegradationCurve(0.0, 1.0, 5.0)})
    a = write_sdoml_store(tmp_path / "a.zarr", seed=3, **kwargs)
    b = write_sdoml_store(tmp_path / "b.zarr", seed=3, **kwargs)
    c = write_sdoml_store(tmp_path / "c.zarr", seed=4, **kwargs)
    read = [zarr.open_array(str(tmp_path / f"{n}.zarr"), path="2012/94A", mode="r")[:]
            for n in "abc"]
    np.testing.assert_array_equal(read[0], read[1])
    assert not np.array_equal(read[0], read[2])
    assert a.frames["94A"]["t_obs_str"].tolist() == b.frames["94A"]["t_obs_str"].tolist()
    # the curve passed in, exp(-y / 5), 1096.75 days after the 2010-05-13 epoch
    np.testing.assert_allclose(a.degradation(94, ["2013-05-13T18:00"]),
                               np.exp(-1096.75 / 365.25 / 5.0), rtol=1e-12)
    del c


# --------------------------------------------------------------------------- the opener
def test_open_is_lazy_sorted_and_shaped(store):
    root, _ = store
    with raise_if_dask_computes():
        ds = open_sdoml(root)
    intensity = ds["intensity"]
    assert intensity.dims == ("time", "channel", "y", "x")
    assert intensity.dtype == np.float32 and intensity.attrs["units"] == "DN/s"
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert bool(ds.indexes["time"].is_monotonic_increasing)
    assert ds["channel"].values.tolist() == WAVELENGTHS
    for name in ("t_obs", "exptime", "deg_cor", "quality"):
        assert ds[name].dims == ("time", "channel"), name
    assert ds["t_obs"].dtype == np.dtype("datetime64[ns]")
    chunks = intensity.chunks
    assert set(chunks[0][:-1]) == {3} and chunks[0][-1] <= 3  # the store's frames per chunk
    assert set(chunks[1]) == {1} and chunks[2:] == ((64,), (64,))
    with raise_if_dask_computes():
        cube = open_sdoml_channel(root, "193A")
    assert cube.dims == ("time", "y", "x") and int(cube["channel"]) == 193


def test_one_frame_chunks_stay_one_frame(clean_store):
    root, _ = clean_store
    with raise_if_dask_computes():
        ds = open_sdoml(root)
    assert set(ds["intensity"].chunks[0]) == {1}


def test_alignment_keeps_times_every_channel_has(store):
    root, synth = store
    ds = open_sdoml(root)
    tables = {c: synth.frames[c].set_index("nominal_index") for c in AIA_CHANNELS}
    common = sorted(set.intersection(*(set(t.index) for t in tables.values())))
    assert 0 < len(common) < len(synth.nominal_times)  # some slots miss a channel
    expected_time = tables["94A"].loc[common, "t_obs"].to_numpy("datetime64[ns]")
    np.testing.assert_array_equal(ds["time"].values, expected_time)
    for j, channel in enumerate(AIA_CHANNELS):
        np.testing.assert_array_equal(ds["t_obs"].values[:, j],
                                      tables[channel].loc[common, "t_obs"].to_numpy())
        np.testing.assert_allclose(ds["exptime"].values[:, j],
                                   tables[channel].loc[common, "exptime"].to_numpy())
    # channels are seconds apart: a 1 ms tolerance leaves no complete time
    assert open_sdoml(root, tolerance=1 * u.ms).sizes["time"] == 0
    # another reference channel makes the time axis from its own T_OBS
    by_171 = open_sdoml(root, channels=[94, 171], reference_channel=171)
    both = sorted(set(tables["94A"].index) & set(tables["171A"].index))
    np.testing.assert_array_equal(by_171["time"].values,
                                  tables["171A"].loc[both, "t_obs"].to_numpy("datetime64[ns]"))
    with pytest.raises(TypeError, match="Quantity"):
        open_sdoml(root, tolerance=60)


def test_pixels_equal_a_direct_zarr_read_reordered_by_hand(store):
    root, _ = store
    cube = open_sdoml_channel(root, 171).values
    frames, stamps = [], []
    for year in (2010, 2011, 2012, 2013):
        frames.append(zarr.open_array(root, path=f"{year}/171A", mode="r", zarr_format=2)[:])
        stamps += _zattrs(root, year, "171A")["T_OBS"]
    order = np.argsort(stamps)  # ISO strings sort in time order
    np.testing.assert_array_equal(cube, np.concatenate(frames)[order])

    ds = open_sdoml(root, channels=[304, 171])
    k = 7
    t_obs = ds["t_obs"].values[k, 1]  # channel 171, the 8th complete time
    year = int(str(t_obs)[:4])
    text = _zattrs(root, year, "171A")["T_OBS"]
    index = [_t_obs_by_hand(t) for t in text].index(t_obs)
    frame = zarr.open_array(root, path=f"{year}/171A", mode="r", zarr_format=2)[index]
    np.testing.assert_array_equal(ds["intensity"].values[k, 1], frame)
    assert ds["deg_cor"].values[k, 1] == _zattrs(root, year, "171A")["DEG_COR"][index]


def test_intensity_times_deg_cor_is_the_degraded_truth(clean_store, store):
    root, synth = clean_store
    ds = open_sdoml(root)
    uncorrected = (ds["intensity"] * ds["deg_cor"]).values
    for k in (0, 5, ds.sizes["time"] - 1):
        for j, channel in enumerate(synth.channels):
            t_obs = ds["t_obs"].values[k, j]
            truth = synth.true_frame(channel, t_obs) * synth.degradation(channel, [t_obs])[0]
            np.testing.assert_allclose(ds["deg_cor"].values[k, j],
                                       synth.deg_cor(channel, [t_obs])[0], rtol=1e-12)
            # noise-free: float32 rounding only
            np.testing.assert_allclose(uncorrected[k, j], truth, rtol=2e-6, atol=1e-6)

    root, synth = store  # with noise: disk pixels within a few per cent
    ds = open_sdoml(root, start="2012-01-01", end="2012-12-31")
    k = 3
    uncorrected = (ds["intensity"][k] * ds["deg_cor"][k]).values
    for j, channel in enumerate(AIA_CHANNELS):
        t_obs = ds["t_obs"].values[k, j]
        truth = synth.true_frame(channel, t_obs) * synth.degradation(channel, [t_obs])[0]
        for y, x in ((31, 31), (24, 38), (38, 24)):  # on the disk (radius 25.4 px)
            np.testing.assert_allclose(uncorrected[j, y, x], truth[y, x], rtol=0.08)


def test_file_url_and_path_give_the_same_cube(store):
    root, _ = store
    a = open_sdoml(root, channels=[131, 1700], years=[2011])
    b = open_sdoml("file://" + root, channels=["131A", "1700A"], years=2011)
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    assert b.attrs["source"] == "file://" + root


def test_time_range_never_opens_other_years(store, tmp_path):
    root, _ = store
    copy = tmp_path / "copy.zarr"
    shutil.copytree(root, copy)
    (copy / "2010" / "171A" / ".zarray").write_text("not json")  # unreadable year
    cube = open_sdoml_channel(str(copy), 171, start="2011-02-01", end="2011-11-30")
    assert cube["time"].values.min() >= np.datetime64("2011-02-01")
    assert cube["time"].values.max() <= np.datetime64("2011-11-30")
    assert cube.sizes["time"] >= 8
    with pytest.raises(Exception):  # noqa: B017 - zarr's own error for a broken .zarray
        open_sdoml_channel(str(copy), 171)


def test_missing_groups_name_the_url(store, tmp_path):
    root, _ = store
    with pytest.raises(ValueError, match=r"sdomlv2\.zarr.*2011/4500A"):
        open_sdoml(root, channels=[171, 4500], years=[2011])
    with pytest.raises(ValueError, match=r"sdomlv2\.zarr.*no year group \[2015\]"):
        open_sdoml(root, years=[2011, 2015])
    with pytest.raises(ValueError, match="no year group between"):
        open_sdoml(root, start="2016-01-01")
    with pytest.raises(ValueError, match="no SDOML group"):
        open_sdoml(str(tmp_path / "nothing.zarr"))


def test_s3_url_gives_an_anonymous_fsspec_store_without_network():
    url = "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2_small.zarr"
    store = open_store(url)
    assert isinstance(store, zarr.storage.FsspecStore)
    assert type(store.fs).__name__ == "S3FileSystem" and store.fs.anon is True
    assert store.path == url[len("s3://"):] and store.read_only
    signed = open_store(url, {"key": "k", "secret": "s"})
    assert signed.fs.anon is False and signed.fs.key == "k"


def test_missing_s3_driver_names_the_extra(monkeypatch):
    def no_driver(url, **kwargs):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(lfs, "url_to_fs", no_driver)
    with pytest.raises(ImportError, match=r"lascoproc\[cloud\]"):
        open_sdoml("s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2.zarr")


def test_memory_url_round_trip():
    write_sdoml_store("memory://lascoproc-test/sdoml.zarr", start="2011-03-01",
                      end="2011-03-02", cadence="6h", channels=(171, 193), size=16)
    ds = open_sdoml("memory://lascoproc-test/sdoml.zarr")
    assert ds.sizes["channel"] == 2 and ds.sizes["time"] >= 4
    assert float(ds["intensity"].mean()) > 0
