"""The issue's acceptance run (slow): train with the real CLI, then recover the injected curves.

On the synthetic SDOML store of the issue (512x512, 30-day cadence, 2010-05 .. 2020-12, seven
EUV channels) the multi- and single-channel CNNs are trained by ``lascoproc aia train`` for
``TRAIN_MINUTES`` each on the store's own reference period (2010-05-13 .. 2012-05-12), then

- ``lascoproc aia degradation`` must recover the injected degradation within 0.05 at every
  7-day bin holding a frame, for every channel, with the multi-channel model;
- ``lascoproc aia evaluate`` must rank multi-channel > single-channel > baseline by the mean
  success rate at 0.05.

Both claims are marked ``xfail(strict=True)`` with the measured reason (docs/aia_degradation.md,
"What the synthetic archive allows"): the synthetic Sun brightens with the solar cycle by far
more than 5 % relative to the reference years (94 A: -34 % .. +56 % in the quiet-Sun median),
which no model calibrated on the reference years can tell from degradation, and the reference
period holds 13 monthly training frames, too few for the CNN to beat the quiet-Sun baseline.
If a change makes either claim hold, the strict xfail fails: remove the mark.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lascoproc.testing.sdoml import write_sdoml_store
from tests.integration.test_aia_pipeline import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

EUV = (94, 131, 171, 193, 211, 304, 335)
TRAIN_MINUTES = "10"
TRAIN = ["--size", "64", "--transform", "log", "--flips", "--max-minutes", TRAIN_MINUTES]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("aia_recovery")
    synth = write_sdoml_store(work / "sdoml.zarr", size=512, channels=EUV)
    multi, single = work / "multi.pt", work / "single.pt"
    assert run_cli(["aia", "train", synth.url, "--out", str(multi), *TRAIN]) == 0
    assert run_cli(["aia", "train", synth.url, "--out", str(single), "--single-channel",
                    *TRAIN]) == 0
    return work, synth, multi, single


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="solar-cycle brightening of the synthetic Sun is indistinguishable "
                          "from degradation for a model of the reference years")
def test_recovers_injected_degradation_within_005(trained):
    work, synth, multi, _ = trained
    out = work / "series.zarr"
    assert run_cli(["aia", "degradation", synth.url, "--model", str(multi), "--start",
                    "2010-05-01", "--end", "2020-12-31", "--cadence", "7D",
                    "--out", str(out)]) == 0
    series = xr.open_zarr(out).load()
    injected = np.stack([synth.degradation(c, series["time"].values) for c in EUV], axis=1)
    error = np.abs(series["degradation"].values - injected)
    worst = dict(zip(EUV, error.max(axis=0).round(3), strict=True))
    assert error.max() < 0.05, f"max |estimate - injected| per channel: {worst}"


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="13 monthly training frames: the CNNs do not beat the quiet-Sun "
                          "baseline on this store")
def test_evaluation_ranks_multi_over_single_over_baseline(trained, tmp_path):
    import json

    work, synth, multi, single = trained
    table = tmp_path / "eval.json"
    assert run_cli(["aia", "evaluate", synth.url, "--model", str(multi), "--model",
                    str(single), "--json", str(table)]) == 0
    result = json.loads(table.read_text())
    mean = np.mean(result["success_005"], axis=1)
    ranks = dict(zip(result["estimators"], mean.round(3), strict=True))
    assert mean[0] > mean[1] > mean[2], f"mean success at 0.05: {ranks}"
