"""The issue's acceptance run (slow): default training through the CLI on a held-out member.

``heldout-1`` of the synthetic family (:mod:`lascoproc.testing.sdoml_family`: weekly frames,
256x256, the corona's temperature spread 0.05 dex, bipolar active regions following the cycle,
a power-law corona, flares; never used while the method was developed) is written, then

    lascoproc aia train STORE --out M.pt --max-minutes 10          (nothing else: the defaults)
    lascoproc aia degradation STORE --model M.pt --cadence 60D --out S.zarr --truth-member ...

must recover the injected degradation within 0.05 in at least 90 % of the (60-day bin,
channel) pairs over 2010-2020 (the issue's target), with uncertainties that cover the truth
in most bins. The training stops on the clock: on a machine much slower or busier than the
2-core one the figures were measured on (docs/aia_degradation.md) it does fewer steps; the
model file records how many.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lascoproc.degradation.model import load_model
from lascoproc.testing.sdoml_family import member
from tests.integration.test_aia_pipeline import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

MEMBER = "heldout-1"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("aia_recovery")
    synth = member(MEMBER).write(work / "sdoml.zarr")
    model = work / "model.pt"
    assert run_cli(["aia", "train", synth.url, "--out", str(model), "--max-minutes",
                    "10"]) == 0
    return work, synth, model


def test_defaults_are_the_fast_preset_and_record_the_run(trained):
    _, _, model = trained
    loaded = load_model(model)
    assert loaded.config.preset == "fast"
    assert loaded.training["steps"] > 0 and loaded.training["seconds"] <= 10 * 60 + 5


def test_recovers_the_injected_degradation_on_a_heldout_member(trained):
    work, synth, model = trained
    out = work / "series.zarr"
    assert run_cli(["aia", "degradation", synth.url, "--model", str(model), "--start",
                    "2010-05-13", "--end", "2020-12-31T23:59:59", "--cadence", "60D",
                    "--out", str(out), "--truth-member", MEMBER]) == 0
    series = xr.open_zarr(out).load()
    error = np.abs(series["degradation"] - series["degradation_injected"])
    share = float((error < 0.05).mean())
    worst = dict(zip(series["channel"].values.tolist(),
                     error.max("time").values.round(3).tolist(), strict=True))
    assert share >= 0.9, f"{100 * share:.1f}% of bins within 0.05; worst per channel {worst}"
    covered = float((error <= 2 * series["degradation_uncertainty"]).mean())
    assert covered >= 0.8, f"only {100 * covered:.0f}% of bins within 2 sigma"
