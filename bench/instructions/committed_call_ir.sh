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
BIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
DB=subledger; [[ $KIND == pg-* ]] && DB=pgledger
WORK=$(mktemp -d /tmp/committed-ir-XXXXXX); chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
: > "$WORK/ids"
if [[ $DB == pgledger ]]; then  # pgledger's account ids by name, read from the copy once
  cp -a "$DATA" "$WORK/data"; chown -R postgres "$WORK/data"
  echo "SELECT string_agg(name || '=' || id, ',') AS ids FROM pgledger_accounts" \
    | runuser -u postgres -- "$BIN/postgres" --single -D "$WORK/data" pgledger 2>/dev/null \
    | sed -n 's/.*ids = "\(.*\)".*/\1/p' > "$WORK/ids"
  rm -rf "$WORK/data"
fi
count() {  # count VARIANT_FILE N -> instructions of the whole backend
  local script="$WORK/script.sql" data="$WORK/data"
  { [ -s "$1" ] && { grep -v '^[[:space:]]*$' "$1"; printf '\n\n'; }
    (cd "$ROOT" && "$PYTHON" -m bench.instructions.calls $((30 + $2)) "$KIND" "$WORK/ids"); } > "$script" || return 1
  rm -rf "$data"; cp -a "$DATA" "$data"; chown -R postgres "$data" "$script"
  runuser -u postgres -- valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      "$BIN/postgres" --single -j -D "$data" $DB < "$script" >"$WORK/out.txt" 2>"$WORK/err.txt"
  if grep -q "ERROR:" "$WORK/err.txt"; then grep -m3 "ERROR:" "$WORK/err.txt" >&2; return 1; fi
  awk '/I *refs/ {gsub(",", "", $4); print $4}' "$WORK/err.txt"
}
: > "$WORK/none.sql"
for variant in "${@:-$WORK/none.sql}"; do
  low=$(count "$variant" 100) || exit 1
  high=$(count "$variant" 300) || exit 1
  awk -v name="$KIND $(basename "$variant" .sql)" -v low="$low" -v high="$high" \
      'BEGIN { printf "%-40s %8.1f k instructions per committed posting\n", name, (high - low) / 200000 }'
done
