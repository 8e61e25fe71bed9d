#!/usr/bin/env bash
# recon local stack: PostgreSQL, LocalStack (host mode), the CQL dev server, the API and the local
# Lambda runner. Usage: scripts/stack.sh up [--no-demo]|down|status|demo|pg-restart|ports
#   up          idempotent: starts what is not running; loads demo data only when it is absent
#   demo        reloads the demo data (truncates the demo tables) on a running stack
#   pg-restart  starts the private PostgreSQL again (after a crash), with the options of `up`
#   ports       prints the ports of the stack (with STACK and STACK_PORT_OFFSET)
#   STACK=dev  (default) state in .local/,      ports: API 8080, LocalStack 4566, PG 15432, CQL 9042
#   STACK=test            state in .local/test/, ports: API 8090, LocalStack 4576, PG 15442, CQL 9052
#   STACK_PORT_OFFSET=N   adds N to every port (several checkouts on one machine)
# Honours DATABASE_URL, AWS_ENDPOINT_URL and CASSANDRA_HOSTS when they point at services you run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/path.sh"
cd "$ROOT"
STACK="${STACK:-dev}"
if [ "$STACK" = test ]; then
  STACK_DIR="${STACK_DIR:-$ROOT/.local/test}"; API_PORT=8090; LS_PORT=4576; PG_PORT=15442; CQL_PORT=9052
else
  STACK_DIR="${STACK_DIR:-$ROOT/.local}"; API_PORT=8080; LS_PORT=4566; PG_PORT=15432; CQL_PORT=9042
fi
# every port is below Linux's ephemeral range (32768-60999). In it, while PostgreSQL is down, the clients
# retrying 127.0.0.1:P are sooner or later given local port P and connect to themselves (measured: one in
# about 5,000 attempts for an even P), and PostgreSQL then cannot listen on P again until they let go
# STACK_PORT_OFFSET shifts every port, so that several checkouts can run their stacks side by side
OFF="${STACK_PORT_OFFSET:-0}"
API_PORT=$((API_PORT + OFF)); LS_PORT=$((LS_PORT + OFF)); PG_PORT=$((PG_PORT + OFF)); CQL_PORT=$((CQL_PORT + OFF))
CONSOLE_PORT="${CONSOLE_PORT:-$((API_PORT - 5000))}" # as scripts/console.sh chooses it
if [ "${1:-}" = ports ]; then # the ports this stack listens on, one `name port` a line
  printf 'api %s\nlocalstack %s\npostgres %s\ncql %s\nconsole %s\n' "$API_PORT" "$LS_PORT" "$PG_PORT" "$CQL_PORT" "$CONSOLE_PORT"
  exit 0
fi
PIDS="$STACK_DIR/pids"; LOGS="$STACK_DIR/logs"
VENV="$ROOT/.venv"; PY="$VENV/bin/python"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
DEMO_ROWS="${DEMO_ROWS:-2000}"
mkdir -p "$PIDS" "$LOGS"

