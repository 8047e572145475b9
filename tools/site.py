"""Build the course's static site: every notebook as a page, the docs, an index, a link check.

    python tools/site.py [--out dist/site]           (or: make site)
    python tools/site.py --check-only dist/site      (only the link check)

Why nbconvert and not Jupyter Book: nbconvert already comes with JupyterLab
(nothing more to install), renders the committed outputs without executing a
notebook, needs no network at build time (Jupyter Book 2 / MyST downloads its
theme when it builds), and builds the whole site in seconds. What a book theme
would add (navigation, an index, launch buttons) is a few lines here.

What it writes into ``--out`` (emptied first), mirroring the repository so that
relative links keep working:

* ``index.html``: the notebooks in order, the glossary and every other page;
* ``notebooks/NN-name.html``: each notebook with its stored outputs (figures,
  animations, tables), a bar with the index, previous / next, the glossary,
  and buttons that open the notebook on Binder and on Colab; an explorer
  (a live ipywidgets output, which a static page cannot run) becomes a note
  saying so, with the launch buttons;
* ``docs/**.html``: every Markdown file under ``docs/`` (glossary, teacher's
  guide, ...), in the same frame;
* ``site.css``.

Links between notebooks (``03-x.ipynb``) and docs (``x.md``) become links
between pages; links to other repository files go to the repository's copy
on the code host; images beside a Markdown file are copied. Then every page's
internal links (``href`` and ``src``, with their ``#fragment``) are checked,
and the build fails, naming each broken link, if one does not resolve.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import posixpath
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPOSITORY = "https://github.com/evtlib/evtlib"
BRANCH = "main"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NO_ALT = "No description has been provided for this image"  # nbconvert's stand-in alt text
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}

# A Markdown link or image target, ``[text](target "title")``; a reference ``[id]: target``;
# a raw HTML ``href="..."`` / ``src="..."`` inside Markdown.
_MD_LINK = re.compile(r"(\]\()(<[^>]*>|[^)\s]+)((?:\s+\"[^\"]*\")?\))")
_MD_REF = re.compile(r"^(\s*\[[^\]]+\]:\s*)(\S+)", re.M)
_HTML_ATTR = re.compile(r"""((?:href|src)\s*=\s*")([^"]*)(")""")
_HEADING = re.compile(r"<h([1-6]) id=\"([^\"]*)\">(.*?)</h\1>", re.S)


class SiteError(Exception):
    """Raised when the site cannot be built, or has broken internal links."""


# --------------------------------------------------------------------------- the repository


def repository_url(root: Path = ROOT) -> str:
    """The repository's address, from ``[project.urls] Repository`` in pyproject.toml."""
    text = (root / "pyproject.toml").read_text() if (root / "pyproject.toml").is_file() else ""
    m = re.search(r"^\s*Repository\s*=\s*\"([^\"]+)\"", text, re.M)
    return (m.group(1) if m else DEFAULT_REPOSITORY).rstrip("/")


def launch_urls(repository: str, notebook: str) -> dict[str, str]:
    """Binder and Colab addresses that open ``notebooks/<notebook>`` on the main branch."""
    parts = urlsplit(repository)
    if parts.netloc != "github.com" or parts.path.count("/") != 2:
        raise SiteError(f"repository must be https://github.com/<owner>/<name>, got {repository!r}")
    slug = parts.path.strip("/")
    return {
        "binder": f"https://mybinder.org/v2/gh/{slug}/{BRANCH}?labpath="
        + quote(f"notebooks/{notebook}", safe=""),
        "colab": f"https://colab.research.google.com/github/{slug}/blob/{BRANCH}/notebooks/{notebook}",
    }


@dataclass
class Page:
    """One page of the site: where it comes from, where it goes, its title."""

    source: str  # repository path, posix: notebooks/03-x.ipynb, docs/glossary.md
    target: str  # site path, posix: notebooks/03-x.html
    title: str
    kind: str  # "notebook" or "doc"
    prev: Page | None = None
    next: Page | None = None
    extras: list[str] = field(default_factory=list)  # files copied beside it


def _title_of_markdown(text: str, fallback: str) -> str:
    m = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.M)
    return _plain(m.group(1)) if m else fallback


