"""Mutual TLS on a run's cluster connections: the dask ``Security`` of each backend.

A Dask scheduler runs whatever a connected client sends it, on its workers, as the user who
started them. Over ``tcp://`` anyone who reaches the scheduler's port is such a client; over
``tls://`` with :class:`distributed.security.Security`, every connection (client-scheduler,
scheduler-worker, worker-worker) must present a certificate signed by the cluster's CA, and
its traffic is encrypted (TLS 1.2 or newer, ``distributed.comm.tls.min-version``).

Where the credentials come from:

``slurm``, ``pbs`` (on by default)
    :func:`jobqueue_security`: the certificate files given (``tls_ca_file``, ``tls_cert``,
    ``tls_key``), or a temporary self-signed CA made for this run by
    ``Security.temporary()`` (an RSA-2048 key and a certificate that is its own CA, made in
    memory). The batch jobs must read the worker's key, so it is written, as dask-jobqueue
    does with its ``shared_temp_directory``, to a private directory (mode 0700, files 0600)
    under ``tls_directory`` on a file system the compute nodes see; the job scripts name the
    files (``--tls-ca-file``, ``--tls-cert``, ``--tls-key``), never their contents, and the
    directory is removed when the run ends. A run killed before that leaves its directory
    behind, readable by its owner only; its key is trusted by no later run (each run makes a
    new CA).
``local``
    :func:`local_security`: the certificate files given, or ``Security.temporary()`` kept in
    memory (worker processes receive it from their nanny; distributed writes a key to a
    private temporary directory only for the instant OpenSSL takes to load it).
``scheduler``
    :func:`client_security`: a ``tls://`` address needs the client's certificate and the CA:
    the files given, else Dask's configuration (``distributed.comm.tls.ca-file``,
    ``distributed.comm.tls.client.cert``, ``distributed.comm.tls.client.key``).
``kubernetes``
    none (see :mod:`lascoproc.cluster.config`).

Private keys never reach a log, an error, a job script, ``repr(ClusterConfig)`` (it holds
paths only) or ``repr(Security)`` (distributed prints ``Temporary (In-memory)`` for them).

Only this module makes credentials; ``cryptography`` is imported only when temporary
credentials are asked for (:func:`require_cryptography`, ``Security.temporary``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lascoproc.cluster.config import ClusterConfig

if TYPE_CHECKING:  # pragma: no cover
    from distributed.security import Security

__all__ = [
    "DEFAULT_TLS_DIRECTORY",
    "CERT_FILE",
    "KEY_FILE",
    "require_cryptography",
    "temporary_security",
    "security_from_files",
    "client_security",
    "local_security",
    "jobqueue_security",
    "credential_directory",
    "placeholder_security",
]

logger = logging.getLogger(__name__)

#: Where the per-run credential directories of jobqueue runs go when nothing else is said.
DEFAULT_TLS_DIRECTORY = "~/.lascoproc/tls"
#: Names of the temporary certificate (also the CA: it is self-signed) and key of a run.
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
RUN_PREFIX = "lascoproc-tls-"

_FLAGS = {"tls_ca_file": "--tls-ca-file", "tls_cert": "--tls-cert", "tls_key": "--tls-key"}
_INSTALL = {"slurm": "pip install 'lascoproc[hpc]'", "pbs": "pip install 'lascoproc[hpc]'"}


def require_cryptography(backend: str) -> None:
    """Raise ``ImportError`` naming the package and the extra when ``cryptography`` is missing.

    ``Security.temporary()`` needs it to make the run's key and certificate.
    """
    try:
        from cryptography import x509  # noqa: F401
    except ImportError as err:
        hint = _INSTALL.get(backend, "pip install cryptography")
        raise ImportError(
            f"TLS for the {backend} backend makes a temporary certificate for the run and "
            f"needs the Python package 'cryptography': {hint}; or give certificate files "
            "(--tls-ca-file, --tls-cert, --tls-key), or turn TLS off with --no-tls"
        ) from err


def temporary_security(backend: str) -> Security:
    """``Security.temporary()``: a new self-signed CA, key and certificate, in memory."""
    from distributed.security import Security

    require_cryptography(backend)
    return Security.temporary()


def _expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


def _check_file(field: str, path: str) -> None:
    if "\n" in path:  # PEM text from Dask's own configuration: Security accepts it
        return
    if not Path(path).is_file():
        raise FileNotFoundError(f"{field} {path} not found ({_FLAGS.get(field, field)})")


def _check_key(cert: str, key: str | None) -> None:
    """The key file is there (or in the certificate file) and is its owner's only."""
    if key is None:
        if "\n" not in cert and "PRIVATE KEY" not in Path(cert).read_text(errors="replace"):
            raise ValueError(f"no private key: {cert} holds none; give --tls-key "
                             "(tls_key, LASCOPROC_TLS_KEY)")
        key = cert
    if "\n" in key:
        return
    mode = stat.S_IMODE(os.stat(key).st_mode)
    if mode & 0o077:
        logger.warning("TLS key %s can be read by other users (mode %o): chmod 600 %s",
                       key, mode, key)


def _files(config: ClusterConfig) -> dict[str, str]:
    return {f: _expand(getattr(config, f)) for f in _FLAGS if getattr(config, f)}


def security_from_files(config: ClusterConfig) -> Security:
    """One certificate for every role (scheduler, workers, client) from the files given.

    The certificate must be signed by ``tls_ca_file`` and usable for server and client
    authentication (Dask's TLS is mutual); its key is ``tls_key`` or appended to it.
    """
    files = _files(config)
    missing = [_FLAGS[f] for f in ("tls_ca_file", "tls_cert") if f not in files]
    if missing:
        raise ValueError(f"TLS certificate files incomplete: {' and '.join(missing)} missing "
                         f"(given: {', '.join(_FLAGS[f] for f in files)})")
    for field, path in files.items():
        _check_file(field, path)
    _check_key(files["tls_cert"], files.get("tls_key"))
    return _every_role(files["tls_ca_file"], files["tls_cert"], files.get("tls_key"))


