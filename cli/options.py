"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import datetime as dt
import re

import pandas as pd


def storage_options(values: list[str] | None, flag: str = "--storage-option") -> dict:
    """``KEY=VALUE`` pairs to a dict; ``true``/``false`` and numbers are converted. A pair
    without ``=`` or with an empty key is a ``ValueError`` naming ``flag`` (one line for the
    user, not a traceback)."""
    out = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{flag} wants KEY=VALUE, got {item!r}")
        low = value.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
        else:
            try:
                out[key] = int(value)
            except ValueError:
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
    return out


#: An ISO 8601 week date: 2002-W21, 2002W21, 2002-W21-3 (ISO 8601-1:2019, 5.2.4).
_ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{2})(?:-?([1-7]))?$", re.IGNORECASE)


def _iso_week(text: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and the last nanosecond of the ISO week or week day ``text``, or ``None``
    where ``text`` is not one (a week 53 in a year without one is an ``ArgumentTypeError``)."""
    match = _ISO_WEEK.match(text.strip())
    if match is None:
        return None
    year, week, day = int(match[1]), int(match[2]), match[3]
    try:
        first = dt.date.fromisocalendar(year, week, int(day) if day else 1)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} ({err})") from err
    days = 1 if day else 7
    return (pd.Timestamp(first),
            pd.Timestamp(first) + pd.Timedelta(days, "D") - pd.Timedelta(1, "ns"))


def timestamp(text: str) -> pd.Timestamp:
    """An argparse type for times: anything pandas parses (2002-05-21, 2002-05-21T12:00), and
    ISO week dates (2002-W21: its Monday 00:00; 2002-W21-3: that Wednesday)."""
    week = _iso_week(text)
    if week is not None:
        return week[0]
    try:
        return pd.Timestamp(text).as_unit("ns")  # the unit of every time axis here
    except (ValueError, OverflowError) as err:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}{_beyond(text, err)}") from err


def _beyond(text: str, err: BaseException) -> str:
    """What to say of a time a time axis cannot hold (nanoseconds in 64 bits)."""
    if isinstance(err, (OverflowError, pd.errors.OutOfBoundsDatetime)):
        return (f" (outside {pd.Timestamp.min.ceil('D'):%Y-%m-%d} to "
                f"{pd.Timestamp.max:%Y-%m-%d}, the times a time axis holds; leave the option "
                "out for no limit)")
    return ""


def end_timestamp(text: str) -> pd.Timestamp:
    """An argparse type for the end of a closed time range: a day, month or year alone
    (2002-05-21, 2002/05/21, 2002-05, 2002) or an ISO week (2002-W21) means the whole of it,
    i.e. its last nanosecond, so ``--start 2002-05-21 --end 2002-05-21`` selects that day; a
    time (2002-05-21T12:00) is taken as given. (The library's ``end=`` takes an instant as
    given: this is the command line's reading.)"""
    week = _iso_week(text)
    if week is not None:
        return week[1]
    stamp = timestamp(text)
    try:
        period = pd.Period(text.strip())
    except (ValueError, TypeError):
        return stamp
    if period.freqstr.split("-")[0] not in ("D", "M", "Q", "Y"):
        return stamp
    try:
        return (period + 1).start_time - pd.Timedelta(1, "ns")
    except (ValueError, OverflowError):  # begins in range, ends after the last time held
        return pd.Timestamp.max


def add_storage_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-option", metavar="KEY=VALUE", action="append", default=[],
        help="fsspec storage option for the input (repeatable), e.g. anon=false or "
             "profile=myprofile; object stores are anonymous by default",
    )


def add_out_storage_option(parser: argparse.ArgumentParser) -> None:
    """``--out-storage-option``: credentials and options of the output store, apart from the
    input's (a private bucket for the output, a public archive for the input)."""
    parser.add_argument(
        "--out-storage-option", metavar="KEY=VALUE", action="append", default=[],
        help="fsspec storage option for the outputs (repeatable; the input's --storage-option "
             "do not apply to them), e.g. anon=false or profile=writer")


def add_calib_storage_option(parser: argparse.ArgumentParser) -> None:
    """``--calib-storage-option``: options of the calibration store when it is remote."""
    parser.add_argument(
        "--calib-storage-option", metavar="KEY=VALUE", action="append", default=[],
        help="fsspec storage option for the calibration store --calib (repeatable; the "
             "input's --storage-option do not apply to it), e.g. anon=false")


def optional_storage_options(values: list[str] | None, flag: str) -> dict | None:
    """:func:`storage_options` of the values given, ``None`` when none (the store's
    defaults: object stores anonymous)."""
    return storage_options(values, flag) if values else None


def add_time_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=timestamp, help="first time (inclusive); default: "
                        "the start of the archive")
    parser.add_argument("--end", type=end_timestamp, help="last time (inclusive; a date "
                        "alone, 2002-05-21, includes that whole day, a month 2002-05 or an "
                        "ISO week 2002-W21 all of it); default: the end of the archive")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def nonnegative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def positive_interval(text: str) -> str:
    """An argparse type: a time interval pandas reads (30D, 6h, 12min) that is > 0; the text
    is returned as given."""
    try:
        value = pd.Timedelta(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a time interval: {text!r}") from err
    if value <= pd.Timedelta(0):
        raise argparse.ArgumentTypeError(f"must be longer than 0, got {text!r}")
    return text


def check_time_range(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--start`` after ``--end`` is a usage error (it would select nothing, silently)."""
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is None or end is None:
        return
    try:
        first, last = pd.Timestamp(start), pd.Timestamp(end)
    except ValueError:
        return  # the command's own parsing reports it
    if first > last:
        parser.error(f"--start {start} is after --end {end}")

