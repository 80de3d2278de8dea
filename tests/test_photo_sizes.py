"""ml.photo_sizes.fitting_size: which of Telegram's copies of a photo the bot downloads."""

from __future__ import annotations

from ml.photo_sizes import fitting_size

# Telegram's copies of a 4:3 photo and of a square one, smallest first as Message.photo lists them.
LANDSCAPE = [(90, 68), (320, 240), (800, 600), (1280, 960)]
SQUARE = [(90, 90), (320, 320), (800, 800), (1280, 1280)]


def test_the_smallest_copy_whose_short_side_reaches_the_input() -> None:
    assert fitting_size(LANDSCAPE, 260) == 2  # 320x240 is too short: the model would upscale it
    assert fitting_size(LANDSCAPE, 240) == 1  # exactly the side is enough
    assert fitting_size(SQUARE, 260) == 1
    assert fitting_size(LANDSCAPE, 60) == 0


def test_the_largest_copy_when_none_reaches_it_or_the_side_is_unknown() -> None:
    assert fitting_size(LANDSCAPE, 1000) == 3
    assert fitting_size(LANDSCAPE, None) == 3
    assert fitting_size([(128, 128)], 260) == 0


def test_order_of_the_copies_does_not_matter() -> None:
    shuffled = [LANDSCAPE[3], LANDSCAPE[0], LANDSCAPE[2], LANDSCAPE[1]]
    assert shuffled[fitting_size(shuffled, 260)] == (800, 600)
    assert shuffled[fitting_size(shuffled, None)] == (1280, 960)
