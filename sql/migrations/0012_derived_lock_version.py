"""An account's ``lock_version`` is derived from its balances (issue 16; ``functions/ledger.lock_version.sql``).

The sum of an account's balances' versions, which grow by one per entry posted and per entry a
move carries -- the same count ``accounts.lock_version`` kept -- so a posting no longer writes its
accounts' rows. ``ledger.lock_version``'s own file is applied first (the step needs it before
``migrate`` applies the function files), then ``steps/0012_derived_lock_version.sql``:

1. the derived value is compared with the stored counter for every account. Where it is lower (a
   balance edited by hand), the account's first balance row (by currency) grows by the difference,
   so that no version a client holds comes back later and lets a stale write through; where it is
   higher, it stays (a client holding the old value is refused once and re-reads, as after any
   posting). Both are listed in a NOTICE (account, stored, derived). An account with a stored
   version but no balance row cannot be derived: the upgrade stops and names it.
2. the counter is dropped rather than left unmaintained: a column nobody updates would keep
   answering with a stale version to whoever still reads it. (The trigger whose WHEN clause read
   it goes with it; its function file makes it again without.)
3. ``ledger.lock_balances`` gains the accounts whose every balance row it locks (a lock_version
   check): the two-argument version goes; the three-argument one is its function file.

The guard that lock_version only grows (LDG03) now holds on the balances: a version only grows
(``functions/ledger.balances_after_update.sql``) and a row is never deleted (``ledger.reject_change``).
All in the one database transaction of ``migrate``.
"""

from yoyo import step

from ledger_pipelines.paths import read_sql

__depends__ = {"0011_move_outcomes"}


def derive_lock_version(conn) -> None:
    cursor = conn.cursor()
    cursor.execute(read_sql("schema/functions/ledger.lock_version.sql"))
    cursor.execute(read_sql("migrations/steps/0012_derived_lock_version.sql"))


steps = [step(derive_lock_version)]
