"""docker-compose.yml and .env.example agree with the settings classes, and compose accepts the file.

Variable names come from the settings classes' `model_fields`, so a new setting fails here until it is
passed through docker-compose.yml and documented in .env.example. The compose environments are
interpolated the way compose does it and fed to the settings classes, so a fixed value there (REDIS_URL,
DATABASE_URL) must also be valid for the process that reads it.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings
from redis import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, RedisError
from rq.serializers import JSONSerializer

from bot.settings import BotSettings
from ml.registry.settings import RegistrySettings
from tests.fake_classifier import blue_jpeg, installed_fake
from tests.services import REDIS_BINARY, end_process, free_port, wait_for
from web.settings import WebSettings
from worker.batching import BatchingWorker
from worker.contract import MODEL_INFO_KEY, RESULTS_STREAM
from worker.queue import JobState, build_request, enqueue_photo, fetch_record, photo_queue
from worker.settings import ServiceSettings, WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# The values a deployment must provide; the rest fall back to defaults.
REQUIRED = {
    "BOT_TOKEN": "123456:ABC-def",
    "POSTGRES_PASSWORD": "secret",
    "WEB_SESSION_SECRET": "a-session-secret-of-32-characters-or-more",
    "REDIS_PASSWORD": "servicepassword0123",
    "RQ_DASHBOARD_REDIS_PASSWORD": "dashboardpassword0123",
}
# Each service built from the Dockerfile, with the settings class of the process it runs.
OUR_SERVICES = {"worker": WorkerSettings, "bot": BotSettings, "web": WebSettings}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; `$$` is a literal dollar.
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
REDIS_PORT = 6379
POSTGRES_PORT = 5432


def variable_names(settings_class: type[BaseSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    return {(prefix + name).upper() for name in settings_class.model_fields}


def interpolate(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        value = values.get(name)
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("?") and missing:
            raise KeyError(f"{name}: {arg}")
        if op is not None and op.endswith("-") and missing:
            return arg
        return value or ""

    return INTERPOLATION.sub(replace, text)


def env_example() -> dict[str, str]:
    return dict(re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text()))


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as compose sees it with .env.example plus the required values."""
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env_example() | REQUIRED))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def referenced_variables() -> set[str]:
    return {m.group("name") for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text()) if m.group("name")}


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "redis", "postgres", "worker", "bot", "web", "rq-dashboard", "prometheus", "grafana"
    }


@pytest.mark.parametrize(("service", "settings_class"), OUR_SERVICES.items())
def test_service_environment_is_exactly_its_settings(
    compose: dict[str, Any], service: str, settings_class: type[ServiceSettings]
) -> None:
    assert set(environment(compose["services"][service])) == variable_names(settings_class)


