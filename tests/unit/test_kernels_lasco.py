"""LASCO level-1 kernels against hand-computed numbers and the real IDL frames in tests/data.

Every expected value is written out (worked by hand from the IDL formula in the comment next
to it), never recomputed with the code under test.
"""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lascoproc.kernels import lasco_factors as lf
from lascoproc.kernels import lasco_geometry as lg

DATA = Path(__file__).parents[1] / "data"


def _history(header) -> str:
    """HISTORY text; IDL wraps it at 72 columns in the middle of words."""
    return "".join(header["HISTORY"])


@pytest.fixture(scope="module")
def c2_level1_header():
    """Real IDL level-1 C2 frame (reduce_level_1.pro 1.65), rebinned to 128 x 128."""
    return fits.getheader(DATA / "lasco_c2_25299383_s.fts")


@pytest.fixture(scope="module")
def c3_level05_header():
    cards = (DATA / "lasco_c3_l05.header").read_text(encoding="latin-1").splitlines()
    return fits.Header.fromstring("".join(c.ljust(80) for c in cards) + "END".ljust(80))


# --------------------------------------------------------------------------------------------
# calibration factor (c2_calfactor.pro 1.9, c3_calfactor.pro 1.17)
# --------------------------------------------------------------------------------------------

def test_c2_calfactor_reproduces_real_idl_frame(c2_level1_header):
    h = c2_level1_header
    history = _history(h)
    assert "c2_calfactor.pro 1.9, 03/22/07: 6.26831e-12" in history
    assert (h["FILTER"].strip(), h["POLAR"].strip(), h["MID_DATE"]) == ("Orange", "Clear", 54890)
    # IDL uses STR2UTC(DATE-OBS).mjd: 2009-02-28 -> MJD 54890 (the day, not the time).
    # (4.60403e-7 * 54890 + 0.0374116) * 1e-10 = (0.02527152067 + 0.0374116) * 1e-10
    factor = lf.calibration_factor("C2", h["FILTER"], h["POLAR"], 54890, sumcol=h["SUMCOL"],
                                   sumrow=h["SUMROW"], lebxsum=h["LEBXSUM"],
                                   lebysum=h["LEBYSUM"])
    assert factor == pytest.approx(6.268312067e-12, rel=1e-12)
    assert float(f"{factor:.5e}") == 6.26831e-12  # the digits IDL wrote into HISTORY


@pytest.mark.parametrize(("args", "kwargs", "expected"), [
    # C2 Orange +60 Deg: 0.06268312067 / 0.25256 * 1e-10
    (("C2", "Orange", "+60 Deg", 54890), {}, 2.481910067706684e-11),
    # C2 Orange, on-chip 2x2 and LEB 2x2: 0.06268312067 / 2 / 2 / 2 / 2 * 1e-10
    (("C2", "Orange", "Clear", 54890), {"sumcol": 2, "sumrow": 2, "lebxsum": 2, "lebysum": 2},
     3.917695041875001e-13),
    # SUMCOL = 1 divides by 1; LEBXSUM = 1 is not a division
    (("C2", "Orange", "Clear", 54890), {"sumcol": 1, "sumrow": 1}, 6.268312067e-12),
    (("C2", "Blue", "Clear", 54890), {}, 1.033e-11),
    # C2 Orange with 'ND': IDL's case label is 'nd' (never matches upper case) -> ELSE -> clear
    (("C2", "Orange", "ND", 54890), {}, 6.268312067e-12),
    # C3 Clear 2002-05-21 (MJD 52415): 7.43e-8 * 2415 + 5.96e-3 = 6.1394345e-3
    (("C3", "Clear", "Clear", 52415), {}, 6.1394345e-13),
    # C3 Clear -60 Deg: 6.1394345e-3 / 0.25256 * 1.0235
    (("C3", "Clear", "-60 Deg", 52415), {}, 2.4880072896539436e-12),
    # C3 Orange 0 Deg: 0.0297 / 0.25256 * 0.9648
    (("C3", "Orange", "0 Deg", 52415), {}, 1.1345644599303137e-11),
    (("C3", "Clear", "H_ALPHA", 52415), {}, 1.541e-10),
])
def test_calibration_factor_table(args, kwargs, expected):
    assert lf.calibration_factor(*args, **kwargs) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("detector", "filt", "polar"), [
    ("C2", "Clear", "Clear"),  # no C2 Clear filter in c2_calfactor.pro
    ("C3", "Lens", "Clear"),
    ("C2", "Deeprd", "ND"),  # IDL ELSE -> 0
    ("C3", "Clear", "Halpha"),  # only 'H_ALPHA' is listed; ELSE -> 0
    ("C1", "Orange", "Clear"),
])
def test_calibration_factor_refuses_what_idl_sets_to_zero(detector, filt, polar):
    with pytest.raises(ValueError, match=r"(calibration|not LASCO)"):
        lf.calibration_factor(detector, filt, polar, 52415)


