"""The scene hashtags the model suggests: the reference work's 20 popular Instagram tags, plus `other`."""

from __future__ import annotations

# Order is part of the model contract: probability vectors and reports list tags in this order.
TAGS: tuple[str, ...] = (
    "water",
    "sport",
    "shopping",
    "nature",
    "entertainment",
    "architecture",
    "cafe",
    "church",
    "street",
    "science",
    "home",
    "forest",
    "garden",
    "snow",
    "art",
    "airport",
    "cars",
    "bar",
    "window",
    "sky",
)
OTHER = "other"
ALL_LABELS: tuple[str, ...] = (*TAGS, OTHER)
