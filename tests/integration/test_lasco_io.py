"""Index and lazy cube on a synthetic archive in NRL's format, against per-file reads."""

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from lascoproc.io.lasco_archive import index_archive
from lascoproc.io.lasco_cube import open_lasco_cube
from tests.conftest import raise_if_dask_computes


def test_index_lists_good_frames_by_time(lasco_archive):
    index = index_archive(lasco_archive.root, detector="c3")
    good = sorted(lasco_archive.good("C3"), key=lambda f: f.time)
    times = index.frames["time"].to_numpy()
    assert set(index.frames["filename"]) >= {f.path.rsplit("/", 1)[-1] for f in good}
    assert np.all(np.diff(times) >= np.timedelta64(0))
    # img_hdr.txt on day 1, FITS headers on day 2 (no img_hdr.txt) and for unlisted frames
    sources = dict(zip(index.frames["filename"], index.frames["source"], strict=True))
    for frame in good:
        name = frame.path.rsplit("/", 1)[-1]
        assert sources[name] == ("img_hdr" if frame.in_img_hdr else "header")


def test_index_time_range_and_detector(lasco_archive):
    good = sorted(lasco_archive.good("C2"), key=lambda f: f.time)
    # img_hdr.txt holds times to the second: start at the second of good[1]
    start, end = good[1].time.astype("datetime64[s]"), good[3].time
    index = index_archive(lasco_archive.root, detector="c2", start=start, end=end)
    assert list(index.frames["filename"]) == [f.path.rsplit("/", 1)[-1] for f in good[1:4]]
    assert set(index.frames["detector"]) == {"C2"}


def test_verified_index_reports_every_bad_file(lasco_archive):
    index = index_archive(lasco_archive.root, detector="c3", verify=True)
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in index.problems}
    for bad in lasco_archive.bad():
        name = bad.path.rsplit("/", 1)[-1]
        assert name in reasons, f"{bad.kind} file {name} not reported"
    by_kind = {b.kind: reasons[b.path.rsplit("/", 1)[-1]] for b in lasco_archive.bad()}
    assert "not a FITS file" in by_kind["not_fits"]
    assert "date_missing: no DATE-OBS" in by_kind["header_incomplete"]
    assert "truncated" in by_kind["truncated"]
    assert "truncated or wrong size" in by_kind["wrong_size"]


def test_cube_is_lazy_and_equals_per_file_reads(lasco_archive):
    with raise_if_dask_computes():
        ds = open_lasco_cube(lasco_archive.root, detector="c3")
    full = [f for f in lasco_archive.good("C3") if f.shape == (1024, 1024)]
    assert ds.sizes == {"time": len(full), "y": 1024, "x": 1024}
    assert ds["counts"].chunks[0] == (1,) * len(full)
    assert ds["counts"].dtype == np.uint16
    assert np.all(np.diff(ds["time"].values) > np.timedelta64(0))
    values = ds["counts"].values
    for i, path in enumerate(ds["path"].values):
        with fits.open(path) as hdul:
            expected = hdul[0].data.astype(np.uint16)
            assert ds["exptime"].values[i] == hdul[0].header["EXPTIME"]
        np.testing.assert_array_equal(values[i], expected)
    # missing blocks are zero in the cube, as in the files
    frame = next(f for f in full if f.missing_blocks)
    i = list(ds["filename"].values).index(frame.path.rsplit("/", 1)[-1])
    r, c = frame.missing_blocks[0]
    assert np.all(values[i, 32 * r:32 * r + 32, 32 * c:32 * c + 32] == 0)


def test_cube_rejects_bad_files_with_reasons(lasco_archive):
    ds = open_lasco_cube(lasco_archive.root, detector="c3")
    rejected = "\n".join(ds.attrs["rejected"])
    for bad in lasco_archive.bad():
        assert bad.path.rsplit("/", 1)[-1] in rejected


def test_binned_and_subfield_frames_have_their_own_cubes(lasco_archive):
    for kind in ("binned", "subfield"):
        frames = [f for f in lasco_archive.good("C2") if f.kind == kind]
        if not frames:
            pytest.skip(f"no {kind} C2 frame in the archive")
        shape = frames[0].shape
        ds = open_lasco_cube(lasco_archive.root, detector="c2", shape=shape)
        assert ds.sizes["y"] == shape[0] and ds.sizes["x"] == shape[1]
        assert ds.sizes["time"] == sum(f.shape == shape for f in lasco_archive.good("C2"))
    full = open_lasco_cube(lasco_archive.root, detector="c2")
    assert "512x512" in full.attrs["other_shapes"] or "x" in full.attrs["other_shapes"]


