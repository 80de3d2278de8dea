"""SUN397 class-name cleaning and the WordNet lookup phrases."""

from __future__ import annotations

import pytest

from ml.remap.build import read_classes
from ml.remap.names import SceneName, clean_name, lookup_phrases, parse_sun_class


@pytest.mark.parametrize(
    ("sun_class", "expected"),
    [
        ("/v/volleyball_court/indoor", "volleyball court"),
        ("/a/abbey", "abbey"),
        ("/a/apartment_building/outdoor", "apartment building"),
        ("/b/balcony/exterior", "balcony"),
        ("/c/car_interior/frontseat", "car (frontseat)"),
        ("/s/stadium/baseball", "stadium (baseball)"),
        ("/t/temple/east_asia", "temple (east asia)"),
        ("/t/theater/indoor_procenium", "theater (procenium)"),
        ("/e/elevator/interior", "elevator"),
    ],
)
def test_clean_name(sun_class: str, expected: str) -> None:
    assert clean_name(sun_class) == expected


def test_parse_splits_head_and_qualifier() -> None:
    assert parse_sun_class("/u/underwater/coral_reef") == SceneName(("underwater",), ("coral", "reef"))
    assert parse_sun_class("/b/bus_interior") == SceneName(("bus",), ())


@pytest.mark.parametrize("bad", ["abbey", "/a/", "/ab/abbey", "/a/beach", "/a/abbey/x/y", "/i/interior"])
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_sun_class(bad)


def test_lookup_phrases_most_specific_first() -> None:
    assert lookup_phrases(parse_sun_class("/i/ice_skating_rink/indoor")) == [
        "ice_skating_rink",
        "skating_rink",
        "rink",
    ]
    assert lookup_phrases(parse_sun_class("/s/stadium/football")) == [
        "football_stadium",
        "stadium_football",
        "stadium",
        "football",
    ]


def test_every_committed_class_cleans() -> None:
    classes = read_classes()
    assert len(classes) == 397
    for sun_class in classes:
        name = clean_name(sun_class)
        assert name and "/" not in name and "_" not in name
        assert not {"indoor", "outdoor", "exterior", "interior"} & set(
            name.replace("(", " ").replace(")", " ").split()
        )
