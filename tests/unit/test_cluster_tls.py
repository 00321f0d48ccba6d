"""TLS of the cluster connections: options (YAML, environment, flags), defaults per backend,
errors, the credentials of each backend, and job scripts that name key files, never hold keys.

No process is started here (tests/integration/test_distributed_tls.py runs real TLS clusters);
the one scheduler started listens in this process, on loopback.
"""

from __future__ import annotations

import argparse
import builtins
import logging
import os
import stat
import sys
from pathlib import Path

import dask
import pytest

from lascoproc.cluster import ClusterConfig, get_client, load_cluster_config, tls
from lascoproc_cli.cluster_options import add_cluster_options, cluster_config_from_args

PEM_KEY = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
           "\n-----END PRIVATE KEY-----\n")
SECRET_PART = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


def parse(argv):
    parser = argparse.ArgumentParser()
    add_cluster_options(parser)
    return parser.parse_args(argv)


@pytest.fixture
def pem_files(tmp_path):
    """A temporary self-signed certificate (its own CA) and its key, as files (key 0600)."""
    from distributed.security import Security

    security = Security.temporary()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(security.tls_ca_file)
    key.write_text(security.tls_worker_key)
    key.chmod(0o600)
    return cert, key


@pytest.fixture
def no_dask_tls_config():
    """Dask's own TLS configuration empty, whatever the machine's ~/.config/dask says."""
    import distributed  # noqa: F401 - its defaults first: a set() of a key under a missing
    # "distributed" section would delete the whole section when it is undone

    with dask.config.set({"distributed.comm.tls.ca-file": None,
                          "distributed.comm.tls.client.cert": None,
                          "distributed.comm.tls.client.key": None}):
        yield


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, False),                                                   # threads
    ({"backend": "local"}, False),                                 # loopback only
    ({"backend": "local", "tls": True}, True),
    ({"backend": "slurm"}, True),                                  # a shared login node
    ({"backend": "pbs"}, True),
    ({"backend": "slurm", "tls": False}, False),
    ({"backend": "kubernetes"}, False),
    ({"backend": "scheduler", "address": "tcp://h:8786"}, False),
    ({"backend": "scheduler", "address": "tls://h:8786"}, True),
    ({"backend": "scheduler", "address": "TLS://h:8786", "tls": True}, True),
])
def test_uses_tls_per_backend(fields, expected):
    assert ClusterConfig(**fields).uses_tls is expected


def test_tls_from_yaml_environment_and_flags(tmp_path):
    path = tmp_path / "slurm.yaml"
    path.write_text("backend: slurm\ntls: false\ntls_ca_file: certs/ca.pem\n"
                    "tls_cert: ~/certs/me.pem\ntls_key: /abs/me.key\n"
                    "tls_directory: $HOME/.tls\n")
    config = ClusterConfig.from_yaml(path)
    assert config.tls is False and not config.uses_tls
    assert config.tls_ca_file == str(tmp_path / "certs" / "ca.pem")  # relative to the file
    assert config.tls_cert == "~/certs/me.pem"  # left for expansion where it is used
    assert (config.tls_key, config.tls_directory) == ("/abs/me.key", "$HOME/.tls")
    # the environment beats the file ...
    env = {"LASCOPROC_CLUSTER": str(path), "LASCOPROC_TLS": "yes",
           "LASCOPROC_TLS_KEY": "/env/me.key", "LASCOPROC_TLS_DIRECTORY": "/shared/tls"}
    config = load_cluster_config(environ=env)
    assert (config.tls, config.tls_key, config.tls_directory) == (True, "/env/me.key",
                                                                  "/shared/tls")
    # ... and the flags beat both
    config = cluster_config_from_args(parse(["--no-tls", "--tls-key", "/flag/me.key"]),
                                      environ=env)
    assert (config.tls, config.tls_key, config.uses_tls) == (False, "/flag/me.key", False)
    config = cluster_config_from_args(parse([]), environ={**env, "LASCOPROC_TLS": "0"})
    assert config.tls is False
    config = cluster_config_from_args(
        parse(["--scheduler", "tls://10.0.0.5:8786", "--tls-ca-file", "ca.pem",
               "--tls-cert", "me.pem"]), environ={})
    assert (config.backend, config.uses_tls, config.tls_ca_file, config.tls_cert,
            config.tls) == ("scheduler", True, "ca.pem", "me.pem", None)
    hash(config)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("1", True), ("ON", True),
                                             ("no", False), ("off", False), ("0", False)])
