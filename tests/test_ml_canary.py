"""`ml canary report`: the decision rule directly, then the command on a private redis-server (the registry)
and a migrated SQLite database (the answers each version made)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from ml.cli import main
from ml.cli.canary import KEEP, PROMOTE, ROLL_BACK, format_report, judge_canary
from ml.serving.model import file_version
from moderation.verdict import ModerationSettings
from storage import repository
from storage.migrate import upgrade_to_head
from storage.models import Suggestion
from storage.repository import VersionFeedback
from storage.session import create_engine, create_sessionmaker
from tests.ml_support import make_tiny_model


def feedback(version: str, up: int, down: int, flags: int = 0, not_spam: int = 0) -> VersionFeedback:
    return VersionFeedback(version, photos=up + down + 5, suggested=up + down, mean_confidence=0.7, up=up,
                           down=down, corrected=down // 2, flags=flags, not_spam=not_spam)


@pytest.mark.parametrize(
    ("active", "canary", "decision"),
    [
        (feedback("a", 80, 20), feedback("b", 30, 70), ROLL_BACK),  # far fewer 👍
        (feedback("a", 50, 50), feedback("b", 90, 10), PROMOTE),  # far more 👍, no flags either way
        (feedback("a", 9, 1), feedback("b", 10, 0), KEEP),  # a little better: no evidence yet
        (feedback("a", 0, 0), feedback("b", 3, 0), KEEP),  # nothing rated for the active version
        # more 👍 but admins call far more of its flags "not spam": roll back, whatever the 👍
        (feedback("a", 50, 50, flags=100, not_spam=2), feedback("b", 90, 10, flags=100, not_spam=40),
         ROLL_BACK),
    ],
    ids=["worse", "better", "no-evidence", "nothing-rated", "wrong-flags"],
)
def test_the_canary_is_promoted_only_on_evidence(
    active: VersionFeedback, canary: VersionFeedback, decision: str
) -> None:
    report = judge_canary(active, canary)
    assert report.decision == decision
    text = format_report(report)
    assert text.splitlines()[-1].startswith(f"{decision}: ")
    assert f"{active.up} / {active.down}" in text and f"{canary.up} / {canary.down}" in text


async def answers(url: str, rows: list[tuple[str, str | None, datetime]]) -> None:
    """One private suggestion per (version, rating, when)."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine).begin() as session:
        defaults = repository.StoredModeration(**asdict(ModerationSettings()))
        await repository.ensure_chat(session, 7, "private", defaults)
        for version, rating, when in rows:
            suggestion_id = await repository.add_suggestion(
                session, chat_id=7, user_id=7, file_unique_id="u", tag="cafe", confidence=0.9,
                model_version=version, latency_ms=100.0)
            if rating:
                await repository.set_feedback(session, suggestion_id, 7, rating)
            moved = update(Suggestion).where(Suggestion.id == suggestion_id).values(created_at=when)
            await session.execute(moved)
    await engine.dispose()


def test_report_reads_the_registry_and_the_answers_since_the_canary_began(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="no canary runs"):
        main(["canary", "report"])

    active_path, canary_path = (make_tiny_model(tmp_path / f"{name}.pt") for name in ("active", "canary"))
    active, canary = file_version(active_path), file_version(canary_path)
    assert main(["promote", str(active_path)]) == 0
    assert main(["promote", str(canary_path), "--canary", "20"]) == 0
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=30)  # before the canary: left out of the default window
    asyncio.run(answers(url, [(active, "up", now)] * 3 + [(active, "down", now)] + [(active, None, now)]
                        + [(active, "down", long_ago)] * 10 + [(canary, "down", now)] * 2))
    capsys.readouterr()

    assert main(["canary", "report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["active"]["version"], report["canary"]["version"]) == (active, canary)
    assert (report["active"]["up"], report["active"]["down"], report["active"]["photos"]) == (3, 1, 5)
    assert (report["canary"]["up"], report["canary"]["down"]) == (0, 2)
    assert report["decision"] == KEEP  # 3 of 4 against 0 of 2: not significant

    assert main(["canary", "report", "--versions", active, canary, "--since", "2000-01-01"]) == 0
    text = capsys.readouterr().out
    assert "3 / 11" in text and "0 / 2" in text
    assert text.startswith("canary report (since 2000-01-01 00:00 UTC)")
