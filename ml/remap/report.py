"""Audit of the committed mapping: classes per tag, what WordNet missed, where the curated
overrides part from the rules, and a side-by-side diff against the thesis table.

Reads only committed files (and the thesis table when present): no WordNet needed.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ml.remap.build import MappingRow, Override, Source
from ml.tags import ALL_LABELS, OTHER

THIN_TAG = 3  # a tag fed by fewer classes than this is worth a look


@dataclass(frozen=True)
class ThesisDiff:
    sun_class: str
    thesis: str
    ours: str
    source: Source
    why: str  # override reason, or the rule's hypernym


def read_thesis(path: Path) -> dict[str, str]:
    """SUN397 class -> thesis tag (its empty tag is `other`)."""
    with path.open(encoding="utf-8", newline="") as file:
        return {row["raw_names"]: row["tags"].strip() or OTHER for row in csv.DictReader(file)}


def tag_counts(rows: Sequence[MappingRow]) -> dict[str, Counter[Source]]:
    """tag -> classes per source, for every label in model order."""
    counts: dict[str, Counter[Source]] = {label: Counter() for label in ALL_LABELS}
    for row in rows:
        counts[row.hashtag][row.source] += 1
    return counts


def rule_hashtag(row: MappingRow, rules: Mapping[str, str]) -> str:
    """What the rules alone would say for this class."""
    if not row.synset:
        return OTHER
    return rules.get(row.hypernym, OTHER) if row.hypernym else OTHER


def override_disagreements(
    rows: Sequence[MappingRow], rules: Mapping[str, str]
) -> list[tuple[MappingRow, str]]:
    """Overridden rows whose rule result differs: (row, what the rule said)."""
    return [
        (row, rule_hashtag(row, rules))
        for row in rows
        if row.source is Source.OVERRIDE and rule_hashtag(row, rules) != row.hashtag
    ]


def thesis_diff(
    rows: Sequence[MappingRow], thesis: Mapping[str, str], overrides: Mapping[str, Override]
) -> list[ThesisDiff]:
    diffs = []
    for row in rows:
        theirs = thesis.get(row.sun_class, "(missing)")
        if theirs != row.hashtag:
            why = overrides[row.sun_class].reason if row.sun_class in overrides else row.hypernym or "-"
            diffs.append(ThesisDiff(row.sun_class, theirs, row.hashtag, row.source, why))
    return diffs


def render_report(
    rows: Sequence[MappingRow],
    rules: Mapping[str, str],
    overrides: Mapping[str, Override],
    thesis: Mapping[str, str] | None,
) -> str:
    lines = [f"SUN397 -> hashtag mapping: {len(rows)} classes", "", "Classes per tag (by source):"]
    for label, by_source in tag_counts(rows).items():
        detail = ", ".join(f"{source.value} {count}" for source, count in sorted(by_source.items()))
        thin = "  <- thin" if label != OTHER and sum(by_source.values()) < THIN_TAG else ""
        lines.append(f"  {label:14} {sum(by_source.values()):4}  ({detail}){thin}")

    missing = [row.sun_class for row in rows if not row.synset]
    lines += ["", f"Classes with no WordNet synset ({len(missing)}):", *(f"  {name}" for name in missing)]

    disagreements = override_disagreements(rows, rules)
    lines += ["", f"Overrides that change the rule's answer ({len(disagreements)}):"]
    lines += [
        f"  {row.sun_class:32} rule {rule:13} -> {row.hashtag:13} {overrides[row.sun_class].reason}"
        for row, rule in disagreements
    ]
    confirming = sum(1 for row in rows if row.source is Source.OVERRIDE) - len(disagreements)
    lines.append(f"  ({confirming} more overrides confirm the rule's answer: decisions recorded on purpose)")

    if thesis is None:
        lines += ["", "Thesis table not found: no comparison."]
    else:
        diffs = thesis_diff(rows, thesis, overrides)
        same = len(rows) - len(diffs)
        lines += ["", f"Against the thesis table: {same} agree, {len(diffs)} differ:"]
        lines.append(f"  {'class':32} {'thesis':13} {'ours':13} {'source':9} why")
        lines += [f"  {d.sun_class:32} {d.thesis:13} {d.ours:13} {d.source.value:9} {d.why}" for d in diffs]
    return "\n".join(lines) + "\n"