# --------------------------------------------------------------------------------------------
# offset_bias.pro
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("detector", "mjd", "version", "expected"), [
    # 1.26, C3 port C, mjd >= 51915: 373.94898 + 0.0110185 * (52415 - 51915)
    ("C3", 52415, "1.26", 379.45823),
    # latest: 374.11139 + 0.010731823 * 500 - 1.0726207e-6 * 500**2
    ("C3", 52415, "latest", 379.209146325),
    # before the mispointing: dd = 50500 - 50072 = 428
    # 322.21639 + 0.011775379 dd + 4.4256968e-5 dd^2 - 3.167423e-8 dd^3
    ("C3", 50500, "latest", 332.88007383863106),
    ("C3", 50000, "latest", 319.0),
    # C2 2009-02-28, dd = 54890 - 54792 = 98: 617.70556 + 0.010290491 dd - 6.0131545e-6 dd^2
    ("C2", 54890, "latest", 618.656277782182),
    # 1.26 extrapolated: 582.0574 + 0.016625946 * (54890 - 51915)
    ("C2", 54890, "1.26", 631.51958935),
    # C2 after the mispoint segment: dd = 51000 - 50079 = 921
    # 470.97732 + 0.12792513 dd - 3.6621933e-5 dd^2
    ("C2", 51000, "1.26", 557.732139660147),
])
def test_offset_bias_polynomials(detector, mjd, version, expected):
    assert lf.offset_bias(detector, mjd, version=version) == pytest.approx(expected, rel=1e-12)


def test_offset_bias_ports_and_leb_summing():
    assert lf.offset_bias("C3", 52415, readport="A") == 314.0
    assert lf.offset_bias("C2", 52415, readport="D") == 526.0
    assert lf.offset_bias("C3", 52415, lebsum=4) == pytest.approx(4 * 379.209146325)


def test_offset_bias_of_real_c3_header_is_version_124(c3_level05_header):
    """The level-0.5 OFFSET was written by offset_bias.pro 1.24, whose coefficients are lost.

    1.26 (379.458) and later (379.209) differ from 1.24's 378.876 by 0.58 and 0.33 DN; level 1
    does not use this value (IDL drops 'bias' HISTORY lines and takes the exp-factor table's).
    """
    h = c3_level05_header
    assert h["HISTORY"][0] == "offset_bias.pro\t1.24 12/13/01, 378.876"
    assert (h["OFFSET"], h["MID_DATE"], h["READPORT"].strip()) == (378.876, 52415, "C")
    assert lf.offset_bias("C3", h["MID_DATE"], version="1.26") - h["OFFSET"] == pytest.approx(
        0.58223, abs=1e-9)
    assert lf.offset_bias("C3", h["MID_DATE"]) - h["OFFSET"] == pytest.approx(
        0.333146325, abs=1e-9)


# --------------------------------------------------------------------------------------------
# get_exp_factor.pro
# --------------------------------------------------------------------------------------------

def _expfactor_line(name, factor, bias, yymmdd, time_s, filt, polar, nreg, sig):
    # read_exp_factor.pro layout: (a12,f10.6,f10.1,2x,a6,2x,f10.2,2x,a12,a12,a9,i4,e10.2)
    return (f"{name:<12}{factor:10.6f}{bias:10.1f}  {yymmdd:6}  {time_s:10.2f}  "
            f"{filt:<12}{polar:<12}{'':9}{nreg:4d}{sig:10.2e}")


