"""Options shared by several subcommands."""

from __future__ import annotations

import argparse

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


def timestamp(text: str) -> pd.Timestamp:
    """An argparse type for times: anything pandas parses (2002-05-21, 2002-05-21T12:00)."""
    try:
        return pd.Timestamp(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from err


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
    parser.add_argument("--end", type=timestamp, help="last time (inclusive); default: the "
                        "end of the archive")
