"""A prepared statement called through libpq directly: one posting's round trip with as little Python as it can.

psycopg's ``Cursor.execute`` runs its own Python around every round trip (converting the query,
finding a dumper per parameter, tracking prepared statements, setting up the results). In a
single posting that was ~40 us of a writer's CPU between two waits for the server, as much as
pgledger's whole call costs its caller (bench/README.md, issue 16). A :class:`PreparedCall` is
prepared once per connection under a name derived from its text, and each call sends
``PQexecPrepared`` with parameters the caller already holds as text:

* every parameter is declared ``text`` and sent *binary*, i.e. as its bytes with their length, so
  a NUL character reaches the server, which refuses it (SQLSTATE 22021), instead of libpq cutting
  the text short at it; each placeholder casts its text to the type it needs (``$1::uuid``), as
  the ``sql/ledger/*.sql`` calls do;
* rows come back binary and are read by psycopg's own (C) loaders;
* errors are psycopg's typed exceptions, as ``Cursor.execute`` raises them;
* the call holds the connection's lock and waits as psycopg waits (Ctrl-C cancels the query).

A connection that lost its statements (a pool's ``DISCARD ALL``) answers SQLSTATE 26000 before
running anything; the caller then :meth:`~PreparedCalls.forget` s the call and sends it again
(``Ledger._call``).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import generators, pq
from psycopg.adapt import Transformer
from psycopg.types.json import Jsonb

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_TEXT_OID = 25


class PreparedCall:
    """One SQL statement with ``%(name)s`` placeholders, as ``$n`` and the names in their order."""

    def __init__(self, query: str):
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        self.query = query
        self.text = _PLACEHOLDER.sub(number, query)
        self.names = tuple(names)
        # Named by its text: two callers on one connection share it, a changed text is another statement.
        self.name = b"subledger_" + hashlib.sha256(self.text.encode()).hexdigest()[:24].encode()
        self.param_types = [_TEXT_OID] * len(names)
        self.param_formats = [pq.Format.BINARY] * len(names)

    def arguments(self, params: Mapping[str, Any]) -> list[str | None]:
        """``params`` (by name) as the call's texts, in placeholder order (:func:`as_text`)."""
        return [as_text(params[name]) for name in self.names]


def as_text(value: object) -> str | None:
    """A parameter value as the text Postgres reads for it (``None``: SQL NULL)."""
    if value is None or type(value) is str:
        return value  # type: ignore[return-value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{value!r} has no time zone: pass an aware datetime, e.g. in UTC")
        return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Jsonb):
        return json.dumps(value.obj)
    raise TypeError(f"{type(value).__name__} is not a parameter type PreparedCall sends; give its text")


class PreparedCalls:
    """The :class:`PreparedCall` s made on one connection, and the calls themselves. One thread at a
    time (as the connection's transactions are)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self._prepared: set[bytes] = set()
        self._loader = Transformer(conn)
        self._client_encoding = b""
        self._codec = "utf-8"

    def prepare(self, call: PreparedCall) -> None:
        """Make ``call`` on this connection unless it was made. Call it outside any transaction
        block: a statement another caller already made under the name is taken as made, and that
        refusal must not abort a transaction."""
        if call.name in self._prepared:
            return
        pgconn = self.conn.pgconn
        with self.conn.lock:
            pgconn.send_prepare(call.name, call.text.encode(), param_types=call.param_types)
            (result,) = self.conn.wait(generators.execute(pgconn))
        if result.status != pq.ExecStatus.COMMAND_OK:
            error = pg_errors.error_from_result(result, encoding=self._encoding())
            if not isinstance(error, pg_errors.DuplicatePreparedStatement):  # another caller on this connection made it
                raise error
        self._prepared.add(call.name)

    def forget(self, call: PreparedCall) -> None:
        """The server no longer has ``call`` (SQLSTATE 26000 after a pool's ``DISCARD ALL``): the
        next :meth:`prepare` makes it again. The call it refused did not run."""
        self._prepared.discard(call.name)

    def rows(self, call: PreparedCall, arguments: Sequence[str | None]) -> list[tuple]:
        """Run the prepared ``call`` with ``arguments`` (texts in placeholder order) in the
        connection's current transaction state (autocommit: its own transaction); its rows."""
        codec = self._encoding()
        values = [None if text is None else text.encode(codec) for text in arguments]
        pgconn = self.conn.pgconn
        with self.conn.lock:
            pgconn.send_query_prepared(call.name, values, param_formats=call.param_formats,
                                       result_format=pq.Format.BINARY)
            results = self.conn.wait(generators.execute(pgconn))
        result = results[-1]
        if result.status != pq.ExecStatus.TUPLES_OK:
            if result.status == pq.ExecStatus.COMMAND_OK:
                return []
            raise pg_errors.error_from_result(result, encoding=codec)
        loader = self._loader
        loader.set_pgresult(result)
        return loader.load_rows(0, result.ntuples, tuple)

    def _encoding(self) -> str:
        """The Python codec of the connection's client encoding (read again only when it changes)."""
        current = self.conn.pgconn.parameter_status(b"client_encoding") or b""
        if current != self._client_encoding:
            self._client_encoding, self._codec = current, self.conn.info.encoding
        return self._codec
