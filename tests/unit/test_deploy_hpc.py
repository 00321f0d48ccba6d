"""deploy/hpc: the dask-jobqueue configuration makes the batch scripts it promises.

No batch system is reachable here: jobs are built and their ``job_script()`` read, nothing is
submitted (dask-jobqueue submits only when a cluster is scaled or a job started).
"""

from __future__ import annotations

from pathlib import Path

import dask
import pytest
import yaml

from lascoproc.cluster.config import ClusterConfig
from lascoproc.cluster.factory import dask_config_file

dask_jobqueue = pytest.importorskip(
    "dask_jobqueue", reason="the hpc extra is not installed: pip install 'lascoproc[hpc]' "
    "to check the job scripts")

from lascoproc.cluster import jobqueue  # noqa: E402

HPC = Path(__file__).parents[2] / "deploy" / "hpc"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """dask-jobqueue makes the section's relative log-directory when a job is built."""
    monkeypatch.chdir(tmp_path)


def site_config() -> dict:
    """deploy/hpc/jobqueue.yaml as Dask reads it: merged over dask-jobqueue's defaults."""
    return dask.config.merge(*dask.config.defaults, yaml.safe_load(
        (HPC / "jobqueue.yaml").read_text()))


def test_slurm_cluster_from_the_site_sections_alone():
    """A plain dask-jobqueue user with deploy/hpc/jobqueue.yaml gets the GPU partition and
    resources from SLURMCluster(config_name="slurm-gpu"), once the section is complete."""
    config = site_config()["jobqueue"]
    gpu_section = dask.config.merge(config["slurm"], config["slurm-gpu"])
    with dask.config.set({"jobqueue.slurm": config["slurm"],
                          "jobqueue.slurm-gpu": gpu_section}):
        for name, partition in (("slurm", "cpu"), ("slurm-gpu", "gpu")):
            with dask_jobqueue.SLURMCluster(
                config_name=name, scheduler_options={"dashboard_address": "127.0.0.1:0"},
                scheduler_cls=_loopback_scheduler(),
            ) as cluster:
                script = cluster.job_script()
            assert f"#SBATCH -p {partition}\n" in script
            assert ("--gres=gpu:1" in script) == (name == "slurm-gpu")
            assert ("--resources GPU=1" in script) == (name == "slurm-gpu")
            # CPU jobs retire before their wall time and are replaced; GPU jobs are not
            # replaced, so they run for the whole wall time
            assert ("--lifetime 230m" in script) == (name == "slurm")
            # an unset TMPDIR on the node must not drop the argument (the worker then failed
            # on "unexpected extra argument (230m)")
            assert "--local-directory ${TMPDIR:-/tmp}" in script
            assert "\npython -m distributed.cli.dask_worker" in script  # the prologue's env


def _loopback_scheduler():
    """A Scheduler class that listens on loopback only (tests never expose ports)."""
    from distributed import Scheduler

    class LoopbackScheduler(Scheduler):
        def __init__(self, *args, **kwargs):
            kwargs.pop("interface", None)
            kwargs["host"] = "127.0.0.1"
            super().__init__(*args, **kwargs)

    return LoopbackScheduler


@pytest.fixture
def slurm():
    config = ClusterConfig.from_yaml(HPC / "slurm.yaml")
    assert config.dask_config == str(HPC / "jobqueue.yaml")
    with dask_config_file(config.dask_config):
        yield config


def test_lascoproc_slurm_jobs(slurm):
    assert (slurm.backend, slurm.gpu_workers, slurm.adaptive_max) == ("slurm", 2, 64)
    assert slurm.uses_tls and slurm.tls is True  # the default on a batch system, written out
    assert slurm.tls_directory == "~/.lascoproc/tls"
    assert slurm.dashboard_address == "127.0.0.1:8787"  # plain HTTP: login node loopback only
    cpu = jobqueue.cpu_job(slurm, "tls://10.0.0.1:8786").job_script()
    gpu = jobqueue.gpu_job(slurm, "tls://10.0.0.1:8786").job_script()
    assert "#SBATCH -p cpu\n" in cpu and "#SBATCH -p gpu\n" in gpu
    assert "--gres" not in cpu and "#SBATCH --gres=gpu:1\n" in gpu
    assert "--resources" not in cpu
    assert gpu.count("--resources GPU=1") == 1  # from the site section, not added twice
    assert "tls://10.0.0.1:8786" in gpu
    for script in (cpu, gpu):
        assert "--protocol tls://" in script and "--tls-key " in script
    assert "#SBATCH --cpus-per-task=8" in gpu and "#SBATCH --mem=64G" in gpu
    assert "#SBATCH -t 24:00:00" in gpu  # taken from the gpu section: the whole run
    assert "source $HOME/lascoproc/.venv/bin/activate" in gpu  # inherited from `slurm`
    assert "--nthreads 4" in cpu and "--memory-limit 16.00GiB" in cpu


