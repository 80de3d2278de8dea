#!/usr/bin/env bash
# THE test command (`make test` runs it; so does CI): sets up .venv, makes sure the services the tests need
# can be had, runs `ruff check .` and the whole pytest suite, and prints a summary.
#
#   scripts/test.sh                      # everything
#   scripts/test.sh tests/test_settings.py -x -q   # extra arguments go to pytest
#
# Needs: a redis-server binary (tests start their own servers on free ports), PostgreSQL answering on
# 127.0.0.1:5432 or $TEST_POSTGRES_URL (started or installed from Debian's packages when missing), and a
# compose validator (`docker compose` or Debian's `docker-compose`, best effort) for tests/test_compose.py,
# promtool (best effort) for tests/test_compose_monitoring.py, and Debian's chromium + chromium-driver for the
# dashboard's browser test (tests/test_web_browser.py).
# Exits non-zero when lint fails, any test fails, or no test passed (pytest's exit 5 included).
# TEST_TIMEOUT_SECONDS (default 1800) fails a hung run; VENV picks the venv (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/system.sh
source scripts/lib/system.sh

VENV=${VENV:-.venv}
PG_HOST=127.0.0.1
PG_PORT=5432
# A test-only role, created only where the postgres superuser cannot log in over TCP without a password.
PG_TEST_ROLE=scenetag_test

ensure_redis_server() {
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    # Debian's package starts a system-wide server; the tests never use it (they start their own).
}

pg_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3 2>/dev/null
    else
        timeout 3 bash -c "</dev/tcp/$PG_HOST/$PG_PORT" 2>/dev/null
    fi
}

