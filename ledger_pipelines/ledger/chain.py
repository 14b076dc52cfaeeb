"""The hash chain over the ledger's history (invariant I15): seal it, verify it, publish its head.

The database seals (``ledger.seal_chain``, ``sql/schema/functions/``): each link holds the digests
of the transactions (with their entries), lifecycle moves and audit-log rows of one range of
Postgres transaction ids, and the hash of the link before it. Changing, inserting or deleting
anything sealed -- even as the owner with every trigger disabled -- changes what
``ledger.chain_records`` computes from the rows, and :func:`verify` names the first record that
no longer matches. Rewriting the chain itself to match is caught by a head verified or published
before (the checkpoint file of ``subledger verify``, or a head exported with ``--export-head``
and kept elsewhere). docs/security.md has the threat model.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from ledger_pipelines.paths import read_sql

DIGEST_BYTES = 32
KINDS = {1: "transaction", 2: "move", 3: "audit row"}


def seal(conn: psycopg.Connection) -> int:
    """Seal everything recorded by finished transactions into the chain, in its own database
    transaction (the caller's must be closed: its own rows are sealed only once it has ended);
    return the head's link number."""
    with conn.transaction():
        return conn.execute("SELECT ledger.seal_chain()").fetchone()[0]


class SealBehind:
    """Seals on a connection of its own, in a worker thread, while the caller goes on writing.

    A writer of many batches (``Ingestor.ingest_files``) calls :meth:`after_commit` once a batch
    is committed, and its next batch runs while that one is sealed: the seal takes no lock a
    writer waits for (it reads; new entries partitions are attached under a lock reads do not
    conflict with), and what it seals is fixed by its own snapshot (finished transactions only),
    so the next batch's rows simply wait for the next seal. One seal at a time: :meth:`after_commit`
    first waits for the previous one and raises its error, if any; :meth:`close` waits for the
    last, so everything committed before it is sealed when it returns, as with :func:`seal`.
    """

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn  # an autocommit connection this object now owns
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="subledger-seal")
        self._last: Future[None] | None = None

    def after_commit(self, sealed: Callable[[float], None] | None = None) -> float:
        """Seal what is committed now, beside the caller; ``sealed`` gets the seal's seconds.
        Returns the seconds the caller waited for the previous seal (what sealing still costs it)."""
        waited = self._wait()
        self._last = self._pool.submit(self._seal, sealed)
        return waited

    def close(self) -> float:
        """Wait for the last seal (raising its error), then release the thread and the connection;
        returns the seconds waited."""
        try:
            return self._wait()
        finally:
            self._pool.shutdown()
            self._conn.close()

    def _seal(self, sealed: Callable[[float], None] | None) -> None:
        clock = time.perf_counter()
        seal(self._conn)
        if sealed is not None:
            sealed(time.perf_counter() - clock)

    def _wait(self) -> float:
        clock = time.perf_counter()
        last, self._last = self._last, None
        if last is not None:
            last.result()
        return time.perf_counter() - clock


@dataclass(frozen=True)
class Head:
    """The chain's last link: what to publish, and what a later verify starts from."""

    link_no: int
    link_hash: str
    upto_xid: str
    sealed_at: str
    sealed_transactions: int = 0
    unsealed_transactions: int = 0

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def head(conn: psycopg.Connection) -> Head | None:
    """The chain's head, None if nothing was ever sealed (the ledger was not migrated)."""
    row = conn.execute(read_sql("ledger/chain_head.sql")).fetchone()
    if row is None:
        return None
    link_no, link_hash, upto_xid, sealed_at, unsealed, sealed = row
    return Head(link_no, link_hash, upto_xid, sealed_at.isoformat(), int(sealed or 0), int(unsealed))


def ledger_identity(conn: psycopg.Connection) -> str:
    """Which ledger a checkpoint belongs to: the cluster's system identifier and the database's oid
    (neither can be changed by the ledger's owner; a home may verify several databases in turn)."""
    return conn.execute(
        "SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' "
        "|| (SELECT oid FROM pg_database WHERE datname = current_database())::text").fetchone()[0]


@dataclass(frozen=True)
class Checkpoint:
    """A link whose hash was verified (or published): verify starts after it and checks it still stands."""

    link_no: int
    link_hash: str

    @classmethod
    def read(cls, path: Path, ledger: str) -> Checkpoint | None:
        """The checkpoint of ``ledger`` (:func:`ledger_identity`) in the file at ``path``, if any."""
        entry = _checkpoints(path).get(ledger)
        return None if entry is None else cls(int(entry["link_no"]), str(entry["link_hash"]))

    def write(self, path: Path, ledger: str) -> None:
        """Record it for ``ledger``, atomically, in a file readable by its owner only. (Two verifies
        of different ledgers at once may lose one's entry: the next verify of it is then full.)"""
        data = _checkpoints(path) | {ledger: {"link_no": self.link_no, "link_hash": self.link_hash}}
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(data, sort_keys=True, indent=1) + "\n")
        tmp.replace(path)


