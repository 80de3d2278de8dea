"""The compose Prometheus and Grafana agree with the code and with docker-compose.yml.

- every scrape target is a compose service on the port its process serves metrics on;
- every metric an alert rule or a dashboard panel names is one the bot or the worker registers;
- the files compose mounts exist where the services look for them, and the dashboard uses the provisioned
  data source;
- promtool (when installed: scripts/test.sh extracts it from Debian's prometheus package) accepts the
  configuration, the rules and every dashboard query, and the rules' unit tests pass
  (deploy/prometheus/alerts.test.yml: each alert fires on the series it is meant for, and only then).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, Metric

import bot.metrics
import web.metrics  # noqa: F401  (registers the web service's metrics)
import worker.metrics  # noqa: F401  (registers the worker's metrics)
from bot.settings import BotSettings
from tests.test_compose import COMPOSE_FILE, REQUIRED, ROOT, env_example, environment, interpolate
from web.settings import WebSettings
from worker.settings import ServiceSettings, WorkerSettings

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
# Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = {"up"}
METRIC_NAME = re.compile(r"\bscenetag_[a-z0-9_]+|\bup\b")
# A scrape job per service, named after it, and the setting of the port its /metrics is served on (the web
# service's sits next to its pages).
SCRAPED: dict[str, tuple[type[ServiceSettings], str]] = {
    "bot": (BotSettings, "metrics_port"),
    "worker": (WorkerSettings, "metrics_port"),
    "web": (WebSettings, "web_port"),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env_example() | REQUIRED))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def scrape_targets() -> dict[str, list[tuple[str, int]]]:
    """job -> [(host, port)] from prometheus.yml's DNS and static service discovery."""
    targets: dict[str, list[tuple[str, int]]] = {}
    for job in load_yaml(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]:
        found = targets.setdefault(job["job_name"], [])
        for dns in job.get("dns_sd_configs", []):
            found += [(name, dns["port"]) for name in dns["names"]]
        for static in job.get("static_configs", []):
            found += [(host, int(port)) for host, port in (t.rsplit(":", 1) for t in static["targets"])]
    return targets


def series_names(family: Metric) -> set[str]:
    """The series names a metric family can have in an exposition (and so in a query)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
    }.get(family.type, ("",))
    return {family.name + suffix for suffix in suffixes}


def registered_names() -> set[str]:
    """Every series our services' metrics can produce (their modules are imported above)."""
    families: list[Metric] = [*REGISTRY.collect(), *bot.metrics.QueueCollector.families()]
    return {name for family in families for name in series_names(family) if name.startswith("scenetag_")}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    """(dashboard file name: panel title, PromQL expression) of every panel target."""
    return [
        (f"{path.name}: {panel['title']}", target["expr"])
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]


@pytest.mark.parametrize("job", ["bot", "worker", "web"])
def test_scrape_targets_are_compose_services_on_their_metrics_port(
    compose: dict[str, Any], job: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    targets = scrape_targets()[job]
    assert targets, f"prometheus.yml scrapes nothing for {job}"
    settings_class, port_field = SCRAPED[job]
    env = environment(services[job])
    monkeypatch.chdir(ROOT / "tests")  # no .env here: only the compose values count
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served_on = getattr(settings_class.from_env(), port_field)
    for host, port in targets:
        assert host == job and host in services, f"{job} scrapes {host}, not its compose service"
        assert port == served_on, f"{job} serves its metrics on {served_on}, prometheus.yml scrapes {port}"
    if port_field == "metrics_port":  # fixed in compose: an operator's .env cannot move it from the scrape
        assert env["METRICS_PORT"] == str(served_on)


def test_metrics_are_served_where_prometheus_reaches_them(compose: dict[str, Any]) -> None:
    # Not published: Prometheus scrapes over the compose network, and metrics are nobody else's business.
    for job in ("bot", "worker"):
        assert "METRICS_PORT" not in str(compose["services"][job].get("ports", [])), job
    # The web service's /metrics sits next to its pages: it must listen beyond its container's loopback.
    assert environment(compose["services"]["web"])["WEB_LISTEN"] == "0.0.0.0"
    ports = [settings.model_fields[field].default for settings, field in SCRAPED.values()]
    assert all(port > 0 for port in ports)  # served unless switched off
    assert len(set(ports)) == len(ports)  # `make run` starts them on one host


def test_registered_names_cover_the_services() -> None:
    names = registered_names()
    assert {
        "scenetag_photos_received_total",
        "scenetag_photo_outcomes_total",
        "scenetag_reply_latency_seconds_bucket",
        "scenetag_queue_depth",
        "scenetag_queue_workers",
        "scenetag_flags_total",
        "scenetag_feedback_total",
        "scenetag_worker_photos_total",
        "scenetag_worker_batch_size_bucket",
        "scenetag_model_info",
        "scenetag_web_requests_total",
    } <= names


def test_every_metric_in_alerts_and_dashboards_is_registered() -> None:
    known = registered_names() | PROMETHEUS_SERIES
    queries = [(rule["alert"], rule["expr"]) for rule in alert_rules()] + dashboard_queries()
    assert len(queries) > 10
    unknown = {where: sorted(set(METRIC_NAME.findall(expr)) - known) for where, expr in queries}
    assert {where: names for where, names in unknown.items() if names} == {}
    for where, expr in queries:
        assert METRIC_NAME.search(expr), f"{where} names no metric of ours"


def test_the_alerts_the_issue_asks_for() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    asked = {"QueueGrowing", "NoWorkerServing", "ErrorRateHigh", "ReplyLatencyHigh", "RedisMemoryHigh"}
    assert set(rules) >= asked
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert re.fullmatch(r"\d+m", rule["for"]), f"{name} fires on a single evaluation"


def test_prometheus_and_grafana_mount_the_files_they_read(compose: dict[str, Any]) -> None:
    prometheus, grafana = compose["services"]["prometheus"], compose["services"]["grafana"]
    mounts = {
        name: dict(volume.split(":")[:2] for volume in service["volumes"] if volume.startswith("./"))
        for name, service in (("prometheus", prometheus), ("grafana", grafana))
    }
    assert mounts["prometheus"] == {"./deploy/prometheus": "/etc/prometheus"}
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert (PROMETHEUS_DIR / "prometheus.yml").is_file()
    assert load_yaml(PROMETHEUS_DIR / "prometheus.yml")["rule_files"] == ["alerts.yml"]

    provider = load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "scenetag.yml")["providers"][0]
    assert mounts["grafana"] == {
        "./deploy/grafana/provisioning": "/etc/grafana/provisioning",
        "./deploy/grafana/dashboards": provider["options"]["path"],
    }
    assert DASHBOARDS, "no dashboard to provision"
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_dashboards_query_the_provisioned_prometheus(compose: dict[str, Any]) -> None:
    (source,) = load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"][0]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in dashboard["panels"]:
            for holder in (panel, *panel["targets"]):
                assert holder["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]


def promtool() -> str:
    found = shutil.which("promtool") or str(Path(sys.prefix) / "bin" / "promtool")
    if not Path(found).is_file():
        pytest.skip("promtool not installed (scripts/test.sh extracts it from Debian's prometheus package)")
    return found


def run_promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


def test_promtool_accepts_the_configuration_and_the_rules() -> None:
    checked = run_promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run_promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_accepts_every_dashboard_query(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": expr}
                    for index, (_, expr) in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    (tmp_path / "dashboard.rules.yml").write_text(yaml.safe_dump(rules))
    checked = run_promtool("check", "rules", "dashboard.rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
