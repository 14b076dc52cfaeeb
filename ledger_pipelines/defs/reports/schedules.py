"""When the reports run: daily after the night's snapshots, and a monthly close pack.

The warehouse keeps the snapshots current by itself (automation conditions and the restatement
sensor); the report assets also follow every snapshot update (``AFTER_UPSTREAM_CHECKS_PASS``).
The daily schedule is the guarantee finance relies on: at 02:00 in the reporting time zone --
after midnight's day has been snapshotted -- the reports are rebuilt and exported. The close pack
exports the previous month once it has normally been closed (``subledger close YYYY-MM``) and
writes its manifest (``reports/close_pack/<YYYY-MM>.json``, every file with its SHA-256).
"""

from datetime import datetime, timedelta

import dagster as dg

from ledger_pipelines.config import load_settings
from ledger_pipelines.defs.reports.assets import EXPORT_SPECS, report_exports, report_models

DAILY_CRON = "0 2 * * *"
CLOSE_PACK_CRON = "0 6 5 * *"  # the 5th: month-end close is usually done within four working days

daily_reports_job = dg.define_asset_job(
    "daily_reports",
    selection=dg.AssetSelection.assets(report_models) | dg.AssetSelection.assets(*[s.key for s in EXPORT_SPECS]),
    description="dbt build of every report (models and their tests as asset checks), then every report exported per period.",
)

close_pack_job = dg.define_asset_job(
    "monthly_close_pack",
    selection=dg.AssetSelection.assets(report_exports),
    description=(
        "The close pack of one month: every report's files for that period plus reports/close_pack/<YYYY-MM>.json "
        "(run config ops.report_exports.config.periods = ['YYYY-MM'], close_pack = true)."
    ),
)

_timezone = load_settings().timezone

daily_reports_schedule = dg.ScheduleDefinition(
    name="daily_reports",
    job=daily_reports_job,
    cron_schedule=DAILY_CRON,
    execution_timezone=_timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuilds and exports the reports every day at 02:00 (reporting time zone), after the day's snapshots.",
)


def previous_month(moment: datetime) -> str:
    """``YYYY-MM`` of the month before ``moment``'s month."""
    return (moment.date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def close_pack_run_config(period: str) -> dict:
    return {"ops": {"report_exports": {"config": {"periods": [period], "close_pack": True}}}}


@dg.schedule(
    name="monthly_close_pack",
    job=close_pack_job,
    cron_schedule=CLOSE_PACK_CRON,
    execution_timezone=_timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="On the 5th of each month at 06:00, exports the previous month's close pack.",
)
def monthly_close_pack_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    period = previous_month(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"close-pack-{period}", run_config=close_pack_run_config(period),
                         tags={"subledger/period": period})
