"""``lascoproc aia index / train / evaluate / degradation`` end to end on synthetic SDOML stores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from lascoproc.degradation.model import load_model
from lascoproc.pipeline.aia import degradation_series, run_demo
from lascoproc.testing.sdoml import write_sdoml_store
from lascoproc_cli import aia as aia_cli
from lascoproc_cli import main as cli_main

EUV = (94, 131, 171, 193, 211, 304, 335)
SMALL = ["--size", "16", "--width", "4", "--checkpoint-seconds", "1000"]


def run_cli(argv: list[str]) -> int:
    """``lascoproc ARGV``, with ``aia`` registered even before cli/main.py registers it."""
    parser = cli_main.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, type(parser._subparsers)) or
                    a.__class__.__name__ == "_SubParsersAction")
    if "aia" not in commands.choices:
        aia_cli.add_parser(commands)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LASCOPROC_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Monthly frames 2010-05 .. 2013-12, 7 EUV channels, 32 pixels, chunks of 8 frames."""
    root = tmp_path_factory.mktemp("aia_pipeline") / "sdomlv2.zarr"
    synth = write_sdoml_store(root, end="2013-12-31", size=32, chunks=8, channels=EUV, seed=3)
    return str(root), synth


@pytest.fixture(scope="module")
def model(store, tmp_path_factory):
    """A model trained for 3 epochs with the defaults but for its size (the fast preset)."""
    url, _ = store
    out = tmp_path_factory.mktemp("aia_model") / "m.pt"
    assert run_cli(["aia", "train", url, "--out", str(out), "--epochs", "3", *SMALL]) == 0
    return out


def test_help_reads_like_documentation(capsys):
    for argv in (["aia", "--help"], ["aia", "index", "--help"], ["aia", "train", "--help"],
                 ["aia", "evaluate", "--help"], ["aia", "degradation", "--help"]):
        with pytest.raises(SystemExit) as exc:
            run_cli(argv)
        assert exc.value.code == 0
        assert len(capsys.readouterr().out) > 300
    with pytest.raises(SystemExit):
        run_cli(["aia", "train", "--help"])
    text = capsys.readouterr().out
    for word in ("--max-minutes", "--preset", "--resume", "DEG_COR", "--scheduler",
                 "--cluster-backend", "paper"):
        assert word in text
    with pytest.raises(SystemExit):
        run_cli(["aia", "degradation", "--help"])
    text = capsys.readouterr().out
    for word in ("--resume", "--overwrite", "--out-storage-option", "--workers"):
        assert word in text


def test_index_command_writes_an_index_the_opener_uses(store, tmp_path, capsys, monkeypatch):
    from lascoproc.io import sdoml_index
    from lascoproc.io.sdoml import open_sdoml

    url, _ = store
    where = tmp_path / "idx"
    assert run_cli(["aia", "index", url, "--out", str(where)]) == 0
    assert f"in 28 arrays indexed in {where}" in capsys.readouterr().out  # 4 years x 7

    def refuse(*args, **kwargs):
        raise AssertionError("the attributes were parsed")

    monkeypatch.setattr(sdoml_index, "build_array_index", refuse)
    ds = open_sdoml(url, channels=EUV, index=str(where))
    assert ds.sizes["time"] > 30


def test_defaults_train_the_fast_preset_and_resume_exactly(store, model, tmp_path, capsys):
    url, _ = store
    first = load_model(model)
    assert first.config.preset == "fast" and first.kind == "level"
    record = first.training
    assert record["preset"] == "fast" and "CPU" in record["preset_reason"]
    assert record["epochs"] == 3 and record["steps"] > 0
    assert record["command"].startswith("lascoproc aia train")
    calibration = record["calibration"]
    assert len(calibration["rel_rms"]) == 7 and calibration["samples"] > 0
    # resuming 3 -> 6 epochs gives the weights of an uninterrupted 6-epoch run (a constant
    # learning rate: the cosine schedule's depends on the planned length)
    out = tmp_path / "m.pt"
    constant = [*SMALL, "--lr-schedule", "constant"]
    assert run_cli(["aia", "train", url, "--out", str(out), "--epochs", "3", *constant]) == 0
    said = capsys.readouterr()
    assert "preset fast: no --preset: the fast recipe on the CPU" in said.err
    assert "preset fast, 3 epochs" in said.out
    assert run_cli(["aia", "train", url, "--out", str(out), "--epochs", "6", "--resume",
                    *constant]) == 0
    straight = tmp_path / "straight.pt"
    assert run_cli(["aia", "train", url, "--out", str(straight), "--epochs", "6",
                    *constant]) == 0
    resumed, uninterrupted = load_model(out), load_model(straight)
    assert resumed.training["epochs"] == 6
    for key, value in uninterrupted.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[key], value, rtol=1e-5,
                                   atol=1e-6)


