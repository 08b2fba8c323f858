"""What the built pages and the README promise, read from files (no browser).

The README's chapter list names every chapter of `_toc.yml`, in order; every chapter's launch
button opens JupyterLab on Binder; no page loads the theme's 1.5 MB icon script; MathJax is
loaded exactly by the pages that show math.
"""

import json
import re

import pytest

from notebook_contract import toc_files
from site_helpers import ROOT, SITE


def chapter_titles() -> list[str]:
    """The first markdown heading of every notebook in the table of contents, in order."""
    titles = []
    for name in toc_files():
        notebook = ROOT / f"{name}.ipynb"
        if not notebook.exists():
            continue
        cells = json.loads(notebook.read_text())["cells"]
        lines = ("".join(c["source"]).splitlines() for c in cells if c["cell_type"] == "markdown")
        titles.append(next(line[2:].strip() for block in lines for line in block if line.startswith("# ")))
    return titles


def readme_chapter_names() -> list[str]:
    """The bold names of the README's "Chapters so far:" paragraph."""
    readme = (ROOT / "README.md").read_text()
    paragraph = re.search(r"^Chapters so far:(.*?)(?:\n\n|\Z)", readme, flags=re.M | re.S)
    assert paragraph, "README.md should have a paragraph starting with 'Chapters so far:'"
    return re.findall(r"\*\*(.+?)\*\*", paragraph[1])


def test_readme_lists_every_chapter_of_the_table_of_contents_in_order():
    titles, names = chapter_titles(), readme_chapter_names()
    assert len(names) == len(titles), f"README names {names}, the table of contents has {titles}"
    for name, title in zip(names, titles, strict=True):
        assert title.lower().startswith(name.lower()), f"README's **{name}** should name the chapter {title!r}"


def built_pages() -> list[str]:
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html") if "_static" not in p.parts)


@pytest.mark.parametrize("name", [n for n in toc_files() if (ROOT / f"{n}.ipynb").exists()])
def test_launch_buttons_open_jupyterlab(name):
    html = (SITE / f"{name}.html").read_text()
    binder = re.findall(r'href="(https://mybinder\.org/[^"]+)"', html)
    assert binder == [
        f"https://mybinder.org/v2/gh/transformer-book/transformer-book/main?urlpath=lab/tree/{name}.ipynb"
    ]


@pytest.mark.parametrize("relative", built_pages())
def test_page_loads_only_the_scripts_it_needs(relative):
    html = (SITE / relative).read_text()
    assert "fontawesome.js" not in html
    has_math = 'class="math notranslate' in html
    assert ("mathjax/tex-chtml.js" in html) == has_math, "MathJax exactly where there is math"


def test_icon_fonts_are_cut_to_the_icons_the_pages_show():
    """Every icon a page names has its glyph in the cut fonts that replace the theme's (reader_site.py)."""
    from fontTools.ttLib import TTFont

    css = (SITE / "_static" / "styles" / "pydata-sphinx-theme.css").read_text()
    code_of = {}
    for selectors, code in re.findall(r'([^{}]+)\{content:"\\([0-9a-f]{3,5})"\}', css):
        for name in re.findall(r"\.(fa-[a-z0-9-]+):before", selectors):
            code_of[name] = int(code, 16)
    shown = {name for page in built_pages() for name in re.findall(r"\bfa-[a-z0-9-]+", (SITE / page).read_text())}
    icons = {code_of[name] for name in shown if name in code_of}
    assert len(icons) >= 10  # the header's buttons alone name more
    fonts = sorted((SITE / "_static" / "icon-fonts").glob("*.woff"))
    assert len(fonts) == 3 and all(font.stat().st_size < 20_000 for font in fonts)
    covered = set().union(*(TTFont(font).getBestCmap().keys() for font in fonts))
    assert icons <= covered
    assert "icon-fonts.css" in (SITE / "intro.html").read_text()
