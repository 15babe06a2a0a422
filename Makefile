# The two commands of README (make demo, make test), and what they need.
#
#   make demo   run examples/quickstart.rs against ClickHouse (a local devserver
#               unless CLICKHOUSE_URL or CLICKHOUSE_HOST is set), then chlog on
#               what it stored
#   make test   the whole test suite, against a devserver started for it
#
# And, not part of `make test`:
#
#   make ui-bench      chlog ui's time to first rows and to the volume chart on
#                      10 million logs (docs/web-view.md)
#   make scale-bench   every chlog read and chlog ui endpoint on 100 M and
#                      300 M logs over the last 24 hours, the release build
#                      (docs/operations.md, "Reads at scale")
#   make bench-async-insert   many small processes x few events into a
#                      devserver, with and without async_insert (see docs/operations.md,
#                      "Server-side batching")
#   make service-bench what the crate costs an axum service beside
#                      fmt().json(), loaded by wrk (docs/performance.md, "What it
#                      costs a service"); SERVICE_BENCH_ARGS passes options on
#   make conformance   a client nobody here wrote (clickhouse-connect, pinned in
#                      devserver/conformance/requirements.txt) against a devserver
#                      it starts, or against CLICKHOUSE_URL; prints the pass counts
#   make compat        the crate's whole life against a devserver on each
#                      ClickHouse version of CH_ENGINES (docs/operations.md,
#                      "Supported ClickHouse versions"); `make test` runs it on COMPAT_CI
#   make devserver ENGINE=24.8   a devserver on that version, by hand
#
# Each installs what it uses: the devserver's Python venv (.venv), the
# conformance client's (target/conformance-venv), one venv per older
# ClickHouse version (target/venv-chVERSION) and the crates (cargo).
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

# The ClickHouse versions the devserver runs, each carried by a chDB release
# on PyPI: chdb 1.4.1 is ClickHouse 23.10, 2.1.1 is 24.8, 3.7.2 is 25.8, and
# chdb-core 26.9.0 (the .venv, devserver/requirements.txt) is 26.9.
CH_ENGINES ?= 23.10 24.8 25.8 26.9
# Older than the oldest the crate supports (chdb 0.15.0 is ClickHouse 23.6):
# `make compat` checks there that the crate refuses it by name
# (tests/it/server_version.rs), nothing more.
CH_TOO_OLD ?= 23.6
# What `make test` runs `make compat` on, besides the full suite on 26.9: the
# test binaries of every part of the crate's life (docs/operations.md,
# "Supported ClickHouse versions"). An older chDB answers each query in tens of
# milliseconds, so the slowest binaries (history: 3.5 min on 24.8) stay in
# the full `make compat` only.
COMPAT_CI ?= 24.8
COMPAT_CI_TESTS ?= server_version schema body_search pipeline logs spans metrics query export grafana health cli alerts cluster_ddl tail
# The binaries `make compat` runs (empty: every one of tests/).
COMPAT_TESTS ?=
ENGINE ?= 26.9
CHDB_23.6 := chdb==0.15.0
CHDB_23.10 := chdb==1.4.1
CHDB_24.8 := chdb==2.1.1
CHDB_25.8 := chdb==3.7.2
engine_venv = $(if $(filter 26.9,$(1)),$(VENV),target/venv-ch$(1))

.PHONY: demo test loom venv devserver lint clean-venv conformance browser ui-bench bench-async-insert compat engines service-bench scale-bench

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
# The venv is made by now: `-o` keeps the sub-make from remaking it when the
# caller told this make to take it as it is (`make -o .venv/.installed test`).
	$(MAKE) -o $(VENV_STAMP) compat CH_ENGINES="$(COMPAT_CI)" COMPAT_TESTS="$(COMPAT_CI_TESTS)"

# The queue's models under loom's model checker (tests/loom.rs, src/queue/models.rs),
# in a build of their own: the cfg changes every crate's build, so it has its own
# target directory. Not `--cfg loom`: tokio, built with that, leaves out its `net`.
LOOM := RUSTFLAGS="--cfg tracing_clickhouse_loom" CARGO_TARGET_DIR=target/loom
loom:
	$(LOOM) cargo test --release --no-default-features --test loom

# The browser tests/it/ui.rs drives: Debian's chromium and its WebDriver, installed
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

# An axum service in every mode at both TraceLayer levels, pinned to core 1,
# loaded by wrk from core 0 (with the devserver there too, for the second
# setup). About 15 minutes with the defaults (3 rounds of 10 s per run).
# Its own crate (benches/service), built into target/.
service-bench: venv
	@if ! command -v wrk >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk; \
	fi
	cargo build --release --manifest-path benches/service/Cargo.toml --target-dir target
	target/release/service-bench run --repo . --out target/service-bench $(SERVICE_BENCH_ARGS)

# An older chDB in a venv of its own, with the devserver's other requirements.
target/venv-ch%/.installed: devserver/requirements.txt
	@test -n "$(CHDB_$*)" || { echo "no chDB known for ClickHouse $* (known: 23.6 23.10 24.8 25.8 26.9)"; exit 2; }
	$(PYTHON) -m venv target/venv-ch$*
	grep -v '^chdb-core' devserver/requirements.txt > target/venv-ch$*/requirements.txt
	target/venv-ch$*/bin/python -m pip install --quiet --disable-pip-version-check $(CHDB_$*) -r target/venv-ch$*/requirements.txt
	touch $@

# The venvs of CH_ENGINES and CH_TOO_OLD.
engines: $(foreach e,$(filter-out 26.9,$(CH_ENGINES) $(CH_TOO_OLD)),target/venv-ch$(e)/.installed) $(if $(filter 26.9,$(CH_ENGINES)),venv)

# A devserver in the foreground on the usual HTTP port, for trying things by hand.
devserver: $(if $(filter 26.9,$(ENGINE)),venv,target/venv-ch$(ENGINE)/.installed)
	$(call engine_venv,$(ENGINE))/bin/python devserver/chdevserver.py --port 8123 --data $(if $(filter 26.9,$(ENGINE)),target/devserver-data,target/devserver-data-ch$(ENGINE))

# The crate's whole life on each version of CH_ENGINES, and its refusal of
# CH_TOO_OLD; a table of what passed.
compat: venv engines
	cargo build --all-targets --features $(TEST_FEATURES)
	COMPAT_FEATURES=$(TEST_FEATURES) COMPAT_TESTS="$(COMPAT_TESTS)" scripts/compat.sh $(foreach e,$(CH_ENGINES),$(e)=$(call engine_venv,$(e))/bin/python)
	$(if $(CH_TOO_OLD),COMPAT_FEATURES=$(TEST_FEATURES) COMPAT_TESTS=server_version COMPAT_ENGINE_TESTS=no scripts/compat.sh $(foreach e,$(CH_TOO_OLD),$(e)=$(call engine_venv,$(e))/bin/python))

# The public items reachable from the crate root may not grow past this
# (scripts/public-items.py; issue 25 aims at 250).
PUBLIC_ITEMS_MAX := 334

# What CI checks besides the tests: formatting, clippy for every feature set,
# the docs (warnings denied), no import cycle between modules, and the
# public API's size.
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
	$(PYTHON) scripts/public-items.py --max $(PUBLIC_ITEMS_MAX)

clean-venv:
	rm -rf $(VENV)
