#!/bin/bash
# Instructions per committed single posting, subledger's or pgledger's, side by side: each posting
# is its own top-level statement and transaction in a single-user backend under valgrind, so the
# count holds what a client's call costs the server -- the statement's parse and plan (which a
# prepared call skips), the function, its triggers and CHECKs, and the commit -- where
# post_transaction_ir.sh counts only the function, in one transaction. Counts repeat to ~0.3%.
#
# Usage: bench/instructions/committed_call_ir.sh DATA_DIR KIND [VARIANT.sql ...]
#   DATA_DIR  a *stopped* cluster of python -m bench.single_post_bench --keep (databases subledger
#             and pgledger); it is copied, never changed.
#   KIND      spread | hot | hot+cond | pg-spread | pg-hot | pg-hot+cond (bench/instructions/calls.py)
#   VARIANT   SQL run first (e.g. a CREATE OR REPLACE FUNCTION), committed in the copy only.
# Runs 30 + 100 and 30 + 300 postings on fresh copies; the difference over 200 is one posting's.
# Needs root (runs postgres as 'postgres'), valgrind and /usr/lib/postgresql/15/bin.
set -euo pipefail
DATA=$1; KIND=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
DB=subledger; [[ $KIND == pg-* ]] && DB=pgledger
WORK=$(mktemp -d /tmp/committed-ir-XXXXXX); chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
: > "$WORK/ids"
if [[ $DB == pgledger ]]; then  # pgledger's account ids by name, read from the copy once
  cp -a "$DATA" "$WORK/data"; chown -R postgres "$WORK/data"
  echo "SELECT string_agg(name || '=' || id, ',') AS ids FROM pgledger_accounts" \
    | runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres --single -D "$WORK/data" pgledger 2>/dev/null \
    | sed -n 's/.*ids = "\(.*\)".*/\1/p' > "$WORK/ids"
  rm -rf "$WORK/data"
fi
write_script() {  # the variant, then 30 warm-up postings and N more, each its own transaction
  { variant_sql "$1"; (cd "$ROOT" && "$PYTHON" -m bench.instructions.calls $((30 + $2)) "$KIND" "$WORK/ids"); } > "$3"
}
. "$(dirname "$0")/lib.sh"
count_per_call "$KIND " "committed posting" "$@"
