"""Which of Telegram's copies of a photo the model needs (pure: the bot, the HTTP API's docs and
`ml compare --telegram-size` share it).

Telegram stores every photo in several sizes (`Message.photo`, PhotoSize objects): typically 90, 320, 800 and
1280 px on the long side. The model sees a centre crop of `input_size` px of the short side, so any copy
whose short side reaches that gives it the same pixels, at a fraction of the bytes to download, queue and
decode.
"""

from __future__ import annotations

from collections.abc import Sequence

# Telegram's usual copies of a photo, by long side in px (PhotoSize types s, m, x, y).
TELEGRAM_LONG_SIDES: tuple[int, ...] = (90, 320, 800, 1280)


def fitting_size(sizes: Sequence[tuple[int, int]], input_side: int | None) -> int:
    """The index in `sizes` ((width, height) of each copy) of the smallest copy whose short side is at least
    `input_side`; the largest copy when none is, or when the side is unknown (None). `sizes` is not empty."""
    by_area = sorted(range(len(sizes)), key=lambda i: sizes[i][0] * sizes[i][1])
    if input_side is not None:
        for index in by_area:
            if min(sizes[index]) >= input_side:
                return index
    return by_area[-1]
