"""Synthetic level-1 sequences (lascoproc.testing.sequences) and their evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from lascoproc.testing.sequences import SequenceSpec, make_sequence


@pytest.fixture(scope="module")
def c2():
    return make_sequence(SequenceSpec(detector="C2", frames=4, size=128, cmes=1, seed=3,
                                      missing_blocks=(2, 3)))


def test_a_sequence_is_a_level1_cube(c2):
    cube = c2.cube
    assert cube.brightness.shape == (4, 128, 128) and cube.brightness.dtype == np.float32
    q = cube.quality.values
    b = cube.brightness.values
    assert np.isnan(b[q != 0]).all() and np.isfinite(b[q == 0]).all()
    assert ((q & 1) != 0).any() and ((q & 2) != 0).any()
    np.testing.assert_array_equal(c2.lost, (q & 1) != 0)
    # lost blocks are 4 x 4 (32 px of a 1024 frame), 2-3 per frame, inside the field
    assert all(2 * 16 <= c2.lost[i].sum() <= 3 * 16 for i in range(4))
    np.testing.assert_array_equal(np.diff(cube.time.values).astype("timedelta64[m]"),
                                  np.full(3, 12, "timedelta64[m]"))
    for name in ("crpix1", "crpix2", "filter", "polarizer", "detector", "cdelt", "rsun"):
        assert cube[name].dims == ("time",)
    # the truth is the cube where observed; the noise-free brightness is close to it
    field = np.isfinite(c2.truth)
    np.testing.assert_array_equal(b[q == 0], c2.truth[q == 0])
    rel = np.abs(c2.truth[field] / c2.clean[field] - 1)
    assert 0.0 < np.median(rel) < 0.05


def test_sequences_are_reproducible_and_differ_by_seed():
    a = make_sequence(SequenceSpec(frames=2, size=64, seed=1))
    b = make_sequence(SequenceSpec(frames=2, size=64, seed=1))
    c = make_sequence(SequenceSpec(frames=2, size=64, seed=2))
    np.testing.assert_array_equal(a.truth, b.truth)
    assert not np.array_equal(np.nan_to_num(a.truth), np.nan_to_num(c.truth))
    with pytest.raises(ValueError, match="C2 or C3"):
        SequenceSpec(detector="C1")


def test_evaluate_sequences_reports_every_method_and_the_noise_free_reference():
    from lascoproc.inpaint.evaluate import evaluate_sequences

    seq = make_sequence(SequenceSpec(detector="C3", frames=4, size=128, cmes=1, seed=5,
                                     missing_blocks=(2, 3)))
    report = evaluate_sequences([("C3 12 min", seq)],
                                methods=["radial", "biharmonic", "temporal"])
    scores = report.scores["C3 12 min"]
    assert list(scores) == ["radial", "biharmonic", "temporal", "noise-free truth"]
    assert 0.0 < scores["temporal"]["temporal_share"] <= 1.0
    # nothing beats the noise-free brightness by much: it is the reference
    assert scores["noise-free truth"]["psnr"] > max(scores[m]["psnr"]
                                                    for m in ("radial", "biharmonic"))
    assert "| C3 12 min | temporal (" in report.table()


def test_the_sequences_command(capsys):
    from lascoproc_cli.main import main

    assert main(["inpaint", "evaluate", "--sequences", "--sequence-size", "64",
                 "--sequence-frames", "3", "--method", "radial", "--method", "temporal"]) == 0
    out = capsys.readouterr().out
    for name in ("C3 12 min", "C2 12 min", "C2 24 min"):
        assert f"| {name} | radial |" in out and f"| {name} | temporal (" in out
