"""The command line's reading of times (``--start``/``--end``): ISO week dates and times a
time axis cannot hold (written-out values)."""

import argparse

import pandas as pd
import pytest

from lascoproc_cli.options import end_timestamp, timestamp


def test_iso_week_dates():
    """ISO 8601 week dates: 2002-W21 runs Monday 2002-05-20 to Sunday 2002-05-26 (checked on a
    calendar); a week day is that day; 2004 has a week 53, 2003 has none."""
    assert timestamp("2002-W21") == pd.Timestamp("2002-05-20")
    assert end_timestamp("2002-W21") == pd.Timestamp("2002-05-26T23:59:59.999999999")
    assert timestamp("2002w21") == pd.Timestamp("2002-05-20")
    assert timestamp("2002-W21-3") == pd.Timestamp("2002-05-22")
    assert end_timestamp("2002-W21-3") == pd.Timestamp("2002-05-22T23:59:59.999999999")
    assert timestamp("2004-W53") == pd.Timestamp("2004-12-27")
    assert timestamp("2002-W01") == pd.Timestamp("2001-12-31")  # week 1 holds 4 January
    with pytest.raises(argparse.ArgumentTypeError, match="2003-W53"):
        timestamp("2003-W53")


def test_times_beyond_the_time_axis_are_one_clear_error():
    """A time axis holds nanoseconds in 64 bits (1677-09-22 to 2262-04-11): a time outside is
    refused with that range named; a period that begins inside and ends after it (``--end
    2262``) runs to its last nanosecond."""
    for text in ("9999", "2263-01-01", "1677"):
        with pytest.raises(argparse.ArgumentTypeError, match="1677-09-22 to 2262-04-11"):
            end_timestamp(text)
        with pytest.raises(argparse.ArgumentTypeError, match="1677-09-22 to 2262-04-11"):
            timestamp(text)
    assert end_timestamp("2262") == pd.Timestamp("2262-04-11T23:47:16.854775807")
    assert timestamp("2262") == pd.Timestamp("2262-01-01")
    with pytest.raises(argparse.ArgumentTypeError, match="not a time: 'soon'$"):
        timestamp("soon")
