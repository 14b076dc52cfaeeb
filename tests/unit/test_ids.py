"""Transaction ids made by the writer (ledger_pipelines/ledger/ids.py): UUIDv7, one at a time
(``uuid7_text``, single postings) and by the column (``uuid7_column``, the bulk path), in one layout."""

from __future__ import annotations

import time
import uuid

from ledger_pipelines.ledger.ids import uuid7_column, uuid7_text


def test_uuid7_carries_the_time_the_version_and_the_variant_and_does_not_repeat() -> None:
    before = time.time_ns() // 1_000_000
    texts = [uuid7_text() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    ids = [uuid.UUID(text) for text in texts]
    assert texts == [str(i) for i in ids]  # lower-case 8-4-4-4-12, as Postgres prints uuid
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    millis = [int.from_bytes(i.bytes[:6], "big") for i in ids]
    assert before <= millis[0] and millis[-1] <= after
    assert millis == sorted(millis)  # time-ordered: the primary-key index grows at its end
    # The 74 random bits vary: no bit of them is the same in every id.
    random_bits = [i.int & ~((1 << 128) - (1 << 80) | (0xF << 76) | (0x3 << 62)) for i in ids]
    anded, ored = ~0, 0
    for bits in random_bits:
        anded &= bits
        ored |= bits
    assert anded == 0 and ored == (1 << 80) - 1 & ~((0xF << 76) | (0x3 << 62))


def test_uuid7_and_uuid7_column_share_one_layout() -> None:
    one, column = uuid.UUID(uuid7_text()), uuid.UUID(uuid7_column(1)[0])
    assert (one.version, one.variant) == (column.version, column.variant)
    assert abs(int.from_bytes(one.bytes[:6], "big") - int.from_bytes(column.bytes[:6], "big")) < 1_000

