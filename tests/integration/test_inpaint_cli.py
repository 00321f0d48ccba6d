"""``lascoproc inpaint evaluate``: what the command scores, and what it refuses in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from lascoproc.inpaint.scenes import SCENES_DIR
from lascoproc_cli.main import main

C2_SCENES = str(SCENES_DIR / "lasco_c2.json")


def _store(path, n=3, size=96):
    """A small level-1 store: a r^-2.5 corona, a 16-pixel lost block per frame."""
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - size / 2, yy - size / 2) + 3.0
    b = np.stack([1e-9 * r ** -2.5 * (1 + 0.01 * t) for t in range(n)]).astype(np.float32)
    q = np.zeros(b.shape, np.uint8)
    q[:, r < 12] = 2
    for t in range(n):
        q[t, 16 * t:16 * t + 16, 64:80] |= 1
    b[q != 0] = np.nan
    time = np.datetime64("2002-05-21") + np.arange(n) * np.timedelta64(12, "m")
    xr.Dataset({"brightness": (("time", "y", "x"), b), "quality": (("time", "y", "x"), q)},
               coords={"time": time, "crpix1": ("time", np.full(n, size / 2 + 1.0)),
                       "crpix2": ("time", np.full(n, size / 2 + 1.0))}).to_zarr(
                           path, zarr_format=2, consolidated=True)
    return str(path)


@pytest.mark.parametrize("extra", [[], ["--method", "radial"], ["--sequences"]])
def test_temporal_on_scenes_is_refused_in_one_line(extra, capsys):
    """It used to be dropped without a word, and every spatial method scored instead (rc 0)."""
    rc = main(["inpaint", "evaluate", "--scenes", C2_SCENES, "--method", "temporal",
               "--seed", "0", *extra])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""  # refused before any work
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (
        "lascoproc inpaint evaluate: --method temporal needs a sequence of frames with a known "
        "truth in every lost block, which --scenes (single images) does not give: score "
        "temporal with --sequences, and --scenes without it")


def test_temporal_on_a_store_is_refused_in_one_line(tmp_path, capsys):
    """It used to print a table header without rows, rc 0."""
    store = _store(tmp_path / "cube.zarr")
    rc = main(["inpaint", "evaluate", store, "--method", "temporal", "--frames", "2"])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert captured.err.strip() == (
        "lascoproc inpaint evaluate: --method temporal needs a sequence of frames with a known "
        "truth in every lost block, which the STORE evaluation (held-out frames masked one at "
        "a time) does not give: score temporal with --sequences, and the stores without it")


def test_a_store_is_scored_with_the_methods_asked_for(tmp_path, capsys):
    store = _store(tmp_path / "cube.zarr")
    out_json = tmp_path / "report.json"
    rc = main(["inpaint", "evaluate", store, "--method", "radial", "--method", "fallback",
               "--frames", "2", "--json", str(out_json)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "\nradial " in text and "\nbiharmonic " in text
    assert set(json.loads(out_json.read_text())["methods"]) == {"radial", "biharmonic"}


def test_temporal_on_sequences_is_scored(capsys):
    rc = main(["inpaint", "evaluate", "--sequences", "--sequence-size", "64",
               "--sequence-frames", "3", "--method", "temporal", "--method", "radial"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| temporal (" in text and "| radial |" in text


def test_auto_records_the_network_weights(tmp_path, capsys):
    """auto runs the network among its candidates: the report names the weights (it used to
    give 'weights: {}')."""
    from lascoproc.inpaint.model_registry import DEFAULT_WEIGHTS, REGISTRY

    store = _store(tmp_path / "cube.zarr")
    out_json = tmp_path / "report.json"
    rc = main(["inpaint", "evaluate", store, "--method", "auto", "--frames", "1", "--threads",
               "1", "--device", "cpu", "--json", str(out_json)])
    assert rc == 0
    assert "weights: {" in capsys.readouterr().out
    weights = json.loads(out_json.read_text())["weights"]
    assert weights["inpaint_weights"] == REGISTRY[DEFAULT_WEIGHTS].name
    assert weights["inpaint_weights_sha256"] == REGISTRY[DEFAULT_WEIGHTS].sha256
