"""`ml promote`, `ml models` and `ml rollback` on a private redis-server, with tiny model files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis import Redis

from ml import registry
from ml.cli import main
from ml.cli.models import headline
from ml.serving.model import file_version
from tests.ml_support import make_tiny_model


@pytest.fixture
def env(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """REDIS_URL set, run from an empty folder (no developer .env); returns that folder."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("MODEL_REGISTRY_KEEP", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def ml(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.fixture
def models(env: Path) -> list[Path]:
    metrics = {"heldout_tta1": {"accuracy": 0.75, "weighted_accuracy": 0.7}}
    return [make_tiny_model(env / f"m{i}.pt", metrics=metrics) for i in range(3)]


def test_promote_stores_the_file_and_makes_it_active(
    models: list[Path], redis_conn: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    version = file_version(models[0])
    out = ml(capsys, "promote", str(models[0]))
    assert f"stored {version} (efficientnet-lite0-scenes3" in out
    assert "was: no active version" in out and f"now: active {version}, no canary" in out
    assert registry.read_state(redis_conn).active == version
    record = registry.read_records(redis_conn)[version]
    assert record.size == models[0].stat().st_size and record.metrics["heldout_tta1"]["accuracy"] == 0.75


def test_a_file_that_does_not_load_is_refused(env: Path, redis_conn: Redis) -> None:
    bad = env / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(SystemExit, match=r"bad\.pt: refused, it does not load as a model file"):
        main(["promote", str(bad)])
    assert registry.read_records(redis_conn) == {} and registry.read_generation(redis_conn) == 0


def test_canary_then_finish_then_rollback(
    models: list[Path], redis_conn: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    first, candidate = file_version(models[0]), file_version(models[1])
    ml(capsys, "promote", str(models[0]))
    out = ml(capsys, "promote", str(models[1]), "--canary", "10")
    assert f"now: active {first}, canary {candidate} on 10 % of photos" in out

    table = ml(capsys, "models").splitlines()
    assert table[0] == f"active {first}, canary {candidate} on 10 % of photos"
    rows = {line.split()[0]: line for line in table[2:]}
    assert " active " in rows[first] and " canary 10% " in rows[candidate]
    assert "heldout_tta1: accuracy 0.750, weighted 0.700" in rows[first]

    out = ml(capsys, "promote", candidate[:6])  # a stored version, by prefix: the canary is finished
    assert f"now: active {candidate}, no canary" in out
    listed = json.loads(ml(capsys, "models", "--json"))
    assert listed["state"]["active"] == candidate and listed["state"]["history"] == [first]
    assert [v["version"] for v in listed["versions"]] == [candidate, first]  # last promoted first

    out = ml(capsys, "rollback")
    assert f"active version: {candidate} -> {first}" in out
    with pytest.raises(SystemExit, match="ml rollback: nothing to roll back"):
        main(["rollback"])


def test_rollback_during_a_canary_ends_it(
    models: list[Path], redis_conn: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    ml(capsys, "promote", str(models[0]))
    ml(capsys, "promote", str(models[1]), "--canary", "50")
    out = ml(capsys, "rollback")
    active, candidate = file_version(models[0]), file_version(models[1])
    assert f"ended the canary {candidate}; the active version stays {active}" in out
    assert registry.read_state(redis_conn).canary is None


def test_promote_keeps_only_the_files_rollback_can_need(
    models: list[Path], redis_conn: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    for model in models:
        ml(capsys, "promote", str(model), "--keep", "1")
    assert set(registry.read_records(redis_conn)) == {file_version(models[1]), file_version(models[2])}


def test_operator_mistakes_are_one_line(models: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="no active version to compare a canary with"):
        main(["promote", str(models[0]), "--canary", "10"])
    with pytest.raises(SystemExit, match="no stored version starts with 'beef'"):
        main(["promote", "beef"])
    with pytest.raises(SystemExit, match=r"no model file at runs/missing\.pt"):
        main(["promote", "runs/missing.pt"])
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    unreachable = r"cannot reach Redis at REDIS_URL=redis://127\.0\.0\.1:1/0: .*127\.0\.0\.1:1"
    with pytest.raises(SystemExit, match=unreachable):
        main(["models"])
    monkeypatch.setenv("MODEL_REGISTRY_KEEP", "many")
    with pytest.raises(SystemExit, match="configuration error: MODEL_REGISTRY_KEEP"):
        main(["models"])


def test_models_without_any_version(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ml(capsys, "models")
    assert "no active version: workers serve their MODEL_PATH" in out and "ml promote MODEL.pt" in out


def test_headline_prefers_held_out_photos() -> None:
    validation = {"validation": {"accuracy": 0.9, "weighted_accuracy": 0.8}}
    heldout = {"heldout_tta1": {"accuracy": 0.7}}
    assert headline({**validation, **heldout}) == "heldout_tta1: accuracy 0.700"
    assert headline(validation) == "validation: accuracy 0.900, weighted 0.800"
    calibrated = {"calibration": {"chosen": "global", "global_rule": {"coverage": 0.45, "precision": 0.9}}}
    assert headline(calibrated) == "calibration: coverage 0.450 at precision 0.900"
    assert headline({}) == "-"
