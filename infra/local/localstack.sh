#!/usr/bin/env bash
# LocalStack in host mode (no Docker) for the recon local runtime.
#
#   localstack.sh install   create/refresh LocalStack's own venv (idempotent)
#   localstack.sh start     start LocalStack in the background, wait until healthy (idempotent)
#   localstack.sh stop      stop the process recorded in the PID file
#   localstack.sh status    print state; exit 0 when running and healthy, 3 otherwise
#   localstack.sh restart
#
# Environment:
#   LOCALSTACK_VENV       venv path (default <repo>/.local/localstack-venv)
#   STACK_DIR             state/log/pid root (default <repo>/.local)
#   LOCALSTACK_PORT       gateway port on 127.0.0.1 (default 4566)
#   LOCALSTACK_SERVICES   services to enable (default below)
#   LOCALSTACK_START_TIMEOUT  seconds to wait for health (default 180)
#   LOCALSTACK_PYTHON     interpreter used to create the venv (default python3.11)
#   LOCALSTACK_GATEWAY_SERVER  hypercorn (default, binds 127.0.0.1 only) or twisted
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

LOCALSTACK_VENV="${LOCALSTACK_VENV:-$REPO_ROOT/.local/localstack-venv}"
STACK_DIR="${STACK_DIR:-$REPO_ROOT/.local}"
LOCALSTACK_PORT="${LOCALSTACK_PORT:-4566}"
LOCALSTACK_SERVICES="${LOCALSTACK_SERVICES:-sqs,stepfunctions,events,s3,iam,cloudformation,sts,logs}"
LOCALSTACK_START_TIMEOUT="${LOCALSTACK_START_TIMEOUT:-180}"
LOCALSTACK_PYTHON="${LOCALSTACK_PYTHON:-}"

# Newer localstack-core needs Python >= 3.12 or an auth token: keep this pinned.
PINS=(
  "localstack-core[runtime]==4.9.2"
  "cryptography==43.0.3"
  "pyopenssl==24.2.1"
  "service-identity==24.2.0"
  "cbor2==5.6.5"
  "psutil==5.9.8"
)

LOG_FILE="$STACK_DIR/logs/localstack.log"
PID_FILE="$STACK_DIR/pids/localstack.pid"
MARKER="$LOCALSTACK_VENV/.recon-pins"
HEALTH_URL="http://127.0.0.1:$LOCALSTACK_PORT/_localstack/health"
LOG_OFFSET=0

