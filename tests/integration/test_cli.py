"""The command line: help, index, ingest, kill and resume, errors in one line."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from lascoproc_cli.main import main
from tests.conftest import marked_regions

CLI = [sys.executable, "-m", "lascoproc_cli.main"]


def test_help_reads_like_documentation(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("demo", "synth", "lasco", "fsspec", "examples:"):
        assert word in text
    for argv in (["lasco", "index", "--help"], ["lasco", "ingest", "--help"],
                 ["synth", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert len(capsys.readouterr().out) > 300
    with pytest.raises(SystemExit):
        main(["lasco", "calibrate", "--help"])
    text = capsys.readouterr().out
    for flag in ("--range-frames", "--resume", "--gpu-resource", "--no-gpu-resource"):
        assert flag in text


def test_index_command_lists_frames_then_bad_files(lasco_archive, capsys):
    assert main(["lasco", "index", str(lasco_archive.root), "--detector", "c3", "--verify"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    names = [f.path.rsplit("/", 1)[-1] for f in sorted(lasco_archive.good("C3"),
                                                        key=lambda f: f.time)]
    listed = [line.split()[0] for line in lines[1:1 + len(names)]]
    assert listed == names
    assert f"{len(names)} frames" in out
    tail = out.split("files or lines not used:")[1]
    for bad in lasco_archive.bad():
        assert bad.path.rsplit("/", 1)[-1] in tail


def test_end_date_alone_includes_that_day(lasco_archive, capsys):
    """``--end 2002-05-21`` is inclusive, as its help says: the whole day, not its midnight
    (it selected nothing of the day before 2026-12-02)."""
    from lascoproc_cli.options import end_timestamp

    last_ns = pd.Timestamp("2002-05-21T23:59:59.999999999")
    for text in ("2002-05-21", "2002/05/21", "May 21 2002", "20020521"):
        assert end_timestamp(text) == last_ns, text
    assert end_timestamp("2002-05") == pd.Timestamp("2002-05-31T23:59:59.999999999")
    assert end_timestamp("2002") == pd.Timestamp("2002-12-31T23:59:59.999999999")
    assert end_timestamp("2002-05-21T12:00") == pd.Timestamp("2002-05-21T12:00")
    assert end_timestamp("2002-05-21T00:00") == pd.Timestamp("2002-05-21")
    day1 = [f for f in lasco_archive.good("C3") if str(f.time).startswith("2002-05-21")]
    late = max(day1, key=lambda f: f.time)
    assert str(late.time) > "2002-05-21T12"  # the day's last frame is in its second half
    assert main(["lasco", "index", str(lasco_archive.root), "--detector", "c3",
                 "--start", "2002-05-21", "--end", "2002-05-21"]) == 0
    out = capsys.readouterr().out
    table = out.split("files or lines not used:")[0]
    for f in day1:
        assert f.path.rsplit("/", 1)[-1] in table
    assert "2002-05-21T" in table and "2002-05-22T" not in table


def test_unreachable_archive_is_one_line_error(tmp_path, capsys):
    code = main(["lasco", "index", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("lascoproc: error:") and err.count("\n") == 1


def test_bad_argument_exit_code(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["lasco", "index", "x", "--detector", "c4"])
    assert exc.value.code == 2


def _kill_mid_run(argv, store: Path, after_regions: int, what: str) -> None:
    """Run ``argv`` and SIGKILL it once ``after_regions`` regions of ``store`` are marked."""
    for _attempt in range(5):
        shutil.rmtree(store, ignore_errors=True)  # a finished attempt's marks must not count
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if marked_regions(store) >= after_regions:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            return
    raise AssertionError(f"the {what} always finished before it could be killed")


def test_killed_ingest_resumes_to_identical_store(lasco_archive, tmp_path):
    """SIGKILL an ingest cut into time ranges mid-run; --resume completes it identical to an
    uninterrupted run in one range."""
    root = str(lasco_archive.root)
    full = tmp_path / "full.zarr"
    subprocess.run([*CLI, "lasco", "ingest", root, "--detector", "c2", "--out", str(full),
                    "--region-frames", "1"], check=True, capture_output=True)
    n = xr.open_zarr(full).sizes["time"]
    assert n >= 4
    part = tmp_path / "part.zarr"
    _kill_mid_run([*CLI, "lasco", "ingest", root, "--detector", "c2", "--out", str(part),
                   "--region-frames", "1", "--range-frames", "2", "--overwrite"], part, 2,
                  "ingest")
    marked = xr.open_zarr(part)["frame_written"].values
    assert 0 < marked.sum() < n
    done = subprocess.run([*CLI, "lasco", "ingest", root, "--detector", "c2", "--out",
                           str(part), "--region-frames", "1", "--range-frames", "2",
                           "--resume"],
                          check=True, capture_output=True, text=True)
    assert "already done" in done.stdout and "time ranges" in done.stdout
    a, b = xr.open_zarr(part).load(), xr.open_zarr(full).load()
    xr.testing.assert_identical(a.drop_vars("frame_run"), b.drop_vars("frame_run"))
    np.testing.assert_array_equal(a["counts"].values, b["counts"].values)


def test_killed_calibrate_resumes_to_identical_store(lasco_archive, calib_dir, tmp_path,
                                                     capsys):
    """``lascoproc lasco calibrate --resume`` after a SIGKILL: the ranges and regions written
    are skipped, the store ends identical to an uninterrupted run; a rerun without --resume is
    refused, one with --resume writes nothing."""
    root = str(lasco_archive.root)
    args = ["lasco", "calibrate", root, "--detector", "c2", "--calib", str(calib_dir),
            "--region-frames", "1", "--range-frames", "2"]
    full = tmp_path / "full.zarr"
    # in a fresh process, as the killed run: the calibration_files attribute lists the files
    # read so far in the process (CalibrationStore shares its cache per URL)
    subprocess.run([*CLI, *args, "--out", str(full)], check=True, capture_output=True)
    n = xr.open_zarr(full).sizes["time"]
    assert n >= 3
    part = tmp_path / "part.zarr"
    _kill_mid_run([*CLI, *args, "--out", str(part), "--overwrite"], part, 1, "calibrate")
    marked = int(xr.open_zarr(part)["frame_written"].values.sum())
    assert 0 < marked < n
    capsys.readouterr()
    assert main([*args, "--out", str(part), "--resume"]) == 0
    assert f"{n - marked} processed now, {marked} already done" in capsys.readouterr().out
    xr.testing.assert_identical(xr.open_zarr(part).load().drop_vars("frame_run"),
                                xr.open_zarr(full).load().drop_vars("frame_run"))
    assert main([*args, "--out", str(part)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--out", str(part), "--resume"]) == 0
    assert f"0 processed now, {n} already done" in capsys.readouterr().out


def test_synth_commands_write_real_formats(tmp_path, capsys):
    assert main(["synth", "calib", str(tmp_path / "calib"), "--days", "1"]) == 0
    assert (tmp_path / "calib/lasco/data/calib/c2vig_final.fts").is_file()
    assert main(["synth", "aia", str(tmp_path / "sdoml.zarr"), "--start", "2010-06-01",
                 "--end", "2010-09-01", "--size", "32"]) == 0
    from lascoproc.io.sdoml import open_sdoml

    aia = open_sdoml(str(tmp_path / "sdoml.zarr"), channels=["171A", "193A"])
    assert aia.sizes["channel"] == 2 and aia.sizes["time"] >= 2
    assert main(["synth", "lasco", str(tmp_path / "lasco"), "--days", "1",
                 "--frames-per-day", "2"]) == 0
    assert list((tmp_path / "lasco/level_05").iterdir())
    assert "written" in capsys.readouterr().out


def test_cloud_protocol_without_driver_names_the_extra():
    import importlib.util

    from lascoproc.io.fs import get_fs

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    with pytest.raises(ImportError, match=r"lascoproc\[cloud\]"):
        get_fs("gs://bucket/lasco/level_05")


def test_output_and_calibration_store_options_reach_the_run(monkeypatch, tmp_path):
    """``--out-storage-option`` and ``--calib-storage-option`` are passed to the run (a
    private output bucket, a remote calibration store), apart from the input's options."""
    import lascoproc.pipeline.ingest as ingest
    import lascoproc.pipeline.level1 as level1

    seen = {}

    class Stop(Exception):
        pass

    def capture(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(level1, "run_level1", capture)
    monkeypatch.setattr(ingest, "ingest_level05", capture)
    base = ["--storage-option", "anon=true", "--out-storage-option", "profile=writer",
            "--out", str(tmp_path / "o.zarr"), "--cluster-backend", "threads"]
    with pytest.raises(Stop):
        main(["lasco", "calibrate", "s3://archive", "--detector", "c3", "--calib", "s3://cal",
              "--calib-storage-option", "anon=false", *base])
    assert seen["storage_options"] == {"anon": True}
    assert seen["out_storage_options"] == {"profile": "writer"}
    assert seen["calib_storage_options"] == {"anon": False}
    seen.clear()
    with pytest.raises(Stop):
        main(["lasco", "ingest", "s3://archive", "--detector", "c3", *base])
    assert seen["out_storage_options"] == {"profile": "writer"}


def test_a_store_lascoproc_did_not_write_is_never_resumed_or_overwritten(lasco_archive,
                                                                          tmp_path, capsys):
    """``--resume`` and ``--overwrite`` act only on stores lascoproc wrote (its run
    fingerprint): another Zarr store at ``--out`` (an input, say) is left as it was."""
    foreign = tmp_path / "foreign.zarr"
    xr.Dataset({"v": ("t", np.arange(5.0))}).to_zarr(foreign, zarr_format=3,
                                                      consolidated=False)
    before = sorted(p.relative_to(foreign).as_posix() for p in foreign.rglob("*"))
    for mode in ("--resume", "--overwrite"):
        capsys.readouterr()
        assert main(["lasco", "ingest", str(lasco_archive.root), "--detector", "c2", "--out",
                     str(foreign), mode]) == 1
        assert "did not write" in capsys.readouterr().err
        assert sorted(p.relative_to(foreign).as_posix() for p in foreign.rglob("*")) == before
    np.testing.assert_array_equal(xr.open_zarr(foreign, consolidated=False)["v"], np.arange(5.0))


def test_an_output_that_is_not_a_zarr_store_is_refused_in_one_line(lasco_archive, tmp_path,
                                                                    capsys):
    """A directory with other files, or a file, at ``--out``: one line naming what is there,
    with or without ``--overwrite``/``--resume``, and nothing written into it (zarr's own
    message spoke of modes 'w-' and 'w' before 2026-12-02); an empty directory is fine."""
    busy = tmp_path / "results"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    a_file = tmp_path / "out.zarr"
    a_file.write_text("not a store")
    for out in (busy, a_file):
        for extra in ([], ["--overwrite"], ["--resume"]):
            capsys.readouterr()
            assert main(["lasco", "ingest", str(lasco_archive.root), "--detector", "c2",
                         "--out", str(out), *extra]) == 1
            err = capsys.readouterr().err
            errors = [line for line in err.splitlines() if line.startswith("lascoproc: error")]
            assert len(errors) == 1 and "is not a Zarr store" in errors[0], err
            assert ("notes.txt" if out == busy else "out.zarr") in err
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    assert a_file.read_text() == "not a store"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["lasco", "ingest", str(lasco_archive.root), "--detector", "c2",
                 "--out", str(empty)]) == 0
    assert (empty / "zarr.json").exists()