def test_paper_preset_runs_on_the_cpu(store, tmp_path):
    """The paper's recipe (Autocalibration6, decimation, 2010-2013 at 00/06/12/18 UT, months
    1-7 / 8-10 / 11-12) for one epoch on the CPU, at 32x32 so that it takes seconds."""
    url, _ = store
    out = tmp_path / "paper.pt"
    assert run_cli(["aia", "train", url, "--out", str(out), "--preset", "paper", "--size",
                    "32", "--epochs", "1", "--checkpoint-seconds", "1000"]) == 0
    paper = load_model(out)
    assert paper.config.preset == "paper" and paper.training["preset_reason"] == \
        "--preset paper"
    arch = paper.config.architecture
    assert (arch.kind, arch.width, arch.pool, arch.padding) == ("multi", 64, 3, "valid")
    assert paper.config.preprocessing.resample == "decimate"
    assert paper.config.split.test_months == (8, 9, 10)
    assert paper.config.series.days == (1, 8, 15, 22, 29)
    series = degradation_series(url, model=out, start="2010-05-01", end="2013-12-31")
    assert series.dataset.attrs["cadence"] == "MS"
    v10 = series.dataset["degradation_v10"].values
    np.testing.assert_allclose(v10[0], 1.0)  # normalised to its first value


def test_evaluate_models_and_baseline(store, model, tmp_path, capsys):
    url, _ = store
    table = tmp_path / "eval.json"
    assert run_cli(["aia", "evaluate", url, "--model", str(model), "--draws", "3", "--json",
                    str(table)]) == 0
    text = capsys.readouterr().out
    assert "| channel | level @0.05" in text and "baseline @0.05" in text
    payload = json.loads(table.read_text())
    assert payload["estimators"] == ["level", "baseline"]
    assert np.array(payload["success_005"]).shape == (2, 7)


def test_series_files_refusal_and_resume(store, model, tmp_path, capsys):
    url, synth = store
    out = tmp_path / "series.zarr"
    argv = ["aia", "degradation", url, "--model", str(model), "--start", "2010-05-01",
            "--end", "2013-12-31", "--cadence", "60D", "--out", str(out)]
    assert run_cli(argv) == 0
    series = xr.open_zarr(out)
    assert series["degradation"].dims == ("time", "channel")
    assert series["channel"].values.tolist() == list(EUV)
    for name in ("degradation_uncertainty", "degradation_spread", "degradation_v10",
                 "ratio_to_v10", "n_frames", "n_left_out"):
        assert name in series
    assert (series["degradation_uncertainty"] > 0).all()
    assert series.attrs["model_sha256"] == load_model(model).sha256
    assert series.attrs["response_table_sha256"].startswith("0a3f2db3")
    frames = xr.open_zarr(tmp_path / "series_frames.zarr")
    assert frames.sizes["time"] == int(series["n_frames"].sum())
    # both stores say what they hold and what made them; the series' bins are written
    assert frames.attrs["model_sha256"] == series.attrs["model_sha256"]
    assert frames.attrs["lascoproc_version"] and frames.attrs["title"]
    for ds in (series, frames):
        bare = [n for n, v in ds.variables.items() if "long_name" not in v.attrs]
        assert bare == [], bare
    assert (series["time_bin_start"].values < series["time"].values).all()
    assert (series["time_bin_end"].values > series["time"].values).all()
    csv = (tmp_path / "series.csv").read_text().splitlines()
    assert csv[0] == ("time,channel,n_frames,degradation,degradation_uncertainty,"
                      "degradation_spread,degradation_v10,ratio_to_v10")
    assert len(csv) == 1 + 7 * series.sizes["time"]
    assert (tmp_path / "series_94.png").is_file() and (tmp_path / "series.png").is_file()
    # an existing OUT is refused without --overwrite or --resume
    with pytest.raises(FileExistsError, match="--resume"):
        run_cli(argv)
    # --resume after a complete run rewrites nothing and gives the same series
    assert run_cli([*argv, "--resume"]) == 0
    again = xr.open_zarr(out)
    xr.testing.assert_allclose(again["degradation"], series["degradation"])
    assert run_cli([*argv, "--overwrite"]) == 0


def test_a_killed_series_resumes_to_the_same_store(store, model, tmp_path):
    url, _ = store

    class Stop(Exception):
        pass

    class KillAfterTwo:
        """A progress reporter that stops the run after two regions."""

        def __init__(self):
            self.regions = 0

        def begin(self, total, done):
            pass

        def on_region(self, i, region):
            self.regions += 1
            if self.regions == 2:
                raise Stop

        def end(self):
            pass

    kwargs = dict(model=model, start="2010-05-01", end="2013-12-31", cadence="60D",
                  region_frames=12)
    out = tmp_path / "killed.zarr"
    with pytest.raises(Stop):
        degradation_series(url, out=str(out), progress=KillAfterTwo(), **kwargs)
    marks = xr.open_zarr(tmp_path / "killed_frames.zarr")["frame_written"].values
    assert 0 < marks.sum() < marks.size
    resumed = degradation_series(url, out=str(out), resume=True, **kwargs)
    assert resumed.report.regions_skipped == 2
    straight = degradation_series(url, out=str(tmp_path / "straight.zarr"), **kwargs)
    np.testing.assert_array_equal(resumed.dataset["degradation"].values,
                                  straight.dataset["degradation"].values)


