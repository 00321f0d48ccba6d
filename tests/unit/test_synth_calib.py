"""Synthetic SolarSoft calibration files: names, layout, formats, parsing rules, determinism.

The parsers here follow docs/calibration_files.md (the IDL rules), written independently of
the writer in ``lascoproc.testing.calib``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from scipy.io import readsav

from lascoproc.testing.calib import (
    CALIBRATION_FILES,
    EXPFACTOR_FORMAT,
    ExposureRecord,
    exposure_records_from_archive,
    write_calibration_files,
)

CALIB = "lasco/data/calib"
EXPECTED_PATHS = {
    "c2_vignetting": f"{CALIB}/c2vig_final.fts",
    "c2_null_blocks": f"{CALIB}/c2nullblocks.txt",
    "c3_vignetting_preint": f"{CALIB}/c3vig_preint_final.fts",
    "c3_vignetting_postint": f"{CALIB}/c3vig_postint_final.fts",
    "c3_mask": f"{CALIB}/c3_cl_mask_lvl1.fts",
    "c3_ramp": f"{CALIB}/C3ramp.fts",
    "c3_background": f"{CALIB}/3m_clcl_all.fts",
    "c2_expfactor_020521": "lasco/expfac/data/0205/c2_expfactor_020521.dat",
    "c2_expfactor_020522": "lasco/expfac/data/0205/c2_expfactor_020522.dat",
    "c3_expfactor_020521": "lasco/expfac/data/0205/c3_expfactor_020521.dat",
    "c3_expfactor_020522": "lasco/expfac/data/0205/c3_expfactor_020522.dat",
    "occulter_center": "lasco/convert/occulter_center.dat",
    "c3_occulter_center": "lasco/convert/c3_occltr_cntr.dat",
    "c2_roll_center_pre": f"{CALIB}/c2_pre_recovery_adj_xyr_medv2.sav",
    "c2_roll_center_post": f"{CALIB}/c2_post_recovery_adj_xyr_medv2.sav",
    "c3_roll_center_pre": f"{CALIB}/c3_pre_recovery_adj_xyr_medv2.sav",
    "c3_roll_center_post": f"{CALIB}/c3_post_recovery_adj_xyr_medv2.sav",
    "last_post_recovery_day": f"{CALIB}/c2_c3_last_post_recovery_day.sav",
    "c2_time_offsets": "lasco/data_anal/data/c2_time_offsets.dat",
    "time_diff": f"{CALIB}/TIME_DIFF.DAT",
    "c2_time_offsets_1996": f"{CALIB}/c2_012496t1544_082997t1827_timeoffsets.sav",
    "c2_time_offsets_1997_10": f"{CALIB}/c2_101997t1828_102797t2241_timeoffsets.sav",
    "c2_time_offsets_1997_12": f"{CALIB}/c2_120697t0027_123097t2023_timeoffsets.sav",
    **{f"soho_orbit_definitive_200205{d}":
       f"ancil_data/orbit/definitive/2002/SO_OR_DEF_200205{d}_V02.FITS" for d in ("21", "22")},
    **{f"soho_orbit_predictive_200205{d}":
       f"ancil_data/orbit/predictive/2002/SO_OR_PRE_200205{d}_V03.FITS"
       for d in ("21", "22", "23", "24", "25")},
}
FITS_FILES = {  # name: (numpy dtype kind, BITPIX)
    "c2_vignetting": ("f", -32), "c3_vignetting_preint": ("f", -32),
    "c3_vignetting_postint": ("f", -32), "c3_mask": ("u", 8), "c3_ramp": ("f", -32),
    "c3_background": ("f", -32),
}
# 2002-05-21 00:00:00 UTC: MJD 52415, 16211 days after 1958-01-01, TAI-UTC = 32 s, +32.184 s.
TAI_20020521 = 16211 * 86400 + 32 + 32.184


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("nrl_lib")
    return root, write_calibration_files(root, start="2002-05-21", days=2, seed=0)


def parse_expfactor_line(line: str) -> dict:
    """READ_EXP_FACTOR's fixed columns (a12,f10.6,f10.1,2x,a6,2x,f10.2,2x,a12,a12,a9,i4,e10.2)."""
    return {
        "filename": line[0:12].strip(), "factor": float(line[12:22]),
        "bias": float(line[22:32]), "yymmdd": line[34:40], "time_ms": round(
            float(line[42:52]) * 1000), "filter": line[54:66].strip(),
        "polar": line[66:78].strip(), "wavelength": line[78:87].strip(),
        "nregion": int(line[87:91]), "sigma": float(line[91:101]),
    }


