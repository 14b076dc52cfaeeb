"""The platform proven as a user would: `subledger dev`, a file in the landing folder, the UI.

Everything is real: the embedded Postgres (ledger and Dagster instance storage), `subledger dev`
(Dagster webserver + daemon), the landing-folder sensor, run workers, and Debian's Chromium
driven headless by Playwright (no browser download). The GraphQL API is checked alongside.
Screenshots and process logs go to ``test-artifacts/platform/ui/``.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.platform.conftest import (
    VENV_BIN,
    Processes,
    artifact_dir,
    base_environment,
    free_port,
    graphql,
    platform_home,
    wait_for,
)

pytestmark = pytest.mark.slow

#: Generous: it only bounds a hang. Each run is a fresh process that loads the code location, so
#: a run's duration depends mostly on how busy the machine is (seconds idle, minutes when shared).
RUN_TIMEOUT = 480

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

EVENTS = [
    {"event_id": "e2e-inv-1", "event_type": "invoice.issued", "effective_at": "2026-01-05T10:00:00Z",
     "subscription_id": "sub_e2e", "customer_id": "cus_e2e", "amount": 2500, "currency": "USD",
     "payload": {"invoice_id": "inv_e2e_1", "plan_id": "pro", "period_start": "2026-01-05", "period_end": "2026-02-05"}},
    {"event_id": "e2e-pay-1", "event_type": "payment.initiated", "effective_at": "2026-01-06T10:00:00Z",
     "subscription_id": "sub_e2e", "customer_id": "cus_e2e", "amount": 2500, "currency": "USD",
     "payload": {"payment_id": "pay_e2e_1", "invoice_id": "inv_e2e_1"}},
    {"event_id": "e2e-pay-1-settled", "event_type": "payment.settled", "effective_at": "2026-01-07T10:00:00Z",
     "subscription_id": "sub_e2e", "customer_id": "cus_e2e", "amount": 2500, "currency": "USD",
     "payload": {"payment_id": "pay_e2e_1"}},
]

RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter, limit: 50) {
    __typename
    ... on Runs { results { runId jobName status startTime endTime tags { key value } assetSelection { path } } }
    ... on PythonError { message }
  }
}"""

MATERIALIZATIONS_QUERY = """
query Materializations($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 20) {
        runId partition timestamp
        metadataEntries { label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } }
      }
    }
  }
}"""

CHECK_EXECUTIONS_QUERY = """
query Checks($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 5) {
    runId status evaluation { success severity description }
  }
}"""

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""

ASSET_NODES_QUERY = """
{ assetNodes { assetKey { path } groupName isMaterializable repository { location { name } } } }"""

SENSOR_STATE_QUERY = """
query Sensor($name: String!) { sensorOrError(sensorSelector: {repositoryLocationName: "subledger",
    repositoryName: "__repository__", sensorName: $name}) {
  __typename ... on Sensor { id sensorState { id status } } ... on PythonError { message } } }"""

STOP_SENSOR_MUTATION = """
mutation Stop($id: String!) { stopSensor(id: $id) {
  __typename ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""

#: Sensors switched off for the test (as an operator would in the UI's Automation page): the
#: warehouse refresh it would launch after the landed file (dbt and exports, a minute or more on two
#: slow cores) would compete with the runs this test launches from the UI and race with the
#: corruption of step 5. tests/platform/test_unattended.py proves the sensor itself.
QUIET_SENSORS = ("warehouse_freshness_sensor",)

RUN_ERRORS_QUERY = """
query Logs($runId: ID!) { logsForRun(runId: $runId, limit: 500) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message level } } } } }"""


def structured_lines(log_path: Path) -> list[dict]:
    """The JSON log lines (``SUBLEDGER_LOG_FORMAT=json``) in a process log."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def stop_sensor(url: str, name: str) -> None:
    state = graphql(url, SENSOR_STATE_QUERY, {"name": name})["sensorOrError"]
    assert state["__typename"] == "Sensor", state
    result = graphql(url, STOP_SENSOR_MUTATION, {"id": state["id"]})["stopSensor"]
    assert result.get("instigationState", {}).get("status") == "STOPPED", result


