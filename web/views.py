"""The dashboard's pages: server-rendered HTML, one handler per page, access decided by `web.auth`."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from redis.exceptions import RedisError

from moderation.verdict import MIN_HASHTAGS_RANGE, THRESHOLDS, ModerationMode, Sensitivity
from storage.repository import (
    NOT_SPAM,
    blocklist,
    chat_weekly_stats,
    mark_spam,
    record_verdict,
    unblock_picture,
)
from web import queries
from web.audit import SettingsChange, describe_changes, recent_changes, record_change
from web.auth import (
    SESSION_MAX_AGE_S,
    LoginError,
    Role,
    TelegramUser,
    csrf_ok,
    new_csrf_token,
    new_session_id,
    replay_window_s,
    role_for,
    session_key,
    used_login_key,
    verify_login,
)
from web.charts import latency_chart
from web.forms import FormError, parse_settings_form
from web.queue_state import queue_state
from web.series import bucket_edges, time_buckets, window_stats
from web.settings import WebSettings
from web.telegram import BotApi, TelegramUnavailable

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)  # pages; the OpenAPI docs are for the HTTP API

CHART_SPAN = timedelta(hours=24)
CHART_BUCKETS = 48  # half an hour each
RECENT_FLAGS = 50
WEEKS_SHOWN = 8  # the chat page's weekly moderation table
NO_SUCH_FLAG = "There is no such flag in this group."
USED_LINK = "This login link was used already: log in with the Telegram button again."
# The pages load nothing from elsewhere except the login page's Telegram widget (a script and its frame), and
# may not be framed (the settings form). Set on the pages only: the HTTP API's docs are another matter.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https://t.me https://telegram.org; "
    "script-src 'self' https://telegram.org; frame-src https://oauth.telegram.org; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class LoginRequired(Exception):
    """No valid session: the app answers with a redirect to /login."""


class PageError(Exception):
    """A page that cannot be shown, with the status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Viewer:
    user: TelegramUser
    role: Role
    csrf_token: str

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR


def settings_of(request: Request) -> WebSettings:
    return request.app.state.settings


def telegram_of(request: Request) -> BotApi:
    return request.app.state.telegram


async def current_viewer(request: Request) -> Viewer:
    """The logged-in viewer, once their session is still alive in Redis (logout ends it there); pages
    rendered after this find it in `request.state.viewer`."""
    stored = request.session.get("user")
    session_id = request.session.get("sid")
    if not stored or "csrf" not in request.session or not session_id:
        raise LoginRequired
    try:
        alive = await request.app.state.redis_async.exists(session_key(str(session_id)))
    except RedisError as error:
        logger.warning("session check unavailable: %s", error)
        raise PageError(503, "Your session cannot be checked right now. Try again shortly.") from None
    if not alive:
        request.session.clear()  # revoked or expired: the browser gets a fresh, empty cookie
        raise LoginRequired
    user = TelegramUser(int(stored["id"]), stored.get("first_name", ""), stored.get("username"))
    viewer = Viewer(user, role_for(user.id, settings_of(request).web_operator_ids), request.session["csrf"])
    request.state.viewer = viewer
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


