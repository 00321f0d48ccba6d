"""lascoproc.io.zarr_direct: shards and chunks written frame by frame are the bytes zarr-python
writes, on the level-1 store's codecs, a last partial shard and NaN frames; layouts it does
not reproduce are refused (the caller then writes with zarr-python)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from lascoproc.io import zarr_direct as zd
from lascoproc.io.fs import get_fs
from lascoproc.io.zarr_store import write_region, write_template
from tests.conftest import chunk_files

NAMES = ("brightness", "quality", "nmissing", "frame_status")


def _cube(n: int, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(n, 40, 24)).astype(np.float32)
    q = rng.integers(0, 4, size=(n, 40, 24)).astype(np.uint8)
    if n > 7:
        b[3] = np.nan  # a frame that was not calibrated: all NaN (the fill value)
        b[5, :10] = np.nan
        q[7] = 0  # all fill value
    return xr.Dataset({"brightness": (("time", "y", "x"), b),
                       "quality": (("time", "y", "x"), q),
                       "nmissing": ("time", rng.integers(0, 30, n).astype(np.int16)),
                       "frame_status": ("time", rng.integers(0, 3, n).astype(np.uint8))},
                      coords={"time": np.arange(n)})


@pytest.mark.parametrize("region", [32, 8])
def test_same_bytes_as_zarr_python(tmp_path, region):
    n = 70  # the last region is partial (6 frames of 32, or 6 of 8)
    ds = _cube(n)
    stock, direct = tmp_path / "stock.zarr", tmp_path / "direct.zarr"
    for store in (stock, direct):
        write_template(ds, str(store), region_frames=region)
    layouts = zd.array_layouts(str(direct), NAMES)
    assert layouts is not None
    fs, root = get_fs(str(direct))
    for start in range(0, n, region):
        rng = slice(start, min(start + region, n))
        write_region(ds.isel(time=rng).chunk(), str(stock), rng).compute()
        for name in ("brightness", "quality"):
            shard = zd.ShardWriter(fs, root, layouts[name], start // region)
            for k in range(rng.start, rng.stop):
                shard.append(ds[name].values[k:k + 1])
            shard.close()
        for name in ("nmissing", "frame_status"):
            zd.write_chunk(fs, root, layouts[name], start // region, ds[name].values[rng])
    a, b = chunk_files(stock, NAMES), chunk_files(direct, NAMES)
    assert len(a) == 4 * -(-n // region)
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a)
    back = xr.open_zarr(direct)
    for name in NAMES:
        np.testing.assert_array_equal(back[name].values, ds[name].values)


def test_shard_index_layout_written_out(tmp_path):
    """The index at the end of a shard, by hand: per inner chunk (offset, length) uint64
    little-endian, then the CRC-32C of those bytes; chunks past the array's end are 2**64-1."""
    import google_crc32c

    ds = _cube(6)
    store = tmp_path / "s.zarr"
    write_template(ds, str(store), region_frames=4)  # shard 1 holds frames 4 and 5 of 4
    layout = zd.array_layouts(str(store), ["quality"])["quality"]
    fs, root = get_fs(str(store))
    shard = zd.ShardWriter(fs, root, layout, 1)
    for k in (4, 5):
        shard.append(ds["quality"].values[k:k + 1])
    shard.close()
    raw = (store / "quality" / "c" / "1" / "0" / "0").read_bytes()
    index = np.frombuffer(raw[-4 - 4 * 16:-4], "<u8").reshape(4, 2)
    assert raw[-4:] == np.array([google_crc32c.value(raw[-4 - 64:-4])], "<u4").tobytes()
    assert index[0, 0] == 0 and index[1, 0] == index[0, 1]
    assert index[1, 0] + index[1, 1] == len(raw) - 68
    assert index[2:].tolist() == [[2**64 - 1] * 2] * 2
    back = xr.open_zarr(store)["quality"][4:6].values
    np.testing.assert_array_equal(back, ds["quality"].values[4:6])


