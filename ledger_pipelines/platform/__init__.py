"""Running the platform: the Dagster instance (Postgres-backed), the local UI and daemon.

``instance.py`` writes ``$SUBLEDGER_HOME/dagster/dagster.yaml`` and the environment every Dagster
process needs; ``dev.py`` runs the webserver and the daemon for ``subledger dev``. Nothing here
imports Dagster at module import time, so the CLI stays fast.
"""
