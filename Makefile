# The two commands of README, and what they need.
#
#   make demo   run examples/quickstart.rs against ClickHouse (a local devserver
#               unless CLICKHOUSE_URL or CLICKHOUSE_HOST is set)
#   make test   the whole test suite, against a devserver started for it
#
# Both install what they use: the devserver's Python venv (.venv) and the
# crates (cargo). Nothing else needs to be installed by hand.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed

.PHONY: demo test venv devserver lint clean-venv

venv: $(VENV_STAMP)

$(VENV_STAMP): devserver/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r devserver/requirements.txt
	touch $(VENV_STAMP)

demo: venv
	cargo build --example quickstart
	scripts/with-devserver.sh --data target/devserver-demo -- cargo run --quiet --example quickstart

test: venv
	cargo build --all-targets
	$(VENV)/bin/python -m unittest discover -s devserver -p 'test_*.py' -v
	scripts/with-devserver.sh -- sh -c 'cargo test --all-targets && cargo test --doc'

# A devserver in the foreground on the usual HTTP port, for trying things by hand.
devserver: venv
	$(VENV)/bin/python devserver/chdevserver.py --port 8123 --data target/devserver-data

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

clean-venv:
	rm -rf $(VENV)
