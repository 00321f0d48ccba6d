"""Resumable, idempotent Zarr writes: the io primitives and the region scheduler."""

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

from lascoproc.io.zarr_store import (
    DONE_VAR,
    RUN_VAR,
    Lease,
    StoreLockedError,
    StoreMismatchError,
    acquire_lease,
    open_store,
)
from lascoproc.pipeline.progress import RunProgress, RunSummary, summarize_run
from lascoproc.pipeline.regions import time_ranges, write_cube, write_dataset
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


def opener(values, times, opened):
    """``open_range`` of the test cube: a new dask graph of the range's frames only."""

    def open_range(rng):
        opened.append((rng.start, rng.stop))
        whole, _ = cube(n=len(values))
        part = whole.drop_vars(["counts", "status"]).isel(time=rng)  # coordinates only
        return part.assign(
            counts=(("time", "y", "x"), da.from_array(values[rng], chunks=(1, -1, -1))),
            status=("time", da.from_array(np.arange(len(values), dtype=np.uint8)[rng],
                                          chunks=1)),
        ).assign_coords(time=times[rng])

    return open_range


def open_plain(path):
    return xr.open_zarr(path)  # warnings are errors in this suite: must open cleanly


def test_roundtrip_format3_sharded_plain_open(tmp_path):
    ds, values = cube()
    report = write_dataset(ds, str(tmp_path / "c.zarr"), region_frames=4)
    assert (report.frames, report.regions, report.regions_written) == (10, 3, 3)
    assert report.complete and report.run_id
    out = open_plain(tmp_path / "c.zarr")
    np.testing.assert_array_equal(out["counts"].values, values)
    np.testing.assert_array_equal(out["status"].values, np.arange(10))
    assert list(out["filter"].values) == ["Clear", "Orange"] * 5
    assert out[DONE_VAR].values.tolist() == [1] * 10
    assert set(out[RUN_VAR].values) == {report.run_id}
    assert out.attrs["rejected"] == ["a.fts: truncated"]
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    assert group.metadata.zarr_format == 3
    # one frame per inner chunk, one region per shard; per-frame values one chunk per region
    assert group["counts"].chunks == (1, 16, 12) and group["counts"].shards == (4, 16, 12)
    assert group["status"].chunks == (4,)
    assert group["counts"].compressors[0].to_dict()["configuration"]["level"] == 1


def test_store_objects_one_per_shard(tmp_path):
    ds, _ = cube(n=64, ny=8, nx=8)
    write_dataset(ds, str(tmp_path / "c.zarr"), region_frames=16)
    shards = sorted(p.name for p in (tmp_path / "c.zarr" / "counts" / "c").rglob("*")
                    if p.is_file())
    assert len(shards) == 4  # 64 frames / 16 per shard, not 64 objects


def test_reading_one_frame_reads_only_its_inner_chunk(tmp_path):
    ds, values = cube(n=32, ny=64, nx=64)
    path = str(tmp_path / "c.zarr")
    write_dataset(ds, path, region_frames=32)
    store = zarr.storage.LocalStore(path)
    reads = []

    class Counting(zarr.storage.WrapperStore):
        async def get(self, key, prototype, byte_range=None):
            out = await super().get(key, prototype, byte_range)
            if key.startswith("counts/c"):
                reads.append(len(out) if out is not None else 0)
            return out

    group = zarr.open_group(Counting(store), mode="r")
    np.testing.assert_array_equal(group["counts"][7], values[7])
    shard = (tmp_path / "c.zarr" / "counts" / "c" / "0" / "0" / "0").stat().st_size
    assert sum(reads) < shard / 8  # the index and one chunk, not the shard


def test_format2_unsharded(tmp_path):
    ds, values = cube()
    write_dataset(ds, str(tmp_path / "c2.zarr"), region_frames=5, zarr_format=2)
    assert zarr.open_group(str(tmp_path / "c2.zarr"), mode="r").metadata.zarr_format == 2
    np.testing.assert_array_equal(open_plain(tmp_path / "c2.zarr")["counts"].values, values)


