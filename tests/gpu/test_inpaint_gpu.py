"""Inpainting on a CUDA device: skipped cleanly without one (``pytest -m gpu``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _frames(n=4, size=256, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - size / 2
    r = np.hypot(xx, yy) + 6.0
    frames = np.stack([1e-9 * (r / 6) ** -2.5 * (1 + 0.02 * rng.standard_normal((size, size)))
                       for _ in range(n)]).astype(np.float32)
    missing = np.zeros(frames.shape, bool)
    for i in range(n):
        missing[i, 32 * (i + 1):32 * (i + 2), 64:96] = True
    return frames, missing


def test_gpu_fill_matches_cpu_and_keeps_observed_pixels():
    from lascoproc.inpaint import fill_frames

    frames, missing = _frames()
    cpu = fill_frames(frames, missing, device="cpu")
    gpu = fill_frames(frames, missing, device="cuda", batch_size=4)
    np.testing.assert_array_equal(gpu[~missing], frames[~missing])
    np.testing.assert_allclose(gpu[missing], cpu[missing], rtol=1e-3)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_gpu_autocast_is_close_to_fp32(amp):
    from lascoproc.inpaint.inference import predict
    from lascoproc.inpaint.model_registry import load_model

    model, _, _ = load_model(device="cuda")
    rng = np.random.default_rng(1)
    y = rng.random((8, 256, 256)).astype(np.float32)
    known = rng.random((8, 256, 256)) > 0.05
    full, _ = predict(model, y, known, device="cuda", batch_size=8)
    half, _ = predict(model, y, known, device="cuda", batch_size=8, amp=amp)
    assert half.dtype == np.float32
    assert np.abs(half - full).mean() < 0.02


def test_auto_batch_size_uses_the_free_gpu_memory():
    from lascoproc.inpaint.inference import auto_batch_size
    from lascoproc.inpaint.model_registry import load_model

    model, _, _ = load_model(device="cuda")
    assert 1 <= auto_batch_size(model, (1024, 1024), "cuda") <= 64


def test_cube_on_the_gpu_equals_the_cpu(no_compute):
    import xarray as xr

    from lascoproc.inpaint import inpaint_cube

    frames, missing = _frames(n=5)
    quality = missing.astype(np.uint8)
    frames[missing] = np.nan
    ds = xr.Dataset({"brightness": (("time", "y", "x"), frames),
                     "quality": (("time", "y", "x"), quality)}).chunk({"time": (2, 3)})
    with no_compute():
        gpu = inpaint_cube(ds, device="cuda", batch_size=5, gpu_resource=True)
    cpu = inpaint_cube(ds, device="cpu").compute()
    gpu = gpu.compute()
    np.testing.assert_array_equal(gpu.quality.values, cpu.quality.values)
    np.testing.assert_allclose(gpu.brightness.values, cpu.brightness.values, rtol=1e-3)


def test_training_steps_on_the_gpu_with_mixed_precision(tmp_path):
    import xarray as xr

    from lascoproc.inpaint.model import ModelConfig
    from lascoproc.inpaint.training import TrainConfig, train

    frames, missing = _frames(n=3, size=128)
    ds = xr.Dataset({"brightness": (("time", "y", "x"), np.where(missing, np.nan, frames)),
                     "quality": (("time", "y", "x"), missing.astype(np.uint8))})
    for amp in ("bf16", "fp16"):
        config = TrainConfig(model=ModelConfig(depth=2, width=4, max_width=8, refine=1),
                             steps=2, batch_size=2, tile=64, amp=amp)
        result = train([ds], tmp_path / f"{amp}.pt", config=config, device="cuda",
                       checkpoint_every=1)
        assert result.finished and np.isfinite(result.history[-1]["total"])
