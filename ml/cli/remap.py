"""`ml remap`: regenerate, check or audit the SUN397 -> hashtag mapping.

ml remap             # regenerate ml/data/sun397_to_hashtag.csv from the committed inputs
ml remap --check     # exit 1 if regenerating would change the committed file
ml remap --report    # print the audit (no WordNet needed)
"""

from __future__ import annotations

import argparse
import difflib
import logging
import sys
from pathlib import Path

from ml.remap import build
from ml.remap.wordnet import REPO_ROOT

logger = logging.getLogger(__name__)

THESIS_PATH = REPO_ROOT.parent / "shared" / "reference" / "thesis_sun397_to_hashtag.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if the committed mapping is not what the inputs give"
    )
    mode.add_argument("--report", action="store_true", help="print the audit of the committed mapping")
    parser.add_argument(
        "--output", type=Path, default=build.MAPPING_PATH, help=f"mapping CSV (default: {build.MAPPING_PATH})"
    )
    parser.add_argument(
        "--thesis",
        type=Path,
        default=THESIS_PATH,
        help=f"thesis table to compare against (default: {THESIS_PATH})",
    )


def regenerate() -> str:
    """The mapping CSV text the committed inputs give (needs WordNet)."""
    from ml.remap.wordnet import load_wordnet

    rows = build.build_rows(build.read_classes(), build.read_rules(), build.read_overrides(), load_wordnet())
    return build.render_csv(rows)


def check(path: Path) -> int:
    expected = regenerate()
    actual = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual == expected:
        print(f"{path}: up to date")
        return 0
    diff = difflib.unified_diff(
        actual.splitlines(keepends=True), expected.splitlines(keepends=True), str(path), "regenerated"
    )
    sys.stdout.writelines(diff)
    print(f"{path} differs from what the inputs give; run `ml remap` and commit the result", file=sys.stderr)
    return 1


def report(path: Path, thesis_path: Path) -> int:
    from ml.remap.report import read_thesis, render_report

    thesis = read_thesis(thesis_path) if thesis_path.exists() else None
    rows = build.read_mapping(path)
    sys.stdout.write(render_report(rows, build.read_rules(), build.read_overrides(), thesis))
    return 0


def run(args: argparse.Namespace) -> int:
    from ml.remap.wordnet import WordNetMissingError

    try:
        if args.report:
            return report(args.output, args.thesis)
        if args.check:
            return check(args.output)
        args.output.write_text(regenerate(), encoding="utf-8", newline="")
    except (WordNetMissingError, ValueError) as error:
        print(f"ml remap: {error}", file=sys.stderr)
        return 2
    logger.info("wrote %s", args.output)
    return 0
