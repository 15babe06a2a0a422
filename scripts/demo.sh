#!/usr/bin/env bash
# `make demo`'s body, run by scripts/with-devserver.sh (CLICKHOUSE_URL is
# set): the quickstart example, then three chlog commands on what it stored,
# and how to run more.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
chlog="$root/target/debug/chlog"

cargo run --quiet --features cli --example quickstart

show() {
  echo
  echo "\$ chlog $*"
  "$chlog" "$@" || echo "(exit status $?)"
}
show logs --since 10m --min-level warn -s quickstart
show stats --since 10m -s quickstart
show metrics orders.placed --since 10m -n 3

cat <<NEXT

Next, against the demo's data (the devserver keeps it in target/devserver-demo):
  scripts/with-devserver.sh --data target/devserver-demo -- target/debug/chlog health
  scripts/with-devserver.sh --data target/devserver-demo -- target/debug/chlog logs --since 1h --json
  scripts/with-devserver.sh --data target/devserver-demo -- target/debug/chlog export logs -o logs.parquet
  scripts/with-devserver.sh --data target/devserver-demo -- target/debug/chlog ui     then open http://127.0.0.1:8080/
Or install it (cargo install --path . --features cli) and point it at a server
with CLICKHOUSE_URL; \`chlog --help\` has the rest.
NEXT
