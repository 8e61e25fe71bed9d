#!/usr/bin/env bash
# The whole test suite: starts its own stack (STACK=test, separate ports and state), runs unit,
# integration and end-to-end tests, stops what it started. Extra arguments go to pytest.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. "$ROOT/scripts/path.sh"
export STACK=test
# STACK_DIR and STACK_PORT_OFFSET (scripts/stack.sh) let two checkouts test side by side
export STACK_DIR="${STACK_DIR:-$ROOT/.local/test}"
if ! scripts/stack.sh up --no-demo; then
  echo "the test stack did not start" >&2
  scripts/stack.sh down || true
  exit 1
fi
trap 'scripts/stack.sh down' EXIT
set -a; . "$STACK_DIR/env"; set +a
export RECON_TEST_STACK=1
.venv/bin/python -m pytest -p no:cacheprovider -q -ra --timeout=900 "${@:-tests}"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: treating that as a failure" >&2; exit 1; fi
exit $rc
