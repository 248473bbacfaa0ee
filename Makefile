# sso-gateway — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: demo test deps deps-demo build lint bench clean

## Start the test OP, gateways for a.localhost and b.localhost, and the demo app.
demo: deps-demo
	$(CARGO) build -p sso-gateway -p sso-demo-app
	bash deploy/demo/run.sh

## Install what is missing, then run every test (lint included).
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace --no-fail-fast
	bash tests/op/smoke.sh

deps:
	bash deploy/scripts/install-deps.sh test

deps-demo:
	bash deploy/scripts/install-deps.sh demo

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	bash deploy/scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf tests/op/node_modules .demo
