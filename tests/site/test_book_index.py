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
