#!/usr/bin/env bash
# Entrypoint of local/postgres:<major>, compatible with the official postgres image for
# the interface the project uses:
#   POSTGRES_PASSWORD          superuser password (required unless trust auth)
#   POSTGRES_PASSWORD_FILE     or a file holding it (a Swarm secret), like the official image
#   POSTGRES_USER              superuser name (default postgres)
#   POSTGRES_DB                database created on first start (default = user)
#   POSTGRES_HOST_AUTH_METHOD  auth for TCP connections (default scram-sha-256)
#   POSTGRES_INITDB_ARGS       extra initdb arguments
#   PGDATA                     data directory (default /var/lib/postgresql/data)
# On an empty data directory it runs initdb, creates the database and runs
# /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz once; then it execs the
# server as user postgres in the foreground (PID 1 receives the signals).
set -Eeuo pipefail

if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi

# Anything else than the server (bash, psql, ...) runs as asked.
if [[ "${1:-}" != postgres ]]; then
  exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# The official image's VAR_FILE convention, for the variable this entrypoint reads.
if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
  if [[ -n "${POSTGRES_PASSWORD:-}" ]]; then
    printf 'error: both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set (but are exclusive)\n' >&2
    exit 1
  fi
  POSTGRES_PASSWORD=$(<"${POSTGRES_PASSWORD_FILE}")
fi

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "${PGDATA}" /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  # A bind-mounted directory may not be ours to change: ignore that.
  chown -R postgres:postgres "${PGDATA}" 2>/dev/null || true
  chmod 0700 "${PGDATA}" 2>/dev/null || true
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
fi

log() { printf '%s docker-entrypoint: %s\n' "$(date -u '+%F %T UTC')" "$*" >&2; }

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-${POSTGRES_USER}}"
POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

run_initdb_d() {
  local f
  if [[ -d /docker-entrypoint-initdb.d && ! -x /docker-entrypoint-initdb.d ]]; then
    log "warning: /docker-entrypoint-initdb.d is not readable by user postgres; skipped"
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [[ -e "${f}" ]] || continue
    case "${f}" in
      *.sh)
        if [[ -x "${f}" ]]; then
          log "running ${f}"
          "${f}"
        else
          log "sourcing ${f}"
          # shellcheck disable=SC1090
          . "${f}"
        fi
        ;;
      *.sql)
        log "running ${f}"
        psql_init -f "${f}"
        ;;
      *.sql.gz)
        log "running ${f}"
        gunzip -c "${f}" | psql_init
        ;;
      *) log "ignoring ${f}" ;;
    esac
  done
}

psql_init() {
  psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc \
    --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" "$@"
}

initialise() {
  if [[ -z "${POSTGRES_PASSWORD:-}" && "${POSTGRES_HOST_AUTH_METHOD}" != trust ]]; then
    log "error: database is uninitialized and superuser password is not specified."
    log "       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, never in production)."
    exit 1
  fi
  log "initialising ${PGDATA}"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words
  if [[ -n "${POSTGRES_PASSWORD:-}" ]]; then
    initdb --username="${POSTGRES_USER}" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD}") \
      ${POSTGRES_INITDB_ARGS:-} >/dev/null
  else
    initdb --username="${POSTGRES_USER}" ${POSTGRES_INITDB_ARGS:-} >/dev/null
  fi
  printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD}" >>"${PGDATA}/pg_hba.conf"

  # Temporary server reachable only through the Unix socket.
  export PGPASSWORD="${POSTGRES_PASSWORD:-}"
  pg_ctl -D "${PGDATA}" -o "-c listen_addresses='' -p 5432" -w -s start
  if [[ "${POSTGRES_DB}" != postgres ]]; then
    psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "${POSTGRES_USER}" \
      --dbname postgres --set db="${POSTGRES_DB}" <<<'CREATE DATABASE :"db";' >/dev/null
  fi
  run_initdb_d
  pg_ctl -D "${PGDATA}" -m fast -w -s stop
  unset PGPASSWORD
  log "initialisation complete; ready for start up"
}

if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
  initialise
fi

exec "$@"
