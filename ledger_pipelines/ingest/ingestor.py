"""Ingestion entry points: landed files and replays. The CLI and Dagster both call these.

Each file (or replay file) is one batch in one database transaction
(:mod:`ledger_pipelines.ingest.writer`). A file already ingested with the same content is
skipped before it is even parsed. The outbox is a queue that consumers claim batches of, with
the same front end and writer: :mod:`ledger_pipelines.service.queue`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg

from ledger_pipelines.config import ConfigError, Settings
from ledger_pipelines.failpoints import failpoint
from ledger_pipelines.ingest.landing import FileIdentity, event_files, file_hash, identify  # noqa: F401 - file_hash is re-exported
from ledger_pipelines.ingest.prepare import PreparedBatch, prepare_batch
from ledger_pipelines.ingest.readers import format_of
from ledger_pipelines.ingest.rules import RuleSet, load_rules
from ledger_pipelines.ingest.writer import BatchReport, already_ingested, write_batch
from ledger_pipelines.ledger.accounts import load_account_types, sync_account_types
from ledger_pipelines.ledger.chain import SealBehind
from ledger_pipelines.ledger.posting import RETRYABLE
from ledger_pipelines.logging import log_context
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.cluster import ClusterError
from ledger_pipelines.postgres.database import connect, database_dsns, ensure_database

LOG = logging.getLogger(__name__)


def landed_files(paths: Iterable[Path]) -> list[Path]:
    """The event files named by ``paths`` (folders expand to their files), in a stable order.

    Folders are scanned without following links (:func:`ledger_pipelines.ingest.landing.scan_folder`:
    a link, FIFO, socket or device with an event file's name is listed, and quarantined with a
    reason when ingested); a file named explicitly is taken as named (a link to it resolved).
    Hidden files and files being written (``*.tmp``, ``*.part``) are left alone: producers should
    write to such a name and rename when done.
    """
    return [path for path, _ in event_files(paths)]


def unreadable_claim(content_hash: str, path: Path) -> str:
    """The claim of a file that could not be read at all: its bytes *and* the format its name chose.

    A file quarantined whole because its name says one format and its bytes are another (plain
    JSON lines named ``.jsonl.gz``) is fixed by renaming it: the same bytes under the right name
    are a new attempt, while the same file dropped again as it was stays a no-op.
    """
    return f"{content_hash}:unreadable:{format_of(path)}"


def _as_named(path: Path, root: Path | None) -> Path:
    """``path`` as it will be opened: a link named explicitly (no ``root``) is the operator's choice and is resolved."""
    path = Path(path)
    return path.resolve() if root is None and path.is_symlink() else path


def _whole_file_unreadable(prepared: PreparedBatch) -> bool:
    rejects = prepared.rejects
    return (prepared.events.is_empty() and rejects.height > 0 and rejects["seq"].is_null().all()
            and (rejects["reason_code"] == "unreadable_file").all())


def _log_already_ingested(report: BatchReport, path: Path) -> None:
    with log_context(batch_id=report.batch_id, source=str(path)):
        LOG.info("batch %s (%s): already ingested, nothing to do", report.batch_id, path)


