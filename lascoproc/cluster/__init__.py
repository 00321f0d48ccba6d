"""Where a run's Dask computations execute: threads, a LocalCluster, a scheduler, Kubernetes,
SLURM or PBS (no data logic here; only :mod:`lascoproc.pipeline` and the CLI use it).

>>> from lascoproc.cluster import get_client, load_cluster_config
>>> config = load_cluster_config("cluster.yaml")          # doctest: +SKIP
>>> with get_client(config) as client:                    # doctest: +SKIP
...     ingest_level05(...)

``dask_kubernetes`` and ``dask_jobqueue`` are imported only by :mod:`lascoproc.cluster.kubernetes`
and :mod:`lascoproc.cluster.jobqueue`, when their backend is used. The TLS credentials of each
backend (dask ``Security``; on by default for SLURM/PBS) come from
:mod:`lascoproc.cluster.tls`, the only module that imports ``cryptography``.
"""

from lascoproc.cluster.config import BACKENDS, ClusterConfig, load_cluster_config
from lascoproc.cluster.factory import dashboard_link, describe, get_client

__all__ = [
    "BACKENDS",
    "ClusterConfig",
    "load_cluster_config",
    "get_client",
    "describe",
    "dashboard_link",
]
