"""How a run executes: which Dask engine, how many workers, what each may use.

A :class:`ClusterConfig` is *runtime* configuration (STYLE rule 7): it says how a run executes,
never what it computes, so the same run gives the same output on every backend. It is read, in
increasing precedence, from

1. the defaults below (Dask's threaded scheduler in this process: no cluster at all);
2. a YAML file (``--cluster FILE`` or ``$LASCOPROC_CLUSTER``), read with ``yaml.safe_load``;
3. environment variables (:data:`ENV_VARS`), e.g. ``LASCOPROC_SCHEDULER=tcp://host:8786``;
4. explicit overrides (command-line flags).

Backends
--------
``threads``
    Dask's threaded scheduler in this process (the default). On a laptop it is the fastest:
    on a 2-core machine it gave 1.7-2.2x over one thread where a distributed LocalCluster gave
    1.0-1.4x (``docs/scaling.md``).
``local``
    A ``distributed.LocalCluster`` of worker processes on this machine: a dashboard, memory
    limits, worker restarts.
``scheduler``
    An existing ``dask scheduler`` at ``address`` (workers started by someone else).
``kubernetes``
    A ``DaskCluster`` through the dask-kubernetes operator (``lascoproc[kubernetes]``): a CPU
    worker group and, with ``gpu_workers``, a GPU worker group.
``slurm``, ``pbs``
    Batch jobs through dask-jobqueue (``lascoproc[hpc]``): CPU jobs and, with ``gpu_workers``,
    jobs of a second type on a GPU partition/queue.

GPU workers advertise the Dask resources ``gpu_resources`` (``GPU=1`` by default); tasks that
need a GPU are annotated with them (``dask.annotate(resources={"GPU": 1})``) and run only there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dask.utils import parse_bytes

__all__ = [
    "BACKENDS",
    "ENV_VARS",
    "DEFAULT_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "ClusterConfig",
    "load_cluster_config",
]

BACKENDS = ("threads", "local", "scheduler", "kubernetes", "slurm", "pbs")

#: Backends that start GPU worker groups of their own.
GPU_GROUP_BACKENDS = ("kubernetes", "slurm", "pbs")

#: Container image of the Kubernetes scheduler and workers (``deploy/Dockerfile``).
DEFAULT_IMAGE = "ghcr.io/lascoproc/lascoproc:0.1.0"
#: Container image of the Kubernetes GPU workers (``deploy/Dockerfile.cuda``).
DEFAULT_GPU_IMAGE = "ghcr.io/lascoproc/lascoproc:0.1.0-cuda"

#: Environment variable -> ClusterConfig field. ``LASCOPROC_CLUSTER`` names a YAML file.
ENV_VARS = {
    "LASCOPROC_CLUSTER_BACKEND": "backend",
    "LASCOPROC_SCHEDULER": "address",
    "LASCOPROC_WORKERS": "n_workers",
    "LASCOPROC_THREADS_PER_WORKER": "threads_per_worker",
    "LASCOPROC_MEMORY_LIMIT": "memory_limit",
    "LASCOPROC_GPU_WORKERS": "gpu_workers",
    "LASCOPROC_ADAPTIVE_MIN": "adaptive_min",
    "LASCOPROC_ADAPTIVE_MAX": "adaptive_max",
}
CLUSTER_FILE_ENV = "LASCOPROC_CLUSTER"

_Resources = tuple[tuple[str, float], ...]


def _resources(value: Any, field: str) -> _Resources:
    """``{"GPU": 1}``, ``"GPU=1 MEM=10e9"`` (dask-worker's form) or pairs -> sorted pairs."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = []
        for part in value.replace(",", " ").split():
            if "=" not in part:
                raise ValueError(f"{field}: want NAME=AMOUNT such as GPU=1, got {part!r}")
            key, amount = part.split("=", 1)
            items.append((key, amount))
        value = items
    elif isinstance(value, Mapping):
        value = list(value.items())
    try:
        pairs = tuple(sorted((str(k), float(v)) for k, v in value))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{field}: want a mapping of resource names to amounts, got "
                         f"{value!r}") from err
    for key, amount in pairs:
        if amount <= 0:
            raise ValueError(f"{field}: resource {key} must be positive, got {amount}")
    return pairs


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ValueError(f"{field}: want a list of strings, got {value!r}")
    return tuple(str(v) for v in value)


def _optional_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{field}: want an integer, got {value!r}") from err
    if number < 0:
        raise ValueError(f"{field}: must be >= 0, got {number}")
    return number