def test_refuses_layouts_it_does_not_reproduce(tmp_path):
    ds = _cube(4)
    v3 = tmp_path / "v3.zarr"
    write_template(ds, str(v3), region_frames=4)
    meta = json.loads((v3 / "brightness" / "zarr.json").read_text())
    assert zd.layout_from_metadata("brightness", meta) is not None
    gzip = json.loads(json.dumps(meta))
    gzip["codecs"][0]["configuration"]["codecs"][1] = {"name": "gzip",
                                                       "configuration": {"level": 1}}
    start = json.loads(json.dumps(meta))
    start["codecs"][0]["configuration"]["index_location"] = "start"
    v2keys = json.loads(json.dumps(meta))
    v2keys["chunk_key_encoding"] = {"name": "v2", "configuration": {"separator": "."}}
    spatial = json.loads(json.dumps(meta))
    spatial["codecs"][0]["configuration"]["chunk_shape"] = [1, 20, 24]
    for bad in (gzip, start, v2keys, spatial):
        assert zd.layout_from_metadata("brightness", bad) is None
    v2 = tmp_path / "v2.zarr"
    write_template(ds, str(v2), region_frames=4, zarr_format=2)
    assert zd.array_layouts(str(v2), ["brightness"]) is None


def test_shard_writer_checks_what_it_is_given(tmp_path):
    ds = _cube(4)
    store = tmp_path / "s.zarr"
    write_template(ds, str(store), region_frames=4)
    layouts = zd.array_layouts(str(store), NAMES)
    fs, root = get_fs(str(store))
    shard = zd.ShardWriter(fs, root, layouts["brightness"], 0)
    with pytest.raises(ValueError, match="shape"):
        shard.append(ds["brightness"].values[:2])
    shard.append(ds["brightness"].values[:1])
    with pytest.raises(ValueError, match="1 of 4"):
        shard.close()  # nothing is stored from an incomplete shard, nothing is left
    assert [p.name for p in (store / "brightness").rglob("*") if p.is_file()] == ["zarr.json"]
    with pytest.raises(ValueError, match="no shard"):
        zd.ShardWriter(fs, root, layouts["brightness"], 1)
    with pytest.raises(ValueError, match="sharded"):
        zd.write_chunk(fs, root, layouts["brightness"], 0, ds["brightness"].values)


def test_commit_leaves_no_partial_file(tmp_path, monkeypatch):
    """A write that fails on a local disk leaves neither the object nor its temporary file."""
    ds = _cube(2)
    store = tmp_path / "s.zarr"
    write_template(ds, str(store), region_frames=2)
    layouts = zd.array_layouts(str(store), NAMES)
    fs, root = get_fs(str(store))

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(zd.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        zd.write_chunk(fs, root, layouts["nmissing"], 0, ds["nmissing"].values)
    assert not list((store / "nmissing").glob("c/**/*"))


def test_object_store_path(tmp_path):
    """On a non-local fsspec file system the shard is put as one object: same bytes."""
    import fsspec

    ds = _cube(5)
    local = tmp_path / "l.zarr"
    write_template(ds, str(local), region_frames=8)
    mem = fsspec.filesystem("memory")
    mem.put(str(local), "/m.zarr", recursive=True)
    layout = zd.array_layouts("memory://m.zarr", ["brightness"])["brightness"]
    fs, root = get_fs("memory://m.zarr")
    lfs, lroot = get_fs(str(local))
    for f, r in ((fs, root), (lfs, lroot)):
        shard = zd.ShardWriter(f, r, layout, 0)
        for k in range(5):
            shard.append(ds["brightness"].values[k:k + 1])
        shard.close()
    assert mem.cat_file(f"{root}/brightness/c/0/0/0") == \
        (local / "brightness" / "c" / "0" / "0" / "0").read_bytes()


def test_aborted_shard_leaves_nothing_and_next_writer_replaces_a_stale_part(tmp_path):
    """A shard given up midway (a read failed) leaves no file; a temporary file left by a
    killed writer is replaced by the next writer of the shard."""
    ds = _cube(4)
    store = tmp_path / "s.zarr"
    write_template(ds, str(store), region_frames=4)
    layout = zd.array_layouts(str(store), ["brightness"])["brightness"]
    fs, root = get_fs(str(store))
    shard = zd.ShardWriter(fs, root, layout, 0)
    shard.append(ds["brightness"].values[:1])
    part = store / "brightness" / "c" / "0" / "0" / ".0.part"
    assert part.exists()  # the encoded frame went to the temporary file
    shard.abort()
    assert not part.exists() and not (store / "brightness" / "c" / "0" / "0" / "0").exists()
    part.write_bytes(b"left by a killed writer")
    shard = zd.ShardWriter(fs, root, layout, 0)
    for k in range(4):
        shard.append(ds["brightness"].values[k:k + 1])
    shard.close()
    assert not part.exists()
    np.testing.assert_array_equal(xr.open_zarr(store)["brightness"].values,
                                  ds["brightness"].values)
