"""The static site (``make site``, tools/site.py): every notebook and doc as a page, no broken link.

The first test is marked ``site``: it builds the whole site into a temporary folder
(about 10 s), which includes the link check; the others check the checker on tiny sites.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_builder():
    spec = importlib.util.spec_from_file_location("evtlib_tools_site", ROOT / "tools" / "site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


site = _load_builder()


@pytest.mark.site
def test_the_site_builds_with_every_page_and_no_broken_link(tmp_path):
    """Every notebook and every docs/ page is a page with navigation; build() has checked every link."""
    out = tmp_path / "site"
    report = site.build(out)  # raises SiteError, listing them, on a broken internal link
    assert site.check_links(out) == []
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    docs = sorted((ROOT / "docs").rglob("*.md"))
    assert report["notebooks"] == len(notebooks) > 0
    assert report["docs"] == len(docs)
    index = (out / "index.html").read_text()
    repository = site.repository_url()
    for nb in notebooks:
        page = (out / "notebooks" / f"{nb.stem}.html").read_text()
        assert f'href="notebooks/{nb.stem}.html"' in index
        urls = site.launch_urls(repository, nb.name)
        assert f'href="{urls["binder"]}"' in page and f'href="{urls["colab"]}"' in page
        assert 'class="evt-home" href="../index.html"' in page
        assert "data:image/png;base64," in page or "<img" not in page  # figures are in the page
        assert '.ipynb"' not in re.sub(r"https://[^\"]+", "", page), (
            "a link still points at a notebook"
        )
    first, last = (out / "notebooks" / f"{p.stem}.html" for p in (notebooks[0], notebooks[-1]))
    assert 'rel="next"' in first.read_text() and 'rel="prev"' not in first.read_text()
    assert 'rel="prev"' in last.read_text() and 'rel="next"' not in last.read_text()
    for doc in docs:
        assert (out / doc.relative_to(ROOT).with_suffix(".html")).is_file()


def test_launch_urls_open_the_notebook_on_binder_and_colab():
    """The buttons open notebooks/<file> of the main branch."""
    urls = site.launch_urls("https://github.com/evtlib/evtlib", "04-delivery-guarantees.ipynb")
    assert urls == {
        "binder": "https://mybinder.org/v2/gh/evtlib/evtlib/main?labpath=notebooks%2F04-delivery-guarantees.ipynb",
        "colab": "https://colab.research.google.com/github/evtlib/evtlib/blob/main/notebooks/04-delivery-guarantees.ipynb",
    }
    with pytest.raises(
        site.SiteError, match="repository must be https://github.com/<owner>/<name>"
    ):
        site.launch_urls("https://example.org/x", "a.ipynb")


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><body>{body}</body></html>"


def test_the_link_check_finds_missing_pages_anchors_and_escapes(tmp_path):
    """A link to a missing file, a missing #anchor or outside the site is reported; good ones are not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "index.html").write_text(
        _page(
            '<h1 id="top">x</h1><a href="docs/a.html#part">ok</a> <a href="#top">ok</a>'
            ' <a href="https://example.org/missing">external</a> <a href="docs/b.html">missing</a>'
            ' <a href="docs/a.html#nowhere">no anchor</a> <img src="fig.png">'
        )
    )
    (tmp_path / "docs" / "a.html").write_text(
        _page(
            '<h2 id="part">p</h2><a href="../../outside.html">out</a><a href="../index.html">up</a>'
        )
    )
    assert site.check_links(tmp_path) == [
        "docs/a.html: ../../outside.html (points outside the site)",
        "index.html: docs/b.html (no such file)",
        "index.html: docs/a.html#nowhere (no anchor #nowhere)",
        "index.html: fig.png (no such file)",
    ]


def test_links_between_sources_become_links_between_pages(tmp_path):
    """.ipynb and .md links are rewritten to the pages; other repository files go to the code host."""
    pages = [
        site.Page("notebooks/01-a.ipynb", "notebooks/01-a.html", "01", "notebook"),
        site.Page("docs/glossary.md", "docs/glossary.html", "Glossary", "doc"),
    ]
    linker = site.Linker(ROOT, pages, "https://github.com/evtlib/evtlib", tmp_path)
    nb = pages[0]
    text = "[g](../docs/glossary.md#offset) [me](01-a.ipynb) [code](../pyproject.toml) [x](https://a.b/c.md)"
    assert linker.markdown(text, nb) == (
        "[g](../docs/glossary.html#offset) [me](01-a.html) "
        "[code](https://github.com/evtlib/evtlib/blob/main/pyproject.toml) [x](https://a.b/c.md)"
    )
    assert linker.rewrite("missing.ipynb", nb) == "missing.ipynb"  # left for the check to report


