"""Known spam pictures: a perceptual hash of each picture an admin marked spam, and the match of a new photo
against them.

Pure: image bytes in, a hex hash out; hashes and a distance in, the closest entry out. A perceptual hash
(pHash: the signs of the image's low DCT frequencies, 64 bits) changes by a few bits when a picture is
re-encoded, resized or cropped a little, so a re-posted spam picture lies within a small Hamming distance of
its entry while an unrelated photo, even of the same scene, lies far away. The hash and the distance were
chosen by measurement (benchmarks/blocklist_hashes.py; README, "Known spam pictures").
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import imagehash
from PIL import Image, UnidentifiedImageError

# Bits that may differ between a picture and a blocklist entry for it to count as the same picture: the
# smallest distance meeting issue 22's bars. On 1,000 held-out photos (v1 split, 20 classes x 50, seed 0)
# pHash at 14 caught JPEG re-encodes 100 %, resizes 100 %, 4 % crops 98.1 %, all three 98.5 %, with 0.008 %
# (2 of 24,500) false matches between photos of the same scene; dhash needed 13 for 0.045 %, whash and
# average hash met neither bar (python benchmarks/blocklist_hashes.py; README, "Known spam pictures").
MAX_DISTANCE = 14
HASH_BITS = 64


class NotAPicture(ValueError):
    """The bytes are not an image PIL can decode."""


@dataclass(frozen=True)
class Entry:
    """A blocklist entry as the match needs it: its id and hash."""

    id: int
    hash: str  # hex, as `picture_hash` writes it


@dataclass(frozen=True)
class Match:
    entry: Entry
    distance: int  # bits that differ


def picture_hash(data: bytes) -> str:
    """The picture's pHash as 16 hex digits. Raises NotAPicture for bytes PIL cannot decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return str(imagehash.phash(image.convert("RGB")))
    except (UnidentifiedImageError, OSError, ValueError) as error:  # truncated or unknown formats
        raise NotAPicture(str(error)) from error


def distance(a: str, b: str) -> int:
    """Hamming distance of two hex hashes of the same length (bits that differ)."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {a!r}, {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def closest_match(picture: str, entries: Iterable[Entry], max_distance: int = MAX_DISTANCE) -> Match | None:
    """The entry nearest to `picture` within `max_distance` (the lowest id among equals), else None."""
    best: Match | None = None
    for entry in entries:
        bits = distance(picture, entry.hash)
        if bits <= max_distance and (best is None or (bits, entry.id) < (best.distance, best.entry.id)):
            best = Match(entry, bits)
    return best
