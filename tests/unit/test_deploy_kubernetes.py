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


# ------------------------------------------------------------------ network policy


def _model_type(type_name: str):
    """The model class or the element type of a kubernetes-client ``openapi_types`` string."""
    import kubernetes.client as k8s_client

    for prefix in ("List[", "list["):
        if type_name.startswith(prefix):
            return "list", type_name[len(prefix):-1]
    for prefix in ("Dict[str, ", "dict(str, "):
        if type_name.startswith(prefix):
            return "dict", type_name[len(prefix):-1]
    return "model", getattr(k8s_client, type_name, None)


def unknown_k8s_fields(value, type_name: str, path: str = "") -> list[str]:
    """Keys of ``value`` that the Kubernetes API type ``type_name`` does not have (the
    kubernetes client's models: every field with its JSON name and type)."""
    kind, inner = _model_type(type_name)
    if inner is None or not isinstance(value, list if kind == "list" else dict):
        return []  # a leaf, or a value of the wrong type: the models' validation says so
    if kind == "list":
        return [f for i, item in enumerate(value)
                for f in unknown_k8s_fields(item, inner, f"{path}[{i}]")]
    if kind == "dict":
        return [f for key, item in value.items()
                for f in unknown_k8s_fields(item, inner, f"{path}.{key}")]
    json_names = {json: attr for attr, json in inner.attribute_map.items()}
    found = []
    for key, item in value.items():
        if key not in json_names:
            found.append(f"{path}.{key}")
        else:
            found += unknown_k8s_fields(item, inner.openapi_types[json_names[key]],
                                        f"{path}.{key}")
    return found


def validate_k8s(resource: dict, type_name: str) -> None:
    """Raise unless ``resource`` is a valid ``type_name``: no unknown field (checked here) and
    every value of its field's type (the client's pydantic models, strict on strings)."""
    import kubernetes.client as k8s_client

    unknown = unknown_k8s_fields(resource, type_name)
    if unknown:
        raise ValueError(f"unknown fields: {unknown}")
    getattr(k8s_client, type_name).from_dict(resource)


def test_network_policy_is_a_valid_network_policy():
    k8s_client = pytest.importorskip("kubernetes.client")
    if not hasattr(k8s_client.V1NetworkPolicy, "from_dict"):
        pytest.skip("kubernetes client without pydantic models (from_dict)")
    policy = load("networkpolicy.yaml")
    assert (policy["apiVersion"], policy["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy")
    validate_k8s(policy, "V1NetworkPolicy")
    misspelt = copy.deepcopy(policy)
    misspelt["spec"]["ingress"][0]["form"] = misspelt["spec"]["ingress"][0].pop("from")
    with pytest.raises(ValueError, match=r"unknown fields: \['.spec.ingress\[0\].form'\]"):
        validate_k8s(misspelt, "V1NetworkPolicy")
    for bad in (("policyTypes", "Ingress"), ("ingress", {"from": []})):
        wrong_type = copy.deepcopy(policy)
        wrong_type["spec"][bad[0]] = bad[1]
        with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
            validate_k8s(wrong_type, "V1NetworkPolicy")
    wrong_type = copy.deepcopy(policy)
    wrong_type["spec"]["ingress"][1]["ports"][0]["protocol"] = 6
    with pytest.raises(ValueError):
        validate_k8s(wrong_type, "V1NetworkPolicy")


def test_network_policy_selects_what_the_operator_makes():
    """The policy's labels are those the operator's controller gives the scheduler, worker
    and DaskJob runner pods of daskcluster.yaml, and its ports are the scheduler's."""
    from dask_kubernetes.operator.controller import controller

    policy = load("networkpolicy.yaml")["spec"]
    cluster = load("daskcluster.yaml")
    name = cluster["metadata"]["name"]
    scheduler = controller.build_scheduler_deployment_spec(name, {}, {}, {})
    worker = controller.build_worker_deployment_spec("default", "lascoproc", name, "x",
                                                     {"containers": []}, {}, {})
    runner = controller.build_job_pod_spec("job", name, "lascoproc", {"containers": []}, {}, {})
    pod_labels = [scheduler["spec"]["template"]["metadata"]["labels"],
                  worker["spec"]["template"]["metadata"]["labels"],
                  runner["metadata"]["labels"]]
    selected = policy["podSelector"]["matchLabels"]
    own_pods = policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    for labels in pod_labels:
        assert selected.items() <= labels.items()  # protected ...
        assert own_pods.items() <= labels.items()  # ... and allowed to talk to each other
    service_ports = {p["name"]: p["targetPort"]
                     for p in cluster["spec"]["scheduler"]["service"]["ports"]}
    container_ports = {p["name"]: p["containerPort"]
                       for p in cluster["spec"]["scheduler"]["spec"]["containers"][0]["ports"]}
    scheduler_ports = {container_ports[service_ports[n]] for n in ("tcp-comm", "http-dashboard")}
    assert scheduler_ports == {8786, 8787}
    for rule in policy["ingress"][1:]:
        assert {p["port"] for p in rule["ports"]} == scheduler_ports
    assert policy["ingress"][2]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "dask-operator"}
    # the scheduler is not exposed outside the Kubernetes cluster
    assert cluster["spec"]["scheduler"]["service"]["type"] == "ClusterIP"
    assert k8s.cluster_spec(ClusterConfig.from_yaml(DEPLOY / "cluster.yaml"))["spec"][
        "scheduler"]["service"]["type"] == "ClusterIP"


