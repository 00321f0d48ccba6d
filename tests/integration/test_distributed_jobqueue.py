"""The jobqueue backend end to end, with dask-jobqueue's own local job class in place of sbatch:
the scheduler in this process, one CPU job and one GPU job (``--resources GPU=1``) attached to
it, GPU-annotated tasks only on the GPU worker, every job cancelled at the end."""

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


def test_cpu_and_gpu_jobs_attach_to_one_scheduler(local_jobs):
    config = ClusterConfig(backend="slurm", n_workers=1, gpu_workers=1, interface="lo",
                           dashboard_address="127.0.0.1:0", name="lp")
    with get_client(config) as client:
        client.wait_for_workers(2, timeout=60)
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
