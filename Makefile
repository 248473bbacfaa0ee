# sso-gateway — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: check demo demo-keycloak fuzz test deps deps-demo build lint bench clean screenshots

## Start the test OP, gateways for a.localhost and b.localhost, and the demo app.
demo: deps-demo
	$(CARGO) build -p sso-gateway -p sso-demo-app
	bash deploy/demo/run.sh

## The same demo on a real Keycloak (the shipped realm), instead of the embedded OP.
demo-keycloak: deps-demo
	bash deploy/scripts/install-deps.sh keycloak
	$(CARGO) build -p sso-gateway -p sso-demo-app
	DEMO_OP=keycloak bash deploy/demo/run.sh

## Install what is missing, then run every test (lint included).
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace --no-fail-fast
	bash tests/op/smoke.sh
	node --test clients/js/
	bash deploy/scripts/fuzz.sh smoke

## Fuzz every target for FUZZ_SECS seconds each (default 300) with AddressSanitizer.
fuzz:
	bash deploy/scripts/fuzz.sh run $(FUZZ_TARGET)

deps:
	bash deploy/scripts/install-deps.sh test

deps-demo:
	bash deploy/scripts/install-deps.sh demo

## The fast inner loop (under two minutes on a warm build): format, lint, unit tests, and the
## in-process tests (the HTTP contract on the memory store, the core flows against the
## in-process hostile OP); no Redis, Node, nginx or Chromium.
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace --lib --bins
	$(CARGO) test --workspace --test login -- core_flows::

## Refresh docs/img/*.png from the Chromium tests of the SPA and the gateway's pages.
screenshots: deps
	SSO_SCREENSHOTS=$(CURDIR)/docs/img $(CARGO) test -p sso-integration-tests --test browser -- spa:: pages::

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	bash deploy/scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf tests/op/node_modules .demo
