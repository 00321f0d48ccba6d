"""The real-scene protocol (tests/data/scenes), the scene evaluation and its command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lascoproc.inpaint import scenes as sc

C3 = "c3_helioviewer_2023-12-01"
COR1 = "stereo_cor1_20090615_000500_s4c1A"
KCOR = "mlso_kcor_20181209_180305_l1.5_rebinned"


@pytest.fixture(scope="module")
def shared():
    return {s.name: s for s in sc.load_scenes()}


def test_the_shared_scenes_are_in_the_repository(shared):
    assert set(shared) == {C3, COR1, KCOR}
    c3, cor1, kcor = shared[C3], shared[COR1], shared[KCOR]
    assert c3.image.shape == (1024, 1024) and c3.image.dtype == np.uint8
    assert cor1.image.shape == (512, 512) and cor1.image.dtype == np.uint16
    assert kcor.image.shape == (128, 128) and kcor.image.dtype == np.float64
    assert c3.center == (518.2, 490.5) and c3.annulus == (150.0, 420.0) and c3.block == 32
    assert cor1.block == 32 and kcor.block == 4
    # no data: Helioviewer's black, K-Cor's -2e-8 fill value
    assert not c3.valid[490, 518] and not kcor.valid[63, 63] and kcor.valid[63, 95]
    assert cor1.valid.all()


@pytest.mark.parametrize("name, expected", [(C3, 381), (COR1, 74), (KCOR, 348)])
def test_candidate_blocks_lie_whole_in_the_annulus(shared, name, expected):
    scene = shared[name]
    candidates = sc.candidate_blocks(scene)
    assert len(candidates) == expected
    r = scene.radius()
    b = scene.block
    for j, i in candidates:
        block = np.s_[j * b:(j + 1) * b, i * b:(i + 1) * b]
        assert scene.valid[block].all()
        assert r[block].min() >= scene.annulus[0] and r[block].max() <= scene.annulus[1]


def test_protocol_holes_are_fixed_by_the_seed(shared):
    scene = shared[COR1]
    a = sc.protocol_holes(scene, 0)
    assert a.sum() == 24 * 32 * 32
    np.testing.assert_array_equal(a, sc.protocol_holes(scene, 0))
    assert not np.array_equal(a, sc.protocol_holes(scene, 1))
    with pytest.raises(ValueError, match="only 74 blocks"):
        sc.protocol_holes(scene, 0, blocks=75)


def test_score_hand_values():
    truth = np.array([[0.0, 10.0], [20.0, 30.0]])
    filled = np.array([[0.0, 12.0], [20.0, 26.0]])
    holes = np.array([[False, True], [False, True]])
    s = sc.score(filled, truth, holes, 30.0)
    # errors 2 and -4: MSE 10, PSNR 10 log10(900 / 10); L1 3 / 30
    assert s["psnr"] == pytest.approx(10 * np.log10(90.0))
    assert s["l1"] == pytest.approx(0.1)


def test_evaluate_scenes_and_the_command(shared, tmp_path, capsys):
    from lascoproc.inpaint.evaluate import evaluate_scenes

    report = evaluate_scenes([shared[KCOR]], methods=["radial", "biharmonic", "network"],
                             seeds=(0,))
    scores = report.scores[KCOR]
    assert set(scores) == {"radial", "biharmonic", "network", "smoothed truth (reference)"}
    for s in scores.values():
        assert 20.0 < s["psnr"] < 60.0 and 0.0 < s["ssim"] <= 1.0 and s["l1"] > 0.0
    assert report.scenes[KCOR]["hole_pixels"] == 24 * 16
    report.plot(tmp_path / "examples.png")
    assert (tmp_path / "examples.png").stat().st_size > 1000

    from lascoproc_cli.main import main

    out_json = tmp_path / "scenes.json"
    assert main(["inpaint", "evaluate", "--scenes", "--scene", KCOR, "--method", "radial",
                 "--method", "fuzzy", "--seed", "0", "--json", str(out_json),
                 "--png", str(tmp_path / "cli.png")]) == 0
    text = capsys.readouterr().out
    assert f"| {KCOR} | radial |" in text and f"| {KCOR} | fuzzy |" in text
    data = json.loads(out_json.read_text())
    assert set(data["scores"][KCOR]) == {"radial", "fuzzy", "smoothed truth (reference)"}
    assert (tmp_path / "cli.png").exists()


def test_the_held_out_lasco_c2_level1_scene():
    """NRL's level-1 C2 frame 25299383 (sunpy's 128 x 128 rebinned copy): a fourth real scene,
    in its own manifest, never used to develop a fill. Its occulter holds the frame's minimum,
    -7.71e-9 MSB, in 784 pixels: not data."""
    (c2,) = sc.load_scenes(sc.SCENES_DIR / "lasco_c2.json")
    assert c2.image.shape == (128, 128) and c2.image.dtype == np.float64
    assert c2.center == (63.5, 63.5) and c2.annulus == (30.0, 53.1) and c2.block == 4
    assert (~c2.valid).sum() == 784 and not c2.valid[63, 72] and c2.valid[63, 95]
    assert len(sc.candidate_blocks(c2)) == 308


def test_the_held_out_lasco_c3_2013_scene():
    """A second real LASCO C3 scene, held out: sunpy's Helioviewer JP2 of 2013-05-13 16:54 UTC
    (a CME in the field), decoded to 102 x 102 bytes; 0 = no data (occulter, pylon, corners).
    Its centre is the JP2 header's, scaled, within 0.2 px of the occulter's centroid."""
    (c3,) = sc.load_scenes(sc.SCENES_DIR / "lasco_c3_2013.json")
    assert c3.image.shape == (102, 102) and c3.image.dtype == np.uint8
    assert c3.center == (51.17, 48.41) and c3.annulus == (14.94, 41.84) and c3.block == 4
    assert (~c3.valid).sum() == 2028 and not c3.valid[48, 51] and c3.valid[48, 80]
    occulter = (c3.image == 0) & (np.hypot(*np.mgrid[:102, :102][::-1] -
                                           np.array([51, 49])[:, None, None]) < 15)
    rows, cols = np.nonzero(occulter)
    assert abs(cols.mean() - 51.17) < 0.2 and abs(rows.mean() - 48.41) < 0.2
    assert len(sc.candidate_blocks(c3)) == 255


def test_no_method_to_score_is_refused(shared):
    """An empty list used to mean every spatial method (scenes, sequences) or an empty table
    (stores), without a word."""
    from lascoproc.inpaint.evaluate import evaluate, evaluate_scenes, evaluate_sequences

    message = "methods is empty: name at least one method to score"
    with pytest.raises(ValueError, match=message):
        evaluate_scenes([shared[KCOR]], methods=[], seeds=(0,))
    with pytest.raises(ValueError, match=message):
        evaluate_sequences([], methods=[])
    with pytest.raises(ValueError, match=message):
        evaluate(["no-such-store.zarr"], methods=())
    with pytest.raises(ValueError, match="'temporal' needs a sequence of frames"):
        evaluate_scenes([shared[KCOR]], methods=["temporal"], seeds=(0,))


def test_scenes_and_sequences_record_the_weights_auto_may_run(shared):
    from lascoproc.inpaint.evaluate import evaluate_scenes, evaluate_sequences
    from lascoproc.inpaint.model_registry import DEFAULT_WEIGHTS, REGISTRY

    sha256 = REGISTRY[DEFAULT_WEIGHTS].sha256
    report = evaluate_scenes([shared[KCOR]], methods=["auto"], seeds=(0,), examples=0)
    assert report.weights["inpaint_weights_sha256"] == sha256
    assert evaluate_sequences([], methods=["temporal"], spatial="auto").weights[
        "inpaint_weights_sha256"] == sha256
    assert evaluate_sequences([], methods=["radial"], spatial="auto").weights == {}
    with pytest.raises(ValueError, match="spatial must be one of"):
        evaluate_sequences([], methods=["temporal"], spatial="temporal")


@pytest.mark.parametrize("center, annulus", [((8.0, 8.0), (100.0, 200.0)),
                                             ((float("nan"), 8.0), (2.0, 6.0))])
def test_a_scene_with_no_data_in_its_annulus_is_refused_in_one_line(center, annulus):
    """It used to fail with 'zero-size array to reduction operation maximum ...'."""
    image = np.arange(256.0).reshape(16, 16)
    scene = sc.Scene(name="empty", image=image, valid=np.ones(image.shape, bool),
                     center=center, annulus=annulus, block=4)
    with pytest.raises(ValueError, match=r"^scene empty: no data pixel lies in the annulus "
                       + rf"\({annulus[0]}, {annulus[1]}\) around the centre "):
        scene.data_range()
    from lascoproc.inpaint.evaluate import evaluate_scenes

    with pytest.raises(ValueError, match="scene empty: no data pixel lies in the annulus"):
        evaluate_scenes([scene], methods=["biharmonic"], seeds=(0,))
    # with data: the pixels at r = 2 from (x, y) = (8, 8) are (8, 6), (8, 10), (6, 8), (10, 8),
    # whose values 16 y + x are 104, 168, 134, 138
    ok = sc.Scene(name="ok", image=image, valid=np.ones(image.shape, bool), center=(8.0, 8.0),
                  annulus=(2.0, 2.0), block=4)
    assert ok.data_range() == 168.0 - 104.0
