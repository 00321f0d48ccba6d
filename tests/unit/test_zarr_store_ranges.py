"""A run cut into time ranges: one template, each range's cube opened only for its regions."""

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from lascoproc.io.zarr_store import (
    DONE_VAR,
    cube_template,
    open_store,
    time_ranges,
    write_zarr,
)
from lascoproc.pipeline.progress import RunProgress, RunSummary, summarize_run
from tests.conftest import raise_if_dask_computes
from tests.unit.test_zarr_store import cube


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


def test_time_ranges_are_whole_regions():
    assert time_ranges(10, range_frames=4, region_frames=3) == [slice(0, 6), slice(6, 10)]
    assert time_ranges(8, range_frames=4, region_frames=2) == [slice(0, 4), slice(4, 8)]
    assert time_ranges(3, range_frames=100, region_frames=16) == [slice(0, 3)]
    with pytest.raises(ValueError, match=">= 1"):
        time_ranges(3, range_frames=0, region_frames=16)


def test_ranges_write_the_single_cube_store(tmp_path):
    """Template from one range and every frame's coordinates, then range by range (ragged last
    range and last region): the same store, file for file, as the whole cube at once."""
    ds, values = cube(n=11)
    whole = tmp_path / "whole.zarr"
    write_zarr(ds, str(whole), region_frames=2)
    opened = []
    open_range = opener(values, ds["time"].values, opened)
    ranges = time_ranges(11, range_frames=4, region_frames=2)
    template = cube_template(open_range(ranges[0]), ds.coords.to_dataset())
    assert template["counts"].chunks[0] == (1,) * 11
    opened.clear()
    ranged = tmp_path / "ranged.zarr"
    with raise_if_dask_computes(max_computes=6) as counter:  # one per region, template none
        report = write_zarr(template, str(ranged), region_frames=2, time_ranges=ranges,
                            open_range=open_range, compute_kwargs={})
    assert counter.total_computes == 6
    assert opened == [(0, 4), (4, 8), (8, 11)]
    assert (report.ranges, report.ranges_skipped, report.regions_written) == (3, 0, 6)
    xr.testing.assert_identical(open_store(str(ranged)).load(), open_store(str(whole)).load())
    for name in ("zarr.json", "counts/zarr.json", "status/zarr.json"):
        assert (ranged / name).read_bytes() == (whole / name).read_bytes(), name


def test_killed_ranged_write_resumes_without_reopening_done_ranges(tmp_path):
    ds, values = cube(n=11)
    full = str(tmp_path / "full.zarr")
    write_zarr(ds, full, region_frames=2)
    ranges = time_ranges(11, range_frames=4, region_frames=2)
    opened = []
    open_range = opener(values, ds["time"].values, opened)
    template = cube_template(open_range(ranges[0]), ds)

    class Killed(Exception):
        pass

    def die_in_second_range(i, region):
        if i == 2:  # first region of the second range written and marked
            raise Killed

    part = str(tmp_path / "part.zarr")
    opened.clear()
    with pytest.raises(Killed):
        write_zarr(template, part, region_frames=2, time_ranges=ranges, open_range=open_range,
                   on_region=die_in_second_range)
    assert open_store(part)[DONE_VAR].values.tolist() == [1] * 6 + [0] * 5
    opened.clear()
    # resumed with another cut: the manifest is per frame, the cut only says what is built
    report = write_zarr(template, part, region_frames=2, resume=True, open_range=open_range,
                        time_ranges=time_ranges(11, range_frames=6, region_frames=2))
    assert opened == [(6, 11)]
    assert (report.ranges, report.ranges_skipped) == (2, 1)
    assert (report.regions_skipped, report.regions_written) == (3, 3)
    xr.testing.assert_identical(open_store(part).load(), open_store(full).load())
    again = write_zarr(template, part, region_frames=2, resume=True, open_range=open_range,
                       time_ranges=ranges)
    assert (again.regions_written, again.ranges_skipped) == (0, 3)


def test_ranges_must_start_on_region_boundaries(tmp_path):
    ds, _ = cube(n=8)
    with pytest.raises(ValueError, match="region boundaries"):
        write_zarr(ds, str(tmp_path / "a.zarr"), region_frames=2,
                   time_ranges=[slice(0, 3), slice(3, 8)])
    with pytest.raises(ValueError, match="contiguous"):
        write_zarr(ds, str(tmp_path / "b.zarr"), region_frames=2,
                   time_ranges=[slice(0, 4), slice(6, 8)])


def test_a_range_cube_of_other_frames_is_refused(tmp_path):
    """A range opened with frames the template does not have would mix two runs in one store."""
    ds, values = cube(n=8)
    shifted = ds["time"].values + np.timedelta64(1, "s")
    open_range = opener(values, shifted, [])
    with pytest.raises(ValueError, match=r"time range \[0, 4\).*template's frames"):
        write_zarr(ds, str(tmp_path / "a.zarr"), region_frames=2, open_range=open_range,
                   time_ranges=time_ranges(8, range_frames=4, region_frames=2))

    def wrong_dtype(rng):
        part = opener(values, ds["time"].values, [])(rng)
        return part.assign(counts=part["counts"].astype(np.float32))

    with pytest.raises(ValueError, match="'counts' is"):
        write_zarr(ds, str(tmp_path / "b.zarr"), region_frames=2, open_range=wrong_dtype,
                   time_ranges=time_ranges(8, range_frames=4, region_frames=2))


def test_template_needs_lazy_range_and_every_time():
    ds, _ = cube(n=4)
    with pytest.raises(ValueError, match="not a dask array"):
        cube_template(ds.compute(), ds)
    with pytest.raises(ValueError, match="'time' coordinate"):
        cube_template(ds, ds.drop_vars("time").coords.to_dataset())


def test_progress_follows_ranges_and_summary_counts_them(tmp_path):
    ds, values = cube(n=11)
    progress = RunProgress(disable=True)
    ranges = time_ranges(11, range_frames=4, region_frames=2)
    report = write_zarr(ds, str(tmp_path / "a.zarr"), region_frames=2, progress=progress,
                        time_ranges=ranges,
                        open_range=opener(values, ds["time"].values, []))
    assert (progress.ranges_opened, progress.ranges_total) == (3, 3)
    assert progress.frames_done == progress.total_frames == 11
    summary = summarize_run(report, progress=progress)
    assert isinstance(summary, RunSummary)
    assert "3 time ranges, 0 already complete" in summary.format()
