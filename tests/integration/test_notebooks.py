"""Notebooks under notebooks/ run top to bottom on synthetic data (executed in CI).

Each notebook is registered in ``PREPARE`` with a function that writes the data it reads into a
temporary directory and returns the environment variables pointing at it; the notebook is then
executed with nbclient in a ``python3`` kernel of this interpreter. Add a notebook by adding
its preparer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
NOTEBOOKS = ROOT / "notebooks"


def _prepare_aia_degradation(tmp_path: Path) -> dict[str, str]:
    """The degradation series of a small synthetic SDOML store with the shipped model."""
    from lascoproc.pipeline.aia import degradation_series
    from lascoproc.testing.sdoml import write_sdoml_store

    synth = write_sdoml_store(tmp_path / "sdoml.zarr", size=64, chunks=16,
                              channels=(94, 131, 171, 193, 211, 304, 335))
    out = tmp_path / "aia_degradation.zarr"
    degradation_series(synth.url, start="2010-05-01", end="2020-12-31", cadence="60D",
                       out=str(out), truth=synth.degradation)
    return {"LASCOPROC_NOTEBOOK_DATA": str(out)}


#: notebook file name -> preparer(tmp_path) -> environment variables for the kernel
PREPARE = {
    "aia_degradation_trends.ipynb": _prepare_aia_degradation,
}


def _python3_kernel() -> str:
    """The ``python3`` kernel of this interpreter, installed into its prefix if missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix",
                        "--name", "python3"], check=True, capture_output=True)
    return "python3"


@pytest.mark.parametrize("name", sorted(PREPARE))
def test_notebook_executes(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = NOTEBOOKS / name
    assert path.is_file(), f"{path} is registered but missing"
    for key, value in PREPARE[name](tmp_path).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), \
        "commit notebooks without outputs"
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name=_python3_kernel(),
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for cell in nb.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = [o for cell in nb.cells for o in cell.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "the notebook drew nothing"


def test_every_notebook_is_executed_somewhere():
    """A notebook without a preparer here must have its own test (e.g. test_notebook_lasco)."""
    tested_elsewhere = {p.stem.removeprefix("test_notebook_")
                        for p in Path(__file__).parent.glob("test_notebook_*.py")}
    for path in NOTEBOOKS.glob("*.ipynb"):
        assert path.name in PREPARE or any(key in path.stem for key in tested_elsewhere), \
            f"{path.name} is not executed by any test"
