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


# --- the 2023 header, bad cards and header_problems (issue 12 item 2) ----------------------
#
# tests/data/lasco_c3_l05_33785492.header: level-0.5 (quick-look) header of C3 frame
# 33785492.fts, 2023-12-01 00:06, from the Helioviewer-Project/api test data (MPL-1.1), via
# ../shared/data/lasco (README there); one card a line, HISTORY with a TAB.

NOW = np.datetime64("2026-12-01T00:00:00")


def header_bytes(name: str, replace: dict | None = None, extra=()) -> bytes:
    cards = (DATA / name).read_text(encoding="latin-1").splitlines()
    cards = [c for c in cards if c.strip() != "END"]
    for key, card in (replace or {}).items():
        cards = [card if c.startswith(key.ljust(8)) else c for c in cards]
    cards += list(extra)
    raw = "".join(c.ljust(80) for c in cards) + "END".ljust(80)
    raw += " " * (-len(raw) % 2880)
    return raw.encode("latin-1")


def test_2023_header_reads_with_its_history_bias():
    header = lh.parse_header(header_bytes("lasco_c3_l05_33785492.header"))
    assert header.unparsable == ()
    assert lh.header_problems(header, now=NOW) == []
    coords = lh.frame_coordinates(header)
    assert coords["bias_history"] == 418.861
    assert coords["bias_history_version"] == "1.32"
    assert coords["crota1"] == pytest.approx(-7.42291)
    assert lh.observation_time(header) == np.datetime64("2023-12-01T00:06:07.373")


def test_2002_header_history_bias_is_version_124():
    coords = lh.frame_coordinates(lh.parse_header(real_header_bytes()))
    assert (coords["bias_history"], coords["bias_history_version"]) == (378.876, "1.24")
    assert lh.header_problems(lh.parse_header(real_header_bytes()), now=NOW) == []


def test_unquoted_nan_does_not_stop_the_header():
    """IDL writes non-finite floats unquoted; astropy cannot parse such a card. The card is
    left out and reported, the rest of the header is read."""
    raw = header_bytes("lasco_c3_l05_33785492.header",
                       {"DATAP50": "DATAP50 =                  NaN",
                        "FILTER": "FILTER  = 'Clear"})
    header = lh.parse_header(raw)
    assert [k for k, _, _ in header.unparsable] == ["FILTER", "DATAP50"]
    assert "DATAP50" not in header and header["EXPTIME"] == pytest.approx(17.6929)
    coords = lh.frame_coordinates(header)  # must not raise
    assert coords["filter"] == "" and coords["exptime"] == pytest.approx(17.6929)
    problems = lh.header_problems(header, now=NOW)
    codes = [c for c, _ in problems]
    # a keyword calibration needs (FILTER) is reported once, as unparsable, not also missing
    assert codes == ["unparsable_card", "unparsable_card"]
    assert problems[0][1].startswith("FILTER:")
    assert "DATAP50" in problems[1][1] and "NaN" in problems[1][1]
    # a plain astropy header with such a card: the same problem found by reading the values
    plain = fits.Header.fromstring(raw[:lh.header_size(raw)].decode("latin-1"))
    assert ("unparsable_card" in [c for c, _ in lh.header_problems(plain, now=NOW)])


@pytest.mark.parametrize("card, code", [
    ("EXPTIME =                  0.0", "exptime_zero"),
    ("EXPTIME =                 -2.5", "exptime_negative"),
    ("EXPTIME = 'fast'", "exptime_nonfinite"),
    ("DATE-OBS= '1995/11/30'", "date_before_launch"),
    ("DATE-OBS= '2031/01/01'", "date_in_future"),
    ("DATE-OBS= '2023/13/45'", "date_unparsable"),
    ("DATE-OBS= ''", "date_missing"),
    ("INSTRUME= 'EIT     '", "instrument_not_lasco"),
    ("DETECTOR= 'C1      '", "detector_not_c2_c3"),
    ("NAXIS1  =                  512", "size_mismatch_window"),
    ("LEBXSUM =                    2", "size_mismatch_window"),
])
def test_header_problem_codes(card, code):
    header = lh.parse_header(header_bytes("lasco_c3_l05_33785492.header", {card[:8]: card}))
    codes = [c for c, _ in lh.header_problems(header, now=NOW)]
    assert codes == [code]


def test_nan_exposure_time_is_reported_as_such():
    header = lh.parse_header(header_bytes("lasco_c3_l05_33785492.header",
                                          {"EXPTIME": "EXPTIME =                  NaN"}))
    codes = [c for c, _ in lh.header_problems(header, now=NOW)]
    assert codes == ["unparsable_card", "exptime_nonfinite"]


def test_missing_exposure_time_and_a_consistent_binned_window():
    cards = (DATA / "lasco_c3_l05_33785492.header").read_text(encoding="latin-1").splitlines()
    no_exptime = [c for c in cards if not c.startswith("EXPTIME") and c.strip() != "END"]
    raw = "".join(c.ljust(80) for c in no_exptime) + "END".ljust(80)
    raw += " " * (-len(raw) % 2880)
    header = lh.parse_header(raw.encode("latin-1"))
    assert lh.header_problems(header, now=NOW) == [("exptime_missing", "no EXPTIME in the header")]
    # a 2 x 2 LEB-summed full window in 512 x 512 pixels is consistent
    binned = lh.parse_header(header_bytes("lasco_c3_l05_33785492.header", {
        "NAXIS1": "NAXIS1  =                  512", "NAXIS2": "NAXIS2  =                  512",
        "LEBXSUM": "LEBXSUM =                    2", "LEBYSUM": "LEBYSUM =                    2"}))
    assert lh.header_problems(binned, now=NOW) == []
