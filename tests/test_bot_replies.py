"""Reply texts (bot.replies) and their languages (bot.i18n)."""

from __future__ import annotations

import string
from datetime import date

import pytest

from bot.i18n import LANGUAGES, TEXTS, pick_language, text
from bot.replies import (
    error_text,
    help_text,
    keep_photo_ids_text,
    known_spam_text,
    mismatch_text,
    moderation_text,
    runner_ups,
    suggestion_text,
    weekly_text,
    with_correction,
    with_question,
)
from ml.tags import ALL_LABELS, TAGS
from moderation.verdict import ModerationMode, ModerationSettings, Sensitivity
from storage.repository import WeekStats
from worker.contract import ClassifyResult, ErrorCode, TagScore


def result(suggested: str | None, **probabilities: float) -> ClassifyResult:
    full = dict.fromkeys(ALL_LABELS, 0.0) | probabilities
    best = max(full, key=full.__getitem__)
    return ClassifyResult(
        request_id="r", ok=True, probabilities=full, hashtag=best, confidence=full[best], suggested=suggested
    )


def placeholders(body: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(body) if name}


def test_every_text_exists_in_every_language_with_the_same_placeholders():
    assert "help" in TEXTS  # the texts are there: a loop over none would check nothing
    for key, versions in TEXTS.items():
        assert set(versions) == set(LANGUAGES), key
        fields = {
            lang: {name for _, name, _, _ in string.Formatter().parse(body) if name}
            for lang, body in versions.items()
        }
        assert len({frozenset(f) for f in fields.values()}) == 1, (key, fields)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ru", "ru"), ("ru-RU", "ru"), ("RU", "ru"), ("en-GB", "en"), ("de", "en"), (None, "en"), ("", "en")],
)
def test_pick_language(code, expected):
    assert pick_language(code, "en") == expected


def test_pick_language_falls_back_to_the_configured_default():
    assert pick_language("fr", "ru") == "ru"


def test_suggestion_puts_the_hashtag_alone_on_the_first_line():
    reply = suggestion_text(result("cafe", cafe=0.82, bar=0.1), "en", margin=0.15)
    assert reply.splitlines()[0] == "#cafe"
    assert "82%" in reply
    assert "Also close" not in reply


def test_close_runner_ups_are_shown_best_first_at_most_two():
    probabilities = {"cafe": 0.40, "bar": 0.30, "home": 0.28, "street": 0.27, "other": 0.39}
    r = result("cafe", **probabilities)
    assert runner_ups(r, margin=0.15) == [("bar", 0.30), ("home", 0.28)]
    reply = suggestion_text(r, "ru", margin=0.15)
    assert reply.splitlines()[0] == "#cafe"
    assert "#bar 30%, #home 28%" in reply
    assert "Близко также" in reply
    assert runner_ups(r, margin=0.05) == []


def test_abstaining_says_no_tag_fits_instead_of_guessing():
    reply = suggestion_text(result(None, street=0.3, other=0.5), "en", margin=0.15)
    assert "#" not in reply
    assert reply == text("no_tag", "en")
    assert suggestion_text(result(None, other=0.9), "ru", 0.15) == text("no_tag", "ru")


def test_a_ranked_list_puts_its_hashtags_first_then_each_probability_best_first():
    listed = result("cafe", cafe=0.48, bar=0.37, home=0.1).model_copy(update={"suggestions": [
        TagScore(tag="cafe", probability=0.48), TagScore(tag="bar", probability=0.37)]})
    for language in LANGUAGES:
        reply = suggestion_text(listed, language, margin=0.15)
        assert reply.splitlines()[0] == "#cafe · #bar"
        assert "#cafe 48% · #bar 37%" in reply
        assert text("runner_ups", language, tags="").strip(": ") not in reply  # the list says it all
    assert "most likely first" in suggestion_text(listed, "en", margin=0.15)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_has_a_phrase_and_internal_ones_share_one(code):
    for language in LANGUAGES:
        phrase = error_text(code, language)
        assert phrase and "Traceback" not in phrase
    internal = {ErrorCode.BAD_REQUEST, ErrorCode.INTERNAL}
    assert (error_text(code, "en") == error_text(None, "en")) == (code in internal)


def test_help_lists_every_tag_and_says_what_is_kept():
    for language in LANGUAGES:
        body = help_text(language)
        assert all(f"#{tag}" in body for tag in TAGS)
    assert "never keep your photos" in help_text("en")


