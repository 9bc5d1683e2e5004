#!/bin/sh
# The app's database role, run inside the db container as the image's superuser (tasks/db_role.yml pipes it to
# `docker compose exec -T db sh -s`; molecule/default checks it). The app connects as POSTGRES_APP_USER: a
# login role without SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS that owns the database and
# everything in its public schema, so migrations work and COPY ... TO PROGRAM or CREATE ROLE do not. The
# superuser (POSTGRES_USER) stays for backups, restores and this script. It prints one line per change, none
# when everything already is as it should be.
set -eu
: "${POSTGRES_APP_USER:?POSTGRES_APP_USER is not set in the db container}"
: "${POSTGRES_APP_PASSWORD:?POSTGRES_APP_PASSWORD is not set in the db container}"

# Over TCP with the password, as the app logs in: only a failed login sets the password again.
password_ok=0
if PGPASSWORD=$POSTGRES_APP_PASSWORD psql -X -w -q -h 127.0.0.1 -U "$POSTGRES_APP_USER" -d "$POSTGRES_DB" \
  -c 'SELECT 1' >/dev/null 2>&1; then
  password_ok=1
fi

exec psql -X -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" \
  -v role="$POSTGRES_APP_USER" -v password="$POSTGRES_APP_PASSWORD" -v password_ok="$password_ok" <<'SQL'
\set QUIET off
SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec

SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', :'role')
FROM pg_roles
WHERE rolname = :'role'
  AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls OR NOT rolcanlogin) \gexec

\if :password_ok
\else
ALTER ROLE :"role" PASSWORD :'password';
\endif

SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'role')
FROM pg_database
WHERE datname = current_database() AND datdba <> (SELECT oid FROM pg_roles WHERE rolname = :'role') \gexec

-- Owned sequences (serial and identity columns) follow their table.
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                             WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
              n.nspname, c.relname, :'role')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
  AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
  AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'role')
  AND NOT (c.relkind = 'S' AND EXISTS (
    SELECT FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
ORDER BY c.relkind <> 'S', c.oid \gexec
SQL
