"""CI checks of the code location: Dagster validates it, and the asset graph reads as the architecture.

The graph rules apply to every asset and check the code location has, today's and tomorrow's
alike: a new domain merged into ``ledger_pipelines/defs/definitions.py`` is held to them as soon
as it exists.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from ledger_pipelines.platform.instance import DUCKDB_POOL
from tests.platform.conftest import REPO, VENV_BIN, base_environment

#: The architecture's layers (docs/architecture.md), in data-flow order: every asset is in one. The
#: reports layer is drawn as three groups: what finance reads, its dbt preparation, and the files.
ARCHITECTURE_GROUPS = ("sources", "ledger", "warehouse", "reports", "report_preparation", "report_exports")

#: Kinds meaning "this op writes (or reads) the DuckDB warehouse work file": such ops must take a
#: slot of the ``duckdb_warehouse`` pool (DuckDB takes one writer process per file).
DUCKDB_KINDS = {"duckdb", "dbt"}

#: Materialisable assets allowed to have no asset check, each with the reason. Keep it short.
UNCHECKED_ASSETS = {
    "ledger/posted_batches": "the ledger database enforces every posting invariant itself (docs/invariants.md); "
    "each batch's outcome counts and quarantine reasons are in its materialisation metadata",
    "ledger/outbox_batches": "as ledger/posted_batches: the database refuses what a check would flag",
}


def _validate(workspace: Path, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run(
        [str(VENV_BIN / "dagster"), "definitions", "validate", "-w", str(workspace)],
        cwd=cwd,
        env=base_environment({"DAGSTER_HOME": str(dagster_home), "SUBLEDGER_HOME": str(tmp_path / "home")}),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_workspace_yaml_loads_the_one_code_location() -> None:
    document = yaml.safe_load((REPO / "workspace.yaml").read_text())
    (entry,) = document["load_from"]
    assert entry["python_module"]["module_name"] == "ledger_pipelines.defs.definitions"
    assert entry["python_module"]["attribute"] == "defs"
    assert entry["python_module"]["location_name"] == "subledger"


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    """`dagster definitions validate -w workspace.yaml` (Dagster 1.13's CI command) passes."""
    result = _validate(REPO / "workspace.yaml", REPO, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Validation successful for code location subledger" in output, output[-3000:]


@pytest.fixture(scope="module")
def graph():
    from ledger_pipelines.defs.definitions import defs

    return defs, defs.resolve_asset_graph()


def _name(key) -> str:
    return key.to_user_string()


def test_every_asset_has_group_description_owners_and_kinds(graph) -> None:
    defs, _ = graph
    problems = []
    for spec in defs.resolve_all_asset_specs():
        name = _name(spec.key)
        if spec.group_name not in ARCHITECTURE_GROUPS:
            problems.append(f"{name}: group {spec.group_name!r} is not one of the architecture's {ARCHITECTURE_GROUPS}")
        if not (spec.description or "").strip():
            problems.append(f"{name}: no description")
        if not spec.owners:
            problems.append(f"{name}: no owners (e.g. owners=['team:data-platform'])")
        if not spec.kinds:
            problems.append(f"{name}: no kinds (e.g. kinds={{'python', 'postgres'}})")
    assert not problems, "\n".join(problems)


def test_checks_are_attached_to_the_assets_they_guard(graph) -> None:
    _, asset_graph = graph
    keys = set(asset_graph.get_all_asset_keys())
    problems = []
    for check_key in asset_graph.asset_check_keys:
        spec = asset_graph.get_check_spec(check_key)
        if check_key.asset_key not in keys:
            problems.append(f"check {check_key.name} guards {_name(check_key.asset_key)}, which is not in the graph")
        if not (spec.description or "").strip():
            problems.append(f"check {_name(check_key.asset_key)}:{check_key.name} has no description")
    guarded = {check_key.asset_key for check_key in asset_graph.asset_check_keys}
    for key in asset_graph.materializable_asset_keys:
        if key not in guarded and _name(key) not in UNCHECKED_ASSETS:
            problems.append(f"{_name(key)} is not guarded by any asset check (add one, or justify it in UNCHECKED_ASSETS)")
    assert not problems, "\n".join(problems)


def test_report_assets_carry_freshness_expectations(graph) -> None:
    defs, _ = graph
    missing = [
        _name(spec.key)
        for spec in defs.resolve_all_asset_specs()
        if (spec.group_name == "reports" or spec.key.path[0] == "reports")
        and spec.freshness_policy is None
        and spec.legacy_freshness_policy is None
    ]
    assert not missing, f"report assets without a freshness policy: {missing}"


def _duckdb_resource_keys(defs) -> set[str]:
    """Resource keys that hand out DuckDB connections (by key or by class name)."""
    return {key for key, resource in (defs.resources or {}).items()
            if "duckdb" in key.lower() or "duckdb" in type(resource).__name__.lower()}


def test_every_duckdb_op_runs_in_the_warehouse_pool(graph) -> None:
    """Any op producing a DuckDB/dbt asset, or using a DuckDB resource (a check that opens the
    warehouse, say), takes a slot of the ``duckdb_warehouse`` pool."""
    defs, asset_graph = graph
    kinds_of = {spec.key: set(spec.kinds) for spec in defs.resolve_all_asset_specs()}
    duckdb_resources = _duckdb_resource_keys(defs)
    problems = []
    for assets_def in asset_graph.assets_defs:
        if not assets_def.is_executable:
            continue
        writes_duckdb = any(kinds_of.get(key, set()) & DUCKDB_KINDS for key in assets_def.keys)
        opens_duckdb = bool(set(assets_def.required_resource_keys) & duckdb_resources)
        if not (writes_duckdb or opens_duckdb):
            continue
        pools = assets_def.node_def.pools
        if pools != {DUCKDB_POOL}:
            what = ", ".join(sorted(_name(k) for k in assets_def.keys)) or ", ".join(c.name for c in assets_def.check_keys)
            problems.append(f"{what}: pools {sorted(pools) or 'none'}; set pool={DUCKDB_POOL!r}")
    assert not problems, "\n".join(problems)


def test_jobs_sensors_and_schedules_are_described(graph) -> None:
    defs, _ = graph
    problems = [f"job {job.name}" for job in defs.resolve_all_job_defs()
                if not job.name.startswith("__") and not (job.description or "").strip()]
    problems += [f"sensor {s.name}" for s in defs.sensors or [] if not (s.description or "").strip()]
    problems += [f"schedule {s.name}" for s in defs.schedules or [] if not (s.description or "").strip()]
    assert not problems, "without a description: " + ", ".join(problems)
