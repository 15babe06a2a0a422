#!/usr/bin/env bash
# Runs a command against ClickHouse: the one CLICKHOUSE_URL / CLICKHOUSE_HOST
# names, or else a devserver started here (on a free port) and stopped when
# the command ends, whether it succeeds or not.
#
#   scripts/with-devserver.sh [--data DIR] [--python PYTHON] -- command args...
#
# The devserver's data lives in DIR (default: a fresh temporary directory,
# removed afterwards). It runs on PYTHON (default: $DEVSERVER_PYTHON, else
# the venv that `make venv` builds); an older ClickHouse is another venv's
# Python (`make engines`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data=""
python="${DEVSERVER_PYTHON:-$root/.venv/bin/python}"
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done

if [ -n "${CLICKHOUSE_URL:-}" ] || [ -n "${CLICKHOUSE_HOST:-}" ]; then
  echo "with-devserver: using the configured ClickHouse (${CLICKHOUSE_URL:-${CLICKHOUSE_HOST}})" >&2
  exec "$@"
fi

temp_data=""
if [ -z "$data" ]; then
  temp_data=$(mktemp -d "${TMPDIR:-/tmp}/tc-devserver.XXXXXX")
  data="$temp_data"
fi
mkdir -p "$data"
log=$(mktemp "${TMPDIR:-/tmp}/tc-devserver-log.XXXXXX")

"$python" "$root/devserver/chdevserver.py" --port 0 --data "$data" >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -f "$log"
  if [ -n "$temp_data" ]; then rm -rf "$temp_data"; fi
}
trap cleanup EXIT INT TERM

url=""
for _ in $(seq 1 300); do
  url=$(grep -o 'https\?://[0-9.]*:[0-9]*' "$log" | head -n 1 || true)
  [ -n "$url" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "with-devserver: the devserver did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "with-devserver: the devserver did not print its address in 30 s:" >&2
  cat "$log" >&2
  exit 1
fi
echo "with-devserver: devserver at $url (data in $data)" >&2

export CLICKHOUSE_URL="$url"
status=0
"$@" || status=$?
exit "$status"