def _checkpoints(path: Path) -> dict[str, dict[str, object]]:
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class Broken:
    """The first thing that does not match the chain: a record (``kind`` and ``record_id``; for a
    transaction or move its ``idempotency_key``) or, with no record, the stored link itself."""

    link_no: int
    problem: str
    kind: str | None = None
    record_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` checked and the first break, if any."""

    first_link: int
    links_checked: int
    records_checked: int
    broken: Broken | None
    head: Head | None

    @property
    def passed(self) -> bool:
        return self.broken is None and self.head is not None


def verify(conn: psycopg.Connection, since: Checkpoint | None = None) -> Verification:
    """Recompute the chain from the rows: every link after ``since`` (every link when None), after
    checking that ``since`` still has the hash it was verified with."""
    current = head(conn)
    if current is None:
        return Verification(1, 0, 0, Broken(0, "the ledger has no hash chain: run `subledger up` (migrate seals it)"), None)
    first = 1
    if since is not None:
        row = conn.execute("SELECT encode(link_hash, 'hex') FROM ledger.chain WHERE link_no = %s", [since.link_no]).fetchone()
        if row is None or row[0] != since.link_hash:
            found = "is gone" if row is None else f"now has hash {row[0]}"
            problem = (f"the chain was rewritten at or before link {since.link_no}: verified with hash {since.link_hash}, "
                       f"it {found}")
            resealed = conn.execute("SELECT at FROM ledger.audit_log WHERE action = 'chain.resealed' "
                                    "ORDER BY at DESC LIMIT 1").fetchone()
            if resealed is not None:
                problem += (f" -- an upgrade re-sealed the history on {resealed[0]:%Y-%m-%d} (audit log: chain.resealed, "
                            "which holds the old head): if that head is the one you published, run `subledger verify "
                            "--full` to start again from the new chain")
            return Verification(since.link_no, 0, 0, Broken(since.link_no, problem), current)
        first = since.link_no + 1
    links = conn.execute(read_sql("ledger/chain_verify.sql"), {"first": first}).fetchall()
    records = 0
    for link_no, linked, self_consistent, rows_match, count in links:
        if not linked:
            broken = Broken(link_no, "the link does not follow the one before it (number, xid range or previous hash "
                                     "differ): links were deleted, inserted or rewritten")
        elif not self_consistent:
            broken = Broken(link_no, "the link's hash is not the hash of what it stores: the stored link was edited")
        elif not rows_match:
            broken = _first_changed_record(conn, link_no)
        else:
            records += count
            continue
        return Verification(first, link_no - first + 1, records, broken, current)
    return Verification(first, len(links), records, None, current)


def reseal_history(conn: psycopg.Connection) -> bool:
    """Inside the caller's transaction (as the owner): after the chain verifies, record its head in
    the audit log (``chain.resealed``) and remove its links, so that the next ``ledger.seal_chain()``
    seals the whole history again as a new genesis link -- what a change of the record format needs
    (migration 0009). Refused if the chain does not verify: re-sealing would hide what changed.
    False if there was no chain to re-seal."""
    if conn.execute("SELECT count(*) FROM ledger.chain").fetchone()[0] == 0:
        return False
    result = verify(conn)
    if not result.passed:
        raise RuntimeError(
            f"The ledger's hash chain does not verify at link {result.broken.link_no} ({result.broken.problem}), so its "
            "history is not re-sealed: that would hide what changed. Find out what happened (`subledger verify --full` "
            "with the version installed now names the record) and settle it before upgrading.")
    conn.execute(read_sql("ledger/chain_reseal.sql"))
    return True


def _first_changed_record(conn: psycopg.Connection, link_no: int) -> Broken:
    """Compare one link's sealed records with the rows, in record order; name the first difference."""
    counts, ids, digests, lo, hi = conn.execute(
        "SELECT ARRAY[transactions, moves, audit_rows], record_ids, record_digests, from_xid, upto_xid "
        "FROM ledger.chain WHERE link_no = %s", [link_no]).fetchone()
    kinds = [kind for kind, n in zip((1, 2, 3), counts, strict=True) for _ in range(n)]
    sealed = [(kind, str(i), bytes(digests[p * DIGEST_BYTES:(p + 1) * DIGEST_BYTES]))
              for p, (kind, i) in enumerate(zip(kinds, ids, strict=True))]
    now = [(kind, str(i), bytes(d)) for kind, i, d in
           conn.execute("SELECT kind, id, digest FROM ledger.chain_records(%s, %s)", [lo, hi]).fetchall()]
    sealed_keys, now_keys = {(k, i) for k, i, _ in sealed}, {(k, i) for k, i, _ in now}
    for position in range(max(len(sealed), len(now))):
        was = sealed[position] if position < len(sealed) else None
        is_ = now[position] if position < len(now) else None
        if was == is_:
            continue
        if was is not None and (was[0], was[1]) not in now_keys:
            kind, record_id, problem = was[0], was[1], "was sealed here and is gone from its place (deleted, or its xid changed)"
        elif is_ is not None and (is_[0], is_[1]) not in sealed_keys:
            kind, record_id, problem = is_[0], is_[1], "was never sealed here (inserted afterwards with an old xid)"
        elif was is not None and is_ is not None and was[:2] == is_[:2]:
            kind, record_id, problem = was[0], was[1], "changed after it was sealed"
        else:
            kind, record_id, problem = was[0], was[1], "is out of its sealed order (reordered)"
        key = None
        if kind in (1, 2):
            row = conn.execute("SELECT idempotency_key FROM ledger.transactions WHERE transaction_id = %s", [record_id]).fetchone()
            key = row[0] if row else None
        label = f"{KINDS[kind]} {record_id}" + (f" ({key})" if key else "")
        return Broken(link_no, f"{label} {problem}", KINDS[kind], record_id, key)
    return Broken(link_no, "the link's record counts differ from the rows")


def format_head(current: Head, verified_at: datetime) -> str:
    """The head as one JSON line, to publish outside the ledger (a ticket, an e-mail, a notary)."""
    return json.dumps({**current.as_json(), "verified_at": verified_at.isoformat()}, sort_keys=True)
