"""NRL level-1 headers and files: the pixel-derived keywords (kernels.level1_header) against
hand-computed values and a literal port of the IDL loop, the cards against the real NRL C2
level-1 header, and the file writer's safety (names, collisions, atomic writes, overwrite).

The real header: ``tests/data/lasco_c2_25299383_s.fts`` (NRL level-1 C2 frame 25299383 of
2009-02-28, from level-0.5 22299383; sunpy 3.1.8 test data, BSD-2; its pixels were rebinned to
128 x 128 by sunpy, the header values are NRL's, CRPIX/CRVAL excepted).
"""

from __future__ import annotations

import pathlib
import warnings

import fsspec
import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from lascoproc.io import level1_fits as l1f
from lascoproc.kernels import level1_header as lh

REAL_L1 = pathlib.Path(__file__).parents[1] / "data" / "lasco_c2_25299383_s.fts"

#: Keywords of the real NRL file that a header from per-frame values alone cannot have, and why
#: (COMPRSSN is written when the cube carries a ``comprssn`` coordinate).
NOT_FROM_VALUES = {
    "COMPRSSN": "level-0.5 compression keyword, not among the cube's per-frame coordinates",
}
#: Keywords astropy writes from the data itself.
STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND"}
PIXEL_KEYWORDS = {"NMISSING", "MISSLIST", "DATAMIN", "DATAMAX", "DATAZER", "DATASAT", "DSATVAL",
                  "DSATMIN", "NSATMIN", "DATAAVG", "DATASIG", *lh.PERCENTILE_KEYWORDS}


@pytest.fixture(scope="module")
def real_header():
    return fits.getheader(REAL_L1)


def _f32(x):
    return float(np.float32(x))


# --------------------------------------------------------------------------------------------
# reduce_statistics2.pro 1.4
# --------------------------------------------------------------------------------------------