async def check_csrf(request: Request) -> dict[str, str]:
    """The submitted form, once its CSRF token matched the session's (403 otherwise)."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if not csrf_ok(request.session.get("csrf"), fields.get("csrf_token")):
        raise PageError(
            403, "This form has expired or did not come from this site. Reload the page and retry."
        )
    return fields


CheckedForm = Annotated[dict[str, str], Depends(check_csrf)]


def render(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)  # the login and error pages render without one
    response = request.app.state.templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, "flash": request.session.pop("flash", None), **context},
        status_code=status,
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


async def accessible_chat(request: Request, viewer: Viewer, chat_id: int) -> queries.ChatSummary:
    """The group, if the viewer may see it; the same 404 whether it does not exist or is not theirs."""
    async with request.app.state.sessionmaker() as session:
        summary = await queries.chat_summary(session, chat_id)
    allowed = summary is not None and (
        viewer.is_operator or await telegram_of(request).is_admin(chat_id, viewer.user.id)
    )
    if not allowed:
        raise PageError(404, "There is no such group among the ones you administer.")
    assert summary is not None
    return summary


# -- login -----------------------------------------------------------------------------------------------


def login_page(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
    settings = settings_of(request)
    return render(
        request,
        "login.html",
        status=status,
        error=error,
        bot_username=settings.bot_username,
        auth_url=settings.web_public_url.rstrip("/") + "/auth/telegram",
    )


@router.get("/login")
async def login(request: Request) -> Response:
    if request.session.get("user"):
        return RedirectResponse("/", status_code=303)
    return login_page(request)


@router.get("/auth/telegram")
async def telegram_login(request: Request) -> Response:
    """Where the Login Widget sends the browser, with the user's fields and Telegram's signature."""
    settings = settings_of(request)
    try:
        user = verify_login(
            dict(request.query_params),
            settings.bot_token,
            now=time.time(),
            max_age_s=settings.web_login_max_age_seconds,
        )
    except LoginError as error:
        logger.info("login refused: %s", error)
        return login_page(request, 403, str(error))
    fields = dict(request.query_params)
    session_id = new_session_id()
    redis = request.app.state.redis_async
    try:
        window = replay_window_s(fields, now=time.time(), max_age_s=settings.web_login_max_age_seconds)
        first_use = await redis.set(used_login_key(fields), user.id, nx=True, ex=window)
        if first_use:
            await redis.set(session_key(session_id), user.id, ex=SESSION_MAX_AGE_S)
    except RedisError as error:
        logger.warning("login unavailable: %s", error)
        return login_page(request, 503, "Logging in is unavailable right now. Try again shortly.")
    if not first_use:
        logger.info("login refused: link already used (user %s)", user.id)
        return login_page(request, 403, USED_LINK)
    request.session.clear()  # a fresh session (and CSRF token) for each login: no fixation
    request.session.update(
        user={"id": user.id, "first_name": user.first_name, "username": user.username},
        csrf=new_csrf_token(),
        sid=session_id,
    )
    logger.info("user %s logged in as %s", user.id, role_for(user.id, settings.web_operator_ids))
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
async def logout(request: Request, viewer: CurrentViewer, form: CheckedForm) -> Response:
    await request.app.state.redis_async.delete(session_key(str(request.session.get("sid"))))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# -- pages -----------------------------------------------------------------------------------------------


@router.get("/")
async def overview(request: Request, viewer: CurrentViewer) -> Response:
    """The service at a glance (operators): queue, throughput, latency, tags and 👍 per model version."""
    if not viewer.is_operator:
        return RedirectResponse("/chats", status_code=303)
    now = datetime.now(UTC)
    start, end = bucket_edges(now, CHART_SPAN, CHART_BUCKETS)
    async with request.app.state.sessionmaker() as session:
        samples = await queries.latency_samples(session, min(start, now - timedelta(days=1)))
        tags = await queries.tag_feedback(session)
    state = await asyncio.to_thread(queue_state, request.app.state.redis)
    versions: dict[str, list[queries.TagFeedback]] = {}
    for row in tags:
        versions.setdefault(row.model_version, []).append(row)
    return render(
        request,
        "overview.html",
        queue=state,
        hour=window_stats(samples, now - timedelta(hours=1), now),
        day=window_stats(samples, now - timedelta(days=1), now),
        chart=Markup(latency_chart(time_buckets(samples, start, end, CHART_BUCKETS))),  # numbers only
        versions=versions,
        now=now,
    )


@router.get("/chats")
async def chats(request: Request, viewer: CurrentViewer) -> Response:
    """Operators: every group. Admins: the groups the Bot API says they administer."""
    async with request.app.state.sessionmaker() as session:
        if viewer.is_operator:
            summaries = await queries.chat_summaries(session)
        else:
            candidates = await queries.group_chat_ids(session)
            mine = await telegram_of(request).administered(candidates, viewer.user.id)
            summaries = await queries.chat_summaries(session, mine) if mine else []
    titles = await telegram_of(request).chat_titles([s.id for s in summaries])
    return render(request, "chats.html", chats=summaries, titles=titles)


@router.get("/chats/{chat_id}")
async def chat_page(request: Request, viewer: CurrentViewer, chat_id: int) -> Response:
    summary = await accessible_chat(request, viewer, chat_id)
    async with request.app.state.sessionmaker() as session:
        flags = await queries.recent_flags(session, chat_id, RECENT_FLAGS)
        weekly = await chat_weekly_stats(session, chat_id, today=datetime.now(UTC).date(), weeks=WEEKS_SHOWN)
        blocked = await blocklist(session, chat_id)
    telegram = telegram_of(request)
    judges = [flag.verdict_by for flag in flags if flag.verdict_by is not None]
    judges += [entry.added_by for entry in blocked]
    return render(
        request,
        "chat.html",
        chat=summary,
        title=await telegram.chat_title(chat_id),
        flags=flags,
        weekly=weekly,
        blocklist=blocked,
        names=await telegram.member_names(chat_id, judges),
        changes=await recent_changes(request.app.state.redis_async, chat_id),
        modes=list(ModerationMode),
        sensitivities=list(Sensitivity),
        thresholds=THRESHOLDS,
        min_hashtags_range=MIN_HASHTAGS_RANGE,
    )


@router.post("/chats/{chat_id}/settings")
async def save_settings(request: Request, viewer: CurrentViewer, form: CheckedForm, chat_id: int) -> Response:
    await accessible_chat(request, viewer, chat_id)
    try:
        wanted = parse_settings_form(form)
    except FormError as error:
        raise PageError(400, str(error)) from None
    async with request.app.state.sessionmaker.begin() as session:
        before = await queries.change_settings(session, chat_id, wanted)
    if before is None:  # deleted in between
        raise PageError(404, "There is no such group among the ones you administer.")
    changes = describe_changes(before, wanted)
    if changes:
        change = SettingsChange(time.time(), viewer.user.id, viewer.user.display_name, changes)
        await record_change(request.app.state.redis_async, chat_id, change)
        logger.info("chat %s settings changed by %s: %s", chat_id, viewer.user.id, "; ".join(changes))
    request.session["flash"] = "Settings saved." if changes else "Nothing changed."
    return RedirectResponse(f"/chats/{chat_id}", status_code=303)


@router.post("/chats/{chat_id}/flags/{flag_id}/not-spam")
async def not_spam(
    request: Request, viewer: CurrentViewer, form: CheckedForm, chat_id: int, flag_id: int
) -> Response:
    """The verdict the flag's "Not spam" button in Telegram records, given from the dashboard."""
    await accessible_chat(request, viewer, chat_id)
    async with request.app.state.sessionmaker.begin() as session:
        recorded = await record_verdict(session, flag_id, chat_id, viewer.user.id, NOT_SPAM)
    if not recorded:
        raise PageError(404, NO_SUCH_FLAG)
    logger.info("flag %s in chat %s marked not spam by %s", flag_id, chat_id, viewer.user.id)
    return back_to_flag(request, chat_id, flag_id, "Marked as not spam.")