def test_existing_store_is_never_clobbered_by_accident(tmp_path):
    ds, _ = cube()
    path = str(tmp_path / "c.zarr")
    write_dataset(ds, path, region_frames=4)
    with pytest.raises(FileExistsError, match="resume"):
        write_dataset(ds, path, region_frames=4)
    again = write_dataset(ds, path, region_frames=4, overwrite=True)
    assert again.regions_written == 3


def test_killed_write_resumes_to_identical_store(tmp_path):
    ds, values = cube(n=11)
    full = str(tmp_path / "full.zarr")
    write_dataset(ds, full, region_frames=3)

    class Killed(Exception):
        pass

    def die_after_second(i, region):
        if i == 1:
            raise Killed

    part = str(tmp_path / "part.zarr")
    with pytest.raises(Killed):
        write_dataset(ds, part, region_frames=3, on_region=die_after_second)
    half = open_plain(part)
    assert half[DONE_VAR].values.tolist() == [1] * 6 + [0] * 5
    report = write_dataset(ds, part, region_frames=3, resume=True)
    assert (report.regions_skipped, report.regions_written) == (2, 2)
    a, b = open_plain(part).load(), open_plain(full).load()
    xr.testing.assert_identical(a.drop_vars(RUN_VAR), b.drop_vars(RUN_VAR))
    # each region's mark names the run that wrote it
    assert len(set(a[RUN_VAR].values[:6])) == 1 and a[RUN_VAR].values[0] != report.run_id
    assert set(a[RUN_VAR].values[6:]) == {report.run_id}


def test_resume_rewrites_a_region_whose_mark_is_missing(tmp_path):
    """A region written but not marked (killed between data and mark) is rewritten."""
    ds, values = cube(n=6)
    path = str(tmp_path / "c.zarr")
    write_dataset(ds, path, region_frames=3)
    zarr.open_array(f"{path}/{DONE_VAR}", mode="r+")[3:6] = 0
    zarr.open_array(f"{path}/counts", mode="r+")[4] = 0  # torn write
    report = write_dataset(ds, path, region_frames=3, resume=True)
    assert report.regions_written == 1
    np.testing.assert_array_equal(open_plain(path)["counts"].values, values)


def test_resume_refuses_another_template_or_definition(tmp_path):
    ds, _ = cube(n=6)
    path = str(tmp_path / "c.zarr")
    write_dataset(ds, path, region_frames=3, definition={"inpaint": "none", "calib": "abc"})
    other, _ = cube(n=8)
    with pytest.raises(StoreMismatchError, match="frames"):
        write_dataset(other, path, region_frames=3, resume=True,
                      definition={"inpaint": "none", "calib": "abc"})
    with pytest.raises(StoreMismatchError, match="region_frames"):
        write_dataset(ds, path, region_frames=2, resume=True,
                      definition={"inpaint": "none", "calib": "abc"})
    with pytest.raises(StoreMismatchError,
                       match="inpaint: store 'none', now 'network'.*overwrite"):
        write_dataset(ds, path, region_frames=3, resume=True,
                      definition={"inpaint": "network", "calib": "abc"})
    report = write_dataset(ds, path, region_frames=3, resume=True,
                           definition={"calib": "abc", "inpaint": "none"})
    assert report.regions_skipped == 2


def test_template_write_computes_nothing(tmp_path):
    """The template phase reads no pixels: all computes happen in the region phase."""
    ds, _ = cube(n=4)
    with raise_if_dask_computes(max_computes=2) as counter:  # one data write per region
        write_dataset(ds, str(tmp_path / "c.zarr"), region_frames=2)
    assert counter.total_computes == 2


def test_float_images_use_blosc_lz4_integers_zstd(tmp_path):
    ds, _ = cube(n=4)
    ds["brightness"] = ds["counts"].astype(np.float32) * np.float32(1e-11)
    write_dataset(ds, str(tmp_path / "c.zarr"), region_frames=2)
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    blosc = group["brightness"].compressors[0].to_dict()["configuration"]
    assert (blosc["cname"], blosc["shuffle"]) == ("lz4", "shuffle")
    assert group["counts"].compressors[0].to_dict()["name"] == "zstd"
    np.testing.assert_array_equal(xr.open_zarr(tmp_path / "c.zarr")["brightness"].values,
                                  ds["brightness"].values)


