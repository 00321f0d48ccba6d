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

TLS
---
Whoever can open a connection to a Dask scheduler can run any Python code as the user who
started its workers. ``tls`` says whether the run's cluster traffic is authenticated and
encrypted with mutual TLS (:mod:`lascoproc.cluster.tls`):

- ``slurm``, ``pbs``: **on by default** (the scheduler listens on a login node that every user
  of the site reaches); temporary credentials made for the run, or the certificate files given;
  ``tls: false`` (``--no-tls``) turns it off.
- ``scheduler``: on when the address is ``tls://``; the certificates are the files given
  (``tls_ca_file``, ``tls_cert``, ``tls_key``) or those of Dask's own configuration
  (``distributed.comm.tls.*``).
- ``local``: off by default (it listens on loopback only); ``tls: true`` uses temporary
  credentials kept in memory.
- ``kubernetes``: not available (the dask-kubernetes operator talks to the scheduler over
  ``tcp://``); the scheduler is protected by its namespace and a NetworkPolicy
  (``deploy/kubernetes/networkpolicy.yaml``).
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
#: Backends whose cluster traffic can be TLS (``tls``); the ``scheduler`` one by its address.
TLS_BACKENDS = ("local", "scheduler", "slurm", "pbs")
#: Backends where TLS is on unless ``tls: false``: their scheduler listens on a shared node.
TLS_DEFAULT_BACKENDS = ("slurm", "pbs")
#: Certificate-file fields (paths to PEM files, never their contents).
TLS_FILE_FIELDS = ("tls_ca_file", "tls_cert", "tls_key")

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
    "LASCOPROC_TLS": "tls",
    "LASCOPROC_TLS_CA_FILE": "tls_ca_file",
    "LASCOPROC_TLS_CERT": "tls_cert",
    "LASCOPROC_TLS_KEY": "tls_key",
    "LASCOPROC_TLS_DIRECTORY": "tls_directory",
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


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _optional_bool(value: Any, field: str) -> bool | None:
    """``True``/``False``/``None``, or the strings of an environment variable
    (``1``/``true``/``yes``/``on``, ``0``/``false``/``no``/``off``)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{field}: want true or false, got {value!r}")


def format_resources(pairs: _Resources) -> str:
    """Pairs as ``dask worker --resources`` wants them: ``"GPU=1 MEM=1e+10"``."""
    return " ".join(f"{k}={v:g}" for k, v in pairs)


#: Fields a backend cannot honour. A later layer (environment, flags) that switches to such a
#: backend drops them from the earlier ones (a site file's local-cluster sizes under
#: ``--scheduler``), as a switch away from ``scheduler`` drops the earlier address; given in
#: the same layer as the backend or a later one, they are an error
#: (:meth:`ClusterConfig._check_backend`, :meth:`ClusterConfig._check_resources`).
_NOT_HONOURED = {"scheduler": ("n_workers", "threads_per_worker", "memory_limit"),
                 "threads": ("memory_limit",)}

#: Fields an earlier layer's values of which a later layer's switch to this backend drops
#: (:func:`_layered`), with the value they get: besides :data:`_NOT_HONOURED`, what only a
#: backend that starts workers uses (GPU worker groups, adaptive scaling, TLS credentials it
#: generates), e.g. a SLURM site file under ``--scheduler``. Given with the backend, they are
#: still errors (:meth:`ClusterConfig._check_backend`).
_STARTED_ONLY = {"gpu_workers": 0, "adaptive_min": None, "adaptive_max": None, "tls": None,
                 "tls_directory": None}
_DROPPED_ON_SWITCH = {
    "scheduler": {**dict.fromkeys(_NOT_HONOURED["scheduler"]), **_STARTED_ONLY},
    "threads": {**dict.fromkeys(_NOT_HONOURED["threads"]), **_STARTED_ONLY},
}


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
        jobqueue: 1). Not with ``scheduler`` (its workers are running already): an error.
    threads_per_worker
        Threads in each worker process (``threads``: threads of the in-process pool). Not
        with ``scheduler``: an error.
    memory_limit
        Memory each worker may use before Dask spills, pauses and restarts it, e.g. ``"4GiB"``
        (``"auto"``: a share of the machine, LocalCluster only). Only for the backends that
        start workers: with ``threads`` or ``scheduler`` it could not be honoured and is an
        error, not ignored.
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
        Dashboard of a scheduler this process starts (local, slurm, pbs): loopback by default
        (``127.0.0.1:8787``; plain HTTP, so not on every interface: ``:8787`` did that until
        2026-12-02); ``"127.0.0.1:0"`` picks a free port.
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
    tls
        Mutual TLS on the cluster's connections: ``None`` (the default) means on for ``slurm``
        and ``pbs``, off for ``local``, and for ``scheduler`` whatever the address's scheme
        says (see :attr:`uses_tls`).
    tls_ca_file, tls_cert, tls_key
        Paths of PEM files: the CA that signed the cluster's certificates, this side's
        certificate and its private key (the key may instead be appended to the
        certificate file). ``scheduler``: the client's credentials (else Dask's
        ``distributed.comm.tls.ca-file``, ``client.cert``, ``client.key``); ``local``,
        ``slurm``, ``pbs``: used by scheduler, workers and client instead of temporary
        credentials (on a file system the compute nodes see). Contents are refused: a key
        in a config file or an environment variable ends up in logs.
    tls_directory
        ``slurm``, ``pbs`` with temporary credentials: a directory on a file system the
        compute nodes see, where a private subdirectory (mode 0700) holds the run's
        certificate and key (0600) while the run lasts. Default: the jobqueue section's
        ``shared-temp-directory``, else ``~/.lascoproc/tls``.
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
    dashboard_address: str = "127.0.0.1:8787"
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
    # TLS
    tls: bool | None = None
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_directory: str | None = None

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"cluster backend {self.backend!r} unknown; choose one of "
                             f"{', '.join(BACKENDS)}")
        self._check_counts()
        self._check_backend()
        self._check_resources()
        self._check_tls()

    def _check_counts(self) -> None:
        """Worker, thread and GPU-worker counts are non-negative integers."""
        for field in ("n_workers", "threads_per_worker", "adaptive_min", "adaptive_max"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
        if self.threads_per_worker == 0:
            raise ValueError("threads_per_worker must be at least 1")
        if not isinstance(self.gpu_workers, int) or self.gpu_workers < 0:
            raise ValueError(f"gpu_workers must be a non-negative integer, got "
                             f"{self.gpu_workers!r}")

    def _check_backend(self) -> None:
        """The options that only some backends honour go with one of them."""
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
        counts = [f for f in _NOT_HONOURED.get(self.backend, ()) if f != "memory_limit"]
        if counts:  # the scheduler backend (its workers are running already)
            given = [f for f in counts if getattr(self, f) is not None]  # 0 as well
            if given:
                raise ValueError(f"{' and '.join(given)}: the scheduler backend uses the "
                                 "workers the running scheduler has; leave them out, or start "
                                 "workers with the local, kubernetes, slurm or pbs backend")
        if self.n_workers == 0 and not self.adaptive and not (
                self.gpu_workers and self.backend in GPU_GROUP_BACKENDS):
            what = ("no thread would run" if self.backend == "threads" else
                    "no worker would start and the run would wait for ever")
            raise ValueError(f"n_workers is 0: {what}; give at least 1, leave it out for the "
                             "backend's default, or scale adaptively (adaptive_min/max)")
        lo, hi = self.adaptive_min, self.adaptive_max
        if (lo is not None or hi is not None) and self.backend in ("threads", "scheduler"):
            raise ValueError(f"adaptive scaling needs a backend that starts workers, not "
                             f"{self.backend!r}")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"adaptive_min ({lo}) > adaptive_max ({hi})")

    def _check_resources(self) -> None:
        """Memory limit and timeout are sizes and durations the workers can use."""
        if self.memory_limit is not None and self.memory_limit != "auto":
            try:
                parse_bytes(self.memory_limit)
            except ValueError as err:
                raise ValueError(f"memory_limit: want a size such as 4GiB, got "
                                 f"{self.memory_limit!r}") from err
        if (self.memory_limit not in (None, "auto")
                and "memory_limit" in _NOT_HONOURED.get(self.backend, ())):
            where = ("this process's threads have no worker memory limit"
                     if self.backend == "threads" else
                     "the workers of a running scheduler keep the limit they were started "
                     "with")
            raise ValueError(f"memory_limit ({self.memory_limit}): {where}; it needs a "
                             "backend that starts workers (local, kubernetes, slurm, pbs)")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    def _check_tls(self) -> None:
        """TLS options that cannot be honoured are errors, never silently ignored."""
        if self.tls is not None and not isinstance(self.tls, bool):
            raise ValueError(f"tls must be true, false or unset, got {self.tls!r}")
        for field in TLS_FILE_FIELDS:
            value = getattr(self, field)
            if value is not None and ("\n" in value or "-----BEGIN" in value):
                # the value is not repeated: it may be a private key
                raise ValueError(f"{field}: give the path of a PEM file, not its contents (a "
                                 "key in a config file or the environment ends up in logs)")
        if self.tls and self.backend not in TLS_BACKENDS:
            if self.backend == "kubernetes":
                raise ValueError(
                    "tls: the dask-kubernetes operator connects to the scheduler over tcp:// "
                    "and has no TLS option; on Kubernetes the scheduler is protected by its "
                    "namespace and a NetworkPolicy (deploy/kubernetes/networkpolicy.yaml, "
                    "deploy/README.md): drop --tls")
            raise ValueError("tls: the threads backend has no network traffic to protect; "
                             "TLS needs the local, scheduler, slurm or pbs backend")
        if self.backend == "scheduler":
            tls_address = self.address.lower().startswith("tls://")
            if self.tls and not tls_address:
                raise ValueError(f"TLS is asked (--tls) but the scheduler address "
                                 f"{self.address} is not tls://: give tls://HOST:PORT")
            if self.tls is False and tls_address:
                raise ValueError(f"TLS is turned off (--no-tls) but the scheduler address "
                                 f"{self.address} is tls://: a TLS scheduler needs TLS")
            given = [f for f in TLS_FILE_FIELDS if getattr(self, f)]
            if given and not tls_address:
                raise ValueError(f"certificate files are given ({', '.join(given)}) but the "
                                 f"scheduler address {self.address} is not tls://: give "
                                 "tls://HOST:PORT, or leave them out")

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "cluster config"
                     ) -> ClusterConfig:
        """Build from plain values (a parsed YAML file); unknown keys are an error."""
        return cls().replace(values, source=source)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> ClusterConfig:
        """Read a YAML file of :class:`ClusterConfig` fields (``yaml.safe_load``).

        Relative paths in it (``dask_config``, ``cluster_spec``, ``gpu_worker_spec``,
        ``tls_ca_file``, ``tls_cert``, ``tls_key``) are relative to the file's directory;
        those starting with ``~`` or ``$`` are kept as written (the TLS files are expanded
        where they are used, :mod:`lascoproc.cluster.tls`).
        """
        values = read_yaml(path)
        base = Path(path).parent
        for field in _PATH_FIELDS:
            value = values.get(field)
            if (isinstance(value, str) and value and not value.startswith(("~", "$"))
                    and not Path(value).is_absolute()):
                values[field] = str(base / value)
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
        return _layered(self, _env_values(environ))

    # ------------------------------------------------------------------ views

    @property
    def distributed(self) -> bool:
        """Whether the run uses ``dask.distributed`` (every backend but ``threads``)."""
        return self.backend != "threads"

    @property
    def uses_tls(self) -> bool:
        """Whether the run's cluster connections use mutual TLS.

        ``scheduler``: the address is ``tls://``; otherwise ``tls`` when given, else on for
        :data:`TLS_DEFAULT_BACKENDS` (slurm, pbs) and off for the others.
        """
        if self.backend == "scheduler":
            return bool(self.address) and self.address.lower().startswith("tls://")
        if self.tls is None:
            return self.backend in TLS_DEFAULT_BACKENDS
        return self.tls

    @property
    def adaptive(self) -> bool:
        return self.adaptive_min is not None or self.adaptive_max is not None

    def worker_resources_dict(self) -> dict[str, float]:
        return dict(self.worker_resources)

    def gpu_resources_dict(self) -> dict[str, float]:
        return dict(self.gpu_resources)


_PATH_FIELDS = ("dask_config", "cluster_spec", "gpu_worker_spec", *TLS_FILE_FIELDS)
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
    if field == "tls":
        return _optional_bool(value, field)
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
    given = _backend_rules({k: v for k, v in overrides.items() if v is not None})
    return _layered(config, _env_values(environ), given)


def _backend_rules(values: dict[str, Any]) -> dict[str, Any]:
    """Within one layer: an address alone selects the scheduler backend; another backend
    without an address drops the earlier layers' address."""
    if values.get("address") and "backend" not in values:
        values["backend"] = "scheduler"
    if values.get("backend", "scheduler") != "scheduler" and "address" not in values:
        values["address"] = None
    return values


def _env_values(environ: Mapping[str, str] | None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    return _backend_rules({field: environ[var] for var, field in ENV_VARS.items()
                           if environ.get(var)})


def _layered(base: ClusterConfig, *layers: Mapping[str, Any]) -> ClusterConfig:
    """``base`` with ``layers`` applied in order (later ones win), validated once on the
    merged values: the values of a layer earlier than the one that chose the backend are
    dropped where that backend cannot honour them (:data:`_NOT_HONOURED`)."""
    values: dict[str, Any] = {}
    origin: dict[str, int] = {}
    for k, layer in enumerate(layers, start=1):
        for field, value in layer.items():
            values[field], origin[field] = value, k
    if not values:
        return base
    backend = values.get("backend", base.backend)
    chosen_in = origin.get("backend", 0)
    for field, reset in _DROPPED_ON_SWITCH.get(backend, {}).items():
        if origin.get(field, 0) < chosen_in:
            values[field] = reset
    return base.replace(values, source="environment and options")
