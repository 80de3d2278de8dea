"""scenetag-web over HTTP (httpx against the ASGI app, its lifespan run): Telegram login, roles decided by
the fake Bot API's getChatMember, CSRF-checked settings, health and metrics. Real Redis, a migrated SQLite
file."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis

from storage import repository
from storage.models import Chat
from storage.session import create_engine, create_sessionmaker
from tests.fake_telegram import Chat as FakeChat
from tests.fake_telegram import FakeTelegram, User
from tests.services import free_port
from tests.web_support import SESSION_SECRET, Seeded, login_query, migrated, seed
from web.app import build_app
from web.settings import WebSettings
from worker.queue import build_request, enqueue_photo, photo_queue

OPERATOR_ID = 1
SAMPLE = Path(__file__).resolve().parent.parent / "ml" / "samples" / "coast.jpg"


@dataclass
class Dashboard:
    client: httpx.AsyncClient
    telegram: FakeTelegram
    seeded: Seeded
    database_url: str
    club: FakeChat
    quiet: FakeChat
    alice: User  # creator of the club
    bob: User  # administrator of the quiet group
    carol: User  # administers nothing

    async def login(self, user_id: int, first_name: str = "Someone") -> httpx.Response:
        query = login_query(self.telegram.token, user_id, first_name, int(time.time()))
        return await self.client.get(f"/auth/telegram?{query}")

    async def csrf_token(self, path: str) -> str:
        page = await self.client.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    async def stored_chat(self, chat_id: int) -> Chat:
        engine = create_engine(self.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                chat = await session.get(Chat, chat_id)
                assert chat is not None
                return chat
        finally:
            await engine.dispose()


def settings_for(
    telegram: FakeTelegram, redis_url: str, database_url: str, **overrides: object
) -> WebSettings:
    return WebSettings(
        _env_file=None,
        bot_token=telegram.token,
        bot_username=telegram.bot.username,
        telegram_base_url=telegram.base_url,
        redis_url=redis_url,
        database_url=database_url,
        web_session_secret=SESSION_SECRET,
        web_operator_ids=frozenset({OPERATOR_ID}),
        **overrides,
    )


@pytest.fixture
async def dashboard(tmp_path: Path, redis_url: str) -> AsyncIterator[Dashboard]:
    async with FakeTelegram() as telegram:
        club, quiet = telegram.new_group("Photo club"), telegram.new_group("Quiet corner")
        alice, bob, carol = telegram.new_user("Alice"), telegram.new_user("Bob"), telegram.new_user("Carol")
        await telegram.set_admins(club, [alice])
        await telegram.set_admins(quiet, [telegram.new_user("Dora"), bob])
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"
        async with migrated(database_url) as sessions:
            seeded = await seed(sessions, datetime.now(UTC), club.id, quiet.id)
        app = build_app(settings_for(telegram, redis_url, database_url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield Dashboard(client, telegram, seeded, database_url, club, quiet, alice, bob, carol)


async def test_pages_need_a_login(dashboard: Dashboard) -> None:
    for path in ("/", "/chats", f"/chats/{dashboard.club.id}"):
        response = await dashboard.client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), path
    login = await dashboard.client.get("/login")
    assert login.status_code == 200
    assert 'data-telegram-login="scenetag_test_bot"' in login.text
    assert 'data-auth-url="http://127.0.0.1:9103/auth/telegram"' in login.text


async def test_a_bad_hash_is_refused_and_logs_nobody_in(dashboard: Dashboard) -> None:
    query = login_query(dashboard.telegram.token, OPERATOR_ID, "Eve", int(time.time()))
    forged = re.sub(r"hash=[0-9a-f]+", "hash=" + "0" * 64, query)
    response = await dashboard.client.get(f"/auth/telegram?{forged}")
    assert response.status_code == 403
    assert "not signed by Telegram" in response.text
    other_bot = login_query("999:other-token", OPERATOR_ID, "Eve", int(time.time()))
    assert (await dashboard.client.get(f"/auth/telegram?{other_bot}")).status_code == 403
    assert (await dashboard.client.get("/chats")).status_code == 303


async def test_a_stale_login_is_refused(dashboard: Dashboard) -> None:
    query = login_query(dashboard.telegram.token, OPERATOR_ID, "Olga", int(time.time()) - 86400 - 60)
    response = await dashboard.client.get(f"/auth/telegram?{query}")
    assert response.status_code == 403
    assert "expired" in response.text
    assert (await dashboard.client.get("/")).status_code == 303


async def test_operator_sees_the_overview_and_every_group(dashboard: Dashboard, redis_conn: Redis) -> None:
    queue = photo_queue(redis_conn)
    for _ in range(2):  # no worker runs: they wait
        enqueue_photo(queue, build_request(b"\xff\xd8 not really a photo"))
    login = await dashboard.login(OPERATOR_ID, "Olga")
    assert (login.status_code, login.headers["location"]) == (303, "/")
    overview = await dashboard.client.get("/")
    assert overview.status_code == 200
    assert re.search(r'id="queued">2<', overview.text)
    assert "a1b2c3d4e5f6" in overview.text and "0f9e8d7c6b5a" in overview.text  # both model versions
    assert "#cafe" in overview.text and "75 %" in overview.text  # 3 of 4 rated #cafe got 👍
    assert "<svg" in overview.text and "line-p95" in overview.text
    chats = await dashboard.client.get("/chats")
    assert "Photo club" in chats.text and "Quiet corner" in chats.text  # titles from getChat
    assert f"/chats/{dashboard.seeded.private}" not in chats.text  # private chats are not groups
    page = await dashboard.client.get(f"/chats/{dashboard.club.id}")
    assert page.status_code == 200
    assert "#beach" in page.text and "#forest" in page.text and "not spam — by user 5001" in page.text
    # The weekly table: eight UTC weeks, newest first, counting the club's three flags and one "not spam".
    (table,) = re.findall(r'<table class="list" id="weekly">(.*?)</table>', page.text, re.S)
    rows = re.findall(r"<tr><td>([\d-]+)</td><td>(\d+)</td><td>(\d+)</td>", table)
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    assert [row[0] for row in rows] == [(monday - timedelta(weeks=n)).isoformat() for n in range(8)]
    assert (sum(int(row[1]) for row in rows), sum(int(row[2]) for row in rows)) == (3, 1)


async def test_an_admin_sees_only_the_groups_they_administer(dashboard: Dashboard) -> None:
    await dashboard.login(dashboard.alice.id, "Alice")
    overview = await dashboard.client.get("/")
    assert (overview.status_code, overview.headers["location"]) == (303, "/chats")  # operators only
    chats = await dashboard.client.get("/chats")
    assert "Photo club" in chats.text and "Quiet corner" not in chats.text
    assert (await dashboard.client.get(f"/chats/{dashboard.club.id}")).status_code == 200
    other = await dashboard.client.get(f"/chats/{dashboard.quiet.id}")
    assert other.status_code == 404
    assert "#beach" not in other.text
    # The answers are cached: a second look asks Telegram nothing new.
    asked = sum(name == "getChatMember" for name, _ in dashboard.telegram.calls)
    await dashboard.client.get("/chats")
    assert sum(name == "getChatMember" for name, _ in dashboard.telegram.calls) == asked


async def test_a_plain_member_sees_no_group(dashboard: Dashboard) -> None:
    await dashboard.login(dashboard.carol.id, "Carol")
    chats = await dashboard.client.get("/chats")
    assert chats.status_code == 200
    assert "You administer none of the groups" in chats.text
    assert (await dashboard.client.get(f"/chats/{dashboard.club.id}")).status_code == 404


async def test_settings_are_changed_only_with_the_csrf_token(dashboard: Dashboard) -> None:
    await dashboard.login(dashboard.bob.id, "Bob")
    path = f"/chats/{dashboard.quiet.id}"
    form = {"enabled": "on", "mode": "delete", "sensitivity": "lenient", "min_hashtags": "3"}
    missing = await dashboard.client.post(f"{path}/settings", data=form)
    wrong = await dashboard.client.post(f"{path}/settings", data=form | {"csrf_token": "forged"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert (await dashboard.stored_chat(dashboard.quiet.id)).moderation_enabled is False
    token = await dashboard.csrf_token(path)
    saved = await dashboard.client.post(f"{path}/settings", data=form | {"csrf_token": token})
    assert (saved.status_code, saved.headers["location"]) == (303, path)
    stored = await dashboard.stored_chat(dashboard.quiet.id)
    assert (stored.moderation_enabled, stored.moderation_mode, stored.moderation_sensitivity) == (
        True,
        "delete",
        "lenient",
    )
    assert stored.moderation_min_hashtags == 3
    page = await dashboard.client.get(path)
    assert "Settings saved." in page.text
    assert f"by Bob ({dashboard.bob.id}): enabled: off → on; mode: flag → delete" in page.text


async def test_an_admin_marks_a_flag_not_spam(dashboard: Dashboard) -> None:
    await dashboard.login(dashboard.alice.id, "Alice")
    path = f"/chats/{dashboard.club.id}"
    page = await dashboard.client.get(path)
    open_flags = re.findall(r'action="/chats/-?\d+/flags/(\d+)/not-spam"', page.text)
    assert len(open_flags) == 2  # the flag an admin already judged has no button
    url = f"{path}/flags/{open_flags[0]}/not-spam"
    assert (await dashboard.client.post(url, data={})).status_code == 403
    token = await dashboard.csrf_token(path)
    marked = await dashboard.client.post(url, data={"csrf_token": token})
    assert (marked.status_code, marked.headers["location"]) == (303, f"{path}#flag-{open_flags[0]}")
    page = await dashboard.client.get(path)
    assert "Marked as not spam." in page.text and "not spam — by you" in page.text
    # A flag id of this group under another group's address: Bob administers that one, but it is not his flag.
    await dashboard.login(dashboard.bob.id, "Bob")
    token = await dashboard.csrf_token(f"/chats/{dashboard.quiet.id}")
    other = f"/chats/{dashboard.quiet.id}/flags/{open_flags[1]}/not-spam"
    assert (await dashboard.client.post(other, data={"csrf_token": token})).status_code == 404
    # The operator sees who judged it, by the name Telegram gives.
    await dashboard.login(OPERATOR_ID, "Olga")
    page = await dashboard.client.get(path)
    assert "not spam — by Alice" in page.text
    assert page.text.count("not spam — by") == 2


async def test_bad_settings_get_a_clear_message(dashboard: Dashboard) -> None:
    await dashboard.login(dashboard.bob.id, "Bob")
    path = f"/chats/{dashboard.quiet.id}"
    token = await dashboard.csrf_token(path)
    form = {"mode": "ban", "sensitivity": "strict", "min_hashtags": "2", "csrf_token": token}
    response = await dashboard.client.post(f"{path}/settings", data=form)
    assert response.status_code == 400
    assert "Mode must be one of flag, delete, dry-run" in response.text


async def test_an_admin_cannot_change_another_groups_settings(dashboard: Dashboard) -> None:
    await dashboard.login(dashboard.alice.id, "Alice")
    token = await dashboard.csrf_token(f"/chats/{dashboard.club.id}")
    form = {
        "enabled": "on",
        "mode": "delete",
        "sensitivity": "strict",
        "min_hashtags": "2",
        "csrf_token": token,
    }
    response = await dashboard.client.post(f"/chats/{dashboard.quiet.id}/settings", data=form)
    assert response.status_code == 404
    assert (await dashboard.stored_chat(dashboard.quiet.id)).moderation_enabled is False


async def test_logout_ends_the_session(dashboard: Dashboard) -> None:
    await dashboard.login(OPERATOR_ID, "Olga")
    token = await dashboard.csrf_token("/")
    assert (await dashboard.client.post("/logout", data={})).status_code == 403  # CSRF applies here too
    out = await dashboard.client.post("/logout", data={"csrf_token": token})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert (await dashboard.client.get("/")).status_code == 303


async def test_telegram_down_is_a_clear_503(dashboard: Dashboard) -> None:
    await dashboard.login(dashboard.alice.id, "Alice")
    dashboard.telegram.fail_next("getChatMember", 500, "Internal Server Error")
    response = await dashboard.client.get("/chats")
    assert response.status_code == 503
    assert "Bot API did not answer" in response.text


async def test_health_metrics_and_headers(dashboard: Dashboard) -> None:
    health = await dashboard.client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"ok": True, "failed": []})
    metrics = await dashboard.client.get("/metrics")
    assert metrics.status_code == 200
    assert re.search(
        r'scenetag_web_requests_total\{method="GET",route="/healthz",status="200"\} [1-9]', metrics.text
    )
    page = await dashboard.client.get("/login")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_health_names_what_does_not_answer(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram:
        closed = f"redis://127.0.0.1:{free_port()}/0"
        app = build_app(settings_for(telegram, closed, f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                health = await client.get("/healthz")
    assert (health.status_code, health.json()) == (503, {"ok": False, "failed": ["redis"]})


async def test_api_docs_are_served_without_a_cdn(dashboard: Dashboard) -> None:
    docs = await dashboard.client.get("/docs")
    assert docs.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "/openapi.json" in docs.text
    assert "cdn" not in docs.text.lower()
    script = await dashboard.client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert (await dashboard.client.get("/redoc")).status_code == 404  # its scripts would come from a CDN


async def test_a_login_link_logs_in_once(dashboard: Dashboard) -> None:
    query = login_query(dashboard.telegram.token, OPERATOR_ID, "Olga", int(time.time()))
    assert (await dashboard.client.get(f"/auth/telegram?{query}")).status_code == 303
    dashboard.client.cookies.clear()  # someone else, holding the same link
    again = await dashboard.client.get(f"/auth/telegram?{query}")
    assert again.status_code == 403
    assert "used already" in again.text
    assert (await dashboard.client.get("/")).status_code == 303


async def test_a_login_link_is_accepted_for_ten_minutes_by_default(dashboard: Dashboard) -> None:
    defaults = WebSettings(_env_file=None, bot_token="1:x", web_session_secret=SESSION_SECRET)
    assert defaults.web_login_max_age_seconds == 600
    query = login_query(dashboard.telegram.token, OPERATOR_ID, "Olga", int(time.time()) - 11 * 60)
    response = await dashboard.client.get(f"/auth/telegram?{query}")
    assert response.status_code == 403 and "expired" in response.text


async def test_logout_revokes_the_session_on_the_server(dashboard: Dashboard) -> None:
    await dashboard.login(OPERATOR_ID, "Olga")
    stolen = dict(dashboard.client.cookies)  # a copy of the signed cookie, as a thief would keep it
    token = await dashboard.csrf_token("/")
    assert (await dashboard.client.post("/logout", data={"csrf_token": token})).status_code == 303
    dashboard.client.cookies.clear()
    dashboard.client.cookies.update(stolen)
    assert (await dashboard.client.get("/")).status_code == 303  # the old cookie opens nothing


async def test_access_logs_never_hold_the_query_string(
    dashboard: Dashboard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await dashboard.login(OPERATOR_ID, "Olga")
    assert response.status_code == 303
    lines = [record.getMessage() for record in caplog.records if not record.name.startswith("httpx")]
    assert any('"GET /auth/telegram" 303' in line for line in lines), lines
    assert not any("hash=" in line or "auth_date" in line for line in lines), lines


def test_uvicorns_access_log_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import web.__main__ as entry

    options: dict[str, object] = {}
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kwargs: options.update(kwargs))
    monkeypatch.setenv("BOT_TOKEN", "1:x")
    monkeypatch.setenv("WEB_SESSION_SECRET", SESSION_SECRET)
    entry.main()
    assert options["access_log"] is False


async def test_a_chunked_form_over_the_pages_limit_is_413(dashboard: Dashboard) -> None:
    await dashboard.login(OPERATOR_ID, "Olga")

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"csrf_token=" + bytes(16 * 1024)

    response = await dashboard.client.post(
        "/logout", content=endless(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


async def flagged_photo(dashboard: Dashboard, picture_hash: str | None) -> tuple[dict, int]:
    """A member's photo in the club, which the fake Bot API holds (deleteMessage can delete it), and a flag
    on it; the club in delete mode."""
    photo = await dashboard.telegram.send_group_photo(dashboard.club, dashboard.carol, SAMPLE.read_bytes())
    engine = create_engine(dashboard.database_url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            (await session.get(Chat, dashboard.club.id)).moderation_mode = "delete"
            flag_id = await repository.add_flag(
                session, chat_id=dashboard.club.id, message_id=photo["message_id"], user_id=7,
                caption_tags=["beach"], predicted_tag="cafe", confidence=0.9, compatible_probability=0.001,
                action="flag", model_version="v2", reason="mismatch", picture_hash=picture_hash,
            )
    finally:
        await engine.dispose()
    return photo, flag_id


async def test_an_admin_marks_a_flag_spam_which_blocks_its_picture_and_deletes_it_in_delete_mode(
    dashboard: Dashboard,
) -> None:
    club = dashboard.club
    photo, flag_id = await flagged_photo(dashboard, "c3a5b4e1f0d29687")
    await dashboard.login(dashboard.alice.id, "Alice")
    path = f"/chats/{club.id}"
    page = await dashboard.client.get(path)
    assert f'action="/chats/{club.id}/flags/{flag_id}/spam"' in page.text
    assert "No picture is blocked in this group." in page.text
    assert 'name="everywhere"' not in page.text  # only operators block a picture in every group
    url = f"{path}/flags/{flag_id}/spam"
    assert (await dashboard.client.post(url, data={})).status_code == 403  # no CSRF token
    token = await dashboard.csrf_token(path)
    marked = await dashboard.client.post(url, data={"csrf_token": token, "everywhere": "on"})
    assert (marked.status_code, marked.headers["location"]) == (303, f"{path}#flag-{flag_id}")
    assert (club.id, photo["message_id"]) in dashboard.telegram.deleted_messages
    page = await dashboard.client.get(path)
    assert "Marked as spam. The picture is now blocked in this group. The photo was deleted." in page.text
    assert "spam — by you" in page.text and "<code>c3a5b4e1f0d29687</code>" in page.text
    assert f'action="/chats/{club.id}/flags/{flag_id}/spam"' not in page.text  # judged: no second press
    # An admin's "everywhere" was ignored: blocked in this group only.
    entry_id = int(re.search(r'id="picture-(\d+)"', page.text).group(1))
    assert "this group" in page.text.split(f'id="picture-{entry_id}"')[1][:200]

    # Bob administers the quiet group only: neither the flag nor the entry are his to judge or remove.
    await dashboard.login(dashboard.bob.id, "Bob")
    token = await dashboard.csrf_token(f"/chats/{dashboard.quiet.id}")
    for other in (f"/chats/{dashboard.quiet.id}/flags/{flag_id}/spam",
                  f"/chats/{dashboard.quiet.id}/blocklist/{entry_id}/remove"):
        assert (await dashboard.client.post(other, data={"csrf_token": token})).status_code == 404
    assert (await dashboard.client.post(url, data={"csrf_token": token})).status_code == 404  # not his group

    # Alice takes the picture off the list again (a second login link: another name signs differently).
    await dashboard.login(dashboard.alice.id, "Alice A.")
    token = await dashboard.csrf_token(path)
    removed = await dashboard.client.post(f"{path}/blocklist/{entry_id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303, removed.text
    assert removed.headers["location"] == f"{path}#blocklist"
    page = await dashboard.client.get(path)
    assert "The picture is no longer blocked." in page.text
    assert "No picture is blocked in this group." in page.text


async def test_an_operator_blocks_a_picture_in_every_group_and_only_an_operator_removes_it(
    dashboard: Dashboard,
) -> None:
    club = dashboard.club
    _, flag_id = await flagged_photo(dashboard, "00000000ffffffff")
    await dashboard.login(OPERATOR_ID, "Olga")
    path = f"/chats/{club.id}"
    token = await dashboard.csrf_token(path)
    form = {"csrf_token": token, "everywhere": "on"}
    await dashboard.client.post(f"{path}/flags/{flag_id}/spam", data=form)
    page = await dashboard.client.get(path)
    assert "The picture is now blocked in every group." in page.text
    entry_id = int(re.search(r'id="picture-(\d+)"', page.text).group(1))
    # The club's admin sees the global entry but has no button for it, and a forged press is refused.
    await dashboard.login(dashboard.alice.id, "Alice")
    page = await dashboard.client.get(path)
    assert "every group" in page.text and f"/blocklist/{entry_id}/remove" not in page.text
    token = await dashboard.csrf_token(path)
    forged = await dashboard.client.post(f"{path}/blocklist/{entry_id}/remove", data={"csrf_token": token})
    assert forged.status_code == 404
    await dashboard.login(OPERATOR_ID, "Olga O.")
    token = await dashboard.csrf_token(path)
    removed = await dashboard.client.post(f"{path}/blocklist/{entry_id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert "No picture is blocked in this group." in (await dashboard.client.get(path)).text


async def test_spam_on_a_flag_without_a_picture_hash_is_recorded_and_said_so(dashboard: Dashboard) -> None:
    _, flag_id = await flagged_photo(dashboard, None)
    await dashboard.login(dashboard.alice.id, "Alice")
    path = f"/chats/{dashboard.club.id}"
    token = await dashboard.csrf_token(path)
    await dashboard.client.post(f"{path}/flags/{flag_id}/spam", data={"csrf_token": token})
    page = await dashboard.client.get(path)
    assert "The picture was never read, so it is not blocked." in page.text
    assert "No picture is blocked in this group." in page.text


async def test_spam_on_an_albums_flag_blocks_each_picture_and_deletes_every_photo(
    dashboard: Dashboard,
) -> None:
    club = dashboard.club
    sent = [SAMPLE.read_bytes()] * 3
    photos = await dashboard.telegram.send_album(club, dashboard.carol, sent, "#beach #sport")
    hashes = ["c3a5b4e1f0d29687", None, "0f0f0f0f0f0f0f0f"]
    engine = create_engine(dashboard.database_url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            (await session.get(Chat, club.id)).moderation_mode = "delete"
            flag_id = await repository.add_flag(
                session, chat_id=club.id, message_id=photos[0]["message_id"], user_id=7,
                caption_tags=["beach"], predicted_tag="cafe", confidence=0.9, compatible_probability=0.001,
                action="flag", model_version="v2", reason="mismatch", picture_hash=hashes[0],
                media_group_id=photos[0]["media_group_id"],
                album_photos=[
                    repository.AlbumPhoto(p["message_id"], h) for p, h in zip(photos, hashes, strict=True)
                ],
            )
    finally:
        await engine.dispose()
    await dashboard.login(dashboard.alice.id, "Alice")
    path = f"/chats/{club.id}"
    assert "album of 3 photos" in (await dashboard.client.get(path)).text
    token = await dashboard.csrf_token(path)
    await dashboard.client.post(f"{path}/flags/{flag_id}/spam", data={"csrf_token": token})
    assert {(club.id, p["message_id"]) for p in photos} <= set(dashboard.telegram.deleted_messages)
    page = await dashboard.client.get(path)
    assert "The picture is now blocked in this group. The photos were deleted." in page.text
    assert "<code>c3a5b4e1f0d29687</code>" in page.text and "<code>0f0f0f0f0f0f0f0f</code>" in page.text