def test_headings_get_the_code_hosts_anchor_too():
    """``glossary.md#consumer-group`` works on the site as it does on the code host."""
    html = site.render_markdown("## Consumer group\n\ntext\n\n## At-least-once (delivery)\n")
    assert 'id="consumer-group"' in html and 'id="Consumer-group"' in html
    assert 'id="at-least-once-delivery"' in html


# The terms every learner meets; each must have its own entry (a "## Term" heading).
CORE_TERMS = [
    "event", "envelope", "topic", "partition", "offset", "consumer group", "rebalance", "commit",
    "at-most-once", "at-least-once", "exactly-once effect", "idempotent consumer", "outbox",
    "relay", "dead-letter queue", "poison message", "saga", "compensation", "pivot",
    "consumer lag", "retention", "compaction", "tombstone", "visibility timeout",
    "lock duration", "prefetch",
]  # fmt: skip


def test_the_glossary_defines_the_course_terms_and_names_their_broker():
    """Every core term has an entry; broker-specific ones say which broker they belong to."""
    text = (ROOT / "docs" / "glossary.md").read_text()
    entries = dict(re.findall(r"^## ([^\n]+)\n\n(.+?)(?=\n## |\Z)", text, re.M | re.S))
    names = {name.lower(): body for name, body in entries.items()}
    assert [t for t in CORE_TERMS if t not in names] == []
    owners = {
        "offset": "Kafka", "rebalance": "Kafka", "compaction": "Kafka", "tombstone": "Kafka",
        "visibility timeout": "SQS", "lock duration": "Azure Service Bus",
    }  # fmt: skip
    for term, broker in owners.items():
        assert f"**{broker}**" in names[term], term
    assert list(entries) == sorted(entries, key=str.lower), "entries are in alphabetical order"


def test_a_broken_link_in_a_notebook_fails_the_build(tmp_path):
    """A notebook linking to a notebook that does not exist stops the build, naming page and link."""
    import nbformat

    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 00 · Tiny\n\nNext: [01](01-missing.ipynb).")]
    nbformat.write(nb, root / "notebooks" / "00-tiny.ipynb")
    with pytest.raises(
        site.SiteError, match=r"notebooks/00-tiny.html: 01-missing.ipynb \(no such file\)"
    ):
        site.build(tmp_path / "site", root=root)
    assert site.main(["--check-only", str(tmp_path / "site")]) == 1


def test_a_figures_alt_text_from_its_output_metadata_reaches_its_img():
    """evtlib puts alt text in the output's metadata; the page's <img> carries it, not a stand-in."""
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    nb = {
        "cells": [
            {
                "outputs": [
                    {
                        "data": {"image/png": png},
                        "metadata": {"image/png": {"alt": 'lag "peaks" at 31'}},
                    }
                ]
            }
        ]
    }
    body = f'<p><img src="data:image/png;base64,{png}" alt="No description has been provided for this image" class="x"></p>'
    out = site._with_alt_text(body, nb)
    assert 'alt="lag &quot;peaks&quot; at 31"' in out and "No description" not in out
    other = '<img src="data:image/png;base64,AAAA" alt="No description has been provided for this image">'
    assert site._with_alt_text(other, nb) == other  # a figure without alt text is left alone


def test_an_animation_is_on_its_page_with_its_alt_text(tmp_path):
    """Notebook 04's animation (a GIF output) plays on the static site, with its alt text."""
    out = tmp_path / "site"
    site.build(out)
    page = (out / "notebooks" / "04-delivery-guarantees.html").read_text()
    assert 'src="data:image/gif;base64,' in page
    tags = re.findall(r"<img\b[^>]*>", page)
    assert any("image/gif" in t and 'alt="billing handles orders 6 and 7' in t for t in tags)