# -- time ranges ----------------------------------------------------------------------------

def test_time_ranges_are_whole_regions():
    assert time_ranges(10, range_frames=4, region_frames=3) == [slice(0, 6), slice(6, 10)]
    assert time_ranges(8, range_frames=4, region_frames=2) == [slice(0, 4), slice(4, 8)]
    assert time_ranges(3, range_frames=100, region_frames=16) == [slice(0, 3)]
    with pytest.raises(ValueError):
        time_ranges(3, range_frames=0, region_frames=16)


def test_ranged_store_identical_to_single_cube(tmp_path):
    ds, values = cube(n=11)
    whole = str(tmp_path / "whole.zarr")
    write_dataset(ds, whole, region_frames=2)
    opened = []
    ranged = str(tmp_path / "ranged.zarr")
    report = write_cube(ranged, ds, opener(values, ds["time"].values, opened),
                        region_frames=2, range_frames=4)
    assert opened == [(0, 4), (4, 8), (8, 11)] and report.ranges == 3
    a, b = open_plain(whole).load(), open_plain(ranged).load()
    xr.testing.assert_identical(a.drop_vars(RUN_VAR), b.drop_vars(RUN_VAR))


def test_resume_skips_ranges_already_written(tmp_path):
    ds, values = cube(n=11)
    part = str(tmp_path / "part.zarr")

    class Killed(Exception):
        pass

    def die(i, region):
        if i == 2:  # the first region of the second range
            raise Killed

    with pytest.raises(Killed):
        write_cube(part, ds, opener(values, ds["time"].values, []), region_frames=2,
                   range_frames=4, on_region=die)
    opened = []
    report = write_cube(part, ds, opener(values, ds["time"].values, opened), region_frames=2,
                        range_frames=4, resume=True)
    assert opened == [(4, 8), (8, 11)]  # the complete first range is never opened
    assert (report.ranges_skipped, report.regions_skipped, report.regions_written) == (1, 3, 3)
    np.testing.assert_array_equal(open_plain(part)["counts"].values, values)


def test_range_that_does_not_hold_the_template_frames_is_refused(tmp_path):
    ds, values = cube(n=8)

    def shifted(rng):
        return ds.isel(time=slice(rng.start + 1, rng.stop + 1))

    with pytest.raises(ValueError, match="does not hold the template's frames"):
        write_cube(str(tmp_path / "a.zarr"), ds, shifted, region_frames=2, range_frames=4)

    def wrong_dtype(rng):
        return ds.isel(time=rng).assign(counts=ds["counts"].isel(time=rng).astype(np.int32))

    with pytest.raises(ValueError, match="'counts' is"):
        write_cube(str(tmp_path / "b.zarr"), ds, wrong_dtype, region_frames=2, range_frames=4)


def test_progress_follows_ranges_and_summary_counts_them(tmp_path):
    ds, values = cube(n=11)
    progress = RunProgress(disable=True)
    report = write_cube(str(tmp_path / "a.zarr"), ds, opener(values, ds["time"].values, []),
                        region_frames=2, range_frames=4, progress=progress)
    assert (progress.ranges_opened, progress.ranges_total) == (3, 3)
    assert progress.frames_done == progress.total_frames == 11
    summary = summarize_run(report, progress=progress)
    assert isinstance(summary, RunSummary)
    assert "3 time ranges, 0 already complete" in summary.format()


# -- failures and the writer lease ----------------------------------------------------------

def test_an_io_failure_leaves_its_region_for_resume_and_the_run_goes_on(tmp_path):
    ds, values = cube(n=8)
    calls = {"n": 0}

    def flaky(block):
        calls["n"] += 1
        if block.ravel()[0] == values[2].ravel()[0]:
            raise OSError("503 Service Unavailable")
        return block

    broken = ds.assign(counts=ds["counts"].copy(
        data=ds["counts"].data.map_blocks(flaky, dtype=np.uint16)))
    path = str(tmp_path / "c.zarr")
    report = write_dataset(broken, path, region_frames=2)
    assert not report.complete and [str(f) for f in report.failed] == [
        "frames [2, 4): OSError: 503 Service Unavailable"]
    assert open_plain(path)[DONE_VAR].values.tolist() == [1, 1, 0, 0, 1, 1, 1, 1]
    again = write_dataset(ds, path, region_frames=2, resume=True)
    assert (again.regions_written, again.regions_skipped) == (1, 3) and again.complete
    np.testing.assert_array_equal(open_plain(path)["counts"].values, values)