def test_kubernetes_backend_refuses_tls_and_points_at_the_policy():
    with pytest.raises(ValueError, match=r"networkpolicy\.yaml"):
        ClusterConfig.from_mapping({"backend": "kubernetes", "tls": True})
    assert not ClusterConfig.from_yaml(DEPLOY / "cluster.yaml").uses_tls


def test_each_run_creates_and_deletes_a_cluster_of_its_own():
    """A run's DaskCluster is ``<name>-<run>``, its labels and selectors renamed with it, and
    the GPU group points at it: the shipped manifest's fixed name made a run connect to a
    cluster of that name (a long-lived one, another run's) and delete it on exit."""
    config = ClusterConfig.from_yaml(DEPLOY / "cluster.yaml")
    spec = k8s.cluster_spec(config)
    run_config, run_spec = k8s.run_named(config, spec, "3f2a9c1b")
    assert run_spec["metadata"]["name"] == run_config.name == f"{config.name}-3f2a9c1b"
    validate(run_spec, "daskcluster.yaml")
    text = yaml.safe_dump(run_spec)
    assert f"dask.org/cluster-name: {config.name}\n" not in text
    assert f"dask.org/cluster-name: {config.name}-3f2a9c1b" in text
    group = k8s.gpu_worker_group(run_config)
    assert group["spec"]["cluster"] == run_config.name
    assert group["metadata"]["name"] == f"{run_config.name}-gpu"
    assert spec["metadata"]["name"] == config.name  # the given spec is left as it was


@pytest.mark.parametrize("fields, bounds", [
    ({"adaptive_max": 32}, (0, 32)),
    ({"adaptive_min": 3}, (3, 3)),
    ({"adaptive_min": 1}, (1, 2)),
    ({"adaptive_min": 3, "n_workers": 6}, (3, 6)),
    ({"adaptive_min": 1, "adaptive_max": 8}, (1, 8)),
])
def test_adaptive_bounds_are_both_integers(fields, bounds):
    """One bound given sent null for the other, which the DaskAutoscaler schema refuses."""
    config = ClusterConfig(backend="kubernetes", **fields)
    assert k8s.adapt_bounds(config) == bounds
    lo, hi = bounds
    (version,) = [v for v in _crd("daskautoscaler.yaml")["spec"]["versions"]
                  if v.get("served", True)]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    jsonschema.validate({"cluster": "lascoproc-x", "minimum": lo, "maximum": hi}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"cluster": "lascoproc-x", "minimum": None, "maximum": hi}, schema)
