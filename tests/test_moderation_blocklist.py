"""Known spam pictures (moderation.blocklist): a re-post of a picture hashes within MAX_DISTANCE of it, an
unrelated picture does not, and the closest entry within the distance is the match. On the sample photos
the repository ships (ml/samples) and re-posts of them made here; the rates over 1,000 held-out photos are
measured by benchmarks/blocklist_hashes.py."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from PIL import Image

from moderation.blocklist import (
    HASH_BITS,
    MAX_DISTANCE,
    Entry,
    NotAPicture,
    closest_match,
    distance,
    picture_hash,
)

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "ml" / "samples").glob("*.jpg"))


def repost(data: bytes) -> bytes:
    """The picture as a spammer re-posts it: cropped by 3 %, resized to 70 %, re-encoded as JPEG."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    image = image.crop((round(width * 0.03), round(height * 0.03), width, height))
    image = image.resize((round(image.width * 0.7), round(image.height * 0.7)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def test_the_hash_is_hex_of_the_expected_bits_and_stable() -> None:
    data = SAMPLES[0].read_bytes()
    value = picture_hash(data)
    assert len(value) == HASH_BITS // 4 and int(value, 16) >= 0
    assert picture_hash(data) == value


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_a_repost_lies_within_the_distance(sample: Path) -> None:
    data = sample.read_bytes()
    assert distance(picture_hash(data), picture_hash(repost(data))) <= MAX_DISTANCE


def test_different_pictures_lie_beyond_the_distance() -> None:
    hashes = [picture_hash(sample.read_bytes()) for sample in SAMPLES]
    assert len(hashes) >= 3
    for a, b in itertools.combinations(hashes, 2):
        assert distance(a, b) > MAX_DISTANCE


@pytest.mark.parametrize("data", [b"", b"not an image", SAMPLES[0].read_bytes()[:200]])
def test_what_is_not_a_picture_is_refused_with_its_own_error(data: bytes) -> None:
    with pytest.raises(NotAPicture):
        picture_hash(data)


def test_distance_counts_differing_bits() -> None:
    assert distance("0000000000000000", "0000000000000000") == 0
    assert distance("0000000000000000", "000000000000000f") == 4
    assert distance("ffffffffffffffff", "0000000000000000") == 64
    with pytest.raises(ValueError, match="lengths"):
        distance("00", "000")


def test_the_closest_entry_within_the_distance_matches() -> None:
    picture = "0000000000000000"
    far, near = Entry(1, "00000000000fffff"), Entry(2, "00000000000000ff")
    nearer = Entry(3, "000000000000000f")
    assert closest_match(picture, [far, near], max_distance=10).entry == near
    match = closest_match(picture, [far, near, nearer], max_distance=10)
    assert match is not None and (match.entry, match.distance) == (nearer, 4)
    assert closest_match(picture, [far], max_distance=10) is None  # 20 bits away
    assert closest_match(picture, [], max_distance=64) is None


def test_equally_close_entries_match_the_oldest() -> None:
    match = closest_match("0000000000000000", [Entry(9, "000000000000000f"), Entry(4, "00000000000000f0")], 8)
    assert match is not None and match.entry.id == 4
