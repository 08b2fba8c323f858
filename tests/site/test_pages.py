"""Every page of the built site loads offline in Chromium without errors, with a title and working images,
and every exercise solution's toggle button is named by the exercise it solves."""

import json

import pytest

from notebook_contract import solutions, toc_files
from site_helpers import ROOT, SITE, screenshot

BOOK_TITLE = "Transformers, from the Ground Up"


def site_pages() -> list[str]:
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html") if "_static" not in p.parts)


def expected_heading(relative: str) -> str | None:
    """The first markdown heading of the notebook or page the HTML came from."""
    source_name = relative.removesuffix(".html")
    notebook = ROOT / f"{source_name}.ipynb"
    if notebook.exists():
        for cell in json.loads(notebook.read_text())["cells"]:
            for line in "".join(cell["source"]).splitlines():
                if cell["cell_type"] == "markdown" and line.startswith("# "):
                    return line[2:].strip()
    markdown = ROOT / f"{source_name}.md"
    if markdown.exists():
        return next(line[2:].strip() for line in markdown.read_text().splitlines() if line.startswith("# "))
    return None


def test_site_has_a_page_per_toc_entry():
    pages = set(site_pages()) if SITE.exists() else set()
    assert {"intro.html"} | {f"{name}.html" for name in toc_files()} <= pages


@pytest.mark.parametrize("relative", site_pages())
def test_page_loads_offline_cleanly(open_page, relative):
    page, watcher = open_page(relative)
    broken_images = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    screenshot(page, relative.replace("/", "__").removesuffix(".html"))
    assert watcher.console_errors == []
    assert watcher.failed_requests == []
    assert watcher.offsite_requests == [], "the site must not need the network"
    assert broken_images == []
    title = page.title()
    assert BOOK_TITLE in title
    heading = expected_heading(relative)
    if heading is not None:
        assert title.startswith(heading), f"title {title!r} should start with {heading!r}"
    notebook = ROOT / relative.replace(".html", ".ipynb")
    if notebook.exists() and solutions(json.loads(notebook.read_text())):
        check_solution_toggles_are_named(page, len(solutions(json.loads(notebook.read_text()))))


def check_solution_toggles_are_named(page, expected: int) -> None:
    """sphinx-togglebutton names each button "Toggle hidden content"; the site names it by its bar,
    "Solution to Exercise (...)", the title of the exercise it solves, unique on the page."""
    found = page.evaluate(
        """() => Array.from(document.querySelectorAll("div.solution.toggle")).map((box) => {
            const bar = box.querySelector(":scope > .admonition-title");
            const exercise = document.getElementById(bar.querySelector("a").getAttribute("href").slice(1));
            return [bar.querySelector(".toggle-button").getAttribute("aria-label"),
                    exercise.querySelector(".admonition-title").textContent.trim()];
        })"""
    )
    assert len(found) == expected
    names = [name for name, _ in found]
    assert names == [f"Solution to {title}" for _, title in found]
    assert len(set(names)) == len(names), "two solutions share a name"
    assert page.get_by_role("button", name="Toggle hidden content").count() == 0
    for name in names:  # the name the accessibility tree gives each button
        assert page.get_by_role("button", name=name, exact=True).count() == 1
