"""LASCO runs without the ml and plot extras (issue 11, packaging): a process in which torch
and matplotlib cannot be imported calibrates an archive to level 1 and ingests level 0.5."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKER = """
import importlib.abc, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        # an import fails; a probe (importlib.util.find_spec, as astropy's optional_deps does
        # for its HAS_* flags) is let through: the flag is not an import
        if sys._getframe(2).f_code.co_filename.endswith("<frozen importlib.util>"):
            return None
        if name.split('.')[0] in ('torch', 'matplotlib'):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)",
                                      name=name)
        return None

sys.meta_path.insert(0, Blocked())
from lascoproc_cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib'))
assert not heavy, heavy
sys.exit(code)
"""


def run_blocked(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER, *args], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("command", ["calibrate", "ingest"])
def test_lasco_runs_without_torch_and_matplotlib(command, lasco_archive, calib_dir, tmp_path):
    args = ["lasco", command, str(lasco_archive.root), "--detector", "c2", "--out",
            str(tmp_path / "out.zarr"), "--shape", "1024x1024"]
    if command == "calibrate":
        args += ["--calib", str(calib_dir)]
    done = run_blocked(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "frames in" in done.stdout


def test_the_network_without_torch_names_the_extra(lasco_archive, calib_dir, tmp_path):
    """--inpaint network without torch: one line naming the extra to install, no traceback."""
    done = run_blocked("lasco", "calibrate", str(lasco_archive.root), "--detector", "c2",
                       "--calib", str(calib_dir), "--out", str(tmp_path / "out.zarr"),
                       "--inpaint", "network")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "pip install 'lascoproc[ml]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_auto_without_torch_says_auto_needs_it(lasco_archive, calib_dir, tmp_path):
    """--inpaint auto without torch: the message the library gives (auto needs torch for its
    network candidate), not the bare 'torch is not installed' the command line used to put in
    its place."""
    done = run_blocked("lasco", "calibrate", str(lasco_archive.root), "--detector", "c2",
                       "--calib", str(calib_dir), "--out", str(tmp_path / "out.zarr"),
                       "--shape", "1024x1024", "--inpaint", "auto")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "method='auto' needs torch" in done.stderr, done.stderr[-2000:]
    assert "pip install 'lascoproc[ml]'" in done.stderr and "Traceback" not in done.stderr


def test_aia_train_without_torch_names_the_extra(tmp_path):
    """aia train without torch: one line naming the extra, no traceback."""
    done = run_blocked("aia", "train", str(tmp_path / "absent.zarr"), "--out",
                       str(tmp_path / "m.pt"))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "pip install 'lascoproc[ml]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_degradation_api_without_torch():
    """The V10 factor needs no torch; a network entry point says which extra it needs."""
    code = BLOCKER.split("from lascoproc_cli")[0] + """
from lascoproc.degradation import degradation
v = degradation(171, "2016-03-01", table="V10")
assert 0.5 < float(v) < 1.0, v
try:
    from lascoproc.degradation import load_model
except ImportError as err:
    assert "pip install 'lascoproc[ml]'" in str(err), err
else:
    raise AssertionError("load_model imported without torch")
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib'))
assert not heavy, heavy
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
