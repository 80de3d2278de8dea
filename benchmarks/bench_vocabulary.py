"""Caption hashtag extraction and vocabulary lookup speed, on typical and hostile captions.

    .venv/bin/python benchmarks/bench_vocabulary.py

Prints a table and writes benchmarks/results/vocabulary.json. The moderation handler runs this on
every group photo, so it must stay far below a millisecond for real captions and bounded for spam.
"""

from __future__ import annotations

import json
import platform
import timeit
from pathlib import Path

from moderation.hashtags import extract_hashtags, load_vocabulary

RESULTS = Path(__file__).parent / "results" / "vocabulary.json"

CAPTIONS = {
    "typical (5 tags)": "Sunday by the sea 🌊 #beach #sea #summer #love #instagood",
    "30 tags, mixed scripts": " ".join(f"#tag{i} #природа{i} #café{i}" for i in range(10)),
    "1024 chars of '#'": "#" * 1024,
    "8192 chars of '#' (bound)": "#" * 8192,
    "100k chars, 14k tags": " ".join(f"#t{i}" for i in range(14_000)),
    "zero-width spam": "#\u200b" * 4096,
}


def per_call_us(statement: object, repeat: int = 5) -> float:
    timer = timeit.Timer(statement)  # type: ignore[arg-type]
    number, _ = timer.autorange()
    return min(timer.repeat(repeat, number)) / number * 1e6


def main() -> None:
    vocabulary = load_vocabulary()
    rows = []
    for name, caption in CAPTIONS.items():
        tags = extract_hashtags(caption)
        extract = per_call_us(lambda caption=caption: extract_hashtags(caption))
        lookup = per_call_us(lambda tags=tags: [vocabulary.scene_tags(tag) for tag in tags])
        rows.append(
            {
                "caption": name,
                "chars": len(caption),
                "tags": len(tags),
                "extract_us": extract,
                "lookup_us": lookup,
            }
        )
    print(f"{'caption':28} {'chars':>7} {'tags':>5} {'extract µs':>11} {'lookup µs':>10}")
    for row in rows:
        counts = f"{row['caption']:28} {row['chars']:7} {row['tags']:5}"
        print(f"{counts} {row['extract_us']:11.1f} {row['lookup_us']:10.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2)
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