def test_a_programming_error_stops_the_run(tmp_path):
    ds, _ = cube(n=4)

    def bug(block):
        raise ZeroDivisionError("bug")

    broken = ds.assign(counts=ds["counts"].copy(
        data=ds["counts"].data.map_blocks(bug, dtype=np.uint16)))
    with pytest.raises(ZeroDivisionError):
        write_dataset(broken, str(tmp_path / "c.zarr"), region_frames=2)


def test_a_second_writer_is_refused_and_a_stale_lease_taken_over(tmp_path):
    ds, _ = cube(n=4)
    path = str(tmp_path / "c.zarr")
    write_dataset(ds, path, region_frames=2)
    live = acquire_lease(path, "other-run", ttl=600)
    with pytest.raises(StoreLockedError, match="being written by run other-run"):
        write_dataset(ds, path, region_frames=2, resume=True)
    live.release()
    stale = acquire_lease(path, "dead-run", ttl=0.01)
    import time

    time.sleep(0.05)
    report = write_dataset(ds, path, region_frames=2, overwrite=True)
    assert report.complete
    assert stale.read() is None  # released by the run that took it over


def test_a_run_that_loses_its_lease_stops(tmp_path):
    ds, _ = cube(n=6)
    path = str(tmp_path / "c.zarr")

    def intruder(i, region):
        if i == 0:
            Lease(path, "thief", 600, None)._write()  # as a run that found it stale would

    with pytest.raises(StoreLockedError, match="taken over by run thief"):
        write_dataset(ds, path, region_frames=2, on_region=intruder)
    assert open_store(path)[DONE_VAR].values.tolist() == [1, 1, 0, 0, 0, 0]


def test_a_store_killed_while_its_template_was_written_is_made_again(tmp_path):
    ds, values = cube(n=6)
    path = tmp_path / "c.zarr"
    write_dataset(ds, str(path), region_frames=2)
    (path / "zarr.json").write_text((path / "zarr.json").read_text().replace(
        '"consolidated_metadata"', '"not_consolidated"'))  # as if killed before the end
    import shutil

    shutil.rmtree(path / "frame_run")
    report = write_dataset(ds, str(path), region_frames=2, resume=True)
    assert report.regions_written == 3 and report.complete
    np.testing.assert_array_equal(open_plain(path)["counts"].values, values)


def test_foreign_entries_on_an_object_store_and_on_disk(tmp_path):
    """What is at an output path that is not a Zarr store, on fsspec's in-memory object store
    (keys under a prefix, no directories) and on disk: nothing for a new path or a Zarr
    store, the names (at most three, then a count) otherwise."""
    import fsspec

    from lascoproc.io.zarr_store import foreign_entries

    fs = fsspec.filesystem("memory")
    fs.pipe({"/lpc-test/out/notes.txt": b"mine", "/lpc-test/out/a.csv": b"1",
             "/lpc-test/out/b.csv": b"2", "/lpc-test/out/c.csv": b"3",
             "/lpc-test/one.zarr": b"a file"})
    try:
        assert foreign_entries("memory://lpc-test/new.zarr") == []
        assert foreign_entries("memory://lpc-test/out") == ["a.csv", "b.csv", "c.csv",
                                                             "... 1 more"]
        assert foreign_entries("memory://lpc-test/one.zarr") == ["one.zarr"]
        xr.Dataset({"v": ("t", np.arange(3.0))}).to_zarr("memory://lpc-test/store.zarr",
                                                        zarr_format=3, consolidated=False)
        assert foreign_entries("memory://lpc-test/store.zarr") == []
    finally:
        fs.rm("/lpc-test", recursive=True)
    (tmp_path / "empty").mkdir()
    assert foreign_entries(str(tmp_path / "empty")) == []
