"""Whole-mission runs cut into time ranges (issue 6, item 3), on synthetic archives.

- the store of a run cut into ranges is the store of the single whole-archive cube, file for
  file (ingest and level 1, ragged last range and region, with inpainting);
- a run killed mid-range resumes range by range to the same store, without rebuilding the
  ranges already written;
- the graph behind a region write has the same size for a 40-frame and a 400-frame archive.
"""

from __future__ import annotations

import json

import dask
import numpy as np
import pytest
import xarray as xr

from lascoproc.io.calib_store import CalibrationStore
from lascoproc.io.lasco_cube import open_lasco_cube, open_lasco_frames
from lascoproc.io.zarr_store import DONE_VAR, RUN_VAR
from lascoproc.pipeline.ingest import ingest_level05
from lascoproc.pipeline.level1 import Level1Ranges, open_level1, run_level1
from lascoproc.pipeline.regions import (
    DEFINITION_ATTR,
    FINGERPRINT_ATTR,
    time_ranges,
    write_cube,
    write_dataset,
)
from tests.conftest import raise_if_dask_computes


@pytest.fixture(scope="module")
def archive7(tmp_path_factory):
    """7 full C2 frames in one day, and calibration files for them."""
    from lascoproc.testing.calib import exposure_records_from_archive, write_calibration_files
    from lascoproc.testing.lasco import write_lasco_archive

    root = tmp_path_factory.mktemp("lasco7")
    write_lasco_archive(root / "archive", days=1, frames_per_day=7, detectors=("c2",), seed=5,
                        binned_per_day=0, subfields_per_day=0, cme=False)
    write_calibration_files(root / "calib", start="2002-05-21", days=1, seed=5,
                            exposures=exposure_records_from_archive(root / "archive"))
    return str(root / "archive"), str(root / "calib")


def assert_same_store(path, reference):
    """Same dataset and same array metadata (chunks, shards, codecs, attributes), but for the
    run that wrote it (``frame_run``, the run definition the writer was given)."""
    import zarr

    run = [FINGERPRINT_ATTR, DEFINITION_ATTR]
    a, b = xr.open_zarr(path).load(), xr.open_zarr(reference).load()
    for ds in (a, b):
        for key in run:
            ds.attrs.pop(key, None)
    xr.testing.assert_identical(a.drop_vars(RUN_VAR), b.drop_vars(RUN_VAR))
    assert a[DONE_VAR].values.all()
    ga, gb = zarr.open_group(str(path), mode="r"), zarr.open_group(str(reference), mode="r")
    for name, array in ga.arrays():  # as JSON: a NaN fill value equals itself
        assert json.dumps(array.metadata.to_dict(), default=str, sort_keys=True) == \
            json.dumps(gb[name].metadata.to_dict(), default=str, sort_keys=True), name


def test_ingest_in_ranges_is_the_single_cube_store(archive7, tmp_path):
    root, _ = archive7
    whole = tmp_path / "whole.zarr"
    write_dataset(open_lasco_cube(root, detector="c2"), str(whole), region_frames=2)
    ranged = tmp_path / "ranged.zarr"
    result = ingest_level05(root, detector="c2", out=str(ranged), region_frames=2,
                            range_frames=4)
    assert (result.report.ranges, result.report.regions) == (2, 4)  # [0, 4) [4, 7): 2 + 2
    assert_same_store(ranged, whole)
    assert result.dataset["counts"].shape == (7, 1024, 1024)


@pytest.mark.parametrize("case", ["c2-ragged", "c3-rejected-inpainted", "c2-temporal"])
def test_level1_in_ranges_is_the_single_cube_store(case, archive7, lasco_archive, calib_dir,
                                                    tmp_path, monkeypatch):
    """One lazy cube over the archive, written whole, and the ranged run give the same store:
    ragged last range and region; C3 with rejected files, keyhole and
    rolled frames and filled blocks; the temporal fill, whose neighbours cross the ranges'
    edges (each range reads them as its halo)."""
    if case == "c2-ragged":
        root, calib, det, region, size, inpaint = *archive7, "c2", 2, 4, None
    elif case == "c2-temporal":
        root, calib, det, region, size, inpaint = *archive7, "c2", 1, 3, "temporal"
        # archive7's frames are 3.4 h apart: let them be neighbours
        monkeypatch.setattr("lascoproc.inpaint.temporal.DEFAULT_MAX_MINUTES", 1e4)
    else:
        root, calib, det, region, size, inpaint = (lasco_archive.root, str(calib_dir), "c3",
                                                   1, 3, "fallback")
    level1, _ = open_level1(root, detector=det, calib=calib)
    if inpaint:
        from lascoproc.inpaint import inpaint_cube

        level1 = inpaint_cube(level1, method=inpaint)
    whole = tmp_path / "whole.zarr"
    write_dataset(level1, str(whole), region_frames=region)
    ranged = tmp_path / "ranged.zarr"
    result = run_level1(root, detector=det, calib=calib, out=str(ranged), region_frames=region,
                        range_frames=size, inpaint=inpaint)
    n = level1.sizes["time"]
    assert result.report.ranges == len(time_ranges(n, range_frames=size, region_frames=region))
    assert result.report.ranges >= 2 and n % size
    assert_same_store(ranged, whole)
    if case == "c3-rejected-inpainted":
        assert xr.open_zarr(ranged).attrs["rejected"]
        assert result.flagged == []
    if inpaint == "temporal":
        from lascoproc.kernels.quality import FILLED_TEMPORAL

        quality = xr.open_zarr(ranged)["quality"].values
        from_neighbours = ((quality & FILLED_TEMPORAL) > 0).any(axis=(1, 2))
        edges = [i for i in range(n) if i % size in (0, size - 1)]
        assert from_neighbours[edges].any(), from_neighbours  # the halo was used


