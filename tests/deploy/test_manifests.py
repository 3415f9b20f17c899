"""The files under deploy/ parse, name only real settings, keep secrets out and run `reelay serve`.

No container engine or cluster is needed: everything here reads files.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from orchestrator import cli
from orchestrator.cli.demo import SANDBOX_PREFIX
from orchestrator.settings import PROVIDER_NAMES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
SERVE = ["reelay", "serve"]

# A REELAY_ name; a trailing `_` or `*` makes it a prefix (REELAY_APIXO_*, REELAY_APIXO_<FIELD>).
REELAY_NAME = re.compile(r"\bREELAY_[A-Z0-9_]+\*?")
# Variables whose value is a credential (a PostgreSQL URL carries a password).
SECRET_VAR = re.compile(r"(TOKEN|SECRET|KEY|KEY_ID|PASSWORD|PASSWD|DATABASE_URL)$")
# Build-time names that would bake a credential into an image layer.
SECRET_BUILD_VAR = re.compile(r"TOKEN|SECRET|PASSW|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL")


# ----- helpers ----------------------------------------------------------------------------------


@functools.cache
def generator() -> ModuleType:
    """deploy/generate_env_example.py, loaded from its file without writing bytecode there."""
    path = DEPLOY / "generate_env_example.py"
    spec = importlib.util.spec_from_file_location("generate_env_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    previous, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


def setting_names() -> set[str]:
    """Every variable Settings reads: REELAY_<FIELD>, or REELAY_<MODEL>_<FIELD> when nested."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names |= {f"REELAY_{name}_{sub}".upper() for sub in nested.model_fields}
        else:
            names.add(f"REELAY_{name}".upper())
    return names


def is_known(name: str, valid: set[str]) -> bool:
    """Whether a referenced name is a setting, or for a prefix (`..._`, `...*`) starts some."""
    if name.endswith(("_", "*")):
        stem = name.rstrip("*")
        return any(v.startswith(stem) for v in valid)
    return name in valid


