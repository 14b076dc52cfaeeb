"""``subledger generate``: deterministic sample source-event files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click


def _parse_start(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-01-01.") from exc


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the files into (created if needed), e.g. the landing folder.")
@click.option("--subscriptions", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Number of subscriptions (one customer each).")
@click.option("--months", default=12, show_default=True, type=click.IntRange(min=1), help="Months to simulate, one file each.")
@click.option("--seed", default=42, show_default=True, type=int, help="Random seed: the same seed writes byte-identical files.")
@click.option("--start", default="2024-01-01", show_default=True, callback=_parse_start, help="First month (YYYY-MM-DD).")
def generate(out_dir: Path, subscriptions: int, months: int, seed: int, start: date) -> None:
    """Write realistic sample source events (JSONL, .jsonl.gz, CSV, Parquet; ~0.1% deliberately bad).

    Covers every event type of the contract: plans with upgrades and downgrades, monthly invoices,
    usage (billed in arrears with the next invoice) and corrections, payments that settle or fail
    and are retried, late payers, customers who never pay and are written off, credits, refunds,
    provider payouts, backdated events, several currencies. Nothing takes effect after the last
    month. A hidden manifest lists the bad events and the reason code each must be quarantined with.
    """
    from ledger_pipelines.generate import generate as run

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot create the folder {out_dir} ({exc.strerror or exc}); give a folder you may write to.",
            param_hint="'--out'",
        ) from exc
    result = run(out_dir, subscriptions=subscriptions, months=months, seed=seed, start=start)
    click.echo(result.summary())
    click.echo(f"files in {out_dir}: {', '.join(p.name for p in result.files)}")


COMMANDS = [generate]
