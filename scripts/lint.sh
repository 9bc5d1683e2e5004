#!/usr/bin/env bash
# Every linter the project promises zero findings from. Run through `make lint` (tools come from .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "ruff"
ruff check .
ruff format --check .

step "hadolint"
mapfile -t dockerfiles < <(git ls-files '*Dockerfile' 'Dockerfile*')
hadolint "${dockerfiles[@]}"

step "shellcheck"
mapfile -t shells < <(git ls-files '*.sh' .ci/run)
shellcheck "${shells[@]}"

step "yamllint"
yamllint --strict .

step "ansible-lint"
# The project's ansible.cfg (roles_path, the plugin paths the roles' tests and filters come from).
ANSIBLE_CONFIG="$PWD/ansible/ansible.cfg" ansible-lint

step "vault files encrypted"
# The pre-flight play's rule (ansible/plugins/filter/vault_files.py) over every committed inventory.
python ansible/plugins/filter/vault_files.py ansible/inventories/*/

step "docker compose config"
# Interpolation needs every variable the file reads; the example env file provides them.
docker compose -f docker/compose.yml --env-file docker/compose.env.example config -q
echo "lint: clean"