def _plain(markdown: str) -> str:
    """Heading text without Markdown emphasis, code marks or links."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"[*_`]", "", text).strip()


def discover(root: Path = ROOT) -> list[Page]:
    """Every notebook (in number order) then every Markdown file under docs/ (glossary first)."""
    pages = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        nb = json.loads(path.read_text())
        text = "\n\n".join(
            "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
        )
        pages.append(
            Page(
                f"notebooks/{path.name}",
                f"notebooks/{path.stem}.html",
                _title_of_markdown(text, path.stem),
                "notebook",
            )
        )
    docs = (
        sorted(
            (
                p
                for p in (root / "docs").rglob("*.md")
                if not any(s.startswith(".") for s in p.parts)
            ),
            key=lambda p: (
                p.name != "glossary.md",
                p.parent.relative_to(root).parts,
                p.name != "README.md",
                p.name,
            ),
        )
        if (root / "docs").is_dir()
        else []
    )
    for path in docs:
        rel = path.relative_to(root).as_posix()
        title = _title_of_markdown(path.read_text(), path.stem.replace("-", " "))
        pages.append(Page(rel, rel[: -len(".md")] + ".html", title, "doc"))
    for group in ("notebook", "doc"):
        chain = [p for p in pages if p.kind == group]
        for a, b in zip(chain, chain[1:], strict=False):
            a.next, b.prev = b, a
    return pages


# --------------------------------------------------------------------------- links


class Linker:
    """Rewrites a link found in a page's source into the link the site needs."""

    def __init__(self, root: Path, pages: list[Page], repository: str, out: Path):
        self.root = root
        self.by_source = {p.source: p for p in pages}
        self.repository = repository
        self.out = out

    def rewrite(self, href: str, page: Page) -> str:
        if not href or href.startswith(("#", "//")) or urlsplit(href).scheme:
            return href
        bracketed = href.startswith("<") and href.endswith(">")
        raw = href[1:-1] if bracketed else href
        path, _, fragment = raw.partition("#")
        if not path:
            return href
        here = posixpath.dirname(page.source)
        target = posixpath.normpath(posixpath.join(here, unquote(path)))
        suffix = f"#{fragment}" if fragment else ""
        if target in self.by_source:
            new = posixpath.relpath(self.by_source[target].target, posixpath.dirname(page.target))
            return quote(new) + suffix
        on_disk = self.root / target
        readme = posixpath.join(target, "README.md")
        if on_disk.is_dir() and readme in self.by_source:  # a folder: its README's page
            new = posixpath.relpath(self.by_source[readme].target, posixpath.dirname(page.target))
            return quote(new) + suffix
        if target.startswith("..") or not on_disk.exists():
            return href  # left as it is: the link check reports it
        if on_disk.is_file() and on_disk.suffix.lower() in IMAGE_SUFFIXES:
            dest = self.out / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(on_disk, dest)
            return href
        kind = "tree" if on_disk.is_dir() else "blob"
        return f"{self.repository}/{kind}/{BRANCH}/{quote(target)}{suffix}"

    def markdown(self, text: str, page: Page) -> str:
        """Rewrite every link target of a Markdown text (links, images, references, raw HTML)."""
        text = _MD_LINK.sub(
            lambda m: m.group(1) + self.rewrite(m.group(2), page) + m.group(3), text
        )
        text = _MD_REF.sub(lambda m: m.group(1) + self.rewrite(m.group(2), page), text)
        return _HTML_ATTR.sub(
            lambda m: m.group(1) + self.rewrite(m.group(2), page) + m.group(3), text
        )


def github_slug(text: str) -> str:
    """The anchor a code host gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"<[^>]+>", "", html.unescape(text)).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def add_slug_anchors(body: str) -> str:
    """Give every heading a second anchor, the code host's slug, so ``page.md#some-heading`` works."""

    def one(m: re.Match) -> str:
        slug = github_slug(m.group(3).split('<a class="anchor-link"')[0])
        if not slug or slug == m.group(2):
            return m.group(0)
        return f'<a id="{html.escape(slug)}" class="evt-slug"></a>{m.group(0)}'

    return _HEADING.sub(one, body)


# --------------------------------------------------------------------------- pages