log() { printf 'localstack.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pin_set() { printf '%s\n' "${PINS[@]}"; }

pick_python() {
  if [[ -n "$LOCALSTACK_PYTHON" ]]; then echo "$LOCALSTACK_PYTHON"; return; fi
  local cand
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 \
      && "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      echo "$cand"; return
    fi
  done
  die "no Python 3.11 interpreter found (set LOCALSTACK_PYTHON)"
}

# LocalStack must not see the app's environment (its own boto3/moto/etc. pins).
clean_env() {
  unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV PIP_REQUIRE_VIRTUALENV || true
  unset AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE || true
  # LocalStack reads many env vars as config (DEBUG, EDGE_PORT, HOSTNAME, ...);
  # drop the ones that commonly leak from a developer shell.
  unset DEBUG EDGE_PORT EDGE_BIND_HOST LOCALSTACK_HOST DATA_DIR PERSISTENCE DOCKER_HOST || true
}

cmd_install() {
  local want; want="$(pin_set)"
  # Several stacks of one checkout (make up, make test, STACK_DIR=...) share this venv: one installs
  # while the others wait, then find it up to date. Two pip runs at once rewrite each other's files
  # under a LocalStack that already runs from them (it dies of SIGBUS).
  mkdir -p "$(dirname "$LOCALSTACK_VENV")"
  exec 9>"$LOCALSTACK_VENV.lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    log "another stack is installing $LOCALSTACK_VENV: waiting for it"
    flock 9
  fi
  if [[ -f "$MARKER" && -x "$LOCALSTACK_VENV/bin/python" ]] && [[ "$(cat "$MARKER")" == "$want" ]]; then
    log "venv up to date: $LOCALSTACK_VENV"
    exec 9>&-
    return 0
  fi
  local py; py="$(pick_python)"
  local t0=$SECONDS
  ( clean_env
    if [[ ! -x "$LOCALSTACK_VENV/bin/python" ]]; then
      log "creating venv $LOCALSTACK_VENV with $py"
      mkdir -p "$(dirname "$LOCALSTACK_VENV")"
      "$py" -m venv "$LOCALSTACK_VENV"
    fi
    "$LOCALSTACK_VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    log "installing: ${PINS[*]}"
    # pip warns once per package about unused local index locations: drop that noise only.
    "$LOCALSTACK_VENV/bin/python" -m pip install --quiet "${PINS[@]}" \
      2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
    "$LOCALSTACK_VENV/bin/python" -c 'import localstack.runtime.main' \
      || { echo "localstack import check failed" >&2; exit 1; }
  ) || die "install failed (venv $LOCALSTACK_VENV)"
  printf '%s\n' "$want" >"$MARKER"
  log "installed in $((SECONDS - t0))s: $LOCALSTACK_VENV"
  exec 9>&-   # released before anything started later could inherit it
}

read_pid() { [[ -f "$PID_FILE" ]] && tr -dc '0-9' <"$PID_FILE" || true; }

pid_alive() {
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # A zombie or a recycled PID is not ours: check the command line.
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *localstack.runtime.main* ]]
}

# Print the health JSON; exit 0 only if every requested service is available/running.
health_ok() {
  local body
  body="$(curl -fsS --max-time 3 "$HEALTH_URL" 2>/dev/null)" || return 1
  HEALTH_BODY="$body" SERVICES_WANTED="$LOCALSTACK_SERVICES" python3 - <<'PY'
import json, os, sys
try:
    services = json.loads(os.environ["HEALTH_BODY"]).get("services", {})
except Exception:
    sys.exit(1)
wanted = [s.strip() for s in os.environ["SERVICES_WANTED"].split(",") if s.strip()]
bad = [s for s in wanted if services.get(s) not in ("available", "running")]
sys.exit(1 if bad else 0)
PY
}

cmd_status() {
  local pid; pid="$(read_pid)"
  if pid_alive "$pid"; then
    if health_ok; then
      echo "running pid=$pid port=$LOCALSTACK_PORT healthy log=$LOG_FILE"; return 0
    fi
    echo "running pid=$pid port=$LOCALSTACK_PORT NOT healthy log=$LOG_FILE"; return 3
  fi
  echo "stopped (port=$LOCALSTACK_PORT)"; return 3
}