EXPFACTOR_TABLE = "\n".join([
    _expfactor_line("25299382.fts", 0.998000, 617.9, "090228", 12.50, "Orange", "Clear", 9,
                    0.002),
    _expfactor_line("25299383.fts", 1.001080, 618.5, "090228", 376.02, "Orange", "Clear", 10,
                    0.00114),
    _expfactor_line("25299384.fts", 1.010000, 619.0, "090228", 3600.00, "Orange", "+60 Deg",
                    8, 0.003),
    "",
    # same time as the first line: IDL replaces the earlier entry
    _expfactor_line("25299385.fts", 0.997000, 617.7, "090228", 12.50, "Orange", "Clear", 9,
                    0.002),
])


def test_parse_expfactor_table_fields_and_duplicates():
    records = lf.parse_expfactor_table(EXPFACTOR_TABLE)
    assert [r.filename for r in records] == ["25299385.fts", "25299383.fts", "25299384.fts"]
    r = records[1]
    assert (r.factor, r.bias, r.mjd, r.nregion, r.sigma) == (1.00108, 618.5, 54890, 10, 0.00114)
    assert abs(r.time_ms - 376020) <= 1
    assert (records[2].filter, records[2].polar) == ("Orange", "+60 Deg")


def test_expfactor_matches_real_frame_on_mid_time(c2_level1_header):
    """The real frame's HISTORY: 'get_exp_factor.pro 1.20 07/26/11, 1.00108, Nreg=10, ...
    Bias (618.500) from c2_expfactor_090228.dat'; matched on MID_DATE/MID_TIME (not name)."""
    h = c2_level1_header
    history = _history(h)
    assert "1.00108, Nreg=10" in history and "Bias (618.500) from c2_expfactor_090228.dat" in \
        history
    records = lf.parse_expfactor_table(EXPFACTOR_TABLE)
    # MID_TIME 376.024 s -> 376024 ms, table 376.02 s -> 376020 ms: |diff| < 100 ms
    corr = lf.exposure_correction(records, detector="C2", mid_date=h["MID_DATE"],
                                  mid_time=h["MID_TIME"])
    assert (corr.factor, corr.bias, corr.source) == (1.00108, 618.5, "table")
    assert corr.record.filename == "25299383.fts"
    assert lf.expfactor_table_name("C2", "090228") == "c2_expfactor_090228.dat"


def test_expfactor_no_match_falls_back_to_offset_bias():
    records = lf.parse_expfactor_table(EXPFACTOR_TABLE)
    assert lf.match_expfactor(records, 54890, 376.2) is None  # 180 ms off
    assert lf.match_expfactor(records, 54891, 376.024) is None  # other day
    corr = lf.exposure_correction(records, detector="C2", mid_date=54890, mid_time=376.2)
    # offset_bias C2 54890 (see above) = 618.656277782182
    assert (corr.factor, corr.source) == (1.0, "offset_bias")
    assert corr.bias == pytest.approx(618.656277782182, rel=1e-12)
    assert lf.exposure_correction(None, detector="C2", mid_date=54890,
                                  mid_time=376.024).source == "offset_bias"


def test_expfactor_columns_equal_the_records():
    """The columns planning reads are the records of parse_expfactor_table: the duplicate
    replaced in place, the blank line and a broken line skipped."""
    table = EXPFACTOR_TABLE + "\n  garbage line with too few\n" + _expfactor_line(
        "2529938x.fts", 1.0, 600.0, "09AB28", 20.0, "Orange", "Clear", 9, 0.001)
    cols = lf.expfactor_columns(table)
    records = lf.parse_expfactor_table(table)
    assert list(cols["mjd"]) == [r.mjd for r in records] == [54890] * 3
    assert list(cols["time_ms"]) == [r.time_ms for r in records]
    assert list(cols["factor"]) == [0.997, 1.00108, 1.01]
    assert list(cols["bias"]) == [617.7, 618.5, 619.0]


