"""Shared fixtures: synthetic archives written once per session, compute counting."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dask
import pytest


class CountingScheduler:
    """A dask scheduler that counts computes and can refuse them (xarray's pattern)."""

    def __init__(self, max_computes: int = 0):
        self.max_computes = max_computes
        self.total_computes = 0

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(
                f"too many dask computes: {self.total_computes} > {self.max_computes}"
            )
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0):
    """Fail if code inside computes a dask graph more than ``max_computes`` times."""
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


@pytest.fixture
def no_compute():
    return raise_if_dask_computes


@pytest.fixture(scope="session")
def lasco_archive(tmp_path_factory):
    """A small synthetic level-0.5 archive: 2 days, both detectors, binned, subfield, bad files,
    one day without img_hdr.txt and one unlisted frame per day."""
    from lascoproc.testing.lasco import write_lasco_archive

    root = tmp_path_factory.mktemp("lasco")
    return write_lasco_archive(root, start="2002-05-21", days=2, frames_per_day=3, seed=7,
                               bad_files=True, days_without_img_hdr=1, unlisted_per_day=1)


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory, lasco_archive):
    """Synthetic SolarSoft calibration files covering the frames of ``lasco_archive``."""
    from lascoproc.testing.calib import exposure_records_from_archive, write_calibration_files

    root = tmp_path_factory.mktemp("calib")
    write_calibration_files(root, start="2002-05-21", days=2, seed=3,
                            exposures=exposure_records_from_archive(lasco_archive.root))
    return root


def marked_regions(store) -> int:
    """Completed chunk files of a local store's run manifest (``frame_written``), i.e. regions
    marked so far (one chunk per region). zarr's local store writes each chunk to a
    ``*.partial`` file first and renames it, so those do not count: a run killed then has
    nothing marked."""
    chunks = Path(store) / "frame_written" / "c"
    if not chunks.is_dir():
        return 0
    return sum(1 for p in chunks.iterdir() if not p.name.endswith(".partial"))


def chunk_files(store, names) -> dict[str, bytes]:
    """The bytes of every data object (``NAME/c/...``) of the arrays ``names`` of a local Zarr
    store, by path relative to the store (to compare two stores object by object)."""
    store = Path(store)
    out = {}
    for name in names:
        for dirpath, _, files in os.walk(store / name / "c"):
            for f in files:
                path = Path(dirpath) / f
                out[str(path.relative_to(store))] = path.read_bytes()
    return out
