"""The dbt project as dagster-dbt sees it: the manifest (prepared when the definitions load) and
the translator that names the report assets and ties the dbt sources to the warehouse assets.

The manifest (``dbt_project/target/manifest.json``) is not committed. ``DbtProject.prepare_if_dev``
only prepares it under ``dagster dev``, so a fresh checkout (``dagster definitions validate``,
``subledger run``, a run worker) would have none: :func:`ensure_manifest` runs ``dbt parse`` (no
network, the project has no packages) when the manifest is missing or older than any file of the
project, and is a couple of ``stat`` calls otherwise. Concurrent loaders wait for each other
(dagster-dbt's update guard) instead of parsing twice.
"""

import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject

from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY, MIRROR_KEY
from ledger_pipelines.paths import dbt_project_dir

REPORTS_GROUP = "reports"  # the statements and reports finance reads (dbt marts)
PREPARATION_GROUP = "report_preparation"  # dbt staging and intermediate models: inputs of the reports
EXPORTS_GROUP = "report_exports"  # the files for finance
REPORTS_OWNERS = ["team:finance-data"]
REPORTS_PREFIX = "reports"

# Reports are rebuilt whenever the ledger moves and every new day (warehouse_freshness_sensor):
# older than a day and a half means a run failed or the daemon is down.
REPORT_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=26))

# The warehouse's tables the reports read (dbt sources `analytics` and `warehouse_meta`) and the
# warehouse asset that writes each.
SOURCE_ASSET_KEYS: dict[tuple[str, str], dg.AssetKey] = {
    ("analytics", "accounts"): MIRROR_KEY,
    ("analytics", "categories"): MIRROR_KEY,
    ("analytics", "account_categories"): MIRROR_KEY,
    ("analytics", "transactions"): MIRROR_KEY,
    ("analytics", "entries"): MIRROR_KEY,
    ("analytics", "account_balance_snapshots"): ACCOUNT_SNAPSHOTS_KEY,
    ("analytics", "category_balance_snapshots"): CATEGORY_SNAPSHOTS_KEY,
    ("analytics", "restatements"): ACCOUNT_SNAPSHOTS_KEY,
    ("warehouse_meta", "builds"): ACCOUNT_SNAPSHOTS_KEY,  # the snapshots' build record: the reports' last day
}

# The dbt of the interpreter running this code (the venv's), whether or not the venv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

_PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
_PROJECT_FOLDERS = ("models", "macros", "tests", "seeds", "snapshots", "analyses")


def report_asset_key(model_name: str) -> dg.AssetKey:
    """``reports/<model>``: the asset of a dbt model (marts, staging and intermediate alike)."""
    return dg.AssetKey([REPORTS_PREFIX, model_name])


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _PROJECT_FILES:
        path = project_dir / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    for folder in _PROJECT_FOLDERS:
        root = project_dir / folder
        if root.is_dir():
            for path in root.rglob("*"):
                newest = max(newest, path.stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    """True if the manifest is missing or older than a file of the dbt project."""
    manifest = project.manifest_path
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(project.project_dir)


def ensure_manifest(project: DbtProject) -> Path:
    """Make sure ``project.manifest_path`` exists and is current (``dbt parse`` if not); return it."""
    if manifest_is_stale(project):
        run_with_concurrent_update_guard(project.manifest_path, _parse, project=project)
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt parse did not write {project.manifest_path}. Run `cd {project.project_dir} && "
            "../.venv/bin/dbt parse --profiles-dir .` to see why (a syntax error in a model or YAML file?)."
        )
    return project.manifest_path


def _parse(project: DbtProject) -> None:
    dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()


def dbt_cli(project: DbtProject) -> DbtCliResource:
    """The dagster-dbt resource that runs this project with the venv's dbt."""
    return DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)


reports_dbt_project = DbtProject(project_dir=dbt_project_dir(), target_path="target")


class ReportsTranslator(DagsterDbtTranslator):
    """Names every dbt model ``reports/<model>`` in group ``reports`` and maps the warehouse's tables
    (sources ``analytics``, ``warehouse_meta``) to the warehouse assets, so lineage runs source
    events -> ledger -> snapshots -> reports."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(
            enable_asset_checks=True, enable_duplicate_source_asset_keys=True,
        ))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            source = (dbt_resource_props.get("source_name") or "", dbt_resource_props["name"])
            if source in SOURCE_ASSET_KEYS:
                return SOURCE_ASSET_KEYS[source]
            raise ValueError(
                f"dbt source {'.'.join(source)} has no warehouse asset; add it to "
                "SOURCE_ASSET_KEYS in ledger_pipelines/defs/reports/project.py."
            )
        return report_asset_key(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Statements apart from the models that prepare them (dbt folders models/marts vs staging, intermediate)."""
        fqn = dbt_resource_props.get("fqn") or []
        return REPORTS_GROUP if "marts" in fqn else PREPARATION_GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return list(REPORTS_OWNERS)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        text = (dbt_resource_props.get("description") or "").strip()
        if text:
            return text
        return f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']} (docs/reports.md)."

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            spec = spec.replace_attributes(freshness_policy=REPORT_FRESHNESS)
        return spec

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or (spec.description or "").strip():
            return spec
        return spec._replace(description=_test_description(manifest["nodes"][unique_id]))


def _test_description(test: Mapping[str, Any]) -> str:
    """What a dbt test asserts, from its YAML (generic tests) or its SQL comment (singular tests)."""
    described = (test.get("description") or "").strip()
    if described:
        return described
    metadata = test.get("test_metadata") or {}
    if metadata:
        kwargs = {k: v for k, v in (metadata.get("kwargs") or {}).items() if k != "model"}
        details = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        return f"dbt test {metadata.get('name')}" + (f" ({details})" if details else "") + " -- ERROR severity."
    comment = [line.removeprefix("--").strip() for line in (test.get("raw_code") or "").splitlines()
               if line.strip().startswith("--")]
    return " ".join(comment)[:500] or f"dbt singular test {test['name']} (dbt_project/tests)."
