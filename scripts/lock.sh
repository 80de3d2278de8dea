#!/usr/bin/env bash
# Regenerate the lock files the Docker images install from, requirements/{bot,web,worker}.lock, with uv
# (`pip install uv`, or UV=/path/to/uv): exact versions and their sha256 hashes, for Python 3.11 on x86_64
# Linux (the images' python:3.11-slim-bookworm). Run it after changing the dependencies in pyproject.toml;
# tests/test_lock.py fails until the locks are in step with it. A version already in a lock is kept when it
# still satisfies pyproject.toml (uv prefers the output file's pins): `--upgrade` takes the newest instead.
#
# The worker's lock leaves out torch, torchvision and efficientnet-lite-pytorch (which only wraps torch):
# torch comes pinned from scripts/requirements-torch.txt, from PyPI's CUDA build or a CPU wheel index
# (TORCH_INDEX_URL), and the two builds need different packages beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
compile=("$UV" pip compile --quiet --generate-hashes --python-version 3.11
         --python-platform x86_64-manylinux_2_28 --custom-compile-command "bash scripts/lock.sh" "$@")

"${compile[@]}" pyproject.toml --extra bot -o requirements/bot.lock
"${compile[@]}" pyproject.toml --extra web -o requirements/web.lock

worker_input=$(mktemp --suffix=.in)
trap 'rm -f "$worker_input"' EXIT
python3 - "$worker_input" <<'PY'
import sys
from pathlib import Path

sys.path.insert(0, "tests")
from lock_support import TORCH_FAMILY, requirements  # the same list tests/test_lock.py checks

Path(sys.argv[1]).write_text("".join(f"{line}\n" for line in requirements("worker", leave_out=TORCH_FAMILY)))
PY
"${compile[@]}" "$worker_input" -o requirements/worker.lock
