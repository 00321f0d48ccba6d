"""Every input file accounted for (issue 12): a corpus of every bad-input kind beside good
frames gives the good frames of a clean run, every bad file named with its reason in the run
report, and no bad frame with ``frame_status`` 0."""

from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pytest
import xarray as xr

from lascoproc.pipeline.level1 import run_level1
from lascoproc.pipeline.report import report_path
from lascoproc.testing.lasco import BAD_INPUTS, add_bad_inputs, write_lasco_archive


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from lascoproc.testing.calib import exposure_records_from_archive, write_calibration_files

    root = tmp_path_factory.mktemp("corpus")
    clean = root / "clean"
    write_lasco_archive(clean, days=1, frames_per_day=4, detectors=("c3",), seed=21,
                        binned_per_day=0, subfields_per_day=0, cme=False)
    write_calibration_files(root / "calib", start="2002-05-21", days=1, seed=21,
                            exposures=exposure_records_from_archive(clean))
    bad = root / "bad"
    shutil.copytree(clean, bad)
    inputs = add_bad_inputs(bad, detector="c3", seed=21)
    clean_run = run_level1(str(clean), detector="c3", calib=str(root / "calib"),
                           out=str(root / "clean.zarr"), region_frames=2)
    bad_run = run_level1(str(bad), detector="c3", calib=str(root / "calib"),
                         out=str(root / "bad.zarr"), region_frames=2)
    return root, inputs, clean_run, bad_run


def test_every_kind_is_in_the_corpus(corpus):
    _, inputs, _, _ = corpus
    assert {b.kind for b in inputs} == set(BAD_INPUTS)


def test_good_frames_identical_to_a_clean_run(corpus):
    root, inputs, clean_run, bad_run = corpus
    clean, bad = xr.open_zarr(root / "clean.zarr"), xr.open_zarr(root / "bad.zarr")
    names = [str(p).rsplit("/", 1)[-1] for p in clean["path"].values]
    index = {str(p).rsplit("/", 1)[-1]: i for i, p in enumerate(bad["path"].values)}
    for i, name in enumerate(names):
        j = index[str(name)]
        np.testing.assert_array_equal(bad["brightness"][j].values, clean["brightness"][i].values)
        np.testing.assert_array_equal(bad["quality"][j].values, clean["quality"][i].values)
        assert int(bad["frame_status"][j]) == int(clean["frame_status"][i]) == 0


def test_every_bad_file_named_with_its_reason(corpus):
    root, inputs, _, bad_run = corpus
    with open(report_path(str(root / "bad.zarr"))) as handle:
        report = json.load(handle)
    by_name = {}
    for item in report["inputs"]:
        by_name.setdefault(item["path"].rsplit("/", 1)[-1], []).append(item)
    for bad in inputs:
        name = bad.path.rsplit("/", 1)[-1]
        assert name in by_name, f"{bad.kind}: {name} is not in the run report"
        (item,) = by_name[name]
        codes = {r.split(":", 1)[0] for r in item["reasons"]}
        if bad.outcome == "rejected":
            assert item["status"] == "rejected", (bad.kind, item)
        else:
            assert item["status"] == "flagged", (bad.kind, item)
        assert bad.code in codes, (bad.kind, item["reasons"])
    assert report["counts"]["duplicate"] == 1
    assert bad_run.run_report.by_status["rejected"] == sum(
        b.outcome == "rejected" for b in inputs)


def test_no_bad_frame_carries_status_ok(corpus):
    root, inputs, _, _ = corpus
    bad = xr.open_zarr(root / "bad.zarr")
    status = dict(zip((str(p).rsplit("/", 1)[-1] for p in bad["path"].values),
                      bad["frame_status"].values.tolist(), strict=True))
    for b in inputs:
        if b.outcome != "flagged" or b.kind in ("unparsable_card", "time_shared"):
            continue
        assert status[b.path.rsplit("/", 1)[-1]] != 0, b.kind
    # the frame sharing its time with another is calibrated, and both carry the flag
    flags = {str(p).rsplit("/", 1)[-1]: f for p, f in zip(bad["path"].values,
                                                          bad["input_flags"].values, strict=True)}
    shared = next(b for b in inputs if b.kind == "time_shared")
    assert "time_shared" in flags[shared.path.rsplit("/", 1)[-1]]


