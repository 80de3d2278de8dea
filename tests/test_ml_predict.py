from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.cli import main as ml_main
from ml.cli.predict import expand, human_line
from tests.ml_support import make_tiny_data, make_tiny_model


def test_expand_walks_folders_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for name in ("b/2.jpg", "b/1.png", "b/notes.txt", "a.jpg"):
        (tmp_path / name).write_bytes(b"x")
    found = expand([str(tmp_path / "b"), str(tmp_path / "a.jpg")])
    assert [p.name for p in found] == ["1.png", "2.jpg", "a.jpg"]


def test_predict_json_lines_and_corrupt_file_continues(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = make_tiny_data(tmp_path / "data", per_class=1)
    (data / "a" / "abbey" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    model = make_tiny_model(tmp_path / "m.pt")
    code = ml_main(["predict", str(data), "--json", "--model", str(model), "--batch-size", "2",
                    "--threads", "1"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1  # one file failed
    assert len(lines) == 4
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1 and errors[0]["path"].endswith("broken.jpg")
    good = [line for line in lines if "error" not in line]
    for line in good:
        assert set(line) == {"path", "hashtag", "confidence", "suggested", "suggestions", "top", "scene"}
        assert line["scene"] and line["scene"][0]["class"].startswith("/")


def test_predict_json_carries_a_ranked_list_when_no_tag_is_sure(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    data = make_tiny_data(tmp_path / "data", per_class=1)
    # Untrained: about a third for each of three tags, so none reaches 0.99 and two reach 0.05 together.
    model = make_tiny_model(tmp_path / "m.pt", threshold=0.99, list_mass=0.05)
    assert ml_main(["predict", str(data), "--json", "--model", str(model), "--threads", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for line in lines:
        offered = line["suggestions"]
        assert len(offered) == 2 and offered[0]["tag"] == line["suggested"] == line["hashtag"]
        assert offered[0]["probability"] >= offered[1]["probability"]
        assert human_line(line).split(": ", 1)[1].startswith(f"#{offered[0]['tag']} ")
        assert " · #" in human_line(line)


def test_predict_human_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = make_tiny_data(tmp_path / "data", per_class=1)
    model = make_tiny_model(tmp_path / "m.pt")
    assert ml_main(["predict", str(data / "c"), "--model", str(model), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "coffee_shop" in out and "scene /" in out
