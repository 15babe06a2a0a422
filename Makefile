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

.PHONY: demo test loom venv devserver lint clean-venv conformance browser ui-bench bench-async-insert

venv: $(VENV_STAMP)

$(VENV_STAMP): devserver/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r devserver/requirements.txt
	touch $(VENV_STAMP)

demo: venv
	cargo build --features cli --example quickstart --bin chlog
	scripts/with-devserver.sh --data target/devserver-demo -- scripts/demo.sh

test: venv browser loom
	cargo build --all-targets --features $(TEST_FEATURES)
	$(VENV)/bin/python -m unittest discover -s devserver -p 'test_*.py' -v
	scripts/with-devserver.sh -- sh -c 'cargo test --all-targets --features $(TEST_FEATURES) && cargo test --doc --features $(TEST_FEATURES)'

# The queue's models under loom's model checker (tests/loom.rs, src/queue/models.rs),
# in a build of their own: the cfg changes every crate's build, so it has its own
# target directory. Not `--cfg loom`: tokio, built with that, leaves out its `net`.
LOOM := RUSTFLAGS="--cfg tracing_clickhouse_loom" CARGO_TARGET_DIR=target/loom
loom:
	$(LOOM) cargo test --release --no-default-features --test loom

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

bench-async-insert: venv
	scripts/with-devserver.sh -- cargo bench --bench async_insert

# A devserver in the foreground on the usual HTTP port, for trying things by hand.
devserver: venv
	$(VENV)/bin/python devserver/chdevserver.py --port 8123 --data target/devserver-data

# What CI checks besides the tests: formatting, clippy for every feature set,
# the docs (warnings denied), and no import cycle between modules.
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features cli -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings
	cargo clippy --all-targets --no-default-features --features alerts -- -D warnings
	cargo clippy --all-targets --features $(TEST_FEATURES) -- -D warnings
	cargo clippy --all-targets --no-default-features --features middleware -- -D warnings
	$(LOOM) cargo clippy --release --no-default-features --test loom -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features $(TEST_FEATURES)
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --no-default-features
	$(PYTHON) -m unittest discover -s scripts -p 'test_*.py'
	$(PYTHON) scripts/module-cycles.py src

clean-venv:
	rm -rf $(VENV)
