"""SUN397 class names -> readable names and the phrases to look up in WordNet.

`/v/volleyball_court/indoor` -> name `volleyball court`; `/s/stadium/baseball` -> `stadium (baseball)`.
The first path part is the category, an optional second one a qualifier (`baseball`, `east_asia`,
`platform`); `indoor`, `outdoor`, `exterior` and `interior` only say where the photo was taken.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_WORDS = frozenset({"indoor", "outdoor", "exterior", "interior"})


@dataclass(frozen=True)
class SceneName:
    """The meaningful words of a SUN397 class, service words removed."""

    head: tuple[str, ...]  # the category: ("volleyball", "court"); ("car",) for car_interior
    qualifier: tuple[str, ...]  # the sub-category: ("baseball",) for stadium/baseball; () if none

    @property
    def text(self) -> str:
        name = " ".join(self.head)
        return f"{name} ({' '.join(self.qualifier)})" if self.qualifier else name


def _words(part: str) -> tuple[str, ...]:
    return tuple(word for word in part.split("_") if word and word not in SERVICE_WORDS)


def parse_sun_class(sun_class: str) -> SceneName:
    """`/s/stadium/baseball` -> SceneName(("stadium",), ("baseball",)); ValueError if malformed."""
    parts = sun_class.strip("/").split("/")
    if len(parts) not in (2, 3) or len(parts[0]) != 1 or not parts[1].startswith(parts[0]):
        raise ValueError(f"not a SUN397 class name: {sun_class!r}")
    head = _words(parts[1])
    if not head:
        raise ValueError(f"no words left in {sun_class!r} after removing service words")
    return SceneName(head, _words(parts[2]) if len(parts) == 3 else ())


def clean_name(sun_class: str) -> str:
    """`/v/volleyball_court/indoor` -> `volleyball court`."""
    return parse_sun_class(sun_class).text


def lookup_phrases(name: SceneName) -> list[str]:
    """WordNet lemma candidates, most specific first: the qualified compound either way round
    (`baseball_stadium`), the head (`ice_skating_rink`), its shorter tails (`skating_rink`, `rink`),
    and last the qualifier alone (`coral_reef` for underwater/coral_reef)."""
    head = name.head
    candidates: list[tuple[str, ...]] = []
    if name.qualifier:
        candidates += [(*name.qualifier, *head), (*head, *name.qualifier)]
    candidates += [head[start:] for start in range(len(head))]
    if name.qualifier:
        candidates.append(name.qualifier)
    phrases = ["_".join(words) for words in candidates]
    return list(dict.fromkeys(phrases))  # de-duplicated, order kept
