"""The fault-injection campaign (bench/bench_faults.py) at a small size: every scenario twice,
each ending identical to the clean run with no frame lost (slow: minutes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_campaign_loses_no_frame(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("bench.bench_faults", None)
    from bench.bench_faults import main

    out = tmp_path / "faults.json"
    assert main(["--repeat", "2", "--frames", "6", "--workdir", str(tmp_path / "work"),
                 "--out", str(out)]) == 0
    totals = json.loads(out.read_text())["totals"]
    assert set(totals) == {"http", "client-kill", "worker-kill", "enospc", "two-writers"}
    for name, total in totals.items():
        assert total["frames_lost"] == 0 and total["identical"] == total["repetitions"], name
    assert totals["http"]["faults_injected"] > 0 and totals["client-kill"]["kills"] > 0
