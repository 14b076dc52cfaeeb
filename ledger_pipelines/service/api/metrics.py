"""``GET /metrics``: the queue (depth, age of the oldest waiting event, lag, retries, workers,
open quarantine) read from Postgres at each scrape, and this process's HTTP requests."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from ledger_pipelines.service.queue import queue_stats


class QueueCollector(Collector):
    def __init__(self, reader: ConnectionPool):
        self.reader = reader

    def collect(self):
        with self.reader.connection() as conn:
            stats = queue_stats(conn)
        yield GaugeMetricFamily("subledger_outbox_depth", "Events waiting in the outbox to be posted.", value=stats.depth)
        yield GaugeMetricFamily("subledger_outbox_oldest_age_seconds",
                                "Age of the oldest event waiting in the outbox (0 when none waits).",
                                value=stats.oldest_age_seconds)
        yield GaugeMetricFamily("subledger_outbox_retrying", "Waiting events whose earlier try failed or was interrupted.",
                                value=stats.retrying)
        yield GaugeMetricFamily("subledger_outbox_backing_off", "Waiting events held back after a failure.",
                                value=stats.backing_off)
        yield GaugeMetricFamily("subledger_outbox_processed_5m", "Events posted (any outcome) in the last 5 minutes.",
                                value=stats.processed_recently)
        lag = GaugeMetricFamily("subledger_outbox_lag_seconds",
                                "Enqueue-to-posted time of the events posted in the last 5 minutes.", labels=["quantile"])
        lag.add_metric(["0.5"], stats.lag_p50_seconds)
        lag.add_metric(["0.95"], stats.lag_p95_seconds)
        lag.add_metric(["1"], stats.lag_max_seconds)
        yield lag
        yield GaugeMetricFamily("subledger_workers_connected", "Worker connections (subledger workers) to the ledger.",
                                value=stats.workers)
        yield GaugeMetricFamily("subledger_quarantine_open", "Quarantined events not yet resolved.", value=stats.open_quarantine)


class Metrics:
    def __init__(self, reader: ConnectionPool):
        self.registry = CollectorRegistry()
        self.registry.register(QueueCollector(reader))
        self.requests = Counter("subledger_api_requests", "HTTP requests answered by this process.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("subledger_api_request_seconds", "Time to answer an HTTP request.", ["route"],
                                 registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
