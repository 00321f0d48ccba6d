"""Level-1 planning: the vectorised planner equals the per-frame one it replaced, and the
NRL level-1 behaviour of issue 13 (bias from the level-0.5 HISTORY, corrected DATE-OBS, pointing
after the tables end, SOHO's position from its orbit files, summed frames), on the real headers
in tests/data and on synthetic frames."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from lascoproc.calibrate.plan import PLAN_COLUMNS, PLAN_UNITS, Level1Options, plan_level1
from lascoproc.io import lasco_header as lh
from lascoproc.io.calib_store import CalibrationStore, write_manifest
from lascoproc.kernels import lasco_time
from lascoproc.testing.calib import (
    synthetic_frame_headers,
    synthetic_time_diff,
    write_calibration_files,
)
from tests.conftest import raise_if_dask_computes
from tests.unit.plan_reference import REFERENCE_COLUMNS, reference_plan

DATA = Path(__file__).parents[1] / "data"

#: The options under which the new planner must give exactly the old planner's plan: the
#: behaviours added since (time correction, HISTORY bias, IDL pointing fallback, orbit files)
#: switched off.
AS_BEFORE = Level1Options(time_correction=False, bias_history=False, pointing_fallback="header",
                          orbit=False)


@pytest.fixture(scope="module")
def store_2002(tmp_path_factory):
    """Calibration files for 2002-05-21/22 whose exposure-factor tables list most frames of
    the synthetic frame sets below (C2 and C3)."""
    root = tmp_path_factory.mktemp("calib2002")
    records = []
    for kwargs in FRAME_SETS.values():
        records += synthetic_frame_headers(**kwargs)[1]
    write_calibration_files(root, start="2002-05-21", days=2, seed=5, exposures=records)
    return CalibrationStore(str(root))


FRAME_SETS = {
    # full C3 frames: keyholes, polarized/product/unknown filters, a window outside the CCD
    "c3_full": dict(start="2002-05-21", days=2, frames_per_day=40, detector="C3",
                    keyhole_every=7, special_every=5, unknown_filter_every=11,
                    bad_window_every=13, seed=1),
    # C2 frames after the tables' last day (2002-06-16), rolled by 1.5 deg and more (rotated
    # north up), some keyholes
    "c2_rolled": dict(start="2002-07-01", days=2, frames_per_day=30, detector="C2",
                      roll=1.5, roll_drift=0.01, keyhole_every=9, special_every=4, seed=2),
    # 2 x 2 summed frames (LEB and on-chip alternately)
    "c2_binned": dict(start="2002-05-21", days=2, frames_per_day=20, detector="C2",
                      shape=(512, 512), special_every=3, seed=3),
    # 640 x 480 subfields
    "c3_subfield": dict(start="2002-05-21", days=2, frames_per_day=20, detector="C3",
                        shape=(480, 640), keyhole_every=5, seed=4),
}


def assert_same_plan(new: xr.Dataset, ref: xr.Dataset) -> None:
    for name in REFERENCE_COLUMNS:
        a, b = new[name].values, ref[name].values
        if name == "bias_source":  # renamed: "offset_bias" -> "offset_bias.pro latest (port)"
            a = np.where(np.char.startswith(a.astype(str), "offset_bias.pro"), "offset_bias",
                         a.astype(str))
            b = b.astype(str)
        if name == "hglt_obs":  # numpy's vectorised sin may differ in the last bit
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13, err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("which", sorted(FRAME_SETS))
def test_vectorised_plan_equals_the_per_frame_plan(which, store_2002):
    frames, _ = synthetic_frame_headers(**FRAME_SETS[which])
    new = plan_level1(frames, store_2002, AS_BEFORE)
    ref = reference_plan(frames, store_2002, AS_BEFORE)
    assert_same_plan(new, ref)
    status = new["frame_status"].values
    assert (status == 0).sum() >= len(status) // 2  # most frames are planned


def test_the_frame_sets_hold_every_kind(store_2002):
    plans = {k: plan_level1(synthetic_frame_headers(**v)[0], store_2002, AS_BEFORE)
             for k, v in FRAME_SETS.items()}
    c3, c2 = plans["c3_full"], plans["c2_rolled"]
    reasons = set(c3["frame_status_reason"].values)
    assert any("not inside the 1024 x 1024 CCD" in r for r in reasons)
    assert any("'WEIRD' has no calibration factor" in r for r in reasons)
    assert any("returns 0 (no calibration)" in r for r in reasons)
    assert c3["keyhole"].values.any() and (c3["rectify"].values == 180.0).any()
    rotated = c2["rotation"].values != 0
    assert rotated.sum() > 40 and (c2["crota"].values[rotated] == 0).all()
    binned = plans["c2_binned"]
    assert set(binned["xsum"].values[binned["frame_status"].values == 0]) == {2}
    assert set(plans["c3_subfield"]["cdelt"].values[
        plans["c3_subfield"]["frame_status"].values == 0]) == {56.0}
    for plan in plans.values():
        sources = set(plan["bias_source"].values)
        assert "offset_bias.pro latest (port)" in sources
        if plan is not c2:  # no tables in July
            assert any(s.startswith("table ") for s in sources)


def test_vectorised_plan_equals_the_per_frame_plan_on_the_synthetic_archive(lasco_archive,
                                                                            calib_dir):
    """Full, binned and subfield frames of both detectors of the session's synthetic archive
    (its C3 keyhole frame, C2 Blue and polarized frames), plus copies with an unknown filter and
    copies after the tables' last day, whose level-0.5 roll (2.5 deg) makes them rotated."""
    from lascoproc.io.lasco_cube import open_lasco_frames

    store = CalibrationStore(str(calib_dir))
    checked = 0
    for detector in ("c2", "c3"):
        for shape in ((1024, 1024), (512, 512), (480, 640)):
            try:
                frames = open_lasco_frames(lasco_archive.root, detector=detector, shape=shape)
            except ValueError:
                continue
            odd = frames.copy()
            odd = odd.assign_coords(
                filter=("time", np.where(np.arange(odd.sizes["time"]) % 2 == 0, "Orange",
                                         "Polka")),
                time=odd["time"].values + np.timedelta64(60, "D"),
                crota1=("time", odd["crota1"].values + 2.5))
            for ds in (frames, odd):
                assert_same_plan(plan_level1(ds, store, AS_BEFORE),
                                 reference_plan(ds, store, AS_BEFORE))
                checked += ds.sizes["time"]
    assert checked >= 30