def _nav(page: Page, pages: list[Page], repository: str) -> str:
    up = posixpath.relpath(".", posixpath.dirname(page.target)) or "."
    home = f"{up}/index.html"
    glossary = next((p for p in pages if p.source == "docs/glossary.md"), None)

    def link(p: Page | None, rel: str) -> str:
        if p is None:
            return f'<span class="evt-{rel} evt-none"></span>'
        href = quote(posixpath.relpath(p.target, posixpath.dirname(page.target)))
        title = html.escape(p.title)
        text = f"&larr; {title}" if rel == "prev" else f"{title} &rarr;"
        return f'<a class="evt-{rel}" rel="{rel}" href="{href}">{text}</a>'

    items = [f'<a class="evt-home" href="{home}">evtlib course</a>']
    if glossary is not None and glossary is not page:
        href = quote(posixpath.relpath(glossary.target, posixpath.dirname(page.target)))
        items.append(f'<a class="evt-glossary" href="{href}">Glossary</a>')
    launch = ""
    if page.kind == "notebook":
        urls = launch_urls(repository, posixpath.basename(page.source))
        launch = (
            '<span class="evt-launch">'
            f'<a class="evt-button" href="{html.escape(urls["binder"])}">Launch on Binder</a>'
            f'<a class="evt-button" href="{html.escape(urls["colab"])}">Open in Colab</a>'
            "</span>"
        )
    pager = f'<span class="evt-pager">{link(page.prev, "prev")}{link(page.next, "next")}</span>'
    return (
        f'<nav class="evt-nav" aria-label="course">{"".join(items)}{launch}</nav>\n'
        f'<nav class="evt-nav evt-sub" aria-label="previous and next">{pager}</nav>\n'
    )


def _footer(page: Page, pages: list[Page], repository: str) -> str:
    source = f"{repository}/blob/{BRANCH}/{quote(page.source)}"
    pager = _nav(page, pages, repository).split("\n")[1]
    return (
        f'{pager}\n<footer class="evt-footer">Source: '
        f'<a href="{html.escape(source)}">{html.escape(page.source)}</a>. '
        "Code MIT, text and figures CC BY 4.0 (see the repository's licence files).</footer>\n"
    )


def _widget_note(urls: dict[str, str]) -> dict:
    text = (
        '<div class="evt-widget">An interactive explorer (sliders, buttons) is here in Jupyter; '
        "a static page cannot run it. "
        f'<a href="{html.escape(urls["binder"])}">Launch this notebook on Binder</a> or '
        f'<a href="{html.escape(urls["colab"])}">open it in Colab</a> to use it.</div>'
    )
    return {"text/html": text, "text/plain": "An interactive explorer: run the notebook to use it."}


_PNG_IMG = re.compile(r'<img\b[^>]*?src="data:image/png;base64,([^"]{1,200})[^>]*>')


def _with_alt_text(body: str, nb: dict) -> str:
    """Put each figure's alt text on its <img>.

    evtlib's figures carry it in the output's metadata (``["image/png"]["alt"]``),
    which nbconvert's lab template does not read (it writes a stand-in).  A
    figure is found again by the start of its PNG data.
    """
    alts = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            alt = output.get("metadata", {}).get("image/png", {}).get("alt")
            if png and alt:
                alts["".join(png.split())[:60]] = alt

    def put(match: re.Match[str]) -> str:
        tag = match.group(0)
        alt = alts.get("".join(match.group(1).split())[:60])
        if alt is None:
            return tag
        tag = re.sub(r'\salt="[^"]*"', "", tag)
        return tag[:4] + f' alt="{html.escape(alt, quote=True)}"' + tag[4:]

    return _PNG_IMG.sub(put, body)


