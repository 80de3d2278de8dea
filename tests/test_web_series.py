"""web.series (percentiles, windows, time buckets) and web.charts (the SVG they become)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from web.charts import latency_chart
from web.series import Bucket, as_utc, bucket_edges, percentile, time_buckets, window_stats

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_naive_datetimes_are_utc() -> None:
    assert as_utc(datetime(2026, 1, 1, 3, 0)) == datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


def test_window_counts_only_its_own_samples() -> None:
    samples = [(NOW - timedelta(minutes=m), float(m)) for m in range(1, 121)]  # one a minute for 2 h
    hour = window_stats(samples, NOW - timedelta(hours=1), NOW)
    assert hour.photos == 60
    assert hour.per_minute == 1.0
    assert hour.latency_ms == {50: 30.0, 95: 57.0, 99: 60.0}
    empty = window_stats([], NOW - timedelta(hours=1), NOW)
    assert (empty.photos, empty.per_minute, empty.latency_ms[95]) == (0, 0.0, None)


def test_time_buckets_split_the_span_evenly() -> None:
    start = NOW - timedelta(hours=2)
    samples = [
        (start + timedelta(minutes=5), 100.0),
        (start + timedelta(minutes=10), 300.0),
        (start.replace(tzinfo=None) + timedelta(minutes=70), 50.0),  # naive, as SQLite returns it
        (start - timedelta(minutes=1), 999.0),  # before: left out
        (NOW, 999.0),  # the end is exclusive
    ]
    buckets = time_buckets(samples, start, NOW, 4)
    assert [b.photos for b in buckets] == [2, 0, 1, 0]
    assert [b.start for b in buckets] == [start + timedelta(minutes=30 * i) for i in range(4)]
    assert (buckets[0].p50_ms, buckets[0].p95_ms) == (100.0, 300.0)
    assert buckets[1].p50_ms is None


def test_bucket_edges_end_on_a_whole_slice_after_now() -> None:
    start, end = bucket_edges(datetime(2026, 11, 29, 12, 10, tzinfo=UTC), timedelta(hours=24), 48)
    assert end == datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
    assert end - start == timedelta(hours=24)


def test_chart_draws_bars_and_lines_from_the_numbers() -> None:
    buckets = [
        Bucket(NOW, 4, 120.0, 300.0),
        Bucket(NOW + timedelta(minutes=30), 0, None, None),
        Bucket(NOW + timedelta(hours=1), 8, 200.0, 900.0),
    ]
    svg = latency_chart(buckets)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    heights = [float(h) for h in re.findall(r'class="volume"[^>]*height="([\d.]+)"', svg)]
    assert heights[0] * 2 == heights[2] and heights[1] == 0  # bars in proportion to the photos
    # The empty middle slice breaks each line: a dot either side, no line drawn across the gap.
    assert "<polyline" not in svg
    assert len(re.findall(r'<circle class="line-p95"', svg)) == 2
    assert "1000 ms" in svg  # the left axis is rounded up from 900 ms
    assert "12:00" in svg


def test_chart_joins_consecutive_slices() -> None:
    buckets = [Bucket(NOW + timedelta(minutes=30 * i), 1, 100.0 * (i + 1), 200.0) for i in range(3)]
    p50 = re.search(r'<polyline class="line-p50" fill="none" points="([^"]+)"', latency_chart(buckets))
    assert p50 is not None
    heights = [float(point.split(",")[1]) for point in p50.group(1).split()]
    assert heights == sorted(heights, reverse=True)  # rising latency: the line climbs (y grows downwards)


def test_chart_of_nothing_still_renders() -> None:
    svg = latency_chart([Bucket(NOW, 0, None, None)])
    assert "<polyline" not in svg and "</svg>" in svg
