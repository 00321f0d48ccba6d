"""Synthetic training scenes, samples, training with resume, export and the training commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lascoproc.inpaint.patch_training import (
    PatchTrainConfig,
    export_patchnet,
    make_batch,
    train_patchnet,
    training_sample,
)
from lascoproc.inpaint.patchnet import PatchNetConfig
from lascoproc.inpaint.synthetic import REPRESENTATIONS, draw_scene, render_window

TINY = PatchTrainConfig(model=PatchNetConfig(widths=(4, 6), depth=1), steps=4, batch_size=3,
                        seed=3)


@pytest.mark.parametrize("seed", range(6))
def test_rendered_scenes_are_plausible(seed):
    rng = np.random.default_rng(seed)
    scene = draw_scene(rng, center=(0.0, 0.0), r_c=200.0, hole_radius=24.0)
    assert scene.representation in REPRESENTATIONS
    assert scene.r_occ < 200.0 - 24.0 < 200.0 + 24.0 < scene.r_field
    data, usable, scale = render_window(scene, rng, 176, -24, 48, 48)
    assert data.shape == usable.shape == (48, 48)
    assert np.isnan(data[~usable]).all() and np.isfinite(data[usable]).all()
    assert usable.mean() > 0.3 and scale > 0
    if scene.representation == "byte":
        assert data[usable].min() >= 1 and data[usable].max() <= 255
        np.testing.assert_array_equal(data[usable], np.rint(data[usable]))


def test_samples_are_a_function_of_the_seed_and_standardised():
    a = training_sample(np.random.default_rng([1, 2, 3]), context=24)
    b = training_sample(np.random.default_rng([1, 2, 3]), context=24)
    for key in ("image", "rows", "cols", "truth"):
        np.testing.assert_array_equal(a[key], b[key])
    image = a["image"]
    assert image.shape[0] == 5 and image.shape[1] % 4 == 0 and image.shape[2] % 4 == 0
    known = image[1] > 0
    assert abs(image[0][known].mean()) < 1e-4 and abs(image[0][known].std() - 1) < 1e-3
    # the hole pixels lie at least `context` pixels inside the patch
    assert a["rows"].min() >= 24 - 1 and a["rows"].max() <= image.shape[1] - 24
    assert np.isfinite(a["truth"]).all()


def test_training_and_resume_reproduce_the_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    full = train_patchnet(tmp_path / "full.pt", config=TINY, device="cpu")
    assert full["finished"] and full["step"] == 4
    part = train_patchnet(tmp_path / "part.pt", config=TINY, device="cpu", stop_at=2)
    assert not part["finished"] and part["step"] == 2
    rest = train_patchnet(tmp_path / "part.pt", config=TINY, device="cpu", resume=True)
    assert rest["finished"]
    a = torch.load(tmp_path / "full.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "part.pt", weights_only=True)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="another configuration"):
        train_patchnet(tmp_path / "part.pt", config=PatchTrainConfig(
            model=PatchNetConfig(widths=(4, 8), depth=1), steps=5, batch_size=3),
            device="cpu", resume=True)


def test_export_is_pinned_and_fills(tmp_path):
    from lascoproc.inpaint import fill
    from lascoproc.inpaint.model_registry import load_model

    train_patchnet(tmp_path / "c.pt", config=TINY, device="cpu")
    digest = export_patchnet(tmp_path / "c.pt", tmp_path / "w.pt", name="tiny",
                             training={"note": "test"})
    model, resolved, content = load_model(tmp_path / "w.pt", sha256=digest)
    assert resolved.sha256 == digest and content["model_kind"] == "polar_residual"
    assert content["training"]["steps"] == 4 and content["training"]["note"] == "test"
    assert model.config == TINY.model
    image = np.linspace(1.0, 2.0, 64 * 64).reshape(64, 64)
    missing = np.zeros(image.shape, bool)
    missing[16:32, 16:32] = True
    out = fill(image, missing, method="network", center=(32.0, -50.0),
               weights=tmp_path / "w.pt", sha256=digest)
    assert np.isfinite(out[missing]).all()
    np.testing.assert_array_equal(out[~missing], image[~missing])


def _two_steps_then_fill(tmp_path, model: PatchNetConfig):
    """Train ``model`` two steps, export it, and fill a 16 x 16 hole of a ramp with it:
    ``(image, missing, filled)``."""
    from lascoproc.inpaint import fill

    config = PatchTrainConfig(model=model, steps=2, batch_size=2, seed=1)
    train_patchnet(tmp_path / "c.pt", config=config, device="cpu")
    digest = export_patchnet(tmp_path / "c.pt", tmp_path / "w.pt", name="two_steps")
    image = np.linspace(1.0, 2.0, 64 * 64).reshape(64, 64)
    missing = np.zeros(image.shape, bool)
    missing[16:32, 16:32] = True
    out = fill(image, missing, method="network", center=(32.0, -50.0),
               weights=tmp_path / "w.pt", sha256=digest)
    return image, missing, out


def test_the_cartesian_prior_option_trains_and_fills(tmp_path):
    """prior="cartesian": the network corrects the frame's radial fill (tried, not shipped)."""
    from lascoproc.inpaint import fill

    sample = training_sample(np.random.default_rng([0, 0, 0]), context=24, prior="cartesian")
    assert sample["prior"].shape == sample["truth"].shape
    image, missing, out = _two_steps_then_fill(
        tmp_path, PatchNetConfig(widths=(4, 6), depth=1, prior="cartesian"))
    radial = fill(image, missing, method="radial", center=(32.0, -50.0))
    assert np.isfinite(out[missing]).all()
    # two steps barely move the zero-initialised head: close to the radial fill
    assert np.abs(out[missing] - radial[missing]).max() < 0.05


