"""The level-1 region writer's direct path (lascoproc.pipeline.level1_shards): the same store,
byte for byte, as writing the lazy cube through zarr-python; a region whose read fails is
left unwritten and unmarked, and resume completes it to the same store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lascoproc.io.lasco_cube import FrameReadError
from lascoproc.io.zarr_store import RUN_VAR
from lascoproc.pipeline import level1_shards
from lascoproc.pipeline.level1 import run_level1
from tests.conftest import chunk_files

VARIABLES = ("brightness", "quality", "nmissing", "frame_status")


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    """7 C3 frames of 1024x1024 on the real 2023 header, roll -7.42 deg drifting by -0.003 deg
    per frame, 0-5 lost blocks each; calibration files of SolarSoft's layout."""
    from lascoproc.testing.calib import write_calibration_files
    from lascoproc.testing.lasco import write_lasco_archive

    root = tmp_path_factory.mktemp("drift")
    write_calibration_files(root / "calib", start="2002-05-21", days=1, detectors=("c3",))
    write_lasco_archive(root / "archive", start="2023-12-01", days=1, frames_per_day=7,
                        detectors=("c3",), seed=7, binned_per_day=0, subfields_per_day=0,
                        missing_blocks=(0, 6), roll=-7.42, roll_drift=-0.003, template="2023")
    return root


def _chunks(store) -> dict[str, bytes]:
    return chunk_files(store, VARIABLES)


def _run(archive, calib, out, monkeypatch, direct: bool, **kwargs):
    monkeypatch.setenv("LASCOPROC_DIRECT_WRITE", "1" if direct else "0")
    return run_level1(str(archive), detector="c3", calib=str(calib), out=str(out), **kwargs)


def _count_direct(monkeypatch) -> list[int]:
    calls = []
    real = level1_shards.write_level1_region

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(level1_shards, "write_level1_region", counted)
    return calls


def test_direct_store_is_zarr_pythons_byte_for_byte(drifting, tmp_path, monkeypatch):
    calls = _count_direct(monkeypatch)
    stock = _run(drifting / "archive", drifting / "calib", tmp_path / "stock.zarr",
                 monkeypatch, False, region_frames=3)
    assert calls == []
    direct = _run(drifting / "archive", drifting / "calib", tmp_path / "direct.zarr",
                  monkeypatch, True, region_frames=3)
    assert calls == [3, 3, 1]  # one task per region, the last one partial
    assert direct.report.complete and stock.report.complete
    a, b = _chunks(tmp_path / "stock.zarr"), _chunks(tmp_path / "direct.zarr")
    assert len(a) == 4 * 3 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    ds = xr.open_zarr(tmp_path / "direct.zarr")
    assert ds["frame_written"].values.all()
    assert (ds["nmissing"].values > 0).any()  # lost blocks were there to count
    assert np.isfinite(ds["brightness"][0].values).mean() > 0.3


def test_mixed_archive_same_store_both_ways(lasco_archive, calib_dir, tmp_path, monkeypatch):
    """The shared synthetic archive: binned and subfield frames in stores of their own sizes,
    frames the plan flags; every store of the run the same both ways."""
    kwargs = {"region_frames": 2, "overwrite": True}
    stock = _run(lasco_archive.root, calib_dir, tmp_path / "s.zarr", monkeypatch, False,
                 **kwargs)
    direct = _run(lasco_archive.root, calib_dir, tmp_path / "d.zarr", monkeypatch, True,
                  **kwargs)
    stores = [(tmp_path / "s.zarr", tmp_path / "d.zarr")]
    stores += [(Path(stock.others[k][0]), Path(direct.others[k][0])) for k in stock.others]
    assert len(stores) >= 2
    for s, d in stores:
        a, b = _chunks(s), _chunks(d)
        assert a and a.keys() == b.keys() and [k for k in a if a[k] != b[k]] == []


def test_failed_read_leaves_region_for_resume(drifting, tmp_path, monkeypatch):
    """A frame whose pixels cannot be read (after the headers were: e.g. an object store
    that stops answering) fails its region only, before anything of the region is stored."""
    archive, calib = drifting / "archive", drifting / "calib"
    reference = _run(archive, calib, tmp_path / "ref.zarr", monkeypatch, True, region_frames=3)
    victim = str(reference.dataset["filename"].values[4])
    real = level1_shards.read_frames

    def failing(specs, **kwargs):
        if any(str(spec[0]).endswith(victim) for spec in specs):
            raise FrameReadError(f"{victim}: unreadable after 1 attempts (injected)")
        return real(specs, **kwargs)

    monkeypatch.setattr(level1_shards, "read_frames", failing)
    out = tmp_path / "out.zarr"
    first = _run(archive, calib, out, monkeypatch, True, region_frames=3)
    assert not first.report.complete
    assert [(f.region.start, f.region.stop) for f in first.report.failed] == [(3, 6)]
    assert "injected" in first.report.failed[0].error
    assert xr.open_zarr(out)["frame_written"].values.tolist() == [1, 1, 1, 0, 0, 0, 1]
    for name in ("brightness", "quality"):  # nothing of the region stored, nothing left
        assert not (out / name / "c" / "1" / "0" / "0").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    monkeypatch.setattr(level1_shards, "read_frames", real)
    second = _run(archive, calib, out, monkeypatch, True, region_frames=3, resume=True)
    assert second.report.complete and second.report.regions_written == 1
    a, b = _chunks(tmp_path / "ref.zarr"), _chunks(out)
    assert a.keys() == b.keys() and [k for k in a if a[k] != b[k]] == []
    runs = xr.open_zarr(out)[RUN_VAR].values
    assert len(set(runs[:3])) == 1 and runs[3] != runs[0]


def test_full_disk_leaves_regions_for_resume(drifting, tmp_path, monkeypatch):
    """On a disk that fills up (an fsspec file system whose writes count bytes: the direct
    path puts each shard through it) the regions that did not fit are left for resume; the
    resumed store is the one an uninterrupted run writes."""
    import fsspec

    from lascoproc.testing.faults import NoSpaceFileSystem

    archive, calib = drifting / "archive", drifting / "calib"
    _run(archive, calib, tmp_path / "ref.zarr", monkeypatch, True, region_frames=3)
    calls = _count_direct(monkeypatch)
    fsspec.register_implementation("nospace", NoSpaceFileSystem, clobber=True)
    out = f"nospace://{tmp_path / 'full.zarr'}"
    NoSpaceFileSystem.free()
    NoSpaceFileSystem.limit = 12_000_000  # the template and one region of 3 frames
    try:
        first = _run(archive, calib, out, monkeypatch, True, region_frames=3)
    finally:
        NoSpaceFileSystem.free()
    assert calls  # the direct path wrote (through the file system's own writes)
    assert not first.report.complete and first.report.failed
    assert all("No space left" in f.error for f in first.report.failed)
    second = _run(archive, calib, out, monkeypatch, True, region_frames=3, resume=True)
    assert second.report.complete
    assert second.report.regions_written == len(first.report.failed)
    a, b = _chunks(tmp_path / "ref.zarr"), _chunks(tmp_path / "full.zarr")
    assert a.keys() == b.keys() and [k for k in a if a[k] != b[k]] == []