def format_resources(pairs: _Resources) -> str:
    """Pairs as ``dask worker --resources`` wants them: ``"GPU=1 MEM=1e+10"``."""
    return " ".join(f"{k}={v:g}" for k, v in pairs)


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """How a run executes. Frozen and hashable; build it with :func:`load_cluster_config`.

    Attributes
    ----------
    backend
        One of :data:`BACKENDS`; ``"threads"`` by default.
    address
        Scheduler address for ``backend="scheduler"``, e.g. ``tcp://10.0.0.5:8786``.
    n_workers
        Worker count: LocalCluster processes, Kubernetes CPU replicas, jobqueue CPU jobs; for
        ``threads``, the thread count when ``threads_per_worker`` is not given.
        ``None``: the backend's default (LocalCluster: from the cores; Kubernetes: 2;
        jobqueue: 1).
    threads_per_worker
        Threads in each worker process (``threads``: threads of the in-process pool).
    memory_limit
        Memory each worker may use before Dask spills, pauses and restarts it, e.g. ``"4GiB"``
        (``"auto"``: a share of the machine, LocalCluster only).
    worker_resources
        Dask resources every CPU worker advertises, as ``(name, amount)`` pairs.
    gpu_workers
        Workers of a second, GPU, group (kubernetes, slurm, pbs), each advertising
        ``gpu_resources``.
    gpu_resources
        Dask resources of a GPU worker; ``(("GPU", 1.0),)`` by default.
    adaptive_min, adaptive_max
        Adaptive scaling of the CPU workers between these counts, where the backend supports
        it (local, kubernetes through the operator's autoscaler, slurm, pbs); both ``None``:
        a fixed ``n_workers``.
    dashboard_address
        Dashboard of a scheduler this process starts (local, slurm, pbs); ``":0"`` picks a
        free port.
    timeout
        Seconds to wait for a scheduler to answer.
    dask_config
        A YAML file of Dask configuration in force while the run's cluster runs (e.g. the
        site's ``jobqueue`` sections, ``deploy/hpc/jobqueue.yaml``).
    name, namespace, image, gpu_image, cluster_spec, gpu_worker_spec
        Kubernetes: ``DaskCluster`` name and namespace, the container images of the CPU and
        GPU workers, and optionally manifests to use instead of generated specs
        (``deploy/kubernetes/daskcluster.yaml``, ``deploy/kubernetes/gpu-workergroup.yaml``).
    gpu_limits
        Kubernetes: container resource limits of a GPU worker (``nvidia.com/gpu: 1``).
    queue, gpu_queue, account, walltime, job_extra, gpu_job_extra, interface,
    local_directory, jobqueue_section, gpu_jobqueue_section
        Jobqueue: SLURM partition or PBS queue of the CPU and the GPU jobs, account, wall time,
        extra job directives (e.g. ``--gres=gpu:1``), network interface, worker scratch, and
        the sections of Dask's ``jobqueue`` configuration holding site defaults
        (``deploy/hpc/jobqueue.yaml``; default: the backend name and ``<backend>-gpu``).
    """

    backend: str = "threads"
    address: str | None = None
    n_workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: str | None = None
    worker_resources: _Resources = ()
    gpu_workers: int = 0
    gpu_resources: _Resources = (("GPU", 1.0),)
    adaptive_min: int | None = None
    adaptive_max: int | None = None
    dashboard_address: str = ":8787"
    timeout: float = 60.0
    dask_config: str | None = None
    # kubernetes
    name: str = "lascoproc"
    namespace: str | None = None
    image: str = DEFAULT_IMAGE
    gpu_image: str = DEFAULT_GPU_IMAGE
    gpu_limits: tuple[tuple[str, str], ...] = (("nvidia.com/gpu", "1"),)
    cluster_spec: str | None = None
    gpu_worker_spec: str | None = None
    # dask-jobqueue
    queue: str | None = None
    gpu_queue: str | None = None
    account: str | None = None
    walltime: str | None = None
    job_extra: tuple[str, ...] = ()
    gpu_job_extra: tuple[str, ...] = ()
    interface: str | None = None
    local_directory: str | None = None
    jobqueue_section: str | None = None
    gpu_jobqueue_section: str | None = None

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"cluster backend {self.backend!r} unknown; choose one of "
                             f"{', '.join(BACKENDS)}")
        for field in ("n_workers", "threads_per_worker", "adaptive_min", "adaptive_max"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
        if self.threads_per_worker == 0:
            raise ValueError("threads_per_worker must be at least 1")
        if not isinstance(self.gpu_workers, int) or self.gpu_workers < 0:
            raise ValueError(f"gpu_workers must be a non-negative integer, got "
                             f"{self.gpu_workers!r}")
        if self.backend == "scheduler" and not self.address:
            raise ValueError("the scheduler backend needs an address such as "
                             "tcp://host:8786 (--scheduler or LASCOPROC_SCHEDULER)")
        if self.address and self.backend != "scheduler":
            raise ValueError(f"a scheduler address ({self.address}) is given but the backend "
                             f"is {self.backend!r}: choose one")
        if self.gpu_workers and self.backend not in GPU_GROUP_BACKENDS:
            raise ValueError(
                f"gpu_workers: the {self.backend} backend starts no GPU worker group; on one "
                "machine give the workers the resource with worker_resources: {GPU: 1}, and "
                "start GPU workers of an existing scheduler with "
                "'dask worker ADDRESS --resources GPU=1'"
            )
        lo, hi = self.adaptive_min, self.adaptive_max
        if (lo is not None or hi is not None) and self.backend in ("threads", "scheduler"):
            raise ValueError(f"adaptive scaling needs a backend that starts workers, not "
                             f"{self.backend!r}")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"adaptive_min ({lo}) > adaptive_max ({hi})")
        if self.memory_limit is not None and self.memory_limit != "auto":
            try:
                parse_bytes(self.memory_limit)
            except ValueError as err:
                raise ValueError(f"memory_limit: want a size such as 4GiB, got "
                                 f"{self.memory_limit!r}") from err
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "cluster config"
                     ) -> ClusterConfig:
        """Build from plain values (a parsed YAML file); unknown keys are an error."""
        return cls().replace(values, source=source)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> ClusterConfig:
        """Read a YAML file of :class:`ClusterConfig` fields (``yaml.safe_load``).

        Relative paths in it (``dask_config``, ``cluster_spec``, ``gpu_worker_spec``) are
        relative to the file's directory.
        """
        values = read_yaml(path)
        base = Path(path).parent
        for field in _PATH_FIELDS:
            if values.get(field) and not Path(str(values[field])).is_absolute():
                values[field] = str(base / str(values[field]))
        return cls().replace(values, source=str(path))

    def replace(self, values: Mapping[str, Any], *, source: str = "cluster config"
                ) -> ClusterConfig:
        """A copy with ``values`` (plain YAML/env/CLI values) converted and applied."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; known keys: "
                             f"{', '.join(sorted(fields))}")
        return dataclasses.replace(self, **{k: _convert(k, v) for k, v in values.items()})

    def with_env(self, environ: Mapping[str, str] | None = None) -> ClusterConfig:
        """A copy with the :data:`ENV_VARS` that are set applied.

        ``LASCOPROC_SCHEDULER`` alone selects the ``scheduler`` backend.
        """
        environ = os.environ if environ is None else environ
        values = {field: environ[var] for var, field in ENV_VARS.items() if environ.get(var)}
        if "address" in values and "backend" not in values:
            values["backend"] = "scheduler"
        if values.get("backend", "scheduler") != "scheduler" and "address" not in values:
            values["address"] = None
        return self.replace(values, source="environment") if values else self

    # ------------------------------------------------------------------ views

    @property
    def distributed(self) -> bool:
        """Whether the run uses ``dask.distributed`` (every backend but ``threads``)."""
        return self.backend != "threads"

    @property
    def adaptive(self) -> bool:
        return self.adaptive_min is not None or self.adaptive_max is not None

    def worker_resources_dict(self) -> dict[str, float]:
        return dict(self.worker_resources)

    def gpu_resources_dict(self) -> dict[str, float]:
        return dict(self.gpu_resources)


_PATH_FIELDS = ("dask_config", "cluster_spec", "gpu_worker_spec")
_RESOURCE_FIELDS = ("worker_resources", "gpu_resources")
_LIST_FIELDS = ("job_extra", "gpu_job_extra")
_INT_FIELDS = ("n_workers", "threads_per_worker", "adaptive_min", "adaptive_max")


def _convert(field: str, value: Any) -> Any:
    if field in _RESOURCE_FIELDS:
        return _resources(value, field)
    if field in _LIST_FIELDS:
        return _strings(value, field)
    if field in _INT_FIELDS:
        return _optional_int(value, field)
    if field == "gpu_workers":
        return _optional_int(value, field) or 0
    if field == "timeout":
        return float(value)
    if field == "gpu_limits":
        if isinstance(value, Mapping):
            value = value.items()
        return tuple(sorted((str(k), str(v)) for k, v in value))
    if field == "memory_limit" and isinstance(value, int | float):
        return str(int(value))
    return None if value is None else str(value)


def read_yaml(path: str | os.PathLike) -> dict:
    """A mapping from a YAML file, through ``yaml.safe_load`` only."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"cluster config {path} not found") from err
    values = yaml.safe_load(text) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a cluster config is a mapping of keys to values")
    return values


def load_cluster_config(
    path: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ClusterConfig:
    """Defaults <- YAML file <- environment <- ``overrides`` (those not ``None``).

    Parameters
    ----------
    path
        YAML file of :class:`ClusterConfig` fields; ``$LASCOPROC_CLUSTER`` when ``None``.
    environ
        Environment to read (``os.environ`` by default).
    overrides
        Field values, typically from command-line flags; ``None`` means "not given". An
        ``address`` selects the ``scheduler`` backend unless ``backend`` is given too.

    Examples
    --------
    >>> load_cluster_config(environ={}).backend
    'threads'
    >>> load_cluster_config(environ={"LASCOPROC_SCHEDULER": "tcp://h:8786"}).backend
    'scheduler'
    """
    environ = os.environ if environ is None else environ
    path = path or environ.get(CLUSTER_FILE_ENV) or None
    config = ClusterConfig.from_yaml(path) if path else ClusterConfig()
    config = config.with_env(environ)
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("address") and "backend" not in given:
        given["backend"] = "scheduler"
    if given.get("backend", "scheduler") != "scheduler" and "address" not in given:
        given["address"] = None
    return config.replace(given, source="options") if given else config
