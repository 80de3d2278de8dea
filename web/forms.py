"""The chat settings form: submitted fields to `ModerationSettings`, or one message saying what is wrong."""

from __future__ import annotations

from collections.abc import Mapping

from moderation.verdict import MIN_HASHTAGS_RANGE, ModerationMode, ModerationSettings, Sensitivity


class FormError(ValueError):
    """A submitted value the form cannot take; the message is shown to the admin."""


def parse_settings_form(form: Mapping[str, str]) -> ModerationSettings:
    try:
        mode = ModerationMode(form.get("mode", ""))
    except ValueError:
        raise FormError(f"Mode must be one of {', '.join(m.value for m in ModerationMode)}.") from None
    try:
        sensitivity = Sensitivity(form.get("sensitivity", ""))
    except ValueError:
        raise FormError(f"Sensitivity must be one of {', '.join(s.value for s in Sensitivity)}.") from None
    try:
        min_hashtags = int(form.get("min_hashtags", ""))
    except ValueError:
        min_hashtags = 0
    if min_hashtags not in MIN_HASHTAGS_RANGE:
        low, high = MIN_HASHTAGS_RANGE[0], MIN_HASHTAGS_RANGE[-1]
        raise FormError(f"Minimum hashtags must be a whole number from {low} to {high}.")
    # An unchecked checkbox sends nothing.
    return ModerationSettings(
        enabled=form.get("enabled") == "on", mode=mode, sensitivity=sensitivity, min_hashtags=min_hashtags
    )
