"""An album (a Telegram media group) is one post: its captions' hashtags are judged against all its photos.

Pure, like `moderation.verdict`. Telegram puts an album's caption on one of its photos (usually the first),
so the album's hashtags are those of every caption in it, in photo order. The album is as compatible as its
most compatible photo: a caption is honest when any photo shows a scene it names, so the album is flagged
only when the model finds the caption's scenes improbable on every photo. A lower bound of "the probability
that some photo shows a compatible scene" that assumes nothing about how the photos relate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from moderation.hashtags import extract_hashtags
from moderation.verdict import ModerationSettings, SceneTagsLookup, Verdict, judge


def album_hashtags(captions: Iterable[str | None]) -> list[str]:
    """The album's hashtags: every caption's, in photo order."""
    return [hashtag for caption in captions for hashtag in extract_hashtags(caption or "")]


def judge_album(
    hashtags: Sequence[str],
    scene_tags: SceneTagsLookup,
    photos: Sequence[Mapping[str, float]],
    settings: ModerationSettings,
) -> tuple[int, Verdict]:
    """The verdict on an album: `judge` on each photo's probabilities, the album taking its most compatible
    photo's verdict; with the index of that photo (the one a notice describes). `photos`: the probabilities
    of the album's classified photos (at least one)."""
    if not photos:
        raise ValueError("an album verdict needs at least one classified photo")
    verdicts = [judge(hashtags, scene_tags, probabilities, settings) for probabilities in photos]
    deciding = max(range(len(verdicts)), key=lambda i: verdicts[i].compatible_probability or 0.0)
    return deciding, verdicts[deciding]
