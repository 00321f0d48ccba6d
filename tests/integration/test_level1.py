"""Level 0.5 -> level 1 on the synthetic archive, against hand-computed values and numpy.

The errors of CorKit 1.0.16 (issue 3), each with the test that keeps us from them:

- C3 vignetting applied twice: ``test_photometry_by_hand_no_double_vignetting``
- C3 distortion 10x too small: ``test_c3_distortion_is_not_ten_times_too_small``
  (tests/unit/test_kernels_lasco.py)
- transposed missing-block holes: ``test_missing_blocks_flagged_where_they_are_not_transposed``
- keyhole frames never flipped: ``test_keyhole_frame_is_flipped_and_crota_true``
- CROTA kept after rotation: ``test_rotated_frame_says_crota_zero_and_is_rotated``
- headers astropy's WCS rejects: ``test_fits_output_wcs_roundtrips_astropy_and_sunpy``
  (tests/integration/test_level1_fits.py)
"""

import datetime as dt
import json
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from lascoproc.calibrate.level1 import (
    Level1Options,
    calibrate_level1,
    calibration_images,
    frame_rows,
    level1_block,
    plan_level1,
)
from lascoproc.io.calib_store import CalibrationStore, write_manifest
from lascoproc.io.lasco_cube import open_lasco_cube
from lascoproc.kernels.quality import MISSING, OUTSIDE
from lascoproc.pipeline.level1 import open_level1, run_level1
from tests.conftest import raise_if_dask_computes

NO_GEOMETRY = Level1Options(distortion=False, roll_correction=False)


@pytest.fixture(scope="module")
def store(calib_dir):
    return CalibrationStore(str(calib_dir))


@pytest.fixture(scope="module")
def cube_c3(lasco_archive):
    return open_lasco_cube(lasco_archive.root, detector="c3")


@pytest.fixture(scope="module")
def cube_c2(lasco_archive):
    return open_lasco_cube(lasco_archive.root, detector="c2")


def test_frames_per_chunk_same_cube(lasco_archive, calib_dir):
    """open_level1(frames_per_chunk=3): chunks of 3 frames (the last one shorter), the same
    values bit for bit as one frame per chunk."""
    one, _ = open_level1(lasco_archive.root, detector="c3", calib=str(calib_dir))
    three, l05 = open_level1(lasco_archive.root, detector="c3", calib=str(calib_dir),
                             frames_per_chunk=3)
    n = one.sizes["time"]
    assert n == 4 and three["brightness"].chunks[0] == (3, 1)
    assert l05["counts"].chunks[0] == (3, 1)
    with dask.config.set(scheduler="threads"):
        for name in ("brightness", "quality", "nmissing", "frame_status"):
            a, b = dask.compute(one[name].data, three[name].data)
            np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def test_building_the_level1_graph_computes_nothing(lasco_archive, calib_dir):
    with raise_if_dask_computes():
        l1, _ = open_level1(lasco_archive.root, detector="c3", calib=str(calib_dir))
    assert l1["brightness"].dtype == np.float32
    assert l1["brightness"].chunks[0] == (1,) * l1.sizes["time"]


def test_photometry_by_hand_no_double_vignetting(cube_c3, store, calib_dir):
    """brightness = ((raw - bias) / (exptime * expfac)) * vig * calfac - ramp
    (c3_calibrate.pro 1.54), evaluated here from the raw inputs, outside the code."""
    plan = plan_level1(cube_c3, store, NO_GEOMETRY)
    l1 = calibrate_level1(cube_c3, store, options=NO_GEOMETRY, plan=plan)
    i = int(np.flatnonzero((cube_c3["filter"].values == "Clear")
                           & (plan["frame_status"].values == 0)
                           & ~plan["keyhole"].values)[0])
    raw = cube_c3["counts"][i].values.astype(np.float64)
    with fits.open(calib_dir / "lasco/data/calib/c3vig_postint_final.fts") as h:
        vig = h[0].data.astype(np.float64)
    with fits.open(calib_dir / "lasco/data/calib/C3ramp.fts") as h:
        ramp = h[0].data.astype(np.float64)
    # The expfactor table line of this frame, read by hand (fixed columns 12-22 and 22-32)
    name = str(cube_c3["filename"].values[i])
    day = dt.date(1858, 11, 17) + dt.timedelta(days=int(cube_c3["mid_date"].values[i]))
    table = (calib_dir / f"lasco/expfac/data/{day:%y%m}/c3_expfactor_{day:%y%m%d}.dat")
    line = next(row for row in table.read_text().splitlines() if row[:12].strip() == name)
    expfac, bias = float(line[12:22]), float(line[22:32])
    exptime = float(cube_c3["exptime"].values[i]) * expfac
    mjd = (np.datetime64(cube_c3["time"].values[i], "D") - np.datetime64("1858-11-17")).astype(int)
    calfac = (7.43e-8 * (mjd - 50000) + 5.96e-3) * 1e-10  # c3_calfactor.pro, Clear/Clear
    expected = (raw - bias) / exptime * vig * calfac - ramp
    got = l1["brightness"][i].values
    quality = l1["quality"][i].values
    ok = quality == 0
    assert ok.mean() > 0.3
    np.testing.assert_allclose(got[ok], expected[ok], rtol=2e-5, atol=1e-16)
    assert plan["expfac"].values[i] == pytest.approx(expfac)
    assert plan["bias"].values[i] == pytest.approx(bias)


