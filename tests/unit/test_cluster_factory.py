"""get_client / describe without starting processes; missing extras; progress and summary."""

import builtins
import io
import sys

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from lascoproc.cluster import ClusterConfig, describe, get_client
from lascoproc.cluster.factory import dask_config_file, threads_of
from lascoproc.pipeline.progress import RunProgress, flag_counts, summarize_run
from lascoproc.pipeline.regions import WriteReport


def test_threads_backend_yields_no_client_and_sets_the_threaded_scheduler():
    config = ClusterConfig(n_workers=3)
    with get_client(config) as client:
        assert client is None
        assert dask.config.get("scheduler") == "threads"
        assert dask.config.get("num_workers") == 3
        assert describe(client, config) == "Dask threaded scheduler in this process (3 threads)"
        assert da.ones(10, chunks=3).sum().compute() == 10
    assert dask.config.get("num_workers", None) != 3


def test_threads_count():
    assert threads_of(ClusterConfig(n_workers=2, threads_per_worker=4)) == 8
    assert threads_of(ClusterConfig(threads_per_worker=4)) == 4
    assert threads_of(ClusterConfig()) >= 1


def test_unreachable_scheduler_is_an_oserror():
    config = ClusterConfig(backend="scheduler", address="tcp://127.0.0.1:9", timeout=0.5)
    with pytest.raises(OSError), get_client(config):
        pass


@pytest.fixture
def without(monkeypatch):
    """Make ``import NAME`` fail as if the package were not installed."""
    real_import = builtins.__import__

    def block(*names):
        for name in names:
            for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                monkeypatch.delitem(sys.modules, mod)

        def fake_import(name, *args, **kwargs):
            if name.split(".")[0] in names:
                raise ImportError(f"No module named {name!r}")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return block


def test_missing_kubernetes_extra_names_it(without):
    from lascoproc.cluster import kubernetes

    without("dask_kubernetes")
    with pytest.raises(ImportError, match=r"pip install 'lascoproc\[kubernetes\]'"):
        kubernetes.cluster_spec(ClusterConfig(backend="kubernetes"))
    with pytest.raises(ImportError, match=r"lascoproc\[kubernetes\]"), \
            get_client(ClusterConfig(backend="kubernetes")):
        pass


def test_missing_hpc_extra_names_it(without):
    from lascoproc.cluster import jobqueue

    without("dask_jobqueue")
    with pytest.raises(ImportError, match=r"pip install 'lascoproc\[hpc\]'"):
        jobqueue.gpu_job(ClusterConfig(backend="slurm"))
    with pytest.raises(ImportError, match=r"lascoproc\[hpc\]"), \
            get_client(ClusterConfig(backend="pbs")):
        pass


def test_dask_config_file_applies_inside_only(tmp_path):
    path = tmp_path / "dask.yaml"
    path.write_text("distributed:\n  comm:\n    timeouts:\n      connect: 123s\n")
    before = dask.config.get("distributed.comm.timeouts.tcp")
    with dask_config_file(str(path)):
        assert dask.config.get("distributed.comm.timeouts.connect") == "123s"
        assert dask.config.get("distributed.comm.timeouts.tcp") == before  # merged, not replaced
    assert dask.config.get("distributed.comm.timeouts.connect") != "123s"


# ------------------------------------------------------------------------------ progress


def test_progress_counts_rate_and_eta():
    out = io.StringIO()
    progress = RunProgress(file=out, disable=False)
    progress.begin(total_frames=10, done_frames=4)
    assert progress.eta_seconds is None
    progress.on_region(2, slice(4, 6))
    progress(3, slice(6, 8))
    progress.end()  # stops the clock
    assert (progress.frames_written, progress.frames_done, progress.regions_written) == (4, 8, 2)
    assert progress.frames_per_second > 0
    assert progress.eta_seconds == pytest.approx(2 / progress.frames_per_second)
    text = out.getvalue()
    assert "8/10" in text and ("frame/s" in text or "s/frame" in text)
    assert "dashboard" not in text  # no client, no link


def flags_dataset():
    status = np.array([0, 1, 0, 1, 1, 0], np.uint8)
    quality = np.array([0, 1, 2, 3, 0, 0], np.uint8)
    return xr.Dataset({
        "read_status": ("time", status, {"flag_values": np.array([0, 1], np.uint8),
                                         "flag_meanings": "ok unreadable_at_compute_time"}),
        "quality": ("time", quality, {"flag_masks": np.array([1, 2], np.uint8),
                                      "flag_meanings": "saturated missing_blocks"}),
        "exptime": ("time", np.ones(6)),
    })


def test_flag_counts_values_and_masks():
    assert flag_counts(flags_dataset()) == {
        "read_status: unreadable_at_compute_time": 3,
        "quality: saturated": 2,       # 1 and 3 have bit 1
        "quality: missing_blocks": 2,  # 2 and 3 have bit 2
    }


def test_flag_counts_refuses_dask_flags():
    ds = flags_dataset().chunk({"time": 2})
    with pytest.raises(ValueError, match="dask array: load it first"):
        flag_counts(ds)


def test_summary_text():
    report = WriteReport(store="c2.zarr", frames=6, regions=3, regions_written=2,
                         regions_skipped=1, seconds=2.0)
    progress = RunProgress(disable=True)
    progress.begin(6, done_frames=2)
    progress.on_region(1, slice(2, 4))
    progress.on_region(2, slice(4, 6))
    progress.end()
    summary = summarize_run(report, flags=flags_dataset(), rejected=["a.fts: truncated"],
                            progress=progress, engine="threads")
    assert (summary.frames_processed, summary.frames_skipped) == (4, 2)
    assert summary.frames_per_second == 2.0
    text = summary.format()
    assert "6 frames in c2.zarr: 4 processed now, 2 already done" in text
    assert "2.00 frames/s on threads" in text
    assert "frames flagged, by reason" in text
    assert "       3  read_status: unreadable_at_compute_time" in text
    assert "1 files not used:\n  a.fts: truncated" in text
    assert summary.as_dict()["frames_per_second"] == 2.0
    # without a progress object the counts are estimated from the regions
    estimated = summarize_run(report)
    assert (estimated.frames_processed, estimated.frames_skipped) == (4, 2)
    assert "no frames flagged" in estimated.format()


def test_a_cluster_whose_workers_have_not_joined_says_so():
    """Batch jobs and pods join after the client connects: 'no workers' is said to be so far,
    not as if the run had none (the SLURM runs' summary said '0 workers, 0 threads')."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        text = describe(client, ClusterConfig(backend="slurm"))
        assert "0 workers, 0 threads so far (workers are still starting" in text
        assert "so far" not in describe(client, ClusterConfig(backend="scheduler",
                                                              address="tcp://h:1"))