start_postgres() {
    if ! compgen -G '/etc/postgresql/*/main' >/dev/null; then
        command -v pg_createcluster >/dev/null 2>&1 || apt_install postgresql
        # Debian's package creates cluster "main"; create it where that was turned off or removed.
        compgen -G '/etc/postgresql/*/main' >/dev/null ||
            as_root pg_createcluster "$(basename "$(compgen -G '/usr/lib/postgresql/*' | sort -V | tail -1)")" main
    fi
    local cluster version
    for cluster in /etc/postgresql/*/main; do
        version=$(basename "$(dirname "$cluster")")
        echo "==> starting PostgreSQL $version (cluster main)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    local _
    for _ in $(seq 30); do
        pg_answers && return 0
        sleep 1
    done
    return 1
}

# Export TEST_POSTGRES_URL for the PostgreSQL tests: trust auth as postgres where that works (this
# project's machines), else a password role created through the local socket as the postgres OS user.
export_postgres_url() {
    local trust_url="postgresql://postgres@$PG_HOST:$PG_PORT/postgres"
    # Without a psql client to check with, assume trust auth; the tests report a refused login.
    if ! command -v psql >/dev/null 2>&1 ||
        PGCONNECT_TIMEOUT=3 psql -w "$trust_url" -tAc 'select 1' >/dev/null 2>&1; then
        export TEST_POSTGRES_URL="postgresql+asyncpg://postgres@$PG_HOST:$PG_PORT/postgres"
        return 0
    fi
    echo "==> creating PostgreSQL role $PG_TEST_ROLE for the tests"
    as_root runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_TEST_ROLE') THEN
            CREATE ROLE $PG_TEST_ROLE LOGIN CREATEDB PASSWORD '$PG_TEST_ROLE';
        END IF; END \$\$;" || return 1
    export TEST_POSTGRES_URL="postgresql+asyncpg://$PG_TEST_ROLE:$PG_TEST_ROLE@$PG_HOST:$PG_PORT/postgres"
}

ensure_postgres() {
    if [ -n "${TEST_POSTGRES_URL:-}" ]; then
        echo "==> PostgreSQL tests use TEST_POSTGRES_URL from the environment"
        return 0
    fi
    if { pg_answers || start_postgres; } && export_postgres_url; then
        echo "==> PostgreSQL tests use $TEST_POSTGRES_URL"
        return 0
    fi
    # CI must run them; on a developer's machine they skip (with their reason) rather than block the rest.
    [ -n "${CI:-}" ] && die "PostgreSQL could not be started on $PG_HOST:$PG_PORT (set TEST_POSTGRES_URL)"
    echo "warning: no PostgreSQL on $PG_HOST:$PG_PORT: its tests will be skipped" >&2
}

ensure_compose_validator() {
    docker compose version >/dev/null 2>&1 && return 0
    command -v docker-compose >/dev/null 2>&1 && return 0
    apt_install docker-compose ||
        echo "warning: no compose validator: tests/test_compose.py skips 'docker compose config'" >&2
}

ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return 0
    apt_install chromium chromium-driver && return 0
    # CI must run the browser test; on a developer's machine it skips (with its reason).
    [ -n "${CI:-}" ] && die "chromium and chromium-driver could not be installed (the web browser test needs them)"
    echo "warning: no chromium/chromedriver: tests/test_web_browser.py will be skipped" >&2
}

# promtool for tests/test_compose_monitoring.py (the Prometheus config, alert rules and dashboard queries), best
# effort: only the binary, taken from Debian's prometheus package into the venv (installing the package would
# also start a Prometheus server).
ensure_promtool() {
    command -v promtool >/dev/null 2>&1 || [ -x "$VENV/bin/promtool" ] && return 0
    local deb
    deb=$(mktemp -d)
    if (cd "$deb" && apt-get download prometheus >/dev/null 2>&1 && dpkg -x prometheus_*.deb root) &&
        cp "$deb/root/usr/bin/promtool" "$VENV/bin/promtool"; then
        echo "==> promtool from Debian's prometheus package"
    else
        echo "warning: no promtool: tests/test_compose_monitoring.py skips the Prometheus checks" >&2
    fi
    rm -rf "$deb"
}

# "<passed> passed, <failed> failed, <skipped> skipped" from pytest's JUnit XML.
count_results() {
    "$VENV"/bin/python - "$1" <<'PY'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
total, failed, skipped = (
    sum(int(s.get(key, 0)) for s in suites for key in keys)
    for keys in (("tests",), ("failures", "errors"), ("skipped",))
)
print(f"{total - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
}

main() {
    local started=$SECONDS
    VENV="$VENV" bash scripts/setup.sh
    ensure_redis_server
    ensure_postgres
    ensure_compose_validator
    ensure_chromium
    ensure_promtool

    echo "==> ruff check ."
    local lint=ok
    "$VENV"/bin/ruff check . || lint=FAILED

    local report
    report=$(mktemp -d)
    # shellcheck disable=SC2064  # expand now: $report is local to this function
    trap "rm -rf '$report'" EXIT
    echo "==> pytest"
    local rc=0
    # A hung test must fail the run, not eat CI's time: SIGINT lets pytest print what it has.
    # --foreground keeps pytest in our process group, so Ctrl-C still reaches it.
    timeout --foreground -k 30 -s INT "${TEST_TIMEOUT_SECONDS:-1800}" \
        "$VENV"/bin/pytest --durations=10 --junitxml="$report/junit.xml" "$@" || rc=$?

    local counts="0 passed, 0 failed, 0 skipped"
    [ -f "$report/junit.xml" ] && counts=$(count_results "$report/junit.xml")
    local verdict=ok
    if [ "$lint" != ok ] || [ "$rc" -ne 0 ] || [ "${counts%% passed*}" -eq 0 ]; then
        verdict=FAILED
    fi
    echo "==> summary: ruff $lint; pytest exit $rc$([ "$rc" -eq 5 ] && echo ' (no tests collected)'); $((SECONDS - started)) s in all; $verdict"
    echo "scenetag: $counts"
    [ "$verdict" = ok ]
}

main "$@"
