"""Inpainting on a CUDA device: skipped cleanly without one (``pytest -m gpu``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

ROOT = Path(__file__).resolve().parents[2]


def _frames(n=4, size=256, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - size / 2
    r = np.hypot(xx, yy) + 6.0
    theta = np.arctan2(yy, xx)
    frames = np.stack([1e-9 * (r / 6) ** -2.5 * (1 + 0.3 * np.cos(12 * theta))
                       * (1 + 0.02 * rng.standard_normal((size, size)))
                       for _ in range(n)]).astype(np.float32)
    missing = np.zeros(frames.shape, bool)
    for i in range(n):
        missing[i, 32 * (i + 1):32 * (i + 2), 64:96] = True
    return frames, missing, (size / 2, size / 2)


def test_gpu_fill_matches_cpu_and_keeps_observed_pixels():
    from lascoproc.inpaint import fill_frames

    frames, missing, center = _frames()
    cpu = fill_frames(frames, missing, method="network", centers=center, device="cpu")
    gpu = fill_frames(frames, missing, method="network", centers=center, device="cuda")
    np.testing.assert_array_equal(gpu[~missing], frames[~missing])
    np.testing.assert_allclose(gpu[missing], cpu[missing], rtol=1e-3)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_gpu_autocast_is_close_to_fp32(amp):
    from lascoproc.inpaint import fill_frames

    frames, missing, center = _frames()
    full = fill_frames(frames, missing, method="network", centers=center, device="cuda")
    half = fill_frames(frames, missing, method="network", centers=center, device="cuda", amp=amp)
    rel = np.abs(half[missing] / full[missing] - 1)
    assert np.median(rel) < 0.01


def test_cube_on_the_gpu_equals_the_cpu(no_compute):
    import xarray as xr

    from lascoproc.inpaint import inpaint_cube

    frames, missing, center = _frames(n=5)
    quality = missing.astype(np.uint8)
    frames[missing] = np.nan
    ds = xr.Dataset({"brightness": (("time", "y", "x"), frames),
                     "quality": (("time", "y", "x"), quality)},
                    coords={"crpix1": ("time", np.full(5, center[0] + 1)),
                            "crpix2": ("time", np.full(5, center[1] + 1))}
                    ).chunk({"time": (2, 3)})
    with no_compute():
        gpu = inpaint_cube(ds, method="network", device="cuda", batch_size=5, gpu_resource=True)
    cpu = inpaint_cube(ds, method="network", device="cpu").compute()
    gpu = gpu.compute()
    np.testing.assert_array_equal(gpu.quality.values, cpu.quality.values)
    np.testing.assert_allclose(gpu.brightness.values, cpu.brightness.values, rtol=1e-3)


def test_training_steps_on_the_gpu_with_mixed_precision(tmp_path):
    from lascoproc.inpaint.patch_training import PatchTrainConfig, train_patchnet
    from lascoproc.inpaint.patchnet import PatchNetConfig

    config = PatchTrainConfig(model=PatchNetConfig(widths=(8, 8), depth=1), steps=2,
                              batch_size=4)
    for amp in ("bf16", "fp16"):
        result = train_patchnet(tmp_path / f"{amp}.pt", config=config, device="cuda", amp=amp,
                                checkpoint_every=1, log_every=1)
        assert result["finished"] and np.isfinite(result["history"][-1]["loss"])


def test_gpu_training_script(tmp_path, capsys):
    from lascoproc.inpaint.train_gpu import main

    assert main(["--out", str(tmp_path), "--steps", "2", "--batch-size", "8",
                 "--workers", "2", "--widths", "8", "8", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and (tmp_path / "polar_residual_gpu.pt").exists()


def test_gpu_benchmark_path(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_inpaint
    finally:
        sys.path.pop(0)
    out = tmp_path / "bench.json"
    assert bench_inpaint.main(["--device", "cuda", "--frames", "2", "--repeats", "1",
                               "--methods", "network", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["device"] == "cuda" and record["results"]["network"]["ms_wall_per_frame"] > 0