# external services, when configured, are used as they are (remember what the user gave us)
USER_DATABASE_URL="${DATABASE_URL:-}"
USER_AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-}"
USER_CASSANDRA_HOSTS="${CASSANDRA_HOSTS:-}"
# ... but a shell that sourced a local stack's env file (`set -a; . .local/env`) carries that stack's own
# services (RECON_STACK_SERVICES, written by write_env): those are not the user's, start them here
own_service() { case ",${RECON_STACK_SERVICES:-}," in *",$1,"*) return 0 ;; esac; return 1; }
own_service "$USER_DATABASE_URL" && USER_DATABASE_URL=""
own_service "$USER_AWS_ENDPOINT_URL" && USER_AWS_ENDPOINT_URL=""
own_service "$USER_CASSANDRA_HOSTS:${CASSANDRA_PORT:-9042}" && USER_CASSANDRA_HOSTS=""

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\033[31mFAILED: %s\033[0m\n' "$1" >&2; [ -n "${2:-}" ] && { echo "--- last lines of $2:" >&2; tail -n 25 "$2" >&2 || true; }; exit 1; }

alive() { local f="$PIDS/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

wait_for() { # wait_for <seconds> <description> <command...>: poll until the command succeeds
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}

port_open() { "$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PYEOF
}

start_bg() { # start_bg <name> <command...>: run in its own process group, PID file, log file
  local name="$1"; shift
  if alive "$name"; then echo "    $name already running (pid $(cat "$PIDS/$name.pid"))"; return 0; fi
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
}

stop_one() {
  local name="$1" f="$PIDS/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    echo "    stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

ensure_venv() {
  step "Python environment (.venv)"
  # the stacks of one checkout share .venv: one creates or updates it while the others wait
  exec 8>"$ROOT/.venv.lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n 8; then
    echo "    another stack is installing .venv: waiting for it"
    flock 8
  fi
  [ -x "$PY" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV" || fail "cannot create $VENV (Python 3.11 needed)"
  local want; want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
  if [ "$(cat "$VENV/.recon-reqs" 2>/dev/null)" != "$want" ]; then
    "$PY" -m pip install -q --disable-pip-version-check -r requirements-dev.txt >"$LOGS/pip.log" 2>&1 || fail "pip install -r requirements-dev.txt" "$LOGS/pip.log"
    echo "$want" > "$VENV/.recon-reqs"
  fi
  exec 8>&-   # released before the services start (they would inherit it)
  echo "    $("$PY" --version)"
}

pg_up() {
  if [ -n "$USER_DATABASE_URL" ]; then step "PostgreSQL: using DATABASE_URL"; DATABASE_URL="$USER_DATABASE_URL"; return; fi
  step "PostgreSQL (private cluster, port $PG_PORT)"
  [ -x "$PG_BIN/initdb" ] || fail "PostgreSQL server binaries not found (install Debian's postgresql-15, or set DATABASE_URL)"
  local data="$STACK_DIR/pg" sock="$STACK_DIR/pgsock" as=()
  mkdir -p "$data" "$sock"
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root: run it as an unprivileged user that owns its directories
    local pg_user=postgres; id -u "$pg_user" >/dev/null 2>&1 || pg_user=nobody
    chown "$pg_user" "$data" "$sock"; chmod 700 "$data"
    touch "$LOGS/postgres.log" "$LOGS/initdb.log"; chown "$pg_user" "$LOGS/postgres.log" "$LOGS/initdb.log"
    as=(runuser -u "$pg_user" --)
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    "${as[@]}" "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 >"$LOGS/initdb.log" 2>&1 || fail "initdb" "$LOGS/initdb.log"
  fi
  # a cluster still running on another port (started by an older version of this script, at 54320 or 54330):
  # stopped, to start again on this one
  local on; on="$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$on" ] && [ "$on" != "$PG_PORT" ] && "${as[@]}" "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "    running on port $on: restarting it on $PG_PORT"
    "${as[@]}" "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null || fail "pg_ctl stop" "$LOGS/postgres.log"
  fi
  if ! "${as[@]}" "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    "${as[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$LOGS/postgres.log" -w -t 60 \
      -o "-p $PG_PORT -k $sock -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || fail "pg_ctl start" "$LOGS/postgres.log"
  fi
  head -1 "$data/postmaster.pid" > "$PIDS/postgres.pid"
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='recon'" | grep -q 1 \
    || "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres recon || fail "createdb recon" "$LOGS/postgres.log"
  DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/recon"
}

localstack_up() {
  if [ -n "$USER_AWS_ENDPOINT_URL" ]; then step "AWS: using AWS_ENDPOINT_URL=$USER_AWS_ENDPOINT_URL"; AWS_ENDPOINT_URL="$USER_AWS_ENDPOINT_URL"; return; fi
  step "LocalStack in host mode (port $LS_PORT)"
  [ -f infra/local/localstack.sh ] || fail "infra/local/localstack.sh is missing"
  bash infra/local/localstack.sh install >"$LOGS/localstack-install.log" 2>&1 || fail "LocalStack install" "$LOGS/localstack-install.log"
  STACK_DIR="$STACK_DIR" LOCALSTACK_PORT="$LS_PORT" bash infra/local/localstack.sh start >>"$LOGS/localstack-start.log" 2>&1 \
    || fail "LocalStack start" "$LOGS/localstack.log"
  AWS_ENDPOINT_URL="http://127.0.0.1:$LS_PORT"
}

cassandra_up() {
  if [ -n "$USER_CASSANDRA_HOSTS" ]; then step "Cassandra: using CASSANDRA_HOSTS=$USER_CASSANDRA_HOSTS"; CASSANDRA_HOSTS="$USER_CASSANDRA_HOSTS"; CASSANDRA_PORT="${CASSANDRA_PORT:-9042}"; return; fi
  step "CQL dev server (Cassandra stand-in, port $CQL_PORT)"
  [ -f infra/local/cqlserver/__main__.py ] || fail "the CQL dev server (infra/local/cqlserver) is missing: set CASSANDRA_HOSTS to a real cluster"
  start_bg cqlserver "$PY" -m infra.local.cqlserver --host 127.0.0.1 --port "$CQL_PORT" --data "$STACK_DIR/cassandra.sqlite"
  wait_for 60 "CQL port" port_open "$CQL_PORT" || fail "CQL dev server did not listen on $CQL_PORT" "$LOGS/cqlserver.log"
  CASSANDRA_HOSTS=127.0.0.1; CASSANDRA_PORT="$CQL_PORT"
}

write_env() {
  local own=""   # the services this stack runs itself (not given by the user)
  [ -z "$USER_DATABASE_URL" ] && own="$own,$DATABASE_URL"
  [ -z "$USER_AWS_ENDPOINT_URL" ] && own="$own,$AWS_ENDPOINT_URL"
  [ -z "$USER_CASSANDRA_HOSTS" ] && own="$own,$CASSANDRA_HOSTS:$CASSANDRA_PORT"
  own="${own#,}"
  cat > "$STACK_DIR/env" <<EOT
# written by scripts/stack.sh ($STACK stack); source it: set -a; . $STACK_DIR/env; set +a
DATABASE_URL=$DATABASE_URL
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=${AWS_REGION:-us-east-1}
AWS_DEFAULT_REGION=${AWS_REGION:-us-east-1}
AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
CASSANDRA_HOSTS=$CASSANDRA_HOSTS
CASSANDRA_PORT=$CASSANDRA_PORT
API_URL=http://127.0.0.1:$API_PORT/api/v1
ARTIFACTS_BUCKET=${ARTIFACTS_BUCKET:-recon-artifacts-local}
POWERTOOLS_TRACE_DISABLED=true
POWERTOOLS_METRICS_NAMESPACE=Recon
CATALOG_PATH=${CATALOG_PATH:-$ROOT/config/catalog.yml}
RECON_STACK_SERVICES=$own
EOT
  set -a; . "$STACK_DIR/env"; set +a
}

deploy_infra() {
  step "Deploying infra/ resources to LocalStack (CloudFormation)"
  [ -f infra/local/deploy.py ] || fail "infra/local/deploy.py is missing"
  "$PY" -m infra.local.deploy >"$LOGS/deploy.log" 2>&1 || fail "CloudFormation deploy" "$LOGS/deploy.log"
  # a fresh LocalStack spends ~0.4-0.6 s inside the first execution's Map and SQS task (loading what they need):
  # one empty execution now, so the first run does not wait for it (docs/streams-runtime.md)
  "$PY" -m chalicelib.streams.state_machine warm-up >>"$LOGS/deploy.log" 2>&1 || echo "    (state machine warm-up failed: see $LOGS/deploy.log)"
}

check_catalog() {
  step "Catalog of replicated tables ($CATALOG_PATH)"
  "$PY" -m chalicelib.cdc.catalog "$CATALOG_PATH" >"$LOGS/catalog.log" 2>&1 || fail "the catalog is invalid" "$LOGS/catalog.log"
  sed 's/^/    /' "$LOGS/catalog.log"
}

migrate() {
  step "Database migrations"
  "$PY" -m chalicelib.db.migrate >"$LOGS/migrate.log" 2>&1 || fail "migrations" "$LOGS/migrate.log"
  sed 's/^/    /' "$LOGS/migrate.log"
}

check_storage() { # LocalStack (community) keeps S3 objects in memory only: files whose bytes did not survive a restart become INVALID
  step "Streams files: stored bytes (S3 objects do not survive a LocalStack restart)"
  if "$PY" -m chalicelib.streams.files check-storage >"$LOGS/check-storage.log" 2>&1; then
    sed 's/^/    /' "$LOGS/check-storage.log"
  else
    printf '\033[31m    the check of stored files failed: see %s\033[0m\n' "$LOGS/check-storage.log" >&2
  fi
}

api_key() {
  step "Demo API key (.local/api-key)"
  local keyfile="$STACK_DIR/api-key"
  if [ -f "$keyfile" ] && "$PY" -m chalicelib.cli keys check "$(cat "$keyfile")" >/dev/null 2>&1; then
    echo "    existing key is valid"; local_test_key; return
  fi
  "$PY" -m chalicelib.cli keys create --owner demo@recon.local --quiet > "$keyfile.tmp" 2>"$LOGS/api-key.log" || fail "creating the demo API key" "$LOGS/api-key.log"
  mv "$keyfile.tmp" "$keyfile"; chmod 600 "$keyfile"
  echo "    created for demo@recon.local"
  local_test_key
}

local_test_key() { # the contracts' sample key works against a local stack (never set up on AWS)
  local k="${RECON_LOCAL_TEST_KEY-test-api-key}"
  [ -n "$k" ] || return 0
  "$PY" -m chalicelib.cli keys create --owner test@recon.local --key "$k" --quiet >/dev/null 2>>"$LOGS/api-key.log" \
    && echo "    the contracts' sample key '$k' is accepted too (RECON_LOCAL_TEST_KEY= turns it off)" \
    || echo "    the sample key '$k' could not be registered (see $LOGS/api-key.log)"
}

demo_data() { # on the first start only: an idempotent `up` never touches the user's data (`make demo` reloads)
  [ -f chalicelib/demo/__main__.py ] || fail "the demo data generator (chalicelib/demo) is missing"
  if "$PY" -m chalicelib.demo present >"$LOGS/demo-present.log" 2>&1; then
    step "Demo data: already loaded (reload it with make demo)"; return
  fi
  load_demo
}

load_demo() {
  step "Demo data ($DEMO_ROWS rows per table, with injected drift)"
  "$PY" -m chalicelib.demo load --rows "$DEMO_ROWS" --drift-missing-pg 5 --drift-missing-cass 3 --drift-mismatch 4 \
    --seed 42 --manifest "$STACK_DIR/demo-manifest.json" >"$LOGS/demo.log" 2>&1 || fail "demo data" "$LOGS/demo.log"
  sed 's/^/    /' "$LOGS/demo.log"
}

demo_streams() {
  step "Demo settlement stream (OMS orders -> marketplace -> gateway -> bank)"
  "$PY" -m chalicelib.demo.streams_demo --orders "${DEMO_ORDERS:-1000}" --api "$API_URL" --key-file "$STACK_DIR/api-key" \
    --work-dir "$STACK_DIR/streams-demo" >"$LOGS/streams-demo.log" 2>&1 || fail "demo stream" "$LOGS/streams-demo.log"
  tail -n 1 "$LOGS/streams-demo.log" | sed 's/^/    /'
}

api_up() {
  step "API (chalice local gateway with API Gateway routing and error shapes, http://127.0.0.1:$API_PORT/api/v1)"
  start_bg api "$PY" -m infra.local.api_server --host 127.0.0.1 --port "$API_PORT" --stage local
  wait_for 60 "API port" port_open "$API_PORT" || fail "API did not listen on $API_PORT" "$LOGS/api.log"
}

runner_up() {
  step "Local Lambda runner (SQS and schedules -> Chalice handlers)"
  [ -d infra/local/runner ] || [ -f infra/local/runner.py ] || fail "the local Lambda runner (infra/local/runner) is missing"
  start_bg runner "$PY" -m infra.local.runner --app app:app --concurrency "${RUNNER_CONCURRENCY:-2}"
  wait_for 5 "runner" alive runner || fail "runner exited" "$LOGS/runner.log"
}

up() {
  local demo=1; [ "${1:-}" = "--no-demo" ] && demo=0
  local t0=$SECONDS
  ensure_venv
  pg_up
  localstack_up
  cassandra_up
  write_env
  check_catalog
  deploy_infra
  migrate
  check_storage
  api_key
  [ $demo = 1 ] && demo_data
  api_up
  runner_up
  [ $demo = 1 ] && demo_streams
  # the console is not a dependency of the rest: a failed build is reported, the stack still starts (make test fails on it)
  STACK="$STACK" STACK_DIR="$STACK_DIR" bash scripts/console.sh up || printf '\033[31m    the web console did not start: see %s\033[0m\n' "$LOGS/console-build.log" >&2
  echo
  step "recon is up ($STACK stack, $((SECONDS - t0)) s)"
  cat <<EOT
    API          $API_URL          (key: $STACK_DIR/api-key)
    health       curl -H "Authorization: Bearer \$(cat $STACK_DIR/api-key)" $API_URL/health
    PostgreSQL   $DATABASE_URL
    AWS          $AWS_ENDPOINT_URL (LocalStack)
    Cassandra    $CASSANDRA_HOSTS:$CASSANDRA_PORT
    environment  $STACK_DIR/env      logs: $LOGS/
EOT
}

down() {
  step "Stopping the $STACK stack"
  STACK="$STACK" STACK_DIR="$STACK_DIR" bash scripts/console.sh down || true
  stop_one runner; stop_one api; stop_one cqlserver
  if [ -f "$PIDS/localstack.pid" ]; then STACK_DIR="$STACK_DIR" LOCALSTACK_PORT="$LS_PORT" bash infra/local/localstack.sh stop || true; rm -f "$PIDS/localstack.pid"; fi
  if [ -f "$STACK_DIR/pg/postmaster.pid" ]; then
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u "$(stat -c %U "$STACK_DIR/pg")" --)
    "${as[@]}" "$PG_BIN/pg_ctl" -D "$STACK_DIR/pg" -m fast -w stop >/dev/null && echo "    stopped postgres"
  fi
  rm -f "$PIDS/postgres.pid"
}

demo() { # reload the demo tables (truncates them) on a running stack
  [ -f "$STACK_DIR/env" ] || fail "the $STACK stack is not up: run make up first"
  set -a; . "$STACK_DIR/env"; set +a
  [ -n "$USER_DATABASE_URL" ] && DATABASE_URL="$USER_DATABASE_URL"
  load_demo
}

pg_restart() { # start the private PostgreSQL again after a crash (kill -9) or a stop, with the options of `up`
  [ -n "$USER_DATABASE_URL" ] && fail "DATABASE_URL points at a server this script does not manage"
  pg_up
  echo "    postgres running (pid $(cat "$PIDS/postgres.pid"))"
}

status() {
  for name in postgres localstack cqlserver api runner console; do
    if alive "$name"; then printf '  %-10s running (pid %s)\n' "$name" "$(cat "$PIDS/$name.pid")"
    else printf '  %-10s stopped\n' "$name"; fi
  done
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  pg-restart) pg_restart ;;
  demo) demo ;;
  *) echo "usage: $0 up [--no-demo]|down|status|demo|pg-restart|ports" >&2; exit 2 ;;
esac
