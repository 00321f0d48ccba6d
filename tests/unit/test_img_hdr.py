"""NRL img_hdr.txt fixed-width lines (reduce_img_hdr.pro format)."""

import numpy as np
import pytest

from lascoproc.io.img_hdr import format_img_hdr_line, parse_img_hdr, parse_img_hdr_line

# The real C3 frame of shared/data/lasco/lasco_c3_l05.header, formatted by hand with the IDL
# format (a12,2x,a12,2x,a8,2x,a3,f8.1,4i7,2x,a6,2x,a6,2x,a8,f11.4,i6).
REAL_LINE = ("32088304.fts    2002/05/21  00:18:06   C3    19.1   1024   1024     20      1"
             "   Clear   Clear    Normal     0.0000  3390")


def test_format_matches_idl_columns():
    line = format_img_hdr_line(
        filename="32088304.fts", date_obs="2002/05/21", time_obs="00:18:06.516",
        detector="C3", exptime=19.0996, naxis1=1024, naxis2=1024, p1col=20, p1row=1,
        filter="Clear", polar="Clear", lp_num="Normal", fp_wl=0.0, os_num=3390,
    )
    assert line == REAL_LINE
    assert len(line) == 120
    # Columns other IDL code reads with strmid: hour at 28, NAXIS1 at 52..55.
    assert line[28:30] == "00" and line[52:56] == "1024"


def test_parse_real_line():
    rec = parse_img_hdr_line(REAL_LINE)
    assert rec.filename == "32088304.fts"
    assert rec.time == np.datetime64("2002-05-21T00:18:06", "ms")
    assert rec.detector == "C3"
    assert rec.exptime == pytest.approx(19.1)
    assert (rec.naxis1, rec.naxis2, rec.p1col, rec.p1row) == (1024, 1024, 20, 1)
    assert (rec.filter, rec.polar, rec.lp_num, rec.os_num) == ("Clear", "Clear", "Normal", 3390)


def test_long_strings_are_truncated_like_idl():
    line = format_img_hdr_line(
        filename="22012345.fts", date_obs="1998/01/02", time_obs="12:00:00",
        detector="C2", exptime=25.1, naxis1=512, naxis2=512, p1col=20, p1row=1,
        filter="Deep Red", polar="+60 deg", lp_num="Normal",
    )
    rec = parse_img_hdr_line(line)
    assert rec.filter == "Deep R"  # a6
    assert rec.polar == "+60 de"
    assert rec.naxis1 == 512


def test_bad_lines_are_reported_not_fatal():
    text = "\n".join([REAL_LINE, "garbage", "", REAL_LINE.replace("2002/05/21", "2002/13/45")])
    good, bad = parse_img_hdr(text)
    assert len(good) == 1
    assert [n for n, _ in bad] == [2, 4]
    assert "too short" in bad[0][1]
    assert "bad date" in bad[1][1]
