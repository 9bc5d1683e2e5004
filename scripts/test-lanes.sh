#!/usr/bin/env bash
# The long part of `make test` in two lanes side by side, each line prefixed with its lane: the release
# scenario (the longest, mostly waiting on deploys under load), the bad-input one and the stack tests, and
# the other Molecule scenarios (swarm last), so that both lanes take about as long. Each lane stops at its
# first failure; the script fails when either lane failed.
# The images and the test tools are installed before (make test-lanes), so the lanes never build or install
# the same thing at once. Every scenario has its own host container, ports and Compose project names.
set -euo pipefail
cd "$(dirname "$0")/.."

run_lane() {
  local step began
  for step in "$@"; do
    printf '== %s\n' "${step}"
    began=$(date +%s)
    # Word splitting is the point: each step is a command line of fixed words.
    # shellcheck disable=SC2086
    ${step} || { printf '== %s: FAILED\n' "${step}"; return 1; }
    # What the lanes are balanced by.
    printf '== %s: passed in %s s\n' "${step}" "$(($(date +%s) - began))"
  done
}

lane() {
  local name=$1
  shift
  run_lane "$@" 2>&1 | sed -u "s/^/[${name}] /"
  return "${PIPESTATUS[0]}"
}

started=$(date +%s)
lane release "molecule test -s release" "molecule test -s bad-input" "pytest -m stack tests/stack" &
release=$!
lane main "molecule test -s default" "molecule test -s tls" "molecule test -s swarm" &
main=$!

status=0
wait "${main}" || status=1
wait "${release}" || status=1
printf 'test-lanes: %s in %s s\n' "$( ((status == 0)) && echo passed || echo FAILED)" "$(($(date +%s) - started))"
exit "${status}"