def _idl_percentile_loop(image: np.ndarray) -> dict[str, float]:
    """reduce_statistics2.pro 1.4's histogram loop, line by line (the reference)."""
    w = image[image > 0]
    medyen = np.sort(w)[w.size // 2]
    bscale = 1.0
    while medyen * bscale < 1000:
        bscale *= 10.0
    h = np.bincount(np.trunc(w * bscale).astype(np.int64))
    nh, nw, tot, low = h.size, w.size, 0, 0
    out = {}
    for limit, key in zip(lh.PERCENTILE_LIMITS, lh.PERCENTILE_KEYWORDS, strict=True):
        tile = np.float32(limit) * np.float32(nw)
        if low < nh:
            while True:  # REPEAT ... UNTIL
                tot += h[low]
                low += 1
                if tot > tile or low == nh:
                    break
        out[key] = float(np.float32(low - 1)) / bscale
    return out


def test_statistics_by_hand():
    """8 pixels: two not positive, six positive at (2000.5 ... 12000.5) / 1e13."""
    pos = np.array([2.0005, 3.0005, 5.0005, 5.0005, 8.0005, 12.0005]) * 1e-10
    img = np.array([[0.0, -1e-10, pos[0], pos[1]], [pos[2], pos[3], pos[4], pos[5]]])
    s = lh.reduce_statistics2(img)
    assert s.datamin == _f32(pos[0])
    assert s.datamax == _f32(pos[4])  # the maximum equals mxval: the next value below it
    assert s.datasat == 1  # pixels >= mxval = max
    assert s.dsatval == pos[5] and s.dsatmin == pos[0]
    assert s.datazer == 2  # zero and negative
    assert s.nsatmin == 1  # below DSATMIN and not 0: the negative one
    assert s.dataavg == pytest.approx(35.003e-10 / 6, rel=1e-12)
    assert s.datasig == pytest.approx(np.sqrt(401 / 30) * 1e-10, rel=1e-9)  # n - 1
    assert s.histogram_scale == 1e13  # median 5.0005e-10 (upper middle) x 1e13 >= 1000
    # bins t = 2000, 3000, 5000, 5000, 8000, 12000; tiles 0.06 0.6 1.5 3 4.5 5.4 5.7 5.88 5.94
    # DATAP10: the total (1) already exceeds 0.6, but the REPEAT loop steps one bin: 2001
    expected = [2000, 2001, 3000, 5000, 8000, 12000, 12000, 12000, 12000]
    assert list(s.percentiles) == list(lh.PERCENTILE_KEYWORDS)
    assert [s.percentiles[k] for k in lh.PERCENTILE_KEYWORDS] == [v / 1e13 for v in expected]
    assert not s.odd_image


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_percentiles_equal_the_idl_loop(seed):
    rng = np.random.default_rng(seed)
    img = rng.lognormal(np.log(3e-10), 1.5, size=(64, 64))
    img[rng.random(img.shape) < 0.1] = 0.0
    img[rng.random(img.shape) < 0.05] *= -1
    img[:8, :8] = 7.5e-10  # a block of ties
    if seed == 3:
        img = np.round(img * 1e11) / 1e11  # few distinct values: many limits in one bin
    s = lh.reduce_statistics2(img)
    assert s.percentiles == _idl_percentile_loop(img)


def test_c3_clear_saturation_and_odd_image():
    img = np.array([1e-10, 7e-9, 6.5e-9, 2e-9, 0.0])
    s = lh.reduce_statistics2(img, satmax=lh.NRL_SCALE_MAX)
    assert s.dsatval == 6.500000093723202e-09  # the FLOAT literal 6.5e-9
    assert s.datasat == 1  # only 7e-9 is >= 6.500000094e-9
    assert s.datamax == _f32(7e-9)  # max != mxval: the maximum itself
    odd = lh.reduce_statistics2(np.array([1e-9, 2e-9, 0.2]))
    assert odd.odd_image and odd.dsatval == 5e-5 and odd.datamax == _f32(2e-9)


def test_statistics_of_empty_and_single_pixel_images():
    assert lh.reduce_statistics2(np.zeros((4, 4))) is None  # IDL returns, no keyword
    assert lh.reduce_statistics2(np.full((2, 2), -1.0)) is None
    one = lh.reduce_statistics2(np.array([0.0, 3e-10]))
    assert one.dataavg is None and "DATAAVG" not in dict(one.keywords())


def test_idl_image_zeroes_nan():
    np.testing.assert_array_equal(lh.idl_image(np.array([np.nan, 1.5], np.float32)), [0.0, 1.5])


def test_real_header_follows_the_ported_definitions(real_header):
    """NRL's own C2 header (no SATMAX): DSATVAL is the maximum, DATAMAX the next value below,
    DATAZER counts non-positive pixels, the percentiles sit on a 1e-13 grid (median 7.3e-10:
    bscale 1e13)."""
    h = real_header
    assert h["DATASAT"] == 1 and h["DATAMAX"] < h["DSATVAL"]
    assert h["DSATMIN"] == pytest.approx(h["DATAMIN"], rel=5e-6)  # DATAMIN is float(mn)
    assert h["NSATMIN"] <= h["DATAZER"]
    values = [h[k] for k in lh.PERCENTILE_KEYWORDS]
    assert values == sorted(values)
    for v in values:
        assert v * 1e13 == pytest.approx(round(v * 1e13), abs=1e-6)
    assert 1000 <= h["DATAP50"] * 1e13 < 10000


# --------------------------------------------------------------------------------------------
# C3 Clear integer scaling (reduce_level_1.pro 1.68)
# --------------------------------------------------------------------------------------------

def test_nrl_scaling_constants_and_values():
    bscale, bzero = lh.nrl_scaling_constants()
    assert float(bscale) == 9.918213033635256e-14  # float32(6.5e-9) / 65536
    assert float(bzero) == 3.2500993008000023e-09  # float32(bscale * 32769)
    img = np.array([0.0, -1e-12, 3e-14, 1e-13, 1.5e-13, 3.25e-9, 2e-9, 6.5e-9, 1e-8])
    out = lh.nrl_integer_scaling(img)
    assert out.data.dtype == np.int16
    # (clip(x, 0, 6.5e-9) - bzero) / bscale: 0 stays 0; -32769.0007 -> -32769 -> FIX wraps to
    # 32767; -32768.70 -> 32767; -32767.99 -> -32768; -32767.49 -> -32767; -1.001 -> -1;
    # -12604.08 -> -12604; 32766.998 -> 32767; 32766.999 -> 32767
    np.testing.assert_array_equal(
        out.data, [0, 32767, 32767, -32768, -32767, -1, -12604, 32767, 32767])
    assert (out.bscale_card, out.bzero_card, out.blank) == (9.91821e-14, 3.2501e-09, -32768)


def test_idl_round_and_fix():
    np.testing.assert_array_equal(lh.idl_round([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]),
                                  [-3, -2, -1, 1, 2, 3])
    np.testing.assert_array_equal(lh.idl_fix([66000.0, -32769.0, 40000.0, -1.7, 32767.9]),
                                  [464, 32767, -25536, -1, 32767])


@pytest.mark.parametrize(("detector", "filt", "applies"), [
    ("C3", "Clear", True), (" c3", "Clear ", True), ("C3", "clear", False),
    ("C3", "Orange", False), ("C2", "Clear", False)])
def test_nrl_scaling_applies_to_c3_clear_only(detector, filt, applies):
    assert lh.nrl_scaling_applies(detector, filt) is applies


# --------------------------------------------------------------------------------------------
# NMISSING / MISSLIST
# --------------------------------------------------------------------------------------------

def test_inttob32():
    assert lh.inttob32([0, 9, 10, 31, 32, 1023, 1024]) == ["00", "09", "0A", "0V", "10", "VV",
                                                             "**"]


def _strmap2mb(sm: str, ny: int, nx: int) -> np.ndarray:
    """strmap2mb.pro V1.0 (the decoder NRL names in the COMMENT), numpy [by, bx], 0 = missing."""
    m = [int(sm[i:i + 2], 32) for i in range(0, len(sm), 2)]  # base-32 digits 0-9 A-V
    m[-1] += 1
    rotated = np.ones(nx * ny, dtype=int)  # ROTATE(mb, 1) has ny columns and nx rows
    for start, stop in zip(m[0::2], m[1::2], strict=True):
        rotated[start:stop] = 0
    return rotated.reshape(nx, ny)[:, ::-1].T  # undo mb.T[:, ::-1]


def test_mb2strmap_orientation_and_runs():
    mb = np.ones((32, 32), dtype=int)
    mb[10, 5] = 0  # ROTATE(., 1) index bx * 32 + (31 - by) = 181 = '5L'
    assert lh.mb2strmap(mb) == "5L5L"
    mb[9, 5] = 0  # 182: one run 181..182
    mb[0, 0] = 0  # 31: a run of its own; runs are 'start, end + 1', the last 'start, end'
    assert lh.mb2strmap(mb) == "0V105L5M"
    np.testing.assert_array_equal(_strmap2mb("0V105L5M", 32, 32), mb)
    assert lh.mb2strmap(np.ones((4, 4))) == ""


def test_c3_non_useful_blocks():
    full = lh.c3_non_useful_blocks(1)
    assert full.sum() == 99 + 7  # get_tmask: 99 corner blocks, 7 centre blocks
    assert full[0, 0] and full[15, 15] and full[16, 16] and full[25, 0]  # 0, 495, 528, 800
    assert not full[8, 0] and not full[10, 5]
    half = lh.c3_non_useful_blocks(2)  # rebin_index 1 list, every second block
    assert half.shape == (16, 16) and half.sum() == 6 + 3 + 2 + 2 + 4
    assert half[0, 0] and half[1, 0] and half[15, 15] and not half[7, 7]
    assert lh.c3_non_useful_blocks(4).sum() == 1
    with pytest.raises(ValueError, match="1, 2 and 4"):
        lh.c3_non_useful_blocks(3)


def test_c3_missing_blocks_header():
    h = lh.c3_missing_blocks_header([0, 10 * 32 + 5, 495], xsum=1, ysum=1)
    assert (h.nmissing, h.misslist) == (1, "5L5L")  # blocks 0 and 495 are non-useful
    assert h.comments == (" MISSLIST is base-32 rep of missing blocks; use strmap2mb.pro.",)
    assert lh.c3_missing_blocks_header([0, 495], xsum=1, ysum=1) == \
        lh.MissingBlocksHeader(0, "None")
    summed = lh.c3_missing_blocks_header([5 * 16 + 7], xsum=2, ysum=2)
    assert summed.nmissing == 1 and summed.misslist == "3Q3Q"  # 7 * 16 + (15 - 5) = 122
    fuzzy = lh.c3_missing_blocks_header([5 * 16 + 7], xsum=2, ysum=2, blocks_masked=False)
    assert fuzzy.misslist == "Not computed for summed images."
    odd = lh.c3_missing_blocks_header([3], xsum=2, ysum=1)
    assert odd.nmissing == 1 and "no non-useful block map" in odd.history[0]


def test_c2_missing_blocks_header():
    h = lh.c2_missing_blocks_header([1, 5, 100], [1, 2, 3], xsum=1, ysum=1)
    assert (h.nmissing, h.misslist, h.history) == (2, "5 100", ("Masked missing blocks only",))
    assert lh.c2_missing_blocks_header([1, 2], [1, 2, 3], xsum=1, ysum=1) == \
        lh.MissingBlocksHeader(0, "None")
    many = lh.c2_missing_blocks_header(range(100, 118), [], xsum=1, ysum=1)
    assert (many.nmissing, many.misslist) == (18, "More than 17 blocks missing")
    summed = lh.c2_missing_blocks_header(range(10), [1], xsum=2, ysum=2)
    assert (summed.nmissing, summed.misslist) == (2, "Not computed for summed images.")
    few = lh.c2_missing_blocks_header(range(3), [], xsum=2, ysum=2)
    assert few.nmissing == -5 and few.history == ()  # nzblocks - 8, as IDL writes it


# --------------------------------------------------------------------------------------------
# Names, times and cards
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "name"), [
    ("22299383.fts", "25299383.fts"), ("32088304.fts", "35088304.fts"),
    ("21000001.fts", "24000001.fts"), ("33785492.fts", "34785492.fts"),
    ("lz/090228/c2/22299383.FTS", "25299383.fts"), ("27000001.fts", "27000001_l1.fts"),
    ("../../x.fts", "x_l1.fts"), ("a b;.fts", "a_b__l1.fts")])
