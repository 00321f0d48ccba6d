"""HPC batch systems through dask-jobqueue (``pip install 'lascoproc[hpc]'``): SLURM and PBS.

The scheduler runs in the lascoproc process (on a login node or in a small job of its own); each
worker is one batch job running ``dask worker`` that connects back to it. Two job types:

- **CPU jobs** from the ``jobqueue.<backend>`` section of Dask's configuration (site defaults:
  partition, account, cores, memory, walltime, ``deploy/hpc/jobqueue.yaml``), overridden by the
  :class:`~lascoproc.cluster.config.ClusterConfig` fields that are set; ``n_workers`` jobs, or
  adaptive between ``adaptive_min`` and ``adaptive_max`` (dask-jobqueue's ``adapt``).
- **GPU jobs** (``gpu_workers > 0``) from the ``jobqueue.<backend>-gpu`` section (missing keys
  are taken from the CPU section), on ``gpu_queue`` with ``gpu_job_extra`` directives
  (``--gres=gpu:1`` on SLURM, ``ngpus=1`` in PBS's ``resource-spec``); their workers advertise
  ``--resources GPU=1``. They are jobs of the same class attached to the same scheduler, started
  with the cluster and cancelled when it closes.

Cluster traffic is mutual TLS unless ``tls: false`` (``--no-tls``): the scheduler listens on a
node other users reach, and whoever connects to it runs code as the user. The credentials are
made for the run (:func:`lascoproc.cluster.tls.jobqueue_security`: a temporary CA whose
certificate and key are written, 0600 in a 0700 directory, to ``tls_directory`` on a file
system the compute nodes see, and removed at the end) or are the certificate files given. The
job scripts carry ``--protocol tls://`` and the paths of those files (``--tls-ca-file``,
``--tls-cert``, ``--tls-key``), never their contents.

Nothing is submitted before :func:`jobqueue_cluster` is entered; :func:`cpu_job` and
:func:`gpu_job` build the job objects whose ``job_script()`` can be read without a batch system.

Only this module imports ``dask_jobqueue``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dask

from lascoproc.cluster import tls
from lascoproc.cluster.config import ClusterConfig, format_resources

if TYPE_CHECKING:  # pragma: no cover
    from distributed.security import Security

__all__ = ["jobqueue_cluster", "job_kwargs", "cpu_job", "gpu_job", "sections"]

EXTRA_HINT = "pip install 'lascoproc[hpc]'"
_CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster"}
_JOBS = {"slurm": ("dask_jobqueue.slurm", "SLURMJob"), "pbs": ("dask_jobqueue.pbs", "PBSJob")}
PLACEHOLDER_ADDRESS = "tcp://<scheduler-address>:8786"
TLS_PROTOCOL = "tls://"


def _jobqueue():
    try:
        import dask_jobqueue
    except ImportError as err:
        raise ImportError(
            f"the slurm and pbs cluster backends need dask-jobqueue: {EXTRA_HINT}"
        ) from err
    return dask_jobqueue


def _check_backend(config: ClusterConfig) -> None:
    if config.backend not in _CLUSTERS:
        raise ValueError(f"not a jobqueue backend: {config.backend!r} (slurm or pbs)")


def sections(config: ClusterConfig) -> tuple[str, str]:
    """Names of the Dask ``jobqueue`` config sections of the CPU and the GPU jobs."""
    _check_backend(config)
    cpu = config.jobqueue_section or config.backend
    return cpu, config.gpu_jobqueue_section or f"{cpu}-gpu"


def _section(name: str) -> dict:
    return dict(dask.config.get(f"jobqueue.{name}", default=None) or {})


@contextlib.contextmanager
def _complete_sections(config: ClusterConfig) -> Iterator[None]:
    """Fill the sections' missing keys: GPU <- CPU <- dask-jobqueue's defaults of the backend.

    dask-jobqueue reads every key of a job's section; a site's ``slurm-gpu`` section only says
    what differs from ``slurm`` (partition, gres), so the rest is merged in here. The defaults
    are taken from ``dask.config.defaults``, where dask-jobqueue registers them on import, so
    that a configuration set over the whole ``jobqueue`` key cannot hide them.
    """
    _jobqueue()  # registers its defaults in dask.config.defaults
    cpu, gpu = sections(config)
    defaults = dask.config.merge(*dask.config.defaults).get("jobqueue", {}).get(config.backend, {})
    defaults = dask.config.merge(defaults, _section(config.backend))
    cpu_values = dask.config.merge(defaults, _section(cpu))
    gpu_values = dask.config.merge(cpu_values, _section(gpu))
    with dask.config.set({f"jobqueue.{cpu}": cpu_values, f"jobqueue.{gpu}": gpu_values}):
        yield


def job_kwargs(config: ClusterConfig, *, gpu: bool = False,
               security: Security | None = None) -> dict[str, Any]:
    """Keyword arguments of a job (and of its cluster): the config fields that are set.

    One worker process per job (``processes=1``) with ``threads_per_worker`` threads, so that
    the Dask memory limit and the job's memory are the same thing. List-valued options extend
    those of the section instead of replacing them. With ``security`` (TLS), the workers
    listen and connect over ``tls://`` with the credential files it names.
    """
    cpu, gpu_name = sections(config)
    section = gpu_name if gpu else cpu
    kwargs: dict[str, Any] = {"config_name": section, "processes": 1}
    if config.threads_per_worker:
        kwargs["cores"] = config.threads_per_worker
    if config.memory_limit and config.memory_limit != "auto":
        kwargs["memory"] = config.memory_limit
    queue = config.gpu_queue if gpu else config.queue
    optional = {"queue": queue, "account": config.account, "walltime": config.walltime,
                "interface": config.interface, "local_directory": config.local_directory}
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    extra = config.gpu_job_extra if gpu else config.job_extra
    if extra:
        site = list(dask.config.get(f"jobqueue.{section}.job-extra-directives", default=None)
                    or [])
        kwargs["job_extra_directives"] = site + [d for d in extra if d not in site]
    resources = config.gpu_resources if gpu else config.worker_resources
    site_args = list(dask.config.get(f"jobqueue.{section}.worker-extra-args", default=None)
                     or [])
    if resources and "--resources" not in site_args:
        kwargs["worker_extra_args"] = [*site_args, "--resources", format_resources(resources)]
    if security is not None:
        _check_paths_only(security)
        kwargs.update(protocol=TLS_PROTOCOL, security=security)
    return kwargs


def _check_paths_only(security: Security) -> None:
    """A job script may name the worker's credentials, never hold them."""
    values = security.get_tls_config_for_role("worker")
    if any(isinstance(v, str) and "\n" in v for v in values.values()):
        raise ValueError("TLS: the workers' credentials are in memory; a job script may only "
                         "name files (lascoproc.cluster.tls.jobqueue_security writes them)")


