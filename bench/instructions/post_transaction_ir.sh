#!/bin/bash
# Instructions per ledger.post_transaction call, counted by valgrind: the A/B measure for the
# server side of a single posting on a shared, noisy machine, where timings of a few percent are
# lost in the noise and instruction counts repeat to 0.2%. bench/README.md ("Counting
# instructions") has the numbers it gave.
#
# Usage: bench/instructions/post_transaction_ir.sh DATA_DIR [VARIANT.sql ...]
#   DATA_DIR  the data directory of a *stopped* cluster holding a ledger in database 'subledger'
#             with the accounts assets:spread:a0000..a0999 (python -m bench.single_post_bench
#             --keep, then `subledger down` with its SUBLEDGER_HOME); it is copied, never changed.
#   VARIANT   SQL run first in the same transaction (say a CREATE OR REPLACE FUNCTION or an ALTER
#             TABLE to try); none: the schema as it is. Everything is rolled back.
# Each variant runs in a single-user backend under valgrind on a fresh copy of DATA_DIR (dead rows
# left by an earlier run would make later calls dearer), twice: 30 warm-up calls and then 100, or
# then 300; the difference over 200 is one call's instructions. Needs root (runs postgres as the
# 'postgres' user), valgrind and /usr/lib/postgresql/15/bin.
set -euo pipefail
DATA=$1; shift
WORK=$(mktemp -d /tmp/post-ir-XXXXXX); chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
LOOP='DO $$
DECLARE a int; b int; amt int;
BEGIN
  FOR i IN 1..NCALLS LOOP
    a := (random()*999)::int; b := (a + 1 + (random()*997)::int) % 1000; amt := 1 + (random()*999)::int;
    PERFORM ledger.post_transaction(gen_random_uuid(), '\''ir-'\'' || gen_random_uuid(), '\''posted'\'', '\''2024-01-05T00:00:00+00:00'\'',
        md5(random()::text), ARRAY['\''assets:spread:a'\'' || lpad(a::text, 4, '\''0'\''), '\''assets:spread:a'\'' || lpad(b::text, 4, '\''0'\'')],
        '\''{debit,credit}'\'', ARRAY[amt, amt]::bigint[], '\''{USD,USD}'\'');
  END LOOP;
END $$;'
write_script() {  # the variant, then 30 warm-up calls and N more, in one rolled-back transaction
  { printf 'BEGIN;\n\nSELECT setseed(0.5);\n\n'; variant_sql "$1"
    printf '%s\n\n%s\n\nROLLBACK;\n\n' "${LOOP//NCALLS/30}" "${LOOP//NCALLS/$2}"; } > "$3"
}
DB=subledger
. "$(dirname "$0")/lib.sh"
count_per_call "" call "$@"