def deploy_files() -> list[Path]:
    """Every file under deploy/, caches excluded."""
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def yaml_docs(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of one file, each checked to be a mapping."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"
    return docs


def kustomization() -> dict[str, Any]:
    """deploy/k8s/kustomization.yaml."""
    (doc,) = yaml_docs(K8S / "kustomization.yaml")
    return doc


@functools.cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    """Every object of the resources kustomization.yaml lists."""
    return tuple(doc for res in kustomization()["resources"] for doc in yaml_docs(K8S / res))


def k8s(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one listed object of ``kind`` (and ``name``, if given)."""
    found = [
        o
        for o in k8s_objects()
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    """The Deployment's pod spec."""
    spec: dict[str, Any] = k8s("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    """The Deployment's reelay container."""
    (only,) = pod_spec()["containers"]
    assert isinstance(only, dict)
    return only


def pod_labels() -> dict[str, str]:
    """The labels of the Deployment's pods."""
    labels: dict[str, str] = k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def selects_pods(selector: dict[str, str]) -> bool:
    """Whether a non-empty label selector matches the Deployment's pods."""
    return bool(selector) and selector.items() <= pod_labels().items()


def container_port(port: int | str) -> int:
    """A container port given by number or by name, as a number."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container()["ports"] if p["name"] == port]
    assert isinstance(number, int)
    return number


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile: comments dropped, continuations joined."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continuation"
    return result


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the Dockerfile's last stage, its FROM first."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    """An ENTRYPOINT/CMD argument list; the shell form runs under /bin/sh -c."""
    if arguments.startswith("["):
        parsed = json.loads(arguments)
        assert isinstance(parsed, list)
        return [str(a) for a in parsed]
    return ["/bin/sh", "-c", arguments]


def build_vars() -> dict[str, str]:
    """Every ARG and ENV name of every stage, with its (last) value."""
    found: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG":
            name, _, value = rest.partition("=")
            found[name.strip()] = value.strip()
        elif keyword == "ENV":
            tokens = shlex.split(rest)
            if tokens and "=" not in tokens[0]:  # legacy `ENV NAME value`
                found[tokens[0]] = " ".join(tokens[1:])
            for token in tokens:
                if "=" in token:
                    name, _, value = token.partition("=")
                    found[name] = value
    return found


def image_command() -> tuple[list[str], list[str]]:
    """The image's (ENTRYPOINT, CMD), exec form."""
    stage = final_stage()
    entrypoint = [exec_form(a) for k, a in stage if k == "ENTRYPOINT"]
    cmd = [exec_form(a) for k, a in stage if k == "CMD"]
    return (entrypoint[-1] if entrypoint else []), (cmd[-1] if cmd else [])


def effective_command(entrypoint: list[str] | None, command: list[str] | None) -> list[str]:
    """What a container runs (Docker and Kubernetes rule): a new entrypoint drops the image CMD."""
    image_entrypoint, image_cmd = image_command()
    if entrypoint is not None:
        return [*entrypoint, *(command or [])]
    return [*image_entrypoint, *(command if command is not None else image_cmd)]


def as_argv(value: Any) -> list[str] | None:
    """A compose `command`/`entrypoint` (string or list) as a list; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def compose() -> dict[str, Any]:
    """deploy/docker-compose.yml."""
    (doc,) = yaml_docs(COMPOSE)
    return doc


def compose_environment(service: str) -> dict[str, str]:
    """A compose service's `environment`, as a mapping (list form converted)."""
    env = compose()["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def env_file_values(path: Path) -> dict[str, str]:
    """The NAME=value lines (not comments) of an env file."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{path.name}: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


# ----- settings and env.example -----------------------------------------------------------------


def test_setting_names_match_the_generator() -> None:
    """The generator derives the same names as pydantic-settings' prefix + nested rule."""
    names = setting_names()
    assert generator().env_names() == names
    assert {"REELAY_DATABASE_URL", "REELAY_API_TOKEN", "REELAY_APIXO_API_KEY"} <= names
    assert {f"REELAY_{p.upper()}_BASE_URL" for p in PROVIDER_NAMES} <= names


def test_derived_names_are_the_ones_settings_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A top-level and a provider-nested name, set in the environment, reach Settings."""
    monkeypatch.setenv("REELAY_LOG_LEVEL", "debug")
    monkeypatch.setenv("REELAY_APIXO_BASE_URL", "http://sandbox:9000/apixo/api/v1")
    monkeypatch.setenv("REELAY_APIXO_FIRST_POLL_S", "5")
    settings = load_settings(_env_file=None)
    assert settings.log_level == "debug"
    assert settings.apixo.base_url == "http://sandbox:9000/apixo/api/v1"
    assert settings.apixo.first_poll_s == 5.0
    assert settings.apimart.base_url == Settings.model_fields["apimart"].default.base_url


def test_env_example_is_the_generators_output() -> None:
    """deploy/env.example equals what deploy/generate_env_example.py prints (no drift)."""
    committed = (DEPLOY / "env.example").read_text(encoding="utf-8")
    generated: str = generator().render()
    assert committed == generated, f"regenerate it: {generator().COMMAND}"


def test_env_example_lists_every_setting_commented_and_secrets_empty() -> None:
    """Each setting has one commented-out line, and secrets have no value."""
    text = (DEPLOY / "env.example").read_text(encoding="utf-8")
    assert env_file_values(DEPLOY / "env.example") == {}
    listed = re.findall(r"^#(REELAY_[A-Z0-9_]+)=(.*)$", text, flags=re.M)
    assert sorted(name for name, _ in listed) == sorted(setting_names())
    values = dict(listed)
    for name in ("REELAY_API_TOKEN", "REELAY_SIGNING_SECRET", "REELAY_WEBHOOK_SECRET"):
        assert values[name] == ""
    for provider in PROVIDER_NAMES:
        assert values[f"REELAY_{provider.upper()}_API_KEY"] == ""


def test_every_reelay_name_under_deploy_is_a_setting() -> None:
    """Dockerfile, compose, k8s, systemd, env files and docs name only real settings."""
    valid = setting_names()
    unknown: dict[str, set[str]] = {}
    checked = 0
    for path in deploy_files():
        for name in REELAY_NAME.findall(path.read_text(encoding="utf-8")):
            checked += 1
            if not is_known(name, valid):
                unknown.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    assert not unknown, f"not reelay settings: {unknown}"
    assert checked > 50


def test_every_yaml_file_parses() -> None:
    """Every .yml/.yaml under deploy/ is valid YAML made of mappings."""
    files = [p for p in deploy_files() if p.suffix in {".yml", ".yaml"}]
    assert len(files) >= 8
    for path in files:
        assert yaml_docs(path), f"{path}: empty"


# ----- the command ------------------------------------------------------------------------------


def test_reelay_serve_is_what_the_e2e_tests_run(capsys: pytest.CaptureFixture[str]) -> None:
    """`reelay` is orchestrator.cli:main, which the e2e tests start with `serve`."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["reelay"] == "orchestrator.cli:main"
    e2e = [p.read_text(encoding="utf-8") for p in (ROOT / "tests" / "e2e").glob("*.py")]
    assert any(re.search(r'"-m",\s*"orchestrator\.cli",\s*"serve"', text) for text in e2e)
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--help"])
    assert exited.value.code == 0
    assert "usage: reelay serve" in capsys.readouterr().out


def test_dockerfile_runs_reelay_serve() -> None:
    """ENTRYPOINT ["reelay"] + CMD ["serve"]."""
    assert image_command() == (["reelay"], ["serve"])
    assert effective_command(None, None) == SERVE


def test_compose_runs_reelay_serve_from_the_dockerfile() -> None:
    """The compose reelay service builds deploy/Dockerfile and keeps (or restates) `serve`."""
    service = compose()["services"]["reelay"]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (COMPOSE.parent / service["build"]["context"]).resolve() == ROOT
    command = effective_command(as_argv(service.get("entrypoint")), as_argv(service.get("command")))
    assert command == SERVE


def test_k8s_container_runs_reelay_serve() -> None:
    """The Deployment's command/args, over the image's, resolve to `reelay serve`."""
    c = container()
    assert effective_command(c.get("command"), c.get("args")) == SERVE


def test_systemd_unit_runs_reelay_serve() -> None:
    """ExecStart is the venv's `reelay serve`, as a non-root user, with the env file."""
    unit = (DEPLOY / "systemd" / "reelay.service").read_text(encoding="utf-8")
    directives = re.findall(r"^(\w+)=(.*)$", unit, flags=re.M)
    values = {k: v for k, v in directives}
    assert shlex.split(values["ExecStart"]) == ["/opt/reelay/.venv/bin/reelay", "serve"]
    assert values["User"] not in {"root", "0"}
    assert values["EnvironmentFile"] == "/etc/reelay/reelay.env"
    assert values["KillSignal"] == "SIGTERM"


# ----- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_slim() -> None:
    """A builder stage that builds wheels, and a python:3.11-slim runtime stage."""
    instructions = dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) >= 2
    args = build_vars()
    runtime = froms[-1].split()[0]
    runtime = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], runtime)
    assert runtime == "python:3.11-slim"
    assert any(k == "RUN" and "pip wheel" in rest for k, rest in instructions)
    assert any(k == "COPY" and rest.startswith("--from=") for k, rest in final_stage())


def test_dockerfile_installs_every_runtime_extra() -> None:
    """The image has every optional dependency group but dev (postgres, s3, ...)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime_extras = set(pyproject["project"]["optional-dependencies"]) - {"dev"}
    runs = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    installed = re.search(r'pip install [^&]*"reelay\[([a-z0-9_,-]+)\]"', runs)
    assert installed is not None
    assert set(installed.group(1).split(",")) == runtime_extras


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    """The last USER is not root, and a python HEALTHCHECK probes /healthz on 8081."""
    stage = final_stage()
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    (healthcheck,) = [rest for keyword, rest in stage if keyword == "HEALTHCHECK"]
    assert "CMD" in healthcheck
    assert "python" in healthcheck
    assert "curl" not in healthcheck
    assert "127.0.0.1" in healthcheck
    assert "/healthz" in healthcheck
    assert "8081" in healthcheck
    exposed = {p for keyword, rest in stage if keyword == "EXPOSE" for p in rest.split()}
    assert {"8080", "8081"} <= exposed


def test_dockerfile_environment() -> None:
    """Listeners on 0.0.0.0, unbuffered output, and the data in /var/lib/reelay."""
    env = build_vars()
    assert env["REELAY_API_HOST"] == "0.0.0.0"
    assert env["REELAY_PUBLIC_HOST"] == "0.0.0.0"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["REELAY_DATABASE_URL"] == "sqlite:////var/lib/reelay/reelay.db"
    assert env["REELAY_DATA_DIR"].startswith("/var/lib/reelay")


def test_dockerfile_bakes_in_no_secret() -> None:
    """No ARG or ENV is named like a credential."""
    suspicious = [name for name in build_vars() if SECRET_BUILD_VAR.search(name)]
    assert suspicious == []


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    """The root .dockerignore excludes the venv, git, caches, databases and .env files."""
    patterns = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".venv", ".git", "**/__pycache__", "*.db", "**/.env"} <= patterns


# ----- docker compose ---------------------------------------------------------------------------


def test_compose_postgres_is_healthchecked_and_persistent() -> None:
    """postgres:16 with pg_isready, a named volume, and reelay waiting for it to be healthy."""
    doc = compose()
    postgres = doc["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in doc["volumes"]
    depends = doc["services"]["reelay"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert compose_environment("reelay")["REELAY_DATABASE_URL"].startswith("postgresql://")


def test_compose_requires_the_token_and_inlines_no_secret() -> None:
    """REELAY_API_TOKEN is a required ${...:?}; every secret-like value is substituted."""
    doc = compose()
    assert compose_environment("reelay")["REELAY_API_TOKEN"].startswith("${REELAY_API_TOKEN:?")
    for name, service in doc["services"].items():
        for var, value in compose_environment(name).items():
            if SECRET_VAR.search(var):
                assert "${" in value, f"{name}: {var} has a literal value"
        assert "env_file" not in service or all(
            (e if isinstance(e, str) else e["path"]) == ".env" for e in service["env_file"]
        )


def test_compose_publishes_the_internal_api_on_loopback_only() -> None:
    """8081 is bound to 127.0.0.1 on the host; 8080 (the receiver) is published."""
    ports = [str(p) for p in compose()["services"]["reelay"]["ports"]]
    internal = [p for p in ports if p.endswith(":8081")]
    assert internal == ["127.0.0.1:8081:8081"]
    assert any(p.endswith(":8080") for p in ports)
    env = compose_environment("reelay")
    assert env["REELAY_API_PORT"] == "8081"
    assert env["REELAY_PUBLIC_PORT"] == "8080"


def test_compose_sandbox_is_optional_and_matches_sandbox_env() -> None:
    """The sandbox runs only in its profile, and sandbox.env points every provider at it."""
    sandbox = compose()["services"]["sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    command = effective_command(as_argv(sandbox.get("entrypoint")), as_argv(sandbox["command"]))
    assert command == ["reelay", "sandbox", "--host", "0.0.0.0", "--port", "9000"]
    values = env_file_values(DEPLOY / "sandbox.env")
    for provider in PROVIDER_NAMES:
        expected = f"http://sandbox:9000{SANDBOX_PREFIX[provider]}"
        assert values[f"REELAY_{provider.upper()}_BASE_URL"] == expected
        assert values[f"REELAY_{provider.upper()}_API_KEY"]


# ----- Kubernetes -------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    """Every k8s/*.yaml except secret.example.yaml is listed; none sets a namespace."""
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}
    assert "namespace" not in kustomization()
    assert all("namespace" not in o["metadata"] for o in k8s_objects())
    assert not [o for o in k8s_objects() if o["kind"] == "Secret"]
    kinds = sorted(o["kind"] for o in k8s_objects())
    expected = ["ConfigMap", "Deployment", "Ingress", "PodDisruptionBudget", "Service", "Service"]
    assert kinds == expected


def test_deployment_replicas_probes_and_shutdown() -> None:
    """Two replicas, rolled one at a time without dropping below two, /readyz and /healthz
    probes on 8081, 30 s to finish work on SIGTERM; videos in S3 (pods share no disk)."""
    deployment = k8s("Deployment")
    assert deployment["spec"]["replicas"] == 2
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert k8s("ConfigMap")["data"]["REELAY_ARTIFACT_S3_BUCKET"]
    assert selects_pods(deployment["spec"]["selector"]["matchLabels"])
    c = container()
    readiness = c["readinessProbe"]["httpGet"]
    liveness = c["livenessProbe"]["httpGet"]
    assert (readiness["path"], container_port(readiness["port"])) == ("/readyz", 8081)
    assert (liveness["path"], container_port(liveness["port"])) == ("/healthz", 8081)
    assert pod_spec()["terminationGracePeriodSeconds"] == 30
    assert {"requests", "limits"} <= set(c["resources"])


def test_deployment_is_non_root_and_read_only() -> None:
    """runAsNonRoot, a read-only root filesystem, /tmp on an emptyDir, no service links."""
    spec = pod_spec()
    c = container()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"].get("runAsUser", 10001) != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    (tmp,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]
    # Service links would inject REELAY_PUBLIC_PORT=tcp://..., which Settings refuses.
    assert spec["enableServiceLinks"] is False


def test_deployment_takes_secrets_from_a_secret_only() -> None:
    """Secret-like variables come from secretKeyRef, never a literal value or the ConfigMap."""
    c = container()
    env = {e["name"]: e for e in c["env"]}
    for name, entry in env.items():
        if SECRET_VAR.search(name):
            assert "value" not in entry, f"{name} has a literal value"
            assert "secretKeyRef" in entry["valueFrom"], name
    for required in ("REELAY_API_TOKEN", "REELAY_DATABASE_URL"):
        assert not env[required]["valueFrom"]["secretKeyRef"].get("optional", False)
    wanted = {"REELAY_API_TOKEN", "REELAY_DATABASE_URL", "REELAY_SIGNING_SECRET"}
    wanted |= {"REELAY_WEBHOOK_SECRET"} | {f"REELAY_{p.upper()}_API_KEY" for p in PROVIDER_NAMES}
    assert wanted <= set(env)
    config = k8s("ConfigMap")
    assert [e["configMapRef"]["name"] for e in c["envFrom"]] == [config["metadata"]["name"]]
    assert [k for k in config["data"] if SECRET_VAR.search(k)] == []


def test_configmap_settings() -> None:
    """Listeners on 0.0.0.0, a public URL placeholder, JSON logs, and only real setting names."""
    data = k8s("ConfigMap")["data"]
    assert data["REELAY_LOG_FORMAT"] == "json"
    assert data["REELAY_API_HOST"] == "0.0.0.0"
    assert data["REELAY_PUBLIC_HOST"] == "0.0.0.0"
    assert data["REELAY_PUBLIC_URL"].startswith("https://")
    assert set(data) <= setting_names()


def test_services_target_the_right_ports() -> None:
    """reelay-public -> 8080 and reelay-internal -> 8081, ClusterIP, selecting the pods."""
    for name, port in (("reelay-public", 8080), ("reelay-internal", 8081)):
        spec = k8s("Service", name)["spec"]
        assert spec.get("type", "ClusterIP") == "ClusterIP"
        assert selects_pods(spec["selector"])
        (only,) = spec["ports"]
        assert only["port"] == port
        assert container_port(only.get("targetPort", only["port"])) == port


def test_ingress_routes_only_to_the_public_receiver() -> None:
    """Only /callbacks and /healthz, only to reelay-public:8080, with TLS."""
    spec = k8s("Ingress")["spec"]
    assert "defaultBackend" not in spec
    assert spec["tls"]
    assert all(t["secretName"] for t in spec["tls"])
    paths = [p for rule in spec["rules"] for p in rule["http"]["paths"]]
    assert sorted(p["path"] for p in paths) == ["/callbacks", "/healthz"]
    public = k8s("Service", "reelay-public")["spec"]["ports"]
    for path in paths:
        service = path["backend"]["service"]
        assert service["name"] == "reelay-public"
        port = service["port"]
        assert port.get("number") == 8080 or port.get("name") in {p["name"] for p in public}


def test_pdb_keeps_one_pod_of_the_deployment() -> None:
    """A drain takes one of the two pods at a time, selecting the Deployment's pods."""
    spec = k8s("PodDisruptionBudget")["spec"]
    assert spec["minAvailable"] == 1
    assert "maxUnavailable" not in spec
    assert selects_pods(spec["selector"]["matchLabels"])


def test_secret_example_is_a_template() -> None:
    """secret.example.yaml holds the Deployment's secret keys, as placeholders."""
    (secret,) = yaml_docs(K8S / "secret.example.yaml")
    assert secret["kind"] == "Secret"
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container()["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {secret["metadata"]["name"]}
    for key, value in secret["stringData"].items():
        assert key in setting_names()
        assert "<" in value, f"{key}: not a placeholder"
