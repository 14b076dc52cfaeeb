"""The calls bench/instructions/committed_call_ir.sh counts: N single-statement transactions, each
one posting as a client sends it (its own commit), for subledger or pgledger.

Usage: python -m bench.instructions.calls N KIND PGLEDGER_IDS
  KIND  spread | hot | hot+cond (subledger's ledger.post_transaction, as bench.single_post_bench
        posts: two legs, the hot leg with ``available >= 0`` in hot+cond) or pg-spread | pg-hot |
        pg-hot+cond (pgledger's pgledger_create_transfer between the same accounts);
  PGLEDGER_IDS  a file of ``name=id`` pairs separated by commas (pgledger's account ids; empty
        for subledger's kinds).
Statements are separated by blank lines, as a single-user backend (-j) reads them. The random
choices are seeded, so every variant counts the same postings.
"""

from __future__ import annotations

import random
import sys
import uuid

from bench.single_post_bench import HOT_ACCOUNTS, spread_code


def subledger_call(i: int, debit: str, credit: str, amount: int, guarded: bool) -> str:
    conditions = ", NULL, '{2}', '{available}', '{gte}', '{0}'" if guarded else ""
    return (f"SELECT transaction_id FROM ledger.post_transaction('{uuid.UUID(int=random.getrandbits(128))}', "
            f"'ir-{i}', 'posted', '2024-01-05T00:00:00+00:00', md5('{i}'), ARRAY['{debit}', '{credit}'], "
            f"'{{debit,credit}}', '{{{amount},{amount}}}', '{{USD,USD}}'{conditions});")


def main(argv: list[str]) -> str:
    n, kind, ids_file = int(argv[0]), argv[1], argv[2] if len(argv) > 2 else ""
    text = open(ids_file).read().strip() if ids_file else ""
    ids = dict(pair.split("=", 1) for pair in text.split(",")) if text else {}
    random.seed(7)
    calls = []
    for i in range(n):
        a = random.randrange(1000)
        b = (a + 1 + random.randrange(998)) % 1000
        amount = random.randint(1, 1000)
        mode = kind.removeprefix("pg-")
        if kind.startswith("pg-"):
            source = ids[spread_code(a)] if mode == "spread" else ids["hot_guarded" if mode == "hot+cond" else "hot"]
            calls.append(f"SELECT id FROM pgledger_create_transfer('{source}', '{ids[spread_code(b)]}', {amount});")
        elif mode == "spread":
            calls.append(subledger_call(i, spread_code(a), spread_code(b), amount, False))
        else:
            calls.append(subledger_call(i, spread_code(b), HOT_ACCOUNTS[mode], amount, mode == "hot+cond"))
    return "\n\n".join(calls) + "\n"


if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1:]))
