#!/usr/bin/env bash
# Make sure the local PostgreSQL the tests use is up (127.0.0.1:5432, trust auth).
set -euo pipefail
host=${XINYONG_PG_HOST:-127.0.0.1}
port=${XINYONG_PG_PORT:-5432}
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "PostgreSQL is down; starting cluster $version/main" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h "$host" -p "$port" && exit 0
    sleep 1
  done
fi
echo "错误：无法连接 PostgreSQL（$host:$port）。测试需要本机 PostgreSQL：请安装并启动后重试。" >&2
exit 1