def test_tls_environment_words(text, value):
    config = load_cluster_config(environ={"LASCOPROC_CLUSTER_BACKEND": "pbs",
                                          "LASCOPROC_TLS": text})
    assert config.tls is value


def test_bad_tls_word_is_named():
    with pytest.raises(ValueError, match="tls: want true or false, got 'maybe'"):
        load_cluster_config(environ={"LASCOPROC_TLS": "maybe"})


def test_help_names_the_tls_options(capsys):
    with pytest.raises(SystemExit):
        parse(["--help"])
    text = capsys.readouterr().out
    for word in ("--tls, --no-tls", "--tls-ca-file", "--tls-cert", "--tls-key",
                 "LASCOPROC_TLS"):
        assert word in text


@pytest.mark.parametrize(("fields", "message"), [
    ({"tls": True}, "threads backend has no network traffic"),
    ({"backend": "kubernetes", "tls": True},
     r"operator connects to the scheduler over tcp://.*networkpolicy\.yaml"),
    ({"backend": "scheduler", "address": "tcp://h:1", "tls": True},
     r"TLS is asked \(--tls\) but the scheduler address tcp://h:1 is not tls://"),
    ({"backend": "scheduler", "address": "tls://h:1", "tls": False},
     r"turned off \(--no-tls\) but the scheduler address tls://h:1 is tls://"),
    ({"backend": "scheduler", "address": "tcp://h:1", "tls_cert": "me.pem"},
     r"certificate files are given \(tls_cert\) but the scheduler address tcp://h:1"),
])
def test_tls_that_cannot_be_honoured_is_an_error(fields, message):
    with pytest.raises(ValueError, match=message):
        ClusterConfig(**fields)


@pytest.mark.parametrize("field", ["tls_key", "tls_cert", "tls_ca_file"])
def test_pem_text_is_refused_without_being_repeated(field):
    with pytest.raises(ValueError, match=f"{field}: give the path of a PEM file") as err:
        ClusterConfig(backend="slurm", **{field: PEM_KEY})
    assert SECRET_PART not in str(err.value)
    env_var = {"tls_key": "LASCOPROC_TLS_KEY", "tls_cert": "LASCOPROC_TLS_CERT",
               "tls_ca_file": "LASCOPROC_TLS_CA_FILE"}[field]
    with pytest.raises(ValueError) as err:
        load_cluster_config(environ={env_var: PEM_KEY})
    assert SECRET_PART not in str(err.value)


def test_config_holds_paths_only(pem_files):
    cert, key = pem_files
    config = ClusterConfig(backend="slurm", tls_ca_file=str(cert), tls_cert=str(cert),
                           tls_key=str(key))
    text = repr(config)
    assert str(key) in text and "PRIVATE KEY" not in text and "BEGIN" not in text


# ------------------------------------------------------------------- scheduler backend


def test_tls_scheduler_without_certificates_says_what_to_give(no_dask_tls_config):
    config = ClusterConfig(backend="scheduler", address="tls://127.0.0.1:9", timeout=0.5)
    expected = (r"^the scheduler tls://127.0.0.1:9 uses TLS but no --tls-ca-file and no "
                r"--tls-cert is given: give --tls-ca-file, --tls-cert and --tls-key .*"
                r"distributed\.comm\.tls\.ca-file")
    with pytest.raises(ValueError, match=expected) as err:
        tls.client_security(config)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=expected), get_client(config):
        pass  # refused before any connection is tried


