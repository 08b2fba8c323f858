"""What every page of the site must satisfy once loaded offline, whatever the viewport.

The book's pages are checked this way by the phone test of test_reader.py (one load a page serves
both); the site's other pages (index, search, general index) by test_pages.py.
"""

import json

from notebook_contract import solutions
from site_helpers import ROOT

BOOK_TITLE = "Transformers, from the Ground Up"


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


def check_loaded_cleanly(page, watcher, relative: str) -> None:
    """No console error, no failed or off-site request, no broken image, the right title, named toggles."""
    broken_images = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
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
