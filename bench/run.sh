#!/usr/bin/env bash
# Side-by-side performance figures for the stack (`make bench`). Every figure is a ratio or a count measured
# in one run on this machine, so a noisy machine distorts them less than absolute numbers. This script owns
# the stack's lifecycle; `python3 -m bench` (the bench package, see bench/__init__.py) measures and reports.
#
# Usage: bench/run.sh [--quick] [--deploy | --deploy-only]
#   (none)     wrk -t1 -c16 -d8s after a warm-up, three repetitions (median), cold and warm app image
#              builds; prints the tables and rewrites docs/benchmarks.md (text: bench/page.md and
#              bench/decisions.md; the run's duration is at the top of that page). The deploy figures
#              shown are the last ones measured (bench/deploy.json, with their date and commit).
#   --quick    1 s runs, one repetition, no cold build, no deploy: checks that every figure is produced
#              and that the text cites only figures that exist (exit 1 otherwise), not how good they are;
#              docs/benchmarks.md is left alone.
#   --deploy   first time the sandbox deploy (scripts/deploy.sh) into bench/deploy.json: the djangoapp-sandbox
#              host is destroyed and created again, then a cold deploy, a no-op rerun (and its changed count)
#              and a code-only redeploy (--app-only, new release label); `make bench BENCH_DEPLOY=1`.
#              Ignored with --quick.
#   --deploy-only  only that: bench/deploy.json, nothing else.
#
# What runs: its own Compose stack (scripts/local-stack.sh, project bench-<random>, free 127.0.0.1 ports, a
# free frontend subnet), plus containers on the stack's networks (bench/harness.py): the naive setup, a bare
# nginx, a mirror of the stack with gunicorn's access log switched the other way, gunicorn candidates, and
# the load generators (Debian's wrk in local/bench-wrk, built from local/debian:trixie), so that every target
# is loaded the same way and without Docker's port proxy. All of it is removed on exit, whatever happens.
#
# Environment: BENCH_DURATION (s, 8), BENCH_CONNECTIONS (16), BENCH_REPEAT (3), BENCH_KEEP_DOC=1 (full mode
# without rewriting docs/benchmarks.md), BENCH_FIGURES=FILE (also keep the figures as JSON there;
# `python3 -m bench render --figures FILE --deploy-figures bench/deploy.json --write-doc docs/benchmarks.md`
# renders the page from them again).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly WRK_IMAGE=local/bench-wrk:trixie

QUICK=0
DEPLOY=0
for arg in "$@"; do
  case "${arg}" in
    --quick) QUICK=1 ;;
    --deploy) DEPLOY=1 ;;
    --deploy-only) DEPLOY=2 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      printf 'bench: unknown argument %s (see --help)\n' "${arg}" >&2
      exit 2
      ;;
  esac
done

log() { printf 'bench: %s\n' "$*" >&2; }
# The bench package from the repository root (python3 -m finds it there).
bench_py() { (cd "${ROOT}" && python3 -m bench "$@"); }
die() {
  log "error: $*"
  exit 1
}

as_root() {
  if ((EUID == 0)); then
    "$@"
  else
    sudo "$@"
  fi
}

# wrk on this machine too (the Debian package), for anyone reproducing a figure by hand; the runs themselves
# use the same package inside local/bench-wrk.
ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return
  log "installing wrk (Debian package)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null ||
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends wrk >/dev/null; }
}

PROJECT="bench-$(openssl rand -hex 4)"
STATE=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  log "tearing down ${PROJECT}"
  # The containers the harness added next to the stack (all named ${PROJECT}-<part>).
  docker ps -aq --filter "name=^${PROJECT}-" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  if [[ -n "${STATE}" ]]; then
    LOCAL_STACK_DIR="${STATE}" LOCAL_STACK_PROJECT="${PROJECT}" \
      "${ROOT}/scripts/local-stack.sh" down --volumes >/dev/null 2>&1 || true
    docker image rm "djangoapp/web:${PROJECT}" "djangoapp/web:${PROJECT}-build" >/dev/null 2>&1 || true
    rm -rf "${STATE}"
  fi
  exit "${rc}"
}

main() {
  local started
  started=$(date +%s)
  if ((DEPLOY && !QUICK)); then
    bench_py deploy --out "${ROOT}/bench/deploy.json"
    ((DEPLOY == 2)) && return 0
  fi
  ensure_wrk
  "${ROOT}/scripts/ensure-docker.sh" >&2
  "${ROOT}/docker/images/build.sh" >&2
  # shellcheck source=/dev/null
  source <(grep -E '^[A-Z_]+=' "${ROOT}/docker/images/local.env" | sed 's/^/LOCAL_/')
  docker build --quiet --pull=false --build-arg DEBIAN_IMAGE="${LOCAL_DEBIAN_IMAGE}" \
    --tag "${WRK_IMAGE}" "${ROOT}/bench/wrk" >/dev/null

  trap cleanup EXIT INT TERM
  STATE=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
  chmod 0755 "${STATE}"
  local http_port https_port subnet monitoring_subnet
  read -r http_port https_port subnet monitoring_subnet < <(bench_py free-resources)

  export LOCAL_STACK_DIR="${STATE}" LOCAL_STACK_PROJECT="${PROJECT}" LOCAL_DOMAIN=site.bench.test
  export LOCAL_PUBLISH_ADDR=127.0.0.1 LOCAL_HTTP_PORT="${http_port}" LOCAL_HTTPS_PORT="${https_port}"
  export LOCAL_FRONTEND_SUBNET="${subnet}" LOCAL_MONITORING_SUBNET="${monitoring_subnet}" APP_IMAGE="djangoapp/web:${PROJECT}" APP_RELEASE=bench
  log "starting the stack ${PROJECT} (127.0.0.1:${http_port}/${https_port}, frontend ${subnet})"
  local up_started up_seconds
  up_started=$(date +%s)
  "${ROOT}/scripts/local-stack.sh" up >/dev/null
  up_seconds=$(($(date +%s) - up_started))

  local images
  images=$("${ROOT}/scripts/local-stack.sh" images 2>/dev/null)
  local nginx_image python_image
  nginx_image=$(sed -n 's/^NGINX_IMAGE=//p' <<<"${images}")
  python_image=$(sed -n 's/^PYTHON_IMAGE=//p' <<<"${images}")

  local args=(measure --project "${PROJECT}" --state "${STATE}" --app-image "${APP_IMAGE}"
    --python-image "${python_image}" --nginx-image "${nginx_image}" --wrk-image "${WRK_IMAGE}"
    --up-seconds "${up_seconds}" --started "${started}")
  ((QUICK)) && args+=(--quick)
  args+=(--deploy-figures "${ROOT}/bench/deploy.json")
  [[ -n "${BENCH_FIGURES:-}" ]] && args+=(--figures-out "${BENCH_FIGURES}")
  if ((!QUICK)) && [[ "${BENCH_KEEP_DOC:-0}" != 1 ]]; then
    args+=(--write-doc "${ROOT}/docs/benchmarks.md")
  fi
  bench_py "${args[@]}"
}

main
