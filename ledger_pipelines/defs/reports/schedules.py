"""The monthly close pack. (The reports themselves follow the ledger and the calendar through the
warehouse's ``warehouse_freshness_sensor``: there is no daily report schedule to keep in step.)

The close pack exports the previous month once it has normally been closed (``subledger close
YYYY-MM``) and writes its manifest. It runs at 06:00 UTC on the 5th: the previous month is the
same month in every time zone then, so the schedule needs no setting at import time.
"""

from datetime import datetime, timedelta

import dagster as dg

from ledger_pipelines.defs.reports.assets import report_exports

CLOSE_PACK_CRON = "0 6 5 * *"  # the 5th: month-end close is usually done within four working days

close_pack_job = dg.define_asset_job(
    "monthly_close_pack",
    selection=dg.AssetSelection.assets(report_exports),
    description=(
        "The close pack of one month: every report's files for that period plus reports/close_pack/<YYYY-MM>.json "
        "(run config ops.report_exports.config.periods = ['YYYY-MM'], close_pack = true)."
    ),
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
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="On the 5th of each month at 06:00 UTC, exports the previous month's close pack.",
)
def monthly_close_pack_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    period = previous_month(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"close-pack-{period}", run_config=close_pack_run_config(period),
                         tags={"subledger/period": period})
