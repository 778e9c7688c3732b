"""The README and docs/ link only to files a clone of the repository has.

A user reads these pages from a fresh clone or the package's page: a relative link that
leaves the repository (or names a file that is not there) is a dead link for them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _relative_links(page: Path) -> list[str]:
    links = [m.group(1).split("#", 1)[0] for m in LINK.finditer(page.read_text())]
    return [link for link in links if link and "://" not in link and not link.startswith("mailto:")]


def test_the_pages_are_found() -> None:
    assert ROOT / "README.md" in PAGES and ROOT / "docs" / "design.md" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_stay_inside_the_repository(page: Path) -> None:
    for link in _relative_links(page):
        target = (page.parent / link).resolve()
        assert target.is_relative_to(ROOT), f"{page.name} links {link}, outside the repository"
        assert target.exists(), f"{page.name} links {link}, which does not exist"
