"""The /stats chart: per-day counts as grouped bars in a small PNG, drawn with Pillow.

Pillow, not matplotlib: the bot's image has no plotting stack. Pure: numbers in, PNG bytes out.
"""

from __future__ import annotations

import functools
import io
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import date

from PIL import Image, ImageDraw, ImageFont

from bot.i18n import Language, text
from storage.repository import DayStats

logger = logging.getLogger(__name__)

SIZE = (800, 400)  # wide and short: readable across a phone's screen
PLOT_BOX = (64, 84, 784, 352)  # left, top, right, bottom of the bars' area
COLOURS = ("#4c78a8", "#f58518", "#e45756", "#54a24b")  # one per series, in order
BACKGROUND, INK, GRID = "#ffffff", "#222222", "#dddddd"
FONT_FILE = "DejaVuSans.ttf"  # Latin and Cyrillic; Debian's fonts-dejavu-core (in the bot's image)
TITLE_PT, LABEL_PT = 22, 16
MAX_STEPS = 4  # grid steps from zero to the top of a chart with data
LABEL_GAP = 8  # pixels between neighbouring date labels

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def font(size: int) -> Font:
    try:
        return ImageFont.truetype(FONT_FILE, size)
    except OSError:
        logger.warning(
            "%s not found: the chart's text uses Pillow's own font, which has no Cyrillic", FONT_FILE
        )
        return ImageFont.load_default(size)


def grid_step(largest: int) -> int:
    """A round step (1, 2, 5, 10, 20, ...) that covers 0..largest in at most MAX_STEPS steps."""
    rough = max(largest, 1) / MAX_STEPS
    magnitude = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)


def render_stats_chart(
    days: Sequence[date],
    series: Mapping[str, Sequence[int]],
    *,
    title: str = "",
    empty_text: str = "No photos yet",
) -> bytes:
    """A PNG of `series` (label -> one count per day of `days`) as grouped bars, a legend and date labels;
    `empty_text` in the middle instead of bars when every count is zero."""
    if len(series) > len(COLOURS):
        raise ValueError(f"at most {len(COLOURS)} series, got {len(series)}")
    for label, values in series.items():
        if len(values) != len(days):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(days)} days")
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((PLOT_BOX[0], 12), title, font=font(TITLE_PT), fill=INK)
    _legend(draw, list(series))
    largest = max((v for values in series.values() for v in values), default=0)
    if largest > 0:
        top = _grid(draw, largest)
        _bars(draw, list(series.values()), top)
    else:
        _centred(draw, empty_text)
    left, _, right, bottom = PLOT_BOX
    draw.line([(left, bottom), (right, bottom)], fill=INK, width=2)
    _date_labels(draw, days)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _legend(draw: ImageDraw.ImageDraw, labels: list[str]) -> None:
    x, y = PLOT_BOX[0], 48
    for label, colour in zip(labels, COLOURS, strict=False):
        draw.rectangle([x, y + 2, x + 16, y + 18], fill=colour)
        x += 24
        draw.text((x, y), label, font=font(LABEL_PT), fill=INK)
        x += round(draw.textlength(label, font=font(LABEL_PT))) + 24


def _grid(draw: ImageDraw.ImageDraw, largest: int) -> int:
    """Horizontal lines with their counts on the left; returns the count at the top of the plot."""
    left, top_y, right, bottom = PLOT_BOX
    step = grid_step(largest)
    top = math.ceil(largest / step) * step
    for value in range(0, top + 1, step):
        y = bottom - (bottom - top_y) * value / top
        draw.line([(left, y), (right, y)], fill=GRID, width=1)
        draw.text((left - 8, y), str(value), font=font(LABEL_PT), fill=INK, anchor="rm")
    return top


def _bars(draw: ImageDraw.ImageDraw, series: list[Sequence[int]], top: int) -> None:
    left, top_y, right, bottom = PLOT_BOX
    slot = (right - left) / len(series[0])
    width = slot * 0.8 / len(series)
    for index, values in enumerate(series):
        for day, value in enumerate(values):
            if value <= 0:
                continue
            x = left + day * slot + slot * 0.1 + index * width
            y = bottom - (bottom - top_y) * value / top
            draw.rectangle([round(x), round(y), round(x + width) - 1, bottom], fill=COLOURS[index])


def _centred(draw: ImageDraw.ImageDraw, message: str) -> None:
    left, top_y, right, bottom = PLOT_BOX
    draw.text(((left + right) / 2, (top_y + bottom) / 2), message, font=font(TITLE_PT), fill=INK, anchor="mm")


def _date_labels(draw: ImageDraw.ImageDraw, days: Sequence[date]) -> None:
    """`dd.mm` under each day's bars; every second (third, ...) day when they would touch."""
    if not days:
        return
    left, _, right, bottom = PLOT_BOX
    slot = (right - left) / len(days)
    widest = max(draw.textlength(f"{day:%d.%m}", font=font(LABEL_PT)) for day in days)
    every = math.ceil((widest + LABEL_GAP) / slot)
    for index in range(len(days) - 1, -1, -every):  # from the last day: today always has its label
        x = left + (index + 0.5) * slot
        draw.text((x, bottom + 10), f"{days[index]:%d.%m}", font=font(LABEL_PT), fill=INK, anchor="mt")


def stats_chart(daily: Sequence[DayStats], language: Language) -> bytes:
    """The /stats chart of `daily` (one entry a day, oldest first) with its texts in `language`."""
    return render_stats_chart(
        [d.day for d in daily],
        {
            text("chart_photos", language): [d.photos for d in daily],
            text("chart_suggestions", language): [d.suggestions for d in daily],
            text("chart_flags", language): [d.flags for d in daily],
        },
        title=text("chart_title", language, days=len(daily)),
        empty_text=text("chart_empty", language),
    )
