#!/usr/bin/env bash
# The web console (frontend/): build it and serve it on the API's origin for a local stack.
# Usage: scripts/console.sh build|up|down|status
#   build  npm ci (when package-lock.json changed) + type check + vite build (when the sources changed)
#   up     build, then start infra/local/console_server.py for the stack in $STACK_DIR (reads its env
#          file), print the URL and write CONSOLE_URL to that env file. Port: the API's port - 5000
#          (dev 3080, test 3090, plus STACK_PORT_OFFSET: clear of every other port of every stack).
#   down   stop the console server of that stack
# STACK / STACK_DIR / STACK_PORT_OFFSET as for scripts/stack.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK="${STACK:-dev}"
if [ "$STACK" = test ]; then STACK_DIR="${STACK_DIR:-$ROOT/.local/test}"; else STACK_DIR="${STACK_DIR:-$ROOT/.local}"; fi
PIDS="$STACK_DIR/pids"; LOGS="$STACK_DIR/logs"; FE="$ROOT/frontend"
PY="$ROOT/.venv/bin/python"; [ -x "$PY" ] || PY=python3
mkdir -p "$PIDS" "$LOGS"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
node_ok() { # Node.js >= 20.19 (Vite 7)
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
}
hash_of() { (cd "$FE" && find "$@" -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum 2>/dev/null | sha256sum | cut -c1-16); }

build() {
  say "Web console (frontend/)"
  if ! node_ok; then
    echo "    Node.js >= 20.19 and npm are needed to build the console (found: $(node --version 2>/dev/null || echo none)); skipping it" >&2
    return 3
  fi
  local lock; lock="$(hash_of package-lock.json package.json)"
  if [ ! -d "$FE/node_modules" ] || [ "$(cat "$FE/node_modules/.recon-lock" 2>/dev/null)" != "$lock" ]; then
    (cd "$FE" && npm ci --no-audit --no-fund --loglevel=error) >"$LOGS/console-npm.log" 2>&1 || { tail -n 25 "$LOGS/console-npm.log" >&2; echo "FAILED: npm ci (frontend)" >&2; return 1; }
    echo "$lock" > "$FE/node_modules/.recon-lock"
  fi
  local src; src="$(hash_of src index.html package-lock.json tsconfig.json vite.config.ts openapi.json)"
  if [ -f "$FE/dist/index.html" ] && [ "$(cat "$FE/.build-stamp" 2>/dev/null)" = "$src" ]; then
    echo "    up to date (frontend/dist)"; return 0
  fi
  local t0=$SECONDS
  (cd "$FE" && npm run build) >"$LOGS/console-build.log" 2>&1 || { tail -n 30 "$LOGS/console-build.log" >&2; echo "FAILED: console build" >&2; return 1; }
  echo "$src" > "$FE/.build-stamp"
  echo "    built frontend/dist in $((SECONDS - t0)) s ($(du -sk "$FE/dist" | cut -f1) KB)"
}

alive() { [ -f "$PIDS/console.pid" ] && kill -0 "$(cat "$PIDS/console.pid")" 2>/dev/null; }

up() {
  [ -f "$STACK_DIR/env" ] || { echo "no $STACK_DIR/env: start the stack first (scripts/stack.sh up)" >&2; return 1; }
  local rc=0; locked_build || rc=$?
  [ $rc = 3 ] && return 0          # no Node.js: the stack runs without its console
  [ $rc = 0 ] || return $rc
  local api_url storage api_port port
  api_url="$(sed -n 's/^API_URL=//p' "$STACK_DIR/env")"; storage="$(sed -n 's/^AWS_ENDPOINT_URL=//p' "$STACK_DIR/env")"
  api_port="$(printf '%s' "$api_url" | sed -E 's#^https?://[^:/]+:([0-9]+).*#\1#')"
  port="${CONSOLE_PORT:-$((api_port - 5000))}"
  if alive && [ "$(cat "$PIDS/console.port" 2>/dev/null)" = "$port" ]; then
    echo "    console server already running (pid $(cat "$PIDS/console.pid"))"
  else
    down >/dev/null 2>&1 || true
    setsid "$PY" -m infra.local.console_server --host 127.0.0.1 --port "$port" --api "$api_url" --storage "$storage" --dist "$FE/dist" \
      >"$LOGS/console.log" 2>&1 < /dev/null &
    echo $! > "$PIDS/console.pid"; echo "$port" > "$PIDS/console.port"
    local deadline=$((SECONDS + 20))
    until "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; do
      alive || { tail -n 20 "$LOGS/console.log" >&2; echo "FAILED: console server exited" >&2; return 1; }
      [ $SECONDS -ge $deadline ] && { echo "FAILED: console server did not listen on $port" >&2; return 1; }
      sleep 0.2
    done
  fi
  local url="http://127.0.0.1:$port/"
  grep -v '^CONSOLE_URL=' "$STACK_DIR/env" > "$STACK_DIR/env.tmp"; echo "CONSOLE_URL=$url" >> "$STACK_DIR/env.tmp"; mv "$STACK_DIR/env.tmp" "$STACK_DIR/env"
  echo "    console      $url  (sign in with the key in $STACK_DIR/api-key)"
}

down() {
  local f="$PIDS/console.pid"
  [ -f "$f" ] || return 0
  local pid; pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || true; }
    echo "    stopped console (pid $pid)"
  fi
  rm -f "$f" "$PIDS/console.port"
}

# one build at a time per checkout (several stacks of one checkout may start together)
locked_build() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$FE/.build-lock"; flock -w 900 9 || { echo "FAILED: another console build holds $FE/.build-lock" >&2; return 1; }
  fi
  local rc=0; build || rc=$?
  exec 9>&-   # release the lock (and never hand it to the server started next)
  return $rc
}

case "${1:-}" in
  build) locked_build ;;
  up) up ;;
  down) down ;;
  status) if alive; then echo "  console    running (pid $(cat "$PIDS/console.pid"), port $(cat "$PIDS/console.port"))"; else echo "  console    stopped"; fi ;;
  *) echo "usage: $0 build|up|down|status" >&2; exit 2 ;;
esac
