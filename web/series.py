"""Pure aggregation of stored latencies into what the overview shows: percentiles, rates, a time series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PERCENTILES = (50, 95, 99)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timestamptz columns; they are stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (a value that occurred); None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class WindowStats:
    """Photos answered in a time window, how fast, and how fast they came."""

    photos: int
    per_minute: float
    latency_ms: dict[int, float | None]  # percentile -> milliseconds


def window_stats(samples: Sequence[tuple[datetime, float]], since: datetime, until: datetime) -> WindowStats:
    latencies = sorted(ms for at, ms in samples if since <= as_utc(at) <= until)
    minutes = max((until - since).total_seconds() / 60, 1e-9)
    return WindowStats(
        photos=len(latencies),
        per_minute=len(latencies) / minutes,
        latency_ms={p: percentile(latencies, p) for p in PERCENTILES},
    )


@dataclass(frozen=True)
class Bucket:
    start: datetime
    photos: int
    p50_ms: float | None
    p95_ms: float | None


def time_buckets(
    samples: Sequence[tuple[datetime, float]], start: datetime, end: datetime, count: int
) -> list[Bucket]:
    """`count` equal slices of [start, end) with the photos answered in each and their p50/p95 latency."""
    width = (end - start) / count
    slices: list[list[float]] = [[] for _ in range(count)]
    for at, ms in samples:
        index = math.floor((as_utc(at) - start) / width)
        if 0 <= index < count:
            slices[index].append(ms)
    buckets = []
    for index, values in enumerate(slices):
        values.sort()
        buckets.append(
            Bucket(start + index * width, len(values), percentile(values, 50), percentile(values, 95))
        )
    return buckets


def bucket_edges(now: datetime, span: timedelta, count: int) -> tuple[datetime, datetime]:
    """[start, end) covering `span` up to `now`, ending on a whole slice so the chart does not jitter."""
    width = span / count
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    end = epoch + math.ceil((as_utc(now) - epoch) / width) * width
    return end - span, end
