"""Admin cache (in Redis: TTL, invalidation shared by replicas) and who counts as speaking for the chat:
the group itself and its linked channel, never any other channel a member posts as."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from telegram import (
    AcceptedGiftTypes,
    Chat,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberOwner,
    Message,
    User,
)

from bot.admins import (
    NO_LINKED_CHAT,
    AdminCache,
    admins_key,
    chat_admin_ids,
    is_admin_message,
    linked_chat_id,
    linked_chat_key,
    speaks_for_chat,
)

GROUP = Chat(-100123, Chat.SUPERGROUP, title="g")
OWNER = User(1, "Owner", False)
ADMIN = User(2, "Admin", False)
MEMBER = User(3, "Member", False)
RIGHTS = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats")
RIGHTS += ("can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users")
RIGHTS += ("can_post_stories", "can_edit_stories", "can_delete_stories")
ADMIN_JSON = {"status": "administrator", "user": ADMIN.to_dict(), **dict.fromkeys(RIGHTS, False)}
LINKED = Chat(-100999, Chat.CHANNEL, title="the group's news")
OWN_CHANNEL = Chat(-100777, Chat.CHANNEL, title="a member's channel")
CHANNEL_BOT = User(136817688, "Channel", True)  # Telegram's `from` of messages sent as a channel


@pytest.fixture
async def aredis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class AdminsApi:
    """Answers getChatAdministrators and getChat (GROUP linked to LINKED) like the Bot API, counting calls."""

    def __init__(self, linked: Chat | None = LINKED) -> None:
        self.calls = 0
        self.chat_calls = 0
        self.linked = linked

    async def get_chat_administrators(self, chat_id: int):
        self.calls += 1
        return (
            ChatMemberOwner(OWNER, is_anonymous=False),
            ChatMemberAdministrator.de_json(ADMIN_JSON, None),
        )

    async def get_chat(self, chat_id: int) -> ChatFullInfo:
        self.chat_calls += 1
        linked = self.linked.id if self.linked else None
        gifts = AcceptedGiftTypes(*[True] * 5)
        return ChatFullInfo(chat_id, Chat.SUPERGROUP, 0, 11, gifts, linked_chat_id=linked)


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
    other_group = Chat(-100555, Chat.SUPERGROUP, title="elsewhere")
    assert speaks_for_chat(message(from_user=anonymous_bot, sender_chat=GROUP))
    assert speaks_for_chat(message(from_user=MEMBER, is_automatic_forward=True))
    assert speaks_for_chat(message(from_user=CHANNEL_BOT, sender_chat=LINKED), linked_chat_id=LINKED.id)
    assert not speaks_for_chat(message(from_user=CHANNEL_BOT, sender_chat=LINKED))  # linked id unknown
    assert not speaks_for_chat(message(from_user=CHANNEL_BOT, sender_chat=OWN_CHANNEL), LINKED.id)
    assert not speaks_for_chat(message(from_user=MEMBER))
    assert not speaks_for_chat(message(sender_chat=other_group), LINKED.id)
    assert await is_admin_message(api, cache, message(from_user=anonymous_bot, sender_chat=GROUP))
    assert await is_admin_message(api, cache, message(from_user=MEMBER, is_automatic_forward=True))
    assert (api.calls, api.chat_calls) == (0, 0)  # neither needs the Bot API
    assert not await is_admin_message(api, cache, message())


async def test_a_message_sent_as_any_other_channel_is_a_members(aredis):
    api, cache = AdminsApi(), AdminCache(aredis, ttl_s=60)
    assert not await is_admin_message(api, cache, message(from_user=CHANNEL_BOT, sender_chat=OWN_CHANNEL))
    assert await is_admin_message(api, cache, message(from_user=CHANNEL_BOT, sender_chat=LINKED))
    assert api.chat_calls == 1  # getChat once, then the cached linked_chat_id
    assert await aredis.get(linked_chat_key(GROUP.id)) == str(LINKED.id).encode()
    # Not even an admin's own channel: Telegram does not say who is behind it.
    assert not await is_admin_message(api, cache, message(from_user=ADMIN, sender_chat=OWN_CHANNEL))
    assert api.calls == 0


async def test_a_group_without_a_linked_channel_is_cached_too_and_invalidated_with_the_admins(aredis):
    api, cache = AdminsApi(linked=None), AdminCache(aredis, ttl_s=60)
    assert await linked_chat_id(api, cache, GROUP.id) is None
    assert await linked_chat_id(api, cache, GROUP.id) is None
    assert api.chat_calls == 1
    assert await cache.get_linked_chat(GROUP.id) == NO_LINKED_CHAT
    await cache.put(GROUP.id, frozenset({1}))
    await cache.invalidate(GROUP.id)  # a membership change: both answers are asked again
    assert await cache.get(GROUP.id) is None and await cache.get_linked_chat(GROUP.id) is None
    api.linked = LINKED
    assert await linked_chat_id(api, cache, GROUP.id) == LINKED.id
    assert api.chat_calls == 2
