#!/usr/bin/env bash
# Registry-free image harness: builds local equivalents of the official images
# (python, postgres, nginx, certbot, the monitoring images) plus a systemd test-host
# image, starting from a Debian 13 (trixie) root filesystem made by debootstrap and
# turned into a base image with `docker import`. No registry is contacted; packages
# come from http://deb.debian.org (and, for pip, PyPI through the host's extra CAs).
#
# Usage: docker/images/build.sh [--force] [--verbose] [NAME...]
#   NAME: debian python postgres postgres-18 nginx certbot systemd-host prometheus
#   alertmanager node-exporter postgres-exporter nginx-exporter (default: all).
#   Each image is rebuilt only when it is absent or when the hash of its build
#   inputs (stored in the image label org.djangoapp.inputs-hash) changed.
#   Rebuilding local/debian invalidates every image built on it.
#   --force rebuilds the named images from scratch (fresh debootstrap, no layer
#   cache: picks up current Debian packages); --verbose streams build output.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly HASH_LABEL="org.djangoapp.inputs-hash"
readonly DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
readonly SUITE="trixie"
# Extra CA certificates the host trusts (e.g. a TLS-inspecting egress proxy).
# Copied into the images that talk HTTPS (python, certbot, systemd-host).
readonly HOST_CA_DIR="${HOST_CA_DIR:-/usr/local/share/ca-certificates}"
readonly LOCK_FILE="${IMAGES_LOCK_FILE:-/tmp/djangoapp-images-build.lock}"

# Build order matters: the base comes first.
readonly ALL_IMAGES=(debian python postgres postgres-18 nginx systemd-host certbot
  prometheus alertmanager node-exporter postgres-exporter nginx-exporter)

