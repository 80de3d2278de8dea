"""`ml predict PATH... [--json]`: suggest hashtags for image files or folders (searched recursively).

Photos are decoded with the worker's `ml.serving.images.load_image` (EXIF orientation, odd modes, bombs,
truncation) and classified in batches; a file that cannot be decoded gets an error line and the rest continue.
With `--json`, one object per line: path, hashtag, confidence, suggested, suggestions (what the bot offers,
best first: one sure tag, a ranked list, or none), top, scene (or path, error).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from ml.training.data import IMAGE_SUFFIXES

logger = logging.getLogger(__name__)
TOP_TAGS = 3
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "default.pt"


def expand(paths: Sequence[str]) -> Iterator[Path]:
    """Files as given, folders as their image files in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
        else:
            yield path


def record(path: Path, prediction) -> dict:
    """The JSON line of one prediction."""
    top = sorted(prediction.probabilities.items(), key=lambda kv: -kv[1])[:TOP_TAGS]
    return {
        "path": str(path),
        "hashtag": prediction.hashtag,
        "confidence": round(prediction.confidence, 4),
        "suggested": prediction.suggested,
        "suggestions": [{"tag": tag, "probability": round(p, 4)} for tag, p in prediction.suggestions],
        "top": {tag: round(p, 4) for tag, p in top},
        "scene": [{"class": name, "p": round(p, 4)} for name, p in prediction.scenes[:3]],
    }


def human_line(line: dict) -> str:
    if "error" in line:
        return f"{line['path']}: error: {line['error']}"
    scene = f"  scene {line['scene'][0]['class']}" if line["scene"] else ""
    if len(line["suggestions"]) > 1:  # a ranked list: each tag with its probability
        listed = " · ".join(f"#{s['tag']} {s['probability']:.2f}" for s in line["suggestions"])
        return f"{line['path']}: {listed}{scene}"
    suggestion = f"#{line['suggested']}" if line["suggested"] else f"(no suggestion; best {line['hashtag']})"
    return f"{line['path']}: {suggestion} {line['confidence']:.2f}{scene}"


def run(args: argparse.Namespace) -> int:
    import torch

    from ml.serving.images import ImageError, load_image
    from ml.serving.loading import load_classifier

    torch.set_num_threads(args.threads)
    classifier = load_classifier(args.model, args.device)
    failures = 0

    def emit(line: dict) -> None:
        print(json.dumps(line, ensure_ascii=False) if args.json else human_line(line), flush=True)

    batch: list[tuple[Path, object]] = []

    def flush() -> None:
        for (path, _), prediction in zip(batch, classifier.predict([im for _, im in batch], args.tta),
                                         strict=True):
            emit(record(path, prediction))
        batch.clear()

    for path in expand(args.paths):
        try:
            batch.append((path, load_image(path)))
        except (ImageError, OSError) as exc:
            failures += 1
            emit({"path": str(path), "error": str(exc)})
            continue
        if len(batch) >= args.batch_size:
            flush()
    if batch:
        flush()
    if failures:
        logger.warning("%d file(s) could not be read", failures)
    return 1 if failures else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--model", default=str(SHIPPED_MODEL),
                        help="model file (default: ml/models/default.pt, the shipped model)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--tta", type=int, default=1, help="test-time copies averaged per photo (default: 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="photos per forward pass (default: 32)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
