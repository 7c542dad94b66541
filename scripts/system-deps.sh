#!/usr/bin/env bash
# Debian packages the test suite needs (scripts/system-packages.txt, plus $XINYONG_SYSTEM_PACKAGES).
# Installs only what is missing; a no-op when all are present.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wanted="$(sed -e 's/#.*//' "$here/system-packages.txt" 2>/dev/null || true) ${XINYONG_SYSTEM_PACKAGES:-}"
needed=()
for pkg in $wanted; do
  dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
  echo "installing system packages: ${needed[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi
