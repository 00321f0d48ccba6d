"""deploy/kubernetes: the manifests are valid against the operator's own CRD schemas and are the
resources that lascoproc builds with the operator's helpers from deploy/kubernetes/cluster.yaml.

No Kubernetes cluster is reachable here: nothing is applied. The CRDs are those shipped inside
the installed dask-kubernetes (its Helm chart's ``crds/``), validated with jsonschema plus the
strict unknown-field check ``kubectl apply --validate=strict`` does (a structural CRD prunes
unknown fields silently, so a misspelt key would otherwise vanish without a word).
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
from pathlib import Path

import pytest
import yaml

from lascoproc.cluster.config import ClusterConfig

dask_kubernetes = pytest.importorskip(
    "dask_kubernetes", reason="the kubernetes extra is not installed: "
    "pip install 'lascoproc[kubernetes]' to validate the manifests")
jsonschema = pytest.importorskip("jsonschema")

from dask_kubernetes.operator.validation import validate_cluster_name  # noqa: E402

from lascoproc.cluster import kubernetes as k8s  # noqa: E402

DEPLOY = Path(__file__).parents[2] / "deploy" / "kubernetes"
CRDS = "operator/deployment/helm/dask-kubernetes-operator/crds"


@functools.cache
def _crd(name: str) -> dict:
    text = importlib.resources.files("dask_kubernetes").joinpath(f"{CRDS}/{name}").read_text()
    # the safe loader, in C where libyaml is there: the CRDs are ~300 kB of YAML
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def crd(name: str) -> dict:
    return copy.deepcopy(_crd(name))


@functools.cache
def _validator(name: str):
    (version,) = [v for v in _crd(name)["spec"]["versions"] if v.get("served", True)]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    cls.check_schema(schema)
    return cls(schema)


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def unknown_fields(value, schema, path="") -> list[str]:
    """Keys of ``value`` that ``schema`` does not declare (where it declares its keys)."""
    found = []
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        for key, item in value.items():
            if props is not None and key in props:
                found += unknown_fields(item, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(item, extra, f"{path}.{key}")
            elif props is not None and not preserve and extra is not True:
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def validate(resource: dict, crd_file: str) -> None:
    """Raise if ``resource`` is not a valid object of the CRD in ``crd_file``."""
    definition = crd(crd_file)
    spec = definition["spec"]
    (version,) = [v for v in spec["versions"] if v.get("served", True)]
    assert resource["apiVersion"] == f"{spec['group']}/{version['name']}"
    assert resource["kind"] == spec["names"]["kind"]
    if resource["kind"] == "DaskCluster":  # the operator's own name rule
        validate_cluster_name(resource["metadata"]["name"])
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    _validator(crd_file).validate(resource["spec"])
    unknown = unknown_fields(resource["spec"], schema, "spec")
    if unknown:
        raise jsonschema.ValidationError(f"unknown fields: {unknown}")


def test_daskcluster_manifest_is_valid():
    validate(load("daskcluster.yaml"), "daskcluster.yaml")


def test_gpu_workergroup_manifest_is_valid():
    validate(load("gpu-workergroup.yaml"), "daskworkergroup.yaml")


def test_validator_catches_what_kubectl_would():
    good = load("gpu-workergroup.yaml")
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/gpu"] = 1  # the CRD wants quantities as strings
    misspelt = copy.deepcopy(good)
    misspelt["spec"]["worker"]["spec"]["containers"][0]["resource"] = {}
    for bad in (wrong_type, misspelt):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad, "daskworkergroup.yaml")


def test_manifests_are_what_lascoproc_builds_from_cluster_yaml():
    config = ClusterConfig.from_yaml(DEPLOY / "cluster.yaml")
    built = k8s.cluster_spec(config)
    manifest = load("daskcluster.yaml")
    assert (built["apiVersion"], built["kind"], built["metadata"]["name"]) == (
        manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])
    assert built["spec"] == manifest["spec"]
    group = k8s.gpu_worker_group(config)
    assert group == load("gpu-workergroup.yaml")
    validate(built, "daskcluster.yaml")
    validate(group, "daskworkergroup.yaml")


def test_built_on_the_operators_helpers():
    """The worker specs are those of make_worker_spec: same command tail, ports, layout."""
    from dask_kubernetes.operator import make_worker_spec

    config = ClusterConfig(backend="kubernetes", n_workers=3, threads_per_worker=4,
                           memory_limit="16GiB", gpu_workers=2)
    cpu = k8s.cluster_spec(config)["spec"]["worker"]
    reference = make_worker_spec(image=config.image, n_workers=3,
                                 worker_command=k8s.worker_command(config),
                                 resources=k8s.container_resources(config))
    reference["spec"]["containers"][0].pop("env")
    assert cpu == reference


def test_worker_groups_cpu_and_gpu():
    config = ClusterConfig(backend="kubernetes", n_workers=3, threads_per_worker=4,
                           memory_limit="16GiB", gpu_workers=2)
    spec = k8s.cluster_spec(config)["spec"]
    cpu = spec["worker"]["spec"]["containers"][0]
    assert spec["worker"]["replicas"] == 3
    assert cpu["args"][:6] == ["dask", "worker", "--nthreads", "4", "--memory-limit", "16GiB"]
    assert "--resources" not in cpu["args"]
    assert cpu["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"},
                                "limits": {"memory": "16Gi"}}
    assert spec["scheduler"]["spec"]["containers"][0]["args"][:2] == ["dask", "scheduler"]
    gpu = k8s.gpu_worker_group(config)
    assert gpu["spec"]["cluster"] == "lascoproc"
    assert gpu["metadata"]["name"] == "lascoproc-gpu"
    worker = gpu["spec"]["worker"]
    container = worker["spec"]["containers"][0]
    assert worker["replicas"] == 2
    assert container["image"].endswith("-cuda")
    i = container["args"].index("--resources")
    assert container["args"][i + 1] == "GPU=1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    validate(k8s.cluster_spec(config), "daskcluster.yaml")
    validate(gpu, "daskworkergroup.yaml")


def test_adaptive_starts_at_the_minimum():
    config = ClusterConfig(backend="kubernetes", adaptive_min=1, adaptive_max=10)
    assert k8s.cluster_spec(config)["spec"]["worker"]["replicas"] == 1
    assert k8s.cluster_spec(ClusterConfig(backend="kubernetes"))["spec"]["worker"][
        "replicas"] == k8s.DEFAULT_CPU_WORKERS


def test_manifest_paths_are_used_as_they_are():
    config = ClusterConfig(backend="kubernetes",
                           cluster_spec=str(DEPLOY / "daskcluster.yaml"),
                           gpu_worker_spec=str(DEPLOY / "gpu-workergroup.yaml"))
    assert k8s.cluster_spec(config) == load("daskcluster.yaml")
    assert k8s.gpu_worker_group(config) == load("gpu-workergroup.yaml")
    wrong = ClusterConfig(backend="kubernetes",
                          cluster_spec=str(DEPLOY / "gpu-workergroup.yaml"))
    with pytest.raises(ValueError, match="not a DaskCluster manifest"):
        k8s.cluster_spec(wrong)
