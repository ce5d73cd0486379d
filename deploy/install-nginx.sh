#!/usr/bin/env bash
# Install nginx from Debian's packages for the nginx tests and bench (deploy/nginx.conf).
#
# Idempotent: does nothing when nginx is already on PATH. Roost's tests run their own nginx
# instance (own config, own prefix, a free port), so the system service must not run: service
# starts are denied during the install (policy-rc.d, the Debian mechanism), and a system nginx
# that started anyway is stopped again.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-nginx.sh: nginx is missing and installing it needs root (apt-get)" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
added_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Temporary, from Roost deploy/install-nginx.sh: start no services.\nexit 101\n' \
    >"$policy"
  chmod 755 "$policy"
  added_policy=true
fi
remove_policy() { if $added_policy; then rm -f "$policy"; fi; }
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
# nginx-light is a metapackage on Debian 12 (nginx + the echo module); plain nginx is all we need.
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx >/dev/null

# If something started the packaged service anyway (no policy-rc.d honoured), stop it: it would
# hold port 80 with the default site.
if [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
  /usr/sbin/nginx -s quit || true
fi
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
