#!/usr/bin/env bash
# Make sure a Docker engine with Compose v2 answers on this machine.
# Debian 12's docker.io (20.10) has no Compose v2, so the engine, Compose and buildx come from Debian 13
# through a low-priority apt source; nothing else is taken from it.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

have_engine() { docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }

if have_engine; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! docker compose version >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { log "root is needed to install Docker"; exit 1; }
  # shellcheck source=/dev/null
  . /etc/os-release
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    log "adding Debian 13 (trixie) as a low-priority apt source for docker.io, docker-compose, docker-buildx"
    cat >/etc/apt/sources.list.d/trixie-docker.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    cat >/etc/apt/preferences.d/trixie-docker <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    target=(-t trixie)
  else
    target=()
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${target[@]}" \
    docker.io docker-compose docker-buildx containerd runc iptables >/dev/null
fi

# A client installed elsewhere on PATH (e.g. /usr/local/bin) must still find the Compose plugin.
if ! docker compose version >/dev/null 2>&1; then
  for plugin in /usr/libexec/docker/cli-plugins/docker-compose /usr/lib/docker/cli-plugins/docker-compose; do
    if [ -x "$plugin" ]; then
      mkdir -p /usr/local/lib/docker/cli-plugins
      ln -sf "$plugin" /usr/local/lib/docker/cli-plugins/docker-compose
      break
    fi
  done
fi

if ! docker info >/dev/null 2>&1; then
  # A pid file left by an engine that died with the previous machine run blocks a new start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  if [ -f /run/containerd/containerd.pid ] && ! kill -0 "$(cat /run/containerd/containerd.pid)" 2>/dev/null; then
    rm -f /run/containerd/containerd.pid
  fi
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
fi

have_engine || { log "Docker engine or Compose v2 still unavailable; see /var/log/dockerd.log"; exit 1; }
log "$(docker version --format 'engine {{.Server.Version}}') / $(docker compose version --short | sed 's/^/compose /')"