def test_missing_blocks_flagged_where_they_are_not_transposed(lasco_archive, cube_c3, store):
    plan = plan_level1(cube_c3, store, NO_GEOMETRY)
    l1 = calibrate_level1(cube_c3, store, options=NO_GEOMETRY, plan=plan)
    names = list(cube_c3["filename"].values)
    frame = next(f for f in lasco_archive.good("C3") if f.shape == (1024, 1024)
                 and any(r != c for r, c in f.missing_blocks)
                 and plan["frame_status"].values[names.index(f.path.rsplit("/", 1)[-1])] == 0)
    i = names.index(frame.path.rsplit("/", 1)[-1])
    quality = l1["quality"][i].values
    brightness = l1["brightness"][i].values
    expected = np.zeros((1024, 1024), bool)
    for r, c in frame.missing_blocks:
        expected[32 * r:32 * r + 32, 32 * c:32 * c + 32] = True
    flagged = (quality & MISSING) > 0
    inside = (quality & OUTSIDE) == 0
    np.testing.assert_array_equal(flagged, expected & inside)
    assert np.all(np.isnan(brightness[flagged]))
    assert not np.isnan(brightness[inside & ~flagged]).any()


def test_distortion_moves_pixels_and_flags_their_neighbours(cube_c3, store):
    l1 = calibrate_level1(cube_c3, store)  # distortion on
    flat = calibrate_level1(cube_c3, store, options=Level1Options(distortion=False))
    i = 1
    a, b = l1["brightness"][i].values, flat["brightness"][i].values
    both = ~np.isnan(a) & ~np.isnan(b)
    assert np.nanmax(np.abs(a[both] - b[both])) > 0
    qa = l1["quality"][i].values
    qb = flat["quality"][i].values
    # bilinear resampling of a zeroed block contaminates a one-pixel ring around it
    assert ((qa & MISSING) > 0).sum() >= ((qb & MISSING) > 0).sum()


def test_dask_path_equals_numpy_loop_on_uneven_chunks(cube_c2, store):
    plan = plan_level1(cube_c2, store)
    cube = cube_c2.chunk({"time": (1, 2) + (1,) * (cube_c2.sizes["time"] - 3)})
    l1 = calibrate_level1(cube, store, plan=plan)
    assert l1["brightness"].chunks[0][:2] == (1, 2)
    got_b, got_q = dask.compute(l1["brightness"].data, l1["quality"].data)
    images, cells, index = calibration_images(cube_c2, plan, store)
    rows = frame_rows(plan, index)
    for i in range(cube_c2.sizes["time"]):
        b, q, _, _ = level1_block(cube_c2["counts"][i:i + 1].values, rows[i:i + 1],
                                  images=images, cells=cells,
                                  detector="C2", distortion=True)
        np.testing.assert_array_equal(got_b[i], b[0])
        np.testing.assert_array_equal(got_q[i], q[0])


