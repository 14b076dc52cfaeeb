# Shared by the instruction counters of bench/instructions/ (sourced, not run). The caller sets
# DATA (a stopped cluster's data directory), DB (the database), WORK (a scratch directory) and
# defines write_script VARIANT_FILE N SCRIPT_FILE, which writes the single-user script for N
# calls after the variant; then calls count_per_call LABEL UNIT VARIANT... .
BIN=/usr/lib/postgresql/15/bin

count() {  # count VARIANT_FILE N -> instructions of the whole backend running that script
  local script="$WORK/script.sql" data="$WORK/data"
  write_script "$1" "$2" "$script" || return 1
  # A fresh copy each run: dead rows left by an earlier run would make later calls dearer.
  rm -rf "$data"; cp -a "$DATA" "$data"; chown -R postgres "$data" "$script"
  # A single-user backend writes its errors, like valgrind its count, to stderr.
  runuser -u postgres -- valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      "$BIN/postgres" --single -j -D "$data" "$DB" < "$script" >"$WORK/out.txt" 2>"$WORK/err.txt"
  if grep -q "ERROR:" "$WORK/err.txt"; then grep -m3 "ERROR:" "$WORK/err.txt" >&2; return 1; fi
  awk '/I *refs/ {gsub(",", "", $4); print $4}' "$WORK/err.txt"
}

count_per_call() {  # count_per_call LABEL UNIT [VARIANT...]: 100 and 300 calls, the difference over 200
  local label=$1 unit=$2 variant low high; shift 2
  : > "$WORK/none.sql"
  for variant in "${@:-$WORK/none.sql}"; do
    low=$(count "$variant" 100) || exit 1
    high=$(count "$variant" 300) || exit 1
    awk -v name="$label$(basename "$variant" .sql)" -v low="$low" -v high="$high" -v unit="$unit" \
        'BEGIN { printf "%-40s %8.1f k instructions per %s\n", name, (high - low) / 200000, unit }'
  done
}

variant_sql() {  # variant_sql FILE: the variant as one single-user command (its blank lines out)
  [ -s "$1" ] && { grep -v '^[[:space:]]*$' "$1"; printf '\n\n'; }
  return 0
}
