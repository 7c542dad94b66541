#!/usr/bin/env bash
# Debian packages the test suite needs. Installs only what is missing; a no-op when all are present.
set -euo pipefail
needed=()
for pkg in ${XINYONG_SYSTEM_PACKAGES:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
  echo "installing system packages: ${needed[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}"
fi
