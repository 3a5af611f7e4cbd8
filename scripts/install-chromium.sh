#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser tests (test/harness/browser.ts drives
# /usr/bin/chromium with playwright-core). Browsers are never downloaded from elsewhere: only the
# distribution's package, and only when /usr/bin/chromium is missing. Needs root (CI runs as root on a
# fresh Debian machine) or sudo.
set -euo pipefail

[[ -x /usr/bin/chromium ]] && exit 0
command -v apt-get >/dev/null || { echo "kubegate: the browser tests need /usr/bin/chromium; install your distribution's chromium" >&2; exit 1; }
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "kubegate: installing Debian's chromium for the browser tests"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium
