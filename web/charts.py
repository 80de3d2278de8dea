"""Server-rendered SVG charts (no JavaScript, no CDN): a pure function from numbers to markup."""

from __future__ import annotations

from collections.abc import Sequence

from web.series import Bucket

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 16, 28  # room for the axes' labels
TIME_LABELS = 6


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above `value` (a round top for an axis)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    return next(step * scale for step in (1, 2, 5, 10) if step * scale >= value)


def _lines(points: Sequence[tuple[float, float] | None], css_class: str) -> str:
    """One polyline per run of slices with data: a gap (no photo answered) is not drawn over."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    parts = []
    for run in runs:
        if len(run) == 1:  # a lone slice: a dot, a line needs two
            parts.append(f'<circle class="{css_class}" cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2.5"/>')
        elif run:
            coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(f'<polyline class="{css_class}" fill="none" points="{coordinates}"/>')
    return "".join(parts)


def latency_chart(buckets: Sequence[Bucket]) -> str:
    """Photos answered per slice (bars, right axis) and p50/p95 latency (lines, left axis, ms)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(buckets), 1)
    top_ms = _nice_ceiling(max((b.p95_ms or 0 for b in buckets), default=0))
    top_photos = _nice_ceiling(max((b.photos for b in buckets), default=0))

    def x(index: int) -> float:
        return LEFT + slot * (index + 0.5)

    def y(value: float, top: float) -> float:
        return TOP + plot_h * (1 - value / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" '
        'aria-labelledby="chart-title"><title id="chart-title">Photos answered and latency over time</title>',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for fraction in (0, 0.5, 1):
        line_y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{line_y:.1f}" y2="{line_y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{line_y + 4:.1f}" text-anchor="end">'
            f"{top_ms * fraction:g} ms</text>"
        )
        parts.append(
            f'<text class="axis" x="{LEFT + plot_w + 6}" y="{line_y + 4:.1f}">'
            f"{top_photos * fraction:g}</text>"
        )
    for index, bucket in enumerate(buckets):
        height = plot_h * bucket.photos / top_photos
        parts.append(
            f'<rect class="volume" x="{x(index) - slot * 0.4:.1f}" y="{TOP + plot_h - height:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{height:.1f}"><title>{bucket.start:%H:%M} UTC: '
            f"{bucket.photos} photos</title></rect>"
        )
    for name, values in (("p50", [b.p50_ms for b in buckets]), ("p95", [b.p95_ms for b in buckets])):
        points = [None if v is None else (x(i), y(v, top_ms)) for i, v in enumerate(values)]
        parts.append(_lines(points, f"line-{name}"))
    step = max(1, len(buckets) // TIME_LABELS)
    for index in range(0, len(buckets), step):
        parts.append(
            f'<text class="axis" x="{x(index):.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{buckets[index].start:%H:%M}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
