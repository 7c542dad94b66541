#!/usr/bin/env bash
# A long schemathesis run over every API operation, as every kind of caller, on SQLite and
# PostgreSQL (make test runs the same test with a few examples per operation).
#   scripts/fuzz.sh            200 examples per operation and generation mode
#   scripts/fuzz.sh 1000       more
#   FUZZ_DB=postgresql scripts/fuzz.sh   one database only
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-200}"
select="${FUZZ_DB:+-k $FUZZ_DB}"
XINYONG_FUZZ_EXAMPLES="$examples" XINYONG_REQUIRE_PG=1 .venv/bin/python -m pytest tests/ops/test_fuzz.py \
  -q -s -p no:cacheprovider $select
