"""The dependency sets pyproject.toml declares, for the packaging and architecture tests.

`requirement_names("bot")` is what `pip install .[bot]` asks for directly (the base dependencies plus the
extra's, following self-references such as `scenetag[worker]`); `import_names` maps distributions to the
top-level modules they install here, so a test can make exactly those unimportable.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# What the bot must never pull in: the model stack and the training tools (canonical distribution names).
MODEL_STACK = {"torch", "torchvision", "onnx", "onnxruntime", "nltk", "tensorboard", "matplotlib"}


def project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement_names(*extras: str) -> set[str]:
    meta = project()
    own = canonicalize_name(meta["name"])
    requirements = [Requirement(line) for line in meta["dependencies"]]
    wanted, seen = list(extras), set()
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in meta["optional-dependencies"][extra]:  # KeyError: no such extra
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == own:
                wanted.extend(requirement.extras)
            else:
                requirements.append(requirement)
    return {canonicalize_name(requirement.name) for requirement in requirements}


def import_names(distributions: set[str]) -> set[str]:
    """Top-level modules installed by `distributions`; each must be installed (`make setup` installs all)."""
    modules: dict[str, set[str]] = {name: set() for name in distributions}
    for module, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            if canonicalize_name(owner) in modules:
                modules[canonicalize_name(owner)].add(module)
    missing = sorted(name for name, found in modules.items() if not found)
    assert not missing, f"not installed here, so the check would prove nothing: {missing}"
    return {module for found in modules.values() for module in found}
