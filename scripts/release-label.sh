#!/usr/bin/env bash
# The release label of a checkout: the app image's tag and APP_RELEASE (the X-App-Release header). The one
# definition, used by the stack role (when stack_release is empty) and by scripts/local-stack.sh.
# Stable across reruns of the same checkout; "-dirty" marks uncommitted changes.
#   scripts/release-label.sh [checkout]      (default: the checkout holding this script)
set -euo pipefail
checkout=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"}
git -C "$checkout" describe --tags --always --dirty --abbrev=12 2>/dev/null || echo unversioned