def test_killed_level1_run_resumes_range_by_range(archive7, tmp_path):
    """Killed in its second range (after 3 regions of 2 frames): --resume writes the rest,
    builds only the ranges not done, and ends with the store of an uninterrupted run."""
    root, calib = archive7
    full = tmp_path / "full.zarr"
    run_level1(root, detector="c2", calib=calib, out=str(full), region_frames=2,
               range_frames=4)

    class Killed(Exception):
        pass

    class Reporter:
        def __init__(self, kill_after=None):
            self.kill_after, self.ranges, self.regions = kill_after, [], 0

        def begin(self, total, done):
            self.done_before = done

        def on_range(self, k, frames, total):
            self.ranges.append(k)

        def on_region(self, i, region):
            self.regions += 1
            if self.regions == self.kill_after:
                raise Killed

        def end(self):
            pass

    part = tmp_path / "part.zarr"
    first = Reporter(kill_after=3)
    with pytest.raises(Killed):
        run_level1(root, detector="c2", calib=calib, out=str(part), region_frames=2,
                   range_frames=4, progress=first)
    assert first.ranges == [0, 1]
    assert xr.open_zarr(part)[DONE_VAR].values.tolist() == [1] * 6 + [0]
    second = Reporter()
    result = run_level1(root, detector="c2", calib=calib, out=str(part), region_frames=2,
                        range_frames=4, progress=second, resume=True)
    assert (second.done_before, second.ranges, second.regions) == (6, [1], 1)
    assert (result.report.ranges_skipped, result.report.regions_skipped) == (1, 3)
    assert_same_store(part, full)
    with pytest.raises(FileExistsError, match="resume"):
        run_level1(root, detector="c2", calib=calib, out=str(part), region_frames=2)


def tiled_frames(frames: xr.Dataset, n: int) -> xr.Dataset:
    """``n`` frames made of the headers of ``frames`` in turn, one second apart (no file)."""
    tiled = frames.isel(time=np.arange(n) % frames.sizes["time"])
    times = frames["time"].values[0] + np.arange(n) * np.timedelta64(1, "s")
    return tiled.assign_coords(time=("time", times, frames["time"].attrs))


class GraphSizes:
    """``array_optimize`` that records the size of every graph dask optimises (the graph the
    writer culls for each region), and stops the run at the first region write."""

    class Stop(Exception):
        pass

    def __init__(self):
        self.sizes: list[int] = []

    def __call__(self, dsk, keys, **kwargs):
        self.sizes.append(len(dsk))
        raise self.Stop  # the first graph computed is the first region's

    def run(self, write) -> int:
        """Tasks of the first region write (the template computes nothing)."""
        with dask.config.set(array_optimize=self):
            with pytest.raises(self.Stop):
                write()
        return self.sizes[0]


def region_graph_size(frames, store, n, tmp_path) -> int:
    """Tasks of the graph behind the first region write of ``n`` frames cut into ranges of 8
    frames (building the run and its template computes nothing)."""
    big = tiled_frames(frames, n)
    with raise_if_dask_computes():
        run = Level1Ranges(big, store)
        template = run.template()
    return GraphSizes().run(lambda: write_cube(
        str(tmp_path / f"ranged{n}.zarr"), template, run.open_range, region_frames=2,
        range_frames=8, compute_kwargs={"scheduler": "sync"}))


def test_region_graph_does_not_grow_with_the_archive(archive7, tmp_path):
    """The graph a region write computes is a range's: the same for 40 and 400 frames."""
    root, calib = archive7
    store = CalibrationStore(calib)
    frames = open_lasco_frames(root, detector="c2")
    assert region_graph_size(frames, store, 40, tmp_path) == region_graph_size(
        frames, store, 400, tmp_path)