def mjd_of_yymmdd(yymmdd: str) -> int:
    year = int(yymmdd[:2])
    day = dt.date(1900 + year if year >= 90 else 2000 + year, int(yymmdd[2:4]), int(yymmdd[4:]))
    return (day - dt.date(1858, 11, 17)).days


def match_exposure(lines: list[str], mid_date: int, mid_time: float) -> dict | None:
    """GET_EXP_FACTOR: same MJD and |1000*MID_TIME - time| < 100 ms; later duplicates win."""
    rows: dict[tuple[int, int], dict] = {}
    for line in lines:
        row = parse_expfactor_line(line)
        rows[(mjd_of_yymmdd(row["yymmdd"]), row["time_ms"])] = row
    hits = [r for (mjd, t), r in rows.items()
            if mjd == mid_date and abs(int(1000.0 * mid_time) - t) < 100]
    return hits[0] if hits else None


def test_layout_has_the_real_names(tree):
    root, written = tree
    assert written == EXPECTED_PATHS
    for rel in written.values():
        assert (root / rel).is_file()


def test_calibration_files_records_describe_what_is_written(tree):
    _, written = tree
    names = [f.name for f in CALIBRATION_FILES]
    assert len(names) == len(set(names))
    patterns = {f.path for f in CALIBRATION_FILES}
    fixed = {p for p in patterns if "{" not in p}
    expfac = {p for p in patterns if "{yymmdd}" in p}
    family = {p.format(detector=det, yymm="0205", yymmdd=day)
              for p in expfac for det in ("c2", "c3") for day in ("020521", "020522")}
    orbits = {p.format(yyyy="2002", yyyymmdd=f"200205{day}", vv=vv)
              for p in patterns - fixed - expfac
              for day, vv in (("21", "02"), ("22", "02"), ("21", "03"), ("22", "03"),
                              ("23", "03"), ("24", "03"), ("25", "03"))}
    assert fixed | family | {o for o in orbits if o in set(written.values())} == \
        set(written.values())
    for f in CALIBRATION_FILES:
        assert f.detector in ("C2", "C3", "ANY")
        assert f.fmt in ("fits", "fits-table", "text", "binary", "idl-save")
        for date in (f.valid_from, f.valid_to):
            assert date is None or dt.date.fromisoformat(date)
    assert EXPFACTOR_FORMAT == "(a12,f10.6,f10.1,2x,a6,2x,f10.2,2x,a12,a12,a9,i4,e10.2)"


@pytest.mark.parametrize("name", sorted(FITS_FILES))
def test_fits_files_open_cleanly(tree, name):
    root, written = tree
    kind, bitpix = FITS_FILES[name]
    with fits.open(root / written[name]) as hdul:
        hdul.verify("exception")
        assert len(hdul) == 1
        header, data = hdul[0].header, hdul[0].data
        assert header["BITPIX"] == bitpix
        assert data.shape == (1024, 1024) and data.dtype.kind == kind
        assert header["FILENAME"] == Path(written[name]).name
        assert header["DETECTOR"] == name[:2].upper()
        assert np.isfinite(data).all()


def test_vignetting_is_inverted_and_bounded(tree):
    root, written = tree
    for name, centre in (("c2_vignetting", (505, 512)), ("c3_vignetting_postint", (529, 516))):
        vig = fits.getdata(root / written[name]).astype(np.float64)
        assert vig.min() == 0.0 and vig.max() <= 100.0
        assert vig[centre] == 0.0          # behind the occulter
        assert vig[0, 0] == 0.0            # outside the field stop
        mid = vig[centre[0] + 350, centre[1]]  # mid-field, above the occulter
        assert 0.95 < mid < 1.1
    pre = fits.getdata(root / written["c3_vignetting_preint"])
    post = fits.getdata(root / written["c3_vignetting_postint"])
    assert not np.array_equal(pre, post)


def test_c3_mask_ramp_background(tree):
    root, written = tree
    mask = fits.getdata(root / written["c3_mask"])
    assert set(np.unique(mask)) == {0, 1}
    vig = fits.getdata(root / written["c3_vignetting_postint"])
    assert (vig[mask == 1] > 0).all()
    ramp = fits.getdata(root / written["c3_ramp"])
    assert 0 < ramp.min() < ramp.max() < 1e-10
    bkg_header = fits.getheader(root / written["c3_background"])
    assert bkg_header["EXPTIME"] == 19.1 and bkg_header["FILTER"].strip() == "Clear"
    assert fits.getdata(root / written["c3_background"]).max() > 100.0