def test_bad_frames_are_left_out_and_counted_never_a_nan_bin(model, tmp_path):
    root = tmp_path / "bad.zarr"
    synth = write_sdoml_store(root, start="2011-01-01", end="2011-12-31", cadence="7D",
                              size=32, chunks=8, channels=EUV, seed=9, missing_fraction=0.0)
    from lascoproc.degradation.data import usable_frames
    from lascoproc.io.sdoml import open_sdoml
    from lascoproc.io.sdoml_index import load_array_index

    usable = usable_frames(open_sdoml(str(root), channels=EUV, start="2011-01-01",
                                      index=False))[0]["t_obs"].values
    group = zarr.open_group(str(root), mode="r+", zarr_format=2)

    def position(channel, k):  # storage position of the k-th usable frame in 2011/<channel>
        index = load_array_index(str(root), f"2011/{channel}", index=False)
        column = EUV.index(int(channel[:-1]))
        return int(np.flatnonzero(index.t_obs == usable[k, column])[0])

    array = group["2011/171A"]
    i = position("171A", 3)
    frame = array[i]
    frame[5, 5] = np.nan  # one frame with a NaN pixel
    array[i] = frame
    attrs = group["2011/304A"].attrs.asdict()
    attrs["EXPTIME"][position("304A", 6)] = None  # one frame with no exposure time
    attrs["DEG_COR"][position("304A", 7)] = "NaN"  # one whose correction is not a number
    group["2011/304A"].attrs.put(attrs)
    result = degradation_series(str(root), model=model, start="2011-01-01", end="2011-12-31",
                                cadence="60D", out=str(tmp_path / "s.zarr"))
    left = result.left_out
    assert left["non_finite_pixels"] == 1
    assert left["non_finite_exptime"] == 1 and left["non_finite_deg_cor"] == 1
    series = result.dataset
    assert np.isfinite(series["degradation"].values).all()
    assert np.isfinite(series["degradation_uncertainty"].values).all()
    assert int(series["n_left_out"].sum()) == 1
    assert "non_finite_pixels: 1" in series.attrs["frames_left_out"]
    del synth


def test_outputs_to_another_filesystem_with_their_own_options(store, model):
    url, _ = store
    result = degradation_series(url, model=model, start="2010-05-01", end="2011-06-30",
                                cadence="60D", out="memory://aia_out/series.zarr",
                                out_storage_options={"skip_instance_cache": True})
    assert result.csv is None and result.plots == []  # files only for a local OUT
    written = xr.open_zarr("memory://aia_out/series.zarr")
    np.testing.assert_allclose(written["degradation"].values,
                               result.dataset["degradation"].values)


@pytest.mark.slow
@pytest.mark.distributed
def test_series_on_a_local_cluster_equals_the_threaded_run(store, model, tmp_path):
    """40 s on the 2-core machine (a worker process importing torch): slow."""
    url, _ = store
    argv = ["aia", "degradation", url, "--model", str(model), "--start", "2010-05-01",
            "--end", "2011-12-31", "--cadence", "60D", "--region-frames", "8"]
    assert run_cli([*argv, "--out", str(tmp_path / "a.zarr")]) == 0
    assert run_cli([*argv, "--out", str(tmp_path / "b.zarr"), "--cluster-backend", "local",
                    "--workers", "1", "--threads-per-worker", "1"]) == 0
    a, b = xr.open_zarr(tmp_path / "a.zarr"), xr.open_zarr(tmp_path / "b.zarr")
    np.testing.assert_allclose(a["degradation"].values, b["degradation"].values, rtol=1e-6)


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


def test_demo_hook_writes_series_csv_and_plots(tmp_path):
    """The demo's step with the shipped model (64x64 input: a 64-pixel store)."""
    synth = write_sdoml_store(tmp_path / "demo.zarr", end="2011-06-30", size=64, chunks=8,
                              channels=EUV, seed=4)
    summary = run_demo(synth.url, tmp_path / "demo", truth=synth.degradation)
    series = xr.open_zarr(summary["store"])
    assert "degradation_injected" in series
    assert summary["frames"] > 10 and len(summary["plots"]) == 8
    assert set(summary["max_abs_error"]) == set(EUV)
    error = np.abs(series["degradation"] - series["degradation_injected"]).values
    assert summary["share_within_005"] == pytest.approx(float((error < 0.05).mean()), abs=1e-4)
    assert 0.0 <= summary["share_within_2sigma"] <= 1.0
    assert (tmp_path / "demo" / "aia_degradation.csv").is_file()
