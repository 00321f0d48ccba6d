"""TLS on real dask.distributed processes, on loopback: who may connect and who may not.

- ``--scheduler tls://``: a ``dask scheduler`` and a ``dask worker`` started here with
  certificates of a site CA made for the test; a client with certificates of that CA (given as
  files, or through Dask's own ``distributed.comm.tls.*`` configuration) computes; a client
  over ``tcp://``, a client with certificates of another CA and a TLS client without any
  certificate are all refused before a single Dask message is answered;
- ``backend: local`` with ``tls: true``: a LocalCluster with temporary credentials in memory;
  the same refusals.

The jobqueue backend (TLS by default) is run end to end in ``test_distributed_jobqueue.py``.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import dask
import dask.array as da
import pytest

from lascoproc.cluster import ClusterConfig, describe, get_client

pytestmark = pytest.mark.distributed

REFUSE_TIMEOUT = 2  # seconds a refused client keeps trying


# ------------------------------------------------------------------ a site's certificates


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key, path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


class CertificateAuthority:
    """A CA (EC P-256) that issues certificates good for TLS server and client alike."""

    def __init__(self, directory: Path, name: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding

        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / f"{name}-ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(Encoding.PEM))

    def issue(self, name: str) -> tuple[Path, Path]:
        """``(certificate, key)`` files of a new certificate signed by this CA."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(Encoding.PEM))
        _write_key(key, key_file)
        return cert_file, key_file


@pytest.fixture(scope="module")
def site_ca(tmp_path_factory):
    pytest.importorskip("cryptography")
    return CertificateAuthority(tmp_path_factory.mktemp("site-ca"), "site")


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    pytest.importorskip("cryptography")
    return CertificateAuthority(tmp_path_factory.mktemp("other-ca"), "other")


# ----------------------------------------------------------------- who may not connect


def assert_refused(address: str, other_ca: CertificateAuthority) -> None:
    """No client without the cluster's credentials gets a Dask answer from ``address``."""
    from distributed import Client
    from distributed.security import Security

    host, port = address.removeprefix("tls://").rsplit(":", 1)
    # 1. plain tcp: what anyone on the node would try first
    with pytest.raises(OSError):
        Client(f"tcp://{host}:{port}", timeout=f"{REFUSE_TIMEOUT}s", set_as_default=False)
    # 2. TLS with a certificate of another CA: the scheduler does not trust it
    cert, key = other_ca.issue(f"intruder-{port}")
    intruder = Security(require_encryption=True, tls_ca_file=str(other_ca.ca_file),
                        tls_client_cert=str(cert), tls_client_key=str(key))
    with pytest.raises(OSError):
        Client(address, security=intruder, timeout=f"{REFUSE_TIMEOUT}s",
               set_as_default=False)
    # 3. TLS without a client certificate, trusting any server: the scheduler asks for one
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=REFUSE_TIMEOUT) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw) as tls_socket:
                # TLS 1.3 reports the missing certificate at the first read, 1.2 in the
                # handshake; either way not one byte of Dask's handshake comes back
                data = tls_socket.recv(1)
                if not data:
                    raise ConnectionError("closed by the scheduler")


def total(client) -> float:
    return float(da.arange(1000, chunks=100).sum().compute())  # 499500


# ------------------------------------------------------------- --scheduler tls://...


class TLSLoopbackCluster:
    """``dask scheduler`` + one ``dask worker`` on 127.0.0.1 speaking only TLS."""

    def __init__(self, workdir: Path, ca: CertificateAuthority):
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []
        scheduler_cert, scheduler_key = ca.issue("scheduler")
        worker_cert, worker_key = ca.issue("worker")
        scheduler_file = workdir / "scheduler.json"
        tls_args = ["--tls-ca-file", str(ca.ca_file)]
        self._start("scheduler", [
            sys.executable, "-m", "distributed.cli.dask_scheduler", "--protocol", "tls",
            "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0",
            "--scheduler-file", str(scheduler_file), *tls_args,
            "--tls-cert", str(scheduler_cert), "--tls-key", str(scheduler_key)])
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.stat().st_size:
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler')}")
            time.sleep(0.05)
        time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self._start("worker", [
            sys.executable, "-m", "distributed.cli.dask_worker", self.address,
            "--protocol", "tls", "--host", "127.0.0.1", "--name", "w0", "--nthreads", "1",
            "--memory-limit", "1GiB", "--no-dashboard", "--death-timeout", "30", *tls_args,
            "--tls-cert", str(worker_cert), "--tls-key", str(worker_key)])

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in close()
        self.logs.append(log)
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True))

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]

    def close(self) -> None:
        for proc in reversed(self.procs):  # the worker first
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, site_ca):
    cluster = TLSLoopbackCluster(tmp_path_factory.mktemp("tls-loopback"), site_ca)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def no_dask_tls_config():
    import distributed  # noqa: F401 - its defaults first: a set() of a key under a missing
    # "distributed" section would delete the whole section when it is undone

    with dask.config.set({"distributed.comm.tls.ca-file": None,
                          "distributed.comm.tls.client.cert": None,
                          "distributed.comm.tls.client.key": None}):
        yield


def test_scheduler_with_the_site_certificates_computes(tls_cluster, site_ca,
                                                       no_dask_tls_config):
    assert tls_cluster.address.startswith("tls://127.0.0.1:")
    cert, key = site_ca.issue("client")
    config = ClusterConfig(backend="scheduler", address=tls_cluster.address, timeout=30,
                           tls_ca_file=str(site_ca.ca_file), tls_cert=str(cert),
                           tls_key=str(key))
    with get_client(config) as client:
        client.wait_for_workers(1, timeout=30)
        assert total(client) == 499500.0
        text = describe(client)
    assert text.startswith(f"dask.distributed scheduler {tls_cluster.address}: 1 workers")
    assert "PRIVATE KEY" not in text


def test_scheduler_certificates_from_dask_configuration(tls_cluster, site_ca, tmp_path,
                                                        no_dask_tls_config):
    cert, key = site_ca.issue("client-config")
    dask_yaml = tmp_path / "dask.yaml"
    dask_yaml.write_text(
        "distributed:\n  comm:\n    tls:\n"
        f"      ca-file: {site_ca.ca_file}\n"
        f"      client:\n        cert: {cert}\n        key: {key}\n")
    config = ClusterConfig(backend="scheduler", address=tls_cluster.address, timeout=30,
                           dask_config=str(dask_yaml))
    with get_client(config) as client:
        client.wait_for_workers(1, timeout=30)
        assert total(client) == 499500.0


def test_scheduler_refuses_clients_without_the_certificates(tls_cluster, other_ca,
                                                             no_dask_tls_config):
    assert_refused(tls_cluster.address, other_ca)
    # and lascoproc says what is missing before trying
    with pytest.raises(ValueError, match="uses TLS but no --tls-ca-file and no --tls-cert"):
        with get_client(ClusterConfig(backend="scheduler", address=tls_cluster.address)):
            pass


# ------------------------------------------------------------------- LocalCluster + TLS


def test_local_cluster_with_temporary_tls(other_ca, caplog):
    caplog.set_level("DEBUG", logger="lascoproc")
    config = ClusterConfig(backend="local", tls=True, n_workers=1, threads_per_worker=1,
                           memory_limit="1GiB", dashboard_address="127.0.0.1:0")
    with get_client(config) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.security.require_encryption
        assert total(client) == 499500.0
        assert_refused(address, other_ca)
        assert total(client) == 499500.0  # the refusals did not disturb the run
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert address in logged and "PRIVATE KEY" not in logged
