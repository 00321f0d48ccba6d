"""Kubernetes through the dask-kubernetes operator (``pip install 'lascoproc[kubernetes]'``).

The operator (installed once per Kubernetes cluster, see ``deploy/README.md``) turns a
``DaskCluster`` resource into a scheduler pod, its service and a default worker group, and a
``DaskWorkerGroup`` into more worker pods attached to that scheduler. This module builds those
resources with the operator's own helpers (``make_cluster_spec``, ``make_worker_spec``) from a
:class:`~lascoproc.cluster.config.ClusterConfig`, or reads them from manifests
(``deploy/kubernetes/daskcluster.yaml``, ``deploy/kubernetes/gpu-workergroup.yaml``), and starts
them with ``KubeCluster``:

- the CPU workers: ``n_workers`` replicas of ``dask worker --nthreads T --memory-limit M``,
  container limits ``cpu: T`` and ``memory: M``; adaptive between ``adaptive_min`` and
  ``adaptive_max`` through the operator's ``DaskAutoscaler`` when asked;
- the GPU workers (``gpu_workers > 0``): a worker group ``<name>-gpu`` of the CUDA image whose
  workers advertise ``--resources GPU=1`` and whose pods ask for ``nvidia.com/gpu: 1``
  (and tolerate the usual ``nvidia.com/gpu`` node taint).

No TLS: the operator hard-codes ``tcp://`` in the scheduler address it gives the workers
(``DASK_SCHEDULER_ADDRESS``) and in its own connections to the scheduler (scaling down,
autoscaling), and ``KubeCluster`` has no ``security`` option, so ``tls: true`` is refused for
this backend. The scheduler is reachable only inside the Kubernetes cluster (a ``ClusterIP``
service, or ``kubectl port-forward``, which needs the namespace's RBAC); a NetworkPolicy
(``deploy/kubernetes/networkpolicy.yaml``) narrows that to the cluster's own pods, the
operator and labelled client pods (``deploy/README.md``).

Only this module imports ``dask_kubernetes``.
"""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import Iterator
from typing import Any

from dask.utils import parse_bytes

from lascoproc.cluster.config import ClusterConfig, format_resources, read_yaml

__all__ = [
    "cluster_spec",
    "gpu_worker_group",
    "worker_command",
    "container_resources",
    "kube_cluster",
    "run_named",
    "adapt_bounds",
    "SCHEDULER_COMMAND",
    "DEFAULT_CPU_WORKERS",
]

EXTRA_HINT = "pip install 'lascoproc[kubernetes]'"
API_VERSION = "kubernetes.dask.org/v1"

#: ``distributed`` no longer installs the ``dask-scheduler`` script the operator's helper
#: writes into the scheduler pod; ``dask scheduler`` is the command of every version we support.
SCHEDULER_COMMAND = ("dask", "scheduler", "--host", "0.0.0.0")
#: The scheduler holds the task graph of one region at a time: it needs little.
SCHEDULER_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
DEFAULT_CPU_WORKERS = 2
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _operator():
    try:
        from dask_kubernetes import operator
    except ImportError as err:
        raise ImportError(
            f"the kubernetes cluster backend needs dask-kubernetes: {EXTRA_HINT}"
        ) from err
    return operator


def _quantity(nbytes: int) -> str:
    """Bytes as a Kubernetes quantity: ``4Gi``, ``512Mi`` or plain bytes."""
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if nbytes % unit == 0:
            return f"{nbytes // unit}{suffix}"
    return str(nbytes)


def worker_command(config: ClusterConfig, *, gpu: bool = False) -> list[str]:
    """``dask worker`` and its options (the operator appends name and dashboard).

    The scheduler address comes from ``DASK_SCHEDULER_ADDRESS``, set by the operator.
    """
    command = ["dask", "worker", "--nthreads", str(config.threads_per_worker or 1)]
    if config.memory_limit and config.memory_limit != "auto":
        command += ["--memory-limit", config.memory_limit]
    resources = config.gpu_resources if gpu else config.worker_resources
    if resources:
        command += ["--resources", format_resources(resources)]
    return command


def container_resources(config: ClusterConfig, *, gpu: bool = False) -> dict[str, Any]:
    """Pod resources of a worker: ``cpu`` = threads, ``memory`` = the Dask memory limit.

    Dask pauses a worker at 80 % of its limit and its nanny restarts it at 95 %, so with both
    limits equal the kernel's OOM killer is not the first to act.
    """
    requests = {"cpu": str(config.threads_per_worker or 1)}
    limits: dict[str, str] = {}
    if config.memory_limit and config.memory_limit != "auto":
        memory = _quantity(parse_bytes(config.memory_limit))
        requests["memory"] = memory
        limits["memory"] = memory
    if gpu:
        limits.update(dict(config.gpu_limits))
    return {"requests": requests, "limits": limits}


def _cpu_replicas(config: ClusterConfig) -> int:
    if config.adaptive:
        return config.adaptive_min or 0
    return DEFAULT_CPU_WORKERS if config.n_workers is None else config.n_workers