def test_keyhole_frame_is_flipped_and_crota_true(cube_c3, store):
    plan = plan_level1(cube_c3, store, NO_GEOMETRY)
    assert plan["keyhole"].values.sum() == 1
    i = int(np.flatnonzero(plan["keyhole"].values)[0])
    flipped = calibrate_level1(cube_c3, store, options=NO_GEOMETRY, plan=plan)
    unflipped_plan = plan.copy(deep=True)
    unflipped_plan["keyhole"].values[i] = False
    straight = calibrate_level1(cube_c3, store, options=NO_GEOMETRY, plan=unflipped_plan)
    a = flipped["brightness"][i].values
    b = straight["brightness"][i].values
    ok = ~np.isnan(a) & ~np.isnan(b[::-1, ::-1])
    np.testing.assert_array_equal(a[ok], b[::-1, ::-1][ok])
    # the C3 mask is flipped with the image: the valid areas are exact 180-degree turns too
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b[::-1, ::-1]))
    assert ok.mean() > 0.3
    # roll of the keyhole frame: header CROTA1 ~ 180 -> CROTA1 - 180 after the flip, kept
    # (< 1 deg: no rotation)
    crota1 = float(cube_c3["crota1"].values[i])
    assert abs(crota1) > 170
    assert plan["crota"].values[i] == pytest.approx(crota1 - 180.0)
    assert plan["rotation"].values[i] == 0.0
    assert plan["rectify"].values[i] == 180.0
    # sun centre moved with the flip: 1023 - x (0-based), CRPIX = that + 1
    assert plan["crpix1"].values[i] == pytest.approx(1023 - plan["sun_x"].values[i] + 1)


class RolledStore:
    """A calibration source whose attitude table says the spacecraft is rolled by 5 deg."""

    def __init__(self, store):
        self._store = store
        self.url = store.url + "#rolled"

    def __getattr__(self, name):
        return getattr(self._store, name)

    def sun_center_roll(self, detector, time):
        return (512.0, 515.0), 5.0, "rolled.sav"


def test_rotated_frame_says_crota_zero_and_is_rotated(cube_c2, store):
    rolled = RolledStore(store)
    plan = plan_level1(cube_c2, rolled, Level1Options(distortion=False))
    i = 0
    assert plan["rotation"].values[i] == 5.0
    assert plan["crota"].values[i] == 0.0 and plan["rectify"].values[i] == 5.0
    assert (plan["crpix1"].values[i], plan["crpix2"].values[i]) == (513.0, 516.0)
    l1 = calibrate_level1(cube_c2, rolled, options=Level1Options(distortion=False), plan=plan)
    ref = calibrate_level1(cube_c2, store, options=NO_GEOMETRY)
    b = l1["brightness"][i].values
    # the sun centre is the pivot, behind the occulter: outside the field in both
    assert np.isnan(b[515, 512]) and l1["quality"][i].values[515, 512] & OUTSIDE
    assert ref["quality"][i].values[515, 512] & OUTSIDE
    # a rotation about the pivot keeps each ring about it: the median brightness at 300 px
    # (in the field) is the same (a wrong pivot moves the ring across the radial profile)
    y, x = np.mgrid[0:1024, 0:1024]
    ring = np.abs(np.hypot(x - 512, y - 515) - 300) < 2
    a_ring, r_ring = b[ring], ref["brightness"][i].values[ring]
    assert np.isfinite(a_ring).mean() > 0.9 and np.isfinite(r_ring).mean() > 0.9
    assert np.nanmedian(a_ring) == pytest.approx(np.nanmedian(r_ring), rel=0.01)
    # corners that rotated in from outside the frame are flagged outside
    assert l1["quality"][i].values[0, 1023] & OUTSIDE


def test_frames_that_cannot_be_calibrated_are_flagged_not_fatal(cube_c2, store):
    bad = cube_c2.copy()
    filters = bad["filter"].values.copy()
    filters[0] = "Deep Red"
    polar = bad["polarizer"].values.copy()
    polar[0] = "+60 Deg"  # c2_calfactor.pro returns 0 for Deeprd with a polarizer
    bad = bad.assign_coords(filter=("time", filters), polarizer=("time", polar))
    plan = plan_level1(bad, store)
    assert plan["frame_status"].values[0] == 2
    assert "calibration factor" in plan["frame_status_reason"].values[0]
    l1 = calibrate_level1(bad, store, plan=plan)
    status = l1["frame_status"].values
    assert status[0] == 2 and (status[1:] == 0).all()
    assert np.isnan(l1["brightness"][0].values).all()
    assert not np.isnan(l1["brightness"][1].values).all()


