# Entry points for people and CI. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
# The venv's tools come first so scripts and Molecule find the pinned versions.
export PATH := $(BIN):$(PATH)
ENV ?= sandbox

.PHONY: help venv lint test test-app test-stack test-molecule test-lanes images up down deploy manage status logs bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements.txt app/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.stamp ## Create the virtualenv from the pinned requirements

lint: venv ## ruff, hadolint, shellcheck, yamllint, ansible-lint, docker compose config
	scripts/lint.sh

test: lint test-app test-lanes ## Everything: lint, app tests, then Molecule and the stack tests (two lanes side by side)

test-app: venv ## Django tests against the real PostgreSQL on 127.0.0.1:5432, the Ansible plugins' unit tests, drift tests
	$(BIN)/pytest tests/app tests/plugins tests/test_*.py

test-stack: venv images ## Build the images, run the Compose stack on the local engine, probe it (and in Chromium)
	scripts/ensure-test-tools.sh
	$(BIN)/pytest -m stack tests/stack

test-molecule: venv images ## Molecule: provision systemd host containers with the roles and verify them
	scripts/ensure-test-tools.sh
	$(BIN)/molecule test --all

test-lanes: venv images ## Stack tests and every Molecule scenario in two lanes (release + bad-input + stack, the others)
	scripts/ensure-test-tools.sh
	scripts/test-lanes.sh

images: ## Build the registry-free local images (only those absent or whose inputs changed)
	scripts/ensure-docker.sh
	docker/images/build.sh

up: venv ## Run the stack locally with Docker Compose (DEV=1 for runserver with autoreload) and print its URL
	scripts/local-stack.sh up

down: ## Stop the local stack
	scripts/local-stack.sh down

deploy: venv ## Provision with Ansible: no ENV = local sandbox host; ENV=prod|staging for real hosts
	scripts/deploy.sh $(ENV)

manage: venv ## manage.py in the serving release: make manage ENV=prod ARGS="createsuperuser" (HOST=web1 among several)
	scripts/ops.sh $(ENV) manage $(ARGS)

status: venv ## What serves, the slots, database, maintenance, failed units, certificate expiry, backup age (ENV=...)
	scripts/ops.sh $(ENV) status

logs: venv ## The last log lines of a service: make logs ENV=prod SERVICE=web [LINES=200] (web = the serving slot)
	scripts/ops.sh $(ENV) logs $(or $(SERVICE),web) $(or $(LINES),200)

bench: venv images ## Side-by-side performance figures into docs/benchmarks.md (QUICK=1: seconds, figures only; BENCH_DEPLOY=1: sandbox deploy too)
	bench/run.sh $(if $(QUICK),--quick) $(if $(BENCH_DEPLOY),--deploy)

clean: ## Remove the virtualenv and local state (keeps Docker images)
	rm -rf $(VENV) .local