@pytest.mark.parametrize(("service", "settings_class"), OUR_SERVICES.items())
def test_service_environment_builds_valid_settings(
    compose: dict[str, Any],
    service: str,
    settings_class: type[ServiceSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT / "tests")  # no .env here: only the compose values count
    env = environment(compose["services"][service])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_class.from_env()
    # the compose value, read: its own user and password
    assert settings.redis_url == env["REDIS_URL"] == "redis://scenetag:servicepassword0123@redis:6379/0"
    assert settings.log_level == "INFO"  # `${LOG_LEVEL:-}` empty: the default


def test_queue_and_database_urls_point_at_the_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    dashboard_redis = environment(services["rq-dashboard"])["RQ_DASHBOARD_REDIS_URL"]
    dashboard = urlsplit(dashboard_redis)
    for redis_url in (environment(services[name])["REDIS_URL"] for name in OUR_SERVICES):
        url = urlsplit(redis_url)
        assert (url.hostname, url.port or REDIS_PORT) == ("redis", REDIS_PORT)
        assert (url.username, url.password) == ("scenetag", REQUIRED["REDIS_PASSWORD"])
        # the dashboard watches the queue the bot and worker use, as its own user
        assert (dashboard.hostname, dashboard.port, dashboard.path) == (url.hostname, url.port, url.path)
        assert dashboard.username == "rqdashboard"
        assert dashboard.password == REQUIRED["RQ_DASHBOARD_REDIS_PASSWORD"]
    # The dashboard reads the database the bot writes.
    assert environment(services["web"])["DATABASE_URL"] == environment(services["bot"])["DATABASE_URL"]
    database = urlsplit(environment(services["bot"])["DATABASE_URL"])
    postgres = environment(services["postgres"])
    assert database.scheme == "postgresql+asyncpg"
    assert (database.hostname, database.port) == ("postgres", POSTGRES_PORT)
    assert (database.username, database.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert database.path == "/" + postgres["POSTGRES_DB"]


def test_services_wait_for_what_they_need(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["bot"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["bot"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in services, name
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}'s health"


def redis_script(compose: dict[str, Any]) -> str:
    redis = compose["services"]["redis"]
    assert redis["command"][:2] == ["sh", "-c"]
    return redis["command"][2]


def test_redis_persists_queue_with_aof_and_bounds_its_memory(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    script = redis_script(compose)
    assert "--appendonly yes" in script
    assert '--maxmemory "${REDIS_MAXMEMORY}" --maxmemory-policy noeviction' in script
    assert environment(redis)["REDIS_MAXMEMORY"] == "1gb"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_redis_passwords_are_in_no_process_arguments(raw_compose: dict[str, Any]) -> None:
    script = raw_compose["services"]["redis"]["command"][2]
    # `$$`: the container's shell expands them into a 0600 file; compose would put them in the arguments.
    assert "${REDIS_PASSWORD" not in script.replace("$${REDIS_PASSWORD}", "")
    assert "umask 077" in script and "user default off" in script


def test_compose_redis_users_serve_our_queue_and_keep_the_dashboard_to_rq(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The compose Redis's own users and limits, run on the local redis-server: our services' work passes
    the ACL (queue, worker, results, registry, INFO for metrics), the dashboard sees RQ's keys only."""
    if not shutil.which(REDIS_BINARY):
        pytest.skip(f"redis-server not installed at {REDIS_BINARY}")
    port = free_port()
    script = redis_script(compose).replace("/tmp/users.conf", str(tmp_path / "users.conf"))
    script = script.replace("exec redis-server", f"exec {REDIS_BINARY}").rstrip()
    script += f" --port {port} --bind 127.0.0.1 --dir {tmp_path} --appendonly no --save ''"
    env = {**environment(compose["services"]["redis"]), "PATH": os.environ["PATH"]}
    env["REDIS_MAXMEMORY"] = "64mb"
    output = subprocess.DEVNULL
    server = subprocess.Popen(["sh", "-c", script], env=env, stdout=output, stderr=subprocess.STDOUT)
    service = Redis(port=port, username="scenetag", password=REQUIRED["REDIS_PASSWORD"])
    dashboard = Redis(port=port, username="rqdashboard", password=REQUIRED["RQ_DASHBOARD_REDIS_PASSWORD"])
    try:
        wait_for(lambda: _pings(service), 10, "the compose redis-server")
        assert oct(stat.S_IMODE((tmp_path / "users.conf").stat().st_mode)) == "0o600"
        with pytest.raises(AuthenticationError):
            Redis(port=port).ping()  # no password: the default user is off
        memory = service.info("memory")
        assert (memory["maxmemory"], memory["maxmemory_policy"]) == (64 * 1024 * 1024, "noeviction")
        with installed_fake(default_tta=1):
            queue = photo_queue(service)
            job = enqueue_photo(queue, build_request(blue_jpeg(), "acl"))
            BatchingWorker([queue], connection=service, serializer=JSONSerializer).work(burst=True)
        assert fetch_record(queue, job.id).state is JobState.DONE
        assert service.xlen(RESULTS_STREAM) == 1
        for forbidden in (service.flushall, lambda: service.config_get("maxmemory")):
            with pytest.raises(NoPermissionError):
                forbidden()
        assert photo_queue(dashboard).finished_job_registry.get_job_ids() == [job.id]  # RQ's keys: yes
        with pytest.raises(NoPermissionError):
            dashboard.get(MODEL_INFO_KEY)  # the rest: no
    finally:
        service.close()
        dashboard.close()
        end_process(server, 10)


def _pings(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except RedisError:
        return False


def test_worker_reserves_an_nvidia_gpu(compose: dict[str, Any]) -> None:
    devices = compose["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def test_published_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    # Redis and PostgreSQL have no authentication worth the name here: never published.
    for name in ("redis", "postgres", "worker"):
        assert "ports" not in services[name], name
    assert services["rq-dashboard"]["ports"] == ["127.0.0.1:9181:9181"]
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    webhook_port = BotSettings.model_fields["webhook_port"].default
    assert services["bot"]["ports"] == [f"127.0.0.1:{webhook_port}:{webhook_port}"]  # behind the TLS proxy
    web_port = WebSettings.model_fields["web_port"].default
    assert services["web"]["ports"] == [f"127.0.0.1:{web_port}:{web_port}"]  # a login-protected UI, yet local


def test_webhook_port_mapping_follows_the_setting(raw_compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    overridden = yaml.safe_load(interpolate(text, env_example() | REQUIRED | {"WEBHOOK_PORT": "9000"}))
    assert overridden["services"]["bot"]["ports"] == ["127.0.0.1:9000:9000"]
    assert environment(overridden["services"]["bot"])["WEBHOOK_PORT"] == "9000"
    assert raw_compose["services"]["bot"]["environment"]["WEBHOOK_PORT"] == "${WEBHOOK_PORT:-}"


def test_env_example_documents_every_variable() -> None:
    documented = env_example()
    # Besides the services' settings, `ml promote`'s (its REDIS_URL is theirs).
    settings_classes = [*OUR_SERVICES.values(), RegistrySettings]
    settings_variables = set().union(*(variable_names(cls) for cls in settings_classes))
    assert settings_variables <= set(documented), "settings missing from .env.example"
    assert referenced_variables() <= set(documented), "docker-compose.yml variables missing from .env.example"
    assert set(documented) <= settings_variables | referenced_variables(), "stale names in .env.example"
    # Every value empty: copying the example changes nothing until the operator fills something in.
    assert set(documented.values()) == {""}
    # Each run of variable lines sits under a comment that explains it.
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"[A-Z][A-Z0-9_]*=", line):
            above = index - 1
            while above >= 0 and re.match(r"[A-Z][A-Z0-9_]*=", lines[above]):
                above -= 1
            assert above >= 0 and lines[above].startswith("# "), f"{line} has no comment above it"


def test_missing_required_values_stop_interpolation() -> None:
    for name in REQUIRED:
        with pytest.raises(KeyError, match=name):
            interpolate(COMPOSE_FILE.read_text(), env_example() | REQUIRED | {name: ""})


def compose_command() -> list[str] | None:
    """`docker compose` (plugin) or Debian's `docker-compose`, whichever answers; None when neither does."""
    candidates = [["docker", "compose"]] if shutil.which("docker") else []
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60, check=False)
        if probe.returncode == 0:
            return command
    return None


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    command = compose_command()
    if command is None:
        pytest.skip(
            "neither `docker compose` (plugin missing: 'unknown command') nor `docker-compose` works here; "
            "scripts/test.sh installs Debian's docker-compose"
        )
    return command


def run_compose_config(
    compose_cli: list[str], tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    # A copy in an empty folder: compose would otherwise also read a developer's .env next to the file.
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    return subprocess.run(
        [
            *compose_cli,
            "--project-directory",
            str(tmp_path),
            "-f",
            str(tmp_path / "docker-compose.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        # Only what the CLI needs to run: no settings or compose variables from the caller's shell.
        env={key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ} | env,
    )


def test_compose_validates_and_renders_what_we_parsed(
    compose_cli: list[str], compose: dict[str, Any], tmp_path: Path
) -> None:
    result = run_compose_config(compose_cli, tmp_path, **REQUIRED)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == set(compose["services"])
    for name in OUR_SERVICES:
        assert environment(rendered["services"][name]) == environment(compose["services"][name])


def test_compose_refuses_to_start_without_bot_token(compose_cli: list[str], tmp_path: Path) -> None:
    result = run_compose_config(
        compose_cli, tmp_path, **{k: v for k, v in REQUIRED.items() if k != "BOT_TOKEN"}
    )
    assert result.returncode != 0
    assert "BOT_TOKEN" in result.stderr


def test_dockerfile_copies_paths_that_exist_and_are_not_ignored() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    sources = [
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line  # --from copies from a stage, not the context
        for source in [word for word in line.split()[1:] if not word.startswith("--")][:-1]
    ]
    assert sources, "no COPY in the Dockerfile"
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert source.rstrip("/") not in ignored, f"Dockerfile copies {source}, which .dockerignore drops"


def test_service_commands_are_the_project_console_scripts(compose: dict[str, Any]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for service in OUR_SERVICES:
        command = compose["services"][service]["command"]
        assert command[0] in scripts, f"{service} runs {command[0]!r}, not a console script of the project"


def dockerfile_stages() -> dict[str, list[str]]:
    """The Dockerfile's named stages (`FROM ... AS name`) and their instruction lines, comments dropped."""
    stages: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if match := re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE):
            lines = stages.setdefault(match.group(1), [])
        elif line.strip() and not line.startswith("#"):
            lines.append(line)
    return stages


def test_bot_and_worker_build_their_own_dockerfile_targets(compose: dict[str, Any]) -> None:
    stages = dockerfile_stages()
    services = compose["services"]
    for service in OUR_SERVICES:
        build = services[service]["build"]
        assert build["target"] == service, f"{service} builds target {build.get('target')!r}"
        assert build["target"] in stages, f"the Dockerfile has no stage {build['target']!r}"
    assert len({services[service]["image"] for service in OUR_SERVICES}) == len(OUR_SERVICES)


def test_only_the_worker_image_installs_torch() -> None:
    stages = dockerfile_stages()
    bot, worker, web = ("\n".join(stages[name]) for name in ("bot", "worker", "web"))
    assert "requirements-torch" not in bot and "requirements-torch" not in web
    assert "pip install --no-deps -e '.[bot]'" in bot
    assert "pip install --no-deps -e '.[web]'" in web
    # torch first, then the locked rest, then the project: pip keeps that build (requirements-torch.txt).
    steps = ("-r /tmp/requirements-torch.txt", "-r requirements/worker.lock", "pip install -e '.[worker]'")
    assert [worker.index(step) for step in steps] == sorted(worker.index(step) for step in steps)
    for name in OUR_SERVICES:
        assert stages[name][-2:] == ["USER scenetag", f'CMD ["scenetag-{name}"]'], name


def test_third_party_images_are_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        _, _, tag = service["image"].partition(":")
        assert re.match(r"v?\d", tag), f"{name}: image {service['image']!r} is not pinned to a version"
    # Exact versions where a minor release can change behaviour (configuration formats, the dashboard).
    exact = {"prometheus": "prom/prometheus", "grafana": "grafana/grafana"}
    for name, image in {"rq-dashboard": "cjlapao/rq-dashboard", **exact}.items():
        assert re.fullmatch(rf"{image}:v?\d+\.\d+\.\d+", compose["services"][name]["image"]), name


def test_bot_health_check_runs_the_health_module(compose: dict[str, Any]) -> None:
    check = compose["services"]["bot"]["healthcheck"]
    assert check["test"] == ["CMD", "python", "-m", "bot.health"]
    assert importlib.util.find_spec("bot.health") is not None
    # The first verdict only after the bot had time to migrate and start beating.
    assert int(check["start_period"].rstrip("s")) >= 60


def test_every_python_package_is_installed_and_copied_into_the_images() -> None:
    # A new top-level package (say moderation/) must be both in the wheel and in the images.
    packages = sorted(path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests")
    assert {"bot", "worker", "ml"} <= set(packages)
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    copied = {
        line.split()[1]
        for line in dockerfile_stages()["source"]
        if line.startswith("COPY ") and len(line.split()) == 3
    }
    for package in packages:
        assert any(fnmatch.fnmatch(package, pattern) for pattern in include["include"]), (
            f"{package}/ is missing from pyproject.toml's [tool.setuptools.packages.find] include"
        )
        assert package in copied, f"the Dockerfile's source stage does not COPY {package}"