def test_level1_file_name(source, name):
    assert l1f.level1_file_name(source) == name


@pytest.mark.parametrize("bad", ["..", ".hidden.fts", ""])
def test_level1_file_name_refuses_names_without_a_root(bad):
    with pytest.raises(ValueError):
        l1f.level1_file_name(bad)


T05 = np.datetime64("2009-02-28T00:06:03.474", "ns")
TCORR = np.datetime64("2009-02-28T00:05:33.380", "ns")


@pytest.mark.parametrize(("frame", "date_obs", "corrected"), [
    ({"time": T05}, T05, False),
    ({"time": T05, "date_obs": TCORR, "date_obs_source": "TIME_DIFF.DAT"}, TCORR, True),
    ({"time": TCORR, "time_level05": T05}, TCORR, True),
    ({"time": T05, "date_obs": np.datetime64("NaT", "ns")}, T05, False),
    ({"time": T05, "date_obs": T05,
      "date_obs_source": "level-0.5 (TIME_DIFF tables end 2012-11-05)"}, T05, False),
])
def test_observation_time(frame, date_obs, corrected):
    t = l1f.observation_time(frame)
    assert (t.date_obs, t.level05, t.corrected) == (date_obs, T05, corrected)


def real_frame(**change):
    """The per-frame values of the real NRL frame 22299383 -> 25299383 (2009-02-28): header and
    HISTORY values (EXPTIME, RSUN, CROTA, times, MID_*); CRPIX (511.208, 507.910) from its
    sun centre (the sunpy-rebinned file's own CRPIX/CRVAL were rewritten by sunpy)."""
    frame = {
        "time": TCORR, "time_level05": T05, "date_obs_source": "TIME_DIFF.DAT 2012-11-05",
        "path": "level_05/090228/c2/22299383.fts", "filename": "22299383.fts",
        "fileorig": "090228_000656.img", "filter": "Orange", "polarizer": "Clear",
        "readport": "C", "exptime": 25.1262079357, "mid_date": 54890, "mid_time": 376.024,
        "r1col": 20, "r1row": 1, "r2col": 1043, "r2row": 1024, "sumcol": 0, "sumrow": 0,
        "lebxsum": 1, "lebysum": 1, "crpix1": 511.208, "crpix2": 507.910, "cdelt": 11.9,
        "crota": 0.475331, "rectify": 0.0, "rotation": 0.0, "rsun": 978.572578766,
        "dsun_obs": 1.4819e11, "hgln_obs": 0.0, "hglt_obs": -7.2073,
        "pointing_source": "c2_post_recovery_adj_xyr_medv2.sav", "bias": 618.5,
        "bias_source": "table c2_expfactor_090228.dat", "frame_status_reason": "",
    }
    frame.update(change)
    return frame


