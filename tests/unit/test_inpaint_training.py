"""Training data, training with checkpoint/resume, export, and the inpaint CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
import xarray as xr

from lascoproc.inpaint.data import HoleSpec, LevelOneFrames, draw_holes
from lascoproc.inpaint.losses import LossWeights, feature_extractor, inpainting_loss
from lascoproc.inpaint.model import ModelConfig
from lascoproc.inpaint.training import TrainConfig, export_weights, train

TINY = ModelConfig(depth=2, width=4, max_width=8, refine=1, refine_width=4)


def tiny_config(**changes) -> TrainConfig:
    base = TrainConfig(model=TINY, steps=4, batch_size=2, tile=64,
                       holes=HoleSpec(holes=(1, 2), hole_blocks=1, hole_dilation=1))
    return TrainConfig(**{**base.as_dict(), "model": TINY, "loss": LossWeights(),
                          "holes": base.holes, **changes})


def synthetic_level1(n: int = 4, size: int = 128, seed: int = 0) -> xr.Dataset:
    """Level-1-shaped frames: a corona in MSB, an occulter (quality 2) and a lost block (1)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - size / 2
    r = np.hypot(xx, yy) + 4.0
    frames = np.stack([1e-9 * (r / 4) ** -2.5 * (1 + 0.05 * rng.standard_normal((size, size)))
                       for _ in range(n)]).astype(np.float32)
    quality = np.zeros(frames.shape, np.uint8)
    quality[:, r < 14] = 2
    quality[:, 96:128, 0:32] = 1
    frames[quality != 0] = np.nan
    return xr.Dataset({"brightness": (("time", "y", "x"), frames),
                       "quality": (("time", "y", "x"), quality),
                       "frame_status": ("time", np.zeros(n, np.uint8))},
                      coords={"time": np.arange(n).astype("datetime64[h]")
                              .astype("datetime64[ns]")},
                      attrs={"detector": "C2", "level": "1"})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from lascoproc.io.zarr_store import write_region, write_template

    path = str(tmp_path_factory.mktemp("l1") / "tiny_l1.zarr")
    cube = synthetic_level1()
    write_template(cube, path, region_frames=2)
    for start in (0, 2):
        region = slice(start, start + 2)
        write_region(cube.isel(time=region).chunk({"time": 1}), path, region).compute()
    return path


def test_frames_tiles_and_holes(store):
    frames = LevelOneFrames([store])
    assert len(frames) == 4
    y, observed = frames.frame(0)
    assert np.isnan(y[~observed]).all() and np.isfinite(y[observed]).all()
    spec = HoleSpec(holes=(3, 3), hole_blocks=1, hole_dilation=0)
    a = frames.sample_tiles(np.random.default_rng([1, 2]), 3, 64, spec)
    b = frames.sample_tiles(np.random.default_rng([1, 2]), 3, 64, spec)
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)  # a pure function of the seed
    truth, obs, holes = a
    assert not (holes & ~obs).any()  # never over the occulter or the lost block
    assert holes.any()
    # exactly on the 32-pixel grid: whole blocks only
    blocks = holes.reshape(3, 2, 32, 2, 32).transpose(0, 1, 3, 2, 4).reshape(3, 2, 2, -1)
    observed_blocks = obs.reshape(3, 2, 32, 2, 32).transpose(0, 1, 3, 2, 4).reshape(3, 2, 2, -1)
    for h, o in zip(blocks.reshape(-1, 1024), observed_blocks.reshape(-1, 1024), strict=True):
        assert not h.any() or np.array_equal(h, o)


def test_draw_holes_only_over_observed_pixels():
    observed = np.ones((128, 128), bool)
    observed[:, :64] = False
    rng = np.random.default_rng(0)
    for _ in range(20):
        holes = draw_holes(observed, rng, HoleSpec(holes=(2, 4), hole_blocks=2,
                                                   hole_dilation=2))
        assert not (holes & ~observed).any()


def test_losses_are_zero_for_a_perfect_output():
    truth = torch.rand(2, 1, 32, 32)
    known = torch.ones_like(truth)
    known[..., 8:16, 8:16] = 0
    observed = torch.ones_like(truth)
    total, terms = inpainting_loss([truth, truth], truth, known, observed,
                                   features=feature_extractor("random"))
    assert total.item() == pytest.approx(terms["tv"] * LossWeights().tv, abs=1e-6)
    assert terms["hole"] == 0.0 and terms["perceptual"] == 0.0 and terms["style"] == 0.0


@pytest.mark.slow
def test_training_runs_and_a_resumed_run_reproduces_the_uninterrupted_one(store, tmp_path):
    config = tiny_config()
    straight = train([store], tmp_path / "a.pt", config=config, device="cpu",
                     checkpoint_every=2)
    assert straight.step == 4 and straight.finished
    assert all(np.isfinite(row["total"]) for row in straight.history)
    first = train([store], tmp_path / "b.pt", config=config, device="cpu", stop_at=2)
    assert first.step == 2 and not first.finished
    resumed = train([store], tmp_path / "b.pt", config=config, device="cpu", resume=True)
    assert resumed.step == 4 and resumed.finished
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    with pytest.raises(ValueError, match="another configuration"):
        train([store], tmp_path / "b.pt", config=tiny_config(learning_rate=0.5), device="cpu",
              resume=True)


def _cli(argv):
    from lascoproc_cli import inpaint

    parser = argparse.ArgumentParser(prog="lascoproc")
    commands = parser.add_subparsers(dest="command", required=True)
    inpaint.add_parser(commands)
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_train_export_and_evaluate(store, tmp_path, capsys):
    weights = tmp_path / "tiny.pt"
    assert _cli(["inpaint", "train", store, "--checkpoint", str(tmp_path / "c.pt"),
                 "--steps", "2", "--batch-size", "2", "--tile", "64", "--depth", "2",
                 "--width", "4", "--max-width", "8", "--refine", "1", "--device", "cpu",
                 "--export", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "step 2 of 2" in out and "sha256" in out
    digest = out.split("sha256 ")[-1].split()[0]
    report = tmp_path / "eval.json"
    assert _cli(["inpaint", "evaluate", store, "--weights", str(weights), "--sha256", digest,
                 "--method", "network", "--method", "biharmonic", "--frames", "2",
                 "--device", "cpu", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("network") for line in lines)
    assert any(line.startswith("biharmonic") for line in lines)
    data = json.loads(report.read_text())
    assert data["frames"] == 2 and set(data["methods"]) == {"network", "biharmonic"}
    for scores in data["methods"].values():
        assert set(scores) == {"psnr", "ssim", "l1", "rel_l1"}
        assert 0.0 < scores["ssim"] <= 1.0
    assert data["weights"]["inpaint_weights_sha256"] == digest


def test_export_records_the_training(store, tmp_path):
    config = tiny_config(steps=1)
    train([store], tmp_path / "c.pt", config=config, device="cpu")
    digest = export_weights(tmp_path / "c.pt", tmp_path / "w.pt", name="tiny",
                            training={"evaluation": "none"})
    from lascoproc.inpaint.model_registry import read_weights

    resolved, content = read_weights(tmp_path / "w.pt", sha256=digest)
    assert resolved.name == "tiny"
    assert content["training"]["steps"] == 1
    assert content["training"]["evaluation"] == "none"
    assert "tiny_l1.zarr" in content["training"]["data"]