def runs(url: str, **run_filter) -> list[dict]:
    data = graphql(url, RUNS_QUERY, {"filter": run_filter})["runsOrError"]
    assert data["__typename"] == "Runs", data
    return data["results"]


def tags_of(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def run_errors(url: str, run_id: str) -> str:
    events = graphql(url, RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"].get("events", [])
    return "\n".join(e.get("message", "") for e in events if e.get("level") in ("ERROR", "CRITICAL"))[-4000:]


def wait_for_run(url: str, run_id: str, diagnostics) -> dict:
    def finished():
        (run,) = [r for r in runs(url, runIds=[run_id])]
        return run if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    run = wait_for(finished, timeout=RUN_TIMEOUT, interval=1, what=f"run {run_id} to finish", diagnostics=diagnostics)
    assert run["status"] == "SUCCESS", f"run {run_id} ended {run['status']}:\n{run_errors(url, run_id)}"
    return run


@contextmanager
def browser(folder: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))  # a fresh user-data-dir
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1600, "height": 1000},
            )
            context.set_default_timeout(60_000)
            page = context.new_page()
            try:
                yield page
            except Exception:
                page.screenshot(path=str(folder / "failure.png"), full_page=True)
                raise
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


LAUNCHED = re.compile(r"Launched run ([0-9a-f]{8})")


def launch_from_ui(page, button, folder: Path, shot: str) -> str:
    """Press a launch button (Materialize, Execute); confirm the UI's "Are you sure?" dialog if it
    asks (it does when an upstream asset was never materialised); return the run id prefix the
    "Launched run" toast shows."""
    button.wait_for(state="visible")
    button.click()
    toast = page.get_by_text(LAUNCHED).first
    confirm = page.get_by_role("button", name="Confirm")
    toast.or_(confirm).first.wait_for(state="visible")
    if not toast.is_visible() and confirm.is_visible():
        page.screenshot(path=str(folder / f"confirm-{shot}"))
        confirm.click()
    toast.wait_for(state="visible")
    page.screenshot(path=str(folder / shot))
    return LAUNCHED.search(toast.inner_text()).group(1)


def click_materialize(page, url: str, asset_path: str, folder: Path, shot: str) -> str:
    """Open the asset's page, press Materialize; the launched run's id prefix."""
    page.goto(f"{url}/assets/{asset_path}", wait_until="load")
    button = page.locator("button", has_text=re.compile(r"^\s*Materialize\s*$")).first
    return launch_from_ui(page, button, folder, shot)


def shown_as(name: str, label: str) -> bool:
    """Whether a graph node ``label`` shows asset ``name``: the UI truncates long names in the
    middle (``account…_snapshots``)."""
    if "…" not in label:
        return label == name
    head, _, tail = label.partition("…")
    return name.startswith(head) and name.endswith(tail) and len(head) + len(tail) < len(name)


def missing_from_graph(page, keys: set[str]) -> list[str]:
    """The asset keys with no node in the rendered lineage graph (by the node's name label)."""
    labels = page.locator("[class*='AssetNode_assetName']").all_inner_texts()
    return sorted(k for k in keys if not any(shown_as(k.split("/")[-1], label.strip()) for label in labels))


MIRROR = ("warehouse", "ledger_mirror")
BALANCE_CHECK = "mirror_transactions_balance"


def check_execution(url: str, asset: tuple[str, ...], name: str, run_id: str) -> dict:
    """The execution of check ``name`` in run ``run_id`` (automation may run the check too, so
    "the latest execution" could belong to another run)."""
    executions = graphql(url, CHECK_EXECUTIONS_QUERY, {"key": {"path": list(asset)}, "name": name})["assetCheckExecutions"]
    mine = [e for e in executions if e["runId"] == run_id]
    assert mine, f"no execution of check {name} on {'/'.join(asset)} in run {run_id}: {executions}"
    return mine[0]


