"""worker.metrics and config.exposition: outcome labels, serving /metrics, and multi-process mode across
real processes. Counting each job once where RQ finishes it: tests/test_worker_results.py; the real
`scenetag-worker` serving its metrics: tests/e2e/test_metrics_e2e.py."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from config.exposition import serve_metrics
from tests.services import Sample, free_port, scrape_metrics
from worker import metrics
from worker.contract import PHOTO_ERRORS, ClassifyResult, ErrorCode, ModelInfo


def result(**fields: object) -> ClassifyResult:
    return ClassifyResult.model_validate({"request_id": "r", "model_version": "abc123", **fields})


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"ok": True, "suggested": "cafe"}, "suggested"),
        ({"ok": True, "suggested": None, "hashtag": "other"}, "abstained"),
        *(({"ok": False, "error": code}, "bad_image") for code in sorted(PHOTO_ERRORS)),
        ({"ok": False, "error": ErrorCode.BAD_REQUEST}, "failed"),
        ({"ok": False, "error": ErrorCode.INTERNAL}, "failed"),
    ],
)
def test_outcome_of_a_result(fields: dict[str, object], outcome: str) -> None:
    assert result(**fields).outcome == outcome
    assert metrics.worker_outcome(result(**fields).model_dump(mode="json")) == (outcome, "abc123")


def test_every_error_code_is_the_photos_or_ours() -> None:
    ours = {ErrorCode.BAD_REQUEST, ErrorCode.INTERNAL}
    assert PHOTO_ERRORS | ours == set(ErrorCode) and not PHOTO_ERRORS & ours


def test_a_result_that_breaks_the_contract_counts_as_failed_without_a_model() -> None:
    assert metrics.worker_outcome({"ok": "maybe"}) == ("failed", metrics.NO_MODEL)


def test_a_switched_model_drops_to_zero_and_a_canary_is_served_too() -> None:
    def served(name: str, version: str) -> float | None:
        labels = {"model_name": name, "model_version": version}
        return REGISTRY.get_sample_value("scenetag_model_info", labels)

    metrics.record_serving_model(ModelInfo(model_name="m", model_version="old", tags=[], tta=1))
    assert served("m", "old") == 1
    metrics.record_serving_model(ModelInfo(model_name="m", model_version="new", tags=[], tta=1,
                                           canary_version="cand", canary_name="c", canary_percent=10))
    assert (served("m", "old"), served("m", "new"), served("c", "cand")) == (0, 1, 1)
    metrics.record_serving_model(ModelInfo(model_name="m", model_version="new", tags=[], tta=1))
    assert (served("m", "new"), served("c", "cand")) == (1, 0)


def test_serves_the_registry_and_extra_collectors_until_closed() -> None:
    extra = CollectorRegistry()
    Counter("scenetag_test_extra_total", "a collector read at scrape time", registry=extra).inc(2)
    port = free_port()
    server = serve_metrics(port, extra)
    try:
        assert server.serving
        scraped = scrape_metrics(port)
        assert scraped[("scenetag_test_extra_total", ())] == 2
        assert any(name == "scenetag_worker_batch_size_count" for name, _ in scraped)  # the default registry
    finally:
        server.close()
    with pytest.raises(httpx.TransportError):
        scrape_metrics(port)


def test_port_zero_serves_nothing() -> None:
    server = serve_metrics(0)
    assert not server.serving
    server.close()


def test_a_port_in_use_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            serve_metrics(port)
    assert str(stopped.value).startswith(f"configuration error: METRICS_PORT: cannot serve on {port}:")


# One process of a multi-process group: serves (or not) on argv[1], counts a photo and serves model argv[2],
# says whether it holds the port, then waits for its stdin to close.
MEMBER = """
import sys
from worker import metrics
from worker.contract import ModelInfo
from config.exposition import serve_metrics

server = serve_metrics(int(sys.argv[1]))
metrics.PHOTOS.labels("suggested", sys.argv[2]).inc()
metrics.record_serving_model(ModelInfo(model_name="m", model_version=sys.argv[2], tags=[], tta=1))
print("serving" if server.serving else "not serving", flush=True)
sys.stdin.read()
server.close()
"""


def start_member(port: int, version: str, directory: Path) -> subprocess.Popen[str]:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen(
        [sys.executable, "-c", MEMBER, str(port), version],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop_member(member: subprocess.Popen[str]) -> None:
    assert member.stdin is not None
    member.stdin.close()
    assert member.wait(30) == 0


def photos_of(version: str) -> Sample:
    return ("scenetag_worker_photos_total", (("model_version", version), ("outcome", "suggested")))


def model_info(version: str) -> Sample:
    return ("scenetag_model_info", (("model_name", "m"), ("model_version", version)))


def test_multiprocess_mode_serves_every_process_and_forgets_a_dead_ones_model(tmp_path: Path) -> None:
    port = free_port()
    first = start_member(port, "aaa", tmp_path)
    second = None
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "serving"
        second = start_member(port, "bbb", tmp_path)
        assert second.stdout is not None and second.stdout.readline().strip() == "not serving"
        scraped = scrape_metrics(port)
        for version in ("aaa", "bbb"):
            assert (scraped[photos_of(version)], scraped[model_info(version)]) == (1, 1)
        stop_member(second)
        second = None

        scraped = scrape_metrics(port)
        assert model_info("bbb") not in scraped  # no live process serves it
        assert (scraped[photos_of("bbb")], scraped[model_info("aaa")]) == (1, 1)  # what it counted stays
    finally:
        for member in (second, first):
            if member is not None:
                stop_member(member)