def test_unreadable_at_compute_time_is_retried_then_raised(lasco_archive, tmp_path):
    """A read that keeps failing (here a file truncated after the run listed it) is retried,
    then raises FrameReadError naming the file: the region writer leaves its region for
    --resume (tests/unit/test_zarr_store.py), instead of freezing a zero frame as data."""
    import shutil

    from lascoproc.io.lasco_cube import FrameReadError
    from lascoproc.io.retry import ReadPolicy

    root = tmp_path / "copy"
    shutil.copytree(lasco_archive.root, root)
    ds = open_lasco_cube(str(root), detector="c2", policy=ReadPolicy(retries=2, backoff=0.01))
    victim = str(ds["path"].values[1])
    with open(victim, "r+b") as handle:  # truncated after the cube was opened
        handle.truncate(10000)
    assert ds["counts"].isel(time=0).values.any()
    with pytest.raises(FrameReadError, match=f"{victim.rsplit('/', 1)[-1]}: unreadable after "
                                             "3 attempts.*data truncated"):
        _ = ds["counts"].isel(time=1).values


def test_file_url_same_as_path(lasco_archive):
    a = index_archive(lasco_archive.root, detector="c2")
    b = index_archive("file://" + str(lasco_archive.root), detector="c2")
    assert list(a.frames["filename"]) == list(b.frames["filename"])
    ds = open_lasco_cube("file://" + str(lasco_archive.root), detector="c2")
    ref = open_lasco_cube(str(lasco_archive.root), detector="c2")
    np.testing.assert_array_equal(ds["counts"][0].values, ref["counts"][0].values)


def test_http_archive_same_as_local(lasco_archive):
    """An https/http archive (NRL serves one) indexes and reads like a local one."""
    pytest.importorskip("aiohttp")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(lasco_archive.root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        import time

        import fsspec

        url = f"http://127.0.0.1:{port}/"
        for _ in range(50):
            try:
                fsspec.filesystem("http").ls(url)
                break
            except Exception:  # noqa: BLE001 - server not up yet
                time.sleep(0.1)
        remote = index_archive(url, detector="c2")
        local = index_archive(lasco_archive.root, detector="c2")
        assert list(remote.frames["filename"]) == list(local.frames["filename"])
        ds = open_lasco_cube(url, detector="c2", threads=4)
        ref = open_lasco_cube(lasco_archive.root, detector="c2")
        np.testing.assert_array_equal(ds["counts"][-1].values, ref["counts"][-1].values)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_s3_url_is_anonymous_by_default():
    pytest.importorskip("s3fs")
    from lascoproc.io.fs import get_fs

    fs, path = get_fs("s3://some-bucket/lasco/level_05")
    assert fs.anon is True
    assert path == "some-bucket/lasco/level_05"
    fs2, _ = get_fs("s3://some-bucket/x", {"anon": False, "key": "k", "secret": "s"})
    assert fs2.anon is False


def test_written_zarr_opens_plainly(lasco_archive, tmp_path):
    from lascoproc.pipeline.ingest import ingest_level05

    result = ingest_level05(lasco_archive.root, detector="c2", out=str(tmp_path / "c2.zarr"))
    out = xr.open_zarr(tmp_path / "c2.zarr")
    np.testing.assert_array_equal(out["counts"].values, result.dataset["counts"].values)
    assert list(out["filter"].values) == list(result.dataset["filter"].values)
    assert out["counts"].encoding["chunks"] == (1, 1024, 1024)
    assert out["counts"].encoding["shards"] == (min(32, out.sizes["time"]), 1024, 1024)


def test_img_hdr_time_that_disagrees_with_the_header_is_flagged(tmp_path):
    """A frame chosen by its ``img_hdr.txt`` time whose header says another time (by more than
    the listing's truncation to whole seconds) is flagged ``time_mismatch``, naming both; the
    other frames are not (before 2026-12-02 the disagreement passed unnoticed)."""
    from lascoproc.testing.lasco import write_lasco_archive

    archive = write_lasco_archive(tmp_path, start="2002-05-21", days=1, frames_per_day=3,
                                  seed=7)
    listing = tmp_path / "level_05" / "020521" / "c3" / "img_hdr.txt"
    lines = listing.read_text().splitlines(keepends=True)
    full = [i for i, line in enumerate(lines) if line.split()[5:7] == ["1024", "1024"]][0]
    name, time = lines[full].split()[0], lines[full].split()[2]
    hour = (int(time[:2]) + 1) % 24
    lines[full] = lines[full].replace(f"  {time}  ", f"  {hour:02d}{time[2:]}  ", 1)
    listing.write_text("".join(lines))
    cube = open_lasco_cube(archive.root, detector="c3", shape=(1024, 1024))
    flags = dict(zip([p.rsplit("/", 1)[-1] for p in cube["path"].values],
                     cube["input_flags"].values, strict=True))
    assert flags[name].startswith(f"time_mismatch: img_hdr.txt gives 2002-05-21T{hour:02d}"
                                  f"{time[2:]}, the header 2002-05-21T{time}")
    assert all("time_mismatch" not in text for other, text in flags.items() if other != name)
