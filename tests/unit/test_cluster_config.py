"""ClusterConfig: defaults, YAML (safe_load only), environment overrides, flags, validation."""

import argparse
import dataclasses

import pytest
import yaml

from lascoproc.cluster.config import ClusterConfig, load_cluster_config
from lascoproc_cli.cluster_options import add_cluster_options, cluster_config_from_args


def test_default_is_the_threaded_scheduler_and_hashable():
    config = load_cluster_config(environ={})
    assert config == ClusterConfig()
    assert config.backend == "threads" and not config.distributed
    assert hash(config) == hash(ClusterConfig())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.backend = "local"


def test_yaml_values_are_converted(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "backend: kubernetes\n"
        "n_workers: 4\n"
        "threads_per_worker: '2'\n"
        "memory_limit: 8GiB\n"
        "gpu_workers: 1\n"
        "gpu_resources: {GPU: 1}\n"
        "worker_resources: 'MEM=10e9 IO=2'\n"
        "gpu_limits: {nvidia.com/gpu: 1}\n"
        "job_extra: --exclusive\n"
        "cluster_spec: manifests/daskcluster.yaml\n"
        "timeout: 300\n"
    )
    config = ClusterConfig.from_yaml(path)
    assert config.backend == "kubernetes"
    assert (config.n_workers, config.threads_per_worker) == (4, 2)
    assert config.gpu_resources == (("GPU", 1.0),)
    assert config.worker_resources == (("IO", 2.0), ("MEM", 1e10))
    assert config.gpu_limits == (("nvidia.com/gpu", "1"),)
    assert config.job_extra == ("--exclusive",)
    assert config.cluster_spec == str(tmp_path / "manifests" / "daskcluster.yaml")
    assert config.timeout == 300.0
    hash(config)


