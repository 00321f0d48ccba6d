"""bench/bench_inpaint.py: the CPU path runs and records; the GPU path refuses without CUDA."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture()
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_inpaint
    finally:
        sys.path.pop(0)
    return bench_inpaint


def test_the_gpu_path_says_when_there_is_no_gpu(bench, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: tests/gpu runs the GPU path")
    assert bench.main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.slow
def test_the_cpu_benchmark_records_every_method(bench, tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--frames", "2", "--repeats", "1", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert set(record["results"]) == {"network", "radial", "fuzzy", "biharmonic", "temporal",
                                      "auto"}
    assert record["lost_blocks_per_frame"] == 5 and record["load_average_before"]
    assert record["network_frame_without_holes"]["ms_cpu_per_frame"] < 5.0
