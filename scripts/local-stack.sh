#!/usr/bin/env bash
# The Compose stack on this machine: `make up` / `make down`, and the stack test's setup.
#
# Usage: scripts/local-stack.sh COMMAND
#   up                 build the app image, prepare env/secrets/TLS/nginx conf, start the stack, print its URL
#   down [--volumes]   stop and remove the containers (--volumes also deletes the database and static files)
#   url                print the URL of the running stack
#   images             print the chosen base image references (KEY=VALUE), building local ones if needed
#   render-nginx DIR SERVER_NAMES [HTTPS_PORT]
#                      render the nginx role's site template into DIR/site.conf
#                      (scripts/render_nginx_site.py; NGINX_IMAGE, when set, decides the
#                      template choices from its `nginx -V`)
#   compose ARGS...    run `docker compose` on the local stack (e.g. `compose logs -f web`)
#
# Environment (all optional):
#   DEV=1                    add docker/compose.dev.yml: runserver with autoreload, ./app mounted, DEBUG on
#   LOCAL_STACK_DIR          state directory (.local/stack): stack.env, secrets.env, tls/, nginx/, acme/
#                            (touch nginx/maintenance/enabled for maintenance mode)
#   LOCAL_STACK_PROJECT      Compose project name (djangoapp-local)
#   LOCAL_DOMAIN             host name served (localhost); the self-signed certificate is made for it
#   LOCAL_PUBLISH_ADDR       address the ports are published on (127.0.0.1)
#   LOCAL_HTTP_PORT          published HTTP port (9080)
#   LOCAL_HTTPS_PORT         published HTTPS port (9443)
#   LOCAL_FRONTEND_SUBNET    subnet of the nginx<->web network (172.30.80.0/24)
#   LOCAL_MONITORING_SUBNET  subnet of the internal monitoring network (172.30.81.0/24)
#   LOCAL_WEB_REPLICAS       web containers (1); nginx spreads the requests over their sockets
#   APP_IMAGE                tag of the app image built here (djangoapp/web:latest)
#   APP_RELEASE              release label baked into it (default: scripts/release-label.sh)
#   LOCAL_BUILD_FLAGS        extra `docker build` flags (e.g. --no-cache)
#   PYTHON_IMAGE, POSTGRES_IMAGE, NGINX_IMAGE, CERTBOT_IMAGE
#                            base images; by default the official ones when present or pullable, otherwise
#                            the registry-free equivalents of docker/images/local.env (built when missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly NGINX_ROLE="${ROOT}/ansible/roles/nginx"
readonly OFFICIAL_IMAGES_ENV="${ROOT}/docker/images/official.env"
readonly LOCAL_IMAGES_ENV="${ROOT}/docker/images/local.env"

STATE="${LOCAL_STACK_DIR:-${ROOT}/.local/stack}"
PROJECT="${LOCAL_STACK_PROJECT:-djangoapp-local}"
DOMAIN="${LOCAL_DOMAIN:-localhost}"
PUBLISH_ADDR="${LOCAL_PUBLISH_ADDR:-127.0.0.1}"
HTTP_PORT="${LOCAL_HTTP_PORT:-9080}"
HTTPS_PORT="${LOCAL_HTTPS_PORT:-9443}"
FRONTEND_SUBNET="${LOCAL_FRONTEND_SUBNET:-172.30.80.0/24}"
MONITORING_SUBNET="${LOCAL_MONITORING_SUBNET:-172.30.81.0/24}"
WEB_REPLICAS="${LOCAL_WEB_REPLICAS:-1}"
APP_IMAGE="${APP_IMAGE:-djangoapp/web:latest}"