def _every_role(ca: str, cert: str, key: str | None) -> Security:
    """A ``Security`` giving scheduler, workers and client the same certificate and key."""
    from distributed.security import Security

    roles = {}
    for role in ("client", "scheduler", "worker"):
        roles[f"tls_{role}_cert"] = cert
        roles[f"tls_{role}_key"] = key
    return Security(require_encryption=True, tls_ca_file=ca, **roles)


def client_security(config: ClusterConfig) -> Security | None:
    """The client's credentials for an existing scheduler; ``None`` for a ``tcp://`` one.

    The files given override Dask's configuration (``distributed.comm.tls.ca-file``,
    ``distributed.comm.tls.client.cert``, ``distributed.comm.tls.client.key``), which
    supplies those not given.

    Raises
    ------
    ValueError
        ``tls://`` without a CA or without a client certificate, anywhere.
    FileNotFoundError
        A file named is not there.
    """
    if config.backend != "scheduler" or not config.uses_tls:
        return None
    from distributed.security import Security

    files = _files(config)
    security = Security(
        require_encryption=True,
        **{name: files[field] for field, name in (("tls_ca_file", "tls_ca_file"),
                                                  ("tls_cert", "tls_client_cert"),
                                                  ("tls_key", "tls_client_key"))
           if field in files},
    )
    missing = [flag for flag, value in (("--tls-ca-file", security.tls_ca_file),
                                        ("--tls-cert", security.tls_client_cert)) if not value]
    if missing:
        raise ValueError(
            f"the scheduler {config.address} uses TLS but no {' and no '.join(missing)} is "
            "given: give --tls-ca-file, --tls-cert and --tls-key (LASCOPROC_TLS_CA_FILE, "
            "LASCOPROC_TLS_CERT, LASCOPROC_TLS_KEY), or distributed.comm.tls.ca-file, "
            ".client.cert and .client.key in Dask's configuration"
        )
    _check_file("tls_ca_file", security.tls_ca_file)
    _check_file("tls_cert", security.tls_client_cert)
    if security.tls_client_key:
        _check_file("tls_key", security.tls_client_key)
    _check_key(security.tls_client_cert, security.tls_client_key)
    return security


def local_security(config: ClusterConfig) -> Security | None:
    """Credentials of a LocalCluster with TLS: the files given or temporary, in memory."""
    if config.backend != "local" or not config.uses_tls:
        return None
    if _files(config):
        return security_from_files(config)
    return temporary_security(config.backend)


def credential_directory(config: ClusterConfig, default: str | None = None) -> Path:
    """Where a jobqueue run's credential directory goes: ``tls_directory``, else ``default``
    (the jobqueue section's ``shared-temp-directory``), else :data:`DEFAULT_TLS_DIRECTORY`."""
    return Path(_expand(config.tls_directory or default or DEFAULT_TLS_DIRECTORY))


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file that only its owner may read (0600, never overwritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@contextlib.contextmanager
def jobqueue_security(config: ClusterConfig, default_directory: str | None = None
                      ) -> Iterator[Security | None]:
    """The credentials of a SLURM/PBS run, valid inside the block; ``None`` without TLS.

    With certificate files given, a ``Security`` of those files (they must be on a file
    system the compute nodes see). Otherwise a temporary CA, key and certificate
    (``Security.temporary()``) written to ``<directory>/lascoproc-tls-XXXXXXXX/`` (0700;
    :data:`CERT_FILE` and :data:`KEY_FILE`, 0600), and a ``Security`` naming those files for
    every role, so that dask-jobqueue puts paths (never PEM text) into the job scripts and
    writes nothing of its own; the directory is removed when the block ends.

    Parameters
    ----------
    config
        A ``slurm`` or ``pbs`` configuration.
    default_directory
        The jobqueue section's ``shared-temp-directory`` (used when ``tls_directory`` is
        not set).
    """
    if not config.uses_tls:
        yield None
        return
    if _files(config):
        yield security_from_files(config)
        return
    temporary = temporary_security(config.backend)
    base = credential_directory(config, default_directory)
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=base))
    except OSError as err:
        raise OSError(f"TLS: cannot make the run's credential directory in {base} "
                      f"({err.strerror or err}); set tls_directory (LASCOPROC_TLS_DIRECTORY) "
                      "to a directory of yours that the compute nodes see") from None
    try:
        cert, key = run_dir / CERT_FILE, run_dir / KEY_FILE
        _write_private(cert, temporary.tls_worker_cert)
        _write_private(key, temporary.tls_worker_key)
        logger.info("TLS: temporary CA and credentials of this run in %s (removed at the end)",
                    run_dir)
        # the certificate is self-signed: it is its own CA
        yield _every_role(str(cert), str(cert), str(key))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def placeholder_security(config: ClusterConfig, default_directory: str | None = None
                         ) -> Security:
    """Where a run's credentials will be, for job scripts shown before any run: the paths
    :func:`jobqueue_security` would give, with ``XXXXXXXX`` for the run's directory."""
    files = _files(config)
    if files:  # not checked: the files may be where the jobs run, not here
        return _every_role(files.get("tls_ca_file"), files.get("tls_cert"),
                           files.get("tls_key"))
    run_dir = credential_directory(config, default_directory) / f"{RUN_PREFIX}XXXXXXXX"
    return _every_role(str(run_dir / CERT_FILE), str(run_dir / CERT_FILE),
                       str(run_dir / KEY_FILE))
