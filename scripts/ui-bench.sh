#!/usr/bin/env bash
# `make ui-bench`: how fast `chlog ui` answers on 10 million logs. Run by
# scripts/with-devserver.sh (CLICKHOUSE_URL is set). Not part of `make test`.
#
# Fills database `ui_bench` once (one INSERT ... SELECT FROM numbers(10000000):
# the last 24 hours, 5 services, 6 levels, 8 sources, 4 attributes per row),
# starts `chlog ui` on it, and times, with curl, what the page asks for when
# it opens on the last hour and on the last 24 hours: the first page of rows,
# the counts, the volume chart; with no filter, with a service and a level
# (the volume then comes from the logs_by_level rollup), and with a text
# search (a scan of the range). Each figure is the median of 5 runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
chlog="$root/target/debug/chlog"
export CLICKHOUSE_DATABASE=ui_bench
rows=${UI_BENCH_ROWS:-10000000}

ask() { curl -sS --fail-with-body "$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE" --data-binary "$1"; }

"$chlog" schema apply >/dev/null
have=$(ask "SELECT count() FROM logs")
if [ "$have" -lt "$rows" ]; then
  echo "ui-bench: writing $rows logs over the last 24 hours (once; kept in target/devserver-ui-bench)"
  ask "TRUNCATE TABLE logs"
  ask "TRUNCATE TABLE logs_by_level"
  start=$(date +%s.%N)
  ask "INSERT INTO logs (Timestamp, TraceId, SpanId, SeverityText, SeverityNumber, ServiceName, Body, ScopeName, LogAttributes)
    SELECT
      now64(9) - toIntervalNanosecond(intDiv(number * 86400000000000, $rows) + 1) AS Timestamp,
      if(number % 10 = 0, lower(hex(reinterpretAsFixedString(cityHash64(intDiv(number, 10))))) || '0000000000000000', '') AS TraceId,
      if(number % 10 = 0, lower(hex(reinterpretAsFixedString(cityHash64(number)))), '') AS SpanId,
      ['INFO','INFO','INFO','INFO','INFO','DEBUG','DEBUG','WARN','ERROR','TRACE'][number % 10 + 1] AS SeverityText,
      [9,9,9,9,9,5,5,13,17,1][number % 10 + 1] AS SeverityNumber,
      ['checkout','payments','search','auth','gateway'][intDiv(number, 10) % 5 + 1] AS ServiceName,
      multiIf(number % 10 = 8, 'request ' || lower(hex(cityHash64(number))) || ' failed after ' || toString(number % 997) || ' ms',
              number % 10 = 7, 'slow query ' || toString(number % 1000) || ': timeout',
              'handled request ' || toString(number)) AS Body,
      ['app::http','app::db','app::cache','app::auth','app::queue','app::search','app::billing','app::mail'][intDiv(number, 3) % 8 + 1] AS ScopeName,
      map('user.id', toString(number % 10007), 'region', ['eu','us','ap'][number % 3 + 1],
          'code.line.number', toString(number % 400), 'thread.name', 'worker-' || toString(number % 8)) AS LogAttributes
    FROM numbers($rows)"
  echo "ui-bench: written in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
echo "ui-bench: $(ask "SELECT count() FROM logs") logs in $CLICKHOUSE_DATABASE"

port=$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$chlog" --timeout 600s ui --listen "127.0.0.1:$port" >/dev/null &
ui=$!
trap 'kill $ui 2>/dev/null || true' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.1; done

# The median of 5 timings of one request, in seconds.
median() {
  for _ in 1 2 3 4 5; do
    curl -sS -o /dev/null --fail -w '%{time_total}\n' "http://127.0.0.1:$port$1"
  done | sort -n | sed -n 3p
}

now=$(date +%s%N)
printf '\n| range | filter | first rows (`/api/logs`) | counts (`/api/stats`) | volume chart (`/api/volume`) |\n'
printf '| --- | --- | --- | --- | --- |\n'
for hours in 1 24; do
  since=$((now - hours * 3600 * 1000000000))
  range="since=$since&until=$now"
  for filter in "" "service=checkout&min_level=warn" "q=timeout"; do
    p="$range${filter:+&$filter}"
    printf '| %s h | %s | %s s | %s s | %s s |\n' "$hours" "${filter:-none}" \
      "$(median "/api/logs?$p")" "$(median "/api/stats?$p")" "$(median "/api/volume?$p")"
  done
done

# The same, as the browser sees it: from navigation to rows and chart drawn.
echo
UI_BENCH_URL="http://127.0.0.1:$port/" cargo test --quiet --features cli --test it -- \
  --ignored --nocapture ui::page_timings_on_the_ui_bench_database 2>&1 | grep '^|'
