"""README's "Where things happen" table stays true: every path it names exists, and every name it gives in
parentheses after a path is defined (or at least written) in that file or folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"`([^`]+)`")


def table_rows(readme: str) -> list[str]:
    """The second cells of the table under '## Where things happen'."""
    section = readme.split("## Where things happen", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| What")]
    return [row.split(" | ", 1)[1] for row in rows]


def is_path(token: str) -> bool:
    """A repository path (`bot/app.py`, `ml/registry/`), not a URL (`/v1/check`) or a command."""
    return "/" in token and not token.startswith("/") and " " not in token


def claims(cell: str) -> list[tuple[str, list[str]]]:
    """(path, the plain names in the parentheses right after it) for each path in a cell."""
    found: list[tuple[str, list[str]]] = []
    for match in CODE.finditer(cell):
        token = match.group(1)
        if not is_path(token):
            continue
        rest = cell[match.end():]
        names: list[str] = []
        if rest.startswith(" ("):
            group = rest[2:rest.index(")")] if ")" in rest else ""
            names = [name for name in CODE.findall(group) if re.fullmatch(r"[A-Za-z_][\w.]*", name)]
        found.append((token, names))
    return found


def source_text(path: Path) -> str:
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    return "\n".join(file.read_text(encoding="utf-8") for file in files)


README_CLAIMS = [claim for cell in table_rows((ROOT / "README.md").read_text(encoding="utf-8"))
                 for claim in claims(cell)]


def test_the_table_is_found_and_names_the_parts_a_newcomer_asks_for() -> None:
    paths = {path for path, _ in README_CLAIMS}
    assert len(README_CLAIMS) > 30
    asked = ("bot/settings.py", "bot/handlers/chat_admin.py", "moderation/evaluate.py", "bot/replies.py")
    assert set(asked) <= paths


def test_claims_parses_names_after_a_path() -> None:
    cell = "`bot/a.py` (`Thing.run`, `ml promote`), `web/` → `/v1/x`"
    assert claims(cell) == [("bot/a.py", ["Thing.run"]), ("web/", [])]


@pytest.mark.parametrize(("path", "names"), README_CLAIMS, ids=[path for path, _ in README_CLAIMS])
def test_every_path_exists_and_defines_its_names(path: str, names: list[str]) -> None:
    target = ROOT / path
    assert target.exists(), f"README names {path}, which does not exist"
    if names:
        text = source_text(target)
        for name in names:
            for part in name.split("."):
                assert re.search(rf"\b{re.escape(part)}\b", text), f"README says {path} has {name}"
