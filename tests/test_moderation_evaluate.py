"""`moderation.evaluate` on a small synthetic predictions file whose rates are known in advance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.tags import ALL_LABELS, OTHER
from moderation.captions import Kind, compatible_tags
from moderation.evaluate import GRID, TARGETS, Rates, choose, evaluate, load_predictions, main
from moderation.hashtags import load_vocabulary
from moderation.verdict import THRESHOLDS, Action, ModerationSettings, Sensitivity, judge

VOCABULARY = load_vocabulary()
SCENES = ["cafe", "water", "church", "sport", "forest", "airport", "snow", "shopping"]
# Photos the model gets right (0.9 on the true tag, the rest on `other`), and WRONG of them where it is
# sure of a scene unrelated to the truth: each of those honest captions is a false flag at any threshold.
N, WRONG = 80, 4


def confident_wrong_tag(true_tag: str) -> str:
    return next(t for t in SCENES if t not in compatible_tags(VOCABULARY, true_tag))


def synthetic(path: Path, wrong: int = WRONG) -> Path:
    true_tags = [SCENES[i % len(SCENES)] for i in range(N)] + [OTHER] * 8
    probabilities = np.zeros((len(true_tags), len(ALL_LABELS)), dtype=np.float32)
    column = {label: i for i, label in enumerate(ALL_LABELS)}
    for row, tag in enumerate(true_tags):
        shown = confident_wrong_tag(tag) if row < wrong else tag
        probabilities[row, column[shown]] = 0.9 if tag != OTHER else 0.0
        probabilities[row, column[OTHER]] += 1.0 - probabilities[row].sum()
    np.savez(
        path,
        labels=np.array(ALL_LABELS),
        probabilities=probabilities,
        true_tags=np.array(true_tags),
        paths=np.array([f"val/{i:03d}.jpg" for i in range(len(true_tags))]),
    )
    return path


@pytest.fixture
def predictions_file(tmp_path: Path) -> Path:
    return synthetic(tmp_path / "preds.npz")


def test_rates_on_a_file_with_known_answers(predictions_file: Path) -> None:
    predictions = load_predictions(predictions_file)
    report = evaluate(predictions, VOCABULARY, seed=0)
    captions = report["captions"]

    def wrong_of(photo: int) -> str:
        return confident_wrong_tag(predictions.true_tags[photo])
    # Spam is missed only where the wrong model is sure of a scene the spam's hashtags fit.
    missed = sum(
        c.kind is Kind.SPAM
        and c.photo < WRONG
        and any(wrong_of(c.photo) in VOCABULARY.entries[h] for h in c.hashtags)
        for c in captions
    )
    below_right_answers = [row for row in report["sweep"] if row["threshold"] < 0.9]
    assert len(below_right_answers) == len(GRID) - 1
    for row in below_right_answers:
        assert (row["false_flags"], row["honest"]) == (WRONG, N)
        assert (row["caught"], row["spam"]) == (N + 8 - missed, N + 8)
        assert row["false_flag_rate"] == pytest.approx(WRONG / N)
    assert [row["threshold"] for row in report["sweep"]] == list(GRID)


def test_shipped_rates_are_exactly_what_the_bot_would_do(predictions_file: Path) -> None:
    """The evaluation's flags at a shipped threshold are judge()'s actions for that sensitivity."""
    predictions = load_predictions(predictions_file)
    # Spread some mass over the honest scenes so thresholds matter.
    predictions.probabilities[:, :] = np.random.default_rng(0).dirichlet(np.full(len(ALL_LABELS), 0.3), N + 8)
    report = evaluate(predictions, VOCABULARY, seed=0)
    rows = [dict(zip(predictions.labels, map(float, r), strict=True)) for r in predictions.probabilities]
    for sensitivity in Sensitivity:
        settings = ModerationSettings(enabled=True, sensitivity=sensitivity)
        acted = [
            judge(c.hashtags, VOCABULARY.scene_tags, rows[c.photo], settings).action is not Action.NONE
            for c in report["captions"]
        ]
        honest = sum(a for a, c in zip(acted, report["captions"], strict=True) if c.kind is Kind.HONEST)
        spam = sum(a for a, c in zip(acted, report["captions"], strict=True) if c.kind is Kind.SPAM)
        shipped = report["shipped"][sensitivity.value]
        assert (shipped["threshold"], shipped["false_flags"], shipped["caught"]) == (
            THRESHOLDS[sensitivity], honest, spam,
        )


def test_each_preset_is_broken_down_by_language_and_photo(tmp_path: Path) -> None:
    report = evaluate(load_predictions(synthetic(tmp_path / "right.npz", wrong=0)), VOCABULARY, seed=0)
    # The model is right and sure: every spam caption is caught from the lowest threshold on, with no
    # false flag, and ties go to the lowest threshold.
    assert {preset["threshold"] for preset in report["presets"].values()} == {GRID[0]}
    assert {preset["catch_rate"] for preset in report["presets"].values()} == {1.0}
    for name, preset in report["presets"].items():
        groups = report["preset_breakdown"][name]
        for pair in (("en", "ru"), ("scene photos", "other photos")):
            for count in ("false_flags", "honest", "caught", "spam"):
                assert sum(groups[group][count] for group in pair) == preset[count]
        assert groups["other photos"]["honest"] == 0 and groups["other photos"]["spam"] == 8


def rates(threshold: float, false_flag_rate: float, catch_rate: float) -> Rates:
    return Rates(threshold, 0, 100, false_flag_rate, 0, 100, catch_rate)


def test_choose_takes_the_best_catch_rate_within_the_target() -> None:
    sweep = [rates(0.001, 0.0, 0.5), rates(0.01, 0.005, 0.7), rates(0.02, 0.005, 0.7), rates(0.05, 0.02, 0.9)]
    assert choose(sweep, 0.01).threshold == 0.01  # equal catch and false flags: the lower threshold
    assert choose(sweep, 0.03).threshold == 0.05
    assert choose(sweep, 0.0).threshold == 0.001
    assert choose([rates(0.001, 0.02, 0.5)], 0.01) is None
    assert TARGETS[Sensitivity.STRICT] > TARGETS[Sensitivity.BALANCED] > TARGETS[Sensitivity.LENIENT]


def test_cli_prints_the_table_and_writes_json(predictions_file: Path, tmp_path: Path, capsys) -> None:
    out, lines = tmp_path / "report.json", tmp_path / "captions.jsonl"
    arguments = ["--predictions", str(predictions_file), "--json", str(out), "--write-captions", str(lines)]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "presets" in printed and "balanced" in printed and "false flags" in printed
    report = json.loads(out.read_text())
    assert set(report["presets"]) == {"strict", "balanced", "lenient"}
    # 5 % of honest captions are false flags at every threshold: no preset can meet its target.
    assert all(preset is None for preset in report["presets"].values())
    written = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()]
    assert len(written) == N + N + 8
    assert {"path", "true_tag", "kind", "caption", "compatible_probability"} <= written[0].keys()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not a readable"), (b"not a zip", "not a readable"), ("no-labels", "missing array")],
)
def test_bad_predictions_files_get_one_clear_line(tmp_path: Path, capsys, content, message) -> None:
    path = tmp_path / "bad.npz"
    if content == "no-labels":
        np.savez(path, probabilities=np.zeros((1, len(ALL_LABELS))), true_tags=np.array(["cafe"]))
    elif content is not None:
        path.write_bytes(content)
    assert main(["--predictions", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_mismatched_shapes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.npz"
    np.savez(path, labels=np.array(ALL_LABELS), probabilities=np.zeros((2, len(ALL_LABELS))),
             true_tags=np.array(["cafe"]), paths=np.array(["a.jpg"]))
    with pytest.raises(ValueError, match="do not match"):
        load_predictions(path)
