"""notebooks/lasco_level1.ipynb runs on a synthetic level-1 cube (executed in CI)."""

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "lasco_level1.ipynb"


def test_lasco_level1_notebook_executes(lasco_archive, calib_dir, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from lascoproc.pipeline.level1 import run_level1

    store = tmp_path / "c3_l1.zarr"
    run_level1(lasco_archive.root, detector="c3", calib=str(calib_dir), out=str(store))
    monkeypatch.setenv("LASCOPROC_L1_ZARR", str(store))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in nb.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = [o for cell in nb.cells for o in cell.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 3
