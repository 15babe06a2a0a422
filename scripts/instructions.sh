#!/usr/bin/env bash
# Instructions per call on the application thread, counted by callgrind, for
# our layer and the usual alternatives: a deterministic companion to the
# capture benchmark's times (this machine is shared; its times drift, its
# instruction counts do not).
#
#   scripts/instructions.sh          # needs valgrind
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --profile bench --example capture_instructions
binary=target/release/examples/capture_instructions
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() { # subject kind -> instructions per call
  valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2" \
    --toggle-collect='capture_instructions::emit' "$binary" "$1" "$2" >"$out/$1.$2.stdout" 2>/dev/null
  local calls total
  calls=$(awk '/^calls/ {print $2}' "$out/$1.$2.stdout")
  total=$(awk '/^summary:/ {print $2}' "$out/$1.$2")
  echo $((total / calls))
}

for kind in event span; do
  json=$(count fmt_json "$kind")
  printf '\n%s: instructions per call (ratio to fmt_json)\n' "$kind"
  for subject in clickhouse_layer fmt_json fmt_text registry; do
    n=$([ "$subject" = fmt_json ] && echo "$json" || count "$subject" "$kind")
    printf '  %-18s %7d  (%s)\n' "$subject" "$n" "$(awk -v a="$n" -v b="$json" 'BEGIN {printf "%.3f", a / b}')"
  done
done