def _cards_dict(cards):
    return {k: v for k, v, _ in cards if k not in ("HISTORY", "COMMENT")}


def test_cards_reproduce_the_real_nrl_header(real_header):
    missing = lh.c2_missing_blocks_header([], [], xsum=1, ysum=1)
    cards = l1f.level1_cards(real_frame(), shape=(1024, 1024), detector="C2",
                             pixel_keywords=l1f.pixel_cards(missing=missing))
    ours = _cards_dict(cards)
    h = real_header
    for key in ("FILENAME", "DATE-OBS", "DATE_OBS", "TIME-OBS", "LEVEL", "BUNIT", "MISSLIST",
                "NMISSING", "MID_DATE", "FILEORIG", "FILTER", "POLAR", "READPORT", "R1COL",
                "R2COL", "R1ROW", "R2ROW", "SUMCOL", "SUMROW", "LEBXSUM", "LEBYSUM",
                "TELESCOP", "INSTRUME", "DETECTOR", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2"):
        assert ours[key] == h[key].strip() if isinstance(h[key], str) else ours[key] == h[key], key
    for key in ("CROTA", "CROTA1", "CROTA2", "RECTIFY", "EXPTIME", "RSUN", "MID_TIME"):
        assert ours[key] == pytest.approx(h[key], rel=1e-9), key
    # XCEN = 11.9 * (512.5 - 511.208): NRL writes the FLOAT with 6 digits
    assert ours["XCEN"] == pytest.approx(h["XCEN"], abs=2e-4)
    assert ours["YCEN"] == pytest.approx(h["YCEN"], abs=2e-4)
    history = [v for k, v, _ in cards if k == "HISTORY"]
    assert any("Original date_obs: 2009/02/28 00:06:03.474" in line for line in history)
    assert any("'22299383.fts','25299383.fts'" in line for line in history)
    comments = dict((k, c) for k, _, c in cards)
    assert comments["DATE-OBS"] == "Final Correction "
    assert comments["TIME-OBS"] == " Obsolete"
    # every keyword NRL writes: from values, from the pixels, or a documented exception
    statistics = lh.reduce_statistics2(np.array([1e-10, 2e-10, 3e-10]))
    cards = l1f.level1_cards(real_frame(), shape=(1024, 1024), detector="C2",
                             pixel_keywords=l1f.pixel_cards(missing=missing,
                                                            statistics=statistics))
    nrl = {k for k in h if k not in ("COMMENT", "HISTORY", "")} - STRUCTURAL
    assert nrl - set(_cards_dict(cards)) == set(NOT_FROM_VALUES)
    with_compression = l1f.level1_cards(real_frame(comprssn="X%"), shape=(1024, 1024),
                                        detector="C2")
    assert _cards_dict(with_compression)["COMPRSSN"] == "X%"


def test_uncorrected_time_is_stated(real_header):
    frame = real_frame(time=T05)
    del frame["time_level05"]
    cards = l1f.level1_cards(frame, shape=(1024, 1024), detector="C2")
    ours = _cards_dict(cards)
    assert ours["DATE-OBS"] == ours["DATE_OBS"] == "2009-02-28T00:06:03.474"
    assert dict((k, c) for k, _, c in cards)["DATE-OBS"] == "WARNING: Original uncorrected value"
    assert any(v.startswith("WARNING: DATE-OBS is original uncorrected value")
               for k, v, _ in cards if k == "HISTORY")


def test_non_finite_values_leave_their_card_out():
    cards = _cards_dict(l1f.level1_cards(real_frame(crpix1=np.nan, rsun=np.nan), shape=(8, 8),
                                         detector="C2"))
    assert "CRPIX1" not in cards and "RSUN" not in cards and "XCEN" not in cards
    assert "CRPIX2" in cards


def test_rotated_frame_comments():
    cards = l1f.level1_cards(real_frame(rotation=7.4, crota=0.0, rectify=7.4,
                                        pointing_source="level-0.5 header"),
                             shape=(8, 8), detector="C2")
    comments = dict((k, c) for k, _, c in cards)
    assert comments["CROTA"] == "WARNING: Interim value : image corrected to solar north"
    assert comments["CRPIX1"] == " sun center pixel (X), WARNING: Interim value "


def _history_lines(frame):
    return [v for k, v, _ in l1f.level1_cards(frame, shape=(8, 8), detector="C2")
            if k == "HISTORY"]


def test_history_carries_the_factors_nrl_writes():
    """NRL's HISTORY of 25299383 carries get_exp_factor's 1.00108 and c2_calfactor's
    6.26831e-12: ours too, with the level-0.5 exposure time they apply to (25.0991 s); a day
    without a table gets c2_calibrate.pro's warning."""
    frame = real_frame(expfac=1.00108, calfac=6.26831e-12, exptime_level05=25.0991,
                       expfactor_file="lasco/expfac/data/0902/c2_expfactor_090228.dat")
    lines = _history_lines(frame)
    assert "get_exp_factor: 1.00108 from c2_expfactor_090228.dat" in lines
    assert "calfactor: 6.26831e-12" in lines
    assert "level-0.5 EXPTIME 25.0991 s" in lines
    assert " WARNING: No exposure correction found." not in lines
    lines = _history_lines(real_frame(expfac=1.0, expfactor_file=""))
    assert "get_exp_factor: 1.00000 (no table for the day)" in lines
    assert " WARNING: No exposure correction found." in lines


def test_keyhole_frame_says_it_was_turned():
    """reduce_level_1.pro 1.68: 'Image rotated 180 degrees.' for |CROTA1| > 170 (it said 'No
    roll correction applied.' before 2026-12-02)."""
    lines = _history_lines(real_frame(keyhole=True, rectify=180.0))
    assert "Image rotated 180 degrees." in lines and "No roll correction applied." not in lines
    assert "No roll correction applied." in _history_lines(real_frame())


def test_run_options_and_an_unverified_store_are_written():
    """What a Zarr store keeps in its attributes goes into the FITS header too: IDL's COMMENT
    '/NOWARP applied', the options departing from IDL's defaults, an unverified store."""
    from lascoproc.pipeline.fits_output import run_comments, run_history

    attrs = {"level1_option_distortion": 0, "level1_option_roll_correction": 1,
             "level1_option_time_correction": 0, "level1_option_bias_version": "1.26",
             "calibration_integrity": "UNVERIFIED: no MANIFEST.json"}
    assert run_comments(attrs) == [("COMMENT", "/NOWARP applied", "")]
    assert run_history(attrs) == ["option: no DATE-OBS time correction",
                                  "option: bias_version = 1.26",
                                  "calibration store UNVERIFIED: no MANIFEST.json"]
    defaults = {"level1_option_distortion": 1, "level1_option_bias_version": "latest",
                "calibration_integrity": "verified: MANIFEST.json sha256 ..."}
    assert run_comments(defaults) == [] and run_history(defaults) == []


# --------------------------------------------------------------------------------------------
# Files: targets, atomic writes, the QUALITY table, sunpy
# --------------------------------------------------------------------------------------------

def _frames(*paths, day="2002-05-21T04:00:00", **extra):
    return [{"time": np.datetime64(day, "ns"), "path": p, **extra} for p in paths]


def test_targets_from_the_listing_never_from_the_header(tmp_path):
    frames = _frames("arch/020521/c2/22000001.fts", filename="../../evil.fts")
    [target] = l1f.level1_fits_targets(str(tmp_path), frames, "C2")
    assert target == f"{tmp_path}/020521/c2/25000001.fts"


def test_signed_urls_never_reach_names_history_or_errors():
    signed = "https://user:secret@mirror.org/lz/020521/c2/22000001.fts?X-Amz-Signature=abc"
    frames = _frames(signed, signed.replace("22000001", "22000001x"))
    [a, b] = l1f.level1_fits_targets("memory://l1signed/out", frames, "C2")
    assert a == "memory:///l1signed/out/020521/c2/25000001.fts"  # a URL for a remote output
    cards = l1f.level1_cards({**frames[0], "filename": "22000001.fts"}, shape=(8, 8),
                             detector="C2")
    text = repr(cards)
    assert "secret" not in text and "Signature" not in text and "'22000001.fts'" in text
    with pytest.raises(ValueError) as err:
        l1f.level1_fits_targets("memory://l1signed/out", frames[:1] * 2, "C2")
    assert "secret" not in str(err.value) and "Signature" not in str(err.value)


def test_targets_refuse_collisions_naming_both_sources(tmp_path):
    frames = _frames("a/21000001.fts", "b/23000001.fts")  # quicklook 1 and 3 both give 24...
    with pytest.raises(ValueError, match=r"a/21000001\.fts and from b/23000001\.fts"):
        l1f.level1_fits_targets(str(tmp_path), frames, "C2")
    with pytest.raises(ValueError, match="'path'"):
        l1f.level1_fits_targets(str(tmp_path), [{"time": T05, "filename": "x.fts"}], "C2")


def test_targets_day_of_the_corrected_time(tmp_path):
    frame = {"time": np.datetime64("2002-05-22T00:00:20", "ns"),
             "time_level05": np.datetime64("2002-05-21T23:59:50", "ns"),
             "path": "x/22000001.fts"}
    [target] = l1f.level1_fits_targets(str(tmp_path), [frame], "C2")
    assert "/020522/c2/" in target


def test_targets_refuse_existing_files_unless_overwrite(tmp_path):
    frames = _frames("x/22000001.fts")
    (tmp_path / "020521" / "c2").mkdir(parents=True)
    (tmp_path / "020521" / "c2" / "25000001.fts").write_bytes(b"old")
    with pytest.raises(FileExistsError, match="overwrite"):
        l1f.level1_fits_targets(str(tmp_path), frames, "C2")
    assert l1f.level1_fits_targets(str(tmp_path), frames, "C2", overwrite=True)


def _small_cards(**change):
    return l1f.level1_cards(real_frame(**change), shape=(32, 64), detector="C2",
                            created=np.datetime64("2024-01-01T00:00:00.000"))


def _image():
    b = np.linspace(1e-11, 8e-9, 32 * 64, dtype=np.float32).reshape(32, 64)
    b[0, :4] = np.nan
    q = np.zeros(b.shape, np.uint8)
    q[0, :4] = 1
    return b, q


def test_write_is_atomic_and_keeps_an_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "020521" / "c2" / "25000001.fts"
    b, q = _image()
    l1f.write_level1_frame(str(path), _small_cards(), b, q)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        l1f.write_level1_frame(str(path), _small_cards(), b, q)

    def crash(self, fileobj, **kwargs):
        fileobj.write(b"SIMPLE  =   half a file")
        raise OSError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", crash)
    with pytest.raises(OSError, match="disk full"):
        l1f.write_level1_frame(str(path), _small_cards(), b, q, overwrite=True)
    assert path.read_bytes() == before  # the old file, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["25000001.fts"]  # no temp left
    new = tmp_path / "020521" / "c2" / "25000002.fts"
    with pytest.raises(OSError):
        l1f.write_level1_frame(str(new), _small_cards(), b, q)
    assert not new.exists()


def test_write_through_fsspec_writes_temp_then_moves(monkeypatch):
    fs = fsspec.filesystem("memory")
    moves = []
    original = type(fs).mv

    def mv(self, path1, path2, **kwargs):
        moves.append((path1, path2))
        return original(self, path1, path2, **kwargs)

    monkeypatch.setattr(type(fs), "mv", mv)
    b, q = _image()
    url = "memory://l1test/out/020521/c2/25000001.fts"
    assert l1f.write_level1_frame(url, _small_cards(), b, q) == url
    assert len(moves) == 1 and moves[0][1].endswith("/020521/c2/25000001.fts")
    assert "/.25000001.fts." in moves[0][0] and moves[0][0].endswith(".part")
    assert fs.ls("/l1test/out/020521/c2", detail=False) == ["/l1test/out/020521/c2/25000001.fts"]
    with pytest.raises(FileExistsError):
        l1f.write_level1_frame(url, _small_cards(), b, q)
    np.testing.assert_array_equal(l1f.read_level1_quality(url), q)
    fs.rm("/l1test", recursive=True)


def test_scaled_image_is_stored_as_given(tmp_path):
    b, q = _image()
    scaled = lh.nrl_integer_scaling(lh.idl_image(b))
    cards = l1f.level1_cards(real_frame(), shape=b.shape, detector="C3",
                             pixel_keywords=l1f.pixel_cards(scaled=scaled))
    path = tmp_path / "x.fts"
    l1f.write_level1_frame(str(path), cards, scaled.data, q)
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        np.testing.assert_array_equal(hdul[0].data, scaled.data)
        h = hdul[0].header
        assert (h["BITPIX"], h["BSCALE"], h["BZERO"], h["BLANK"]) == (16, 9.91821e-14,
                                                                       3.2501e-09, -32768)
    with fits.open(path) as hdul:
        physical = hdul[0].data
    # astropy scales to float32 (one float32 step is 4.4e-16 at 5e-9; BSCALE is 1e-13)
    np.testing.assert_allclose(physical, scaled.data * 9.91821e-14 + 3.2501e-09, rtol=0,
                               atol=1e-15)
    assert physical[0, 0] == pytest.approx(3.2501e-09)  # no datum: 0 -> BZERO, as NRL's files


def test_plain_sunpy_map_gives_one_lasco_map_with_the_observer(tmp_path):
    sunpy_map = pytest.importorskip("sunpy.map")
    from astropy.wcs import WCS
    from sunpy.map.sources import LASCOMap
    from sunpy.util.exceptions import SunpyMetadataWarning

    b, q = _image()
    path = tmp_path / "25000001.fts"
    l1f.write_level1_frame(str(path), _small_cards(), b, q)
    m = sunpy_map.Map(str(path))  # no hdus=: the QUALITY table is no map
    assert isinstance(m, LASCOMap)
    with pytest.warns(SunpyMetadataWarning, match="MSB"):  # NRL's BUNIT, as for NRL's files
        assert m.unit is None
    np.testing.assert_array_equal(m.data, b)
    assert m.observer_coordinate.lat.deg == pytest.approx(-7.2073)
    assert m.observer_coordinate.lon.deg == pytest.approx(0.0)
    assert m.observer_coordinate.radius.m == pytest.approx(1.4819e11)
    assert m.date.isot == "2009-02-28T00:05:33.380"
    np.testing.assert_array_equal(l1f.read_level1_quality(str(path)), q)
    with fits.open(path) as hdul:
        table = WCS(hdul["QUALITY"].header, keysel=["binary"], colsel=[1])
        header = hdul[0].header.copy()
    with pytest.warns(Warning, match="CROTAn"):  # NRL's bare CROTA, as for NRL's files
        WCS(header)
    del header["CROTA"]
    image = WCS(header)
    np.testing.assert_allclose(table.pixel_to_world_values([0, 63], [0, 31]),
                               image.pixel_to_world_values([0, 63], [0, 31]), rtol=1e-12)


def _tiny_level1(n=2):
    """A level-1 dataset of ``n`` 32 x 64 frames, as calibrate_level1 lays it out."""
    b, q = _image()
    frame = real_frame()
    coords = {"time": ("time", np.array([TCORR + np.timedelta64(i, "m") for i in range(n)]))}
    for key, value in frame.items():
        if key != "time":
            coords[key] = ("time", np.array([value] * n,
                                            dtype=object if isinstance(value, str) else None))
    coords["path"] = ("time", np.array([f"x/2229938{i}.fts" for i in range(n)], dtype=object))
    return xr.Dataset(
        {"brightness": (("time", "y", "x"), np.stack([b] * n)),
         "quality": (("time", "y", "x"), np.stack([q] * n))},
        coords=coords, attrs={"detector": "C2"})


def test_to_sunpy_map_of_a_lazy_cube_and_a_zarr_store(tmp_path):
    pytest.importorskip("sunpy.map")
    from sunpy.map.sources import LASCOMap
    from sunpy.util.exceptions import SunpyMetadataWarning

    ds = _tiny_level1()
    ds.to_zarr(tmp_path / "l1.zarr", consolidated=False)  # object strings: v3 vlen UTF-8
    ds = ds.chunk({"time": 1})
    for source in (ds, xr.open_zarr(tmp_path / "l1.zarr", consolidated=False)):
        m = l1f.to_sunpy_map(source, 1)
        assert isinstance(m, LASCOMap)
        with pytest.warns(SunpyMetadataWarning, match="MSB"):
            assert m.unit is None
        assert m.date.isot == "2009-02-28T00:06:33.380"
        assert m.observer_coordinate.lat.deg == pytest.approx(-7.2073)
        assert m.reference_pixel.x.value == pytest.approx(511.208 - 1)
        np.testing.assert_array_equal(m.data, _image()[0])


def test_to_sunpy_map_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sunpy.map", None)
    with pytest.raises(ImportError, match=r"lascoproc\[sunpy\]"):
        l1f.to_sunpy_map(_tiny_level1(), 0)


def test_level1_wcs_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wcs = l1f.level1_wcs(_tiny_level1().isel(time=0))
    np.testing.assert_allclose(wcs.pixel_to_world_values(511.208 - 1, 507.910 - 1), (0, 0),
                               atol=1e-9)



def test_non_ascii_values_do_not_stop_the_writer(tmp_path):
    cards = l1f.level1_cards(real_frame(bias_source="table caf\u00e9\t.dat", filter="Cl\u00e9ar"),
                             shape=(32, 64), detector="C2")
    b, q = _image()
    path = tmp_path / "x.fts"
    l1f.write_level1_frame(str(path), cards, b, q)
    h = fits.getheader(path)
    assert h["FILTER"] == "Cl?ar"
    assert "Bias (618.500) from table caf??.dat" in "".join(h["HISTORY"])
