#!/usr/bin/env bash
# Make sure the Debian packages the tests drive are installed: Chromium for the real-browser tests
# (tests/stack/test_browser.py, through Playwright: there are no browser downloads here, Playwright launches
# /usr/bin/chromium), wrk and h2load for the keep-alive HTTP/1.1 and HTTP/2 clients of the release scenario
# (molecule/release/tests/conftest.py).
set -euo pipefail

log() { printf 'ensure-test-tools: %s\n' "$*" >&2; }

# command -> the Debian package that provides it
declare -A packages=([/usr/bin/chromium]="chromium fonts-liberation" [/usr/bin/wrk]=wrk [/usr/bin/h2load]=nghttp2-client)
missing=()
for command in "${!packages[@]}"; do
  if [ ! -x "${command}" ]; then
    read -r -a wanted <<<"${packages[${command}]}"
    missing+=("${wanted[@]}")
  fi
done
[ "${#missing[@]}" -gt 0 ] || exit 0
[ "$(id -u)" = 0 ] || { log "root is needed to install: ${missing[*]}"; exit 1; }
log "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
