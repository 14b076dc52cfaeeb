"""Structured logs: every line says which batch/run it belongs to, and no secret is ever logged."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ledger_pipelines.logging import (
    JsonFormatter,
    KeyValueFormatter,
    SecretScrubbingFilter,
    configure_logging,
    dagster_log_context,
    install_secret_scrubber,
    log_context,
    register_secret,
    register_url_password,
    scrub_secrets,
)

PASSWORD = "Zq8-secret_Pw42"
DSN = f"postgresql://subledger_owner:{PASSWORD}@127.0.0.1:5432/subledger"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    install_secret_scrubber()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SecretScrubbingFilter())
    logger = logging.getLogger("ledger_pipelines.tests.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    "text, secret",
    [
        (DSN, PASSWORD),
        (f"postgres://u:{PASSWORD}@db.example:5432/x?sslmode=require", PASSWORD),
        (f"postgresql+psycopg2://u:{PASSWORD}@h/db", PASSWORD),
        (f"host=127.0.0.1 port=5432 user=owner password={PASSWORD} dbname=x", PASSWORD),
        (f"{{'password': '{PASSWORD}', 'user': 'x'}}", PASSWORD),
        (f'{{"postgresql_password": "{PASSWORD}"}}', PASSWORD),
        (f"PGPASSWORD={PASSWORD} psql", PASSWORD),
        (f"postgresql://u:p%40ss{PASSWORD}@h/db", PASSWORD),
        (f"api_key: {PASSWORD}", PASSWORD),
    ],
)
def test_scrub_secrets_removes_passwords(text: str, secret: str) -> None:
    scrubbed = scrub_secrets(text)
    assert secret not in scrubbed and "***" in scrubbed, scrubbed


def test_scrub_keeps_what_is_not_a_secret() -> None:
    text = "password authentication failed for user subledger_owner at 127.0.0.1:5432/subledger"
    assert scrub_secrets(text) == text
    assert scrub_secrets("postgresql://subledger_owner@127.0.0.1/subledger") == "postgresql://subledger_owner@127.0.0.1/subledger"
    assert scrub_secrets("plain message") == "plain message"


def test_registered_secrets_are_scrubbed_anywhere() -> None:
    register_secret("standalone-s3cret-value")
    register_url_password("postgresql://a:only%2Fin%2Furl@h/db")
    assert scrub_secrets("oops standalone-s3cret-value leaked") == "oops *** leaked"
    assert "only/in/url" not in scrub_secrets("decoded only/in/url here")


def test_records_carry_batch_and_run_ids_and_no_secret(capture) -> None:
    logger, stream, _ = capture
    with log_context(run_id="run-1", batch_id="batch-7"):
        logger.info("connecting to %s", DSN)
        with log_context(partition="2026-01-31"):
            logger.warning("nested", extra={"file": "landing/a.jsonl"})
    logger.info("outside")
    first, nested, outside = lines(stream)
    assert first["run_id"] == "run-1" and first["batch_id"] == "batch-7"
    assert PASSWORD not in first["message"] and "subledger_owner:***@127.0.0.1" in first["message"]
    assert nested["partition"] == "2026-01-31" and nested["batch_id"] == "batch-7" and nested["file"] == "landing/a.jsonl"
    assert "run_id" not in outside and "batch_id" not in outside
    assert {"ts", "level", "logger", "message"} <= set(first)


def test_exceptions_and_extra_fields_are_scrubbed(capture) -> None:
    logger, stream, _ = capture
    try:
        raise ConnectionError(f"could not connect to {DSN}")
    except ConnectionError:
        logger.exception("failed", extra={"dsn": DSN, "config": {"password": PASSWORD}})
    (record,) = lines(stream)
    assert PASSWORD not in json.dumps(record)
    assert "ConnectionError" in record["exc"]


def test_scrubbing_happens_when_the_record_is_created() -> None:
    """Any handler — not only ours — sees the scrubbed message (the record factory does it)."""
    install_secret_scrubber()
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("thirdparty.lib")
    handler = Collect()
    logger.addHandler(handler)
    try:
        logger.warning("engine url %s", DSN)
    finally:
        logger.removeHandler(handler)
    assert seen and PASSWORD not in seen[0]


def test_key_value_format() -> None:
    install_secret_scrubber()
    record = logging.getLogger("ledger_pipelines.x").makeRecord(
        "ledger_pipelines.x", logging.INFO, __file__, 1, "posted %d events", (3,), None, extra={"batch_id": "b 1"}
    )
    line = KeyValueFormatter().format(record)
    assert line.startswith("ts=") and 'msg="posted 3 events"' in line and 'batch_id="b 1"' in line and "level=INFO" in line


def test_configure_logging_installs_one_scrubbing_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        monkeypatch.setenv("SUBLEDGER_LOG_FORMAT", "json")
        configure_logging(stream=stream)
        handler = configure_logging(stream=stream)  # idempotent: replaces, does not add
        assert sum(1 for h in root.handlers if type(h) is type(handler)) == 1
        with log_context(batch_id="b-9"):
            logging.getLogger("ledger_pipelines.cli").error("bad url %s", DSN)
        (record,) = lines(stream)
        assert record["batch_id"] == "b-9" and PASSWORD not in record["message"]
        with pytest.raises(ValueError, match="SUBLEDGER_LOG_FORMAT"):
            configure_logging("xml")
    finally:
        for h in list(root.handlers):
            if h not in before[0]:
                root.removeHandler(h)
        root.setLevel(before[1])


def test_dagster_run_logs_carry_run_id_and_no_secret() -> None:
    """In a real Dagster run, our managed logger's lines reach the event log with the run id,
    and the password is gone from the stored message."""
    import dagster as dg

    install_secret_scrubber()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    domain_logger = logging.getLogger("ledger_pipelines.tests.dagster")
    domain_logger.addHandler(handler)

    @dg.asset(group_name="ledger", kinds={"python"})
    def logs_a_dsn(context) -> None:
        with dagster_log_context(context, batch_id="batch-42"):
            domain_logger.info("connecting to %s", DSN)
        context.log.info(f"dagster logger too: {DSN}")

    try:
        with dg.instance_for_test(overrides={"python_logs": {"managed_python_loggers": ["ledger_pipelines"], "python_log_level": "INFO"}}) as instance:
            result = dg.materialize([logs_a_dsn], instance=instance)
            assert result.success
            messages = [r.user_message for r in instance.all_logs(result.run_id)]
    finally:
        domain_logger.removeHandler(handler)
    assert any("connecting to postgresql://subledger_owner:***@" in m for m in messages), messages
    assert any("dagster logger too" in m for m in messages)
    assert not [m for m in messages if PASSWORD in m]
    (line,) = lines(stream)
    assert line["run_id"] == result.run_id and line["batch_id"] == "batch-42" and line["asset"] == "logs_a_dsn"
    assert PASSWORD not in json.dumps(line)


def test_run_workers_write_structured_lines_with_run_step_and_partition(monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    """The instance's ``dagster_handler_config`` (the platform's dagster.yaml) makes every run write
    one structured line per record -- our loggers', ``context.log``'s and Dagster's failure events
    -- with the run id, step and partition as fields, the batch id where the code bound it, and
    no password."""
    import dagster as dg

    from ledger_pipelines.platform.instance import instance_config

    monkeypatch.setenv("SUBLEDGER_LOG_FORMAT", "json")
    install_secret_scrubber()
    domain_logger = logging.getLogger("ledger_pipelines.tests.run_handler")
    partitions = dg.StaticPartitionsDefinition(["2026-01-31"])

    @dg.asset(partitions_def=partitions)
    def ingests_a_batch(context) -> None:
        with dagster_log_context(context, batch_id="batch-77"):
            domain_logger.info("posting batch via %s", DSN)
        context.log.info("batch done")

    @dg.asset
    def breaks(context) -> None:
        raise ConnectionError(f"could not connect to {DSN}")

    python_logs = instance_config()["python_logs"]
    # Step output is not captured into compute-log files here: Dagster mirrors a captured step's
    # stderr back through a `tail` process, which may be stopped before it copies the last lines
    # (the step's failure event, ~1 run in 10), and the test reads the lines on stderr.
    no_capture = {"module": "dagster._core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}
    with dg.instance_for_test(overrides={"python_logs": python_logs, "compute_logs": no_capture}) as instance:
        result = dg.materialize([ingests_a_batch], instance=instance, partition_key="2026-01-31")
        assert result.success
        failed = dg.materialize([breaks], instance=instance, raise_on_error=False)
        assert not failed.success
    err = capfd.readouterr().err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]

    (ours,) = [r for r in records if r["message"].startswith("posting batch via")]
    assert ours["run_id"] == result.run_id and ours["batch_id"] == "batch-77" and ours["partition"] == "2026-01-31"
    assert ours["step"] == "ingests_a_batch" and ours["asset"] == "ingests_a_batch"
    (done,) = [r for r in records if r["message"] == "batch done"]  # context.log: no "job - run - step -" prefix
    assert done["run_id"] == result.run_id and done["step"] == "ingests_a_batch" and done["partition"] == "2026-01-31"
    step_failure = [r for r in records if r.get("event") == "STEP_FAILURE"]
    assert step_failure and step_failure[0]["run_id"] == failed.run_id and step_failure[0]["level"] == "ERROR", records
    assert step_failure[0]["step"] == "breaks"
    assert PASSWORD not in err and "subledger_owner:***@" in err


def test_run_handler_is_silent_without_a_log_format(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger_pipelines.logging import DagsterRunLogHandler

    monkeypatch.delenv("SUBLEDGER_LOG_FORMAT", raising=False)
    stream = io.StringIO()
    handler = DagsterRunLogHandler(stream=stream)
    handler.handle(logging.makeLogRecord({"msg": "quiet", "levelno": logging.INFO, "levelname": "INFO"}))
    assert stream.getvalue() == ""
    monkeypatch.setenv("SUBLEDGER_LOG_FORMAT", "kv")
    handler = DagsterRunLogHandler(stream=stream)
    handler.handle(logging.makeLogRecord({"msg": f"loud {DSN}", "levelno": logging.INFO, "levelname": "INFO"}))
    assert stream.getvalue().startswith("ts=") and "msg=" in stream.getvalue() and PASSWORD not in stream.getvalue()
