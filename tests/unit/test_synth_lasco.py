"""The synthetic LASCO level-0.5 archive is in NRL's layout and format, and tells the truth."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lascoproc.io.img_hdr import parse_img_hdr
from lascoproc.io.lasco_header import (
    HeaderError,
    check_header,
    expected_file_size,
    observation_time,
    parse_header,
    read_header_bytes,
)
from lascoproc.testing.lasco import BAD_KINDS, write_lasco_archive

PLATESCL = {"C2": 11.9, "C3": 56.0}
STANDARD_FILTER = {"C2": "Orange", "C3": "Clear"}
TEMPLATE = Path(__file__).resolve().parents[2] / "lascoproc" / "data" / "lasco_c3_l05.header"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """2 days, both detectors, bad files, no img_hdr.txt on day 2, one unlisted frame a day."""
    root = tmp_path_factory.mktemp("synth_lasco")
    return write_lasco_archive(root, start="2002-05-21", days=2, frames_per_day=3, seed=11,
                               bad_files=True, days_without_img_hdr=1, unlisted_per_day=1,
                               missing_blocks=(1, 5))


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    """One day of full frames only, 8 per detector: CMEs and quiet frames."""
    root = tmp_path_factory.mktemp("synth_lasco_sequence")
    return write_lasco_archive(root, days=1, frames_per_day=8, seed=5, binned_per_day=0,
                               subfields_per_day=0, missing_blocks=(0, 3))


def _open(archive, frame):
    with fits.open(os.path.join(archive.root, frame.path)) as hdul:
        return hdul[0].header.copy(), np.array(hdul[0].data)


def _block_mask(shape, blocks):
    mask = np.zeros(shape, bool)
    for i, j in blocks:
        mask[32 * i:32 * i + 32, 32 * j:32 * j + 32] = True
    return mask


def test_layout_and_file_names(archive):
    assert len(archive.good("C2")) == 8  # (3 listed + 1 unlisted) x 2 days
    assert len(archive.good("c3")) == 8
    assert sorted(f.kind for f in archive.bad()) == sorted(BAD_KINDS)
    pattern = re.compile(r"^level_05/(\d{6})/(c[23])/([23]\d{7})\.fts$")
    for frame in archive.frames:
        match = pattern.match(frame.path)
        assert match, frame.path
        yymmdd, directory, number = match.groups()
        assert directory == frame.detector.lower()
        assert number[0] == frame.detector[1]
        assert yymmdd == str(frame.time)[2:10].replace("-", "")
        assert os.path.isfile(os.path.join(archive.root, frame.path))
    for detector in ("C2", "C3"):
        frames = [f for f in archive.frames if f.detector == detector]
        numbers = [int(f.path[-12:-4]) for f in frames]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        assert np.all(np.diff([f.time for f in frames]) > np.timedelta64(0))
    root = Path(archive.root) / "level_05"
    assert (root / "020521" / "c2" / "img_hdr.txt").is_file()
    assert (root / "020521" / "c3" / "img_hdr.txt").is_file()
    assert not (root / "020522" / "c2" / "img_hdr.txt").exists()
    assert not any(f.in_img_hdr for f in archive.frames if "/020522/" in f.path)
    assert sum(not f.in_img_hdr for f in archive.good() if "/020521/" in f.path) == 2


def test_good_files_read_back_as_real_level05(archive):
    for frame in archive.good():
        path = os.path.join(archive.root, frame.path)
        assert os.path.getsize(path) % 2880 == 0
        header, data = _open(archive, frame)  # warnings are errors: astropy reads it cleanly
        assert header["BITPIX"] == 16 and "BZERO" not in header and "BSCALE" not in header
        assert data.dtype == np.dtype(">i2") and data.shape == frame.shape
        assert (header["NAXIS2"], header["NAXIS1"]) == frame.shape
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", header["DATE-OBS"])
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2}\.\d{3}", header["TIME-OBS"])
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", header["DATE"])
        assert re.fullmatch(r"\d{6}_\d{6}\.img", header["FILEORIG"])
        assert header["FILENAME"] == frame.path[-12:]
        assert observation_time(header) == frame.time
        check_header(header)
        assert header["DETECTOR"] == frame.detector and header["INSTRUME"] == "LASCO"
        assert header["FILTER"] == frame.filter and header["POLAR"] == frame.polar
        assert header["EXPTIME"] == frame.exptime
        assert header["EXPTIME"] == pytest.approx(header["EXP0"] + header["EXP3"], abs=1e-4)
        assert header["PLATESCL"] == PLATESCL[frame.detector]
        binning = max(header["SUMCOL"], 1) * max(header["LEBXSUM"], 1)
        assert header["CDELT1"] == header["CDELT2"] == PLATESCL[frame.detector] * binning
        assert header["CTYPE1"] == "SOLAR-X" and header["CUNIT1"] == "ARCSEC"
        assert any("\t" in card for card in header["HISTORY"])
        assert 0 < data.min() or frame.missing_blocks
        assert data.max() <= 16383


def test_header_is_the_real_template_with_frame_values(archive):
    template = TEMPLATE.read_bytes().decode("latin-1").splitlines()
    keys = [line[:8].rstrip() for line in template]
    unchanged = [line for line in template
                 if line[:8].rstrip() in ("VERSION", "TELESCOP", "INSTRUME", "RECTIFY", "CRVAL1",
                                          "LP_NUM", "SHUTTR", "LAMP", "CTYPE2", "CUNIT2")
                 or line.startswith("HISTORY V15")]
    c3 = [f for f in archive.good("C3") if f.kind == "full"]
    for frame in c3 + archive.good("C2"):
        with open(os.path.join(archive.root, frame.path), "rb") as handle:
            raw = read_header_bytes(handle)
        cards = [raw[i:i + 80].decode("latin-1") for i in range(0, len(raw), 80)]
        end = cards.index("END".ljust(80))
        assert [c[:8].rstrip() for c in cards[:end]] == keys
        assert all(c == c.rstrip().ljust(80) for c in cards)
        for line in unchanged:
            assert line.ljust(80) in cards
        assert cards[0].startswith("SIMPLE  =                    T / Written by IDL:  ")
        history = next(c for c in cards if c.startswith("HISTORY offset_bias.pro\t1.24 12/13/01, "))
        header = parse_header(raw)
        assert history.rstrip().endswith(", " + f"{header['OFFSET']:#.6G}")
        seconds = (frame.time - frame.time.astype("datetime64[D]")) / np.timedelta64(1, "s")
        assert header["MID_TIME"] == pytest.approx(seconds + header["EXPTIME"] / 2, abs=0.06)
        assert header["MID_DATE"] == 52415 + (frame.time.astype("datetime64[D]")
                                              - np.datetime64("2002-05-21")).astype(int)
        # TAI seconds since 1958-01-01: 16211 days to 2002-05-21, and TAI - UTC = 32 s in 2002
        days = (frame.time.astype("datetime64[D]") - np.datetime64("2002-05-21")).astype(int)
        assert header["OBT_TIME"] == pytest.approx((16211 + days) * 86400 + seconds + 32, abs=200)
    header, _ = _open(archive, c3[0])
    assert (header["CRPIX1"], header["CRPIX2"]) == (517.95599, 532.63202)  # the real header's
    assert (header["P1COL"], header["P1ROW"], header["P2COL"], header["P2ROW"]) == (20, 1, 1043,
                                                                                    1024)
    assert (header["R1COL"], header["R1ROW"], header["R2COL"], header["R2ROW"]) == (20, 1, 1043,
                                                                                    1024)
    assert header["READPORT"] == header["EFFPORT"] == "C"
    assert 370 < header["OFFSET"] < 390  # C3 bias in 2002
    c2 = next(f for f in archive.good("C2") if f.kind == "full")
    assert 560 < _open(archive, c2)[0]["OFFSET"] < 620  # C2 bias in 2002


def test_statistics_keywords_follow_reduce_statistics(archive):
    for frame in archive.good():
        header, data = _open(archive, frame)
        values = data.ravel().astype(np.int64)
        nonzero = values[values != 0]
        used = np.sort(nonzero[nonzero != 16383])
        assert header["DATAZER"] == values.size - nonzero.size
        assert header["DATAMIN"] == nonzero.min()
        assert header["DATAMAX"] == used.max()
        nsat = np.count_nonzero(values == 16383) / values.size
        assert header["DATASAT"] == pytest.approx(nsat, rel=1e-4, abs=1e-9)
        assert header["DATAAVG"] == pytest.approx(used.mean(), rel=1e-5)
        assert header["DATASIG"] == pytest.approx(used.std(ddof=1), rel=1e-5)
        previous = -1
        for key, p in (("DATAP01", 0.01), ("DATAP10", 0.10), ("DATAP25", 0.25),
                       ("DATAP75", 0.75), ("DATAP90", 0.90), ("DATAP95", 0.95),
                       ("DATAP98", 0.98), ("DATAP99", 0.99)):
            # smallest value whose cumulative count exceeds p * n (or the next bin, as IDL)
            expected = used[int(np.floor(p * used.size))]
            assert expected <= header[key] <= max(expected, previous + 1), key
            previous = header[key]


def test_img_hdr_lines_agree_with_headers(archive):
    root = Path(archive.root)
    listings = sorted(root.glob("level_05/*/*/img_hdr.txt"))
    assert len(listings) == 2
    for listing in listings:
        text = listing.read_text(encoding="ascii")
        assert all(len(line) == 120 for line in text.splitlines())
        lines, bad = parse_img_hdr(text)
        assert bad == []
        directory = listing.parent.relative_to(root).as_posix()
        expected = [f for f in archive.frames
                    if f.path.startswith(directory + "/") and f.in_img_hdr]
        assert [line.filename for line in lines] == [f.path[-12:] for f in expected]
        for line, frame in zip(lines, expected, strict=True):
            assert line.time == frame.time.astype("datetime64[s]")
            assert line.detector == frame.detector
            if frame.kind == "not_fits":
                continue
            with open(root / frame.path, "rb") as handle:
                header = parse_header(read_header_bytes(handle))
            assert line.exptime == pytest.approx(header["EXPTIME"], abs=0.05)
            assert (line.naxis1, line.naxis2) == (header["NAXIS1"], header["NAXIS2"])
            assert (line.p1col, line.p1row) == (header["P1COL"], header["P1ROW"])
            assert line.filter == header["FILTER"][:6] and line.polar == header["POLAR"][:6]
            assert line.os_num == header["OS_NUM"] and line.lp_num == header["LP_NUM"]


def test_missing_blocks_are_exactly_zero_and_nothing_else_is(archive):
    for frame in archive.good():
        _, data = _open(archive, frame)
        assert 1 <= len(frame.missing_blocks) <= 4
        assert len(set(frame.missing_blocks)) == len(frame.missing_blocks)
        ny, nx = frame.shape
        assert all(0 <= i < ny // 32 and 0 <= j < nx // 32 for i, j in frame.missing_blocks)
        np.testing.assert_array_equal(data == 0, _block_mask(frame.shape, frame.missing_blocks))


def test_binned_and_subfield_geometry(archive):
    binned = [f for f in archive.good() if f.kind == "binned"]
    subfields = [f for f in archive.good() if f.kind == "subfield"]
    assert binned and subfields
    full_crpix = {"C2": (511.738, 506.294), "C3": (517.95599, 532.63202)}
    for frame in binned:
        header, data = _open(archive, frame)
        assert frame.shape == (512, 512)
        leb = header["LEBXSUM"] * header["LEBYSUM"]
        assert {(header["LEBXSUM"], header["SUMCOL"]), (header["LEBYSUM"], header["SUMROW"])} \
            in ({(2, 0)}, {(1, 2)})
        cx, cy = full_crpix[frame.detector]
        assert header["CRPIX1"] == pytest.approx((cx - 0.5) / 2 + 0.5, abs=1e-4)
        assert header["CRPIX2"] == pytest.approx((cy - 0.5) / 2 + 0.5, abs=1e-4)
        # behind the occulter only the bias: summed in the electronics box it is summed too
        y, x = np.indices(data.shape)
        inside = np.hypot(x - header["CRPIX1"] + 1, y - header["CRPIX2"] + 1) < 15
        assert np.median(data[inside]) == pytest.approx(leb * header["OFFSET"], abs=3 * leb)
    for frame in subfields:
        header, _ = _open(archive, frame)
        ncol = header["R2COL"] - header["R1COL"] + 1
        nrow = header["R2ROW"] - header["R1ROW"] + 1
        assert (nrow, ncol) == frame.shape != (1024, 1024)
        # reduce_rectify_p1p2.pro, port C
        assert header["R1COL"] == 1044 - header["P2ROW"]
        assert header["R2COL"] == 1044 - header["P1ROW"]
        assert header["R1ROW"] == 1044 - header["P2COL"]
        assert header["R2ROW"] == 1044 - header["P1COL"]
        cx, cy = full_crpix[frame.detector]
        assert header["CRPIX1"] == pytest.approx(cx - (header["R1COL"] - 20), abs=1e-4)
        assert header["CRPIX2"] == pytest.approx(cy - (header["R1ROW"] - 1), abs=1e-4)


def test_less_common_frames_are_present(archive):
    by = {(f.detector, f.filter, f.polar) for f in archive.good() if f.kind == "full"}
    assert {("C2", "Blue", "Clear"), ("C2", "Orange", "+60 Deg"), ("C3", "Orange", "Clear")} <= by
    rolls = [_open(archive, f)[0]["CROTA1"] for f in archive.good("C3") if f.kind == "full"]
    assert sum(abs(r - 180) < 1 for r in rolls) == 1  # one 'keyhole' frame, SOHO upside down
    assert sum(abs(r) < 1 for r in rolls) == len(rolls) - 1


def test_bad_files_are_what_they_claim(archive):
    bad = {f.kind: f for f in archive.bad()}
    assert {f.detector for f in bad.values()} == {"C3"}
    assert all("/020521/" in f.path for f in bad.values())
    assert not bad["header_incomplete"].in_img_hdr
    assert bad["truncated"].in_img_hdr and bad["wrong_size"].in_img_hdr
    paths = {kind: os.path.join(archive.root, f.path) for kind, f in bad.items()}

    with open(paths["not_fits"], "rb") as handle:
        assert not handle.read(9).startswith(b"SIMPLE")
        handle.seek(0)
        with pytest.raises(HeaderError, match="not a FITS file"):
            read_header_bytes(handle)

    with open(paths["truncated"], "rb") as handle:
        raw = read_header_bytes(handle)
    header = parse_header(raw)
    check_header(header)
    assert os.path.getsize(paths["truncated"]) < expected_file_size(header, raw)

    with open(paths["header_incomplete"], "rb") as handle:
        raw = read_header_bytes(handle)
    header = parse_header(raw)
    assert "DATE-OBS" not in header and "EXPTIME" not in header and "TIME-OBS" in header
    with pytest.raises(HeaderError, match="DATE-OBS"):
        check_header(header)
    full_data = 2 * 1024 * 1024 + 2368  # zero padded to a multiple of 2880
    assert os.path.getsize(paths["header_incomplete"]) == len(raw) + full_data

    with open(paths["wrong_size"], "rb") as handle:
        raw = read_header_bytes(handle)
    header = parse_header(raw)
    assert (header["NAXIS1"], header["NAXIS2"]) == (1024, 1024)
    assert os.path.getsize(paths["wrong_size"]) == len(raw) + 132480  # 256 x 256 x 2, padded
    assert os.path.getsize(paths["wrong_size"]) < expected_file_size(header, raw)


def test_same_seed_same_bytes(tmp_path):
    kwargs = dict(days=1, frames_per_day=2, detectors=("c3",), binned_per_day=1,
                  subfields_per_day=0, bad_files=True)
    a = write_lasco_archive(tmp_path / "a", seed=3, progress=True, **kwargs)
    b = write_lasco_archive(tmp_path / "b", seed=3, **kwargs)
    c = write_lasco_archive(tmp_path / "c", seed=4, **kwargs)
    assert a.frames == b.frames
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert len(files) == 7  # 2 frames, 4 bad files, img_hdr.txt
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    first = a.good()[0]
    assert _open(a, first)[1].tobytes() != _open(c, c.good()[0])[1].tobytes()


def test_radial_profile_falls_outside_the_occulter(sequence):
    for detector, occulter in (("C2", 2.2), ("C3", 3.7)):
        frame = next(f for f in sequence.good(detector)
                     if not f.has_cme and f.filter == STANDARD_FILTER[detector]
                     and f.polar == "Clear")
        header, data = _open(sequence, frame)
        assert abs(header["CROTA1"]) < 1
        y, x = np.indices(data.shape)
        dx, dy = x - (header["CRPIX1"] - 1), y - (header["CRPIX2"] - 1)
        r = np.hypot(dx, dy)
        rsun_px = 960.0 / PLATESCL[detector]
        away_from_pylon = (dx > 0) | (dy > 0)  # the pylon runs to the lower left
        valid = (data > 0) & away_from_pylon
        # inside the occulter: bias and noise only
        inside = valid & (r < 0.8 * occulter * rsun_px)
        assert np.median(data[inside]) == pytest.approx(header["OFFSET"], abs=3)
        edges = np.arange((occulter + 0.3) * rsun_px, 480, 20)
        medians = [np.median(data[valid & (r >= a) & (r < a + 20)]) for a in edges]
        assert np.all(np.diff(medians) < 0), medians
        assert medians[0] > header["OFFSET"] + 2000  # a bright inner corona
        assert medians[-1] < medians[0] / 5


def test_cme_moves_outward_between_frames(sequence):
    for detector in ("C2", "C3"):
        frames, rates = [], []
        for frame in sequence.good(detector):
            header, data = _open(sequence, frame)
            if (frame.filter, frame.polar) != (STANDARD_FILTER[detector], "Clear") \
                    or abs(header["CROTA1"]) > 1:
                continue
            rate = (data - header["OFFSET"]) / header["EXPTIME"]
            rates.append(np.where(data == 0, np.nan, rate))
            frames.append(frame)
        assert any(f.has_cme for f in frames) and not all(f.has_cme for f in frames)
        quiet = np.nanmin(np.array(rates), axis=0)  # stars drift, the corona stays
        y, x = np.indices(quiet.shape)
        r = np.hypot(x - header["CRPIX1"] + 1, y - header["CRPIX2"] + 1)
        lit = quiet > 5
        radii = []
        for frame, rate in zip(frames, rates, strict=True):
            excess = np.nan_to_num(np.where(lit, rate / np.where(lit, quiet, 1) - 1, 0)) > 0.15
            if frame.has_cme and excess.sum() > 3000:
                radii.append(r[excess].mean())
            else:
                assert excess.sum() < 3000 or frame.has_cme
        assert len(radii) >= 2, detector
        assert np.all(np.diff(radii) > 0), (detector, radii)
