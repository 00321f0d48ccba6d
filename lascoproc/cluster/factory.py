"""One way to get the Dask engine of a run, whatever the backend.

>>> from lascoproc.cluster import ClusterConfig, get_client, describe
>>> with get_client(ClusterConfig()) as client:     # the default: threads, no cluster
...     print(describe(client))                     # doctest: +ELLIPSIS
Dask threaded scheduler in this process (... threads)

Inside the ``with`` block every dask computation of the run uses the engine: the threaded
scheduler (``client`` is ``None``), or a ``distributed.Client`` that is the default client of
the block. Clusters the block started (LocalCluster, KubeCluster, jobqueue clusters) are shut
down when it ends; an existing scheduler (``backend="scheduler"``) is left running.

Where the configuration asks for TLS (:attr:`ClusterConfig.uses_tls`), the client, the
scheduler and the workers talk over ``tls://`` with the credentials of
:mod:`lascoproc.cluster.tls`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dask
from dask.utils import format_bytes

from lascoproc.cluster import tls
from lascoproc.cluster.config import ClusterConfig, read_yaml

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = ["get_client", "describe", "dashboard_link", "threads_of", "dask_config_file",
           "has_gpu_workers"]

logger = logging.getLogger(__name__)


def threads_of(config: ClusterConfig) -> int:
    """Threads of the in-process pool of the ``threads`` backend.

    ``n_workers * threads_per_worker`` when both are given, else whichever is given, else the
    number of CPUs Dask sees.
    """
    if config.threads_per_worker and config.n_workers:
        return config.n_workers * config.threads_per_worker
    return config.threads_per_worker or config.n_workers or (os.cpu_count() or 1)


@contextlib.contextmanager
def get_client(config: ClusterConfig | None = None) -> Iterator[Client | None]:
    """The engine of a run, as a context manager.

    Parameters
    ----------
    config
        How to run (:class:`~lascoproc.cluster.config.ClusterConfig`); the threaded default
        when ``None``.

    Yields
    ------
    distributed.Client or None
        ``None`` for the ``threads`` backend (computations in the block use Dask's threaded
        scheduler with :func:`threads_of` threads); otherwise a client, the default of the block.

    Raises
    ------
    OSError
        The scheduler did not answer within ``config.timeout`` seconds (or refused the
        client's certificate).
    ImportError
        The backend's extra, or ``cryptography`` for temporary TLS credentials, is not
        installed (the message names it).
    ValueError
        A ``tls://`` scheduler without the client's certificates.
    """
    config = config or ClusterConfig()
    if config.backend == "threads":
        with dask.config.set(scheduler="threads", num_workers=threads_of(config)):
            yield None
        return
    from distributed import Client

    with contextlib.ExitStack() as stack:
        stack.enter_context(dask_config_file(config.dask_config))
        security = None
        if config.backend == "scheduler":
            target = config.address
            security = tls.client_security(config)  # None for tcp://
        else:  # the client takes the credentials of the cluster it connects to
            target = stack.enter_context(_start_cluster(config))
        client = Client(target, timeout=f"{config.timeout}s", set_as_default=True,
                        security=security)
        stack.callback(client.close)
        logger.info("%s", describe(client))
        yield client


@contextlib.contextmanager
def dask_config_file(path: str | None) -> Iterator[None]:
    """Dask configuration from a YAML file in force inside the block (nothing when ``None``)."""
    if not path:
        yield
        return
    values = read_yaml(path)
    merged = dask.config.merge(dask.config.config, values)
    with dask.config.set({key: merged[key] for key in merged if key in values}):
        yield


@contextlib.contextmanager
def _start_cluster(config: ClusterConfig):
    if config.backend == "local":
        with _local_cluster(config) as cluster:
            yield cluster
    elif config.backend == "kubernetes":
        from lascoproc.cluster.kubernetes import kube_cluster

        with kube_cluster(config) as cluster:
            yield cluster
    elif config.backend in ("slurm", "pbs"):
        from lascoproc.cluster.jobqueue import jobqueue_cluster

        with jobqueue_cluster(config) as cluster:
            yield cluster
    else:  # pragma: no cover - ClusterConfig validates the backend
        raise ValueError(f"no cluster to start for backend {config.backend!r}")


@contextlib.contextmanager
def _local_cluster(config: ClusterConfig):
    from distributed import LocalCluster

    kwargs = {
        "n_workers": config.adaptive_min if config.adaptive else config.n_workers,
        "threads_per_worker": config.threads_per_worker,
        "processes": True,
        "dashboard_address": config.dashboard_address,
    }
    if config.memory_limit is not None:
        kwargs["memory_limit"] = config.memory_limit
    if config.worker_resources:
        kwargs["resources"] = config.worker_resources_dict()
    security = tls.local_security(config)
    if security is not None:
        kwargs.update(security=security, protocol="tls://")
    with LocalCluster(**kwargs) as cluster:
        if config.adaptive:
            cluster.adapt(minimum=config.adaptive_min or 0, maximum=config.adaptive_max)
        yield cluster


def dashboard_link(client: Client | None) -> str | None:
    """The dashboard URL of the client's scheduler, ``None`` without one (or without client)."""
    if client is None:
        return None
    try:
        return client.dashboard_link
    except (KeyError, AttributeError):  # a scheduler started without its dashboard
        return None


def has_gpu_workers(client: Client | None, config: ClusterConfig | None = None,
                    resource: str = "GPU") -> bool:
    """Whether tasks that ask for the worker resource ``resource`` can run on this engine.

    True when ``config`` starts GPU workers (``gpu_workers``) or gives its workers the resource
    (``worker_resources``), or when a worker of the client's cluster advertises it now. False
    without a client: the threaded scheduler ignores resources.
    """
    if client is None:
        return False
    if config is not None and (
            (config.gpu_workers and resource in config.gpu_resources_dict())
            or resource in config.worker_resources_dict()):
        return True
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return any((w.get("resources") or {}).get(resource, 0) > 0 for w in workers.values())


def describe(client: Client | None, config: ClusterConfig | None = None) -> str:
    """One line saying what engine runs the computations, with the dashboard link.

    Parameters
    ----------
    client
        What :func:`get_client` yielded.
    config
        Used for the thread count of the ``threads`` backend.
    """
    if client is None:
        if config is not None:
            threads = threads_of(config)
        else:
            threads = dask.config.get("num_workers", None) or os.cpu_count() or 1
        return f"Dask threaded scheduler in this process ({threads} threads)"
    info = client.scheduler_info(n_workers=-1)
    workers = info.get("workers", {})
    threads = sum(w.get("nthreads", 0) for w in workers.values())
    memory = sum(w.get("memory_limit", 0) or 0 for w in workers.values())
    resources: dict[str, float] = {}
    for w in workers.values():
        for key, amount in (w.get("resources") or {}).items():
            resources[key] = resources.get(key, 0) + amount
    text = (f"dask.distributed scheduler {info.get('address', client.scheduler.address)}: "
            f"{len(workers)} workers, {threads} threads")
    if not workers and config is not None and config.backend in ("kubernetes", "slurm",
                                                                    "pbs", "local"):
        text += " so far (workers are still starting: pods or batch jobs join as they run)"
    if memory:
        text += f", {format_bytes(memory)} memory"
    if resources:
        text += ", " + ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items()))
    link = dashboard_link(client)
    if link:
        text += f"; dashboard {link}"
    return text