def test_plan_computes_nothing_and_takes_headers_only(lasco_archive, calib_dir):
    from lascoproc.io.lasco_cube import open_lasco_cube, open_lasco_frames

    store = CalibrationStore(str(calib_dir))
    cube = open_lasco_cube(lasco_archive.root, detector="c3")
    frames = open_lasco_frames(lasco_archive.root, detector="c3")
    assert "x" not in frames.dims
    with raise_if_dask_computes():
        from_cube = plan_level1(cube, store)
        from_frames = plan_level1(frames, store)
    for name in PLAN_COLUMNS:
        np.testing.assert_array_equal(from_cube[name].values, from_frames[name].values)
    for name, unit in PLAN_UNITS.items():
        assert from_cube[name].attrs["units"] == unit
    files = from_cube.attrs["calibration_files"]
    assert "lasco/data/calib/TIME_DIFF.DAT" in files
    assert store.digest(files) == store.digest(sorted(files))


# --- real headers ---------------------------------------------------------------------------

def header_frames(name: str, **changes) -> xr.Dataset:
    """A one-frame headers-only dataset from a real level-0.5 header in tests/data (what
    ``open_lasco_frames`` makes of the file)."""
    cards = (DATA / name).read_text(encoding="latin-1").splitlines()
    raw = "".join(c.ljust(80) for c in cards if c.strip() != "END") + "END".ljust(80)
    header = lh.parse_header((raw + " " * (-len(raw) % 2880)).encode("latin-1"))
    for key, value in changes.items():
        header[key] = value
    coords = lh.frame_coordinates(header)
    time = lh.observation_time(header)
    ds = xr.Dataset(coords={"time": ("time", [np.datetime64(time, "ns")]),
                            **{k: ("time", [v]) for k, v in coords.items()}},
                    attrs={"detector": coords["detector"],
                           "frame_shape": f"{header['NAXIS2']}x{header['NAXIS1']}"})
    return ds