def test_tls_scheduler_half_the_certificates(no_dask_tls_config, pem_files):
    cert, _ = pem_files
    config = ClusterConfig(backend="scheduler", address="tls://h:1", tls_ca_file=str(cert))
    with pytest.raises(ValueError, match="uses TLS but no --tls-cert is given"):
        tls.client_security(config)


def test_tls_scheduler_certificates_from_files_or_dask_config(no_dask_tls_config, pem_files):
    cert, key = pem_files
    config = ClusterConfig(backend="scheduler", address="tls://h:1", tls_ca_file=str(cert),
                           tls_cert=str(cert), tls_key=str(key))
    security = tls.client_security(config)
    assert security.require_encryption
    assert security.get_tls_config_for_role("client") == {
        "ca_file": str(cert), "ciphers": None, "cert": str(cert), "key": str(key)}
    assert "PRIVATE KEY" not in repr(security)
    # Dask's configuration supplies what is not given
    with dask.config.set({"distributed.comm.tls.ca-file": str(cert),
                          "distributed.comm.tls.client.cert": str(cert),
                          "distributed.comm.tls.client.key": str(key)}):
        security = tls.client_security(ClusterConfig(backend="scheduler", address="tls://h:1"))
    assert (security.tls_ca_file, security.tls_client_cert, security.tls_client_key) == (
        str(cert), str(cert), str(key))
    assert tls.client_security(ClusterConfig(backend="scheduler", address="tcp://h:1")) is None


def test_missing_certificate_file_is_named(no_dask_tls_config, pem_files, tmp_path):
    cert, key = pem_files
    missing = tmp_path / "nope.pem"
    config = ClusterConfig(backend="scheduler", address="tls://h:1", tls_ca_file=str(missing),
                           tls_cert=str(cert), tls_key=str(key))
    with pytest.raises(FileNotFoundError, match=rf"tls_ca_file {missing} not found "
                                                r"\(--tls-ca-file\)"):
        tls.client_security(config)


def test_certificate_without_key(no_dask_tls_config, pem_files, tmp_path):
    cert, key = pem_files
    config = ClusterConfig(backend="scheduler", address="tls://h:1", tls_ca_file=str(cert),
                           tls_cert=str(cert))
    with pytest.raises(ValueError, match=rf"no private key: {cert} holds none; give --tls-key"):
        tls.client_security(config)
    both = tmp_path / "both.pem"  # Dask's other form: the key appended to the certificate
    both.write_text(cert.read_text() + key.read_text())
    both.chmod(0o600)
    config = ClusterConfig(backend="scheduler", address="tls://h:1", tls_ca_file=str(cert),
                           tls_cert=str(both))
    assert tls.client_security(config).tls_client_key is None


def test_key_readable_by_others_is_warned_about(no_dask_tls_config, pem_files, caplog):
    cert, key = pem_files
    key.chmod(0o644)
    config = ClusterConfig(backend="scheduler", address="tls://h:1", tls_ca_file=str(cert),
                           tls_cert=str(cert), tls_key=str(key))
    with caplog.at_level(logging.WARNING, logger="lascoproc.cluster.tls"):
        tls.client_security(config)
    assert f"TLS key {key} can be read by other users (mode 644): chmod 600" in caplog.text


# ------------------------------------------------------------------ cryptography missing


@pytest.fixture
def without_cryptography(monkeypatch):
    """``import cryptography`` fails as if the package were not installed."""
    real_import = builtins.__import__
    for mod in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.delitem(sys.modules, mod)

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] == "cryptography":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_cryptography_names_the_package_and_the_extra(without_cryptography, tmp_path):
    with pytest.raises(ImportError, match=r"needs the Python package 'cryptography': "
                                          r"pip install 'lascoproc\[hpc\]'; or give "
                                          r"certificate files .* --no-tls$"):
        tls.temporary_security("slurm")
    config = ClusterConfig(backend="slurm", tls_directory=str(tmp_path / "tls"))
    with pytest.raises(ImportError, match=r"lascoproc\[hpc\]"), tls.jobqueue_security(config):
        pass
    assert not (tmp_path / "tls").exists()  # nothing made before the check
    with pytest.raises(ImportError, match="local backend .* pip install cryptography;"), \
            get_client(ClusterConfig(backend="local", tls=True, n_workers=1)):
        pass


