"""Where a command runs: the cluster options shared by every pipeline command.

The same command runs in this process (Dask's threaded scheduler, the default), against a
running scheduler (``--scheduler``), or on a cluster described by a file (``--cluster``:
LocalCluster, Kubernetes, SLURM, PBS; see ``deploy/README.md``). Precedence: defaults <
``--cluster`` file (or ``$LASCOPROC_CLUSTER``) < ``LASCOPROC_*`` environment variables < flags.
"""

from __future__ import annotations

import argparse

from lascoproc.cluster.config import BACKENDS, ClusterConfig, load_cluster_config
from lascoproc_cli.options import positive_int

__all__ = ["add_cluster_options", "cluster_config_from_args"]

CLUSTER_HELP = """\
where the computations run (default: Dask's threaded scheduler in this process).
A --cluster file holds ClusterConfig keys (backend, n_workers, threads_per_worker,
memory_limit, gpu_workers, adaptive_min, adaptive_max, image, queue, tls, ...); the
environment variables LASCOPROC_CLUSTER, LASCOPROC_CLUSTER_BACKEND,
LASCOPROC_SCHEDULER, LASCOPROC_WORKERS, LASCOPROC_THREADS_PER_WORKER,
LASCOPROC_MEMORY_LIMIT, LASCOPROC_GPU_WORKERS, LASCOPROC_ADAPTIVE_MIN,
LASCOPROC_ADAPTIVE_MAX, LASCOPROC_TLS, LASCOPROC_TLS_CA_FILE, LASCOPROC_TLS_CERT,
LASCOPROC_TLS_KEY and LASCOPROC_TLS_DIRECTORY override it, and these flags override both.
Cluster traffic is mutual TLS by default on slurm and pbs, and with a tls:// scheduler."""


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler``, ``--cluster``, ``--cluster-backend``, ``--workers``,
    ``--threads-per-worker``, ``--memory-limit``, ``--tls``/``--no-tls``, ``--tls-ca-file``,
    ``--tls-cert`` and ``--tls-key`` to a subcommand."""
    group = parser.add_argument_group("cluster", CLUSTER_HELP)
    group.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="run on the dask scheduler at ADDRESS, e.g. tcp://host:8786")
    group.add_argument("--cluster", metavar="CONFIG.yaml", default=None,
                       help="cluster configuration file (see deploy/README.md)")
    group.add_argument("--cluster-backend", choices=BACKENDS, default=None,
                       help="threads (default), local (LocalCluster), scheduler, kubernetes, "
                            "slurm or pbs")
    group.add_argument("--workers", type=positive_int, metavar="N", default=None,
                       help="worker processes or jobs (threads: pool size)")
    group.add_argument("--threads-per-worker", type=positive_int, metavar="N", default=None,
                       help="threads in each worker")
    group.add_argument("--memory-limit", metavar="SIZE", default=None,
                       help="memory per worker before Dask spills and pauses, e.g. 4GiB")
    group.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None,
                       help="mutual TLS between client, scheduler and workers (default: on "
                            "for slurm and pbs, with temporary certificates made for the run; "
                            "off for local; a --scheduler address says it with tls://)")
    group.add_argument("--tls-ca-file", metavar="PEM", default=None,
                       help="CA certificate of a TLS cluster (a tls:// --scheduler, or your "
                            "own certificates instead of temporary ones)")
    group.add_argument("--tls-cert", metavar="PEM", default=None,
                       help="certificate this side presents, signed by the CA")
    group.add_argument("--tls-key", metavar="PEM", default=None,
                       help="private key of --tls-cert (if not appended to it)")


#: The argparse destinations of :func:`add_cluster_options` (commands that run on this
#: machine only refuse them by these names).
CLUSTER_DESTS = ("scheduler", "cluster", "cluster_backend", "workers", "threads_per_worker",
                 "memory_limit", "tls", "tls_ca_file", "tls_cert", "tls_key")


def cluster_config_from_args(args: argparse.Namespace, environ=None) -> ClusterConfig:
    """The :class:`~lascoproc.cluster.config.ClusterConfig` the options describe.

    ``--scheduler`` alone selects the ``scheduler`` backend; giving it with another
    ``--cluster-backend`` is an error (``ValueError``, reported in one line).
    """
    return load_cluster_config(
        getattr(args, "cluster", None),
        environ=environ,
        backend=getattr(args, "cluster_backend", None),
        address=getattr(args, "scheduler", None),
        n_workers=getattr(args, "workers", None),
        threads_per_worker=getattr(args, "threads_per_worker", None),
        memory_limit=getattr(args, "memory_limit", None),
        tls=getattr(args, "tls", None),
        tls_ca_file=getattr(args, "tls_ca_file", None),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
    )
