"""``lascoproc aia train / evaluate / degradation`` end to end on a synthetic SDOML store."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from lascoproc.degradation.model import load_model
from lascoproc.pipeline.aia import degradation_series, run_demo
from lascoproc.testing.sdoml import write_sdoml_store
from lascoproc_cli import aia as aia_cli
from lascoproc_cli import main as cli_main

EUV = (94, 131, 171, 193, 211, 304, 335)


def run_cli(argv: list[str]) -> int:
    """``lascoproc ARGV``, with ``aia`` registered even before cli/main.py registers it."""
    parser = cli_main.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, type(parser._subparsers)) or
                    a.__class__.__name__ == "_SubParsersAction")
    if "aia" not in commands.choices:
        aia_cli.add_parser(commands)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Monthly frames 2010-05 .. 2013-12, 7 EUV channels, 64 pixels, chunks of 8 frames."""
    root = tmp_path_factory.mktemp("aia_pipeline") / "sdomlv2.zarr"
    synth = write_sdoml_store(root, end="2013-12-31", size=64, chunks=8, channels=EUV, seed=3)
    return str(root), synth


def test_help_reads_like_documentation(capsys):
    for argv in (["aia", "--help"], ["aia", "train", "--help"], ["aia", "evaluate", "--help"],
                 ["aia", "degradation", "--help"]):
        with pytest.raises(SystemExit) as exc:
            run_cli(argv)
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert len(text) > 300
    with pytest.raises(SystemExit):
        run_cli(["aia", "train", "--help"])
    text = capsys.readouterr().out
    for word in ("--max-minutes", "--single-channel", "--resume", "DEG_COR", "alpha"):
        assert word in text


def test_train_resume_evaluate_series(store, tmp_path, capsys):
    url, synth = store
    out = tmp_path / "multi.pt"
    common = ["--size", "16", "--width", "4", "--checkpoint-seconds", "1000"]
    assert run_cli(["aia", "train", url, "--out", str(out), "--epochs", "3", *common]) == 0
    assert out.is_file() and (tmp_path / "multi.pt.ckpt").is_file()
    first = load_model(out)
    assert first.training["epochs"] == 3
    assert first.training["command"].startswith(f"lascoproc aia train {url} --out {out} ")
    assert first.config.preprocessing.scaling is not None
    # resuming to 6 epochs gives the weights of an uninterrupted 6-epoch run
    assert run_cli(["aia", "train", url, "--out", str(out), "--epochs", "6", "--resume",
                    *common]) == 0
    straight = tmp_path / "straight.pt"
    assert run_cli(["aia", "train", url, "--out", str(straight), "--epochs", "6",
                    *common]) == 0
    resumed, uninterrupted = load_model(out), load_model(straight)
    assert resumed.training["epochs"] == 6
    for key, value in uninterrupted.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[key], value, rtol=1e-5,
                                   atol=1e-6)
    single = tmp_path / "single.pt"
    assert run_cli(["aia", "train", url, "--out", str(single), "--epochs", "2",
                    "--single-channel", *common]) == 0
    assert load_model(single).kind == "single"
    capsys.readouterr()

    table = tmp_path / "eval.json"
    assert run_cli(["aia", "evaluate", url, "--model", str(out), "--model", str(single),
                    "--draws", "3", "--json", str(table)]) == 0
    text = capsys.readouterr().out
    assert "| channel | multi-channel @0.05" in text and "baseline @0.05" in text
    payload = json.loads(table.read_text())
    assert payload["estimators"] == ["multi-channel", "single-channel", "baseline"]
    assert np.array(payload["success_005"]).shape == (3, 7)

    zarr_out = tmp_path / "series.zarr"
    assert run_cli(["aia", "degradation", url, "--model", str(out), "--start", "2010-05-01",
                    "--end", "2013-12-31", "--cadence", "7D", "--out", str(zarr_out)]) == 0
    series = xr.open_zarr(zarr_out)
    assert series["degradation"].dims == ("time", "channel")
    assert series["channel"].values.tolist() == list(EUV)
    for name in ("degradation_spread", "degradation_v10", "ratio_to_v10", "n_frames"):
        assert name in series
    assert series.attrs["model_sha256"] == resumed.sha256
    assert series.attrs["response_table_sha256"].startswith("0a3f2db3")
    assert series.attrs["sdoml_url"] == url
    assert "lascoproc_version" in series.attrs
    assert (tmp_path / "series.csv").is_file()
    assert (tmp_path / "series_94.png").is_file() and (tmp_path / "series.png").is_file()
    csv = (tmp_path / "series.csv").read_text().splitlines()
    assert csv[0] == ("time,channel,n_frames,degradation,degradation_spread,degradation_v10,"
                      "ratio_to_v10")
    assert len(csv) == 1 + 7 * series.sizes["time"]


def test_errors_are_one_line_value_errors(store, tmp_path):
    url, _ = store
    with pytest.raises(ValueError, match="no test frame"):
        run_cli(["aia", "train", url, "--out", str(tmp_path / "m.pt"), "--size", "16",
                 "--test-months", "8", "--holdout-months", "9", "--reference-end",
                 "2010-07-31", "--epochs", "1"])
    with pytest.raises(ValueError, match="no year group"):
        degradation_series(url, start="2019-01-01", end="2019-12-31")
    with pytest.raises(ValueError, match="not an AIA channel"):
        run_cli(["aia", "train", url, "--out", str(tmp_path / "m.pt"), "--channels", "x94"])


def test_demo_hook_writes_series_csv_and_plots(store, tmp_path):
    url, synth = store
    summary = run_demo(url, tmp_path / "demo", truth=synth.degradation)
    series = xr.open_zarr(summary["store"])
    assert "degradation_injected" in series
    assert summary["frames"] > 30 and len(summary["plots"]) == 8
    assert set(summary["max_abs_error"]) == set(EUV)
    assert (tmp_path / "demo" / "aia_degradation.csv").is_file()
