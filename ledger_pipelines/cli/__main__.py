"""``python -m ledger_pipelines.cli`` = ``subledger``."""

from ledger_pipelines.cli import main

main()