def render_notebook(page: Page, pages: list[Page], linker: Linker, repository: str) -> str:
    """The notebook as an HTML page: stored outputs, links rewritten, navigation added."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(linker.root / page.source, as_version=4)
    urls = launch_urls(repository, posixpath.basename(page.source))
    widget_state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = linker.markdown(cell.source, page)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and not widget_state:
                output["data"] = _widget_note(urls)
            elif "image/gif" in data:  # an animation: nbconvert's lab template has no GIF block
                alt = output.get("metadata", {}).get("image/gif", {}).get("alt", "an animation")
                gif = "".join(data["image/gif"].split())
                output["data"] = {
                    "text/html": f'<img src="data:image/gif;base64,{gif}" alt="{html.escape(alt)}">'
                }
    exporter = HTMLExporter(template_name="lab")
    # nbconvert warns once per page about figures without alt text; build() counts them instead.
    exporter.log.setLevel(logging.ERROR)
    exporter.register_preprocessor(
        TagRemovePreprocessor(
            # The notebook's own launch badges: this page's bar has the same buttons.
            remove_cell_tags={"remove-cell", "launch-badges"},
            remove_input_tags={"remove-input"},
            remove_all_outputs_tags={"remove-output"},
            enabled=True,
        ),
        enabled=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    body = _with_alt_text(body, nb)
    up = posixpath.relpath(".", posixpath.dirname(page.target))
    body = body.replace("</head>", f'<link rel="stylesheet" href="{up}/site.css">\n</head>', 1)
    body = re.sub(
        r"<title>.*?</title>",
        f"<title>{html.escape(page.title)} · evtlib</title>",
        body,
        count=1,
        flags=re.S,
    )
    body = body.replace("<main>", "<main>\n" + _nav(page, pages, repository), 1)
    body = body.replace("</main>", _footer(page, pages, repository) + "</main>", 1)
    return add_slug_anchors(body)


DOC_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · evtlib</title>
<link rel="stylesheet" href="{up}/site.css">
</head>
<body class="evt-page">
<main>
{nav}<article class="evt-doc">
{body}
</article>
{footer}</main>
</body>
</html>
"""


def render_markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return add_slug_anchors(markdown2html_mistune(text))


def render_doc(page: Page, pages: list[Page], linker: Linker, repository: str) -> str:
    text = linker.markdown((linker.root / page.source).read_text(), page)
    up = posixpath.relpath(".", posixpath.dirname(page.target))
    return DOC_PAGE.format(
        title=html.escape(page.title),
        up=up,
        nav=_nav(page, pages, repository),
        body=render_markdown(text),
        footer=_footer(page, pages, repository),
    )


def render_index(pages: list[Page], repository: str) -> str:
    rows = []
    for p in pages:
        if p.kind != "notebook":
            continue
        urls = launch_urls(repository, posixpath.basename(p.source))
        rows.append(
            f'<li><a href="{quote(p.target)}">{html.escape(p.title)}</a> '
            f'<span class="evt-small"><a href="{html.escape(urls["binder"])}">Binder</a> · '
            f'<a href="{html.escape(urls["colab"])}">Colab</a></span></li>'
        )
    docs = [
        f'<li><a href="{quote(p.target)}">{html.escape(p.title)}</a> '
        f'<span class="evt-small">{html.escape(p.source)}</span></li>'
        for p in pages
        if p.kind == "doc"
    ]
    body = (
        "<h1>evtlib: learn event-driven architecture by running it</h1>\n"
        "<p>An interactive course: each notebook shows its concepts with experiments on a "
        "deterministic, seeded simulation of a broker, with pictures. These pages show the "
        "notebooks as they were last run; to change a parameter and run them yourself, launch "
        "one on Binder or Colab, or clone "
        f'<a href="{html.escape(repository)}">the repository</a> and run <code>make lab</code>.</p>\n'
        '<h2>The notebooks</h2>\n<ul class="evt-toc">\n'
        + "\n".join(rows)
        + "\n</ul>\n"
        + ("<h2>Glossary and guides</h2>\n<ul>\n" + "\n".join(docs) + "\n</ul>\n" if docs else "")
    )
    home = Page("index", "index.html", "evtlib course", "index")
    glossary = next((p for p in pages if p.source == "docs/glossary.md"), None)
    nav = '<nav class="evt-nav" aria-label="course"><a class="evt-home" href="index.html">evtlib course</a>'
    if glossary is not None:
        nav += f'<a class="evt-glossary" href="{quote(glossary.target)}">Glossary</a>'
    nav += "</nav>\n"
    return DOC_PAGE.format(title=home.title, up=".", nav=nav, body=body, footer="")


# --------------------------------------------------------------------------- the link check


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value is not None and (name == "id" or tag == "a"):
                self.ids.add(value)
            if value is not None and (
                (name == "href" and tag in ("a", "link", "area"))
                or (
                    name == "src" and tag in ("img", "script", "iframe", "source", "video", "audio")
                )
            ):
                self.links.append(value)