@pytest.fixture(scope="module")
def store_2023(tmp_path_factory):
    """Synthetic files for 2023-12-01 (C3): no exposure-factor table for the frame (the
    exposures listed are other frames), roll tables ending before it (LAST_DAY 2023-11-20)."""
    root = tmp_path_factory.mktemp("calib2023")
    write_calibration_files(root, start="2023-10-27", days=1, seed=9, detectors=("c3",),
                            exposures=[])
    return CalibrationStore(str(root))


def test_2023_frame_uses_the_bias_nrl_recorded_and_falls_back_as_idl(store_2023):
    """33785492.fts (2023-12-01): HISTORY 'offset_bias.pro<TAB>1.32, 09/01/11, 418.861', the
    newest offset_bias version, whose coefficients are not public: 418.861 is used (our port
    gives 415.90). The frame is after the tables' last day: get_sun_center's default C3 centre
    (518.2, 532.5), i.e. CRPIX 519.2/533.5 as the level-0.5 header has it, and the roll
    -7.42291 (CROTA1), rotated north up."""
    plan = plan_level1(header_frames("lasco_c3_l05_33785492.header"), store_2023)
    assert plan["frame_status"].values[0] == 0
    assert plan["bias"].values[0] == 418.861
    assert plan["bias_source"].values[0] == "level-0.5 HISTORY offset_bias.pro 1.32"
    assert (plan["bias_history"].values[0], plan["bias_history_version"].values[0]) == (
        418.861, "1.32")
    assert (plan["sun_x"].values[0], plan["sun_y"].values[0]) == (518.2, 532.5)
    assert plan["crpix1"].values[0] == pytest.approx(519.2)
    assert plan["crpix2"].values[0] == pytest.approx(533.5)
    assert plan["roll"].values[0] == -7.42291 and plan["rotation"].values[0] == -7.42291
    assert plan["crota"].values[0] == 0.0
    assert plan["pointing_source"].values[0].startswith("get_sun_center default centre")
    # the time stays the level-0.5 one (adjust_hdr_tcr returns nothing after LAST_DAY)
    assert plan["date_obs"].values[0] == np.datetime64("2023-12-01T00:06:07.373")
    assert plan["date_obs_source"].values[0].startswith("uncorrected: after LAST_DAY 2023-11-2")
    # without the HISTORY option: our offset_bias port
    port = plan_level1(header_frames("lasco_c3_l05_33785492.header"), store_2023,
                       Level1Options(bias_history=False))
    assert port["bias"].values[0] == pytest.approx(415.90, abs=0.01)
    assert port["bias_source"].values[0] == "offset_bias.pro latest (port)"


def test_2002_frame_records_both_biases_and_uses_the_port(store_2002):
    """32088304.fts (2002-05-21): HISTORY 'offset_bias.pro<TAB>1.24 12/13/01, 378.876', an
    older version than 1.32: recorded, not used; our offset_bias port ("latest") gives
    379.20915 (docs/level1_port.md), there being no table line for this frame."""
    plan = plan_level1(header_frames("lasco_c3_l05.header"), store_2002)
    assert plan["frame_status"].values[0] == 0
    assert (plan["bias_history"].values[0], plan["bias_history_version"].values[0]) == (
        378.876, "1.24")
    assert plan["bias"].values[0] == pytest.approx(379.20915, abs=1e-5)
    assert plan["bias_source"].values[0] == "offset_bias.pro latest (port)"


