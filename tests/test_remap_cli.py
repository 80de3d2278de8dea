"""`ml remap`: byte-for-byte regeneration, --check, --report, and a clear WordNet error."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ml.cli import remap as cli
from ml.remap import wordnet
from ml.remap.build import MAPPING_PATH
from tests.wordnet_support import wordnet_or_skip


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_regenerates_the_committed_mapping_byte_for_byte(tmp_path: Path) -> None:
    wordnet_or_skip()
    output = tmp_path / "mapping.csv"
    assert cli.run(parse(["--output", str(output)])) == 0
    assert output.read_bytes() == MAPPING_PATH.read_bytes()


def test_check_passes_on_committed_and_fails_on_a_changed_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wordnet_or_skip()
    assert cli.run(parse(["--check"])) == 0
    changed = tmp_path / "mapping.csv"
    changed.write_text(MAPPING_PATH.read_text(encoding="utf-8").replace("/a/abbey,church", "/a/abbey,art"))
    assert cli.run(parse(["--check", "--output", str(changed)])) == 1
    assert "+/a/abbey,church" in capsys.readouterr().out


def test_report_prints_the_audit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.run(parse(["--report", "--thesis", str(tmp_path / "absent.csv")])) == 0
    out = capsys.readouterr().out
    assert "397 classes" in out and "Classes per tag" in out and "Thesis table not found" in out


def test_missing_wordnet_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def missing() -> None:
        raise wordnet.WordNetMissingError(wordnet.MISSING_MESSAGE)

    monkeypatch.setattr(wordnet, "load_wordnet", missing)
    assert cli.run(parse(["--output", str(tmp_path / "out.csv")])) == 2
    assert "nltk.downloader wordnet" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()
