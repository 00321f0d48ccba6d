"""The package layout the design card asks for, and its one-way imports."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "lascoproc").rglob("__init__.py")
    }
    assert found <= listed, f"add to pyproject's packages: {sorted(found - listed)}"
    assert "lascoproc_cli" in listed


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_kernels_import_no_xarray_dask_fsspec():
    for path in (ROOT / "lascoproc" / "kernels").rglob("*.py"):
        bad = {n for n in imports_of(path)
               if n.split(".")[0] in {"xarray", "dask", "fsspec", "zarr", "distributed"}}
        assert not bad, f"{path.name} imports {bad}"


def test_only_io_touches_fsspec_fits_and_zarr():
    allowed = {"io", "testing"}
    for path in (ROOT / "lascoproc").rglob("*.py"):
        sub = path.relative_to(ROOT / "lascoproc").parts[0]
        if sub in allowed:
            continue
        names = imports_of(path)
        bad = {n for n in names if n.split(".")[0] in {"fsspec", "zarr", "s3fs", "gcsfs"}
               or n.startswith("astropy.io.fits")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_heavy_optional_dependencies_only_in_their_subpackage():
    owners = {"dask_kubernetes": "cluster", "dask_jobqueue": "cluster", "torch": None}
    for path in (ROOT / "lascoproc").rglob("*.py"):
        sub = path.relative_to(ROOT / "lascoproc").parts[0]
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in ("dask_kubernetes", "dask_jobqueue"):
                assert sub == owners[top], f"{path} imports {top}"
            if top == "torch":
                assert sub in {"inpaint", "degradation"}, f"{path} imports torch"
