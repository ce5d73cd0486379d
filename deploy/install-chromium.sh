#!/usr/bin/env bash
# Install Chromium from Debian's packages for the browser journeys (tests/e2e, Playwright
# drives /usr/bin/chromium through executable_path; `playwright install` is never used).
#
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium.sh: chromium is missing and installing it needs root (apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x /usr/bin/chromium ]