def test_generic_exposure_tables_parse(tree):
    root, written = tree
    for det, first_digit, per_day in (("c2", "2", 72), ("c3", "3", 48)):
        for yymmdd in ("020521", "020522"):
            lines = (root / written[f"{det}_expfactor_{yymmdd}"]).read_text().splitlines()
            assert len(lines) == per_day
            rows = [parse_expfactor_line(line) for line in lines]
            for line, row in zip(lines, rows, strict=True):
                assert len(line) == 101
                assert len(row["filename"]) == 12 and row["filename"].endswith(".fts")
                assert row["filename"][0] == first_digit and row["filename"][:8].isdigit()
                assert row["yymmdd"] == yymmdd
                assert 0.97 < row["factor"] < 1.03 and 300 < row["bias"] < 700
                assert 0 < row["nregion"] < 97 and 0 < row["sigma"] < 0.01
                # whitespace split, as CorKit reads it: filename factor bias date time ...
                words = line.split()
                assert words[0] == row["filename"] and words[3] == yymmdd
                assert float(words[4]) * 1000 == pytest.approx(row["time_ms"], abs=0.5)
            times = [r["time_ms"] for r in rows]
            assert times == sorted(times) and len(set(times)) == len(times)


RECORDS = [
    ("c2", "22000001.fts", "2002/05/21", "00:05:12.450", 25.1, 52415, 324.9, 590.3),
    ("C3", "32088304.fts", "2002/05/21", "00:18:06.516", 19.0996, 52415, 1096.07, 378.876,
     "Clear", "Clear"),
    # starts before midnight, mid-exposure after it
    ("c2", "22000002.fts", "2002/05/21", "23:59:50.000", 25.0, 52416, 2.5, 590.4),
]


def test_exposure_records_make_the_tables(tmp_path):
    written = write_calibration_files(tmp_path, detectors=("c2", "c3"), exposures=RECORDS)
    expfac = sorted(k for k in written if "expfactor" in k)
    assert expfac == ["c2_expfactor_020521", "c2_expfactor_020522", "c3_expfactor_020521"]
    c2_21 = (tmp_path / written["c2_expfactor_020521"]).read_text().splitlines()
    c2_22 = (tmp_path / written["c2_expfactor_020522"]).read_text().splitlines()
    c3_21 = (tmp_path / written["c3_expfactor_020521"]).read_text().splitlines()
    line = c2_21[0]
    assert line[0:12] == "22000001.fts"
    assert line[22:32] == "     590.3"
    assert line[34:40] == "020521" and line[42:52] == "    324.90"
    assert line[54:66] == "      Orange" and line[66:78] == "       Clear"
    row = match_exposure(c3_21, 52415, 1096.07)
    assert row["filename"] == "32088304.fts" and row["bias"] == 378.9
    assert match_exposure(c3_21, 52415, 1096.27) is None     # 200 ms off: no match
    assert match_exposure(c3_21, 52416, 1096.07) is None     # other day: no match
    # the straddling frame is under its MID_DATE day, and under its DATE-OBS day too
    assert match_exposure(c2_22, 52416, 2.5)["filename"] == "22000002.fts"
    assert any(line.startswith("22000002.fts") for line in c2_21)
    assert all(parse_expfactor_line(x)["yymmdd"] == "020522"
               for x in c2_21 + c2_22 if x.startswith("22000002"))


def test_exposure_records_from_archive_headers(tmp_path):
    frame = tmp_path / "archive" / "level_05" / "020521" / "c3" / "32088304.fts"
    frame.parent.mkdir(parents=True)
    header = fits.Header()
    for key, value in (("FILENAME", "32088304.fts"), ("DATE-OBS", "2002/05/21"),
                       ("TIME-OBS", "00:18:06.516"), ("EXPTIME", 19.0996),
                       ("DETECTOR", "C3"), ("FILTER", "Clear"), ("POLAR", "Clear"),
                       ("MID_DATE", 52415), ("MID_TIME", 1096.07), ("OFFSET", 378.876)):
        header[key] = value
    fits.PrimaryHDU(np.zeros((8, 8), dtype=np.int16), header).writeto(frame)
    records = exposure_records_from_archive(tmp_path / "archive")
    assert records == [ExposureRecord("C3", "32088304.fts", "2002/05/21", "00:18:06.516",
                                      19.0996, 52415, 1096.07, 378.876, "Clear", "Clear")]