def cluster_spec(config: ClusterConfig) -> dict[str, Any]:
    """The ``DaskCluster`` resource of a run: scheduler and CPU worker group.

    ``config.cluster_spec`` (a manifest path) is read as is; otherwise the spec is made with
    the operator's ``make_cluster_spec`` from the config, with the scheduler command and
    resources set as described in :data:`SCHEDULER_COMMAND` and :data:`SCHEDULER_RESOURCES`.
    """
    if config.cluster_spec:
        spec = read_yaml(config.cluster_spec)
        if spec.get("kind") != "DaskCluster":
            raise ValueError(f"{config.cluster_spec}: not a DaskCluster manifest")
        return spec
    operator = _operator()
    spec = operator.make_cluster_spec(
        name=config.name,
        image=config.image,
        n_workers=_cpu_replicas(config),
        resources=container_resources(config),
        worker_command=worker_command(config),
    )
    scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
    scheduler["args"] = list(SCHEDULER_COMMAND)
    scheduler["resources"] = copy.deepcopy(SCHEDULER_RESOURCES)
    _drop_empty_env(spec["spec"]["worker"]["spec"]["containers"][0])
    _drop_empty_env(scheduler)
    return spec


def _drop_empty_env(container: dict) -> None:
    if container.get("env") is None:
        container.pop("env", None)


def gpu_worker_group(config: ClusterConfig) -> dict[str, Any]:
    """The ``DaskWorkerGroup`` resource of the GPU workers (``<name>-gpu``).

    ``config.gpu_worker_spec`` (a manifest path) is read as is; otherwise made with the
    operator's ``make_worker_spec``: the GPU image, ``--resources GPU=1``, the container limit
    ``nvidia.com/gpu: 1`` and a toleration of the ``nvidia.com/gpu`` taint.
    """
    if config.gpu_worker_spec:
        group = read_yaml(config.gpu_worker_spec)
        if group.get("kind") != "DaskWorkerGroup":
            raise ValueError(f"{config.gpu_worker_spec}: not a DaskWorkerGroup manifest")
        return group
    operator = _operator()
    worker = operator.make_worker_spec(
        image=config.gpu_image or config.image,
        n_workers=config.gpu_workers,
        resources=container_resources(config, gpu=True),
        worker_command=worker_command(config, gpu=True),
    )
    _drop_empty_env(worker["spec"]["containers"][0])
    worker["spec"]["tolerations"] = [dict(GPU_TOLERATION)]
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskWorkerGroup",
        "metadata": {"name": f"{config.name}-gpu"},
        "spec": {"cluster": config.name, "worker": worker},
    }


def adapt_bounds(config: ClusterConfig) -> tuple[int, int]:
    """``(minimum, maximum)`` CPU replicas of the operator's autoscaler, both integers as its
    ``DaskAutoscaler`` resource requires (one bound given used to send ``null`` for the other,
    which the API server refuses): minimum ``adaptive_min`` or 0; maximum ``adaptive_max``,
    else the larger of the minimum and ``n_workers`` (default :data:`DEFAULT_CPU_WORKERS`)."""
    lo = int(config.adaptive_min or 0)
    hi = config.adaptive_max
    fixed = DEFAULT_CPU_WORKERS if config.n_workers is None else int(config.n_workers)
    return lo, int(hi) if hi is not None else max(lo, fixed)


def run_named(config: ClusterConfig, spec: dict, run: str) -> tuple[ClusterConfig, dict]:
    """``config`` and its cluster ``spec`` renamed ``<name>-<run>`` for one run: its metadata
    name and every ``dask.org/cluster-name`` label or selector, so that the run creates its
    own ``DaskCluster`` and deletes only that one on exit. (With the manifests' fixed name and
    dask-kubernetes' defaults, create-or-connect and shut down on close, a run connected to a
    cluster of that name, a long-lived one or another run's, and deleted it at its end.)"""
    old, new = config.name, f"{config.name}-{run}"

    def renamed(node):
        if isinstance(node, dict):
            return {k: (new if k == "dask.org/cluster-name" and v == old else renamed(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [renamed(v) for v in node]
        return node

    spec = renamed(copy.deepcopy(spec))
    spec.setdefault("metadata", {})["name"] = new
    return config.replace({"name": new}, source="run"), spec


@contextlib.contextmanager
def kube_cluster(config: ClusterConfig) -> Iterator[Any]:
    """Start a ``DaskCluster`` of ``config`` for this run (named ``<name>-<8 hex digits>``,
    :func:`run_named`; never an existing cluster: ``CREATE_ONLY``); delete it on exit.

    Needs the operator in the Kubernetes cluster and a kubeconfig (or in-cluster service
    account) allowed to create its resources.
    """
    operator = _operator()
    config, spec = run_named(config, cluster_spec(config), uuid.uuid4().hex[:8])
    options = {}
    try:
        from dask_kubernetes.operator.kubecluster.kubecluster import CreateMode

        options["create_mode"] = CreateMode.CREATE_ONLY
    except ImportError:  # pragma: no cover - another layout: the unique name suffices
        pass
    cluster = operator.KubeCluster(custom_cluster_spec=spec, namespace=config.namespace,
                                   resource_timeout=int(config.timeout), **options)
    try:
        if config.gpu_workers or config.gpu_worker_spec:
            group = gpu_worker_group(config)
            suffix = group["metadata"]["name"].removeprefix(f"{cluster.name}-")
            cluster.add_worker_group(suffix, custom_spec=group["spec"]["worker"])
        if config.adaptive:
            cluster.adapt(*adapt_bounds(config))
        yield cluster
    finally:
        cluster.close()