def test_make_batch_pads_holes_with_zero_weight():
    samples = [training_sample(np.random.default_rng([0, 0, k]), context=24) for k in range(2)]
    batch = make_batch(samples, torch.device("cpu"))
    n = [s["rows"].size for s in samples]
    assert batch["weight"].sum().item() == sum(n)
    assert batch["rows"].shape == (2, max(n))


def test_train_synthetic_command(tmp_path, capsys):
    from lascoproc_cli.main import main

    weights = tmp_path / "w.pt"
    assert main(["inpaint", "train-synthetic", "--checkpoint", str(tmp_path / "c.pt"),
                 "--steps", "2", "--batch-size", "2", "--widths", "4", "6", "--depth", "1",
                 "--device", "cpu", "--threads", "1", "--export", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "step 2 of 2" in out and "sha256" in out and weights.exists()


def test_the_gpu_training_script_needs_cuda(capsys):
    from lascoproc.inpaint.train_gpu import main

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: tests/gpu covers the script")
    assert main(["--out", "/nonexistent"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_the_smooth_option_trains_and_fills(tmp_path):
    """smooth=True: a sixth input channel (the smooth fill) and the prior chosen per pixel."""
    plain = training_sample(np.random.default_rng([0, 0, 0]), context=24)
    sample = training_sample(np.random.default_rng([0, 0, 0]), context=24, smooth=True)
    assert sample["image"].shape[0] == 6
    np.testing.assert_array_equal(sample["image"][:5], plain["image"])  # same draw
    assert np.isfinite(sample["image"][5]).all()
    image, missing, out = _two_steps_then_fill(
        tmp_path, PatchNetConfig(widths=(4, 6), depth=1, smooth=True))
    assert np.isfinite(out[missing]).all()
    np.testing.assert_array_equal(out[~missing], image[~missing])
    # a ramp: both priors are close to it, and so is the barely trained network
    assert np.abs(out[missing] - image[missing]).max() < 0.05


def test_validation_loss_measures_against_the_radial_prior():
    """Untrained networks (zero heads): the plain one *is* the radial prior (gain 0 dB); the
    smooth one returns the mean of the two priors, and is scored against the same radial
    prior on the same samples."""
    from lascoproc.inpaint.patch_training import validation_loss
    from lascoproc.inpaint.patchnet import PolarResidualNet

    torch.set_num_threads(1)
    plain = validation_loss(PolarResidualNet(), batches=1, batch_size=4)
    assert plain["mse_network"] == plain["mse_prior"] == plain["mse_radial"]
    assert plain["gain_db"] == 0.0
    smooth = validation_loss(PolarResidualNet(PatchNetConfig(smooth=True)), batches=1,
                             batch_size=4)
    assert smooth["mse_radial"] == pytest.approx(plain["mse_radial"], rel=1e-6)
    assert smooth["mse_network"] == smooth["mse_prior"] != smooth["mse_radial"]