def test_occulter_center_dat_follows_read_occ_dat(tree):
    root, written = tree
    lines = (root / written["occulter_center"]).read_text().split("\n")[1:]
    slots = lines[:40]          # 4 cameras x 5 filter slots x 2 validity slots, after 1 header
    assert len(slots) == 40
    c2_first = slots[2 * (1 * 5 + 0)]        # camera 1 (C2), filter slot 0, validity slot 0
    assert abs(float(c2_first[0:7]) - 512.634) <= 0.2
    assert abs(float(c2_first[8:15]) - 505.293) <= 0.2
    assert c2_first[16:26] == "1995/12/02" and c2_first[31:] == "C2 Orange"
    assert all(slots[i] == "" for i in range(1, 40, 2))


def test_c3_occltr_cntr_follows_occltr_cntr(tree):
    root, written = tree
    rows = (root / written["c3_occulter_center"]).read_text().splitlines()[2:]
    parsed = []
    for row in rows:
        parts = row.split(" ")               # STR_SEP(list[i], ' '): single spaces only
        assert len(parts) == 3
        parsed.append((dt.date.fromisoformat(parts[0].replace("/", "-")),
                       float(parts[1]), float(parts[2])))
    dates = [p[0] for p in parsed]
    assert dates == sorted(dates) and dates[0] <= dt.date(1996, 1, 31)
    assert dates[-1] >= dt.date(2002, 5, 1)
    for _, x, y in parsed:
        assert abs(x - 516.4) < 0.5 and 529.0 < y < 532.0


def test_roll_center_tables_are_idl_save(tree):
    root, written = tree
    for det in ("c2", "c3"):
        post = readsav(root / written[f"{det}_roll_center_post"])
        assert set(post) == {"c_dt", "c_r", "c_rmed", "c_tai", "c_utc", "c_x", "c_xmed",
                             "c_y", "c_ymed"}
        tai = post["c_tai"]
        assert (np.diff(tai) > 0).all()
        row = list(post["c_dt"]).index(b"2002/05/21 00:00:00.000")
        assert tai[row] == pytest.approx(TAI_20020521, abs=1e-3)
        assert post["c_utc"]["mjd"][row] == 52415 and post["c_utc"]["time"][row] == 0
        assert tai[0] < TAI_20020521 and tai[-1] > TAI_20020521 + 2 * 86400
        assert np.abs(post["c_xmed"] - post["c_x"]).max() < 2.0
        pre = readsav(root / written[f"{det}_roll_center_pre"])
        assert pre["c_dt"][-1] < b"1998/07/01"
    last = readsav(root / written["last_post_recovery_day"])
    assert last["last_day"] == b"2002-06-17"          # start + days + 25 d (C3)
    assert last["c2_last_day"] == b"2002-06-22"


def test_c2_null_blocks_and_time_offsets(tree):
    root, written = tree
    text = (root / written["c2_null_blocks"]).read_text()
    blocks = [int(b) for b in text.strip().split(" ")]    # FIX(STR_SEP(line, ' '))
    assert blocks == sorted(set(blocks)) and 0 in blocks and 1023 in blocks
    assert 16 * 32 + 16 in blocks                         # the block under the occulter
    rows = (root / written["c2_time_offsets"]).read_text().splitlines()[2:]
    for row in rows:
        mjd, msec, xpos, moved, offset = row.split()
        assert int(mjd) > 50000 and 0 <= int(msec) < 86400000
        float(xpos), int(moved), float(offset)


def _digest(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                       int(os.stat(p).st_mtime))
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_from_the_seed(tree, tmp_path):
    root, _ = tree
    again = tmp_path / "again"
    write_calibration_files(again, start="2002-05-21", days=2, seed=0)
    assert _digest(again) == _digest(root)
    other = tmp_path / "other"
    written = write_calibration_files(other, start="2002-05-21", days=2, seed=1,
                                      detectors=("c2",))
    assert (other / written["c2_vignetting"]).read_bytes() != (
        root / written["c2_vignetting"]).read_bytes()


def test_rejects_unknown_detector(tmp_path):
    with pytest.raises(ValueError, match="C1"):
        write_calibration_files(tmp_path, detectors=("c1",))


