"""User-facing texts in English and Russian, and the choice between them from Telegram's language_code."""

from __future__ import annotations

from typing import Literal, get_args

Language = Literal["en", "ru"]
LANGUAGES: tuple[Language, ...] = get_args(Language)

# Every key has every language (a test checks it); placeholders are str.format fields.
TEXTS: dict[str, dict[Language, str]] = {
    "help": {
        "en": (
            "Send me a photo (or an image as a file) and I will suggest the popular hashtag for its scene.\n"
            "When no single tag is sure, I offer up to three, most likely first, each with its probability. "
            "If no popular tag fits, I say so instead of guessing.\n\n"
            "Tags I can suggest: {tags}\n\n"
            "In groups, admins can turn on hashtag-spam flagging: /moderation on, then /settings; "
            "/spam in reply to a photo marks it as spam and blocks the picture there.\n\n"
            "Privacy: I never keep your photos. I keep Telegram's ids of the photo, the tag I suggested, "
            "its confidence, your 👍/👎 and the tag you picked, and, in groups with moderation on, the "
            "flagged message's id and hashtags. The operators may fetch rated photos again through those "
            "ids to train the model; /settings stops that and forgets the ids kept so far."
        ),
        "ru": (
            "Пришлите фото (или изображение файлом), и я предложу популярный хештег для его сцены.\n"
            "Когда ни в одном теге я не уверен, я предлагаю до трёх, самый вероятный первым, каждый с его "
            "вероятностью. Если ни один популярный тег не подходит, я так и скажу, а не буду гадать.\n\n"
            "Теги, которые я могу предложить: {tags}\n\n"
            "В группах администраторы могут включить пометку хештег-спама: "
            "/moderation on, затем /settings; /spam в ответ на фото помечает его как спам и блокирует "
            "эту картинку в группе.\n\n"
            "Приватность: я не храню ваши фото. Я храню идентификаторы фото в Telegram, предложенный тег, "
            "уверенность, ваш 👍/👎 и выбранный вами тег, а в группах с модерацией — id помеченного "
            "сообщения и его хештеги. По этим идентификаторам операторы могут снова загрузить "
            "оценённые фото, чтобы обучать модель; /settings отключает это и стирает уже сохранённые "
            "идентификаторы."
        ),
    },
    "confidence": {"en": "Confidence: {percent}", "ru": "Уверенность: {percent}"},
    "runner_ups": {"en": "Also close: {tags}", "ru": "Близко также: {tags}"},
    # A ranked list: no single tag is sure enough, one of these likely fits (ml.serving.inference).
    "ranked_list": {
        "en": "Likely one of these, most likely first: {tags}",
        "ru": "Скорее всего, один из этих, самый вероятный первым: {tags}",
    },
    "no_tag": {
        "en": "No popular hashtag fits this photo well, so I won't guess.",
        "ru": "Ни один популярный хештег не подходит к этому фото, так что гадать не буду.",
    },
    "busy": {
        "en": "I'm busy right now, please try again in a minute.",
        "ru": "Я сейчас занят, попробуйте через минуту.",
    },
    "timeout": {
        "en": "This is taking too long, so I gave up on this photo. Please try again later.",
        "ru": "Это заняло слишком много времени, я отменил обработку фото. Попробуйте позже.",
    },
    "rate_limited": {
        "en": "That's a lot of photos. Please wait {seconds} s and send it again.",
        "ru": "Слишком много фото. Подождите {seconds} с и отправьте снова.",
    },
    "not_an_image_file": {
        "en": "Please send a photo or an image file (JPEG, PNG, WebP or GIF).",
        "ru": "Пришлите фото или файл с изображением (JPEG, PNG, WebP или GIF).",
    },
    "error_empty": {"en": "This file is empty.", "ru": "Файл пустой."},
    "error_not_an_image": {
        "en": "I can't read this file as an image.",
        "ru": "Не получается прочитать этот файл как изображение.",
    },
    "error_corrupt": {
        "en": "This image looks damaged or cut off. Could you send it again?",
        "ru": "Изображение повреждено или обрезано. Пришлите его ещё раз?",
    },
    "error_too_large": {
        "en": "This image is too large for me. Please send a smaller one.",
        "ru": "Изображение слишком большое. Пришлите поменьше.",
    },
    "error_unsupported": {
        "en": "I can't handle this image format. JPEG, PNG, WebP or GIF work.",
        "ru": "Этот формат не поддерживается. Подойдут JPEG, PNG, WebP или GIF.",
    },
    "error_internal": {
        "en": "Something went wrong on my side. Please try again later.",
        "ru": "Что-то пошло не так с моей стороны. Попробуйте позже.",
    },
    "feedback_thanks": {"en": "Thanks for the feedback!", "ru": "Спасибо за отзыв!"},
    "feedback_already": {"en": "Already rated. Thanks!", "ru": "Уже оценено. Спасибо!"},
    "which_tag": {"en": "Which tag fits?", "ru": "Какой тег подходит?"},
    "which_listed": {"en": "Which of them fits?", "ru": "Какой из них подходит?"},
    "correction_none": {"en": "None of these", "ru": "Ни один из них"},
    "correction_noted": {
        "en": "You picked {tag}. Thanks, noted!",
        "ru": "Вы выбрали {tag}. Спасибо, записал!",
    },
    "keep_photo_ids_on": {
        "en": "Photo ids for training: kept. I keep Telegram's id of each rated or flagged photo (never the "
        "photo itself), so the operators can fetch it again to improve the model.",
        "ru": "Id фото для обучения: сохраняются. Я храню идентификатор каждого оценённого или помеченного "
        "фото в Telegram (не само фото), чтобы операторы могли загрузить его снова и улучшить модель.",
    },
    "keep_photo_ids_off": {
        "en": "Photo ids for training: not kept. Photos from this chat never become training data.",
        "ru": "Id фото для обучения: не сохраняются. Фото из этого чата не попадут в обучающие данные.",
    },
    "keep_photo_ids_turn_off": {
        "en": "Stop keeping photo ids for training",
        "ru": "Не хранить id фото для обучения",
    },
    "keep_photo_ids_turn_on": {"en": "Keep photo ids for training", "ru": "Хранить id фото для обучения"},
    "feedback_not_yours": {
        "en": "Only the person who sent the photo can rate this.",
        "ru": "Оценить может только тот, кто прислал фото.",
    },
    "admin_only": {
        "en": "Only chat administrators can do that.",
        "ru": "Это могут только администраторы чата.",
    },
    "group_flooded": {
        "en": (
            "Too many photos at once: I could not check them all for hashtag spam. "
            "Admins may want to look through the latest ones."
        ),
        "ru": (
            "Слишком много фото сразу: я не успел проверить все на хештег-спам. "
            "Администраторам стоит просмотреть последние."
        ),
    },
    "channel_not_admin": {
        "en": (
            "Settings can't be changed by a message sent as a channel: only the group's own linked channel "
            "speaks for it. Send the command from your own account if you are an administrator."
        ),
        "ru": (
            "Настройки нельзя менять сообщением от имени канала: за группу говорит только её привязанный "
            "канал. Отправьте команду от своего аккаунта, если вы администратор."
        ),
    },
    "group_only": {
        "en": "This works in groups: add me to a group and make me an admin who can delete messages.",
        "ru": "Это работает в группах: добавьте меня в группу администратором с правом удалять сообщения.",
    },
    "moderation_usage": {"en": "Usage: /moderation on|off", "ru": "Использование: /moderation on|off"},
    "moderation_state": {
        "en": (
            "Hashtag-spam flagging is {state}.\n"
            "Mode: {mode}; at least {min_hashtags} hashtags in a caption.\n"
            "Sensitivity: {sensitivity} — {about}."
        ),
        "ru": (
            "Пометка хештег-спама {state}.\nРежим: {mode}; минимум хештегов в подписи: {min_hashtags}.\n"
            "Чувствительность: {sensitivity} — {about}."
        ),
    },
    "state_on": {"en": "on", "ru": "включена"},
    "state_off": {"en": "off", "ru": "выключена"},
    "mode_flag": {"en": "flag", "ru": "пометить"},
    "mode_delete": {"en": "delete", "ru": "удалить"},
    "mode_dry-run": {"en": "dry run", "ru": "только запись"},
    "sensitivity_strict": {"en": "strict", "ru": "строгая"},
    "sensitivity_balanced": {"en": "balanced", "ru": "сбалансированная"},
    "sensitivity_lenient": {"en": "lenient", "ru": "мягкая"},
    "sensitivity_strict_about": {
        "en": "flags a caption when the photo is unlikely to show its scenes: catches the most spam, "
        "now and then an honest post too",
        "ru": "помечает подпись, когда её сцены на фото маловероятны: ловит больше всего спама, "
        "но иногда и честный пост",
    },
    "sensitivity_balanced_about": {
        "en": "flags a caption when the photo is very unlikely to show its scenes: most spam, "
        "rarely an honest post",
        "ru": "помечает подпись, когда её сцены на фото очень маловероятны: большая часть спама, "
        "честные посты редко",
    },
    "sensitivity_lenient_about": {
        "en": "flags only when the photo surely shows none of its scenes: the fewest false flags, "
        "suited to delete mode",
        "ru": "помечает, только если на фото точно нет ни одной из её сцен: меньше всего ложных пометок, "
        "подходит для режима удаления",
    },
    "scene_other": {"en": "a scene with no popular tag", "ru": "сцену без популярного тега"},
    "flag_notice": {
        "en": "This photo looks like {scene} ({percent}), but its caption says {hashtags} "
        "(I give those scenes {compatible}).",
        "ru": "Фото похоже на {scene} ({percent}), а в подписи — {hashtags} "
        "(этим сценам я даю {compatible}).",
    },
    "delete_notice": {
        "en": "I removed a photo by {user}: it looks like {scene} ({percent}), "
        "but its caption said {hashtags} (I give those scenes {compatible}).",
        "ru": "Я удалил фото от {user}: оно похоже на {scene} ({percent}), "
        "а в подписи было {hashtags} (этим сценам я даю {compatible}).",
    },
    # An album judged as one post (moderation.album): the photo named is the one closest to the caption.
    "album_flag_notice": {
        "en": "None of these {count} photos looks like what their caption says, {hashtags}: the closest "
        "looks like {scene} ({percent}), and I give those scenes {compatible}.",
        "ru": "Ни одно из этих {count} фото не похоже на то, что в подписи, {hashtags}: самое близкое "
        "похоже на {scene} ({percent}), а этим сценам я даю {compatible}.",
    },
    "album_delete_notice": {
        "en": "I removed an album of {count} photos by {user}: none looks like what its caption said, "
        "{hashtags} (the closest looks like {scene} ({percent}); I give those scenes {compatible}).",
        "ru": "Я удалил альбом из {count} фото от {user}: ни одно не похоже на то, что было в подписи, "
        "{hashtags} (самое близкое похоже на {scene} ({percent}); этим сценам я даю {compatible}).",
    },
    # A photo matching a known spam picture (moderation.blocklist), whatever its caption.
    "known_spam_flag_notice": {
        "en": "This photo is a known spam picture: an admin marked it as spam before.",
        "ru": "Это фото — известная спам-картинка: администратор уже помечал её как спам.",
    },
    "known_spam_delete_notice": {
        "en": "I removed a photo by {user}: it is a known spam picture (an admin marked it as spam before).",
        "ru": "Я удалил фото от {user}: это известная спам-картинка (администратор уже помечал её как спам).",
    },
    "known_spam_album_flag_notice": {
        "en": "This album holds a known spam picture: an admin marked it as spam before.",
        "ru": "В этом альбоме есть известная спам-картинка: администратор уже помечал её как спам.",
    },
    "known_spam_album_delete_notice": {
        "en": "I removed an album of {count} photos by {user}: it holds a known spam picture (an admin "
        "marked it as spam before).",
        "ru": "Я удалил альбом из {count} фото от {user}: в нём есть известная спам-картинка "
        "(администратор уже помечал её как спам).",
    },
    "not_spam_button": {"en": "Not spam", "ru": "Не спам"},
    "spam_button": {"en": "🚫 Spam", "ru": "🚫 Спам"},
    "spam_recorded": {
        "en": "Marked as spam: this picture is now blocked in this group.",
        "ru": "Помечено как спам: эта картинка теперь заблокирована в группе.",
    },
    "spam_recorded_unhashed": {
        "en": "Marked as spam. The picture could not be read, so it is not blocked.",
        "ru": "Помечено как спам. Картинку не удалось прочитать, поэтому она не заблокирована.",
    },
    "spam_usage": {
        "en": "Reply /spam to a photo in this group to mark it as spam and block the picture.",
        "ru": "Ответьте /spam на фото в этой группе, чтобы пометить его как спам и заблокировать картинку.",
    },
    "spam_too_large": {
        "en": "Marked as spam. The photo is too large for me to read, so the picture is not blocked.",
        "ru": "Помечено как спам. Фото слишком большое, я не могу его прочитать, картинка не заблокирована.",
    },
    "not_spam_recorded": {
        "en": "Recorded as a false positive. Thanks!",
        "ru": "Записал как ложное срабатывание. Спасибо!",
    },
    "stats": {
        "en": "In this chat: photos seen {photos}, suggestions {suggestions}, flags {flags}, "
        "false positives {false_positives}.",
        "ru": "В этом чате: фото {photos}, предложений {suggestions}, пометок {flags}, "
        "ложных срабатываний {false_positives}.",
    },
    "trust_usage": {
        "en": "Reply to a member's message with /trust to stop checking their photos against their captions, "
        "or /untrust to check them again.",
        "ru": "Ответьте на сообщение участника командой /trust, чтобы больше не сверять его фото "
        "с подписями, или /untrust, чтобы сверять снова.",
    },
    "trusted": {
        "en": "{name} is trusted: their photos are no longer checked against their captions.",
        "ru": "{name} теперь в доверенных: его фото больше не сверяются с подписями.",
    },
    "untrusted": {
        "en": "{name}'s photos are checked again; their clean posts count from zero.",
        "ru": "Фото {name} снова проверяются; чистые публикации считаются с нуля.",
    },
    "stats_weeks": {
        "en": "Moderation by week (UTC, weeks from Monday):",
        "ru": "Модерация по неделям (UTC, недели с понедельника):",
    },
    "stats_week": {
        "en": "• {week}: flags {flags} (known spam pictures {hits}), not spam {not_spam}{share}, spam {spam}",
        "ru": "• {week}: пометок {flags} (известный спам {hits}), «не спам» {not_spam}{share}, «спам» {spam}",
    },
    # The /stats chart. Photos per day are those with a stored record (storage.repository.DayStats).
    "chart_title": {"en": "Last {days} days (UTC)", "ru": "Последние {days} дней (UTC)"},
    "chart_photos": {"en": "photos", "ru": "фото"},
    "chart_suggestions": {"en": "suggestions", "ru": "предложения"},
    "chart_flags": {"en": "flags", "ru": "пометки"},
    "chart_empty": {"en": "No photos yet", "ru": "Пока нет фото"},
    "settings_saved": {"en": "Saved.", "ru": "Сохранено."},
    "cmd_start": {"en": "What I do", "ru": "Что я умею"},
    "cmd_help": {"en": "Help, tags and privacy", "ru": "Помощь, теги и приватность"},
    "cmd_moderation": {
        "en": "Admins: hashtag-spam flagging on|off",
        "ru": "Админам: пометка хештег-спама on|off",
    },
    "cmd_settings": {
        "en": "Settings: keeping photo ids; in groups, admins: moderation",
        "ru": "Настройки: хранение id фото; в группах админам: модерация",
    },
    "cmd_stats": {"en": "Admins: this chat's numbers", "ru": "Админам: статистика чата"},
    "cmd_trust": {
        "en": "Admins, as a reply: stop checking this member's photos",
        "ru": "Админам, ответом: не проверять фото участника",
    },
    "cmd_untrust": {
        "en": "Admins, as a reply: check this member's photos again",
        "ru": "Админам, ответом: снова проверять фото участника",
    },
    "cmd_spam": {
        "en": "Admins, in reply to a photo: spam, block the picture",
        "ru": "Админам, в ответ на фото: спам, заблокировать картинку",
    },
}


def pick_language(language_code: str | None, default: Language) -> Language:
    """'ru', 'ru-RU' -> 'ru'; 'en-GB' -> 'en'; anything else (or None) -> `default`."""
    if language_code:
        primary = language_code.split("-", 1)[0].lower()
        for language in LANGUAGES:
            if primary == language:
                return language
    return default


def text(key: str, language: Language, **fields: object) -> str:
    """The text for `key` in `language`, with its placeholders filled."""
    return TEXTS[key][language].format(**fields)
