"""The recording service: an HTTP API (``api/``), the outbox as a durable queue (:mod:`queue`) and a
pool of workers draining it (:mod:`workers`). See docs/recording-service.md.

No Dagster here; the Dagster side (the outbox sensor, the drain asset and its lag check) lives in
``ledger_pipelines/defs/ingestion/outbox.py`` and calls :func:`ledger_pipelines.service.queue.drain`.
"""
