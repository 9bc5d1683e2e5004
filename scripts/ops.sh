#!/usr/bin/env bash
# Operator commands against an environment's hosts, from the control node (make manage / status / logs):
#   scripts/ops.sh ENV manage ARGS...     manage.py in a one-off container of the serving release (one host:
#                                         HOST=name when the inventory has several; interactive on a terminal)
#   scripts/ops.sh ENV status             which release serves, slots, database, maintenance, failed units,
#                                         the self-check (certificate expiry, backup age, disk), every host
#   scripts/ops.sh ENV logs [SERVICE] [N] the last N (200) log lines of a service (web = the serving slot)
# ENV is sandbox, staging or prod (ansible/inventories/ENV), or OPS_INVENTORY names another inventory.
# The commands run on the host as installed by the stack role (<project root>/bin/manage and status).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

die() { printf 'ops: %s\n' "$*" >&2; exit 2; }

[[ $# -ge 2 ]] || die "usage: scripts/ops.sh ENV manage ARGS... | status | logs [SERVICE] [LINES]"
ENV_NAME=$1 COMMAND=$2
shift 2
INVENTORY=${OPS_INVENTORY:-ansible/inventories/${ENV_NAME}}
[[ -e "${INVENTORY}" ]] || die "unknown environment '${ENV_NAME}': no inventory ${INVENTORY}"

if [[ -x "${ROOT}/.venv/bin/ansible" ]]; then
  PATH="${ROOT}/.venv/bin:${PATH}"
fi
export ANSIBLE_CONFIG="${ROOT}/ansible/ansible.cfg" ANSIBLE_DEPRECATION_WARNINGS=false
args=(-i "${INVENTORY}")
if [[ "${ENV_NAME}" == sandbox && -f .local/sandbox-secrets.yml ]]; then
  args+=(-e "@.local/sandbox-secrets.yml")
elif [[ -z "${OPS_INVENTORY:-}" && -z "${ANSIBLE_VAULT_PASSWORD_FILE:-}" ]]; then
  args+=(--ask-vault-pass)
fi
# Runs a shell command line on every host (or HOST) as root and prints its output. --playbook-dir: the
# project variables (project_root) live in the playbooks' group_vars.
on_hosts() {
  ansible "${HOST:-all}" "${args[@]}" --playbook-dir ansible/playbooks --become -m ansible.builtin.shell -a "$1"
}

case "${COMMAND}" in
  status)
    on_hosts '{{ project_root }}/bin/status'
    ;;
  logs)
    service=${1:-web} lines=${2:-200}
    [[ "${lines}" =~ ^[0-9]+$ ]] || die "LINES must be a number (got '${lines}')"
    [[ "${service}" =~ ^[a-z][a-z0-9-]*$ ]] || die "SERVICE must be a Compose service name (got '${service}')"
    if [[ "${service}" == web ]]; then
      # Expanded on the host: the slot nginx routes to.
      # shellcheck disable=SC2016
      service='$(readlink {{ project_root }}/run/live)'
    fi
    # Compose 2.26 writes a line-erase sequence before each line, even with --ansi never.
    erase='s/\x1b\[[0-9;]*[A-Za-z]//g'
    on_hosts "docker compose --project-directory {{ project_root }} logs --tail ${lines} ${service} | sed '${erase}'"
    ;;
  manage)
    [[ $# -ge 1 ]] || die "usage: scripts/ops.sh ENV manage ARGS... (e.g. createsuperuser)"
    # Ansible's output is parsed here: no colours.
    export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
    mapfile -t hosts < <(ansible "${HOST:-all}" "${args[@]}" --list-hosts | sed -n 's/^ *//p' | tail -n +2)
    [[ ${#hosts[@]} -eq 1 ]] || die "manage runs on one host: set HOST to one of: ${hosts[*]}"
    # How Ansible reaches the host: a container (docker exec) or SSH; the project root on it.
    IFS='|' read -r connection address user port project_root < <(
      ansible "${hosts[0]}" "${args[@]}" --playbook-dir ansible/playbooks -m ansible.builtin.debug -a \
        "msg={{ [ansible_connection | default('ssh'), ansible_host | default(inventory_hostname),
        ansible_user | default(''), ansible_port | default(22), project_root] | join('|') }}" |
        sed -n -e 's/^ *"msg": "\(.*\)"$/\1/p' -e 's/^ *msg: //p'
    ) || die "could not read how Ansible reaches ${hosts[0]}"
    command=("${project_root}/bin/manage" "$@")
    tty=()
    [[ -t 0 && -t 1 ]] && tty=(-t)
    case "${connection}" in
      docker | community.docker.docker)
        exec docker exec -i "${tty[@]}" "${address}" "${command[@]}" ;;
      *)
        exec ssh "${tty[@]}" -p "${port}" "${user:+${user}@}${address}" sudo "$(printf '%q ' "${command[@]}")" ;;
    esac
    ;;
  *) die "unknown command '${COMMAND}' (manage, status, logs)" ;;
esac
