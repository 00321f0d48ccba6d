"""LASCO header quirks, checked on the real C3 level-0.5 header (tests/data)."""

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lascoproc.io import lasco_header as lh

DATA = Path(__file__).parents[1] / "data"


def real_header_bytes() -> bytes:
    """The real header (one card per line) as FITS bytes: 80-column cards, END, padded."""
    cards = (DATA / "lasco_c3_l05.header").read_text(encoding="latin-1").splitlines()
    raw = "".join(c.ljust(80) for c in cards) + "END".ljust(80)
    raw += " " * (-len(raw) % 2880)
    return raw.encode("latin-1")


def test_reads_real_header_with_tab_in_history():
    raw = lh.read_header_bytes(io.BytesIO(real_header_bytes() + b"\0" * 2880))
    header = lh.parse_header(raw)
    assert header["HISTORY"][0] == "offset_bias.pro\t1.24 12/13/01, 378.876"
    lh.check_header(header)
    # 81 cards + END = 6560 bytes -> three 2880-byte blocks.
    assert lh.header_size(raw) == 8640
    assert lh.expected_file_size(header, raw) == 8640 + 1024 * 1024 * 2


def test_observation_time_level05_split_date_time():
    header = lh.parse_header(real_header_bytes())
    assert lh.observation_time(header) == np.datetime64("2002-05-21T00:18:06.516")


def test_observation_time_level1_iso():
    header = fits.Header({"DATE-OBS": "2009-02-28T00:05:33.380", "TIME-OBS": ""})
    assert lh.observation_time(header) == np.datetime64("2009-02-28T00:05:33.380")


def test_frame_coordinates_of_real_header():
    coords = lh.frame_coordinates(lh.parse_header(real_header_bytes()))
    assert coords["filename"] == "32088304.fts"
    assert coords["fileorig"] == "020521_001853.img"
    assert coords["detector"] == "C3"
    assert (coords["filter"], coords["polarizer"]) == ("Clear", "Clear")
    assert coords["exptime"] == pytest.approx(19.0996)
    assert coords["offset"] == pytest.approx(378.876)
    assert (coords["mid_date"], coords["mid_time"]) == (52415, pytest.approx(1096.07))
    assert (coords["r1col"], coords["r1row"], coords["r2col"], coords["r2row"]) == (20, 1, 1043,
                                                                                   1024)
    assert coords["crpix1"] == pytest.approx(517.95599)


def test_incomplete_header_names_what_is_missing():
    header = lh.parse_header(real_header_bytes())
    del header["EXPTIME"]
    del header["DATE-OBS"]
    with pytest.raises(lh.HeaderError, match="missing DATE-OBS, EXPTIME"):
        lh.check_header(header)


def test_not_fits_and_truncated_header():
    with pytest.raises(lh.HeaderError, match="not a FITS file"):
        lh.read_header_bytes(io.BytesIO(b"hello world" * 300))
    with pytest.raises(lh.HeaderError, match="no END card"):
        lh.read_header_bytes(io.BytesIO(real_header_bytes()[:1600]))