def test_help_lists_only_the_tags_the_serving_model_can_suggest():
    body = help_text("en", ["cafe", "sport"])
    assert "#cafe #sport" in body and "#sky" not in body and "#science" not in body


def test_flag_text_names_a_few_of_many_hashtags():
    notice = mismatch_text(None, "cafe", 0.91, [f"t{i}" for i in range(40)], compatible=0.004, language="en")
    assert "#cafe (91%)" in notice
    assert "#t4 …" in notice
    assert "#t5" not in notice
    assert "0.4%" in notice


def test_notices_say_other_in_words_and_show_the_captions_probability():
    notice = mismatch_text(None, "other", 0.8, ["beach"], compatible=0.0001, language="ru")
    assert "#other" not in notice and "сцену без популярного тега (80%)" in notice
    assert "0.0%" in notice
    deleted = mismatch_text("<b>Carol</b>", "cafe", 0.9, ["beach", "sport"], compatible=0.02, language="en")
    assert deleted.startswith("I removed a photo by <b>Carol</b>")
    assert "#beach #sport" in deleted and "2.0%" in deleted


def test_an_albums_notices_count_its_photos():
    shown = ("cafe", 0.9, ["beach", "sport"])
    flagged = mismatch_text(None, *shown, compatible=0.002, language="en", photos=3)
    assert flagged.startswith("None of these 3 photos looks like") and "#cafe (90%)" in flagged
    deleted = mismatch_text("Carol", *shown, compatible=0.002, language="ru", photos=3)
    assert deleted.startswith("Я удалил альбом из 3 фото от Carol") and "#beach #sport" in deleted
    assert known_spam_text("Carol", "en", photos=2).startswith("I removed an album of 2 photos by Carol")
    assert known_spam_text(None, "en", photos=2) == text("known_spam_album_flag_notice", "en")


def test_moderation_text_in_both_languages():
    settings = ModerationSettings(
        enabled=True, mode=ModerationMode.DRY_RUN, sensitivity=Sensitivity.LENIENT, min_hashtags=3
    )
    assert "is on" in moderation_text(settings, "en")
    assert "dry run" in moderation_text(settings, "en")
    assert "Sensitivity: lenient — flags only when" in moderation_text(settings, "en")
    assert "Чувствительность: мягкая — помечает" in moderation_text(settings, "ru")
    assert "сбалансированная" in moderation_text(ModerationSettings(), "ru")
    assert "выключена" in moderation_text(ModerationSettings(), "ru")


def test_the_question_after_thumbs_down_is_replaced_by_the_answer():
    for language in LANGUAGES:
        asked = with_question("#cafe\n\nConfidence: 91%", language)
        assert asked.startswith("#cafe\n\nConfidence: 91%\n\n") and asked != "#cafe\n\nConfidence: 91%"
        answered = with_correction(asked, "bar", language)
        assert answered.startswith("#cafe\n\nConfidence: 91%\n\n") and "#bar" in answered
        assert with_question("", language).strip() not in answered
    assert "None of these" in with_correction(with_question("#cafe", "en"), "other", "en")


def test_the_question_after_thumbs_up_on_a_list_is_replaced_by_the_answer():
    for language in LANGUAGES:
        asked = with_question("#cafe · #bar", language, "which_listed")
        assert asked.endswith(text("which_listed", language))
        answered = with_correction(asked, "bar", language)
        assert answered.startswith("#cafe · #bar\n\n") and text("which_listed", language) not in answered


def test_help_explains_the_ranked_list():
    assert "up to three, most likely first, each with its probability" in help_text("en")
    assert "до трёх, самый вероятный первым" in help_text("ru")


def test_keep_photo_ids_text_says_never_the_photo_itself():
    assert "never the photo itself" in keep_photo_ids_text(True, "en")
    assert "not kept" in keep_photo_ids_text(False, "en")


def test_weekly_text_lists_the_newest_week_first_with_the_false_flag_share():
    weeks = [WeekStats(date(2026, 3, 2), 0, 0), WeekStats(date(2026, 3, 9), 4, 1, spam=2, blocklist_hits=1)]
    assert weekly_text(weeks, "en").splitlines() == [
        text("stats_weeks", "en"),
        "• 09.03: flags 4 (known spam pictures 1), not spam 1 (25%), spam 2",
        "• 02.03: flags 0 (known spam pictures 0), not spam 0, spam 0",
    ]
    assert "«не спам» 1 (25%), «спам» 2" in weekly_text(weeks, "ru")