@dataclass
class Ingestor:
    """Holds what every batch needs: settings, posting rules, a writer connection."""

    settings: Settings
    conn: psycopg.Connection
    rules: RuleSet | None = None  # loaded from settings.rules_path when not given
    # The writer's DSN: with it, ingest_files seals each batch on a second connection while the
    # next one is written; without it every batch is sealed by its writer, before the next.
    seal_dsn: str | None = None

    def __post_init__(self) -> None:
        self.rules = self.rules or load_rules(self.settings.rules_path)
        with self.conn.transaction():
            self.account_types = load_account_types(self.conn)

    def ingest_file(self, path: Path, *, source_kind: str = "file", root: Path | None = None) -> BatchReport:
        """Ingest one file as one batch; a no-op if this content was ingested before.

        With ``root`` (the landing folder, or a folder named on the command line) only a regular
        file inside it is read, no link followed; without it ``path`` is the operator's choice (a
        link to it is followed) but must still be a regular file. A file that is not read is
        quarantined as a whole with the reason.
        """
        started = time.perf_counter()
        path = _as_named(path, root)
        identity = identify(path, root)
        content_hash = identity.content_hash
        existing = self._already_ingested(source_kind, content_hash, path)
        if existing is not None:
            _log_already_ingested(existing, path)
            return existing
        hashed = time.perf_counter()
        prepared = prepare_batch([path], self.rules, self.settings, root=root)
        prepared.timings = {"file_hash": hashed - started, **prepared.timings}
        failpoint("ingest.after_parse")
        return self._write(prepared, source_kind=source_kind, source_name=str(path), content_hash=content_hash,
                           file=identity, started=started)

    def ingest_files(self, paths: Sequence[Path], *, source_kind: str = "file", overlap: bool = True,
                     roots: Sequence[Path | None] | None = None) -> list[BatchReport]:
        """Ingest ``paths`` in order, one batch (one database transaction) per file.

        With ``overlap`` the front end of the next file (read, validate, map: no database) runs in
        a worker thread while this thread writes the current file, so the CPU work of the two
        halves overlaps; and with ``seal_dsn`` each committed batch is sealed into the hash chain
        on a second connection while the next one is written (:class:`SealBehind`; all are
        sealed when this returns). Writes stay sequential on this one connection, in file order, so a
        batch sees every earlier file's postings exactly as without overlap; a crash at any
        point loses at most uncommitted work, which a rerun redoes (every batch is claimed by
        its content hash), and leaves committed batches unsealed only until the next seal (any
        seal seals everything committed before it). Files already ingested are skipped before
        they are parsed.
        """
        roots = list(roots) if roots is not None else [None] * len(paths)
        paths = [_as_named(p, root) for p, root in zip(paths, roots, strict=True)]
        reports: list[BatchReport | None] = [None] * len(paths)
        todo: list[tuple[int, Path, FileIdentity, float]] = []
        for index, path in enumerate(paths):
            clock = time.perf_counter()
            identity = identify(path, roots[index])
            existing = self._already_ingested(source_kind, identity.content_hash, path)
            if existing is not None:
                _log_already_ingested(existing, path)
                reports[index] = existing
            else:
                todo.append((index, path, identity, time.perf_counter() - clock))
        if not overlap or len(todo) < 2:
            for index, path, _, _ in todo:
                reports[index] = self.ingest_file(path, source_kind=source_kind, root=roots[index])
            return [r for r in reports if r is not None]

        def prepare(index: int, path: Path) -> tuple[PreparedBatch, float]:
            clock = time.perf_counter()
            prepared = prepare_batch([path], self.rules, self.settings, root=roots[index])
            failpoint("ingest.after_parse")
            return prepared, time.perf_counter() - clock

        sealer = None
        if self.seal_dsn is not None:
            sealer = SealBehind(connect(self.seal_dsn, autocommit=True, application_name="subledger-seal"))
        try:
            self._write_overlapped(todo, reports, prepare, source_kind, sealer)
        finally:
            if sealer is not None:
                waited = sealer.close()  # every batch is sealed when this returns
                last = next((r for r in reversed(reports) if r is not None and "db.seal_wait" in r.timings), None)
                if last is not None:
                    last.timings["db.seal_wait"] += waited
        return [r for r in reports if r is not None]

    def _write_overlapped(self, todo: list[tuple[int, Path, FileIdentity, float]], reports: list[BatchReport | None],
                          prepare: Callable[[int, Path], tuple[PreparedBatch, float]], source_kind: str,
                          sealer: SealBehind | None) -> None:
        """Write ``todo`` in order, each file's front end prepared while the one before is written;
        with ``sealer`` each batch is sealed beside the next. Timings: ``db.seal`` the seal's own
        seconds, ``db.seal_wait`` what the writer waited for it."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="subledger-prepare") as pool:
            queue = deque((item, pool.submit(prepare, item[0], item[1])) for item in todo[:1])
            upcoming = iter(todo[1:])
            while queue:
                (index, path, identity, hash_seconds), future = queue.popleft()
                following = next(upcoming, None)
                if following is not None:  # at most one file prepared ahead: bounded memory
                    queue.append((following, pool.submit(prepare, following[0], following[1])))
                prepared, front_seconds = future.result()
                prepared.timings = {"file_hash": hash_seconds, **prepared.timings}
                # The batch's own work (hash + front end + write), not the wall time it waited.
                started = time.perf_counter() - hash_seconds - front_seconds
                report = reports[index] = self._write(
                    prepared, source_kind=source_kind, source_name=str(path), content_hash=identity.content_hash,
                    file=identity, started=started, seal=sealer is None,
                )
                if sealer is not None:
                    report.timings["db.seal_wait"] = sealer.after_commit(partial(report.timings.__setitem__, "db.seal"))

    def _already_ingested(self, source_kind: str, content_hash: str, path: Path) -> BatchReport | None:
        """The earlier batch of this content, or of these bytes found unreadable under this format."""
        existing = (already_ingested(self.conn, source_kind, content_hash)
                    or already_ingested(self.conn, source_kind, unreadable_claim(content_hash, path)))
        self.conn.commit()
        return existing

    def _write(self, prepared, **kwargs) -> BatchReport:
        if kwargs.get("content_hash") and _whole_file_unreadable(prepared) and kwargs.get("source_kind") != "outbox":
            kwargs["content_hash"] = unreadable_claim(kwargs["content_hash"], Path(kwargs["source_name"]))
        for attempt in range(1, 4):
            try:
                return write_batch(
                    self.conn, prepared, settings=self.settings, rules=self.rules, account_types=self.account_types, **kwargs
                )
            except RETRYABLE:
                self.conn.rollback()
                if attempt == 3:
                    raise
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")


@contextmanager
def ingestor(settings: Settings) -> Iterator[Ingestor]:
    """An :class:`Ingestor` on the ledger database (started and migrated if needed).

    The posting rules' account types are added to the ledger first (as the owner), so a type a
    rules file declares can be posted to (docs/posting-rules.md).
    """
    dsns = ensure_database(settings)
    rules = load_rules(settings.rules_path)
    with connect(dsns.dsn, application_name="subledger-ingest") as owner, owner.transaction():
        sync_account_types(owner, rules.account_types)
    with connect(dsns.writer_dsn, application_name="subledger-ingest") as conn:
        yield Ingestor(settings, conn, rules, seal_dsn=dsns.writer_dsn)


def already_ingested_files(settings: Settings, files: Sequence[FileIdentity]) -> set[Path]:
    """The ``files`` whose content (or whose bytes found unreadable under that name) a file batch has
    claimed already: ingesting them again would be a no-op. One query for all of them.

    Reads through the reader role and never starts or migrates the database; if the ledger
    cannot be reached, none is known to be ingested (ingesting one again is a harmless no-op).
    """
    if not files:
        return set()
    claims = {identity.path: (identity.content_hash, unreadable_claim(identity.content_hash, identity.path)) for identity in files}
    try:
        dsns = database_dsns(settings)
        with connect(dsns.reader_dsn, application_name="subledger-landing") as conn:
            rows = conn.execute(read_sql("ingest/claimed_contents.sql"),
                                {"source_kind": "file", "claims": [c for pair in claims.values() for c in pair]}).fetchall()
    except (psycopg.Error, OSError, ConfigError, ClusterError) as exc:
        LOG.warning("could not ask the ledger which landed files are ingested already (%s); treating them all as new", exc)
        return set()
    claimed = {row[0] for row in rows}
    return {path for path, pair in claims.items() if claimed.intersection(pair)}


def ingest_paths(settings: Settings, paths: Iterable[Path], *, overlap: bool = True) -> list[BatchReport]:
    """Ingest every event file named by ``paths`` (``subledger ingest``), one batch per file, in
    :func:`landed_files` order; see :meth:`Ingestor.ingest_files` for ``overlap``."""
    found = event_files(paths)
    with ingestor(settings) as ing:
        return ing.ingest_files([path for path, _ in found], roots=[root for _, root in found], overlap=overlap)


def replay_file(settings: Settings, path: Path) -> BatchReport:
    """Ingest corrected versions of quarantined events; each resolves its quarantine entry."""
    with ingestor(settings) as ing:
        return ing.ingest_file(path, source_kind="replay")
