"""Identifiers computed by the writer, so no database sequence sits on the write path.

* account ids: the first 128 bits of SHA-256 of the code (SQL: ``ledger.account_id_of``), so any
  writer knows an account's id without asking the database, and a shard can be chosen from it;
* transaction ids: UUIDv7 (RFC 9562), time-ordered so the primary-key index grows at its end.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import numpy as np
import polars as pl

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def account_id(code: str) -> uuid.UUID:
    """The account id of ``code`` (same value as SQL ``ledger.account_id_of(code)``)."""
    return uuid.UUID(hashlib.sha256(code.encode("utf-8")).hexdigest()[:32])


def account_id_column(codes: pl.Series) -> pl.Series:
    """:func:`account_id` of every code in a column, as UUID text; hashes each distinct code once."""
    unique = codes.unique()
    mapping = pl.DataFrame(
        {"code": unique, "account_id": [str(account_id(c)) for c in unique.to_list()]},
        schema={"code": pl.Utf8, "account_id": pl.Utf8},
    )
    return (
        pl.DataFrame({"code": codes})
        .join(mapping, on="code", how="left", maintain_order="left")
        .get_column("account_id")
    )


def uuid7_text() -> str:
    """One time-ordered UUID as canonical text (the layout of :func:`uuid7_column`, without NumPy or
    Polars: a single posting should not pay for building a frame, ~0.2 ms): 48 bits of Unix
    milliseconds, then 80 random bits with the version (7) and the RFC 9562 variant written over 6
    of them. Text, for a query parameter cast to ``uuid`` (``Ledger.post``): psycopg's dumper of a
    ``uuid.UUID`` costs a posting's client ~3 us more than a string."""
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = raw[6] & 0x0F | 0x70  # version 7
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 9562 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def uuid7_column(n: int) -> pl.Series:
    """``n`` UUIDv7 values as canonical text (as Postgres prints ``uuid``), vectorised."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    millis = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    raw[:, 0:6] = np.frombuffer(millis, dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 9562 variant
    hex_digits = np.empty((n, 32), dtype=np.uint8)
    hex_digits[:, 0::2] = _HEX[raw >> 4]
    hex_digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)  # canonical 8-4-4-4-12 form
    for start, stop, into in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, into:into + stop - start] = hex_digits[:, start:stop]
    return pl.Series("transaction_id", text.view("S36").ravel(), dtype=pl.Binary).cast(pl.Utf8)