def shared_temp_directory(config: ClusterConfig) -> str | None:
    """The ``shared-temp-directory`` of the CPU jobs' section (dask-jobqueue's place for
    credentials the jobs read), the default of ``tls_directory``."""
    return dask.config.get(f"jobqueue.{sections(config)[0]}.shared-temp-directory",
                           default=None)


def _job_class(config: ClusterConfig):
    import importlib

    _jobqueue()
    module, name = _JOBS[config.backend]
    return getattr(importlib.import_module(module), name)


def _job(config: ClusterConfig, address: str | None, name: str, *, gpu: bool,
         security: Security | None):
    if address is None:
        address = PLACEHOLDER_ADDRESS
        if config.uses_tls:
            address = address.replace("tcp://", TLS_PROTOCOL)
    if config.uses_tls != address.startswith(TLS_PROTOCOL):
        raise ValueError(f"the scheduler address {address} does not match tls="
                         f"{config.uses_tls}: a worker could not connect")
    with _complete_sections(config):
        if config.uses_tls and security is None:
            security = tls.placeholder_security(config, shared_temp_directory(config))
        kwargs = job_kwargs(config, gpu=gpu, security=security if config.uses_tls else None)
        return _job_class(config)(scheduler=address, name=name, **kwargs)


def cpu_job(config: ClusterConfig, address: str | None = None, name: str = "lascoproc-cpu",
            *, security: Security | None = None):
    """A CPU job object (not submitted); ``.job_script()`` is the batch script.

    ``address`` defaults to a placeholder (``tls://`` when the run uses TLS); without
    ``security``, a TLS job names the files :func:`lascoproc.cluster.tls.jobqueue_security`
    would write (with ``XXXXXXXX`` for the run's directory).
    """
    return _job(config, address, name, gpu=False, security=security)


def gpu_job(config: ClusterConfig, address: str | None = None, name: str = "lascoproc-gpu",
            *, security: Security | None = None):
    """A GPU job object (not submitted); ``.job_script()`` is the batch script (see
    :func:`cpu_job`)."""
    return _job(config, address, name, gpu=True, security=security)


@contextlib.contextmanager
def jobqueue_cluster(config: ClusterConfig) -> Iterator[Any]:
    """Start the scheduler here, submit the CPU (and GPU) worker jobs; cancel them on exit.

    With TLS (the default) the scheduler listens on ``tls://`` only, and the run's
    credentials exist until the jobs are cancelled and the scheduler closed.
    """
    jobqueue = _jobqueue()
    cluster_class = getattr(jobqueue, _CLUSTERS[config.backend])
    with _complete_sections(config):
        directory = shared_temp_directory(config)
    with tls.jobqueue_security(config, directory) as security:
        with _complete_sections(config):
            cluster = cluster_class(
                n_workers=0, name=config.name,
                scheduler_options={"dashboard_address": config.dashboard_address},
                **job_kwargs(config, security=security),
            )
        gpu_jobs = []
        try:
            if config.adaptive:
                cluster.adapt(minimum=config.adaptive_min or 0, maximum=config.adaptive_max)
            else:
                cluster.scale(1 if config.n_workers is None else config.n_workers)
            for i in range(config.gpu_workers):
                job = gpu_job(config, cluster.scheduler_address,
                              name=f"{config.name}-gpu-{i}", security=security)
                cluster.sync(job.start)
                gpu_jobs.append(job)
            yield cluster
        finally:
            for job in gpu_jobs:
                cluster.sync(job.close)
            cluster.close()
