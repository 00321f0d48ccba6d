"""The degradation CNN on a CUDA device: training runs there and inference matches the CPU.

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
    write_sdoml_store(root, end="2012-12-31", size=64, chunks=8, channels=EUV)
    return str(root)


def test_training_runs_on_cuda(store, tmp_path):
    result = train_model(store, tmp_path / "m.pt", size=32, width=8, epochs=20,
                         device="cuda", checkpoint_seconds=1e9)
    assert result.device.startswith("cuda")
    assert result.epochs_done == 20
    assert np.isfinite(result.history[-1]["train_loss"])
    assert load_model(tmp_path / "m.pt").config.preprocessing.size == 32


def test_series_on_cuda_equals_cpu(store):
    cpu = degradation_series(store, start="2010-05-01", end="2012-12-31", cadence="30D")
    gpu = degradation_series(store, start="2010-05-01", end="2012-12-31", cadence="30D",
                             device="cuda")
    np.testing.assert_allclose(gpu.dataset["degradation"].values,
                               cpu.dataset["degradation"].values, atol=1e-4)