def test_certificate_files_need_no_cryptography(pem_files, without_cryptography):
    cert, key = pem_files
    config = ClusterConfig(backend="pbs", tls_ca_file=str(cert), tls_cert=str(cert),
                           tls_key=str(key))
    with tls.jobqueue_security(config) as security:
        assert security.get_tls_config_for_role("worker")["key"] == str(key)


# ---------------------------------------------------------------- jobqueue credentials


def test_jobqueue_credentials_are_private_and_removed(tmp_path):
    base = tmp_path / "shared" / "tls"
    config = ClusterConfig(backend="slurm", tls_directory=str(base))
    with tls.jobqueue_security(config) as security:
        (run_dir,) = base.iterdir()
        assert run_dir.name.startswith("lascoproc-tls-")
        assert stat.S_IMODE(base.stat().st_mode) == 0o700
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
        assert sorted(p.name for p in run_dir.iterdir()) == ["cert.pem", "key.pem"]
        for path in run_dir.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "PRIVATE KEY" in (run_dir / "key.pem").read_text()
        cert, key = str(run_dir / "cert.pem"), str(run_dir / "key.pem")
        for role in ("client", "scheduler", "worker"):
            assert security.get_tls_config_for_role(role) == {
                "ca_file": cert, "ciphers": None, "cert": cert, "key": key}
        assert security.require_encryption
        assert "PRIVATE KEY" not in repr(security)
        security.get_connection_args("client")  # the files make a working TLS context
    assert list(base.iterdir()) == []
    # removed when the run fails too
    with pytest.raises(RuntimeError), tls.jobqueue_security(config):
        raise RuntimeError("the run failed")
    assert list(base.iterdir()) == []


def test_two_runs_never_share_credentials(tmp_path):
    config = ClusterConfig(backend="pbs", tls_directory=str(tmp_path))
    with tls.jobqueue_security(config) as one, tls.jobqueue_security(config) as two:
        assert one.tls_ca_file != two.tls_ca_file
        assert Path(one.tls_ca_file).read_text() != Path(two.tls_ca_file).read_text()


def test_jobqueue_without_tls_has_no_credentials(tmp_path):
    config = ClusterConfig(backend="slurm", tls=False, tls_directory=str(tmp_path / "t"))
    with tls.jobqueue_security(config) as security:
        assert security is None
    assert not (tmp_path / "t").exists()


def test_credential_directory_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SCRATCH", "/scratch/me")
    slurm = ClusterConfig(backend="slurm")
    assert tls.credential_directory(slurm) == tmp_path / ".lascoproc" / "tls"
    assert tls.credential_directory(slurm, "~/shared") == tmp_path / "shared"
    config = ClusterConfig(backend="slurm", tls_directory="$SCRATCH/tls")
    assert tls.credential_directory(config, "~/shared") == Path("/scratch/me/tls")