log() { printf 'local-stack: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Value of KEY in an env file (KEY=VALUE lines), empty when absent.
env_value() {
  local key=$1 file=$2
  [[ -f "${file}" ]] || return 0
  sed -n "s/^${key}=//p" "${file}" | tail -n 1
}

# Chooses each base image: the caller's value, else the official image when it is present or can be pulled,
# else the registry-free equivalent (built by docker/images/build.sh when absent or outdated).
select_images() {
  local -A harness_name=([PYTHON_IMAGE]=python [POSTGRES_IMAGE]=postgres [NGINX_IMAGE]=nginx)
  local var ref local_ref
  local -a to_build=()
  for var in PYTHON_IMAGE POSTGRES_IMAGE NGINX_IMAGE; do
    if [[ -n "${!var:-}" ]]; then
      continue
    fi
    ref=$(env_value "${var}" "${OFFICIAL_IMAGES_ENV}")
    if have_image "${ref}" || docker pull --quiet "${ref}" >/dev/null 2>&1; then
      printf -v "${var}" '%s' "${ref}"
    else
      local_ref=$(env_value "${var}" "${LOCAL_IMAGES_ENV}")
      [[ -n "${local_ref}" ]] || die "${ref} cannot be pulled and ${LOCAL_IMAGES_ENV} has no ${var}"
      printf -v "${var}" '%s' "${local_ref}"
      to_build+=("${harness_name[${var}]}")
    fi
  done
  if ((${#to_build[@]})); then
    log "no registry: using the registry-free images (${to_build[*]}) from docker/images/local.env"
    "${ROOT}/docker/images/build.sh" "${to_build[@]}" >&2
  fi
  # The certbot service only runs on demand (profile certbot): its image is not needed to start the stack.
  if [[ -z "${CERTBOT_IMAGE:-}" ]]; then
    CERTBOT_IMAGE=$(env_value CERTBOT_IMAGE "${OFFICIAL_IMAGES_ENV}")
    if ! have_image "${CERTBOT_IMAGE}"; then
      CERTBOT_IMAGE=$(env_value CERTBOT_IMAGE "${LOCAL_IMAGES_ENV}")
    fi
  fi
  export PYTHON_IMAGE POSTGRES_IMAGE NGINX_IMAGE CERTBOT_IMAGE
}

# The Python with Jinja2 for scripts/render_nginx_site.py: the project's virtualenv (`make venv`), else python3.
python_with_jinja() {
  if [[ -x "${ROOT}/.venv/bin/python" ]]; then
    printf '%s\n' "${ROOT}/.venv/bin/python"
  else
    printf '%s\n' python3
  fi
}

# Renders the nginx role's site template (the one Ansible writes on hosts).
render_nginx() {
  local out=$1 names=$2 port=${3:-443}
  local -a extra=(--web-replicas "${WEB_REPLICAS}")
  [[ -z "${NGINX_IMAGE:-}" ]] || extra+=(--nginx-image "${NGINX_IMAGE}")
  [[ ! -f "${STATE}/tls/fullchain.pem" ]] || extra+=(--tls-dir "${STATE}/tls")
  "$(python_with_jinja)" "${ROOT}/scripts/render_nginx_site.py" "${out}" "${names}" "${port}" "${extra[@]}" ||
    die "could not render the nginx site into ${out}"
}

# nginx's own pages (maintenance, throttled) next to the (absent) flag file, as the nginx role installs them.
install_maintenance_page() {
  mkdir -p "${STATE}/nginx/maintenance"
  cp "${NGINX_ROLE}"/files/maintenance/*.html "${STATE}/nginx/maintenance/"
  chmod 0755 "${STATE}/nginx" "${STATE}/nginx/maintenance"
  chmod 0644 "${STATE}"/nginx/maintenance/*.html
}

random_secret() { openssl rand -hex "$1"; }

# Secrets are generated once and kept: the database volume was initialised with that password.
ensure_secrets() {
  local file="${STATE}/secrets.env"
  if [[ -f "${file}" ]]; then
    return
  fi
  if docker volume inspect "${PROJECT}_pgdata" >/dev/null 2>&1; then
    die "volume ${PROJECT}_pgdata exists but ${file} is gone (its password with it);" \
      "run '$0 down --volumes' to start from an empty database"
  fi
  log "generating secrets in ${file}"
  (
    umask 077
    {
      printf '# Generated by scripts/local-stack.sh; delete together with the stack volumes only.\n'
      printf 'DJANGO_SECRET_KEY=%s\n' "$(random_secret 40)"
      printf 'POSTGRES_PASSWORD=%s\n' "$(random_secret 24)"
    } >"${file}"
  )
}

# Self-signed certificate for the local domain, renewed when missing, for another name, or expiring.
ensure_certificate() {
  local dir="${STATE}/tls"
  local cert="${dir}/fullchain.pem" key="${dir}/privkey.pem"
  mkdir -p "${dir}"
  if [[ -f "${cert}" && -f "${key}" ]] &&
    openssl x509 -in "${cert}" -noout -checkend 604800 >/dev/null &&
    openssl x509 -in "${cert}" -noout -checkhost "${DOMAIN}" 2>/dev/null | grep -q 'does match'; then
    return
  fi
  log "creating a self-signed certificate for ${DOMAIN} in ${dir}"
  local san="DNS:${DOMAIN}"
  [[ "${DOMAIN}" == localhost ]] || san="${san},DNS:localhost"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 397 \
    -subj "/CN=${DOMAIN}" -addext "subjectAltName=${san},IP:127.0.0.1" \
    -keyout "${key}.tmp" -out "${cert}.tmp" 2>/dev/null
  # A throwaway key for a local name: readable by nginx's master whatever uid created it (it runs as root
  # without CAP_DAC_OVERRIDE). Real keys stay 0600 root:root.
  chmod 0644 "${key}.tmp" "${cert}.tmp"
  mv "${cert}.tmp" "${cert}"
  mv "${key}.tmp" "${key}"
}

# The single env file of the stack: compose interpolation (--env-file) and the app's env_file (APP_ENV_FILE),
# like the .env Ansible templates on a server. Regenerated at every `up` from the settings above.
write_env_file() {
  local file="${STATE}/stack.env" origin="https://${DOMAIN}"
  [[ "${HTTPS_PORT}" == 443 ]] || origin="${origin}:${HTTPS_PORT}"
  (
    umask 077
    {
      printf '# Generated by scripts/local-stack.sh at every "up"; edit the LOCAL_* variables instead.\n'
      printf '# Compose stack\n'
      printf 'COMPOSE_PROJECT_NAME=%s\n' "${PROJECT}"
      printf 'APP_ENV_FILE=%s\n' "${file}"
      printf 'APP_IMAGE=%s\n' "${APP_IMAGE}"
      printf 'POSTGRES_IMAGE=%s\n' "${POSTGRES_IMAGE}"
      printf 'NGINX_IMAGE=%s\n' "${NGINX_IMAGE}"
      printf 'CERTBOT_IMAGE=%s\n' "${CERTBOT_IMAGE}"
      printf 'PUBLISH_ADDR=%s\n' "${PUBLISH_ADDR}"
      printf 'HTTP_PORT=%s\n' "${HTTP_PORT}"
      printf 'HTTPS_PORT=%s\n' "${HTTPS_PORT}"
      printf 'FRONTEND_SUBNET=%s\n' "${FRONTEND_SUBNET}"
      printf 'MONITORING_SUBNET=%s\n' "${MONITORING_SUBNET}"
      printf 'WEB_REPLICAS=%s\n' "${WEB_REPLICAS}"
      printf 'NGINX_CONF_DIR=%s\n' "${STATE}/nginx/conf.d"
      printf 'NGINX_SNIPPETS_DIR=%s\n' "${NGINX_ROLE}/files/snippets"
      printf 'NGINX_MAINTENANCE_DIR=%s\n' "${STATE}/nginx/maintenance"
      printf 'TLS_CERT_DIR=%s\n' "${STATE}/tls"
      printf 'ACME_WEBROOT=%s\n' "${STATE}/acme"
      printf '# Application\n'
      printf 'DJANGO_DEBUG=False\n'
      printf 'DJANGO_ALLOWED_HOSTS=%s\n' "${DOMAIN}"
      printf 'DJANGO_CSRF_TRUSTED_ORIGINS=%s\n' "${origin}"
      printf 'DJANGO_LOG_FORMAT=plain\n'
      printf 'POSTGRES_DB=app\n'
      printf 'POSTGRES_USER=app\n'
      grep -E '^(DJANGO_SECRET_KEY|POSTGRES_PASSWORD)=' "${STATE}/secrets.env"
    } >"${file}.tmp"
  )
  mv "${file}.tmp" "${file}"
}

compose() {
  local -a files=(-f "${ROOT}/docker/compose.yml")
  if [[ "${DEV:-0}" == 1 ]]; then
    files+=(-f "${ROOT}/docker/compose.dev.yml")
  fi
  docker compose -p "${PROJECT}" --env-file "${STATE}/stack.env" "${files[@]}" "$@"
}

url() {
  local port domain
  port=$(env_value HTTPS_PORT "${STATE}/stack.env")
  domain=$(env_value DJANGO_ALLOWED_HOSTS "${STATE}/stack.env")
  port=${port:-${HTTPS_PORT}}
  domain=${domain:-${DOMAIN}}
  if [[ "${port}" == 443 ]]; then
    printf 'https://%s/\n' "${domain}"
  else
    printf 'https://%s:%s/\n' "${domain}" "${port}"
  fi
}

ensure_docker() {
  if ! docker info >/dev/null 2>&1 || ! docker compose version >/dev/null 2>&1; then
    "${ROOT}/scripts/ensure-docker.sh"
  fi
}

cmd_up() {
  local started release
  started=$(date +%s)
  ensure_docker
  command -v openssl >/dev/null 2>&1 || die "openssl is needed for the local certificate"
  select_images
  mkdir -p "${STATE}/acme"
  chmod 0755 "${STATE}" "${STATE}/acme"

  release=${APP_RELEASE:-$("${ROOT}/scripts/release-label.sh")}
  log "building ${APP_IMAGE} (release ${release}) on ${PYTHON_IMAGE}"
  # shellcheck disable=SC2086 # LOCAL_BUILD_FLAGS is a list of words
  docker build --file "${ROOT}/docker/Dockerfile" ${LOCAL_BUILD_FLAGS:-} \
    --build-arg PYTHON_IMAGE="${PYTHON_IMAGE}" --build-arg APP_RELEASE="${release}" \
    --tag "${APP_IMAGE}" "${ROOT}/app" >&2

  ensure_secrets
  ensure_certificate
  # Everything in conf.d is generated: nothing from an earlier layout may stay next to the site.
  rm -rf "${STATE}/nginx/conf.d"
  render_nginx "${STATE}/nginx/conf.d" "${DOMAIN}" "${HTTPS_PORT}"
  install_maintenance_page
  write_env_file

  log "starting project ${PROJECT}$([[ "${DEV:-0}" == 1 ]] && printf ' (DEV: runserver, ./app mounted)')"
  if ! compose up --detach --wait --wait-timeout 300 >&2; then
    compose ps --all >&2 || true
    compose logs --no-color --tail 40 >&2 || true
    die "the stack did not become healthy"
  fi
  # A re-rendered site.conf is a changed file in a mount: nginx loads it on a graceful reload (Compose does not
  # recreate a container for that). The nginx role's reload script, as on hosts.
  "${NGINX_ROLE}/files/nginx-reload" "${PROJECT}" >&2 || log "warning: nginx reload failed"
  log "up in $(($(date +%s) - started)) s; certificate: ${STATE}/tls/fullchain.pem (self-signed)"
  url
}

cmd_down() {
  local -a args=(--remove-orphans)
  if [[ "${1:-}" == --volumes || "${1:-}" == -v ]]; then
    args+=(--volumes)
  fi
  if [[ -f "${STATE}/stack.env" ]]; then
    compose down "${args[@]}" >&2
  else
    # State already removed (make clean): Compose finds the project's containers and volumes by label.
    docker compose -p "${PROJECT}" down "${args[@]}" >&2
  fi
}

main() {
  local cmd=${1:-}
  shift || true
  case "${cmd}" in
    up) cmd_up ;;
    down) cmd_down "$@" ;;
    url) url ;;
    images)
      select_images
      printf 'PYTHON_IMAGE=%s\nPOSTGRES_IMAGE=%s\nNGINX_IMAGE=%s\nCERTBOT_IMAGE=%s\n' \
        "${PYTHON_IMAGE}" "${POSTGRES_IMAGE}" "${NGINX_IMAGE}" "${CERTBOT_IMAGE}"
      ;;
    render-nginx)
      (($# >= 2)) || die "usage: $0 render-nginx DIR SERVER_NAMES [HTTPS_PORT]"
      render_nginx "$@"
      ;;
    compose) compose "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