def test_match_expfactor_array_is_match_expfactor():
    records = lf.parse_expfactor_table(EXPFACTOR_TABLE)
    cols = lf.expfactor_columns(EXPFACTOR_TABLE)
    mid_date = np.array([54890, 54890, 54890, 54891, 54890, 54890])
    mid_time = np.array([376.024, 376.2, 12.45, 376.024, 3600.0999, np.nan])
    got = lf.match_expfactor_array(cols["mjd"], cols["time_ms"], mid_date, mid_time)
    # 376.024 -> line 2; 376.2 -> 180 ms off; 12.45 -> 50 ms from the replaced first line;
    # other day; 3600.0999 -> 99 ms (int truncation of 3600099.9); NaN -> none
    assert list(got) == [1, -1, 0, -1, 2, -1]
    for k in range(5):
        expected = lf.match_expfactor(records, int(mid_date[k]), float(mid_time[k]))
        assert (records[got[k]] if got[k] >= 0 else None) == expected


def test_history_bias_of_both_real_headers(c3_level05_header):
    """The HISTORY line offset_bias.pro writes (make_fits_hdr.pro: OFFSET_BIAS(fits), no /SUM:
    a one-pixel bias), in the 2002 and 2023 spellings."""
    found = lf.parse_offset_bias_history(c3_level05_header["HISTORY"])
    assert found == lf.OffsetBiasHistory("1.24", "12/13/01", 378.876)
    lines = (DATA / "lasco_c3_l05_33785492.header").read_text(encoding="latin-1").splitlines()
    history = [line[8:] for line in lines if line.startswith("HISTORY")]
    assert lf.parse_offset_bias_history(history) == lf.OffsetBiasHistory("1.32", "09/01/11",
                                                                         418.861)
    assert lf.NEWEST_OFFSET_BIAS_VERSION == "1.32"
    assert lf.parse_offset_bias_history(["V15 18 Jun 1997 MAKE_FITS_HDR"]) is None


def test_table_bias_of_summed_frames():
    """Issue 13 item 8, c2_calibrate.pro 1.14 lines 149-155 and 215 (see the docstring):
    x (LEBXSUM>1)(LEBYSUM>1) by default, as it is with scale_by_leb_summing=False."""
    bias = np.array([618.5, 618.5])
    lebsum = np.array([1, 4])
    np.testing.assert_array_equal(lf.table_bias_for_frame(bias, lebsum), [618.5, 2474.0])
    np.testing.assert_array_equal(
        lf.table_bias_for_frame(bias, lebsum, scale_by_leb_summing=False), [618.5, 618.5])


def test_corrected_exposure_time_matches_real_level1_exptime(c2_level1_header):
    # Level-1 EXPTIME = level-0.5 EXPTIME * expfac; 25.0991 * 1.00108 = 25.126207028
    # (25.0991 = 25.1262079357 / 1.00108 to 6 digits, the level-0.5 value)
    assert lf.corrected_exposure_time(25.0991, 1.00108) == pytest.approx(25.126207028,
                                                                          rel=1e-12)
    assert c2_level1_header["EXPTIME"] == pytest.approx(25.126207028, rel=1e-7)


# --------------------------------------------------------------------------------------------
# c2_calibrate.pro / c3_calibrate.pro photometry
# --------------------------------------------------------------------------------------------

def test_photometric_calibration_order_and_constants():
    raw = np.array([[0.0, 1100.0], [100.0, 600.0]])
    vig = np.array([[2.0, 2.0], [1.0, 4.0]])
    out = lf.photometric_calibration(raw, bias=100.0, exptime=10.0, calfac=2e-12,
                                     vignetting=vig, ramp=1e-12)
    # (raw - 100) / 10 * vig * 2e-12 - 1e-12
    expected = np.array([[-10 * 2 * 2e-12 - 1e-12, 100 * 2 * 2e-12 - 1e-12],
                         [0.0 - 1e-12, 50 * 4 * 2e-12 - 1e-12]])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # missing block (raw 0) is let through as -bias * calfac / exptime * vig - ramp
    assert out[0, 0] == pytest.approx(-4.1e-11, rel=1e-12)
    pb = lf.photometric_calibration(raw, bias=100.0, exptime=10.0, calfac=2e-12,
                                    vignetting=vig, subtract_bias=False)
    assert pb[0, 1] == pytest.approx(1100 / 10 * 2e-12 * 2, rel=1e-12)  # 4.4e-10


