#!/usr/bin/env bash
# Install into .venv and run scenetag on this machine; Ctrl-C stops everything it started.
#
#   1. Redis: REDIS_URL if something answers there, else a local redis-server on that port (installed from
#      Debian's packages when missing; its files under DATA_DIR/redis)
#   2. the database migrations (`alembic upgrade head`: SQLite under DATA_DIR unless DATABASE_URL is set)
#   3. scenetag-worker, waiting until it has registered with the queue
#   4. scenetag-bot when BOT_TOKEN is set; without it, a demo on ml/samples/ (`ml predict`, then the same
#      photos through Redis and the running worker) and how to set the token; the worker keeps running.
#   5. scenetag-web (the dashboard and the HTTP API) when BOT_TOKEN and WEB_SESSION_SECRET are both set.
#
# Variables are the services' own (environment first, then .env; see .env.example).
# SKIP_SETUP=1 skips scripts/setup.sh (an existing venv); VENV picks the venv (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/system.sh
source scripts/lib/system.sh

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
WORKER_NAME="scenetag-local-$$"
STARTED=()   # pids of what we started, in start order
NAMES=()

# The value a service will see: the environment first, then .env, else the default given.
setting() {
    "$PY" - "$1" "$2" <<'PY'
import os
import sys

from dotenv import dotenv_values

name, default = sys.argv[1:]
print(os.environ.get(name) or dotenv_values(".env").get(name) or default)
PY
}

redis_answers() {
    "$PY" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()' "$1" \
        >/dev/null 2>&1
}

# Start a command in its own session (so Ctrl-C reaches only this script, which then stops each child
# once: a second signal would make RQ's worker abandon the photo in hand) and remember it.
start() {
    local name=$1
    shift
    setsid "$@" &
    STARTED+=("$!")
    NAMES+=("$name")
}

stop_all() {
    trap - INT TERM HUP EXIT
    local i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        if kill -0 "${STARTED[i]}" 2>/dev/null; then
            echo "==> stopping ${NAMES[i]} (pid ${STARTED[i]})"
            kill -TERM "${STARTED[i]}" 2>/dev/null || true
            wait "${STARTED[i]}" 2>/dev/null || true
        fi
    done
}

# REDIS_URL as it may be shown: its password (redis://:PASSWORD@host) as ***.
redacted() { printf '%s' "$1" | sed -E 's#(://[^/@:]*:)[^/@]*@#\1***@#'; }

ensure_redis() {
    local url=$1 data_dir=$2 shown
    shown=$(redacted "$url")
    redis_answers "$url" && { echo "==> Redis answers at $shown"; return 0; }
    local host port
    read -r host port < <("$PY" -c 'import sys; from urllib.parse import urlsplit
u = urlsplit(sys.argv[1]); print(u.hostname or "", u.port or 6379)' "$url")
    case "$host" in
        127.0.0.1 | localhost | ::1) ;;
        *) die "nothing answers at REDIS_URL=$shown and it is not on this machine: start that Redis or change REDIS_URL" ;;
    esac
    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server
        # Debian's package may have started its own server on the default port already.
        redis_answers "$url" && { echo "==> Redis answers at $shown"; return 0; }
    fi
    mkdir -p "$data_dir/redis"
    echo "==> starting redis-server on 127.0.0.1:$port (files in $data_dir/redis, log redis.log there)"
    start redis-server redis-server --bind 127.0.0.1 --port "$port" --dir "$(cd "$data_dir/redis" && pwd)" \
        --appendonly yes --logfile redis.log
    local _
    for _ in $(seq 50); do
        redis_answers "$url" && return 0
        sleep 0.2
    done
    die "redis-server did not answer on port $port: see $data_dir/redis/redis.log"
}

migrate() {
    [ -f alembic.ini ] || { echo "==> no alembic.ini yet: skipping migrations"; return 0; }
    echo "==> applying database migrations"
    "$VENV/bin/alembic" upgrade head
}

wait_for_worker() {
    local url=$1 pid=$2 _
    echo "==> waiting for the worker to load the model"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "the worker exited during start-up (see its log above)"
        if "$PY" -c 'import sys, redis; from rq import Worker
connection = redis.Redis.from_url(sys.argv[1])
sys.exit(sys.argv[2] not in {w.name for w in Worker.all(connection=connection)})' "$url" "$WORKER_NAME" \
            2>/dev/null; then
            echo "==> worker $WORKER_NAME ready"
            return 0
        fi
        sleep 1
    done
    die "the worker did not register within 300 s"
}

demo() {
    local samples=(ml/samples/*.jpg ml/samples/*.jpeg ml/samples/*.png)
    local existing=() sample
    for sample in "${samples[@]}"; do
        [ -f "$sample" ] && existing+=("$sample")
    done
    if [ ${#existing[@]} -eq 0 ]; then
        echo "==> no sample photos in ml/samples/: skipping the demo"
    else
        echo "==> demo 1/2: ml predict ${existing[*]}"
        "$VENV/bin/ml" predict "${existing[@]}" || echo "warning: ml predict failed" >&2
        echo "==> demo 2/2: the same photos through Redis and the running worker, as the bot sends them"
        "$PY" scripts/queue_demo.py "${existing[@]}" || echo "warning: the queue demo failed" >&2
    fi
    cat <<'TEXT'

==> BOT_TOKEN is not set, so only the worker runs (Ctrl-C stops it).
    To run the bot too: create a bot with @BotFather in Telegram, then either
        export BOT_TOKEN=123456789:AAE...     (this shell only)
    or  cp .env.example .env  and set BOT_TOKEN= there,
    and run `make run` again.
TEXT
}

main() {
    [ "${SKIP_SETUP:-}" = 1 ] || VENV="$VENV" bash scripts/setup.sh
    trap stop_all EXIT
    trap 'exit 130' INT TERM
    trap 'exit 129' HUP  # terminal closed: the children live in their own sessions, so stop them here

    local redis_url data_dir
    redis_url=$(setting REDIS_URL redis://127.0.0.1:6379/0)
    data_dir=$(setting DATA_DIR data)
    mkdir -p "$data_dir"

    ensure_redis "$redis_url" "$data_dir"
    migrate
    start worker "$VENV/bin/scenetag-worker" --name "$WORKER_NAME"
    local worker_pid=${STARTED[-1]}
    wait_for_worker "$redis_url" "$worker_pid"

    if [ -n "$(setting BOT_TOKEN '')" ]; then
        start bot "$VENV/bin/scenetag-bot"
        echo "==> bot started (pid ${STARTED[-1]}); Ctrl-C stops everything"
        if [ -n "$(setting WEB_SESSION_SECRET '')" ]; then
            start web "$VENV/bin/scenetag-web"
            echo "==> dashboard and HTTP API at $(setting WEB_PUBLIC_URL http://127.0.0.1:9103)"
        fi
    else
        demo
    fi
    # Run until Ctrl-C, or until one of the services exits on its own (then stop the rest).
    local status=0
    wait -n "${STARTED[@]}" || status=$?
    echo "==> a service exited (status $status): stopping the rest" >&2
    return "$status"
}

main "$@"
