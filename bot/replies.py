"""Composes the bot's replies from results and settings. Pure: text in, text out."""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import Language, text
from ml.tags import OTHER, TAGS
from moderation.verdict import ModerationSettings
from storage.repository import WeekStats
from worker.contract import ClassifyResult, ErrorCode

MAX_RUNNER_UPS = 2
MAX_HASHTAGS_SHOWN = 5  # a spam caption may hold hundreds; the notice names a few


def percent(probability: float) -> str:
    return f"{round(probability * 100)}%"


def small_percent(probability: float) -> str:
    """A probability that may be tiny (a flagged caption's scenes): `0.4%`, `12%`."""
    return percent(probability) if probability >= 0.1 else f"{probability * 100:.1f}%"


def runner_ups(result: ClassifyResult, margin: float) -> list[tuple[str, float]]:
    """Up to two other tags whose probability is within `margin` of the suggested one's, best first."""
    if result.suggested is None:
        return []
    top = result.probabilities.get(result.suggested, result.confidence)
    close = [
        (tag, p)
        for tag, p in result.probabilities.items()
        if tag not in (result.suggested, OTHER) and p > 0 and top - p <= margin
    ]
    close.sort(key=lambda item: (-item[1], item[0]))
    return close[:MAX_RUNNER_UPS]


def suggestion_text(result: ClassifyResult, language: Language, margin: float) -> str:
    """The hashtag alone on the first line (easy to copy), then confidence and close runner-ups; a ranked
    list (no single tag sure enough) puts its hashtags on the first line, then each with its probability."""
    if result.suggested is None:
        return text("no_tag", language)
    if len(result.suggestions) > 1:
        listed = " · ".join(f"#{s.tag}" for s in result.suggestions)
        shown = " · ".join(f"#{s.tag} {percent(s.probability)}" for s in result.suggestions)
        return "\n".join([listed, "", text("ranked_list", language, tags=shown)])
    top = result.probabilities.get(result.suggested, result.confidence)
    lines = [f"#{result.suggested}", "", text("confidence", language, percent=percent(top))]
    close = runner_ups(result, margin)
    if close:
        shown = ", ".join(f"#{tag} {percent(p)}" for tag, p in close)
        lines.append(text("runner_ups", language, tags=shown))
    return "\n".join(lines)


QUESTIONS = ("which_tag", "which_listed")  # after 👎: which tag fits; after 👍 on a list: which of them


def _question(language: Language, question: str) -> str:
    return f"\n\n{text(question, language)}"


def with_question(reply: str, language: Language, question: str = "which_tag") -> str:
    """The suggestion with a question of `QUESTIONS` under it (the keyboard holds the answers)."""
    return reply + _question(language, question)


def with_correction(reply: str, tag: str, language: Language) -> str:
    """The question replaced by the user's answer; `other` ("none of these") is said in words."""
    picked = text("correction_none", language) if tag == OTHER else f"#{tag}"
    for question in QUESTIONS:
        reply = reply.removesuffix(_question(language, question))
    return f"{reply}\n\n{text('correction_noted', language, tag=picked)}"


def keep_photo_ids_text(keep: bool, language: Language) -> str:
    return text("keep_photo_ids_on" if keep else "keep_photo_ids_off", language)


_ERROR_KEYS = {
    ErrorCode.EMPTY: "error_empty",
    ErrorCode.NOT_AN_IMAGE: "error_not_an_image",
    ErrorCode.CORRUPT: "error_corrupt",
    ErrorCode.TOO_LARGE: "error_too_large",
    ErrorCode.UNSUPPORTED: "error_unsupported",
}


def error_text(error: ErrorCode | None, language: Language) -> str:
    """A failed classification in the user's words; our own faults are one generic line."""
    return text(_ERROR_KEYS.get(error, "error_internal") if error else "error_internal", language)


def help_text(language: Language, tags: Sequence[str] | None = None) -> str:
    """`tags`: what the serving model can suggest (its workers publish it); None lists every tag."""
    return text("help", language, tags=" ".join(f"#{tag}" for tag in (TAGS if tags is None else tags)))


def hashtags_shown(hashtags: Sequence[str]) -> str:
    shown = " ".join(f"#{tag}" for tag in hashtags[:MAX_HASHTAGS_SHOWN])
    return shown + (" …" if len(hashtags) > MAX_HASHTAGS_SHOWN else "")


def scene_shown(tag: str, language: Language) -> str:
    """`#cafe`; the model's `other` is no hashtag, so it is said in words."""
    return text("scene_other", language) if tag == OTHER else f"#{tag}"


def mismatch_text(
    poster: str | None,
    predicted: str,
    confidence: float,
    hashtags: Sequence[str],
    *,
    compatible: float,
    language: Language,
    photos: int = 1,
) -> str:
    """The notice on a caption the photo contradicts: what it looks like, what its caption claims, and how
    likely that is; a flag's reply (`poster` None) or, naming the poster (HTML), the delete notice. `photos`
    > 1: an album's, describing its photo closest to the caption."""
    album = "album_" if photos > 1 else ""
    return text(
        f"{album}flag_notice" if poster is None else f"{album}delete_notice",
        language,
        count=photos,
        user=poster,
        scene=scene_shown(predicted, language),
        percent=percent(confidence),
        hashtags=hashtags_shown(hashtags),
        compatible=small_percent(compatible),
    )


def known_spam_text(user: str | None, language: Language, photos: int = 1) -> str:
    """The notice on a known spam picture: a flag's reply, or with `user` (HTML) the delete notice; `photos`
    > 1: on an album that holds one."""
    album = "album_" if photos > 1 else ""
    if user is None:
        return text(f"known_spam_{album}flag_notice", language)
    return text(f"known_spam_{album}delete_notice", language, user=user, count=photos)


def moderation_text(settings: ModerationSettings, language: Language) -> str:
    return text(
        "moderation_state",
        language,
        state=text("state_on" if settings.enabled else "state_off", language),
        mode=text(f"mode_{settings.mode.value}", language),
        min_hashtags=settings.min_hashtags,
        sensitivity=text(f"sensitivity_{settings.sensitivity.value}", language),
        about=text(f"sensitivity_{settings.sensitivity.value}_about", language),
    )


def weekly_text(weeks: Sequence[WeekStats], language: Language) -> str:
    """/stats' moderation weeks, newest first: flags (known spam pictures among them), "not spam" verdicts
    and their share of the flags, "spam" verdicts."""
    lines = [text("stats_weeks", language)]
    for week in reversed(weeks):
        share = "" if week.false_flag_share is None else f" ({percent(week.false_flag_share)})"
        lines.append(
            text(
                "stats_week",
                language,
                week=week.week.strftime("%d.%m"),
                flags=week.flags,
                not_spam=week.not_spam,
                share=share,
                spam=week.spam,
                hits=week.blocklist_hits,
            )
        )
    return "\n".join(lines)
