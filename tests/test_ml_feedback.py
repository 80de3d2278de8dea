"""`ml feedback export`: the label rules, the manifest, and the export against the fake Bot API server."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from config import BotApiSettings
from ml.cli import main as ml_main
from ml.feedback import (
    MANIFEST,
    BotApiFiles,
    DownloadFailed,
    ManifestRow,
    Summary,
    export,
    label_of_flag,
    label_of_suggestion,
    labelled_records,
    read_manifest,
    write_manifest,
)
from ml.training.data import scan_tagged
from moderation.verdict import ModerationSettings
from storage import repository
from storage.migrate import upgrade_to_head
from storage.models import Chat
from storage.repository import NOT_SPAM
from storage.session import create_engine, create_sessionmaker
from storage.settings import DatabaseSettings
from tests.fake_telegram import FakeTelegram

SAMPLES = Path(__file__).resolve().parents[1] / "ml" / "samples"
JAN = datetime(2026, 1, 10, 12, tzinfo=UTC)
MAR = datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tag", "feedback", "corrected", "expected"),
    [
        ("cafe", "up", None, ("cafe", "up")),
        ("cafe", "down", "bar", ("bar", "corrected")),
        ("cafe", "down", "other", ("other", "corrected")),
        ("cafe", "down", None, None),  # 👎 without a pick teaches nothing
        ("cafe", None, None, None),
        (None, "up", None, None),  # an abstention has no tag to confirm
    ],
)
def test_label_of_suggestion(tag, feedback, corrected, expected):
    assert label_of_suggestion(tag, feedback, corrected) == expected


@pytest.mark.parametrize(
    ("feedback", "corrected", "expected"),
    [
        ("up", "bar", ("bar", "picked")),  # 👍 on the list, then which one
        ("up", None, None),  # 👍 on a list without a pick: one of them fits, but which?
        ("down", "church", ("church", "corrected")),
    ],
)
def test_label_of_a_ranked_list(feedback, corrected, expected):
    assert label_of_suggestion("cafe", feedback, corrected, ("cafe", "bar")) == expected
    assert label_of_suggestion("cafe", "up", None, ("cafe",)) == ("cafe", "up")  # one sure tag


@pytest.mark.parametrize(
    ("verdict", "scenes", "predicted", "expected"),
    [
        ("not_spam", ["water"], "cafe", ("water", "admin")),
        ("not_spam", ["water", "water"], "cafe", ("water", "admin")),
        ("not_spam", ["water", "sport"], "cafe", None),  # ambiguous: which scene does the photo show?
        ("not_spam", [], "cafe", None),
        ("not_spam", None, "cafe", None),  # a flag from before scene tags were kept
        (None, ["water"], "cafe", None),  # no admin verdict: the flag may be right
        ("spam", ["water"], "cafe", ("cafe", "admin_spam")),  # not the caption's scene: the model's
        ("spam", ["water"], "", None),  # a known spam picture, or an admin's /spam: no model judged it
    ],
)
def test_label_of_flag(verdict, scenes, predicted, expected):
    assert label_of_flag(verdict, scenes, predicted) == expected


def suggestion_row(id_: int, **fields) -> SimpleNamespace:
    defaults = dict(
        id=id_, tag="cafe", feedback="up", corrected_tag=None, file_id=f"F{id_}", file_unique_id=f"U{id_}",
        model_version="v1", feedback_at=JAN, corrected_at=None, created_at=JAN, offered=None,
    )
    return SimpleNamespace(**(defaults | fields))


def flag_row(id_: int, **fields) -> SimpleNamespace:
    defaults = dict(
        id=id_, admin_verdict="not_spam", caption_scene_tags=["water"], predicted_tag="cafe",
        file_id=f"G{id_}", file_unique_id=f"V{id_}", model_version="v2", verdict_at=MAR, created_at=JAN,
    )
    return SimpleNamespace(**(defaults | fields))


def test_labelled_records_take_the_rating_time_and_count_ambiguous_verdicts():
    suggestions = [
        suggestion_row(1),
        suggestion_row(2, feedback="down", corrected_tag="bar", corrected_at=MAR),
        suggestion_row(3, feedback="down"),
        suggestion_row(4, file_id=None),  # opted out
        suggestion_row(5, file_unique_id="../../etc"),  # never a path outside the folder
        suggestion_row(6, feedback_at=None, created_at=MAR.replace(tzinfo=None)),  # SQLite: naive UTC
        suggestion_row(7, offered=[{"tag": "cafe", "probability": 0.5}, {"tag": "bar", "probability": 0.4}],
                       corrected_tag="bar", corrected_at=MAR),
        suggestion_row(8, offered=[{"tag": "cafe", "probability": 0.5}, {"tag": "bar", "probability": 0.4}]),
    ]
    flags = [
        flag_row(1),
        flag_row(2, caption_scene_tags=["water", "sport"]),
        flag_row(3, file_id=None),
        flag_row(4, admin_verdict="spam"),
        flag_row(5, admin_verdict="spam", predicted_tag=""),  # no model judged it: no tag
    ]
    records, ambiguous = labelled_records(suggestions, flags)
    assert [(r.kind, r.record_id, r.path, r.source) for r in records] == [
        ("suggestion", 1, "cafe/U1.jpg", "up"),
        ("suggestion", 2, "bar/U2.jpg", "corrected"),
        ("suggestion", 6, "cafe/U6.jpg", "up"),
        ("suggestion", 7, "bar/U7.jpg", "picked"),
        ("flag", 1, "water/V1.jpg", "admin"),
        ("flag", 4, "cafe/V4.jpg", "admin_spam"),
    ]
    assert ambiguous == 2
    assert [r.rated_at for r in records] == [JAN, MAR, MAR, MAR, MAR, MAR]
    assert ManifestRow.of(records[3]).offered == "cafe bar"
    recent, _ = labelled_records(suggestions, flags, since=date(2026, 2, 1))
    assert [(r.kind, r.record_id) for r in recent] == [
        ("suggestion", 2), ("suggestion", 6), ("suggestion", 7), ("flag", 1), ("flag", 4)]


def test_the_manifest_round_trips_sorted_by_record(tmp_path):
    rows = [
        ManifestRow("water/V1.jpg", "water", "admin", "flag", 1, "v2", MAR.isoformat()),
        ManifestRow("cafe/U10.jpg", "cafe", "up", "suggestion", 10, "", JAN.isoformat()),
        ManifestRow("cafe/U9.jpg", "cafe", "up", "suggestion", 9, "v1", JAN.isoformat(), "cafe bar"),
    ]
    write_manifest(tmp_path / MANIFEST, rows)
    assert list(read_manifest(tmp_path / MANIFEST)) == [("flag", 1), ("suggestion", 9), ("suggestion", 10)]
    assert read_manifest(tmp_path / MANIFEST)[("flag", 1)] == rows[0]
    assert read_manifest(tmp_path / "missing.csv") == {}


def test_a_manifest_of_an_older_run_without_offered_still_reads(tmp_path):
    older = tmp_path / MANIFEST
    older.write_text("path,tag,source,kind,record_id,model_version,rated_at\n"
                     f"cafe/U9.jpg,cafe,up,suggestion,9,v1,{JAN.isoformat()}\n", encoding="utf-8")
    assert read_manifest(older)[("suggestion", 9)].offered == ""


async def feedback_database(url: str, telegram: FakeTelegram) -> dict[str, str]:
    """A migrated database holding each kind of feedback on photos the fake Bot API serves; returns the
    file_id of each photo by a short name."""
    photos = {path.stem: path.read_bytes() for path in sorted(SAMPLES.glob("*.jpg"))}
    photos["flagged"] = photos["coast"] + b"\0"  # other bytes: another photo for Telegram
    photos["gone"] = photos["ski_slope"] + b"\0"
    ids = {name: await telegram.add_file(data) for name, data in photos.items()}
    engine = create_engine(url)
    await upgrade_to_head(engine)
    sessions = create_sessionmaker(engine)

    async def suggest(session, name: str, chat_id: int) -> int:
        return await repository.add_suggestion(
            session, chat_id=chat_id, user_id=chat_id, file_unique_id=ids[name][1], tag="cafe",
            confidence=0.9, model_version="v1", latency_ms=10.0, file_id=ids[name][0],
        )

    async with sessions.begin() as session:
        for chat_id in (1, 2, -5):
            await repository.ensure_chat(session, chat_id, "private", ModerationSettings())
        liked = await suggest(session, "coffee_shop", 1)
        corrected = await suggest(session, "coast", 1)
        gone = await suggest(session, "gone", 1)
        opted_out = await suggest(session, "ski_slope", 2)
        flag_id = await repository.add_flag(
            session, chat_id=-5, message_id=3, user_id=7, caption_tags=["beach", "sea"], predicted_tag="cafe",
            confidence=0.8, compatible_probability=0.01, action="flag", model_version="v1",
            caption_scene_tags={"water"}, file_unique_id=ids["flagged"][1], file_id=ids["flagged"][0],
        )
    async with sessions.begin() as session:
        for suggestion_id, user_id in ((liked, 1), (gone, 1), (opted_out, 2)):
            await repository.set_feedback(session, suggestion_id, user_id, "up")
        await repository.set_feedback(session, corrected, 1, "down")
        await repository.set_correction(session, corrected, 1, "water")
        await repository.record_verdict(session, flag_id, -5, admin_id=9, verdict=NOT_SPAM)
        await repository.set_keep_photo_ids(session, await session.get(Chat, 2), False)
    await engine.dispose()
    return {name: file_id for name, (file_id, _) in ids.items()}


def export_in_thread(out: Path, url: str, telegram: FakeTelegram, since: date | None = None):
    """The export blocks on HTTP: off the event loop that serves the fake Bot API."""
    api = BotApiSettings(**{key.lower(): value for key, value in telegram.env().items()})
    return asyncio.to_thread(export, out, since=since, database=DatabaseSettings(database_url=url), api=api)


def manifest_rows(out: Path) -> list[dict[str, str]]:
    with (out / MANIFEST).open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


async def test_export_fetches_labelled_photos_counts_gone_ones_and_reruns_without_downloading(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    out = tmp_path / "feedback"
    async with FakeTelegram() as telegram:
        file_ids = await feedback_database(url, telegram)
        telegram.forget_file(file_ids["gone"])

        summary = await export_in_thread(out, url, telegram)
        assert summary.counts() == dict(exported=3, already_there=0, gone=1, ambiguous=0, failed=0)
        photos = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
        assert [p.split("/")[0] for p in photos] == ["cafe", "water", "water"]
        assert (out / photos[0]).read_bytes() == (SAMPLES / "coffee_shop.jpg").read_bytes()
        rows = manifest_rows(out)
        assert [(r["kind"], r["tag"], r["source"], r["model_version"]) for r in rows] == [
            ("flag", "water", "admin", "v1"),
            ("suggestion", "cafe", "up", "v1"),
            ("suggestion", "water", "corrected", "v1"),
        ]
        assert sorted(r["path"] for r in rows) == photos
        assert all(datetime.fromisoformat(r["rated_at"]).tzinfo is not None for r in rows)
        assert scan_tagged(out)[1] == ["cafe", "water", "water"]  # what `ml train --extra` reads

        calls = len(telegram.calls)
        again = await export_in_thread(out, url, telegram)
        assert again.counts() == dict(exported=0, already_there=3, gone=1, ambiguous=0, failed=0)
        assert [name for name, _ in telegram.calls[calls:]] == ["getFile"]  # only the gone photo is asked for
        assert manifest_rows(out) == rows

        # A later --since exports nothing new and keeps the earlier rows.
        later = await export_in_thread(out, url, telegram, since=date(2999, 1, 1))
        assert later.counts() == dict(exported=0, already_there=0, gone=0, ambiguous=0, failed=0)
        assert manifest_rows(out) == rows


async def test_a_network_failure_is_counted_and_retried_by_the_next_run(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    out = tmp_path / "feedback"
    async with FakeTelegram() as telegram:
        await feedback_database(url, telegram)
        telegram.fail_next("getFile", 502, "Bad Gateway")
        summary = await export_in_thread(out, url, telegram)
        assert (summary.exported, summary.failed) == (3, 1)
        assert len(summary.failures) == 1 and "502" in summary.failures[0]
        assert len(manifest_rows(out)) == 3
        retried = await export_in_thread(out, url, telegram)
        assert (retried.exported, retried.already_there, retried.failed) == (1, 3, 0)
        assert len(manifest_rows(out)) == 4


async def test_the_cli_prints_a_json_summary_and_names_a_bad_variable(tmp_path, monkeypatch, capsys, caplog):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    monkeypatch.chdir(tmp_path)  # no developer .env
    async with FakeTelegram() as telegram:
        await feedback_database(url, telegram)
        for name, value in telegram.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DATABASE_URL", url)
        code = await asyncio.to_thread(ml_main, ["feedback", "export", "--out", str(tmp_path / "out")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == dict(exported=4, already_there=0, gone=0, ambiguous=0, failed=0)
    monkeypatch.setenv("BOT_TOKEN", "not a token")
    assert ml_main(["feedback", "export", "--out", str(tmp_path / "out")]) == 2
    assert "configuration error: BOT_TOKEN" in caplog.text and "not a token" not in caplog.text


async def test_a_failed_download_logs_its_status_never_the_token(tmp_path, monkeypatch, caplog):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    async with FakeTelegram() as telegram:
        await feedback_database(url, telegram)
        for name, value in telegram.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DATABASE_URL", url)
        telegram.fail_next("getFile", 502, "Bad Gateway")
        command = ["feedback", "export", "--out", str(tmp_path / "out")]
        assert await asyncio.to_thread(ml_main, command) == 1
        secret = telegram.token.split(":", 1)[1]
    assert "getFile: HTTP 502" in caplog.text
    assert secret not in caplog.text


def test_a_network_error_names_its_kind_not_the_url():
    token = "123:SECRET-token"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    api = BotApiSettings(bot_token=token, telegram_base_url="http://telegram.invalid/bot")
    client = httpx.Client(transport=httpx.MockTransport(refuse))
    with client, pytest.raises(DownloadFailed) as raised:
        BotApiFiles(client, api).download("file-1")
    assert str(raised.value) == "ConnectError"
    assert raised.value.__suppress_context__  # `from None`: httpx's error, URL and all, is not shown
    assert "SECRET" not in repr(raised.value)


def test_summary_counts_leave_out_the_failure_lines():
    assert "failures" not in Summary(failures=["x"]).counts()


async def test_a_refused_token_or_an_unmigrated_database_stops_with_one_line(tmp_path, monkeypatch, caplog):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    monkeypatch.chdir(tmp_path)
    async with FakeTelegram() as telegram:
        await feedback_database(url, telegram)
        for name, value in telegram.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("BOT_TOKEN", "123:wrong")
        monkeypatch.setenv("DATABASE_URL", url)
        command = ["feedback", "export", "--out", str(tmp_path / "out")]
        assert await asyncio.to_thread(ml_main, command) == 2
        assert "the Bot API refused BOT_TOKEN (401)" in caplog.text
        assert not list((tmp_path / "out").rglob("*.jpg"))
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
        assert await asyncio.to_thread(ml_main, command) == 2
    assert "cannot read the feedback from the database" in caplog.text