class _StopAfter:
    """A progress reporter that raises once ``n`` regions are written (a run that dies
    partway: an unexpected error, Ctrl-C)."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def begin(self, total, done):
        pass

    def on_region(self, i, region):
        self.seen += 1
        if self.seen > self.n:
            raise RuntimeError("stopped by the test")

    def end(self):
        pass


def _ingest_stopped_after_two_regions(lasco_archive, out: str) -> dict:
    """A C3 ingest of one-frame regions stopped by an exception after two regions; the report
    it leaves (checked to say so)."""
    from lascoproc.pipeline.ingest import ingest_level05

    with pytest.raises(RuntimeError, match="stopped by the test"):
        ingest_level05(lasco_archive.root, detector="c3", out=out, region_frames=1,
                       progress=_StopAfter(1))
    report = json.loads(pathlib.Path(report_path(out)).read_text())
    assert report["stopped"] == "RuntimeError: stopped by the test"
    return report


def test_a_run_that_stops_before_its_first_region_removes_the_old_report(
        lasco_archive, tmp_path, monkeypatch):
    """--overwrite replaces the store (its template written), then the run stops before any
    region is written: the finished run's report must not stay beside a store it no longer
    describes; the stopped run's report says every frame is not written."""
    import lascoproc.pipeline.ingest as ingest

    out = str(tmp_path / "l05.zarr")
    ingest.ingest_level05(lasco_archive.root, detector="c3", out=out, region_frames=2)
    assert json.loads(pathlib.Path(report_path(out)).read_text())["stopped"] == ""

    def broken(*args, **kwargs):
        raise MemoryError("no memory for the cube")

    monkeypatch.setattr(ingest, "lasco_cube_from_frames", broken)
    with pytest.raises(MemoryError):
        ingest.ingest_level05(lasco_archive.root, detector="c3", out=out, region_frames=2,
                              overwrite=True)
    report = json.loads(pathlib.Path(report_path(out)).read_text())
    assert report["stopped"] == "MemoryError: no memory for the cube"
    assert report["by_status"]["used"] == report["by_status"]["flagged"] == 0
    assert report["by_status"]["not_written"] > 0
    assert report["stores"][0]["complete"] is False


def test_a_run_that_stops_partway_leaves_a_report_saying_so(lasco_archive, tmp_path):
    """An ingest stopped by an exception after its first region: the report beside the store
    says the run stopped and why, lists the frames written and those not (its second size's
    store never begun included), and ``clean`` is false; the exception goes on. A rerun with
    --resume replaces it with the report of a finished run. A run refused before it wrote
    anything (the store exists, neither --resume nor --overwrite) leaves that report alone; an
    --overwrite stopped at its first region replaces it (the old store is gone)."""
    from lascoproc.pipeline.ingest import ingest_level05

    out = str(tmp_path / "l05.zarr")
    report = _ingest_stopped_after_two_regions(lasco_archive, out)
    status = report["by_status"]
    assert status["used"] + status["flagged"] == 2  # regions 0 and 1 were marked
    assert status["not_written"] >= 2
    reasons = {r for item in report["inputs"] for r in item["reasons"]}
    assert "not_written: region not written yet" in reasons
    assert ("not_written: the run stopped before this store held any region"
            in reasons)  # the other sizes
    with pytest.raises(FileExistsError):
        ingest_level05(lasco_archive.root, detector="c3", out=out, region_frames=1)
    assert json.loads(pathlib.Path(report_path(out)).read_text()) == report
    done = ingest_level05(lasco_archive.root, detector="c3", out=out, region_frames=1,
                          resume=True)
    report = json.loads(pathlib.Path(report_path(out)).read_text())
    assert report["stopped"] == "" and done.run_report.by_status["not_written"] == 0
    # --overwrite removes the finished store before its first region: stopped there, the
    # finished run's report must not be left describing a store that is gone
    with pytest.raises(RuntimeError, match="stopped by the test"):
        ingest_level05(lasco_archive.root, detector="c3", out=out, region_frames=1,
                       overwrite=True, progress=_StopAfter(0))
    report = json.loads(pathlib.Path(report_path(out)).read_text())
    assert report["stopped"] == "RuntimeError: stopped by the test"
    assert report["by_status"]["used"] + report["by_status"]["flagged"] == 1


def test_a_stopped_runs_report_names_the_regions_that_failed_before(lasco_archive, tmp_path,
                                                                    monkeypatch):
    """A region that failed with an I/O error (left for --resume) before the run stopped is
    ``region_failed`` with its error in the stopped run's report, not "not written yet"."""
    import dask

    import lascoproc.pipeline.regions as regions

    real = regions.write_region

    def failing_first(part, store, region, **kwargs):
        if region.start == 0:
            def fail():
                raise OSError("the object store stopped answering")
            return dask.delayed(fail)()
        return real(part, store, region, **kwargs)

    monkeypatch.setattr(regions, "write_region", failing_first)
    report = _ingest_stopped_after_two_regions(lasco_archive, str(tmp_path / "l05.zarr"))
    failed = [item for item in report["inputs"]
              if "region_failed: OSError: the object store stopped answering" in item["reasons"]]
    assert len(failed) == 1 and failed[0]["status"] == "not_written"
    assert report["by_status"]["used"] + report["by_status"]["flagged"] == 2