def corrupt_mirrored_entry(settings) -> None:
    """Make one mirrored transaction unbalanced in the DuckDB work file, taking the warehouse's
    own one-writer lock (so no Dagster step is writing it meanwhile)."""
    from ledger_pipelines.warehouse.store import open_work

    with open_work(settings.warehouse_work_path, timeout_s=120) as conn:
        changed = conn.execute(
            "UPDATE analytics.entries AS e SET amount = e.amount + 1 FROM (SELECT transaction_id, entry_no "
            "FROM analytics.entries WHERE direction = 'debit' ORDER BY transaction_id, entry_no LIMIT 1) AS one "
            "WHERE e.transaction_id = one.transaction_id AND e.entry_no = one.entry_no"
        ).fetchone()[0]
    assert changed == 1, f"expected to corrupt one mirrored entry, changed {changed}"


def secrets_of(home: Path) -> list[str]:
    state = json.loads((home / "postgres" / "cluster.json").read_text())
    return list(state["passwords"].values())


def test_platform_end_to_end_in_the_browser() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-system-packages (installs Debian's chromium).")
    folder = artifact_dir("ui")
    with platform_home("subledger-e2e-") as ph:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # SUBLEDGER_LOG_FORMAT=json: run workers also write structured lines (checked below).
        env = base_environment({**ph.environ, "SUBLEDGER_START_DATE": "2026-01-01", "SUBLEDGER_LOG_FORMAT": "json"})
        processes = Processes(folder)
        # The project's own workspace.yaml, exactly what a user gets.
        dev = processes.start("subledger-dev", [str(VENV_BIN / "subledger"), "dev", "--port", str(port)], env)
        stopped_cleanly = False
        started = time.monotonic()
        timings: dict[str, float] = {}

        def phase(name: str) -> None:
            timings[name] = round(time.monotonic() - started, 1)
            (folder / "timings.json").write_text(json.dumps(timings, indent=2))

        try:
            # -- 1. `subledger dev` prints the URL; the code location loads ----------------------
            wait_for(lambda: f"Dagster UI: {url}" in dev.log_path.read_text(errors="replace"), timeout=300, interval=1,
                     what="`subledger dev` to print the UI URL", diagnostics=processes.diagnostics)

            def locations_loaded():
                entries = graphql(url, WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
                errors = [e for e in entries if e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] == "PythonError"]
                assert not errors, f"a code location failed to load: {errors}"
                return [e["name"] for e in entries] == ["subledger"] and entries[0]["loadStatus"] == "LOADED"

            phase("ui_url_printed")
            wait_for(locations_loaded, timeout=180, what="the code location to load", diagnostics=processes.diagnostics)
            for sensor in QUIET_SENSORS:
                stop_sensor(url, sensor)
            phase("locations_loaded")
            nodes = graphql(url, ASSET_NODES_QUERY)["assetNodes"]
            real_nodes = [n for n in nodes if n["repository"]["location"]["name"] == "subledger"]
            real_keys = {"/".join(n["assetKey"]["path"]) for n in real_nodes}
            assert {"sources/landing_files", "sources/outbox", "ledger/posted_batches", "ledger/outbox_batches",
                    "warehouse/ledger_mirror"} <= real_keys, real_keys

            # -- 2. a file dropped into the landing folder -> the sensor's run succeeds ----------
            landing = ph.settings.landing_dir
            landing.mkdir(parents=True, exist_ok=True)
            partial = landing / "2026-01-e2e.jsonl.part"  # producers write, then rename
            partial.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
            partial.rename(landing / "2026-01-e2e.jsonl")

            def sensor_run():
                found = [r for r in runs(url, pipelineName="ingest_landed_files")
                         if tags_of(r).get("dagster/sensor_name") == "landing_folder_sensor"]
                return found[0] if found and found[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

            run = wait_for(sensor_run, timeout=RUN_TIMEOUT, interval=2, what="the landing-folder sensor's run to finish",
                           diagnostics=processes.diagnostics)
            assert run["status"] == "SUCCESS", run_errors(url, run["runId"])
            phase("sensor_run_succeeded")
            partition = tags_of(run)["dagster/partition"]
            assert partition.startswith("2026-01-e2e.jsonl@"), partition

            # GraphQL: run status (above) and the materialisation it recorded, with the batch counts.
            data = graphql(url, MATERIALIZATIONS_QUERY, {"key": {"path": ["ledger", "posted_batches"]}})["assetOrError"]
            (materialization,) = [m for m in data["assetMaterializations"] if m["runId"] == run["runId"]]
            assert materialization["partition"] == partition
            metadata = {e["label"]: e.get("intValue", e.get("text")) for e in materialization["metadataEntries"]}
            assert metadata["events"] == 3 and metadata["quarantined"] == 0, metadata
            assert metadata["posted"] + metadata["pending"] == 3, metadata
            # ... and the postings are in the ledger, for real.
            with psycopg.connect(ph.cluster.dsns().reader_dsn) as conn:
                posted = conn.execute(
                    "SELECT count(*) FROM ledger.transactions WHERE source_event_id LIKE 'e2e-%'"
                ).fetchone()[0]
            assert posted >= 2, posted
            # ... and the run worker's structured log lines say which run and file they belong to.
            structured = structured_lines(dev.log_path)
            batch_lines = [r for r in structured if r.get("run_id") == run["runId"] and r.get("partition") == partition
                           and "2026-01-e2e.jsonl" in r.get("message", "") and "batch" in r.get("message", "")]
            assert batch_lines and batch_lines[0]["step"] == "ledger__posted_batches", structured[-20:]

            with browser(folder) as page:
                # -- 3. the asset graph loads with the expected assets ----------------------------
                # The whole code location, one box per architecture layer, and the count of
                # materialisable assets the UI offers equals the API's.
                groups = sorted({n["groupName"] for n in real_nodes})
                assert {"sources", "ledger", "warehouse"} <= set(groups), groups
                materializable = sum(1 for n in real_nodes if n["isMaterializable"])
                whole = quote('code_location:"subledger"')
                page.goto(f"{url}/asset-groups~{whole}/", wait_until="load")
                # One box per group, in data-flow order. A group box's title is cut to its width
                # ("repo..._preparation"), so the boxes are found by the names that fit whole; every
                # group is checked through the API above.
                for group in ("sources", "ledger", "warehouse", "reports"):
                    page.locator("foreignObject").get_by_text(group, exact=True).first.wait_for(state="visible")
                page.get_by_text(f"Materialize all ({materializable})").first.wait_for(state="visible")
                page.screenshot(path=str(folder / "00-asset-groups.png"))
                # The ingestion and warehouse layers opened up: every one of their assets is drawn.
                core = ("sources", "ledger", "warehouse")
                core_keys = {"/".join(n["assetKey"]["path"]) for n in real_nodes if n["groupName"] in core}
                selection = quote(" or ".join(f'group:"{g}"' for g in core))
                expanded = quote(",".join(f"global@global:{g}" for g in core))
                page.goto(f"{url}/asset-groups~{selection}/?expanded={expanded}", wait_until="load")
                wait_for(lambda: not missing_from_graph(page, core_keys), timeout=60, interval=1,
                         what="every ingestion and warehouse asset to be drawn in the lineage graph",
                         diagnostics=lambda: f"missing: {missing_from_graph(page, core_keys)}")
                page.wait_for_timeout(1500)  # let the graph settle for the picture
                page.screenshot(path=str(folder / "01-asset-lineage.png"))
                phase("lineage_shown")

                page.goto(f"{url}/runs/{run['runId']}", wait_until="load")
                page.get_by_text("Success", exact=True).first.wait_for(state="visible")
                page.get_by_text("Loading run logs").first.wait_for(state="hidden")  # the picture shows the events
                page.screenshot(path=str(folder / "02-sensor-run.png"))

                # -- 4. a materialisation launched from the UI succeeds ---------------------------
                # The ledger mirror (DuckDB) with its checks: all pass on the data just ingested.
                prefix = click_materialize(page, url, "warehouse/ledger_mirror", folder, "03-materialize-clicked.png")
                (ui_run,) = [r for r in runs(url) if r["runId"].startswith(prefix)]
                assert tags_of(ui_run).get("dagster/from_ui") == "true", ui_run
                ui_run = wait_for_run(url, ui_run["runId"], processes.diagnostics)
                assert [a["path"] for a in ui_run["assetSelection"]] == [["warehouse", "ledger_mirror"]]
                data = graphql(url, MATERIALIZATIONS_QUERY, {"key": {"path": list(MIRROR)}})["assetOrError"]
                (mirrored,) = [m for m in data["assetMaterializations"] if m["runId"] == ui_run["runId"]]
                entries = {e["label"]: e.get("intValue") for e in mirrored["metadataEntries"]}
                assert entries["transactions in warehouse"] >= 2, entries
                passed = check_execution(url, MIRROR, BALANCE_CHECK, ui_run["runId"])
                assert passed["status"] == "SUCCEEDED", passed
                page.goto(f"{url}/runs/{ui_run['runId']}", wait_until="load")
                page.get_by_text("Success", exact=True).first.wait_for(state="visible")
                page.get_by_text("Loading run logs").first.wait_for(state="hidden")
                page.screenshot(path=str(folder / "04-ui-run-succeeded.png"))
                phase("ui_materialization_succeeded")

                # -- 5. corrupt the warehouse; the real check fails and the UI shows it -----------
                corrupt_mirrored_entry(ph.settings)
                page.goto(f"{url}/assets/{'/'.join(MIRROR)}?view=checks", wait_until="load")
                page.get_by_text(BALANCE_CHECK).first.click()
                execute = page.locator("button", has_text=re.compile(r"^\s*Execute\s*$")).first
                prefix = launch_from_ui(page, execute, folder, "05-check-executed.png")
                (check_run,) = [r for r in runs(url) if r["runId"].startswith(prefix)]
                wait_for(lambda: runs(url, runIds=[check_run["runId"]])[0]["status"] in ("SUCCESS", "FAILURE"),
                         timeout=RUN_TIMEOUT, what="the check run to finish", diagnostics=processes.diagnostics)
                failed = check_execution(url, MIRROR, BALANCE_CHECK, check_run["runId"])
                assert failed["status"] == "FAILED", failed
                assert failed["evaluation"]["severity"] == "ERROR" and failed["evaluation"]["success"] is False
                page.goto(f"{url}/assets/{'/'.join(MIRROR)}?view=checks", wait_until="load")
                page.get_by_text(BALANCE_CHECK).first.click()
                page.get_by_text("Failed", exact=True).first.wait_for(state="visible")
                page.get_by_text("offending rows").first.wait_for(state="visible")
                assert page.get_by_text("Show Markdown").count() == 0  # the rows and the runbook show inline
                page.screenshot(path=str(folder / "06-failed-check.png"))
                phase("failed_check_shown")

                page.goto(f"{url}/runs", wait_until="load")
                page.get_by_text(run["runId"][:8]).first.wait_for(state="visible")
                page.screenshot(path=str(folder / "07-runs.png"))

            # -- 6. no secret was ever logged ----------------------------------------------------
            passwords = secrets_of(ph.home)
            leaks = []
            for path in [*folder.glob("*.log"), *ph.settings.dagster_home.rglob("*")]:
                if path.is_file():
                    text = path.read_text(errors="replace")
                    leaks += [f"{path}" for secret in passwords if secret in text]
            with psycopg.connect(ph.cluster.superuser_dsn("subledger_dagster")) as conn:
                for table, column in (("event_logs", "event"), ("runs", "run_body")):
                    for secret in passwords:
                        hits = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE %s", [f"%{secret}%"]).fetchone()[0]
                        if hits:
                            leaks.append(f"{hits} row(s) of {table}")
            assert not leaks, f"a database password appears in: {leaks}"
            phase("secrets_scanned")

            # -- 7. SIGTERM stops the webserver and the daemon cleanly ---------------------------
            code = processes.stop(dev, signal.SIGTERM, timeout=60)
            stopped_cleanly = True
            log = dev.log_path.read_text(errors="replace")
            assert code == 0 and "Stopped." in log, log[-3000:]
            phase("stopped")
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, "the webserver still listens after `subledger dev` stopped"
        finally:
            if not stopped_cleanly:
                processes.stop_all()
            time.sleep(0.5)
