"""The README and docs name the code's files as they are: every path they mention exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# performance.md is a dated log: each figure names the files as they were at the commit it measured.
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "performance.md")]
# A path into the repository's code, as the docs write them: `streams/kafka/engine.py`, `tests/unit/`.
_PATH = re.compile(r"(?<![\w/.-])((?:streams|tests|loadtests|config|scripts|deploy|docs)/[\w./*<>-]*[\w/*>])")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_repository_path_a_page_names_exists(page: Path) -> None:
    named = set(_PATH.findall(page.read_text()))
    assert named or page.name not in ("README.md", "architecture.md")
    placeholders = {path for path in named if "<" in path or "*" in path}
    missing = sorted(path for path in named - placeholders if not (ROOT / path.rstrip("/")).exists())
    assert missing == [], f"{page.name} names paths that don't exist"