def test_photometric_helpers():
    np.testing.assert_array_equal(lf.clip_c2_vignetting(np.array([-1.0, 50.0, 150.0])),
                                  [0.0, 50.0, 100.0])
    assert lf.ramp_applies("C3", "Clear") and not lf.ramp_applies("C3", "Orange")
    assert not lf.ramp_applies("C2", "Clear")
    assert lf.is_polarization_product("PB") and not lf.is_polarization_product("pb")
    assert lf.level1_calibration_files("C3", 50999)["vignetting"] == "c3vig_preint_final.fts"
    assert lf.level1_calibration_files("C3", 51000)["vignetting"] == "c3vig_postint_final.fts"
    assert lf.level1_calibration_files("C2", 54890) == {"vignetting": "c2vig_final.fts"}


# --------------------------------------------------------------------------------------------
# get_solar_radius.pro, get_sec_pixel.pro
# --------------------------------------------------------------------------------------------

def test_solar_radius_reproduces_real_frame(c2_level1_header):
    # n = 54890 - 51544 = 3346; g = 357.528 + 0.9856003 n deg;
    # dist = 1.00014 - 0.01672 cos g - 0.00014 cos 2g = 0.9906823015; R = 0.2666 / (0.99 dist)
    assert lf.solar_radius_arcsec(54890) == pytest.approx(978.572589781526, rel=1e-12)
    assert c2_level1_header["RSUN"] == pytest.approx(978.572589781526, rel=2e-8)
    assert lf.solar_radius_arcsec(54890, soho=False) == pytest.approx(978.572589781526 * 0.99,
                                                                      rel=1e-12)
    # C3 2002-05-21: n = 871, dist = 1.0121596781
    assert lf.solar_radius_arcsec(52415) == pytest.approx(957.8079095931934, rel=1e-12)


def test_plate_scale(c2_level1_header, c3_level05_header):
    assert lf.plate_scale_arcsec("C2", 8) == pytest.approx(c2_level1_header["CDELT1"])  # 95.2
    assert lf.plate_scale_arcsec("C3") == c3_level05_header["CDELT1"] == 56.0
    assert lf.plate_scale_arcsec("C3", 2) == 112.0


# --------------------------------------------------------------------------------------------
# windows, binning, missing blocks, masks
# --------------------------------------------------------------------------------------------

def test_crop_to_window():
    full = np.arange(1024 * 1024).reshape(1024, 1024)
    # R1COL 120..R2COL 375 -> x 100..355; R1ROW 11..R2ROW 74 -> y 10..73
    sub = lg.crop_to_window(full, 120, 11, 375, 74)
    assert sub.shape == (64, 256)
    assert sub[0, 0] == 10 * 1024 + 100 and sub[-1, -1] == 73 * 1024 + 355
    assert lg.crop_to_window(full, 20, 1, 1043, 1024).shape == (1024, 1024)
    with pytest.raises(ValueError, match="not inside"):
        lg.window_slices(10, 1, 1043, 1024)


def test_bin_to_frame_like_idl_rebin():
    img = np.arange(16, dtype=np.float64).reshape(4, 4)
    np.testing.assert_array_equal(lg.bin_to_frame(img, (2, 2)), [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(lg.bin_to_frame(img, (2, 1)), [[0.5, 2.5], [4.5, 6.5],
                                                                 [8.5, 10.5], [12.5, 14.5]])
    mask = np.ones((4, 4), dtype=np.uint8)
    mask[0, 0] = 0
    # integer REBIN truncates: (0 + 1 + 1 + 1) // 4 = 0
    np.testing.assert_array_equal(lg.bin_to_frame(mask, (2, 2)), [[0, 1], [1, 1]])
    with pytest.raises(ValueError, match="cannot bin"):
        lg.bin_to_frame(img, (3, 3))


# --------------------------------------------------------------------------------------------
# distortion (c2_warp / c3_warp, distortion_coeffs.pro 1.4)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("detector", "r", "expected"), [
    # C3, r = 500: mm = 10.5, delta = -0.0151657 + 0.000165455 * 110.25 = 0.00307571375
    ("C3", 500.0, 501.537856875),
    # C3, r = 300: mm = 6.3, delta = -0.0151657 + 0.000165455 * 39.69 = -0.00859879105
    ("C3", 300.0, 297.420362685),
    # C2, r = 400: mm = 8.4, delta = 0.0051344125 - 0.00012233862 * 70.56
    #                               + 1.0978595e-7 * 4978.7136 = -0.0029512077248
    ("C2", 400.0, 398.81951691006157),
    # C2, r = 200: mm = 4.2, delta = 0.0030105212933
    ("C2", 200.0, 200.6021042586694),
])
def test_distorted_radius_polynomial(detector, r, expected):
    assert lg.distorted_radius(r, detector) == pytest.approx(expected, rel=1e-12)