def back_to_flag(request: Request, chat_id: int, flag_id: int, flash: str) -> Response:
    """After a verdict: the group's page at the flag, saying what was done."""
    request.session["flash"] = flash
    return RedirectResponse(f"/chats/{chat_id}#flag-{flag_id}", status_code=303)


@router.post("/chats/{chat_id}/flags/{flag_id}/spam")
async def spam(
    request: Request, viewer: CurrentViewer, form: CheckedForm, chat_id: int, flag_id: int
) -> Response:
    """The verdict the flag's "🚫 Spam" button in Telegram records, given from the dashboard: the picture goes
    on the group's blocklist (an operator may choose every group's: `everywhere`) and, in delete mode, the
    photo is deleted through the Bot API now."""
    summary = await accessible_chat(request, viewer, chat_id)
    everywhere = viewer.is_operator and form.get("everywhere") == "on"
    async with request.app.state.sessionmaker.begin() as session:
        marked = await mark_spam(session, flag_id, chat_id, viewer.user.id, everywhere=everywhere)
    if marked is None:
        raise PageError(404, NO_SUCH_FLAG)
    flag, entry = marked
    where = "every group" if everywhere else "this group"
    notes = [
        "Marked as spam.",
        f"The picture is now blocked in {where}."
        if entry
        else "The picture was never read, so it is not blocked.",
    ]
    if summary.settings.mode is ModerationMode.DELETE and flag.action != "delete":
        try:
            telegram = telegram_of(request)
            deleted = all([await telegram.delete_message(chat_id, i) for i in flag.message_ids])
        except TelegramUnavailable as error:
            logger.warning("spam %s/%s not deleted: %s", chat_id, flag.message_id, error)
            deleted = False
        album = len(flag.message_ids) > 1  # an album's flag: all its photos
        photos, were = ("photos", "were") if album else ("photo", "was")
        outcome = f"The {photos} {were} deleted." if deleted else f"Telegram would not delete the {photos}."
        notes.append(outcome)
    blocked = entry.id if entry else None
    logger.info(
        "flag %s in chat %s marked spam by %s (blocklist entry %s)", flag_id, chat_id, viewer.user.id, blocked
    )
    return back_to_flag(request, chat_id, flag_id, " ".join(notes))


@router.post("/chats/{chat_id}/blocklist/{entry_id}/remove")
async def remove_blocked_picture(
    request: Request, viewer: CurrentViewer, form: CheckedForm, chat_id: int, entry_id: int
) -> Response:
    """Take a picture off the group's blocklist; an entry of every group's list only an operator removes."""
    await accessible_chat(request, viewer, chat_id)
    async with request.app.state.sessionmaker.begin() as session:
        removed = await unblock_picture(session, entry_id, chat_id)
        if not removed and viewer.is_operator:
            removed = await unblock_picture(session, entry_id, None)
    if not removed:
        raise PageError(404, "There is no such picture on this group's blocklist.")
    logger.info("blocklist entry %s of chat %s removed by %s", entry_id, chat_id, viewer.user.id)
    request.session["flash"] = "The picture is no longer blocked."
    return RedirectResponse(f"/chats/{chat_id}#blocklist", status_code=303)