def test_uncreatable_credential_directory_says_what_to_set(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = ClusterConfig(backend="slurm", tls_directory=str(blocker / "tls"))
    with pytest.raises(OSError, match=rf"cannot make the run's credential directory in "
                                      rf"{blocker / 'tls'} .*set tls_directory"):
        with tls.jobqueue_security(config):
            pass


def test_user_certificates_for_a_cluster_must_be_complete(pem_files):
    cert, _ = pem_files
    config = ClusterConfig(backend="slurm", tls_cert=str(cert))
    with pytest.raises(ValueError, match="incomplete: --tls-ca-file missing"), \
            tls.jobqueue_security(config):
        pass


# --------------------------------------------------------------------- job scripts


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
def key_logs(caplog):
    """Every log record of lascoproc, dask-jobqueue and distributed, at DEBUG."""
    for name in ("lascoproc", "dask_jobqueue", "distributed"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.mark.parametrize("backend", ["slurm", "pbs"])
def test_job_scripts_name_the_key_files_never_the_keys(backend, tmp_path, key_logs):
    pytest.importorskip("dask_jobqueue", reason="pip install 'lascoproc[hpc]'")
    from lascoproc.cluster import jobqueue

    config = ClusterConfig(backend=backend, tls_directory=str(tmp_path), gpu_workers=1,
                           threads_per_worker=2, memory_limit="4GiB")
    with tls.jobqueue_security(config) as security:
        (run_dir,) = tmp_path.iterdir()
        key_text = (run_dir / "key.pem").read_text()
        scripts = []
        for make in (jobqueue.cpu_job, jobqueue.gpu_job):
            job = make(config, "tls://10.0.0.1:8786", security=security)
            scripts.append(job.job_script())
            with job.job_file() as path:  # what sbatch/qsub would get (and dask-jobqueue logs)
                scripts.append(Path(path).read_text())
    for script in scripts:
        assert "dask_worker tls://10.0.0.1:8786 " in script
        assert "--protocol tls://" in script
        assert (f"--tls-ca-file {run_dir}/cert.pem --tls-cert {run_dir}/cert.pem "
                f"--tls-key {run_dir}/key.pem") in script
        assert "PRIVATE KEY" not in script and "BEGIN" not in script
    assert "--resources GPU=1" in scripts[2]
    logged = "\n".join(r.getMessage() for r in key_logs.records)
    assert "writing job script" in logged  # dask-jobqueue's own debug log was captured
    assert "PRIVATE KEY" not in logged and key_text.splitlines()[1] not in logged


def test_preview_scripts_show_where_the_credentials_will_be(tmp_path):
    pytest.importorskip("dask_jobqueue", reason="pip install 'lascoproc[hpc]'")
    from lascoproc.cluster import jobqueue

    config = ClusterConfig(backend="slurm", tls_directory=str(tmp_path), threads_per_worker=2,
                           memory_limit="4GiB")
    script = jobqueue.cpu_job(config).job_script()
    assert "dask_worker tls://<scheduler-address>:8786 " in script
    assert f"--tls-key {tmp_path}/lascoproc-tls-XXXXXXXX/key.pem" in script
    assert list(tmp_path.iterdir()) == []  # nothing made for a preview


def test_job_scripts_refuse_in_memory_keys():
    pytest.importorskip("dask_jobqueue", reason="pip install 'lascoproc[hpc]'")
    from distributed.security import Security

    from lascoproc.cluster import jobqueue

    config = ClusterConfig(backend="slurm")
    with pytest.raises(ValueError, match="credentials are in memory; a job script may only "
                                         "name files"):
        jobqueue.job_kwargs(config, security=Security.temporary())


def test_jobqueue_cluster_listens_on_tls_only(tmp_path, key_logs):
    """The cluster class of dask-jobqueue, given lascoproc's credentials: a tls:// scheduler,
    job scripts with the key files, and nothing dumped by dask-jobqueue itself (it would warn,
    and warnings are errors here)."""
    dask_jobqueue = pytest.importorskip("dask_jobqueue", reason="pip install 'lascoproc[hpc]'")
    from lascoproc.cluster import jobqueue

    config = ClusterConfig(backend="slurm", tls_directory=str(tmp_path / "tls"),
                           threads_per_worker=1, memory_limit="1GiB")
    cwd = sorted(os.listdir())
    with jobqueue._complete_sections(config), tls.jobqueue_security(config) as security, \
            dask_jobqueue.SLURMCluster(
                scheduler_cls=_loopback_scheduler(),
                scheduler_options={"dashboard_address": "127.0.0.1:0"},
                **jobqueue.job_kwargs(config, security=security)) as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        script = cluster.job_script()
        assert "--protocol tls://" in script and f"--tls-key {security.tls_worker_key}" in script
        assert cluster.security is security
    assert sorted(os.listdir()) == cwd
    assert "PRIVATE KEY" not in "\n".join(r.getMessage() for r in key_logs.records)
