# The two commands of README, and what they need.
#
#   make demo   run examples/quickstart.rs against ClickHouse (a local devserver
#               unless CLICKHOUSE_URL or CLICKHOUSE_HOST is set), then chlog on
#               what it stored
#   make test   the whole test suite, against a devserver started for it
#
# And, not part of `make test`:
#
#   make ui-bench      chlog ui's time to first rows and to the volume chart on
#                      10 million logs (README, "chlog ui")
#   make scale-bench   every chlog read and chlog ui endpoint on 100 M and
#                      300 M logs over the last 24 hours, the release build
#                      (README, "Reads at scale")
#   make bench-async-insert   many small processes x few events into a
#                      devserver, with and without async_insert (see README,
#                      "Server-side batching")
#   make conformance   a client nobody here wrote (clickhouse-connect, pinned in
#                      devserver/conformance/requirements.txt) against a devserver
#                      it starts, or against CLICKHOUSE_URL; prints the pass counts
#
# Each installs what it uses: the devserver's Python venv (.venv), the
# conformance client's (target/conformance-venv) and the crates (cargo).
# Nothing else needs to be installed by hand.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed

# The conformance client gets a venv of its own: its pins must not move the devserver's.
CONFORMANCE_VENV := target/conformance-venv
CONFORMANCE_STAMP := $(CONFORMANCE_VENV)/.installed

# Every feature the tests cover: chlog, the middleware with axum's routes,
# and the tracing-opentelemetry interop.
TEST_FEATURES := cli,axum,opentelemetry

.PHONY: demo test venv devserver lint clean-venv conformance browser ui-bench bench-async-insert scale-bench

venv: $(VENV_STAMP)

$(VENV_STAMP): devserver/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r devserver/requirements.txt
	touch $(VENV_STAMP)

demo: venv
	cargo build --features cli --example quickstart --bin chlog
	scripts/with-devserver.sh --data target/devserver-demo -- scripts/demo.sh

test: venv browser
	cargo build --all-targets --features $(TEST_FEATURES)
	$(VENV)/bin/python -m unittest discover -s devserver -p 'test_*.py' -v
	scripts/with-devserver.sh -- sh -c 'cargo test --all-targets --features $(TEST_FEATURES) && cargo test --doc --features $(TEST_FEATURES)'

# The browser tests/ui.rs drives: Debian's chromium and its WebDriver, installed
# (with one apt-get update) only when either is missing.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; \
	fi

$(CONFORMANCE_STAMP): devserver/conformance/requirements.txt
	$(PYTHON) -m venv $(CONFORMANCE_VENV)
	$(CONFORMANCE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r devserver/conformance/requirements.txt
	touch $(CONFORMANCE_STAMP)

conformance: venv $(CONFORMANCE_STAMP)
	$(CONFORMANCE_VENV)/bin/python devserver/conformance/check_clickhouse_connect.py --devserver-python $(VENV)/bin/python

# chlog ui's answers on 10 million logs (the data stays in target/devserver-ui-bench).
ui-bench: venv
	cargo build --features cli --bin chlog
	scripts/with-devserver.sh --data target/devserver-ui-bench -- scripts/ui-bench.sh

# The data stays in target/devserver-scale (33 bytes a row: about 10 GB at
# 300 M rows; the bench's SCALE_* variables are in benches/scale.rs). The
# release profile, so that chlog is the release build.
scale-bench: venv
	cargo bench --profile release --features cli --bench scale

bench-async-insert: venv
	scripts/with-devserver.sh -- cargo bench --bench async_insert

# A devserver in the foreground on the usual HTTP port, for trying things by hand.
devserver: venv
	$(VENV)/bin/python devserver/chdevserver.py --port 8123 --data target/devserver-data

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features cli -- -D warnings
	cargo clippy --no-default-features --all-targets -- -D warnings
	cargo clippy --all-targets --features $(TEST_FEATURES) -- -D warnings
	cargo clippy --no-default-features --features middleware -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
	python3 ../shared/tools/module-cycles.py src

clean-venv:
	rm -rf $(VENV)
