"""The order of writes when a group photo is acted on (bot.moderate): the flag is recorded before
the photo is deleted, a delete the bot may not do becomes a flag on that record, and a database that fails
during the answer is logged and counted, with nothing deleted. And the flood notice: once per window, never
in dry-run mode. Against a migrated SQLite database and a stub
Bot API; the real bot doing the same through the fake server: tests/e2e/test_abuse.py."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import select, text
from telegram import Message
from telegram.error import BadRequest

from bot.answers import deliver
from bot.i18n import text as text_of
from bot.moderate import act, flooded, record_spam
from bot.pending import PendingAnswer
from bot.ratelimit import GroupFloodControl
from bot.services import SERVICES_KEY, Services, moderation_settings
from bot.settings import BotSettings
from ml.tags import ALL_LABELS
from moderation.blocklist import Entry, Match
from moderation.hashtags import load_vocabulary
from moderation.verdict import Action, ModerationMode, ModerationSettings, Reason, Verdict, known_spam
from storage import repository
from storage.migrate import upgrade_to_head
from storage.models import Chat, Flag, SpamPicture
from storage.session import create_engine, create_sessionmaker
from worker.contract import ClassifyResult
from worker.queue import Classified

GROUP_ID, SPAMMER_ID, MESSAGE_ID = -100123, 42, 7
CAPTION = "#beach #sport"  # water and sport, on a photo the model is sure shows a cafe
PICTURE = "c3a5b4e1f0d29687"  # a perceptual hash (moderation.blocklist)
ADMIN_ID = 5


class Crash(BaseException):
    """The process dying mid-answer (not an exception any handler catches)."""


class GroupBot:
    """The Bot API calls a moderation answer makes; deleteMessage fails as told."""

    def __init__(self, delete_fails: BaseException | None = None) -> None:
        self.delete_fails = delete_fails
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def delete_message(self, chat_id: int, message_id: int, **kwargs: Any) -> bool:
        self.calls.append(("deleteMessage", {"chat_id": chat_id, "message_id": message_id}))
        if self.delete_fails is not None:
            raise self.delete_fails
        return True

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> None:
        self.calls.append(("sendMessage", {"chat_id": chat_id, "text": text, **kwargs}))


@pytest.fixture
async def svc(tmp_path) -> AsyncIterator[Services]:
    settings = BotSettings(bot_token="123:abc", data_dir=tmp_path)
    engine = create_engine(settings.effective_database_url)
    await upgrade_to_head(engine)
    services = Services(
        settings=settings,
        engine=engine,
        sessions=create_sessionmaker(engine),
        vocabulary=load_vocabulary(),
        # unused here:
        **dict.fromkeys(("redis", "jobs", "albums", "admins", "rate_limiter", "group_flood")),
    )
    async with services.sessions.begin() as session:
        chat = await services.chat_row(session, SimpleNamespace(id=GROUP_ID, type="supergroup"))
        chat.moderation_enabled, chat.moderation_mode = True, ModerationMode.DELETE.value
    yield services
    await engine.dispose()


def spam(bot: GroupBot) -> Message:
    data = {
        "message_id": MESSAGE_ID,
        "date": 0,
        "chat": {"id": GROUP_ID, "type": "supergroup", "title": "g"},
        "from": {"id": SPAMMER_ID, "is_bot": False, "first_name": "Spammer"},
        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}],
        "caption": CAPTION,
    }
    return Message.de_json(data, bot)


def cafe() -> ClassifyResult:
    probabilities = dict.fromkeys(ALL_LABELS, 0.01 / (len(ALL_LABELS) - 1)) | {"cafe": 0.99}
    return ClassifyResult(
        request_id="r",
        ok=True,
        probabilities=probabilities,
        hashtag="cafe",
        confidence=0.99,
        suggested="cafe",
        model_version="v2",
    )


DELETE = Verdict(Action.DELETE, Reason.MISMATCH, ("beach", "sport"), 0.0001)


async def flags(svc: Services) -> list[tuple[int, str]]:
    async with svc.sessions() as session:
        return [tuple(row) for row in await session.execute(select(Flag.message_id, Flag.action))]


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_flag_is_recorded_before_the_photo_is_deleted(svc):
    bot = GroupBot(delete_fails=Crash())
    with pytest.raises(Crash):
        await act(svc, spam(bot), DELETE, cafe())
    assert [name for name, _ in bot.calls] == ["deleteMessage"]
    assert await flags(svc) == [(MESSAGE_ID, "delete")]  # the record (and "not spam") survive the crash


async def test_a_delete_the_bot_may_not_do_is_recorded_as_the_flag_it_became(svc):
    bot = GroupBot(delete_fails=BadRequest("Message can't be deleted"))
    before = counted("scenetag_flags_total", action="flag")
    await act(svc, spam(bot), DELETE, cafe())
    assert await flags(svc) == [(MESSAGE_ID, "flag")]
    ((_, reply),) = [call for call in bot.calls if call[0] == "sendMessage"]
    assert reply["reply_parameters"].message_id == MESSAGE_ID and reply["reply_markup"] is not None
    assert counted("scenetag_flags_total", action="flag") == before + 1


async def test_a_database_failure_during_a_group_answer_is_logged_counted_and_deletes_nothing(svc, caplog):
    async with svc.engine.begin() as connection:
        await connection.execute(text("DROP TABLE flags"))  # every write of a flag now fails
    bot = GroupBot()
    message = spam(bot)
    pending = PendingAnswer(
        job_id="job-1",
        update_id=1,
        kind="group",
        message=message.to_dict(),
        file_unique_id="u",
        accepted_at=0.0,
        deadline=60.0,
    )
    application = SimpleNamespace(bot_data={SERVICES_KEY: svc}, bot=bot)
    before = counted("scenetag_database_errors_total", kind="group")
    with caplog.at_level(logging.ERROR):
        await deliver(application, pending, Classified(cafe(), latency_ms=100.0))
    assert counted("scenetag_database_errors_total", kind="group") == before + 1
    assert bot.calls == []  # no record, so nothing deleted (and the group is not told)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "job-1" in record.getMessage() and record.exc_info is not None
    async with svc.sessions() as session:  # the chat's settings were read: it was the flag's write
        assert moderation_settings(await session.get(Chat, GROUP_ID)).enabled


@pytest.mark.parametrize(("mode", "notices"), [(ModerationMode.FLAG, 1), (ModerationMode.DRY_RUN, 0)])
async def test_one_flood_notice_per_window_and_none_in_dry_run(svc, redis_url, mode, notices):
    redis = Redis.from_url(redis_url)
    svc.group_flood = GroupFloodControl(redis, per_sender=1, per_chat=10)
    settings = ModerationSettings(enabled=True, mode=mode)
    bot = GroupBot()
    try:
        results = [await flooded(svc, str(i), spam(bot), settings) for i in range(4)]
    finally:
        await redis.aclose()
    assert results == [False, True, True, True]  # the first is classified, the rest are not
    sent = [call for name, call in bot.calls if name == "sendMessage"]
    assert [call["text"] for call in sent] == [text_of("group_flooded", "en")] * notices


async def set_mode(svc: Services, mode: ModerationMode) -> None:
    async with svc.sessions.begin() as session:
        (await session.get(Chat, GROUP_ID)).moderation_mode = mode.value


async def test_a_known_spam_picture_is_deleted_with_its_reason_whatever_the_caption(svc):
    async with svc.sessions.begin() as session:
        entry = await repository.block_picture(session, GROUP_ID, PICTURE, ADMIN_ID, None)
    bot = GroupBot()
    verdict = known_spam(ModerationSettings(enabled=True, mode=ModerationMode.DELETE))
    await act(svc, spam(bot), verdict, picture_hash=PICTURE, match=Match(Entry(entry.id, entry.hash), 0))
    assert [name for name, _ in bot.calls] == ["deleteMessage", "sendMessage"]
    notice = bot.calls[1][1]["text"]
    assert notice == text_of("known_spam_delete_notice", "en", user=spam(bot).from_user.mention_html())
    async with svc.sessions() as session:
        flag = (await session.scalars(select(Flag))).one()
        assert (flag.action, flag.reason, flag.picture_hash) == ("delete", "known_spam_picture", PICTURE)
        assert flag.model_version is None and flag.compatible_probability is None  # no model judged it
        assert (await session.get(SpamPicture, entry.id)).hits == 1


async def add_flag(svc: Services, action: str, picture_hash: str | None = PICTURE) -> int:
    async with svc.sessions.begin() as session:
        return await repository.add_flag(
            session, chat_id=GROUP_ID, message_id=MESSAGE_ID, user_id=SPAMMER_ID, caption_tags=["beach"],
            predicted_tag="cafe", confidence=0.99, compatible_probability=0.001, action=action,
            model_version="v2", reason="mismatch", picture_hash=picture_hash,
        )


@pytest.mark.parametrize(
    ("mode", "action", "deletes"),
    [
        (ModerationMode.DELETE, "flag", True),  # flagged before the chat chose delete mode: deleted now
        (ModerationMode.DELETE, "delete", False),  # the bot deleted it already
        (ModerationMode.FLAG, "flag", False),
        (ModerationMode.DRY_RUN, "record", False),
    ],
)
async def test_spam_on_a_flag_blocks_its_picture_and_deletes_the_photo_in_delete_mode(
    svc, mode, action, deletes
):
    await set_mode(svc, mode)
    flag_id = await add_flag(svc, action)
    bot = GroupBot()
    before = counted("scenetag_feedback_total", kind="spam")
    recorded = await record_spam(svc, bot, GROUP_ID, flag_id, admin_id=ADMIN_ID)
    assert recorded is not None and recorded.deleted == (deletes or action == "delete")
    expected = [("deleteMessage", {"chat_id": GROUP_ID, "message_id": MESSAGE_ID})] if deletes else []
    assert bot.calls == expected
    assert counted("scenetag_feedback_total", kind="spam") == before + 1
    async with svc.sessions() as session:
        flag = await session.get(Flag, flag_id)
        assert (flag.admin_verdict, flag.verdict_by) == ("spam", ADMIN_ID)
        ((hash_, added_by, source),) = (await session.execute(
            select(SpamPicture.hash, SpamPicture.added_by, SpamPicture.source_flag_id)
        )).all()
        assert (hash_, added_by, source) == (PICTURE, ADMIN_ID, flag_id)


async def test_spam_without_a_picture_hash_is_recorded_but_blocks_nothing(svc):
    flag_id = await add_flag(svc, "flag", picture_hash=None)
    recorded = await record_spam(svc, GroupBot(delete_fails=BadRequest("Message to delete not found")),
                                 GROUP_ID, flag_id, admin_id=ADMIN_ID)
    assert recorded is not None and recorded.entry is None and not recorded.deleted  # the delete failed
    assert await record_spam(svc, GroupBot(), GROUP_ID, flag_id + 1, admin_id=ADMIN_ID) is None  # no flag
    async with svc.sessions() as session:
        assert (await session.get(Flag, flag_id)).admin_verdict == "spam"
        assert (await session.scalars(select(SpamPicture))).all() == []