def test_real_c2_frame_gets_nrls_corrected_date_obs(tmp_path):
    """The real level-1 C2 frame 25299383.fts: HISTORY 'Original date_obs: 2009/02/28
    00:06:03.474', DATE-OBS 2009-02-28T00:05:33.380. With a TIME_DIFF.DAT whose records around
    that time say OBE - LOBT = 30.094 s (the synthetic file laid out as the real one, 950,000+
    records, the last big-endian one at 2005-12-23), the plan writes NRL's DATE-OBS."""
    root = tmp_path / "calib"
    write_calibration_files(root, start="2009-02-28", days=1, detectors=("c2",), exposures=[])
    w0, w1 = synthetic_time_diff(np.datetime64("2009-03-02", "ms"))
    frame_time = np.datetime64("2009-02-28T00:06:03.474", "ms")
    near = np.abs(w1 - frame_time) < np.timedelta64(1, "h")
    w0 = np.where(near, w1 + np.timedelta64(30_094, "ms"), w0)
    (root / "lasco/data/calib/TIME_DIFF.DAT").write_bytes(lasco_time.time_diff_bytes(w0, w1))
    write_manifest(str(root))
    ds = xr.Dataset(coords={
        "time": ("time", [np.datetime64(frame_time, "ns")]),
        **{k: ("time", [v]) for k, v in dict(
            detector="C2", filter="Orange", polarizer="Clear", exptime=25.0991,
            mid_date=54890, mid_time=376.024, readport="C", r1col=20, r1row=1, r2col=1043,
            r2row=1024, sumcol=0, sumrow=0, lebxsum=1, lebysum=1, crpix1=512.0, crpix2=512.0,
            crota1=0.475331).items()}}, attrs={"detector": "C2", "frame_shape": "1024x1024"})
    plan = plan_level1(ds, CalibrationStore(str(root)))
    with fits.open(DATA / "lasco_c2_25299383_s.fts") as hdul:
        nrl = np.datetime64(hdul[0].header["DATE-OBS"], "ms")
    assert plan["date_obs"].values[0] == nrl == np.datetime64("2009-02-28T00:05:33.380")
    assert plan["time_offset"].values[0] == pytest.approx(30.094, abs=1e-5)
    assert plan["time_offset_error"].values[0] == pytest.approx(0.0, abs=1e-4)
    assert plan["date_obs_source"].values[0] == "lasco/data/calib/TIME_DIFF.DAT"


# --- time correction, observer, summed frames on synthetic frames ---------------------------

