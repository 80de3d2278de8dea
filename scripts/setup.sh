#!/usr/bin/env bash
# Create .venv with Python >= 3.11 and install scenetag into it with every extra (bot, worker, ml) and its dev
# tools (pytest, ruff): the tests run all three parts.
#
#   scripts/setup.sh            # idempotent: skips pip when the dependency files did not change
#   PYTHON=python3.12 scripts/setup.sh
#   VENV=/path/to/venv scripts/setup.sh
#
# torch/torchvision come first from scripts/requirements-torch.txt, then `pip install -e '.[bot,worker,ml,dev]'`,
# whose torch range is then already satisfied (so pip never swaps in another CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/system.sh
source scripts/lib/system.sh

VENV=${VENV:-.venv}
STAMP="$VENV/.scenetag-installed"
EXTRAS=".[bot,worker,ml,web,dev]"

# The first interpreter that is Python >= 3.11: $PYTHON if given, else the newest of the usual names.
find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Debian splits venv/ensurepip into python3.X-venv; install it when creating the venv fails for that reason.
create_venv() {
    local python=$1
    if "$python" -m venv "$VENV" 2>/dev/null; then
        return 0
    fi
    rm -rf "$VENV"
    local version
    version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${version}-venv"
    "$python" -m venv "$VENV"
}

dependency_hash() {
    cat pyproject.toml scripts/requirements-torch.txt | sha256sum | cut -d' ' -f1
}

main() {
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        python=$(find_python) || die "Python >= 3.11 not found (tried ${PYTHON:-} python3.13 python3.12 python3.11 python3); on Debian/Ubuntu: apt-get install python3 python3-venv, or set PYTHON=/path/to/python3.11"
        echo "==> creating $VENV with $python ($("$python" --version 2>&1))"
        create_venv "$python"
    fi
    local want
    want="$(dependency_hash) $("$VENV/bin/python" --version 2>&1)"
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        echo "==> $VENV is up to date"
        return 0
    fi
    local pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
    echo "==> installing torch + torchvision (several GB on first install; a few minutes)"
    "${pip[@]}" install --quiet --progress-bar off --upgrade "pip>=24"
    "${pip[@]}" install --quiet --progress-bar off -r scripts/requirements-torch.txt
    echo "==> installing scenetag (bot, worker, ml) with its dev tools"
    "${pip[@]}" install --quiet --progress-bar off -e "$EXTRAS"
    echo "$want" >"$STAMP"
    echo "==> $VENV ready"
}

main "$@"