def test_bad_storage_option_is_one_line_naming_its_flag(capsys):
    for flag in ("--storage-option", "--out-storage-option"):
        capsys.readouterr()
        assert main(["lasco", "ingest", "/nonexistent", "--detector", "c2", "--out",
                     "/tmp/x.zarr", flag, "anon"]) == 1
        err = capsys.readouterr().err
        assert f"lascoproc: error: {flag} wants KEY=VALUE" in err
        assert "Traceback" not in err


def test_aia_index_never_replaces_an_sdoml_array(tmp_path, capsys):
    from lascoproc.testing.sdoml import write_sdoml_store

    sdoml = tmp_path / "sdoml.zarr"
    write_sdoml_store(sdoml, start="2011-01-01", end="2011-02-01", cadence="10D", size=32,
                      seed=1)
    before = sorted(p.relative_to(sdoml).as_posix() for p in sdoml.rglob("*"))
    assert main(["aia", "index", str(sdoml), "--out", str(sdoml)]) == 1
    assert "not a lascoproc frame index" in capsys.readouterr().err
    assert sorted(p.relative_to(sdoml).as_posix() for p in sdoml.rglob("*")) == before


def test_aia_train_does_not_replace_a_model_without_overwrite(tmp_path, capsys):
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    assert main(["aia", "train", str(tmp_path / "none.zarr"), "--out", str(model)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert model.read_bytes() == b"weights"


@pytest.mark.parametrize("argv", [
    ["lasco", "index", "/x", "--detector", "c3", "--start", "2002-05-22", "--end", "2002-05-21"],
    ["calib", "fetch", "/x", "--start", "2002-05-22", "--end", "2002-05-21"],
    ["synth", "aia", "/x", "--size", "0"],
    ["synth", "aia", "/x", "--cadence", "0D"],
    ["aia", "degradation", "/x", "--out", "/y.zarr", "--cadence", "-30D"],
    ["aia", "degradation", "/x", "--out", "/y.zarr", "--reference-error", "nan"],
    ["aia", "degradation", "/x", "--out", "/y.zarr", "--region-frames", "0"],
    ["aia", "degradation", "/x", "--out", "/y.zarr", "--batch-size", "0"],
])
def test_impossible_arguments_are_usage_errors(argv, capsys):
    """Values that would select nothing, divide by zero or give NaN are refused by the
    parser (exit 2, one line), before anything runs."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_relative_paths_are_recorded_absolute_and_resume_from_another_directory(
        lasco_archive, calib_dir, tmp_path, monkeypatch, capsys):
    """Paths typed relative to the working directory are recorded absolute in the store's
    provenance (``source_archive``, ``calibration_store``) and the run report (``archive``,
    ``store``): opened from elsewhere they still point at the inputs. The run definition does
    not hold them: the same store resumes from another directory, given other relative
    paths to the same places."""
    import json

    first, second = tmp_path / "a", tmp_path / "b" / "c"
    first.mkdir()
    second.mkdir(parents=True)

    def args(where):
        rel = [os.path.relpath(p, where) for p in (lasco_archive.root, calib_dir,
                                                    first / "c3.zarr")]
        return ["lasco", "calibrate", rel[0], "--detector", "c3", "--calib", rel[1], "--out",
                rel[2], "--shape", "1024x1024", "--region-frames", "1"]

    monkeypatch.chdir(first)
    assert main(args(first)) == 0
    store = first / "c3.zarr"
    n = xr.open_zarr(store).sizes["time"]
    assert n >= 2
    chunks = sorted((store / "frame_written" / "c").iterdir())
    chunks[0].unlink()  # region 0 no longer marked: a resume writes it again
    assert int(xr.open_zarr(store)["frame_written"].values.sum()) == n - 1
    monkeypatch.chdir(second)
    capsys.readouterr()
    assert main([*args(second), "--resume"]) == 0
    assert f"1 processed now, {n - 1} already done" in capsys.readouterr().out
    real = os.path.realpath
    attrs = xr.open_zarr(store).attrs
    assert real(attrs["source_archive"]) == real(lasco_archive.root)
    assert os.path.isabs(attrs["source_archive"])
    assert os.path.isabs(attrs["calibration_store"])
    assert real(attrs["calibration_store"]) == real(calib_dir)
    report = json.loads(Path(str(store) + ".report.json").read_text())
    assert os.path.isabs(report["archive"]) and real(report["archive"]) == \
        real(lasco_archive.root)
    assert [real(s["store"]) for s in report["stores"]] == [real(store)]
    assert {real(i["store"]) for i in report["inputs"] if i["store"]} == {real(store)}


def test_demo_names_every_store_it_writes_with_its_frame_count(tmp_path, monkeypatch, capsys):
    """The demo's summary names every Zarr store written under OUT (the OUT_NYxNX stores of
    the other frame sizes and aia_degradation_frames.zarr too) with its frame count, and
    ``demo --help`` lists each of them (a size as NYxNX)."""
    import re

    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    import lascoproc.testing.sdoml as sdoml

    real = sdoml.write_sdoml_store
    # a year of the synthetic SDOML store instead of eleven: the same step, less time
    monkeypatch.setattr(sdoml, "write_sdoml_store",
                        lambda path, **kw: real(path, **{**kw, "end": "2010-12-31"}))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--days", "1", "--frames-per-day", "3"]) == 0
    text = capsys.readouterr().out
    stores = sorted(p for p in out.glob("*.zarr") if p.name != "sdoml.zarr")
    names = {p.name for p in stores}
    assert {"c2_l1.zarr", "c2_l1_512x512.zarr", "c3_l1_480x640.zarr",
            "aia_degradation_frames.zarr", "aia_degradation.zarr"} <= names
    for store in stores:
        n = xr.open_zarr(store).sizes["time"]
        assert re.search(rf"\b{n}( level-[0-9.]+ frames?| frames| time bins of \w+)? -> "
                         rf"{re.escape(str(store))}\b", text), (store.name, n, text)
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in names:
        assert re.sub(r"_\d+x\d+\.zarr$", "_NYxNX.zarr", name) in help_text, name


def test_demo_lists_frames_not_calibrated_in_every_level1_store(tmp_path):
    """``Level1Result.flagged`` covers the first store; the demo names those of the OUT_NYxNX
    stores too."""
    import warnings
    from types import SimpleNamespace

    from lascoproc_cli.demo import not_calibrated

    other = tmp_path / "c2_l1_512x512.zarr"
    names = np.array(["a.fts", "b.fts"], dtype=object)
    reasons = np.array(["", "unknown filter 'Bogus'"], dtype=object)
    with warnings.catch_warnings():  # consolidated metadata, as lascoproc's stores have
        warnings.simplefilter("ignore")
        xr.Dataset(coords={"filename": ("time", names),
                           "frame_status_reason": ("time", reasons)}
                   ).to_zarr(other, zarr_format=3, consolidated=True)
    result = SimpleNamespace(flagged=["c.fts: no data"],
                             others={"512x512": (str(other), None)})
    assert not_calibrated(result) == ["c.fts: no data", "b.fts: unknown filter 'Bogus'"]


def _leaf_parsers(parser, name="lascoproc"):
    """``(command, parser)`` of every command that runs (the leaves of the subcommands)."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield name, parser
    for action in subs:
        for word, sub in action.choices.items():
            yield from _leaf_parsers(sub, f"{name} {word}")


def test_every_option_has_help_with_its_default():
    """Each command has a description; each of its arguments, positionals included, has help
    text, which states the default where there is one (--seed, --detector, --batch-size,
    DIRECTORY... had none)."""
    import argparse

    from lascoproc_cli.main import EPILOG, build_parser

    gaps = []
    for command, parser in _leaf_parsers(build_parser()):
        if not parser.description:
            gaps.append(f"{command}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            what = f"{command} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                gaps.append(f"{what}: no help")
            elif (action.option_strings and action.default not in (None, False, [])
                  and "default" not in action.help):
                gaps.append(f"{what}: default {action.default!r} not stated")
    assert gaps == []
    assert "lascoproc synth calib /tmp/calib --archive /tmp/archive" in EPILOG


def test_synth_lasco_frames_per_day_help_says_what_is_written(tmp_path, capsys):
    """``--frames-per-day 2`` writes no full frame: the help says so, as it happens."""
    with pytest.raises(SystemExit):
        main(["synth", "lasco", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "below 3 none is full" in text and "full frames per day" not in text
    assert main(["synth", "lasco", str(tmp_path / "lasco"), "--days", "1",
                 "--frames-per-day", "2"]) == 0
    from lascoproc.io.lasco_archive import index_archive

    frames = index_archive(str(tmp_path / "lasco")).frames
    assert len(frames) == 4
    assert not ((frames["naxis1"] == 1024) & (frames["naxis2"] == 1024)).any()


def test_lasco_notebook_runs_on_a_store_without_two_frames_to_difference(
        lasco_archive, calib_dir, tmp_path, monkeypatch):
    """notebooks/lasco_level1.ipynb on a one-frame store (LASCOPROC_L1_ZARR invites any
    store): the running-difference cell says there is nothing to difference instead of
    failing in plt.subplots(1, 0). (Beside test_notebook_lasco.py, which runs it on a store
    with a CME sequence.)"""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from lascoproc.pipeline.level1 import run_level1

    notebook = Path(__file__).parents[2] / "notebooks" / "lasco_level1.ipynb"
    first = min((f for f in lasco_archive.good("C3") if f.shape == (1024, 1024)),
                key=lambda f: f.time)
    store = tmp_path / "one.zarr"
    run_level1(str(lasco_archive.root), detector="c3", calib=str(calib_dir), out=str(store),
               start=str(first.time), end=str(first.time))
    assert xr.open_zarr(store).sizes["time"] == 1
    monkeypatch.setenv("LASCOPROC_L1_ZARR", str(store))
    nb = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    assert any("No running difference" in o.get("text", "") for o in outputs)