def test_c3_distortion_is_not_ten_times_too_small():
    # 300 -> 297.420362685: 2.58 pixels; CorKit's "/ .21" would give 0.258 pixel
    shift = 300.0 - lg.distorted_radius(300.0, "C3")
    assert shift == pytest.approx(2.579637315, rel=1e-9)
    assert shift > 2.5


def test_distortion_map_centre_sign_and_magnitude():
    occ = (516.0, 529.0)
    m = lg.distortion_map((1024, 1024), detector="C3", occulter_xy=occ)
    assert m.dtype == np.float32 and m.shape == (2, 1024, 1024)
    # identity at the occulter centre
    assert (m[0, 529, 516], m[1, 529, 516]) == (529.0, 516.0)
    # +x, r = 300: samples inward at 516 + 297.420362685, same row
    assert m[1, 529, 816] == pytest.approx(813.420362685, abs=1e-4)
    assert m[0, 529, 816] == pytest.approx(529.0, abs=1e-4)
    # -y, r = 500: samples outward at 529 - 501.537856875 = 27.462143125
    assert m[0, 29, 516] == pytest.approx(27.462143125, abs=1e-4)


def test_distortion_map_binned_frame():
    # 2x2 summed full frame: occulter (516, 529) -> frame (258, 264.5);
    # frame pixel x = 258 + 150 is r = 300 full-resolution pixels -> 258 + 297.420362685 / 2
    occ = lg.occulter_center_in_frame((516.0, 529.0), 20, 1, (2, 2))
    assert occ == (258.0, 264.5)
    x0, y0 = lg.distortion_coordinates(np.array([408.0]), np.array([264.5]), detector="C3",
                                       occulter_xy=occ, binning=(2, 2))
    assert x0[0] == pytest.approx(406.7101813425, rel=1e-12)
    assert y0[0] == pytest.approx(264.5, rel=1e-12)


# --------------------------------------------------------------------------------------------
# keyhole, roll correction, level-1 pointing
# --------------------------------------------------------------------------------------------

def _pointing(sun_xy, roll, crota1, binning=(1, 1), roll_correction=True):
    """One frame through the vectorised ``level1_pointing`` (full window: R1COL 20, R1ROW 1)."""
    from lascoproc.kernels.lasco_pointing import level1_pointing

    out = level1_pointing([sun_xy[0]], [sun_xy[1]], [roll], [crota1], [20], [1], binning[0],
                          binning[1], roll_correction=roll_correction)
    return {k: v[0].item() for k, v in out.items()}


def test_pointing_small_roll_keeps_crota_like_real_frame(c2_level1_header):
    h = c2_level1_header
    assert "No roll correction applied." in _history(h) and h["RECTIFY"] == 0.0
    p = _pointing((510.0, 507.0), 0.475331, 0.0)
    assert p["crota"] == h["CROTA"] == 0.475331
    assert (p["rectify"], p["keyhole"], p["rotation"]) == (0.0, False, 0.0)
    assert (p["crpix1"], p["crpix2"]) == (511.0, 508.0)


def test_pointing_rotated_frame_has_crota_zero():
    p = _pointing((500.0, 520.0), 5.0, 0.0, binning=(2, 2))
    assert (p["crota"], p["rectify"], p["rotation"], p["keyhole"]) == (0.0, 5.0, 5.0, False)
    # binned: xc = (500 - 20 + 20) / 2 = 250, yc = (520 - 1 + 1) / 2 = 260; CRPIX = + 1
    assert (p["crpix1"], p["crpix2"], p["pivot_x"], p["pivot_y"]) == (251.0, 261.0, 250.0,
                                                                      260.0)
    kept = _pointing((500.0, 520.0), -185.0, 0.0, roll_correction=False)
    assert kept["crota"] == 175.0 and kept["rotation"] == 0.0  # roll < -180 -> roll + 360


