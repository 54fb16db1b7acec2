# The one entry for humans and CI. `make run` starts the whole system; `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON ?= python3
export UV_LINK_MODE ?= copy
# Where `make run` runs (written by it): `make meterctl`, `portal`, `field-app` use the same.
RUN_ENV := set -a; [ -f var/run.env ] && . var/run.env; set +a;

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

install: $(UV)  ## install the locked dependencies into .venv
	@$(UV) sync --frozen --quiet

run: install  ## run all services locally with demo data, dev mail/SMS sinks (Ctrl-C stops)
	@scripts/ensure-broker >/dev/null
	@.venv/bin/python -m devtools.run

test: install  ## run the whole test suite against the real broker and a MongoDB-speaking server
	@url="$$(scripts/ensure-broker)" && RABBITMQ_URL="$$url" .venv/bin/pytest $(PYTEST_ARGS)

test-unit: install  ## only the unit layer: pure rules and use cases, no broker or database
	@.venv/bin/pytest -m "not store and not broker and not e2e" $(PYTEST_ARGS)

lint: install  ## ruff, formatting, mypy --strict and the import contracts
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

format: install  ## apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

meterctl: install  ## the operations command line against `make run`'s system: make meterctl ARGS="stock show"
	@$(RUN_ENV) .venv/bin/meterctl $(ARGS)

portal: install  ## the example portal: make portal ARGS="accounts 5ABCD12"
	@$(RUN_ENV) .venv/bin/python examples/portal.py $(ARGS)

field-app: install  ## the example field-team app: make field-app ARGS="follow T-01"
	@$(RUN_ENV) .venv/bin/python examples/field_app.py $(ARGS)

bench: install  ## the whole system end to end vs the raw broker (quick: BENCH_APPLICATIONS=200 BENCH_RUNS=1)
	@url="$$(scripts/ensure-broker)" && RABBITMQ_URL="$$url" .venv/bin/python -m bench

faults: install  ## the fault suite: own broker node, killable MongoDB, breakable sinks (FAULTS=quick: CI)
	@.venv/bin/python -m faults $(FAULTS)

definitions: install  ## RabbitMQ definitions, the AsyncAPI contract and docs/reference/, from the code
	.venv/bin/meterctl topology definitions > deploy/rabbitmq/definitions.json
	.venv/bin/meterctl asyncapi > deploy/asyncapi.json
	.venv/bin/python -m devtools.docs

clean:  ## forget everything local: var/, environments, and `make run`'s broker vhost
	@[ -n "$$RABBITMQ_URL" ] || python3 scripts/local-vhost delete "$${LOCAL_VHOST:-meter-local}" || true
	rm -rf var .venv .tools

.PHONY: help install run test test-unit lint format meterctl portal field-app bench faults definitions clean
