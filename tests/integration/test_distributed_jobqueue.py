"""The jobqueue backend end to end, with dask-jobqueue's own local job class in place of sbatch:
the scheduler in this process, one CPU job and one GPU job (``--resources GPU=1``) attached to
it, GPU-annotated tasks only on the GPU worker, every job cancelled at the end.

TLS is on (the default of the slurm backend): the jobs' workers read the run's temporary
credentials from the files the job script names, clients without them are refused, no key is
logged, and the credential directory is gone when the run ends."""

from __future__ import annotations

import dask
import pytest

from lascoproc.cluster import ClusterConfig, describe, get_client

dask_jobqueue = pytest.importorskip(
    "dask_jobqueue", reason="the hpc extra is not installed: pip install 'lascoproc[hpc]'")

from dask_jobqueue.local import LocalCluster, LocalJob  # noqa: E402

from lascoproc.cluster import jobqueue  # noqa: E402

pytestmark = pytest.mark.distributed


class ReapedLocalJob(LocalJob):
    """LocalJob SIGKILLs its worker process and forgets it: reap it and close its pipes."""

    async def close(self):
        await super().close()
        process = getattr(self, "process", None)
        if process is not None:
            process.proc.wait(timeout=30)
            process.stdout.close()
            process.stderr.close()


class ReapedLocalCluster(LocalCluster):
    job_cls = ReapedLocalJob


@pytest.fixture
def local_jobs(monkeypatch):
    """``backend: slurm`` submits dask-jobqueue LocalJobs: processes here, not batch jobs."""
    monkeypatch.setitem(jobqueue._CLUSTERS, "slurm", "ReapedLocalCluster")
    monkeypatch.setattr(dask_jobqueue, "ReapedLocalCluster", ReapedLocalCluster, raising=False)
    monkeypatch.setattr(jobqueue, "_job_class", lambda config: ReapedLocalJob)
    section = {"cores": 1, "memory": "1GiB", "nanny": False, "death-timeout": 20,
               "worker-extra-args": ["--no-dashboard"]}
    with dask.config.set({"jobqueue.slurm": dask.config.merge(
            dask.config.get("jobqueue.local"), section)}):
        yield


def gpu_only(x):
    from distributed import get_worker

    return get_worker().name, x + 1


@pytest.fixture
def other_ca(tmp_path):
    pytest.importorskip("cryptography")
    from tests.integration.test_distributed_tls import CertificateAuthority

    return CertificateAuthority(tmp_path, "other")


def test_cpu_and_gpu_jobs_attach_to_one_scheduler(local_jobs, tmp_path, other_ca, caplog):
    from tests.integration.test_distributed_tls import assert_refused

    for name in ("lascoproc", "dask_jobqueue", "distributed"):
        caplog.set_level("DEBUG", logger=name)
    credentials = tmp_path / "tls"
    config = ClusterConfig(backend="slurm", n_workers=1, gpu_workers=1, interface="lo",
                           dashboard_address="127.0.0.1:0", name="lp",
                           tls_directory=str(credentials))
    with get_client(config) as client:
        client.wait_for_workers(2, timeout=60)
        assert client.scheduler.address.startswith("tls://127.0.0.1:")
        (run_dir,) = credentials.iterdir()
        assert f"--tls-key {run_dir}/key.pem" in client.cluster.job_script()
        assert_refused(client.scheduler.address, other_ca)
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        resources = {w["name"]: w["resources"] for w in workers}
        assert resources.get("lp-gpu-0") == {"GPU": 1.0}
        assert sum(1 for r in resources.values() if not r) == 1
        assert "GPU=1" in describe(client)
        with dask.annotate(resources={"GPU": 1}):
            tasks = [dask.delayed(gpu_only)(i) for i in range(4)]
        results = dask.compute(*tasks, optimize_graph=False)
        assert {name for name, _ in results} == {"lp-gpu-0"}
        assert [v for _, v in results] == [1, 2, 3, 4]
        key_line = (run_dir / "key.pem").read_text().splitlines()[1]
    assert list(credentials.iterdir()) == []  # removed with the cluster
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "PRIVATE KEY" not in logged and key_line not in logged