def test_tables_cover_a_synthetic_archive(tmp_path):
    lasco = pytest.importorskip("lascoproc.testing.lasco")
    archive = lasco.write_lasco_archive(tmp_path / "archive", start="2002-05-21", days=1,
                                        seed=0, bad_files=True)
    records = exposure_records_from_archive(tmp_path / "archive")
    unreadable = {"not_fits", "header_incomplete"}  # truncated: the header is whole
    assert {r.filename for r in records} == {
        Path(f.path).name for f in archive.frames if f.kind not in unreadable}
    written = write_calibration_files(tmp_path / "nrl", exposures=records, start="2002-05-21",
                                      days=1)
    for rec in records:
        day = dt.date(1858, 11, 17) + dt.timedelta(days=rec.mid_date)
        table = tmp_path / "nrl" / written[f"{rec.detector.lower()}_expfactor_{day:%y%m%d}"]
        row = match_exposure(table.read_text().splitlines(), rec.mid_date, rec.mid_time)
        assert row is not None and row["filename"] == rec.filename


def test_time_diff_is_the_binary_layout_of_time_correction2(tree):
    """Record 0: the record count, little-endian; then 16-byte records of two CDS times
    (w0.mjd, w0.time, w1.mjd, w1.time), big-endian up to record 313887; the first record
    1997-04-11 (``time_correction2.pro``: "starts from 1997-04-11")."""
    import struct

    root, written = tree
    raw = (root / written["time_diff"]).read_bytes()
    count = struct.unpack("<i", raw[:4])[0]
    assert len(raw) == 16 * (count + 1)
    w0_mjd, w0_ms, w1_mjd, w1_ms = struct.unpack(">4i", raw[16:32])
    assert (w1_mjd, w1_ms) == (mjd_of_yymmdd("970411"), 0)
    assert w0_mjd == w1_mjd and 20_000 < w0_ms - w1_ms < 60_000  # 20-60 s, OBE ahead
    last = struct.unpack(">4i", raw[-16:])
    assert dt.date(1858, 11, 17) + dt.timedelta(days=last[2]) == dt.date(2002, 5, 25)


def test_c2_star_time_offsets_are_idl_save(tree):
    root, written = tree
    values = readsav(str(root / written["c2_time_offsets_1997_10"]))
    dates = [d.decode() for d in values["c2_dates"]]
    assert dates[0] == "1997/10/19 18:28:00.000"
    assert values["c2_offsets"].dtype.kind == "f" and values["c2_offsets"].itemsize == 4
    assert len(values["c2_offsets"]) == len(dates)
    assert values["c2_utc_dates"]["mjd"][0] == mjd_of_yymmdd("971019")
    assert values["c2_utc_dates"]["time"][0] == (18 * 60 + 28) * 60_000


def test_orbit_files_and_manifest(tree):
    import json

    root, written = tree
    with fits.open(root / written["soho_orbit_definitive_20020521"]) as hdul:
        assert hdul[1].header["TFIELDS"] == 36 and hdul[1].header["NAXIS2"] == 144
        assert hdul[1].data["YEAR"][0] == 2002 and hdul[1].data["DAY OF YEAR"][0] == 141
    manifest = json.loads((root / "MANIFEST.json").read_text())
    listed = {e["path"]: e["sha256"] for e in manifest["files"]}
    assert set(listed) == set(written.values())
    for rel, digest in listed.items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest


def test_cli_synth_calib_lists_the_archive_frames(tmp_path):
    """``synth calib --archive``: the exposure-factor tables list the archive's frames (as
    the demo's calibration files do); without it they list none."""
    from lascoproc_cli.main import main

    assert main(["synth", "lasco", str(tmp_path / "a"), "--days", "1",
                 "--frames-per-day", "2"]) == 0
    assert main(["synth", "calib", str(tmp_path / "c"), "--days", "1", "--archive",
                 str(tmp_path / "a")]) == 0
    assert main(["synth", "calib", str(tmp_path / "bare"), "--days", "1"]) == 0
    names = {Path(p).name for p in (tmp_path / "a").rglob("*.fts")}
    table = tmp_path / "c/lasco/expfac/data/0205/c3_expfactor_020521.dat"
    listed = table.read_text()
    assert any(name in listed for name in names)
    bare = (tmp_path / "bare/lasco/expfac/data/0205/c3_expfactor_020521.dat").read_text()
    assert not any(name in bare for name in names)
