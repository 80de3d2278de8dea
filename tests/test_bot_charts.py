"""The /stats chart, rendered for real and read back with Pillow."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image, ImageChops, ImageColor

from bot import charts
from bot.charts import COLOURS, PLOT_BOX, SIZE, grid_step, render_stats_chart, stats_chart
from storage.repository import DayStats

DAYS = [date(2026, 3, 1) + timedelta(days=n) for n in range(14)]
PHOTOS = [3, 0, 5, 8, 1, 0, 0, 2, 9, 4, 4, 6, 7, 10]
SUGGESTIONS = [2, 0, 4, 5, 1, 0, 0, 1, 6, 3, 2, 5, 5, 8]
FLAGS = [1, 0, 1, 3, 0, 0, 0, 1, 3, 1, 2, 1, 2, 2]


def chart(photos=PHOTOS, suggestions=SUGGESTIONS, flags=FLAGS, **kwargs) -> Image.Image:
    data = render_stats_chart(
        DAYS, {"photos": photos, "suggestions": suggestions, "flags": flags}, title="Last 14 days", **kwargs
    )
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels_of(image: Image.Image, colour: str) -> int:
    """How many pixels of the plot area have exactly `colour` (the legend's swatches are outside it)."""
    plot = image.convert("RGB").crop(PLOT_BOX)
    target = ImageColor.getrgb(colour)
    return sum(count for count, rgb in plot.getcolors(plot.width * plot.height) if rgb == target)


def day_columns(index: int) -> tuple[float, float]:
    slot = (PLOT_BOX[2] - PLOT_BOX[0]) / len(DAYS)
    return PLOT_BOX[0] + index * slot, PLOT_BOX[0] + (index + 1) * slot


def test_a_phone_sized_png_with_a_bar_colour_per_series():
    image = chart()
    assert (image.format, image.size) == ("PNG", SIZE)
    photos, suggestions, flags = (pixels_of(image, colour) for colour in COLOURS[:3])
    assert photos > suggestions > flags > 0  # bar areas follow the totals


def test_changing_one_day_changes_only_that_days_bars():
    more_flags = [*FLAGS]
    more_flags[5] = 4  # day 5 had nothing
    before, after = chart(), chart(flags=more_flags)
    left, _, right, _ = ImageChops.difference(before.convert("RGB"), after.convert("RGB")).getbbox()
    first, last = day_columns(5)
    assert first <= left and right <= last
    assert pixels_of(after, COLOURS[2]) > pixels_of(before, COLOURS[2])


def test_a_larger_count_draws_a_taller_bar():
    def bar_height(value: int) -> int:
        flags = [*FLAGS]
        flags[0] = value
        image = chart(photos=[10] * 14, flags=flags).convert("RGB")  # the same scale: 0..10
        first, last = day_columns(0)
        column = image.crop((round(first), PLOT_BOX[1], round(last), PLOT_BOX[3]))
        target = ImageColor.getrgb(COLOURS[2])
        return sum(
            1
            for y in range(column.height)
            if target in {column.getpixel((x, y)) for x in range(column.width)}
        )

    assert 0 < bar_height(2) < bar_height(5) < bar_height(9)


def test_no_data_draws_the_empty_text_and_no_bars():
    zeros = [0] * 14
    empty = chart(zeros, zeros, zeros)
    assert empty.size == SIZE
    assert all(pixels_of(empty, colour) == 0 for colour in COLOURS)
    other_words = chart(zeros, zeros, zeros, empty_text="Nothing here")
    assert ImageChops.difference(empty.convert("RGB"), other_words.convert("RGB")).getbbox() is not None
    no_days = Image.open(io.BytesIO(render_stats_chart([], {"photos": []})))
    assert no_days.size == SIZE


def test_mismatched_series_are_refused():
    with pytest.raises(ValueError, match="3 values for 14 days"):
        render_stats_chart(DAYS, {"photos": [1, 2, 3]})
    with pytest.raises(ValueError, match="at most"):
        render_stats_chart(DAYS, {str(n): [0] * 14 for n in range(len(COLOURS) + 1)})


@pytest.mark.parametrize(
    ("largest", "step"),
    [(0, 1), (1, 1), (3, 1), (4, 1), (5, 2), (8, 2), (9, 5), (20, 5), (21, 10), (1234, 500)],
)
def test_grid_steps_are_round_and_few(largest, step):
    assert grid_step(largest) == step
    assert -(-largest // step) <= charts.MAX_STEPS


def test_stats_chart_draws_each_language_and_the_days_counts():
    daily = [DayStats(day, p, s, f) for day, p, s, f in zip(DAYS, PHOTOS, SUGGESTIONS, FLAGS, strict=True)]
    english, russian = (Image.open(io.BytesIO(stats_chart(daily, language))) for language in ("en", "ru"))
    assert english.size == russian.size == SIZE
    assert ImageChops.difference(english.convert("RGB"), russian.convert("RGB")).getbbox() is not None
    assert pixels_of(english, COLOURS[0]) == pixels_of(
        chart(), COLOURS[0]
    )  # photos drawn as the first series


def test_without_dejavu_the_chart_still_renders(monkeypatch):
    monkeypatch.setattr(charts, "FONT_FILE", "no-such-font.ttf")
    charts.font.cache_clear()
    try:
        assert chart().size == SIZE
    finally:
        charts.font.cache_clear()
