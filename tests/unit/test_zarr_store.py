"""Resumable, idempotent Zarr writes: template first, then regions."""

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

from lascoproc.io.zarr_store import DONE_VAR, StoreMismatchError, write_zarr
from tests.conftest import raise_if_dask_computes


def cube(n=10, ny=16, nx=12, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 16383, size=(n, ny, nx), dtype=np.uint16)
    times = np.datetime64("2002-05-21T00:00", "ns") + np.arange(n) * np.timedelta64(20, "m")
    return xr.Dataset(
        {
            "counts": (("time", "y", "x"), da.from_array(values, chunks=(1, ny, nx))),
            "status": ("time", da.from_array(np.arange(n, dtype=np.uint8), chunks=1)),
        },
        coords={
            "time": times,
            "filter": ("time", np.array((["Clear", "Orange"] * n)[:n], dtype=object)),
            "exptime": ("time", np.linspace(10, 20, n)),
        },
        attrs={"title": "test", "rejected": ["a.fts: truncated"]},
    ), values


def open_plain(path):
    return xr.open_zarr(path)  # warnings are errors in this suite: must open cleanly


def test_roundtrip_format3_plain_open(tmp_path):
    ds, values = cube()
    report = write_zarr(ds, str(tmp_path / "c.zarr"), region_frames=4)
    assert (report.frames, report.regions, report.regions_written) == (10, 3, 3)
    out = open_plain(tmp_path / "c.zarr")
    np.testing.assert_array_equal(out["counts"].values, values)
    np.testing.assert_array_equal(out["status"].values, np.arange(10))
    assert list(out["filter"].values) == ["Clear", "Orange"] * 5
    assert out[DONE_VAR].values.tolist() == [1] * 10
    assert out.attrs["rejected"] == ["a.fts: truncated"]
    assert out["counts"].encoding["chunks"] == (1, 16, 12)
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    assert group.metadata.zarr_format == 3
    assert group["counts"].compressors[0].to_dict()["configuration"]["level"] == 1


def test_format2(tmp_path):
    ds, values = cube()
    write_zarr(ds, str(tmp_path / "c2.zarr"), region_frames=5, zarr_format=2)
    assert zarr.open_group(str(tmp_path / "c2.zarr"), mode="r").metadata.zarr_format == 2
    np.testing.assert_array_equal(open_plain(tmp_path / "c2.zarr")["counts"].values, values)


def test_existing_store_is_never_clobbered_by_accident(tmp_path):
    ds, _ = cube()
    path = str(tmp_path / "c.zarr")
    write_zarr(ds, path, region_frames=4)
    with pytest.raises(FileExistsError, match="resume=True"):
        write_zarr(ds, path, region_frames=4)
    again = write_zarr(ds, path, region_frames=4, overwrite=True)
    assert again.regions_written == 3


def test_killed_write_resumes_to_identical_store(tmp_path):
    ds, values = cube(n=11)
    full = str(tmp_path / "full.zarr")
    write_zarr(ds, full, region_frames=3)

    class Killed(Exception):
        pass

    def die_after_second(i, region):
        if i == 1:
            raise Killed

    part = str(tmp_path / "part.zarr")
    with pytest.raises(Killed):
        write_zarr(ds, part, region_frames=3, on_region=die_after_second)
    half = open_plain(part)
    assert half[DONE_VAR].values.tolist() == [1] * 6 + [0] * 5
    report = write_zarr(ds, part, region_frames=3, resume=True)
    assert (report.regions_skipped, report.regions_written) == (2, 2)
    xr.testing.assert_identical(open_plain(part).load(), open_plain(full).load())


def test_resume_rewrites_a_region_whose_mark_is_missing(tmp_path):
    """A region written but not marked (killed between data and mark) is rewritten."""
    ds, values = cube(n=6)
    path = str(tmp_path / "c.zarr")
    write_zarr(ds, path, region_frames=3)
    zarr.open_array(f"{path}/{DONE_VAR}", mode="r+")[3:6] = 0
    zarr.open_array(f"{path}/counts", mode="r+")[4] = 0  # torn write
    report = write_zarr(ds, path, region_frames=3, resume=True)
    assert report.regions_written == 1
    np.testing.assert_array_equal(open_plain(path)["counts"].values, values)


def test_resume_refuses_other_template(tmp_path):
    ds, _ = cube(n=6)
    path = str(tmp_path / "c.zarr")
    write_zarr(ds, path, region_frames=3)
    other, _ = cube(n=8)
    with pytest.raises(StoreMismatchError):
        write_zarr(other, path, region_frames=3, resume=True)
    with pytest.raises(StoreMismatchError):
        write_zarr(ds, path, region_frames=2, resume=True)


def test_template_write_computes_nothing(tmp_path):
    """The template phase reads no pixels: all computes happen in the region phase."""
    ds, _ = cube(n=4)
    with raise_if_dask_computes(max_computes=2 * 2) as counter:  # data + mark per region
        write_zarr(ds, str(tmp_path / "c.zarr"), region_frames=2,
                   compute_kwargs={})
    assert counter.total_computes == 2


def test_chunks_must_divide_regions(tmp_path):
    ds, _ = cube(n=8)
    ds = ds.chunk({"time": 3})
    with pytest.raises(ValueError, match="must divide"):
        write_zarr(ds, str(tmp_path / "c.zarr"), region_frames=4)


def test_float_images_use_blosc_lz4_integers_zstd(tmp_path):
    ds, _ = cube(n=4)
    ds["brightness"] = ds["counts"].astype(np.float32) * np.float32(1e-11)
    write_zarr(ds, str(tmp_path / "c.zarr"), region_frames=2)
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    blosc = group["brightness"].compressors[0].to_dict()["configuration"]
    assert (blosc["cname"], blosc["shuffle"]) == ("lz4", "shuffle")
    assert group["counts"].compressors[0].to_dict()["name"] == "zstd"
    np.testing.assert_array_equal(xr.open_zarr(tmp_path / "c.zarr")["brightness"].values,
                                  ds["brightness"].values)