def test_reproduces_real_idl_factors_of_c2_frame(tmp_path):
    """The real IDL level-1 frame tests/data/lasco_c2_25299383_s.fts: HISTORY says
    get_exp_factor 1.00108, Bias (618.500), c2_calfactor 6.26831e-12; header RSUN 978.572578766,
    EXPTIME 25.1262079357. A one-frame plan with that frame's level-0.5 values and an
    exposure-factor table holding IDL's line reproduces them to 5 significant digits."""
    from lascoproc.testing.calib import write_calibration_files

    root = tmp_path / "calib"
    write_calibration_files(root, start="2009-02-28", days=1, detectors=("c2",), exposures=[
        ("C2", "25299383.fts", "2009/02/28", "00:06:03.474", 25.0991, 54890, 376.024, 618.5,
         "Orange", "Clear")])
    table = root / "lasco/expfac/data/0902/c2_expfactor_090228.dat"
    line = table.read_text().splitlines()[0]
    table.write_text(line[:12] + f"{1.00108:10.6f}" + line[22:] + "\n")
    write_manifest(str(root))  # the edited table is the store's now
    ds = xr.Dataset(coords={
        "time": ("time", [np.datetime64("2009-02-28T00:06:03.474", "ns")]),
        **{k: ("time", [v]) for k, v in dict(
            detector="C2", filter="Orange", polarizer="Clear", exptime=25.0991,
            mid_date=54890, mid_time=376.024, readport="C", r1col=20, r1row=1, r2col=1043,
            r2row=1024, sumcol=0, sumrow=0, lebxsum=1, lebysum=1, crpix1=512.0, crpix2=512.0,
            crota1=0.475331).items()},
    }, attrs={"detector": "C2"})
    ds = ds.assign(counts=(("time", "y", "x"), np.zeros((1, 1024, 1024), np.uint16)))
    plan = plan_level1(ds, CalibrationStore(str(root)))
    assert plan["frame_status"].values[0] == 0

    def sig5(x):
        return float(f"{x:.5g}")

    assert sig5(plan["expfac"].values[0]) == 1.0011
    assert plan["bias"].values[0] == 618.5
    assert sig5(plan["calfac"].values[0]) == sig5(6.26831e-12)
    assert sig5(plan["exptime"].values[0]) == sig5(25.1262079357)
    assert sig5(plan["rsun"].values[0]) == sig5(978.572578766)
    assert plan["cdelt"].values[0] == 11.9


def test_zarr_output_is_analysis_ready(lasco_archive, calib_dir, tmp_path):
    out = tmp_path / "c3_l1.zarr"
    result = run_level1(lasco_archive.root, detector="c3", calib=str(calib_dir), out=str(out))
    ds = xr.open_zarr(out)
    for name in ("brightness", "quality", "frame_status", "nmissing"):
        assert name in ds
    for name in ("filter", "polarizer", "exptime", "expfac", "bias", "calfac", "crpix1",
                 "crpix2", "cdelt", "crota", "rsun", "dsun_obs", "hglt_obs", "hgln_obs"):
        assert ds[name].dims == ("time",), name
    import astropy.units as u

    assert u.Unit(ds["brightness"].attrs["units"]).is_equivalent(u.dimensionless_unscaled)
    files = ds.attrs["calibration_files"]
    assert any(f.startswith("lasco/data/calib/c3vig_postint_final.fts sha256:") for f in files)
    np.testing.assert_array_equal(ds["brightness"].values, result.dataset["brightness"].values)
    assert ds.attrs["lascoproc_version"]