def check_links(out: Path) -> list[str]:
    """Every internal link of every page under ``out`` that does not resolve: ``page: link (why)``."""
    parsed: dict[Path, _Collector] = {}

    def page(path: Path) -> _Collector:
        if path not in parsed:
            collector = _Collector()
            collector.feed(path.read_text(encoding="utf-8", errors="replace"))
            parsed[path] = collector
        return parsed[path]

    broken = []
    for path in sorted(out.rglob("*.html")):
        for link in page(path).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # external: not ours to check offline
            rel = path.relative_to(out).as_posix()
            target = path if not parts.path else (path.parent / unquote(parts.path))
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            try:
                target.resolve().relative_to(out.resolve())
            except ValueError:
                broken.append(f"{rel}: {link} (points outside the site)")
                continue
            if not target.is_file():
                broken.append(f"{rel}: {link} (no such file)")
                continue
            # A browser tries the fragment as written, then percent-decoded.
            fragment = parts.fragment
            ids = page(target).ids if fragment and target.suffix == ".html" else set()
            if fragment and target.suffix == ".html" and not {fragment, unquote(fragment)} & ids:
                broken.append(f"{rel}: {link} (no anchor #{unquote(fragment)})")
    return broken


# --------------------------------------------------------------------------- the build


def site_css() -> str:
    css = (Path(__file__).with_name("site.css")).read_text()
    try:
        from pygments.formatters import HtmlFormatter

        css += "\n/* code in Markdown pages (pygments) */\n"
        css += HtmlFormatter(style="default").get_style_defs(".evt-doc .highlight")
    except ImportError:  # pragma: no cover - pygments comes with nbconvert
        pass
    return css + "\n"


def build(out: Path, root: Path = ROOT) -> dict:
    """Write the site into ``out`` (emptied first), check its links, return what was written."""
    started = time.perf_counter()
    out = out.resolve()
    if out == root.resolve() or root.resolve().is_relative_to(out):
        raise SiteError(f"--out must not be the repository or a parent of it, got {out}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    repository = repository_url(root)
    pages = discover(root)
    if not any(p.kind == "notebook" for p in pages):
        raise SiteError(f"no notebooks found in {root / 'notebooks'}")
    linker = Linker(root, pages, repository, out)
    for p in pages:
        dest = out / p.target
        dest.parent.mkdir(parents=True, exist_ok=True)
        render = render_notebook if p.kind == "notebook" else render_doc
        dest.write_text(render(p, pages, linker, repository), encoding="utf-8")
    (out / "index.html").write_text(render_index(pages, repository), encoding="utf-8")
    (out / "site.css").write_text(site_css(), encoding="utf-8")
    no_alt = sum(
        (out / p.target).read_text(encoding="utf-8").count(NO_ALT)
        for p in pages
        if p.kind == "notebook"
    )
    broken = check_links(out)
    if broken:
        raise SiteError(f"{len(broken)} broken internal link(s):\n  " + "\n  ".join(broken))
    files = [p for p in out.rglob("*") if p.is_file()]
    return {
        "out": str(out),
        "notebooks": sum(p.kind == "notebook" for p in pages),
        "docs": sum(p.kind == "doc" for p in pages),
        "files": len(files),
        "figures_without_alt": no_alt,
        "bytes": sum(p.stat().st_size for p in files),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "site")
    parser.add_argument("--check-only", type=Path, metavar="SITE", help="only check SITE's links")
    args = parser.parse_args(argv)
    if args.check_only is not None:
        broken = check_links(args.check_only)
        for line in broken:
            print(f"broken link: {line}", file=sys.stderr)
        print(f"site link check: {len(broken)} broken internal link(s) in {args.check_only}")
        return 1 if broken else 0
    try:
        report = build(args.out)
    except SiteError as exc:
        print(f"site: {exc}", file=sys.stderr)
        return 1
    print(
        f"site: {report['notebooks']} notebooks and {report['docs']} docs pages, "
        f"{report['files']} files, {report['bytes'] / 1e6:.1f} MB in {report['out']} "
        f"({report['seconds']} s); every internal link resolves"
    )
    if report["figures_without_alt"]:
        print(f"site: {report['figures_without_alt']} figures have no alt text in their notebook")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
