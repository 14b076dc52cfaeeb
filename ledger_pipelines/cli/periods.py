"""``subledger close YYYY-MM``: close (or reopen) an accounting month."""

from __future__ import annotations

import getpass

import click

from ledger_pipelines.accounting.calendar import period_bounds
from ledger_pipelines.accounting.errors import PeriodError
from ledger_pipelines.cli.common import dsns_or_exit, emit_json, settings_or_exit, user_errors
from ledger_pipelines.ledger.periods import close_period, closed_periods, reopen_period
from ledger_pipelines.postgres.database import connect


@click.command()
@click.argument("period", required=False)
@click.option("--reopen", is_flag=True, help="Reopen a closed month instead (audited; needs --reason).")
@click.option("--reason", help="Why; kept in the audit log (ledger.audit_log). Required with --reopen.")
@click.option("--list", "list_only", is_flag=True, help="List the closed months.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def close(period: str | None, reopen: bool, reason: str | None, list_only: bool, as_json: bool) -> None:
    """Close the month PERIOD (YYYY-MM, in SUBLEDGER_TIMEZONE): nothing may take effect in it afterwards.

    Late events for a closed month are then quarantined (period_closed) or, with
    SUBLEDGER_CLOSED_PERIOD_POLICY=next_open_day, posted on the first open day. Reopening a
    closed month changes numbers finance has signed off: it needs --reason, which the audit log
    keeps with who did it and when.
    """
    settings = settings_or_exit()
    if not list_only and not period:
        raise click.UsageError("give the month to close as YYYY-MM, or --list.")
    if period is not None:
        try:
            period_bounds(period, settings.tz)
        except PeriodError as exc:
            raise click.BadParameter(f"{period!r} is not a month; write it as YYYY-MM, e.g. 2024-03.",
                                     param_hint="'PERIOD'") from exc
    reason = reason.strip() if reason else None
    if reopen and not reason:
        raise click.UsageError("reopening a closed month needs --reason \"...\" (kept in the audit log), e.g. "
                               f"subledger close {period} --reopen --reason \"late supplier invoices\".")
    dsns = dsns_or_exit(settings)
    actor = f"cli:{getpass.getuser()}"
    # Closing is the writer's; reopening needs the ledger owner (the database refuses the writer).
    with user_errors(), connect(dsns.dsn if reopen else dsns.writer_dsn) as conn:
        if list_only:
            periods = closed_periods(conn)
            if as_json:
                emit_json([{"period": p.period, "starts_at": p.starts_at, "ends_at": p.ends_at, "timezone": p.timezone} for p in periods])
            else:
                for p in periods:
                    click.echo(f"{p.period}  closed  [{p.starts_at.isoformat()} .. {p.ends_at.isoformat()})  {p.timezone}")
                if not periods:
                    click.echo("No month is closed.")
            return
        action = reopen_period if reopen else close_period
        bounds = action(conn, period, settings.tz, actor=actor, reason=reason)
    verb = "reopened" if reopen else "closed"
    if as_json:
        emit_json({"period": bounds.period, "action": verb, "starts_at": bounds.starts_at, "ends_at": bounds.ends_at,
                   "timezone": bounds.timezone, "reason": reason})
    else:
        why = f"; reason: {reason}" if reason else ""
        click.echo(f"{bounds.period} {verb} ({bounds.starts_at.isoformat()} .. {bounds.ends_at.isoformat()}, "
                   f"{bounds.timezone}){why}.")


COMMANDS = [close]
