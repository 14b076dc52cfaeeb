"""The command table of ``subledger``: every command is listed, its line is its own short help, and
listing them imports none of the heavy libraries (``subledger --help`` used to take ~1.1 s of CPU
importing Polars, DuckDB, psycopg and Pandera; it now takes ~0.07 s)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from ledger_pipelines.cli import COMMANDS, main

HEAVY = ("polars", "duckdb", "psycopg", "pandera", "dagster", "pyarrow", "numpy", "fastapi")


def test_every_command_of_every_module_is_in_the_table_with_its_own_short_help() -> None:
    modules = {module for module, _, _ in COMMANDS.values()}
    for module in sorted(modules):
        defined = importlib.import_module(f"ledger_pipelines.cli.{module}").COMMANDS
        listed = {name for name, (m, _, _) in COMMANDS.items() if m == module}
        assert {c.name for c in defined} == listed, module
    for name, (module, attribute, line) in COMMANDS.items():
        command = getattr(importlib.import_module(f"ledger_pipelines.cli.{module}"), attribute)
        assert isinstance(command, click.Command) and command.name == name
        assert line == command.get_short_help_str(limit=1000), f"{name}: update COMMANDS' line to the command's docstring"
        assert main.get_command(click.Context(main), name) is command


def test_listing_the_commands_imports_no_heavy_library() -> None:
    probe = (
        "import sys\n"
        "from ledger_pipelines.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "Commands:" in done.stdout and "register" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-400:]
