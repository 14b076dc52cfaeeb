"""Daily partitions in the reporting time zone, and the policy that backfills them in one run."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from ledger_pipelines.config import Settings, load_settings


def daily_partitions_for(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per day from ``SUBLEDGER_START_DATE`` through today, days in ``SUBLEDGER_TIMEZONE``.

    ``end_offset=1`` includes today: its snapshot is the balance so far and is rebuilt as the
    day goes on.
    """
    return dg.DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(), timezone=settings.timezone, end_offset=1, fmt="%Y-%m-%d"
    )


# Read once when the definitions load (partitions are static); the assets read the same
# settings again at run time.
daily_snapshot_partitions = daily_partitions_for(load_settings())

# A range of partitions (a backfill, a restatement) runs as ONE run: the snapshot computation is
# vectorised over the whole range, so splitting it per day would only multiply the work.
SINGLE_RUN_BACKFILL = dg.BackfillPolicy.single_run()


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The first and last day of the run's partition range (one day for a single partition)."""
    keys = context.partition_key_range
    return date.fromisoformat(keys.start), date.fromisoformat(keys.end)


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run materialise the partitions ``first..last`` together."""
    return {"dagster/asset_partition_range_start": first.isoformat(), "dagster/asset_partition_range_end": last.isoformat()}


def today_in(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