cmd_start() {
  local pid; pid="$(read_pid)"
  if pid_alive "$pid"; then
    if wait_healthy "$pid" 30; then
      log "already running (pid $pid) on port $LOCALSTACK_PORT"; return 0
    fi
    die "pid $pid is alive but not healthy; see $LOG_FILE (run '$0 stop' first)"
  fi
  rm -f "$PID_FILE"
  [[ -x "$LOCALSTACK_VENV/bin/python" && -f "$MARKER" ]] || cmd_install
  if curl -fsS --max-time 2 "$HEALTH_URL" >/dev/null 2>&1; then
    die "port $LOCALSTACK_PORT already serves LocalStack not started from $PID_FILE; stop it or choose LOCALSTACK_PORT"
  fi
  if port_in_use; then
    die "port $LOCALSTACK_PORT on 127.0.0.1 is in use by another process; free it or choose LOCALSTACK_PORT"
  fi

  mkdir -p "$STACK_DIR/logs" "$STACK_DIR/pids" "$STACK_DIR/localstack"
  # Only this start's part of the (appended) log is searched for bind errors.
  LOG_OFFSET="$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)"
  printf '\n=== localstack.sh start %s (port %s) ===\n' "$(date -u +%FT%TZ)" "$LOCALSTACK_PORT" >>"$LOG_FILE"
  local t0; t0="$(date +%s.%N)"
  (
    clean_env
    export FILESYSTEM_ROOT="$STACK_DIR/localstack"
    export DISABLE_EVENTS=1
    export GATEWAY_LISTEN="127.0.0.1:$LOCALSTACK_PORT"
    export LOCALSTACK_HOST="127.0.0.1:$LOCALSTACK_PORT"
    export SERVICES="$LOCALSTACK_SERVICES"
    export SQS_ENDPOINT_STRATEGY=path
    # The default (twisted) gateway ignores the host part of GATEWAY_LISTEN and
    # binds every interface; hypercorn honours it, so LocalStack stays on loopback.
    export GATEWAY_SERVER="${LOCALSTACK_GATEWAY_SERVER:-hypercorn}"
    export EAGER_SERVICE_LOADING=1
    export SKIP_SSL_CERT_DOWNLOAD=1
    export LOCALSTACK_CLI=0
    export PYTHONUNBUFFERED=1
    cd "$STACK_DIR/localstack"
    # setsid: own process group so 'stop' can take down every child it spawned.
    exec setsid "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main </dev/null >>"$LOG_FILE" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "started pid $pid, waiting for $HEALTH_URL (log: $LOG_FILE)"
  if ! wait_healthy "$pid" "$LOCALSTACK_START_TIMEOUT"; then
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log "LocalStack exited during start-up; last log lines:"
      tail -n 30 "$LOG_FILE" >&2 || true
      die "LocalStack failed to start; see $LOG_FILE"
    fi
    log "last log lines:"; tail -n 30 "$LOG_FILE" >&2 || true
    cmd_stop || true
    die "LocalStack not healthy after ${LOCALSTACK_START_TIMEOUT}s; see $LOG_FILE"
  fi
  local t1; t1="$(date +%s.%N)"
  log "healthy after $(python3 -c "print(round($t1 - $t0, 1))")s (pid $pid, port $LOCALSTACK_PORT)"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$LOCALSTACK_PORT") 2>/dev/null; }

# wait_healthy PID TIMEOUT: poll health until OK, the process dies, or the deadline passes.
wait_healthy() {
  local pid="$1" timeout="$2"
  local deadline=$((SECONDS + timeout)) delay=0.1
  while (( SECONDS < deadline )); do
    kill -0 "$pid" 2>/dev/null || return 1
    health_ok && return 0
    if [[ -f "$LOG_FILE" ]] && tail -c "+$((LOG_OFFSET + 1))" "$LOG_FILE" \
        | grep -qiE "address already in use|error while attempting to bind"; then
      log "LocalStack could not bind 127.0.0.1:$LOCALSTACK_PORT"
      return 1
    fi
    sleep "$delay"
    delay="$(python3 -c "print(min($delay * 1.5, 1.0))")"
  done
  return 1
}

cmd_stop() {
  local pid; pid="$(read_pid)"
  if [[ -z "$pid" ]]; then log "not running (no $PID_FILE)"; return 0; fi
  if ! pid_alive "$pid"; then log "pid $pid not running; removing $PID_FILE"; rm -f "$PID_FILE"; return 0; fi
  local pgid; pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
  log "stopping pid $pid"
  if [[ -n "$pgid" && "$pgid" == "$pid" ]]; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not exit in 30s; sending KILL"
    if [[ -n "$pgid" && "$pgid" == "$pid" ]]; then kill -KILL -- "-$pgid" 2>/dev/null || true
    else kill -KILL "$pid" 2>/dev/null || true; fi
    local d2=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < d2 )); do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  *) echo "usage: $0 {install|start|stop|restart|status}" >&2; exit 2 ;;
esac
