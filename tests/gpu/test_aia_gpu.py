"""The degradation networks on a CUDA device: training there, the paper preset by default,
inference equal to the CPU's.

Skipped cleanly without CUDA (``-m gpu`` selects these tests).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lascoproc.degradation.model import load_model
from lascoproc.pipeline.aia import degradation_series, train_model
from lascoproc.testing.sdoml import write_sdoml_store

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

EUV = (94, 131, 171, 193, 211, 304, 335)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("aia_gpu") / "sdomlv2.zarr"
    write_sdoml_store(root, start="2010-01-01", end="2013-12-31", cadence="7D", size=64,
                      chunks=8, channels=EUV)
    return str(root)


def test_without_a_preset_a_gpu_trains_the_paper_recipe(store, tmp_path):
    result = train_model(store, tmp_path / "paper.pt", device="cuda", epochs=2, size=64,
                         checkpoint_seconds=1e9)
    assert result.device.startswith("cuda") and result.epochs_done == 2
    model = load_model(tmp_path / "paper.pt")
    assert model.config.preset == "paper" and "GPU" in model.training["preset_reason"]
    assert np.isfinite(result.history[-1]["train_loss"])


def test_fast_preset_trains_on_cuda(store, tmp_path):
    result = train_model(store, tmp_path / "fast.pt", preset="fast", device="cuda", epochs=5,
                         checkpoint_seconds=1e9)
    assert result.device.startswith("cuda") and result.steps > 0


def test_series_on_cuda_equals_cpu(store, tmp_path):
    train_model(store, tmp_path / "m.pt", preset="fast", device="cuda", epochs=3,
                checkpoint_seconds=1e9)
    kwargs = dict(model=tmp_path / "m.pt", start="2010-05-01", end="2013-12-31",
                  cadence="60D")
    cpu = degradation_series(store, **kwargs)
    gpu = degradation_series(store, device="cuda", **kwargs)
    np.testing.assert_allclose(gpu.dataset["degradation"].values,
                               cpu.dataset["degradation"].values, atol=1e-4)