# Each image's tag is the one docker/images/local.env names (key: the image's name in capitals, `-` as `_`,
# then _IMAGE).
declare -A TAG=()
for name in "${ALL_IMAGES[@]}"; do
  key=${name^^}
  key=${key//-/_}_IMAGE
  TAG[${name}]=$(sed -n "s/^${key}=//p" "$(dirname "${BASH_SOURCE[0]}")/local.env")
  [[ -n "${TAG[${name}]}" ]] || { printf 'build.sh: docker/images/local.env has no %s\n' "${key}" >&2; exit 1; }
done
unset name key
# Images whose build context receives the host's extra CA certificates.
declare -A USES_HOST_CA=([python]=1 [certbot]=1 [systemd-host]=1)
# Images built from another image's directory (default: their own), with these build arguments.
# The monitoring images share one Dockerfile: each is its stage of the same name (TARGET), from the Debian
# package and suite given (forky where Debian 13's version is too old).
declare -A CONTEXT=([postgres-18]=postgres [prometheus]=monitoring [alertmanager]=monitoring
  [node-exporter]=monitoring [postgres-exporter]=monitoring [nginx-exporter]=monitoring)
declare -A BUILD_ARGS=([postgres-18]="PG_MAJOR=18 PG_SUITE=forky" [nginx]="SUITE=forky"
  [prometheus]="PACKAGE=prometheus SUITE=forky"
  [alertmanager]="PACKAGE=prometheus-alertmanager SUITE=forky"
  [node-exporter]="PACKAGE=prometheus-node-exporter SUITE=trixie"
  [postgres-exporter]="PACKAGE=prometheus-postgres-exporter SUITE=trixie"
  [nginx-exporter]="PACKAGE=prometheus-nginx-exporter SUITE=trixie")
declare -A TARGET=([prometheus]=prometheus [alertmanager]=alertmanager [node-exporter]=node-exporter
  [postgres-exporter]=postgres-exporter [nginx-exporter]=nginx-exporter)

FORCE=0
VERBOSE=0
WORK=""

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

log() { printf '%s\n' "$*" >&2; }

cleanup() {
  if [[ -n "${WORK}" && -d "${WORK}" ]]; then
    # A debootstrap interrupted half-way may leave /proc or /sys mounted.
    if [[ -d "${WORK}/rootfs" ]]; then
      local m
      while read -r m; do umount -l "${m}" 2>/dev/null || true; done \
        < <(awk -v r="${WORK}/rootfs" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r)
    fi
    rm -rf "${WORK}"
  fi
}

# Runs a build step, its output in a log file (or on stderr with --verbose);
# on failure prints the end of the log.
run_logged() {
  local logfile="${WORK}/build.log"
  if ((VERBOSE)); then
    "$@" >&2
    return
  fi
  if ! "$@" >"${logfile}" 2>&1; then
    log "---- last lines of the build log ----"
    tail -n 60 "${logfile}" >&2
    return 1
  fi
}

host_ca_files() {
  if [[ -d "${HOST_CA_DIR}" ]]; then
    find "${HOST_CA_DIR}" -maxdepth 1 -type f -name '*.crt' -print | LC_ALL=C sort
  fi
}

image_label() {
  docker image inspect --format "{{ index .Config.Labels \"${HASH_LABEL}\" }}" "$1" 2>/dev/null || true
}

image_id() {
  docker image inspect --format '{{ .Id }}' "$1" 2>/dev/null || true
}

# Hash of everything that determines an image: the recipe code in this script,
# the files of its directory, the host CAs it carries and the base image id.
inputs_hash() {
  local name="$1"
  {
    printf 'recipe-version 1\nname %s\ntag %s\n' "${name}" "${TAG[${name}]}"
    if [[ "${name}" == debian ]]; then
      printf 'mirror %s\nsecurity %s\nsuite %s\n' "${DEBIAN_MIRROR}" "${DEBIAN_SECURITY_MIRROR}" "${SUITE}"
      declare -f build_debian configure_rootfs import_rootfs
    else
      declare -f build_from_dockerfile
      printf 'base %s\nargs %s\n' "$(image_id "${TAG[debian]}")" "${BUILD_ARGS[${name}]:-}"
      [[ -z "${TARGET[${name}]:-}" ]] || printf 'target %s\n' "${TARGET[${name}]}"
      (cd "${HERE}/${CONTEXT[${name}]:-${name}}" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
      if [[ -n "${USES_HOST_CA[${name}]:-}" ]]; then
        local f
        while read -r f; do
          [[ -n "${f}" ]] && printf 'ca %s %s\n' "$(basename "${f}")" "$(sha256sum <"${f}" | cut -d' ' -f1)"
        done < <(host_ca_files)
      fi
    fi
  } | sha256sum | cut -d' ' -f1
}

# Files written into the debootstrap root filesystem before it is imported.
configure_rootfs() {
  local root="$1"
  rm -f "${root}/etc/apt/sources.list"
  cat >"${root}/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: ${DEBIAN_MIRROR}
Suites: ${SUITE} ${SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_SECURITY_MIRROR}
Suites: ${SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  cat >"${root}/etc/apt/apt.conf.d/90-container" <<'APTCONF'
// Container images: no recommends/suggests, no package cache kept.
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APTCONF
  cat >"${root}/etc/dpkg/dpkg.cfg.d/90-container-excludes" <<'DPKGCONF'
# Container images: no documentation (licences are kept).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
DPKGCONF
  # Services must not start while packages are installed during image builds
  # (local/systemd-host removes this file: it boots a real init).
  printf '#!/bin/sh\nexit 101\n' >"${root}/usr/sbin/policy-rc.d"
  chmod 0755 "${root}/usr/sbin/policy-rc.d"
  # No trace of the build host.
  : >"${root}/etc/resolv.conf"
  : >"${root}/etc/hostname"
  rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/apt/archives/*.deb \
    "${root}"/var/cache/apt/*.bin "${root}"/var/log/*.log "${root}"/var/log/apt/* \
    "${root}"/usr/share/man/* "${root}"/usr/share/info/*
  find "${root}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "${root}/usr/share/doc" -mindepth 1 -type d -empty -delete
}

import_rootfs() {
  local root="$1" hash="$2"
  tar --numeric-owner --xattrs -C "${root}" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
    docker import \
      --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL ${HASH_LABEL}=${hash}" \
      --message "debootstrap --variant=minbase ${SUITE}" \
      - "${TAG[debian]}"
}

build_debian() {
  local hash="$1" root="${WORK}/rootfs"
  mkdir -p "${root}"
  if ! command -v debootstrap >/dev/null 2>&1; then
    # A fresh machine may lack it; it is the only host tool the harness needs besides Docker.
    run_logged apt-get update -qq
    run_logged apt-get install -y -qq --no-install-recommends debootstrap
  fi
  run_logged debootstrap --variant=minbase "${SUITE}" "${root}" "${DEBIAN_MIRROR}"
  configure_rootfs "${root}"
  run_logged import_rootfs "${root}" "${hash}"
  rm -rf "${root}"
}

build_from_dockerfile() {
  local name="$1" hash="$2" ctx="${WORK}/context-$1" arg
  mkdir -p "${ctx}"
  cp -a "${HERE}/${CONTEXT[${name}]:-${name}}/." "${ctx}/"
  if [[ -n "${USES_HOST_CA[${name}]:-}" ]]; then
    mkdir -p "${ctx}/extra-ca"
    local f
    while read -r f; do
      [[ -n "${f}" ]] && cp "${f}" "${ctx}/extra-ca/"
    done < <(host_ca_files)
  fi
  local -a nocache=() args=()
  ((FORCE)) && nocache=(--no-cache)
  for arg in ${BUILD_ARGS[${name}]:-}; do args+=(--build-arg "${arg}"); done
  [[ -z "${TARGET[${name}]:-}" ]] || args+=(--target "${TARGET[${name}]}")
  run_logged docker build --progress=plain --pull=false "${nocache[@]}" "${args[@]}" \
    --label "${HASH_LABEL}=${hash}" --tag "${TAG[${name}]}" "${ctx}"
  rm -rf "${ctx}"
}

build_one() {
  local name="$1" tag="${TAG[$1]}" hash current start
  start=${SECONDS}
  hash="$(inputs_hash "${name}")"
  current="$(image_label "${tag}")"
  if ((!FORCE)) && [[ "${current}" == "${hash}" ]]; then
    printf '%-28s up to date (%ds)\n' "${tag}" "$((SECONDS - start))"
    return
  fi
  local old_id new_id
  old_id="$(image_id "${tag}")"
  if [[ "${name}" == debian ]]; then
    build_debian "${hash}"
  else
    build_from_dockerfile "${name}" "${hash}"
  fi
  new_id="$(image_id "${tag}")"
  # Drop the replaced image unless something (a container, a tag) still uses it.
  if [[ -n "${old_id}" && "${old_id}" != "${new_id}" ]]; then
    docker image rm "${old_id}" >/dev/null 2>&1 || true
  fi
  printf '%-28s built in %ds\n' "${tag}" "$((SECONDS - start))"
}

main() {
  local -a wanted=()
  while (($#)); do
    case "$1" in
      -f | --force) FORCE=1 ;;
      -v | --verbose) VERBOSE=1 ;;
      -h | --help) usage; return 0 ;;
      -*) log "unknown option: $1"; usage >&2; return 2 ;;
      *)
        if [[ -z "${TAG[$1]:-}" ]]; then
          log "unknown image: $1 (known: ${ALL_IMAGES[*]})"
          return 2
        fi
        wanted+=("$1")
        ;;
    esac
    shift
  done
  ((${#wanted[@]})) || wanted=("${ALL_IMAGES[@]}")

  docker info >/dev/null 2>&1 || { log "docker engine not reachable"; return 1; }

  # One build at a time on this machine (tests may call this concurrently).
  exec 9>"${LOCK_FILE}"
  flock 9

  WORK="$(mktemp -d "${TMPDIR:-/tmp}/djangoapp-images.XXXXXX")"
  trap cleanup EXIT

  local total_start=${SECONDS} name w need
  for name in "${ALL_IMAGES[@]}"; do
    need=0
    for w in "${wanted[@]}"; do [[ "${w}" == "${name}" ]] && need=1; done
    # Every image is built on local/debian: make sure it is current first,
    # without forcing it unless it was asked for.
    if [[ "${name}" == debian && ${need} -eq 0 ]]; then
      local saved=${FORCE}
      FORCE=0
      build_one debian
      FORCE=${saved}
      continue
    fi
    ((need)) && build_one "${name}"
  done
  printf '%-28s %ds\n' "total" "$((SECONDS - total_start))"
}

main "$@"
