"""Subfields placed into full frames (issue 13, item 6: ``--embed-subfields``, IDL's
``reduce_std_size``): the subfield's pixels are those of its own calibration, at its window's
place in the full frame; the rest of the frame is outside the field; nothing is dropped."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lascoproc.kernels.quality import OUTSIDE
from lascoproc.pipeline.level1 import run_level1


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from lascoproc.testing.calib import exposure_records_from_archive, write_calibration_files
    from lascoproc.testing.lasco import write_lasco_archive

    root = tmp_path_factory.mktemp("embed")
    write_lasco_archive(root / "archive", days=1, frames_per_day=4, detectors=("c2",), seed=8,
                        binned_per_day=0, subfields_per_day=2, cme=False,
                        missing_blocks=(1, 3))
    write_calibration_files(root / "calib", start="2002-05-21", days=1, seed=8,
                            exposures=exposure_records_from_archive(root / "archive"))
    common = dict(detector="c2", calib=str(root / "calib"), region_frames=2,
                  options=__import__("lascoproc.calibrate.plan", fromlist=["x"]).Level1Options(
                      distortion=False, roll_correction=False))
    apart = run_level1(str(root / "archive"), out=str(root / "apart.zarr"), **common)
    embedded = run_level1(str(root / "archive"), out=str(root / "embedded.zarr"),
                          embed_subfields=True, **common)
    return root, apart, embedded


def test_subfields_join_the_full_frames(runs):
    root, apart, embedded = runs
    assert len(apart.others) == 2  # 512x512 and 640x480 stores of their own
    assert embedded.others == {}  # everything in the 1024x1024 store
    full = xr.open_zarr(root / "embedded.zarr")
    assert full.sizes["time"] == apart.dataset.sizes["time"] + 2
    assert embedded.run_report.by_status["rejected"] == 0


def test_embedded_pixels_are_the_subfield_calibrated_in_place(runs):
    root, apart, _ = runs
    full = xr.open_zarr(root / "embedded.zarr")
    for size, (store, _) in apart.others.items():
        sub = xr.open_zarr(store)
        name = str(sub["path"].values[0]).rsplit("/", 1)[-1]
        k = [str(p).rsplit("/", 1)[-1] for p in full["path"].values].index(name)
        y0, x0 = int(full["stored_y0"].values[k]), int(full["stored_x0"].values[k])
        ny, nx = (int(v) for v in size.split("x"))
        got = full["brightness"][k].values
        np.testing.assert_allclose(got[y0:y0 + ny, x0:x0 + nx], sub["brightness"][0].values,
                                   rtol=1e-6, equal_nan=True)
        q = full["quality"][k].values
        outside = np.ones(q.shape, bool)
        outside[y0:y0 + ny, x0:x0 + nx] = False
        assert (q[outside] & OUTSIDE).all()
        assert int(full["nmissing"].values[k]) == int(sub["nmissing"].values[0])
        assert (full["crpix1"].values[k], full["crpix2"].values[k]) == pytest.approx(
            (float(sub["crpix1"].values[0]) + x0, float(sub["crpix2"].values[0]) + y0))
