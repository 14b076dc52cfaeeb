"""Static validation of what cannot run here (no Kubernetes, no Docker engine).

* ``deploy/helm/values.yaml`` against a JSON schema derived from the dagster chart's values schema
  (``deploy/helm/values.subset.schema.json``; the chart's own file is on no package registry).
* The ``dagster.yaml`` the chart renders from these values (the instance, run launcher, storage
  and concurrency sections, rendered here the way the chart's templates do) validated by Dagster
  1.13's own config schemas, dagster-k8s's K8sRunLauncher and dagster-postgres's storages included.
* No secret in the deployment files; every credential comes from a Kubernetes secret.
* The image layout: the repository copied as the Dockerfile's build context would be (its
  ``.dockerignore`` applied), the image's dependency set installed from ``uv.lock`` exactly as the
  Dockerfile does (``uv sync --locked --no-dev --extra k8s``), and ``dagster definitions
  validate`` run there with that environment only.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ledger_pipelines.platform.instance import CODE_LOCATION, DUCKDB_POOL, MANAGED_LOGGERS, instance_config
from tests.platform.conftest import REPO, base_environment

DEPLOY = REPO / "deploy"
VALUES = DEPLOY / "helm" / "values.yaml"
SCHEMA = DEPLOY / "helm" / "values.subset.schema.json"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
RELEASE_NAMESPACE = "subledger"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


# -- Helm values against the chart's (derived) schema ------------------------------------------
def test_values_match_the_chart_schema(values, validator) -> None:
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "path, value",
    [
        (["runLauncher", "config", "k8sRunLauncher", "envSecret"], [{"name": "typo"}]),  # misspelt key
        (["runLauncher", "type"], "KubernetesRunLauncher"),  # not a launcher the chart knows
        (["concurrency", "pools", "granularity"], "step"),
        (["dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "maxConcurrentRun"], 3),
        (["dagster-user-deployments", "deployments", 0, "image", "pullPolicy"], "Sometimes"),
        (["telemetry", "enabled"], "no"),
    ],
)
def test_the_schema_rejects_what_the_chart_rejects(values, validator, path, value) -> None:
    broken = copy.deepcopy(values)
    target = broken
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert list(validator.iter_errors(broken)), f"the schema accepted {path} = {value!r}"


# -- The instance the chart renders, validated by Dagster itself -------------------------------
def render_dagster_yaml(values: dict[str, Any]) -> dict[str, Any]:
    """The parts of the chart's configmap-instance.yaml that these values drive (same mapping of
    camelCase values to Dagster's snake_case instance keys as the chart's templates)."""
    pg = values["postgresql"]
    storage_config = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg.get("postgresqlParams", {}),
        }
    }
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or RELEASE_NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": "subledger-dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if k8s.get("envConfigMaps"):
        launcher["env_config_maps"] = [c["name"] for c in k8s["envConfigMaps"]]
    if k8s.get("envSecrets"):
        launcher["env_secrets"] = [s["name"] for s in k8s["envSecrets"]]
    for source, target in (("envVars", "env_vars"), ("volumeMounts", "volume_mounts"), ("volumes", "volumes"),
                           ("labels", "labels"), ("resources", "resources")):
        if k8s.get(source):
            launcher[target] = k8s[source]
    if k8s.get("failPodOnRunFailure"):
        launcher["fail_pod_on_run_failure"] = True
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"] or {}
    coordinator = {}
    if queued.get("maxConcurrentRuns") is not None:
        coordinator["max_concurrent_runs"] = queued["maxConcurrentRuns"]
    if queued.get("dequeueIntervalSeconds") is not None:
        coordinator["dequeue_interval_seconds"] = queued["dequeueIntervalSeconds"]
    monitoring = daemon["runMonitoring"]
    concurrency = values["concurrency"]
    document: dict[str, Any] = {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler", "config": {}},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage", "config": storage_config},
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": storage_config},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage", "config": storage_config},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher},
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator", "config": coordinator},
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        },
        "run_retries": {"enabled": daemon["runRetries"]["enabled"], "max_retries": daemon["runRetries"]["maxRetries"]},
        "python_logs": {"python_log_level": values["pythonLogs"]["pythonLogLevel"],
                        "managed_python_loggers": values["pythonLogs"]["managedPythonLoggers"],
                        **({"dagster_handler_config": values["pythonLogs"]["dagsterHandlerConfig"]}
                           if values["pythonLogs"].get("dagsterHandlerConfig") else {})},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    if concurrency.get("enabled"):
        pools, runs = concurrency.get("pools", {}), concurrency.get("runs", {})
        document["concurrency"] = {
            "pools": {k: v for k, v in {"default_limit": pools.get("defaultLimit"), "granularity": pools.get("granularity"),
                                        "op_granularity_run_buffer": pools.get("opGranularityRunBuffer")}.items() if v is not None},
            "runs": {k: v for k, v in {"max_concurrent_runs": runs.get("maxConcurrentRuns"),
                                       "tag_concurrency_limits": runs.get("tagConcurrencyLimits") or None}.items() if v is not None},
        }
    return document


def _assert_valid(config_type, value: Any, what: str) -> None:
    from dagster._config import validate_config

    result = validate_config(config_type, value)
    assert result.success, f"{what}: " + "; ".join(e.message for e in result.errors)


def test_rendered_instance_is_valid_dagster_config(values, tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    rendered = render_dagster_yaml(values)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    dagster_instance_config(str(tmp_path))  # the whole document, incl. concurrency-vs-run-queue conflicts
    _assert_valid(K8sRunLauncher.config_type(), rendered["run_launcher"]["config"], "K8sRunLauncher config")
    _assert_valid(QueuedRunCoordinator.config_type(), rendered["run_coordinator"]["config"], "QueuedRunCoordinator config")
    for storage in (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage):
        _assert_valid(storage.config_type(), rendered["run_storage"]["config"], storage.__name__)


def test_cluster_and_local_instances_follow_the_same_rules(values) -> None:
    """Same pools, run limits, retries, telemetry and managed loggers on a laptop and in the cluster."""
    local = instance_config()
    rendered = render_dagster_yaml(values)
    assert rendered["concurrency"]["pools"] == local["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1}
    assert rendered["concurrency"]["runs"]["max_concurrent_runs"] == local["concurrency"]["runs"]["max_concurrent_runs"]
    assert "max_concurrent_runs" not in rendered["run_coordinator"]["config"]  # the chart refuses both places
    assert rendered["run_retries"]["enabled"] and local["run_retries"]["enabled"]
    assert rendered["telemetry"] == local["telemetry"] == {"enabled": False}
    assert rendered["python_logs"]["managed_python_loggers"] == MANAGED_LOGGERS
    assert rendered["python_logs"]["dagster_handler_config"] == local["python_logs"]["dagster_handler_config"]
    assert rendered["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert DUCKDB_POOL == "duckdb_warehouse"


def test_code_location_and_run_pods_are_wired_alike(values) -> None:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    assert deployment["name"] == CODE_LOCATION == workspace["location_name"]
    args = deployment["codeServerArgs"]
    assert args[args.index("-m") + 1] == workspace["module_name"] and args[args.index("-a") + 1] == workspace["attribute"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["envSecrets"] == deployment["envSecrets"]
    assert launcher["volumes"] == deployment["volumes"] and launcher["volumeMounts"] == deployment["volumeMounts"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    mount = deployment["volumeMounts"][0]["mountPath"]
    for name in ("SUBLEDGER_HOME", "SUBLEDGER_DUCKDB_PATH", "SUBLEDGER_LANDING_DIR"):
        assert env[name].startswith(mount), f"{name} must live on the shared volume {mount}"
    claim = deployment["volumes"][0]["persistentVolumeClaim"]["claimName"]
    pvc = yaml.safe_load((DEPLOY / "k8s" / "state-pvc.yaml").read_text())
    assert pvc["metadata"]["name"] == claim and "ReadWriteMany" in pvc["spec"]["accessModes"]


# -- Secrets only from the environment ---------------------------------------------------------
_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api_?key|credential")


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
            yield f"{path}/{key}", key, value
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def test_no_secret_in_the_deployment_files(values) -> None:
    assert values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    problems = []
    for where, key, value in _walk(values):
        if isinstance(key, str) and _SECRET_KEY.search(key) and isinstance(value, str) and not key.endswith(("SecretName",)):
            problems.append(f"{where} = {value!r}")
        if isinstance(value, str) and re.search(r"://[^/\s:@]+:[^@\s]+@", value):
            problems.append(f"{where} holds a URL with credentials")
    for path in [DOCKERFILE, DEPLOY / "k8s" / "state-pvc.yaml"]:
        text = path.read_text()
        if re.search(r"://[^/\s:@]+:[^@\s]+@", text) or re.search(r"(?im)^\s*(ENV|ARG)\s+\S*(PASSWORD|SECRET|DATABASE_URL)", text):
            problems.append(f"{path.name} bakes a credential in")
    assert not problems, problems


# -- The image: Dockerfile facts and the code location loading in the image's layout -----------
def _dockerfile_sync_flags() -> list[list[str]]:
    text = DOCKERFILE.read_text()
    return [[flag for flag in line.split("uv sync", 1)[1].split("&&")[0].split() if flag != "\\"]
            for line in text.splitlines() if "uv sync" in line]


def test_dockerfile_builds_from_the_lock_file() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"(?m)^FROM python:3\.11", text), "the image must use the project's Python (3.11)"
    makefile_uv = re.search(r"(?m)^UV_VERSION := (\S+)", (REPO / "Makefile").read_text()).group(1)
    assert f"ARG UV_VERSION={makefile_uv}" in text, "pin uv like the Makefile does"
    flags = _dockerfile_sync_flags()
    assert flags and all({"--locked", "--no-dev", "--extra", "k8s"} <= set(f) for f in flags), flags
    assert re.search(r"(?m)^COPY \. \.$", text) and re.search(r"(?m)^USER \d+", text)
    assert "ledger_pipelines.defs.definitions" in text and '"3030"' in text
    ignored = DOCKERIGNORE.read_text().split()
    for private in (".venv", ".subledger", "test-artifacts", ".git"):
        assert private in ignored, f"{private} must stay out of the image"


def _ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(prefix.split("/")[-1], bare)):
                return True
    return False


def _uv() -> str:
    for candidate in (REPO / ".tools" / "bin" / "uv", shutil.which("uv"), Path(sys.executable).parent / "uv"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("uv is not installed: run `make install` (it installs the pinned uv into .tools/bin).")


@pytest.mark.slow
def test_definitions_load_in_the_image_layout(tmp_path: Path) -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    image_root = tmp_path / "opt" / "subledger"  # WORKDIR /opt/subledger; COPY . .
    copied = 0
    for relative in filter(None, listed):
        source = REPO / relative
        if source.is_file() and not _ignored(relative, patterns):
            (image_root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, image_root / relative)
            copied += 1
    assert (image_root / "workspace.yaml").is_file() and (image_root / "uv.lock").is_file() and copied > 20
    assert not (image_root / ".venv").exists() and not (image_root / "test-artifacts").exists()

    # RUN uv sync --locked --no-dev --extra k8s  (the Dockerfile's flags, read from it)
    flags = _dockerfile_sync_flags()[-1]
    venv = image_root / ".venv"
    env = {k: v for k, v in base_environment({}).items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update({"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", "UV_PROJECT_ENVIRONMENT": str(venv),
                "UV_PYTHON_DOWNLOADS": "never"})
    sync = subprocess.run([_uv(), "sync", *flags, "--python", sys.executable], cwd=image_root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert sync.returncode == 0, sync.stderr[-4000:]

    python = str(venv / "bin" / "python")
    probe = subprocess.run([python, "-c", "import ledger_pipelines, dagster_k8s, importlib.util as u; "
                            "print(ledger_pipelines.__file__); print(u.find_spec('pytest') is None)"],
                           cwd=image_root, env=env, capture_output=True, text=True, timeout=120)
    module_file, no_pytest = probe.stdout.split()
    assert module_file.startswith(str(image_root)), f"the code was not loaded from the image layout: {module_file}"
    assert no_pytest == "True", "dev dependencies leaked into the image's environment"

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    state = tmp_path / "var" / "lib" / "subledger"
    validate = subprocess.run(
        [str(venv / "bin" / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=image_root, env={**env, "DAGSTER_HOME": str(dagster_home), "SUBLEDGER_HOME": str(state),
                             "DAGSTER_DISABLE_TELEMETRY": "1"},
        capture_output=True, text=True, timeout=300,
    )
    output = validate.stdout + validate.stderr
    assert validate.returncode == 0, output[-6000:]
    assert f"Validation successful for code location {CODE_LOCATION}" in output, output[-3000:]
