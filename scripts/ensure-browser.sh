#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the real-browser tests (tests/stack/test_browser.py), which
# drive it with Playwright: there are no browser downloads here, Playwright launches /usr/bin/chromium.
set -euo pipefail

log() { printf 'ensure-browser: %s\n' "$*" >&2; }

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
[ "$(id -u)" = 0 ] || { log "root is needed to install chromium"; exit 1; }
log "installing Debian's chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
/usr/bin/chromium --version >&2