def test_yaml_unknown_key_and_non_mapping_are_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("backend: local\nworkers: 3\n")
    with pytest.raises(ValueError, match=r"unknown keys \['workers'\].*n_workers"):
        ClusterConfig.from_yaml(path)
    path.write_text("- local\n")
    with pytest.raises(ValueError, match="mapping"):
        ClusterConfig.from_yaml(path)
    with pytest.raises(FileNotFoundError, match="cluster config"):
        ClusterConfig.from_yaml(tmp_path / "missing.yaml")


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("backend: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(yaml.YAMLError):
        ClusterConfig.from_yaml(path)


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("backend: local\nn_workers: 2\nmemory_limit: 2GiB\n")
    env = {"LASCOPROC_CLUSTER": str(path), "LASCOPROC_WORKERS": "3",
           "LASCOPROC_THREADS_PER_WORKER": "2"}
    config = load_cluster_config(environ=env)
    assert (config.backend, config.n_workers, config.threads_per_worker,
            config.memory_limit) == ("local", 3, 2, "2GiB")
    # an address alone selects the scheduler backend over the file's. Worker counts given in
    # the same layer as the address cannot be honoured: an error (they were ignored before
    # 2026-12-02); the file's local-cluster sizes are dropped by the switch, as its address
    # would be by a switch away from the scheduler
    env["LASCOPROC_SCHEDULER"] = "tcp://10.1.2.3:8786"
    with pytest.raises(ValueError, match="n_workers and threads_per_worker: the scheduler "
                                         "backend uses the workers"):
        load_cluster_config(environ=env)
    del env["LASCOPROC_WORKERS"], env["LASCOPROC_THREADS_PER_WORKER"]
    config = load_cluster_config(environ=env)
    assert (config.backend, config.address, config.n_workers, config.memory_limit) == (
        "scheduler", "tcp://10.1.2.3:8786", None, None)
    with pytest.raises(ValueError, match=r"memory_limit \(4GiB\): the workers of a running"):
        load_cluster_config(environ=env, memory_limit="4GiB")
    config = load_cluster_config(path, environ={}, address="tcp://h:1")  # --scheduler flag
    assert (config.backend, config.n_workers, config.memory_limit) == ("scheduler", None, None)
    with pytest.raises(ValueError, match=r"memory_limit \(2GiB\): this process's threads"):
        load_cluster_config(environ={}, memory_limit="2GiB")
    assert load_cluster_config(path, environ={}, backend="threads").memory_limit is None
    # a backend from the environment drops the file's address
    path.write_text("backend: scheduler\naddress: tcp://h:8786\n")
    config = load_cluster_config(path, environ={"LASCOPROC_CLUSTER_BACKEND": "local"})
    assert (config.backend, config.address) == ("local", None)


def test_overrides_beat_environment_and_none_means_not_given():
    env = {"LASCOPROC_CLUSTER_BACKEND": "local", "LASCOPROC_WORKERS": "4"}
    config = load_cluster_config(environ=env, n_workers=2, memory_limit=None)
    assert (config.backend, config.n_workers, config.memory_limit) == ("local", 2, None)
    config = load_cluster_config(environ=env, address="tcp://h:1")
    assert (config.backend, config.n_workers) == ("scheduler", None)


def test_bad_environment_value_is_named():
    with pytest.raises(ValueError, match="n_workers: want an integer, got 'many'"):
        load_cluster_config(environ={"LASCOPROC_WORKERS": "many"})


@pytest.mark.parametrize(("fields", "message"), [
    ({"backend": "yarn"}, "unknown; choose one of threads, local"),
    ({"backend": "scheduler"}, "needs an address"),
    ({"backend": "local", "address": "tcp://h:1"}, "choose one"),
    ({"backend": "local", "gpu_workers": 1}, "starts no GPU worker group"),
    ({"backend": "threads", "adaptive_max": 4}, "adaptive scaling needs"),
    ({"backend": "slurm", "adaptive_min": 5, "adaptive_max": 2}, r"adaptive_min \(5\) >"),
    ({"memory_limit": "lots"}, "want a size such as 4GiB"),
    ({"threads_per_worker": 0}, "at least 1"),
    ({"n_workers": -1}, "non-negative"),
    ({"memory_limit": "4GiB"}, r"memory_limit \(4GiB\): this process's threads have no"),
    ({"backend": "scheduler", "address": "tcp://h:1", "n_workers": 2},
     "n_workers: the scheduler backend uses the workers the running scheduler has"),
    ({"backend": "scheduler", "address": "tcp://h:1", "n_workers": 0},
     "n_workers: the scheduler backend uses the workers the running scheduler has"),
    ({"n_workers": 0}, "n_workers is 0: no thread would run"),
    ({"backend": "local", "n_workers": 0}, "n_workers is 0: no worker would start"),
    ({"backend": "slurm", "n_workers": 0}, "n_workers is 0: no worker would start"),
])
def test_invalid_configs_say_why(fields, message):
    with pytest.raises(ValueError, match=message):
        ClusterConfig(**fields)


def test_no_cpu_workers_is_fine_where_others_run():
    """0 CPU workers is a valid choice beside a GPU worker group or adaptive scaling."""
    assert ClusterConfig(backend="kubernetes", n_workers=0, gpu_workers=1).n_workers == 0
    assert ClusterConfig(backend="local", n_workers=0, adaptive_max=4).adaptive


def test_resources_strings_and_errors():
    config = ClusterConfig.from_mapping({"worker_resources": "GPU=1,MEM=2e9"})
    assert config.worker_resources_dict() == {"GPU": 1.0, "MEM": 2e9}
    with pytest.raises(ValueError, match="NAME=AMOUNT"):
        ClusterConfig.from_mapping({"worker_resources": "GPU"})
    with pytest.raises(ValueError, match="must be positive"):
        ClusterConfig.from_mapping({"gpu_resources": {"GPU": 0}})


def parse(argv):
    parser = argparse.ArgumentParser()
    add_cluster_options(parser)
    return parser.parse_args(argv)


def test_cli_options_make_the_config(tmp_path):
    assert cluster_config_from_args(parse([]), environ={}) == ClusterConfig()
    config = cluster_config_from_args(parse(["--scheduler", "tcp://127.0.0.1:8786"]),
                                      environ={})
    assert (config.backend, config.address) == ("scheduler", "tcp://127.0.0.1:8786")
    path = tmp_path / "k.yaml"
    path.write_text("backend: kubernetes\nn_workers: 8\nthreads_per_worker: 2\n")
    config = cluster_config_from_args(
        parse(["--cluster", str(path), "--workers", "3", "--memory-limit", "6GiB"]),
        environ={"LASCOPROC_WORKERS": "5"},
    )
    assert (config.backend, config.n_workers, config.threads_per_worker,
            config.memory_limit) == ("kubernetes", 3, 2, "6GiB")
    config = cluster_config_from_args(parse(["--cluster-backend", "local", "--workers", "2",
                                             "--threads-per-worker", "1"]), environ={})
    assert (config.backend, config.n_workers, config.threads_per_worker) == ("local", 2, 1)


def test_cli_conflicting_options_are_a_value_error():
    with pytest.raises(ValueError, match="choose one"):
        cluster_config_from_args(parse(["--scheduler", "tcp://h:1", "--cluster-backend",
                                        "local"]), environ={})


def test_cli_rejects_bad_numbers_and_backends(capsys):
    for argv in (["--workers", "0"], ["--threads-per-worker", "x"],
                 ["--cluster-backend", "yarn"]):
        with pytest.raises(SystemExit) as exc:
            parse(argv)
        assert exc.value.code == 2
    capsys.readouterr()


def test_cli_help_documents_the_environment(capsys):
    with pytest.raises(SystemExit):
        parse(["--help"])
    text = capsys.readouterr().out
    for word in ("--scheduler", "--cluster", "LASCOPROC_SCHEDULER", "LASCOPROC_CLUSTER",
                 "threaded scheduler"):
        assert word in text


def test_layers_are_merged_before_the_backend_rules_apply(tmp_path):
    """The environment's memory limit with --cluster-backend local is valid (the environment
    is not validated alone against the default threads backend); a backend chosen by a flag
    after the environment switched to a scheduler keeps the file's worker sizes; values given
    after the layer that chose the backend are errors where it cannot honour them."""
    config = load_cluster_config(environ={"LASCOPROC_MEMORY_LIMIT": "3GiB"}, backend="local")
    assert (config.backend, config.memory_limit) == ("local", "3GiB")
    path = tmp_path / "site.yaml"
    path.write_text("backend: local\nn_workers: 6\nmemory_limit: 2GiB\n")
    env = {"LASCOPROC_SCHEDULER": "tcp://h:8786"}
    config = load_cluster_config(path, environ=env, backend="local")
    assert (config.backend, config.address, config.n_workers, config.memory_limit) == (
        "local", None, 6, "2GiB")
    with pytest.raises(ValueError, match=r"memory_limit \(3GiB\): this process's threads"):
        load_cluster_config(environ={"LASCOPROC_CLUSTER_BACKEND": "threads"},
                            memory_limit="3GiB")


def test_a_scheduler_over_a_batch_site_file_drops_what_only_started_workers_use():
    """--scheduler over the shipped SLURM site file (GPU workers, adaptive scaling, generated
    TLS credentials) or the Kubernetes one: those values of the file are dropped with the old
    backend, as deploy/README says (the run was refused with 'gpu_workers: the scheduler
    backend starts no GPU worker group' before 2026-12-02); given with the scheduler itself
    they are still errors."""
    from pathlib import Path

    deploy = Path(__file__).parents[2] / "deploy"
    for site in (deploy / "hpc" / "slurm.yaml", deploy / "kubernetes" / "cluster.yaml"):
        config = load_cluster_config(site, environ={}, address="tcp://127.0.0.1:8786",
                                     backend="scheduler")
        assert (config.backend, config.address, config.gpu_workers, config.adaptive) == (
            "scheduler", "tcp://127.0.0.1:8786", 0, False), site
        assert config.tls is None and config.n_workers is None
        threads = load_cluster_config(site, environ={}, backend="threads")
        assert (threads.backend, threads.gpu_workers, threads.adaptive) == ("threads", 0, False)
    with pytest.raises(ValueError, match="starts no GPU worker group"):
        ClusterConfig(backend="scheduler", address="tcp://h:1", gpu_workers=1)


def test_the_dashboard_listens_on_loopback_by_default():
    """Plain HTTP: this machine only, as deploy/README says (':8787' bound every interface)."""
    from pathlib import Path

    assert ClusterConfig().dashboard_address == "127.0.0.1:8787"
    local = Path(__file__).parents[2] / "deploy" / "local.yaml"
    assert ClusterConfig.from_yaml(local).dashboard_address.startswith("127.0.0.1:")
