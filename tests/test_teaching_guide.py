"""The teacher's guide in docs/teaching: a part per notebook, the same sections, no dead links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching"
NOTEBOOKS = ROOT / "notebooks"

#: Every per-notebook part has these second-level headings, in this order.
SECTIONS = (
    "Learning outcomes",
    "Prerequisites",
    "Run live",
    "Timings",
    "Discussion questions",
    "Misconceptions",
    "Answer key",
    "Further reading",
)

# A markdown link or image: [text](target) or ![alt](target "title").
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)


def notebook_numbers() -> list[str]:
    """The ``NN`` prefixes of the course's notebooks (``00-start-here.ipynb`` -> ``"00"``)."""
    return sorted(p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def part_for(number: str) -> Path:
    """The guide's part for notebook ``number``; fails unless there is exactly one."""
    parts = sorted(GUIDE.glob(f"{number}-*.md"))
    assert len(parts) == 1, (
        f"notebook {number} needs exactly one part docs/teaching/{number}-*.md, found {[p.name for p in parts]}"
    )
    return parts[0]


def headings(text: str) -> list[str]:
    """The second-level headings of a markdown text, outside fenced code blocks."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            found.append(line[3:].strip())
    return found


def relative_links(text: str) -> list[str]:
    """The link targets of a markdown text that point at files (no URLs, no bare anchors)."""
    return [t for t in _LINK.findall(text) if not _EXTERNAL.match(t)]


def test_notebooks_are_found():
    """The course has notebooks to guide (a glob that matched nothing would pass everything)."""
    assert "00" in notebook_numbers()


@pytest.mark.parametrize("number", notebook_numbers())
def test_every_notebook_has_a_part_with_every_section(number):
    """Each notebook NN has docs/teaching/NN-*.md with the eight sections, in order."""
    found = headings(part_for(number).read_text(encoding="utf-8"))
    missing = [s for s in SECTIONS if s not in found]
    assert not missing, f"{number}: missing sections {missing}"
    assert [h for h in found if h in SECTIONS] == list(SECTIONS), (
        f"{number}: sections out of order: {found}"
    )


@pytest.mark.parametrize("number", notebook_numbers())
def test_every_part_links_its_notebook(number):
    """Each part links to its own notebook, by a relative path that resolves."""
    part = part_for(number)
    notebook = next(NOTEBOOKS.glob(f"{number}-*.ipynb"))
    targets = {
        (part.parent / t.split("#")[0]).resolve()
        for t in relative_links(part.read_text(encoding="utf-8"))
    }
    assert notebook.resolve() in targets, f"{part.name} does not link to {notebook.name}"


def test_overview_and_syllabi_exist_and_the_overview_lists_every_part():
    """README.md, the two syllabi, and a link from the overview to every part."""
    for name in ("README.md", "syllabus-6-weeks.md", "syllabus-2-day-workshop.md"):
        assert (GUIDE / name).is_file(), f"docs/teaching/{name} is missing"
    listed = {
        t.split("#")[0] for t in relative_links((GUIDE / "README.md").read_text(encoding="utf-8"))
    }
    for number in notebook_numbers():
        assert part_for(number).name in listed, (
            f"README.md does not link to {part_for(number).name}"
        )


def test_every_relative_link_resolves():
    """No markdown file in docs/teaching links to a file that does not exist."""
    broken = []
    for page in sorted(GUIDE.rglob("*.md")):
        for target in relative_links(page.read_text(encoding="utf-8")):
            path = target.split("#")[0]
            if path and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_finder_sees_links():
    """The link pattern finds relative targets and skips URLs and anchors (so the test above bites)."""
    text = (
        '[a](../../notebooks/00-x.ipynb) [b](https://e.org) [c](#top) ![d](img.png "t") [e](f.md#s)'
    )
    assert relative_links(text) == ["../../notebooks/00-x.ipynb", "img.png", "f.md#s"]
