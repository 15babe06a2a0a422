#!/usr/bin/env bash
# The crate's whole life on each ClickHouse version the devserver can run:
#
#   scripts/compat.sh VERSION=PYTHON [VERSION=PYTHON ...]
#
# For each version: the devserver's own engine tests (devserver/test_engines.py;
# COMPAT_ENGINE_TESTS=no leaves them out)
# on the chDB of PYTHON (its venv), then the parts of the integration tests
# named in COMPAT_TESTS (modules of tests/it or binaries of tests/; default:
# all) against a devserver on it
# (CLICKHOUSE_URL; the tests that start devservers of their own start them
# with PYTHON too, through DEVSERVER_PYTHON). Prints a line per binary as it
# goes and, at the end, the table of docs/operations.md's "Supported ClickHouse versions"
# shows; every binary's log stays in target/compat/ (built with the
# features of COMPAT_FEATURES, default cli). Exits non-zero if
# anything failed.
set -uo pipefail
# Each version gets a devserver of its own, whatever ClickHouse the caller names.
unset CLICKHOUSE_URL CLICKHOUSE_HOST

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Every part of the integration tests: the modules of tests/it (one binary,
# run a module at a time with a filter) and the binaries of their own
# (tests/NAME.rs) but loom's, which has a build of its own.
it_modules=$(sed -nE 's/^mod ([a-z_]+);$/\1/p' tests/it/main.rs | grep -vxE 'common|known|browser|schemas')
own_binaries=$(ls tests/*.rs | sed -E 's#^tests/##; s#\.rs$##' | grep -vx loom)
all_tests=$(echo $it_modules $own_binaries)
tests=${COMPAT_TESTS:-$all_tests}
out=target/compat
mkdir -p "$out"
# The cargo arguments that run one part: its own binary, or its module of it.
# Filters match anywhere in a test's name: `logs::` would run cli::logs too.
test_args() {
  if [ -f "tests/$1.rs" ]; then echo "--test $1"
  elif [ "$1" = cli ]; then echo "--test it -- cli::"
  else echo "--test it -- $1:: --skip cli::"; fi
}
# A failure's own output on stderr, so that a run whose logs are gone (CI)
# still says which test failed and why: cargo's failures section, or the
# end of the log.
show_failure() {
  echo "compat: --- $1 ---" >&2
  if grep -q '^failures:$' "$1"; then
    sed -n '/^failures:$/,/^test result:/p' "$1" | head -n 120 >&2
  else
    tail -n 40 "$1" >&2
  fi
}
status=0
results=()
for pair in "$@"; do
  version=${pair%%=*}
  python=${pair#*=}
  echo "compat: ClickHouse $version ($python)" >&2
  started=$(date +%s)
  if [ "${COMPAT_ENGINE_TESTS:-yes}" != no ]; then
    log="$out/$version-devserver-engine.log"
    t0=$(date +%s)
    if DEVSERVER_PYTHON="$root/$python" "$root/.venv/bin/python" -m unittest devserver/test_engines.py >"$log" 2>&1; then
      result=pass
    else
      result=FAIL
      status=1
      show_failure "$log"
    fi
    line="$version devserver-engine $result $(( $(date +%s) - t0 ))s $(grep -E '^(Ran|OK|FAILED)' "$log" | tr '\n' ' ')"
    echo "compat: $line" >&2
    results+=("$line")
  fi
  for test in $tests; do
    log="$out/$version-$test.log"
    t0=$(date +%s)
    if DEVSERVER_PYTHON="$root/$python" scripts/with-devserver.sh --python "$python" -- \
        cargo test --quiet --features "${COMPAT_FEATURES:-cli}" $(test_args "$test") >"$log" 2>&1; then
      result=pass
    else
      result=FAIL
      status=1
      show_failure "$log"
    fi
    summary=$(grep -E '^test result:' "$log" | tail -n 1 | sed 's/^test result: //; s/; finished.*//')
    line="$version $test $result $(( $(date +%s) - t0 ))s ${summary}"
    echo "compat: $line" >&2
    results+=("$line")
  done
  echo "compat: ClickHouse $version took $(( $(date +%s) - started )) s" >&2
done
printf '\n%-8s %-16s %-5s %6s  %s\n' version test result time counts
for line in "${results[@]}"; do
  read -r v t r s rest <<<"$line"
  printf '%-8s %-16s %-5s %6s  %s\n' "$v" "$t" "$r" "$s" "$rest"
done
exit "$status"
