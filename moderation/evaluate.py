"""How often the moderation decision flags honest captions and catches spam, and the sensitivity presets.

    python -m moderation.evaluate --predictions FILE.npz [--json OUT.json] [--write-captions OUT.jsonl]

FILE.npz holds the model's tag probabilities for photos whose true tag is known (never training photos):
`labels` (str [L], ml.tags.ALL_LABELS order), `probabilities` (float [N, L], as the worker returns them),
`true_tags` (str [N]) and `paths` (str [N]). Each photo gets an honest and a spam caption
(`moderation.captions`), each caption is judged by `moderation.verdict.judge` exactly as the bot judges
it, and for every threshold of a sweep the table gives the false-flag rate on honest captions and the
catch rate on spam. Each sensitivity's preset is the threshold with the highest catch rate whose false
flags stay within its target (`TARGETS`); the rates of the thresholds shipped in moderation/verdict.py
are shown too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.tags import ALL_LABELS, OTHER
from moderation.captions import Caption, Kind, write_captions
from moderation.hashtags import HashtagVocabulary, load_vocabulary
from moderation.verdict import THRESHOLDS, ModerationSettings, Sensitivity, is_suspicious, judge

# Most false flags each sensitivity may cost on honest captions. Balanced is the product's bar (issue 11:
# at most 1 % of honest posts flagged). Strict allows 3 %, today's measured level, for admins who review
# flags (flag / dry-run) and want more spam found. Lenient allows 0.3 % (1 honest post in ~300) for delete
# mode, where a false flag removes someone's post.
TARGETS: dict[Sensitivity, float] = {
    Sensitivity.STRICT: 0.03,
    Sensitivity.BALANCED: 0.01,
    Sensitivity.LENIENT: 0.003,
}
# Thresholds swept: 1, 1.25, 1.5, 2, 2.5, 3, 4, ... 9 in each decade from 1e-4 to 0.9 (tiny ones matter:
# the model is often near certain).
GRID: tuple[float, ...] = tuple(
    round(m * 10.0**e, 7) for e in range(-4, 0) for m in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)
)


@dataclass(frozen=True)
class Predictions:
    labels: list[str]
    probabilities: np.ndarray  # float [N, len(labels)]
    true_tags: list[str]
    paths: list[str]


@dataclass(frozen=True)
class Rates:
    threshold: float
    false_flags: int
    honest: int
    false_flag_rate: float
    caught: int
    spam: int
    catch_rate: float


def load_predictions(path: Path) -> Predictions:
    """Reads and checks the .npz; raises ValueError with a clear message on anything malformed."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in ("labels", "probabilities", "true_tags", "paths")}
    except KeyError as error:
        expected = "labels, probabilities, true_tags, paths"
        raise ValueError(f"{path}: missing array {error}; expected {expected}") from None
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    labels = [str(label) for label in arrays["labels"]]
    probabilities = np.asarray(arrays["probabilities"], dtype=np.float64)
    true_tags = [str(tag) for tag in arrays["true_tags"]]
    paths = [str(p) for p in arrays["paths"]]
    if sorted(labels) != sorted(ALL_LABELS):
        raise ValueError(f"{path}: labels {labels} are not ml.tags.ALL_LABELS")
    if probabilities.shape != (len(true_tags), len(labels)) or len(paths) != len(true_tags):
        raise ValueError(
            f"{path}: probabilities {probabilities.shape}, {len(true_tags)} true tags and {len(paths)} paths "
            f"do not match [N, {len(labels)}]"
        )
    return Predictions(labels, probabilities, true_tags, paths)


def caption_probabilities(
    captions: Sequence[Caption], predictions: Predictions, vocabulary: HashtagVocabulary
) -> list[float | None]:
    """Each caption's compatible probability as the bot's verdict computes it; None: never flagged."""
    settings = ModerationSettings(enabled=True)
    rows = [dict(zip(predictions.labels, map(float, row), strict=True)) for row in predictions.probabilities]
    return [
        judge(caption.hashtags, vocabulary.scene_tags, rows[caption.photo], settings).compatible_probability
        for caption in captions
    ]


def rates_at(
    threshold: float,
    captions: Sequence[Caption],
    probabilities: Sequence[float | None],
    keep: Callable[[Caption], bool] = lambda caption: True,
) -> Rates:
    """False flags and catches at `threshold`, over the captions `keep` accepts."""
    flagged = {Kind.HONEST: 0, Kind.SPAM: 0}
    total = {Kind.HONEST: 0, Kind.SPAM: 0}
    for caption, probability in zip(captions, probabilities, strict=True):
        if not keep(caption):
            continue
        total[caption.kind] += 1
        flagged[caption.kind] += probability is not None and is_suspicious(probability, threshold)
    honest, spam = total[Kind.HONEST], total[Kind.SPAM]
    return Rates(
        threshold,
        flagged[Kind.HONEST],
        honest,
        flagged[Kind.HONEST] / honest if honest else 0.0,
        flagged[Kind.SPAM],
        spam,
        flagged[Kind.SPAM] / spam if spam else 0.0,
    )