def _records_by_hand(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(w1 times, w0 - w1 in s) of a TIME_DIFF.DAT read with struct (byte order as
    time_correction2.pro: records up to 313887 big-endian)."""
    raw = path.read_bytes()
    count = struct.unpack("<i", raw[:4])[0]
    words = np.frombuffer(raw[16:16 * (count + 1)], ">i4").reshape(-1, 4)
    late = np.arange(1, count + 1) > 313887
    words = np.where(late[:, None], np.frombuffer(raw[16:16 * (count + 1)], "<i4")
                     .reshape(-1, 4), words)
    words = words.astype(np.int64)
    day = np.datetime64("1858-11-17", "ms")
    w0 = day + (words[:, 0] * 86_400_000 + words[:, 1]).astype("timedelta64[ms]")
    w1 = day + (words[:, 2] * 86_400_000 + words[:, 3]).astype("timedelta64[ms]")
    return w1, (w0 - w1) / np.timedelta64(1, "s")


def test_date_obs_is_the_level05_time_minus_the_record_at_or_before(store_2002):
    frames, _ = synthetic_frame_headers(**FRAME_SETS["c3_full"])
    plan = plan_level1(frames, store_2002)
    w1, delta = _records_by_hand(Path(store_2002.url) / "lasco/data/calib/TIME_DIFF.DAT")
    t = frames["time"].values.astype("datetime64[ms]")
    rec = np.searchsorted(w1, t, side="right") - 1  # 0-based index of the record at/before
    trio = np.stack([delta[rec - 1], delta[rec], delta[rec + 1]], axis=1)
    expected = np.where((delta[rec] > 500) | (delta[rec] < -15), np.median(trio, axis=1),
                        delta[rec])
    shift = np.rint(expected.astype(np.float32).astype(float) * 1000).astype("timedelta64[ms]")
    np.testing.assert_array_equal(plan["date_obs"].values.astype("datetime64[ms]"), t - shift)
    assert set(plan["date_obs_source"].values) == {"lasco/data/calib/TIME_DIFF.DAT"}
    assert (plan["time_offset"].values > 20).all()  # also for frames not calibrated


def test_pointing_is_read_at_the_corrected_time(store_2002):
    frames, _ = synthetic_frame_headers(**FRAME_SETS["c3_full"])
    plan = plan_level1(frames, store_2002)
    table = store_2002.roll_center_table("C3", "post")
    at = lasco_time.utc_to_tai(plan["date_obs"].values) + 32.184
    ok = plan["pointing_source"].values == "c3_post_recovery_adj_xyr_medv2.sav"
    assert ok.sum() > 40  # the others: keyhole frames the table does not know, or flagged
    np.testing.assert_allclose(plan["roll"].values[ok],
                               np.interp(at, table.c_tai, table.roll)[ok], rtol=0, atol=1e-12)


def test_observer_from_the_orbit_files(store_2002):
    """wcs_find_position.pro: DSUN_OBS = 1000 |HEC|, HGLN_OBS = lon_soho - lon_earth, HGLT_OBS
    = lat_soho (radians to degrees), from the row of get_orbit.pro's file (definitive first)
    nearest in time; the frames' days have definitive files."""
    frames, _ = synthetic_frame_headers(**FRAME_SETS["c3_subfield"])
    plan = plan_level1(frames, store_2002)
    ok = plan["frame_status"].values == 0
    i = int(np.flatnonzero(ok)[3])
    t = plan["date_obs"].values[i].astype("datetime64[ms]")
    day = str(t)[:10].replace("-", "")
    path = Path(store_2002.url) / f"ancil_data/orbit/definitive/2002/SO_OR_DEF_{day}_V02.FITS"
    with fits.open(path) as hdul:
        data = hdul[1].data
        ms = (t - t.astype("datetime64[D]")).astype(int)
        row = int(np.argmin(np.abs(data["ELLAPSED MILLISECONDS OF DAY"] - ms)))
        hec = np.array([data[f"HEC {a} (KM)"][row] for a in "XYZ"])
        expected = (1000.0 * np.sqrt((hec ** 2).sum()),
                    np.degrees(data["HELIOGRAPHIC LONG. SOHO"][row]
                               - data["HELIOGRAPHIC LONG. EARTH"][row]),
                    np.degrees(data["HELIOGRAPHIC LAT. SOHO"][row]))
    got = (plan["dsun_obs"].values[i], plan["hgln_obs"].values[i], plan["hglt_obs"].values[i])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert plan["observer_source"].values[i] == f"SO_OR_DEF_{day}_V02.FITS"
    assert 0 < abs(plan["hgln_obs"].values[i]) < 0.3


def test_observer_predictive_then_approximation(store_2002):
    """A day with a predictive file only, and a day without any: the approximation, said so."""
    frames, _ = synthetic_frame_headers(start="2002-05-25", days=2, frames_per_day=4,
                                        detector="C3", seed=8)
    plan = plan_level1(frames, store_2002)
    sources = plan["observer_source"].values
    assert sources[0] == "SO_OR_PRE_20020525_V03.FITS"
    assert sources[-1].startswith("approximation: no SOHO orbit file for the day")
    assert plan["hgln_obs"].values[-1] == 0.0


def test_summed_frames_table_bias_times_leb_summing(store_2002):
    """Issue 13 item 8. c2_calibrate.pro 1.14 subtracts GET_EXP_FACTOR's bias unchanged
    (line 215 'img = (img-bias)*calfac/hdr.exptime'), and says 'bias is *4 in offset_bias.pro,
    if appropriate' (lines 149-155): whether the table bias is a one-pixel one is not in any
    public source (get_exp_factor.pro is not public). Default: x LEBXSUM*LEBYSUM for
    LEB-summed frames, on-chip summed ones (SUMCOL/SUMROW) not; the option takes it as it is."""
    frames, _ = synthetic_frame_headers(**FRAME_SETS["c2_binned"])
    scaled = plan_level1(frames, store_2002)
    plain = plan_level1(frames, store_2002, Level1Options(table_bias_lebsum=False))
    from_table = np.char.startswith(scaled["bias_source"].values.astype(str), "table")
    leb = (frames["lebxsum"].values == 2) & from_table
    chip = (frames["sumcol"].values == 2) & from_table
    assert leb.sum() >= 5 and chip.sum() >= 5
    np.testing.assert_array_equal(scaled["bias"].values[leb], 4 * plain["bias"].values[leb])
    np.testing.assert_array_equal(scaled["bias"].values[chip], plain["bias"].values[chip])
    # the table line by hand: bias column 22-32 of the frame's line
    i = int(np.flatnonzero(leb)[0])
    name = str(frames["filename"].values[i])
    table = Path(store_2002.url) / "lasco/expfac/data/0205" / \
        scaled["expfactor_file"].values[i].rsplit("/", 1)[-1]
    line = next(r for r in table.read_text().splitlines() if r[:12].strip() == name)
    assert scaled["bias"].values[i] == 4 * float(line[22:32])


def test_unusable_exposure_times_are_flagged(store_2002):
    frames, _ = synthetic_frame_headers(start="2002-05-21", days=1, frames_per_day=6,
                                        detector="C3", seed=6)
    exptime = frames["exptime"].values.copy()
    exptime[:3] = [0.0, -3.0, np.nan]
    plan = plan_level1(frames.assign_coords(exptime=("time", exptime)), store_2002)
    reasons = list(plan["frame_status_reason"].values[:3])
    assert [r.split(":")[0] for r in reasons] == ["exptime_zero", "exptime_negative",
                                                 "exptime_nonfinite"]
    assert list(plan["frame_status"].values) == [2, 2, 2, 0, 0, 0]
    # frames not calibrated still get their header-only columns
    assert plan["date_obs"].values[0] != np.datetime64("NaT")


def test_options_are_checked_and_recorded():
    with pytest.raises(ValueError, match="pointing_fallback"):
        Level1Options(pointing_fallback="nearest")
    attrs = Level1Options().as_attrs()
    assert attrs["level1_option_time_correction"] == 1
    assert attrs["level1_option_pointing_fallback"] == "idl"


def test_c2_star_offsets_before_september_1997(tmp_path):
    """TIME_CORRECTION2 takes frames before 1997-09-03 07:28 from
    c2_012496t1544_082997t1827_timeoffsets.sav: the offset of the last date at or before."""
    root = tmp_path / "calib"
    write_calibration_files(root, start="1997-05-01", days=1, detectors=("c3",), exposures=[])
    store = CalibrationStore(str(root))
    frames, _ = synthetic_frame_headers(start="1997-05-01", days=1, frames_per_day=4,
                                        detector="C3", seed=3)
    plan = plan_level1(frames, store)
    offsets, rel = store.c2_time_offsets("c2_012496t1544_082997t1827_timeoffsets.sav")
    t = frames["time"].values.astype("datetime64[ms]")
    k = np.searchsorted(offsets.dates, t, side="right") - 1
    shift = np.rint(offsets.offsets[k].astype(np.float32).astype(float) * 1000)
    np.testing.assert_array_equal(plan["date_obs"].values.astype("datetime64[ms]"),
                                  t - shift.astype("timedelta64[ms]"))
    assert set(plan["date_obs_source"].values) == {rel}