def test_cli_calibrate(lasco_archive, calib_dir, tmp_path, capsys):
    from lascoproc_cli.main import main

    out = tmp_path / "c2.zarr"
    assert main(["lasco", "calibrate", str(lasco_archive.root), "--detector", "c2",
                 "--calib", str(calib_dir), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "processed now" in text and "wall time" in text
    assert xr.open_zarr(out).sizes["time"] >= 3
    code = main(["lasco", "calibrate", str(lasco_archive.root), "--detector", "c2",
                 "--calib", str(tmp_path / "missing"), "--out", str(tmp_path / "x.zarr")])
    assert code == 1
    assert "no calibration store" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["binned", "subfield"])
def test_binned_and_subfield_frames_are_calibrated(lasco_archive, calib_dir, store, kind):
    """Summed (512x512) and subfield frames: calibration images cut to the window and binned
    to the summing; CDELT and CRPIX scaled accordingly."""
    frames = [f for f in lasco_archive.good() if f.kind == kind]
    if not frames:
        pytest.skip(f"no {kind} frame")
    frame = frames[0]
    det = frame.detector.lower()
    cube = open_lasco_cube(lasco_archive.root, detector=det, shape=frame.shape)
    plan = plan_level1(cube, store)
    i = list(cube["filename"].values).index(frame.path.rsplit("/", 1)[-1])
    assert plan["frame_status"].values[i] == 0, plan["frame_status_reason"].values[i]
    xsum = int(plan["xsum"].values[i])
    width = int(cube["r2col"].values[i]) - int(cube["r1col"].values[i]) + 1
    assert plan["cdelt"].values[i] == pytest.approx(
        {"C2": 11.9, "C3": 56.0}[frame.detector] * width / frame.shape[1])
    l1 = calibrate_level1(cube, store, plan=plan)
    b = l1["brightness"][i].values
    assert b.shape == frame.shape
    assert np.isfinite(b).mean() > 0.2
    if kind == "binned":
        assert xsum == 2


def test_level1_with_inpainting_fills_and_flags(lasco_archive, calib_dir, tmp_path):
    """run_level1(inpaint="fallback"): missing pixels get values and bit 4; every observed
    pixel is bit-identical to the run without inpainting."""
    plain = run_level1(lasco_archive.root, detector="c3", calib=str(calib_dir),
                       out=str(tmp_path / "a.zarr"))
    filled = run_level1(lasco_archive.root, detector="c3", calib=str(calib_dir),
                        out=str(tmp_path / "b.zarr"), inpaint="fallback")
    a, b = xr.open_zarr(tmp_path / "a.zarr"), xr.open_zarr(tmp_path / "b.zarr")
    qa, qb = a["quality"].values, b["quality"].values
    holes = ((qa & MISSING) > 0) & ((qa & OUTSIDE) == 0)
    assert holes.any()
    np.testing.assert_array_equal(qb, np.where(holes, qa | 4, qa))
    assert np.isfinite(b["brightness"].values[holes]).all()
    observed = ~holes
    np.testing.assert_array_equal(a["brightness"].values[observed],
                                  b["brightness"].values[observed])
    assert b.attrs["inpaint_method"] == "biharmonic"  # "fallback" is its old name
    assert plain.report.frames == filled.report.frames


def test_cube_of_a_size_no_frame_has_is_a_clear_error(lasco_archive):
    with pytest.raises(ValueError, match="no usable C2 frame of 100x100"):
        open_lasco_cube(lasco_archive.root, detector="c2", shape=(100, 100))


@pytest.mark.parametrize("pipeline", ["ingest", "calibrate"])
def test_resume_of_another_definition_is_refused_before_any_store_is_written(
        pipeline, lasco_archive, calib_dir, tmp_path, monkeypatch):
    """A multi-size run resumed where one store (here not the first) was written by another
    run definition is refused, naming that store and what differs, before any store is
    touched (before 2026-12-02 the earlier sizes were written first)."""
    import zarr

    from lascoproc.io.zarr_store import StoreMismatchError
    from lascoproc.pipeline import ingest, level1
    from lascoproc.pipeline.ingest import ingest_level05
    from lascoproc.pipeline.regions import DEFINITION_ATTR, FINGERPRINT_ATTR

    out = str(tmp_path / "c3.zarr")

    def run(**kwargs):
        if pipeline == "ingest":
            return ingest_level05(str(lasco_archive.root), detector="c3", out=out, **kwargs)
        return run_level1(str(lasco_archive.root), detector="c3", calib=str(calib_dir),
                          out=out, **kwargs)

    first = run()
    assert first.others, "the archive must hold a second frame size"
    other = next(iter(first.others.values()))[0]
    group = zarr.open_group(other, mode="r+")
    definition = json.loads(group.attrs[DEFINITION_ATTR])
    definition["definition"]["lascoproc_version"] = "0.0.1"
    group.attrs.update({DEFINITION_ATTR: json.dumps(definition), FINGERPRINT_ATTR: "another"})
    calls = []
    module = ingest if pipeline == "ingest" else level1
    real = module.write_cube
    monkeypatch.setattr(module, "write_cube",
                        lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    with pytest.raises(StoreMismatchError, match="lascoproc_version") as caught:
        run(resume=True)
    assert Path(other).name in str(caught.value)
    assert calls == []


def test_out_holds_only_full_frames_whatever_the_selection(lasco_archive, tmp_path):
    """``out`` holds the 1024 x 1024 frames; other sizes get stores named by their size, also
    in a selection without any full frame (which used to put a subfield into ``out``), and
    the run report goes beside ``out``. ``shape`` writes that one size to ``out``."""
    from lascoproc.pipeline.ingest import ingest_level05
    from lascoproc.pipeline.report import report_path

    whole = ingest_level05(str(lasco_archive.root), detector="c3", out=str(tmp_path / "a.zarr"))
    assert whole.dataset.sizes["y"] == 1024 and whole.others
    size, (store, _) = next(iter(whole.others.items()))
    ny, nx = (int(v) for v in size.split("x"))
    full = whole.dataset["time"].values
    second = np.timedelta64(1, "s")
    when = next(t for t in xr.open_zarr(store)["time"].values
                if np.abs(full - t).min() > 5 * second)  # no full frame within 5 s
    out = tmp_path / "b.zarr"
    run = ingest_level05(str(lasco_archive.root), detector="c3", out=str(out),
                         start=when - 2 * second, end=when + 2 * second)
    assert (run.dataset.sizes["y"], run.dataset.sizes["x"]) == (ny, nx)
    assert not out.exists()
    assert Path(run.report.store).name == f"b_{ny}x{nx}.zarr"
    assert Path(report_path(str(out))).exists()
    chosen = ingest_level05(str(lasco_archive.root), detector="c3", out=str(tmp_path / "c.zarr"),
                            shape=(ny, nx))
    assert Path(chosen.report.store) == tmp_path / "c.zarr"
    assert chosen.dataset.sizes["y"] == ny


def test_c2_outside_the_field_is_nan_and_flagged(cube_c2, store):
    """C2's vignetting correction is 0 behind the occulter and beyond the field stop (IDL's
    level 1 holds 0 there): those pixels are NaN and ``outside_field``, with or without the
    distortion correction; no pixel is a bare 0 counted as data (19% of every C2 frame were,
    before 2026-12-02)."""
    for options in (Level1Options(), Level1Options(distortion=False)):
        l1 = calibrate_level1(cube_c2, store, options=options)
        b, q = l1["brightness"].values, l1["quality"].values
        ok = l1["frame_status"].values == 0
        assert ok.any()
        assert not ((b == 0.0) & (q == 0))[ok].any()
        assert np.array_equal(np.isnan(b[ok]) & ((q[ok] & MISSING) == 0),
                              (q[ok] & OUTSIDE) != 0)
        i = int(np.flatnonzero(ok)[0])
        sy, sx = (float(l1["crpix2"].values[i]) - 1, float(l1["crpix1"].values[i]) - 1)
        y, x = np.mgrid[0:b.shape[1], 0:b.shape[2]]
        scale = 1024 / b.shape[1]
        near = np.hypot(y - sy, x - sx) * scale < 100  # well behind the occulter (~150 px)
        assert (q[i][near] & OUTSIDE).all()


def test_c2_field_mask_by_hand():
    """:func:`c2_field_mask`: without the distortion, ``vig > 0``; with it, 1 only where the
    distortion's bilinear sample sees no zero of the vignetting (a field shrunk by up to a
    pixel and moved by the warp), never 1 on a zero of a field with no warp at its centre."""
    from lascoproc.calibrate.level1 import c2_field_mask

    vig = np.ones((64, 64), np.float32)
    y, x = np.mgrid[0:64, 0:64]
    vig[np.hypot(x - 32, y - 32) < 10] = 0.0  # the occulter
    plain = c2_field_mask(vig, occulter_xy=(32.0, 32.0), binning=(16, 16), distortion=False)
    np.testing.assert_array_equal(plain, (vig > 0).astype(np.float32))
    warped = c2_field_mask(vig, occulter_xy=(32.0, 32.0), binning=(16, 16))
    assert set(np.unique(warped)) <= {0.0, 1.0}
    assert warped[32, 32] == 0.0 and warped[32, 60] == 1.0
    r = np.hypot(x - 32, y - 32)
    assert (warped[r < 9.5] == 0).all() and (warped[(r > 14) & (r < 28)] == 1).all()


def test_every_variable_and_coordinate_says_what_it_is(cube_c3, store):
    """An analyst opening a cube finds a ``long_name`` on every variable and per-frame
    coordinate of the level-0.5 and level-1 cubes, and ``units`` on the header values that
    have one (written-out examples)."""
    l1 = calibrate_level1(cube_c3, store)
    for ds in (cube_c3, l1):
        bare = [name for name, v in ds.variables.items() if "long_name" not in v.attrs]
        assert bare == [], bare
    assert l1["crpix1_level05"].attrs["units"] == "pixel"
    assert l1["expcmd"].attrs["units"] == "s"
    assert l1["exptime_level05"].attrs["units"] == "s" and l1["exptime"].attrs["units"] == "s"
    assert "units" not in l1["lebxsum"].attrs
