"""What each Docker image's lock (requirements/*.lock, written by scripts/lock.sh) must pin: the base
dependencies and the image's extra from pyproject.toml. Shared by scripts/lock.sh and tests/test_lock.py."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Installed apart in the worker image (scripts/requirements-torch.txt, CUDA or CPU build): not locked.
TORCH_FAMILY = frozenset({"torch", "torchvision", "efficientnet-lite-pytorch"})
IMAGES = ("bot", "web", "worker")


def requirements(extra: str, leave_out: frozenset[str] = frozenset()) -> list[str]:
    """pyproject.toml's base dependencies and `extra`'s, as written there, less the named projects."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"][extra]]
    return [line for line in lines if project_name(line) not in leave_out]


def project_name(requirement: str) -> str:
    """'python-telegram-bot[webhooks]>=22' -> 'python-telegram-bot' (normalised: lower case, '-')."""
    name = requirement.split(";", maxsplit=1)[0]
    for stop in "[<>=!~ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")