def choose(sweep: Sequence[Rates], target: float) -> Rates | None:
    """The highest catch rate with false flags within `target` (then fewer false flags, lower threshold);
    None when no threshold of the sweep meets it."""
    within = [rates for rates in sweep if rates.false_flag_rate <= target]
    return max(within, key=lambda r: (r.catch_rate, -r.false_flag_rate, -r.threshold)) if within else None


def evaluate(predictions: Predictions, vocabulary: HashtagVocabulary, seed: int) -> dict[str, Any]:
    captions = write_captions(predictions.true_tags, predictions.paths, vocabulary, seed=seed)
    probabilities = caption_probabilities(captions, predictions, vocabulary)
    sweep = [rates_at(threshold, captions, probabilities) for threshold in GRID]
    presets = {sensitivity: choose(sweep, target) for sensitivity, target in TARGETS.items()}
    groups: dict[str, Callable[[Caption], bool]] = {
        "en": lambda c: c.language == "en",
        "ru": lambda c: c.language == "ru",
        "scene photos": lambda c: predictions.true_tags[c.photo] != OTHER,
        "other photos": lambda c: predictions.true_tags[c.photo] == OTHER,
    }
    breakdown = {
        s.value: {
            group: asdict(rates_at(rates.threshold, captions, probabilities, keep))
            for group, keep in groups.items()
        }
        for s, rates in presets.items()
        if rates
    }
    return {
        "photos": len(predictions.true_tags),
        "seed": seed,
        "targets": {s.value: target for s, target in TARGETS.items()},
        "presets": {s.value: asdict(rates) if rates else None for s, rates in presets.items()},
        "preset_breakdown": breakdown,  # by caption language, and photos of a popular scene or of none
        "shipped": {s.value: asdict(rates_at(t, captions, probabilities)) for s, t in THRESHOLDS.items()},
        "sweep": [asdict(rates) for rates in sweep],
        "captions": captions,
        "compatible_probabilities": probabilities,
    }


def format_rates(name: str, rates: Rates) -> str:
    return (
        f"{name:<12} {rates.threshold:>9.4g} {rates.false_flag_rate:>8.2%} "
        f"{rates.false_flags:>5}/{rates.honest:<6} {rates.catch_rate:>8.2%} {rates.caught:>5}/{rates.spam:<6}"
    )


def print_report(report: dict[str, Any]) -> None:
    header = f"{'':<12} {'threshold':>9} {'false flags (honest)':>21} {'caught (spam)':>21}"
    print(f"{report['photos']} photos, seed {report['seed']}")
    print(header)
    for row in report["sweep"]:
        print(format_rates("", Rates(**row)))
    print("\npresets (highest catch rate with false flags within the target):")
    print(header)
    for name, rates in report["presets"].items():
        target = f"<= {report['targets'][name]:.1%}"
        print(format_rates(name, Rates(**rates)) + f"   {target}" if rates else f"{name:<12} none {target}")
    for name, groups in report["preset_breakdown"].items():
        print(f"\n{name} by caption language and photo:")
        for group, rates in groups.items():
            print(format_rates(group, Rates(**rates)))
    print("\nshipped (moderation/verdict.py THRESHOLDS):")
    for name, rates in report["shipped"].items():
        print(format_rates(name, Rates(**rates)))


def write_caption_lines(path: Path, report: dict[str, Any], predictions: Predictions) -> None:
    with path.open("w", encoding="utf-8") as file:
        for caption, probability in zip(report["captions"], report["compatible_probabilities"], strict=True):
            line = {
                "path": predictions.paths[caption.photo],
                "true_tag": predictions.true_tags[caption.photo],
                "kind": caption.kind.value,
                "language": caption.language,
                "claimed_tag": caption.claimed_tag,
                "caption": caption.text,
                "compatible_probability": probability,
            }
            file.write(json.dumps(line, ensure_ascii=False) + "\n")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenetag-moderation-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=Path, required=True, help="the .npz of tag probabilities")
    parser.add_argument("--json", type=Path, help="write the report here (default: print only)")
    parser.add_argument(
        "--write-captions", type=Path, help="write each caption and its probability, JSON lines (default: no)"
    )
    parser.add_argument("--seed", type=int, default=0, help="caption seed (default: 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    try:
        predictions = load_predictions(args.predictions)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = evaluate(predictions, load_vocabulary(), args.seed)
    print_report(report)
    if args.write_captions:
        write_caption_lines(args.write_captions, report, predictions)
    if args.json:
        per_caption = ("captions", "compatible_probabilities")
        kept = {key: value for key, value in report.items() if key not in per_caption}
        args.json.write_text(json.dumps({"predictions": str(args.predictions), **kept}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