def test_pointing_keyhole_frame_is_flipped():
    p = _pointing((500.0, 520.0), 180.3, 180.0)
    # cx' = 511.5 - (500 - 511.5) = 523 -> CRPIX1 524; cy' = 1023 - 520 = 503 -> CRPIX2 504
    assert (p["keyhole"], p["crpix1"], p["crpix2"], p["rectify"]) == (True, 524.0, 504.0,
                                                                      180.0)
    assert p["crota"] == pytest.approx(0.3, abs=1e-12) and p["rotation"] == 0.0
    q = _pointing((500.0, 520.0), -179.5, -179.9)
    # -179.5 - 180 = -359.5: |roll| >= 1, IDL rotates by 359.5 deg CCW (same as -0.5)
    assert (q["keyhole"], q["rotation"], q["crota"], q["rectify"]) == (True, -359.5, 0.0,
                                                                       -179.5)
    assert not lg.is_keyhole(170.0) and lg.is_keyhole(-170.5)


def test_keyhole_map_is_array_flip():
    img = np.arange(6 * 8, dtype=np.float64).reshape(6, 8)
    m = lg.north_up_map(img.shape, keyhole=True)
    np.testing.assert_array_equal(lg.apply_map(img, m), img[::-1, ::-1])
    m2 = lg.level1_map(img.shape, detector="C3", occulter_xy=(3.5, 2.5), keyhole=True,
                       distortion=False)
    np.testing.assert_array_equal(lg.apply_map(img, m2), img[::-1, ::-1])


def test_rotation_by_180_about_centre_flips():
    img = np.arange(7 * 9, dtype=np.float64).reshape(7, 9)
    m = lg.north_up_map(img.shape, rotate_ccw_deg=180.0, pivot_xy=(4.0, 3.0))
    np.testing.assert_allclose(lg.apply_map(img, m), img[::-1, ::-1], atol=1e-9)


def test_rotation_is_counter_clockwise_and_zero_outside():
    img = np.zeros((5, 5))
    img[2, 4] = 1.0  # right of the centre (x = 4, y = 2)
    out = lg.apply_map(img, lg.north_up_map(img.shape, rotate_ccw_deg=90.0, pivot_xy=(2, 2)))
    expected = np.zeros((5, 5))
    expected[4, 2] = 1.0  # CCW by 90 deg (y up): moves to the top, (x = 2, y = 4)
    np.testing.assert_allclose(out, expected, atol=1e-9)
    # a 45 deg turn about a corner leaves part of the frame without input -> 0 (MISSING=0)
    m = lg.north_up_map((5, 5), rotate_ccw_deg=45.0, pivot_xy=(0.0, 0.0))
    assert (m[:, 0, 4] == lg.OUTSIDE).all()
    assert lg.apply_map(np.ones((5, 5)), m)[0, 4] == 0.0


def test_level1_map_equals_warp_then_flip_then_rotate():
    """One map == IDL's sequence of resamplings, exactly for a linear image (bilinear is exact
    there), away from the clamped and zeroed edges."""
    ny, nx = 64, 64
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    img = 3.0 * x - 2.0 * y + 1000.0
    occ, binning = (30.2, 33.7), (8, 8)  # a 128-pixel-wide C3-like field binned 8 x 8
    rot = dict(rotate_ccw_deg=12.0, pivot_xy=(31.0, 32.5))
    warped = lg.apply_map(img, lg.distortion_map((ny, nx), detector="C3", occulter_xy=occ,
                                                 binning=binning))
    sequential = lg.apply_map(warped[::-1, ::-1], lg.north_up_map((ny, nx), **rot))
    once = lg.apply_map(img, lg.level1_map((ny, nx), detector="C3", occulter_xy=occ,
                                           binning=binning, keyhole=True, **rot))
    inner = (slice(12, 52), slice(12, 52))
    np.testing.assert_allclose(once[inner], sequential[inner], rtol=0, atol=1e-3)
    # and the distortion really moved something (C3 at r <= 250 px full-res samples inward)
    assert np.abs(warped[inner] - img[inner]).max() > 1.0
