# The one entry for humans and CI. `make run` starts the whole system; `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON ?= python3
export UV_LINK_MODE ?= copy

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

install: $(UV)  ## install the locked dependencies into .venv
	$(UV) sync --frozen

run: install  ## run all services locally with demo data, dev mail/SMS sinks (Ctrl-C stops)
	RABBITMQ_URL="$$(scripts/ensure-broker)" $(UV) run --frozen python -m devtools.run

test: install  ## run the whole test suite against the real broker and a MongoDB-speaking server
	RABBITMQ_URL="$$(scripts/ensure-broker)" $(UV) run --frozen pytest $(PYTEST_ARGS)

lint: install  ## ruff, formatting, mypy --strict and the import contracts
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports

format: install  ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

bench: install  ## benchmarks: figures printed, compared with the raw broker
	RABBITMQ_URL="$$(scripts/ensure-broker)" $(UV) run --frozen python -m bench

definitions: install  ## RabbitMQ definitions and the AsyncAPI contract, generated from the code
	$(UV) run --frozen meterctl topology definitions > deploy/rabbitmq/definitions.json
	$(UV) run --frozen meterctl asyncapi > deploy/asyncapi.json

clean:  ## remove local state (var/) and environments
	rm -rf var .venv .tools

.PHONY: help install run test lint format bench definitions clean
