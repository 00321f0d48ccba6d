"""The SDOML frame index: keywords cut out of .zattrs, cache, rebuild on change, no attributes."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import zarr

from lascoproc.io import sdoml_index
from lascoproc.io.sdoml import open_sdoml
from lascoproc.io.sdoml_index import (
    array_identity,
    extract_lists,
    index_location,
    load_array_index,
    open_array,
    read_array_index,
)
from lascoproc.testing.sdoml import write_sdoml_store

EUV = (94, 171, 304)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test its own cache directory."""
    monkeypatch.setenv("LASCOPROC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def store(tmp_path):
    return write_sdoml_store(tmp_path / "sdoml.zarr", start="2011-01-01", end="2011-12-31",
                             cadence="14D", size=16, chunks=4, channels=EUV, seed=5)


def test_extract_lists_cuts_the_keywords_out():
    doc = {"HISTORY": ['a "T_OBS": [1] inside a string', "x"], "T_OBS": ["2011-01-01T00:00Z",
           "2011-01-02T00:00Z"], "EXPTIME": [2.5, float("nan")], "QUALITY": [0, 1024]}
    data = json.dumps(doc, indent=4).encode()
    out = extract_lists(data, ("T_OBS", "EXPTIME", "QUALITY", "DEG_COR"), 2)
    assert out["T_OBS"] == ["2011-01-01T00:00Z", "2011-01-02T00:00Z"]
    assert out["EXPTIME"][0] == 2.5 and np.isnan(out["EXPTIME"][1])
    assert out["QUALITY"] == [0, 1024]
    assert out["DEG_COR"] is None  # absent


def test_extract_lists_falls_back_to_the_whole_document():
    # the key twice (a nested object holds it too): the whole document is parsed
    data = json.dumps({"META": {"T_OBS": "nested"}, "T_OBS": ["a", "b", "c"]}).encode()
    assert extract_lists(data, ("T_OBS",), 3)["T_OBS"] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="2 values for 3 frames"):
        extract_lists(json.dumps({"T_OBS": ["a", "b"]}).encode(), ("T_OBS",), 3)
    with pytest.raises(ValueError, match="not JSON"):
        extract_lists(b'{"T_OBS": ["a", "b", "c"], "T_OBS": [', ("T_OBS",), 3)


def test_index_values_equal_the_attributes(store):
    index = load_array_index(store.url, "2011/171A")
    attrs = zarr.open_array(f"{store.url}/2011/171A", mode="r", zarr_format=2).attrs
    assert index.n_frames == len(attrs["T_OBS"])
    np.testing.assert_array_equal(index.exptime, attrs["EXPTIME"])
    np.testing.assert_array_equal(index.deg_cor, attrs["DEG_COR"])
    np.testing.assert_array_equal(index.quality, attrs["QUALITY"])
    np.testing.assert_array_equal(index.wavelnth, 171.0)
    # storage order and chunk: chunks of 4 frames
    assert index.chunk.tolist()[:6] == [0, 0, 0, 0, 1, 1]
    first = attrs["T_OBS"][0]  # e.g. "2011-03-12T00:00:09.12Z"
    assert str(index.t_obs[0])[:22] == first[:22]


def test_second_open_reads_the_index_not_the_attributes(store, cache, monkeypatch):
    first = open_sdoml(store.url, channels=EUV)
    assert any(cache.rglob("zarr.json"))

    def refuse(*args, **kwargs):
        raise AssertionError("the attributes were parsed again")

    monkeypatch.setattr(sdoml_index, "build_array_index", refuse)
    second = open_sdoml(store.url, channels=EUV)
    np.testing.assert_array_equal(first["time"].values, second["time"].values)
    np.testing.assert_array_equal(first["deg_cor"].values, second["deg_cor"].values)
    np.testing.assert_array_equal(first["intensity"].values, second["intensity"].values)


def test_a_changed_array_rebuilds_its_index(store):
    before = load_array_index(store.url, "2011/94A")
    array = zarr.open_array(f"{store.url}/2011/94A", mode="r+", zarr_format=2)
    attrs = array.attrs.asdict()
    attrs["DEG_COR"] = [2.0] * len(attrs["DEG_COR"])
    array.attrs.put(attrs)
    after = load_array_index(store.url, "2011/94A")
    assert after.identity != before.identity
    np.testing.assert_array_equal(after.deg_cor, 2.0)
    location = index_location(store.url)
    assert read_array_index(location, "2011/94A", before.identity) is None


def test_user_path_index_and_no_index(store, tmp_path, cache):
    where = tmp_path / "my_index"
    identity, _ = array_identity(store.url, "2011/304A")
    load_array_index(store.url, "2011/304A", index=str(where))
    assert read_array_index(str(where), "2011/304A", identity) is not None
    assert not cache.exists()
    load_array_index(store.url, "2011/304A", index=False)
    assert not cache.exists()


def test_unwritable_cache_warns_and_still_opens(store, tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "file_not_dir"
    blocked.write_text("x")
    monkeypatch.setenv("LASCOPROC_CACHE_DIR", str(blocked))
    index = load_array_index(store.url, "2011/171A")
    assert index.n_frames > 0
    assert "could not be saved" in caplog.text


def test_arrays_are_opened_without_attributes_and_tasks_stay_small(store):
    index = load_array_index(store.url, "2011/171A")
    array = open_array(store.url, index)
    assert dict(array.attrs) == {}
    assert len(pickle.dumps(array)) < 4000
    ds = open_sdoml(store.url, channels=EUV)
    graph = dict(ds["intensity"].data.__dask_graph__())
    per_task = len(pickle.dumps(graph)) / len(graph)
    assert per_task < 3000, per_task  # no attribute list travels with the tasks


def test_a_store_without_t_obs_is_refused(tmp_path):
    group = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w", zarr_format=2)
    array = group.require_group("2011").create_array("171A", shape=(2, 8, 8), chunks=(1, 8, 8),
                                                     dtype="float32")
    array.attrs.put({"EXPTIME": [1.0, 1.0]})
    with pytest.raises(ValueError, match="no T_OBS"):
        load_array_index(str(tmp_path / "bad.zarr"), "2011/171A")
    with pytest.raises(ValueError, match="no SDOML array"):
        load_array_index(str(tmp_path / "bad.zarr"), "2011/94A")
