"""Admin cache (in Redis: TTL, invalidation shared by replicas) and who counts as speaking for the chat."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from telegram import Chat, ChatMemberAdministrator, ChatMemberOwner, Message, User

from bot.admins import AdminCache, admins_key, chat_admin_ids, is_admin_message, sent_for_chat_itself

GROUP = Chat(-100123, Chat.SUPERGROUP, title="g")
OWNER = User(1, "Owner", False)
ADMIN = User(2, "Admin", False)
MEMBER = User(3, "Member", False)
RIGHTS = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats")
RIGHTS += ("can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users")
RIGHTS += ("can_post_stories", "can_edit_stories", "can_delete_stories")
ADMIN_JSON = {"status": "administrator", "user": ADMIN.to_dict(), **dict.fromkeys(RIGHTS, False)}


@pytest.fixture
async def aredis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class AdminsApi:
    """Answers getChatAdministrators like the Bot API and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_chat_administrators(self, chat_id: int):
        self.calls += 1
        return (
            ChatMemberOwner(OWNER, is_anonymous=False),
            ChatMemberAdministrator.de_json(ADMIN_JSON, None),
        )


def message(**kwargs) -> Message:
    return Message(1, datetime.now(UTC), GROUP, **kwargs)


async def test_cache_entries_expire_and_invalidation_reaches_every_replica(redis_url, aredis):
    cache = AdminCache(aredis, ttl_s=10)
    await cache.put(5, frozenset({1, 2}))
    assert await cache.get(5) == frozenset({1, 2})
    assert 9000 < await aredis.pttl(admins_key(5)) <= 10_000
    other_replica = Redis.from_url(redis_url)
    try:
        assert await AdminCache(other_replica, ttl_s=10).get(5) == frozenset({1, 2})
        await AdminCache(other_replica, ttl_s=10).invalidate(5)
    finally:
        await other_replica.aclose()
    assert await cache.get(5) is None
    await cache.invalidate(6)  # unknown chats are fine
    await AdminCache(aredis, ttl_s=0).put(7, frozenset({1}))  # TTL 0: never cached
    assert await cache.get(7) is None


async def test_admin_list_is_fetched_once_per_ttl_and_again_after_invalidation(aredis):
    api, cache = AdminsApi(), AdminCache(aredis, ttl_s=60)
    assert await chat_admin_ids(api, cache, GROUP.id) == frozenset({1, 2})
    assert await is_admin_message(api, cache, message(from_user=ADMIN))
    assert not await is_admin_message(api, cache, message(from_user=MEMBER))
    assert api.calls == 1
    await cache.invalidate(GROUP.id)
    assert await is_admin_message(api, cache, message(from_user=OWNER))
    assert api.calls == 2


async def test_anonymous_admins_and_the_linked_channel_speak_for_the_chat(aredis):
    api, cache = AdminsApi(), AdminCache(aredis, ttl_s=60)
    anonymous_bot = User(1087968824, "Group", True)
    channel = Chat(-100999, Chat.CHANNEL, title="news")
    other_group = Chat(-100555, Chat.SUPERGROUP, title="elsewhere")
    assert sent_for_chat_itself(message(from_user=anonymous_bot, sender_chat=GROUP))
    assert sent_for_chat_itself(message(sender_chat=channel))
    assert sent_for_chat_itself(message(from_user=MEMBER, is_automatic_forward=True))
    assert not sent_for_chat_itself(message(from_user=MEMBER))
    assert not sent_for_chat_itself(message(sender_chat=other_group))
    assert await is_admin_message(api, cache, message(from_user=anonymous_bot, sender_chat=GROUP))
    assert api.calls == 0
    assert not await is_admin_message(api, cache, message())
