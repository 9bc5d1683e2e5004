#!/usr/bin/env bash
# Manage the local sandbox "host": a Debian 13 container with systemd as PID 1 (image local/systemd-host:trixie,
# built by docker/images/build.sh) that `make deploy` provisions with Ansible over the docker connection.
# It runs like every Molecule test host: the shared run options are docker/images/systemd-host/run-options.yml
# (as `docker run` arguments from run_options.py there, with the venv's Python when present); only its name
# and ports differ.
#
#   scripts/sandbox-host.sh create    # start it (idempotent) and wait until systemd is up
#   scripts/sandbox-host.sh status    # print its state; exit 0 only when it runs and systemd is up
#   scripts/sandbox-host.sh destroy   # remove it with its anonymous volume (/var/lib/docker)
#
# Environment: SANDBOX_NAME (djangoapp-sandbox), SANDBOX_IMAGE (SYSTEMD_HOST_IMAGE of docker/images/local.env),
# SANDBOX_HTTP_PORT (8080), SANDBOX_HTTPS_PORT (8443), SANDBOX_BIND_ADDR (127.0.0.1), SANDBOX_BOOT_TIMEOUT (90).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST_IMAGES="$ROOT/docker/images"

NAME="${SANDBOX_NAME:-djangoapp-sandbox}"
IMAGE="${SANDBOX_IMAGE:-$(sed -n 's/^SYSTEMD_HOST_IMAGE=//p' "$HOST_IMAGES/local.env")}"
HTTP_PORT="${SANDBOX_HTTP_PORT:-8080}"
HTTPS_PORT="${SANDBOX_HTTPS_PORT:-8443}"
BIND_ADDR="${SANDBOX_BIND_ADDR:-127.0.0.1}"
BOOT_TIMEOUT="${SANDBOX_BOOT_TIMEOUT:-90}"

PYTHON="$ROOT/.venv/bin/python3"
[ -x "$PYTHON" ] || PYTHON=python3

log() { printf 'sandbox-host: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

container_state() {
  docker container inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null || true
}

# systemd reports "running" (or "degraded" when some unit failed, which is still a usable host).
systemd_state() {
  docker exec "$NAME" systemctl is-system-running 2>/dev/null || true
}

wait_for_systemd() {
  local state deadline=$((SECONDS + BOOT_TIMEOUT))
  while ((SECONDS < deadline)); do
    state="$(systemd_state)"
    case "$state" in
      running | degraded) log "systemd is $state in $NAME"; return 0 ;;
    esac
    sleep 1
  done
  die "systemd in $NAME did not finish booting within ${BOOT_TIMEOUT}s (state: ${state:-unknown})"
}

create() {
  local state
  state="$(container_state)"
  case "$state" in
    running)
      log "$NAME already runs" ;;
    "")
      [ -n "$IMAGE" ] || die "no SYSTEMD_HOST_IMAGE in $HOST_IMAGES/local.env"
      docker image inspect "$IMAGE" >/dev/null 2>&1 \
        || die "image $IMAGE is missing: build it with docker/images/build.sh"
      # The shared options, then the image and its command.
      local shared
      shared="$("$PYTHON" "$HOST_IMAGES/systemd-host/run_options.py" "$IMAGE")" \
        || die "cannot read the run options of docker/images/systemd-host/run-options.yml"
      local args=(
        --detach --name "$NAME" --hostname "$NAME"
        --publish "$BIND_ADDR:$HTTP_PORT:80" --publish "$BIND_ADDR:$HTTPS_PORT:443"
        --label djangoapp.sandbox=true
      )
      mapfile -t -O "${#args[@]}" args <<<"$shared"
      log "creating $NAME from $IMAGE (ports $BIND_ADDR:$HTTP_PORT->80, $BIND_ADDR:$HTTPS_PORT->443)"
      docker run "${args[@]}" >/dev/null ;;
    *)
      log "$NAME exists ($state); starting it"
      docker start "$NAME" >/dev/null ;;
  esac
  wait_for_systemd
}

destroy() {
  if [ -n "$(container_state)" ]; then
    docker rm --force --volumes "$NAME" >/dev/null
    log "removed $NAME"
  else
    log "$NAME does not exist"
  fi
}

status() {
  local state
  state="$(container_state)"
  if [ -z "$state" ]; then
    echo "$NAME: absent"
    return 1
  fi
  if [ "$state" != running ]; then
    echo "$NAME: $state"
    return 1
  fi
  local sd
  sd="$(systemd_state)"
  echo "$NAME: running, systemd ${sd:-unknown}, ports: $(docker port "$NAME" | tr '\n' ' ')"
  case "$sd" in
    running | degraded) return 0 ;;
    *) return 1 ;;
  esac
}

case "${1:-}" in
  create) create ;;
  destroy) destroy ;;
  status) status ;;
  *) echo "usage: $0 create|destroy|status" >&2; exit 2 ;;
esac
