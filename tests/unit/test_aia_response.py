"""The AIA response table: pinned by SHA-256, parsed with its epochs as UTC times."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from lascoproc.io.aia_response import (
    V8_SHA256,
    V8_TABLE,
    V10_SHA256,
    V10_TABLE,
    packaged_table_path,
    read_response_table,
)


def test_packaged_v10_table_is_the_pinned_file():
    path = packaged_table_path()
    assert path.name == V10_TABLE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == V10_SHA256
    table = read_response_table()
    assert table.sha256 == V10_SHA256
    assert table.version == 10
    assert table.provenance() == {"response_table": V10_TABLE,
                                  "response_table_sha256": V10_SHA256}


def test_packaged_v8_table_and_version_selection():
    assert packaged_table_path(8).name == V8_TABLE
    for source in (8, "V8", "v8"):
        table = read_response_table(source)
        assert table.sha256 == V8_SHA256 and table.versions == (8,)
    assert len(table.rows) == 88
    assert table.for_version() is table
    with pytest.raises(ValueError, match="no rows of calibration version 10"):
        table.for_version(10)
    with pytest.raises(ValueError, match="no packaged response table of version 9"):
        read_response_table(9)


def test_rows_and_types():
    table = read_response_table()
    rows = table.rows
    assert len(rows) == 86  # 87 lines: a header and 86 rows
    assert rows["T_START"].dtype == np.dtype("datetime64[ns]")
    r94 = table.channel_rows("94_THIN")
    assert len(r94) == 11
    first = r94.iloc[0]
    # the first line of the file: 2010-03-24 .. 2011-01-27T15:00, EFF_AREA 0.29808, P1 0.000636
    assert first["T_START"] == np.datetime64("2010-03-24T00:00:00")
    assert first["T_STOP"] == np.datetime64("2011-01-27T15:00:00")
    assert first["EFF_AREA"] == pytest.approx(0.29808)
    assert first["EFFA_P1"] == pytest.approx(0.000636)
    assert set(table.channel_rows("1600")["WAVELNTH"]) == {1600}
    with pytest.raises(ValueError, match="no rows for '4500_THIN'"):
        table.channel_rows("4500_THIN")


def test_a_changed_table_is_refused_with_the_pinned_hash(tmp_path):
    text = packaged_table_path().read_text()
    cut = text.rindex("0.050000")
    data = (text[:cut] + "0.050001" + text[cut + 8:]).encode()  # one RMSE digit changed
    path = tmp_path / V10_TABLE
    path.write_bytes(data)
    with pytest.raises(ValueError, match="differs from the expected"):
        read_response_table(path, sha256=V10_SHA256)
    # without a hash the file is read and its own hash recorded
    table = read_response_table(path)
    assert table.sha256 == hashlib.sha256(data).hexdigest() != V10_SHA256


def test_malformed_tables_say_what_is_wrong(tmp_path):
    text = packaged_table_path().read_text().splitlines()
    no_column = tmp_path / "no_column.txt"
    no_column.write_text("\n".join(line.replace("EFFA_P1", "EFFA_Q1") for line in text))
    with pytest.raises(ValueError, match="no column"):
        read_response_table(no_column)
    bad_time = tmp_path / "bad_time.txt"
    bad_time.write_text("\n".join([text[0], text[1].replace("2010-03-24T00", "2010-13-24T00")]))
    with pytest.raises(ValueError, match="unreadable time"):
        read_response_table(bad_time)
    with pytest.raises(FileNotFoundError):
        read_response_table(tmp_path / "missing.txt")