def test_config_fields_override_the_site(slurm):
    import dataclasses

    config = dataclasses.replace(slurm, queue="short", gpu_queue="a100", walltime="01:00:00",
                                 threads_per_worker=2, memory_limit="8GiB",
                                 account="helio", gpu_job_extra=("--gres=gpu:a100:1",),
                                 gpu_resources=(("GPU", 1.0), ("VRAM", 4e10)))
    cpu = jobqueue.cpu_job(config).job_script()
    gpu = jobqueue.gpu_job(config).job_script()
    assert "#SBATCH -p short\n" in cpu and "#SBATCH -A helio" in cpu
    assert "#SBATCH -t 01:00:00" in cpu and "--nthreads 2" in cpu
    assert "#SBATCH -p a100\n" in gpu
    assert "#SBATCH --gres=gpu:1\n" in gpu and "#SBATCH --gres=gpu:a100:1" in gpu
    # the site's --resources wins; lascoproc does not pass a second one
    assert gpu.count("--resources") == 1


def test_resources_added_when_the_site_has_none():
    config = ClusterConfig(backend="slurm", threads_per_worker=4, memory_limit="16GiB",
                           gpu_queue="gpu", gpu_job_extra=("--gres=gpu:1",), gpu_workers=1)
    script = jobqueue.gpu_job(config).job_script()
    assert "#SBATCH -p gpu\n" in script and "--gres=gpu:1" in script
    assert "--resources GPU=1" in script
    kwargs = jobqueue.job_kwargs(config, gpu=True)
    assert kwargs["config_name"] == "slurm-gpu" and kwargs["processes"] == 1


def test_without_tls_the_scripts_are_plain_tcp(slurm):
    import dataclasses

    config = dataclasses.replace(slurm, tls=False)
    script = jobqueue.cpu_job(config, "tcp://10.0.0.1:8786").job_script()
    assert "tcp://10.0.0.1:8786" in script
    assert "--protocol" not in script and "--tls-" not in script
    # a worker of a TLS run could not reach a tcp:// scheduler, nor the other way round
    with pytest.raises(ValueError, match="does not match tls=False"):
        jobqueue.cpu_job(config, "tls://10.0.0.1:8786")
    with pytest.raises(ValueError, match="does not match tls=True"):
        jobqueue.cpu_job(slurm, "tcp://10.0.0.1:8786")


def test_pbs_jobs():
    config = ClusterConfig.from_yaml(HPC / "pbs.yaml")
    with dask_config_file(config.dask_config):
        cpu = jobqueue.cpu_job(config).job_script()
        gpu = jobqueue.gpu_job(config).job_script()
    assert "#PBS -q workq" in cpu and "#PBS -l select=1:ncpus=4:mem=16GB" in cpu
    assert "#PBS -q gpu" in gpu and "ngpus=1" in gpu and "--resources GPU=1" in gpu
    assert config.uses_tls and "--protocol tls://" in cpu and "tls://<scheduler-address>" in cpu
    # --threads-per-worker and --memory-limit reach the job's request, not only the worker
    # (the section's fixed resource-spec asked for 4 CPUs / 16 GB under an 8-thread, 32 GiB
    # worker before 2026-12-02)
    import dataclasses

    bigger = dataclasses.replace(config, threads_per_worker=8, memory_limit="32GiB")
    with dask_config_file(config.dask_config):
        cpu = jobqueue.cpu_job(bigger).job_script()
    assert "#PBS -l select=1:ncpus=8:mem=32GB" in cpu  # PBS counts GB in 1024^3 bytes
    assert "--nthreads 8" in cpu and "--memory-limit 32.00GiB" in cpu


def test_not_a_jobqueue_backend():
    with pytest.raises(ValueError, match="slurm or pbs"):
        jobqueue.sections(ClusterConfig(backend="local"))
